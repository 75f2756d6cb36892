"""How well the grouping finds every provider of a model: pair precision and recall.

Two yardsticks ship in ``data/``:

``grouping_pairs.csv``
    pairs of rows of the bundled snapshot at two different providers, labelled by hand
    ``same``, ``variant`` (the same model deployed differently) or ``different``, with the
    category that makes each pair hard and the catalog facts the label rests on;
``newer_catalog.json`` with ``newer_catalog_truth.csv``
    a synthetic catalog in models.dev ``api.json`` shape with models newer than the
    snapshot, spelled the ways vendors spell them, and for each row the model it really is
    (held out: the rules were not tuned on it).

A pair is **positive** when it is one model (``same`` or ``variant``) and **predicted
positive** when :func:`toolkit.normalize.normalize_models`, run on the whole catalog the
pair comes from, gives both rows the same ``combined_id``. Precision is the share of
predicted positives that are positive, recall the share of positives predicted.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from toolkit.catalog import api_to_models, load_catalog
from toolkit.data_files import path, read_json
from toolkit.normalize import normalize_models

POSITIVE = ("same", "variant")


@dataclass(frozen=True)
class PairScores:
    """Counts of pairs and the precision and recall they give."""

    true_positive: int
    false_positive: int
    false_negative: int
    pairs: int

    @property
    def precision(self) -> float:
        predicted = self.true_positive + self.false_positive
        return self.true_positive / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        positive = self.true_positive + self.false_negative
        return self.true_positive / positive if positive else 1.0


def labelled_pairs() -> pd.DataFrame:
    """The hand-labelled pairs (``model_a``, ``model_b``, ``label``, ``category``, ``reason``)."""
    return pd.read_csv(path("grouping_pairs.csv"), comment="#", dtype=str)


def judge_pairs(normalized: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """``pairs`` plus what the grouping did: ``positive``, ``predicted`` and each row's
    ``combined_a`` / ``combined_b`` and ``variant_a`` / ``variant_b``."""
    rows = normalized.set_index("model_ref")
    out = pairs.copy()
    for side in ("a", "b"):
        refs = out[f"model_{side}"]
        out[f"combined_{side}"] = rows["combined_id"].reindex(refs).to_numpy()
        out[f"variant_{side}"] = rows["variant"].reindex(refs).to_numpy()
    out["positive"] = out["label"].isin(POSITIVE)
    out["predicted"] = out["combined_a"] == out["combined_b"]
    return out


def scores(judged: pd.DataFrame) -> PairScores:
    """Precision and recall of a :func:`judge_pairs` table."""
    positive, predicted = judged["positive"], judged["predicted"]
    return PairScores(
        true_positive=int((positive & predicted).sum()),
        false_positive=int((~positive & predicted).sum()),
        false_negative=int((positive & ~predicted).sum()),
        pairs=len(judged),
    )


def labelled_result(models: pd.DataFrame | None = None) -> pd.DataFrame:
    """The labelled pairs judged against the grouping of ``models`` (default: the bundled snapshot)."""
    return judge_pairs(normalize_models(load_catalog("bundled") if models is None else models), labelled_pairs())


def newer_catalog() -> pd.DataFrame:
    """The synthetic newer catalog as a models table, with the true ``model`` and ``true_variant`` of each row."""
    models = api_to_models(read_json("newer_catalog.json"))
    truth = pd.read_csv(path("newer_catalog_truth.csv"), comment="#", dtype=str, keep_default_na=False)
    missing = set(models["model_ref"]) ^ set(truth["model_ref"])
    if missing:
        raise ValueError(f"newer_catalog_truth.csv and newer_catalog.json disagree on {sorted(missing)[:3]}")
    return models.merge(truth.rename(columns={"variant": "true_variant"}), on="model_ref", validate="1:1")


def _cross_provider_pairs(frame: pd.DataFrame, keys: list[str]) -> int:
    """How many pairs of rows at two different providers agree on ``keys``."""

    def pairs(counts: pd.Series) -> int:
        return int((counts * (counts - 1) // 2).sum())

    return pairs(frame.groupby(keys).size()) - pairs(frame.groupby([*keys, "provider"]).size())


def catalog_scores(models: pd.DataFrame) -> PairScores:
    """Every cross-provider pair of a catalog with a true ``model`` column, judged by the grouping."""
    grouped = normalize_models(models)
    positive = _cross_provider_pairs(grouped, ["model"])
    predicted = _cross_provider_pairs(grouped, ["combined_id"])
    both = _cross_provider_pairs(grouped, ["model", "combined_id"])
    rows, providers = len(grouped), grouped.groupby("provider").size()
    total = rows * (rows - 1) // 2 - int((providers * (providers - 1) // 2).sum())
    return PairScores(both, predicted - both, positive - both, total)
