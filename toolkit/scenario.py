"""Scenarios: the world a failover policy runs in, read from JSON and validated on load.

A scenario says how requests arrive, how large they are, and how each provider behaves:
latency, error probabilities per class, stateful rate limits and incidents in time
windows. Provider entries are keyed by provider id, by rank (``rank:0`` is the provider a
policy tries first) or ``default``, so one file applies to any combined model:
:meth:`Scenario.resolve` turns it into one :class:`ProviderWorld` per provider of a given
try order. The simulator and the local mock providers both read scenarios through this
module, so a field means the same in virtual time and on a real socket. Every field is
documented in ``docs/failover.md``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np

from toolkit import data_files, json_input
from toolkit.atomic import write_atomic
from toolkit.errors import UserError, closest
from toolkit.userfile import read_bytes
from toolkit.vocabulary import INJECTABLE_CLASSES, ErrorClass

BUILTIN_PROFILE: dict = {
    "ttft_s": {"dist": "lognormal", "median": 0.8, "sigma": 0.4},
    "tokens_per_s": {"dist": "lognormal", "median": 60.0, "sigma": 0.3},
    "error_latency_s": {"dist": "lognormal", "median": 0.3, "sigma": 0.5},
    "errors": {},
    "retry_after_s": None,
}
"""Profile fields a scenario leaves out (under ``default`` and everywhere else)."""

BUILTIN_REQUEST: dict = {
    "input_tokens": {"dist": "lognormal", "median": 8000.0, "sigma": 0.8},
    "output_tokens": {"dist": "lognormal", "median": 400.0, "sigma": 0.8},
}

# What an incident changes when it does not say (kind -> fields).
INCIDENT_DEFAULTS: dict[str, dict] = {
    "outage": {"errors": {"connection": 1.0}, "latency_factor": 1.0},
    "overload": {"errors": {"overload": 0.8}, "latency_factor": 1.0},
    "degraded": {"latency_factor": 4.0},
    "errors": {"latency_factor": 1.0},
}


@dataclass(frozen=True)
class Dist:
    """A non-negative distribution: ``constant`` (a), ``exponential`` (mean a),
    ``lognormal`` (median a, log-sd b) or ``uniform`` (a to b)."""

    kind: str
    a: float
    b: float = 0.0

    @classmethod
    def parse(cls, value: float | Mapping) -> Dist:
        """From the JSON form: a bare number (constant) or ``{"dist": ..., ...}``."""
        if isinstance(value, (int, float)):
            return cls("constant", float(value))
        kind = value["dist"]
        if kind == "constant":
            return cls(kind, float(value["value"]))
        if kind == "exponential":
            return cls(kind, float(value["mean"]))
        if kind == "lognormal":
            return cls(kind, float(value["median"]), float(value["sigma"]))
        return cls(kind, float(value["low"]), float(value["high"]))

    def to_json(self) -> float | dict:
        """The JSON form (inverse of :meth:`parse`)."""
        if self.kind == "constant":
            return self.a
        if self.kind == "exponential":
            return {"dist": "exponential", "mean": self.a}
        if self.kind == "lognormal":
            return {"dist": "lognormal", "median": self.a, "sigma": self.b}
        return {"dist": "uniform", "low": self.a, "high": self.b}

    @property
    def mean(self) -> float:
        """The expected value."""
        if self.kind == "lognormal":
            return self.a * math.exp(self.b * self.b / 2)
        if self.kind == "uniform":
            return (self.a + self.b) / 2
        return self.a

    def scaled(self, factor: float) -> Dist:
        """The same shape with every value multiplied by ``factor``."""
        if self.kind == "lognormal":
            return Dist(self.kind, self.a * factor, self.b)
        return Dist(self.kind, self.a * factor, self.b * factor)

    def sample(self, gen: np.random.Generator, n: int) -> np.ndarray:
        """``n`` draws as a float64 array: the one sampler (:func:`toolkit.world.sampler` reads
        these chunks one value at a time)."""
        if self.kind == "constant":
            return np.full(n, self.a)
        if self.kind == "exponential":
            return gen.exponential(self.a, n)
        if self.kind == "lognormal":
            return self.a * np.exp(self.b * gen.standard_normal(n))
        return gen.uniform(self.a, self.b, n)


@dataclass(frozen=True)
class Profile:
    """How one provider behaves (already merged: built-in <- default <- rank <- provider id).

    ``errors`` lists ``(class, probability)`` in :data:`~toolkit.vocabulary.INJECTABLE_CLASSES`
    order, zero probabilities left out; one uniform draw ``u`` per attempt picks the first class
    whose cumulative probability exceeds ``u`` (so class ``c`` happens with exactly its
    probability, independently of every other attempt; :func:`toolkit.world.answerer`).
    """

    ttft_s: Dist
    tokens_per_s: Dist
    error_latency_s: Dist
    errors: tuple[tuple[ErrorClass, float], ...]
    retry_after_s: Dist | None
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None

    @property
    def error_probability(self) -> float:
        """Probability that an attempt fails by injection (rate limits and context aside)."""
        return sum(p for _, p in self.errors)


@dataclass(frozen=True)
class Incident:
    """A time window ``[start_s, end_s)`` in which ``profile`` replaces a provider's own."""

    kind: str
    start_s: float
    end_s: float
    profile: Profile


@dataclass(frozen=True)
class ProviderWorld:
    """One provider as a scenario resolves it for a given try order."""

    provider: str
    rank: int
    profile: Profile
    incidents: tuple[Incident, ...] = ()

    def profile_at(self, t: float) -> Profile:
        """The profile in force at time ``t`` (the first listed incident covering ``t`` wins)."""
        for incident in self.incidents:
            if incident.start_s <= t < incident.end_s:
                return incident.profile
        return self.profile


@cache
def _validator():
    import jsonschema

    return jsonschema.Draft202012Validator(data_files.read_json("scenario.schema.json"))


def _schema_error(data: object, source: str) -> str | None:
    import jsonschema

    error = jsonschema.exceptions.best_match(_validator().iter_errors(data))
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path) or "top level"
    return f"scenario {source}: at {where}: {error.message}"


def _merge(*layers: Mapping) -> dict:
    """Profile layers merged in order: ``errors`` per class, every other field replaced whole."""
    out: dict = {}
    for layer in layers:
        for key, value in layer.items():
            out[key] = {**out.get(key, {}), **value} if key == "errors" else value
    return out


def _profile(fields: Mapping, where: str) -> Profile:
    errors = tuple((name, float(fields["errors"][name])) for name in INJECTABLE_CLASSES if fields["errors"].get(name))
    total = sum(p for _, p in errors)
    if total > 1 + 1e-9:
        raise UserError(f"{where}: error probabilities add up to {total:g}; make them add up to at most 1")
    limits = fields.get("rate_limit") or {}
    ra = fields.get("retry_after_s")
    return Profile(
        ttft_s=Dist.parse(fields["ttft_s"]),
        tokens_per_s=Dist.parse(fields["tokens_per_s"]),
        error_latency_s=Dist.parse(fields["error_latency_s"]),
        errors=errors,
        retry_after_s=None if ra is None else Dist.parse(ra),
        requests_per_minute=limits.get("requests_per_minute"),
        tokens_per_minute=limits.get("tokens_per_minute"),
    )


@dataclass(frozen=True)
class Scenario:
    """A validated scenario; ``data`` is the JSON document it came from (source of truth)."""

    name: str
    data: dict
    source: str = "<dict>"

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping, source: str = "<dict>") -> Scenario:
        """Validate ``data`` against the schema and the cross-field rules; raise UserError if wrong."""
        if json_input.depth(data) > json_input.MAX_DEPTH:
            raise UserError(f"scenario {source}: nested more than {json_input.MAX_DEPTH} levels deep")
        bad = json_input.non_finite(data)
        if bad is not None:
            raise UserError(f"scenario {source}: at {bad}: NaN and infinity are not allowed; write a finite number")
        data = json.loads(json.dumps(data))  # a private deep copy of plain JSON values
        message = _schema_error(data, source)
        if message:
            raise UserError(message + " (see docs/failover.md, 'Scenario files')")
        _check_ranges(data, source)
        for i, incident in enumerate(data.get("incidents", [])):
            if incident["end_s"] <= incident["start_s"]:
                raise UserError(f"scenario {source}: incidents.{i}: end_s must be greater than start_s")
            if incident["kind"] == "errors" and "errors" not in incident:
                raise UserError(f"scenario {source}: incidents.{i}: kind 'errors' needs an 'errors' table")
            if "errors" in incident:
                _profile(_merge(BUILTIN_PROFILE, {"errors": incident["errors"]}), f"scenario {source}: incidents.{i}")
        for path, dist in _dists(data):
            if dist["dist"] == "uniform" and dist["low"] > dist["high"]:
                raise UserError(f"scenario {source}: at {path}: low must not exceed high")
        scenario = cls(data["name"], dict(data), source)
        for key in data["providers"]:  # every named profile must be valid on its own, not only when used
            _profile(scenario._fields(key), f"scenario {source}: providers.{key}")
        return scenario

    @classmethod
    def load(cls, path_or_name: str | os.PathLike) -> Scenario:
        """Load a scenario file, or a bundled scenario by name (see :func:`bundled_scenarios`)."""
        text_path = str(path_or_name)
        if text_path in bundled_scenarios():
            path = data_files.path("scenarios", f"{text_path}.json")
        else:
            path = Path(text_path)
            if not path.exists() and not path.is_symlink():  # a symlink loop is read, and refused, below
                raise UserError(
                    f"no scenario file {text_path!r}; give a path to a .json file or a bundled name"
                    f"{closest(text_path, bundled_scenarios())} ({', '.join(bundled_scenarios())})"
                )
        raw = read_bytes(path)  # a folder or a FIFO is refused, never read
        data = json_input.loads(raw, f"scenario {path}", hint=" (see docs/failover.md, 'Scenario files')")
        if not isinstance(data, dict):
            raise UserError(f"scenario {path}: the top level must be a JSON object {{...}}, not {type(data).__name__}")
        return cls.from_dict(data, source=str(path))

    def to_dict(self) -> dict:
        """The JSON document (a copy)."""
        return json.loads(json.dumps(self.data))

    def save(self, path: str | os.PathLike) -> None:
        """Write the scenario as JSON, atomically (a temp file renamed over ``path``)."""
        write_atomic(path, json.dumps(self.data, indent=2) + "\n")

    # -- reading -----------------------------------------------------------------------------
    @property
    def arrivals(self) -> dict:
        """``{"kind": "poisson", "rate_per_s": r}`` or ``{"kind": "sessions", "sessions": n, "think_time_s": Dist}``."""
        arrivals = dict(self.data["arrivals"])
        if arrivals["kind"] == "sessions":
            arrivals["think_time_s"] = Dist.parse(arrivals["think_time_s"])
        return arrivals

    @property
    def input_tokens(self) -> Dist:
        """Prompt size per request (tokens; draws are rounded and at least 1)."""
        return Dist.parse({**BUILTIN_REQUEST, **self.data.get("request", {})}["input_tokens"])

    @property
    def output_tokens(self) -> Dist:
        """Answer size per request (tokens; draws are rounded and at least 1)."""
        return Dist.parse({**BUILTIN_REQUEST, **self.data.get("request", {})}["output_tokens"])

    def resolve(self, providers: Sequence[str], ranking: Sequence[str] | None = None) -> list[ProviderWorld]:
        """One :class:`ProviderWorld` per provider of ``providers``, in that order.

        ``rank:<i>`` means position ``i`` in ``ranking``: the combined model's own member order
        (``CombinedModel.providers``, the combined table's rank), default ``providers``. The
        simulator and the mock providers pass the model's order, so the world a scenario
        describes stays put while a sweep tries other priority orders on it. A provider's
        profile is the built-in profile, overlaid by ``default``, then by ``rank:<i>``, then by
        its provider id. Incidents apply to the providers their ``provider`` selector names
        (an id, ``rank:<i>`` or ``all``).
        """
        position = {p: i for i, p in enumerate(ranking if ranking is not None else providers)}
        worlds = []
        for provider in providers:
            rank = position[provider]
            keys = (f"rank:{rank}", provider)
            base_fields = self._fields(*keys)
            profile = _profile(base_fields, f"scenario {self.source}: providers.{provider}")
            incidents = []
            for i, raw in enumerate(self.data.get("incidents", [])):
                if raw["provider"] not in ("all", f"rank:{rank}", provider):
                    continue
                fields = {**INCIDENT_DEFAULTS[raw["kind"]], **raw}
                overlay = dict(base_fields)
                if "errors" in fields:
                    overlay["errors"] = fields["errors"]  # an incident's table replaces the profile's
                if "retry_after_s" in raw:
                    overlay["retry_after_s"] = raw["retry_after_s"]
                p = _profile(overlay, f"scenario {self.source}: incidents.{i}")
                factor = fields["latency_factor"]
                p = replace(p, ttft_s=p.ttft_s.scaled(factor), tokens_per_s=p.tokens_per_s.scaled(1.0 / factor))
                incidents.append(Incident(raw["kind"], float(raw["start_s"]), float(raw["end_s"]), p))
            worlds.append(ProviderWorld(provider, rank, profile, tuple(incidents)))
        return worlds

    def check_members(self, ranking: Sequence[str], known: Collection[str] | None = ()) -> None:
        """Refuse provider selectors that can apply to no member of ``ranking`` (a model's member order).

        ``rank:N`` must be below the number of members; a provider id must be a member or one
        of ``known`` (the catalog's provider ids: a scenario may describe providers this model
        does not use). Anything else is a typo that would be ignored. ``known=None`` checks the
        ranks only, for scenarios fitted to a history, which name every provider it used.
        """
        incidents = self.data.get("incidents", [])
        selectors = [(f"providers.{key}", key) for key in self.data["providers"] if key != "default"]
        selectors += [(f"incidents.{i}.provider", raw["provider"]) for i, raw in enumerate(incidents)]
        last = f"rank:{len(ranking) - 1}"
        for where, selector in selectors:
            if selector.startswith("rank:") and int(selector[5:]) >= len(ranking):
                raise UserError(
                    f"scenario {self.source}: {where}: {selector} is past the last of {len(ranking)} "
                    f"providers; use rank:0 to {last}"
                )
            if known is None or selector.startswith("rank:") or selector in ("all", *ranking, *known):
                continue
            raise UserError(
                f"scenario {self.source}: {where}: unknown provider id {selector!r}"
                f"{closest(selector, ranking)}; use one of {', '.join(ranking)}, rank:0 to {last}, or all"
            )

    def _fields(self, *keys: str) -> dict:
        """Profile fields for the given provider keys, layered over the built-in and ``default``."""
        providers = self.data["providers"]
        return _merge(BUILTIN_PROFILE, providers.get("default", {}), *(providers[k] for k in keys if k in providers))

    # -- fitting -----------------------------------------------------------------------------
    @classmethod
    def fit(cls, log, name: str = "fitted") -> Scenario:
        """A scenario that reproduces an attempt log (simulated, live, gateway or an imported
        OpenCode history): per provider latency, error shares, rate-limit buckets and incident
        windows, and the arrival pattern. See :func:`toolkit.fitting.fit_scenario`."""
        from toolkit.fitting import fit_scenario

        return fit_scenario(log, name)


# The largest value each kind of distribution may take (its constant, mean, median, or uniform
# bounds), and the largest lognormal sigma: far beyond any real provider, small enough that a typo
# cannot make one request last for days or a draw overflow. docs/failover.md lists them.
DIST_LIMITS: dict[str, tuple[float, str]] = {
    "ttft_s": (3600.0, "seconds"),
    "error_latency_s": (3600.0, "seconds"),
    "retry_after_s": (3600.0, "seconds"),
    "think_time_s": (86400.0, "seconds"),
    "tokens_per_s": (100_000.0, "tokens per second"),
    "input_tokens": (10_000_000.0, "tokens"),
    "output_tokens": (10_000_000.0, "tokens"),
}
MAX_SIGMA = 3.0


def _check_ranges(data: Mapping, source: str) -> None:
    """Refuse distribution values beyond :data:`DIST_LIMITS`, and a ``tokens_per_s`` that can be 0."""
    for path, key, value in _dist_fields(data):
        limit, unit = DIST_LIMITS[key]
        dist = Dist.parse(value)
        where = f"scenario {source}: at {path}"
        for number in (dist.a, dist.b) if dist.kind == "uniform" else (dist.a,):
            if number > limit:
                raise UserError(f"{where}: {number:g} is out of range; use at most {limit:,.0f} {unit}")
        if dist.kind == "lognormal" and dist.b > MAX_SIGMA:
            raise UserError(f"{where}: sigma {dist.b:g} is out of range; use 0 to {MAX_SIGMA:g}")
        if key == "tokens_per_s" and dist.a <= 0:
            raise UserError(f"{where}: a speed of 0 tokens per second never finishes; use a value above 0")


def _dist_fields(data: Mapping, path: str = ""):
    """Every (path, key, value) whose key names a distribution field of :data:`DIST_LIMITS`."""
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        if key in DIST_LIMITS and value is not None:
            yield where, key, value
        elif isinstance(value, dict):
            yield from _dist_fields(value, where)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    yield from _dist_fields(item, f"{where}.{i}")


def _dists(data: Mapping, path: str = ""):
    """Every (path, value) pair in ``data`` that is a distribution object."""
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        if isinstance(value, dict):
            if "dist" in value:
                yield where, value
            else:
                yield from _dists(value, where)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    yield from _dists(item, f"{where}.{i}")


@cache
def bundled_scenarios() -> tuple[str, ...]:
    """Names of the scenarios shipped in ``data/scenarios`` (file names without ``.json``)."""
    folder = data_files.path("scenarios")
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json")))


bundled = bundled_scenarios  # the earlier name, still imported by tests/test_agreement.py
