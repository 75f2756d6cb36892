"""The attempt log: one row per attempt, the same columns from the simulator and from live runs.

:data:`COLUMNS` is the contract (documented in the README's "attempt log" table).
:class:`AttemptCollector` is the fast row collector both producers use: rows are plain
numeric records (names become small integer codes) packed into one growing buffer as
they come, and read as a numpy record array at the end, so a million-request log is built
without a Python object per cell and ends as categoricals and numeric arrays (about 90
bytes per attempt).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from toolkit.vocabulary import DECISIONS, OUTCOMES

COLUMNS: dict[str, str] = {
    "run_id": "category",
    "request_id": "int64",
    "attempt": "int16",
    "combined_id": "category",
    "provider": "category",
    "model_ref": "category",
    "t_start_s": "float64",
    "t_end_s": "float64",
    "latency_s": "float64",
    "ttft_s": "float64",
    "outcome": "category",
    "status": "Int16",
    "retry_after_s": "float64",
    "decision": "category",
    "wait_s": "float64",
    "input_tokens": "int32",
    "output_tokens": "int32",
    "cost_usd": "float64",
    "error": "category",
}
"""Column name -> pandas dtype, in column order."""

# What one collected row holds (names as codes; latency is derived when the frame is built),
# as struct codes: a row is packed into bytes when added (no tuple of boxed numbers to keep
# alive and track), and the joined bytes are read back as this numpy record layout.
_FIELDS = (
    ("request_id", "q"),
    ("attempt", "h"),
    ("provider", "h"),
    ("t_start_s", "d"),
    ("t_end_s", "d"),
    ("ttft_s", "d"),
    ("outcome", "b"),
    ("status", "h"),
    ("retry_after_s", "d"),
    ("decision", "b"),
    ("wait_s", "d"),
    ("input_tokens", "i"),
    ("output_tokens", "i"),
    ("cost_usd", "d"),
    ("error", "i"),
)
_ROW = np.dtype([(name, "=" + code) for name, code in _FIELDS])
_PACK = struct.Struct("=" + "".join(code for _, code in _FIELDS))  # "=": native order, no padding, like _ROW


class AttemptCollector:
    """Collects attempt rows for one run (one run id, one combined model, fixed providers).

    Call :meth:`add` once per finished attempt with codes: ``provider`` is the index into
    ``providers``, ``outcome`` an :data:`~toolkit.vocabulary.OUTCOME_CODE`, ``decision`` a :data:`~toolkit.vocabulary.DECISION_CODE`,
    ``error`` an :meth:`error_code`. ``status`` 0 means no HTTP status (transport failure),
    ``ttft`` / ``retry_after`` NaN mean none. :meth:`frame` returns the DataFrame.
    """

    __slots__ = ("run_id", "combined_id", "providers", "model_refs", "_rows", "_errors")

    def __init__(self, run_id: str, combined_id: str, providers: Sequence[str], model_refs: Sequence[str]) -> None:
        self.run_id = run_id
        self.combined_id = combined_id
        self.providers = list(providers)
        self.model_refs = list(model_refs)
        self._rows = bytearray()  # the packed rows, back to back in the layout of _ROW
        self._errors: dict[str, int] = {"": 0}

    def error_code(self, text: str) -> int:
        """The code of an (already redacted) error text; the same text always gets the same code."""
        code = self._errors.get(text)
        if code is None:
            code = self._errors[text] = len(self._errors)
        return code

    def add(
        self,
        request_id: int,
        attempt: int,
        provider: int,
        t_start: float,
        t_end: float,
        ttft: float,
        outcome: int,
        status: int,
        retry_after: float,
        decision: int,
        wait: float,
        input_tokens: int,
        output_tokens: int,
        cost: float,
        error: int = 0,
    ) -> None:
        """Record one attempt (see the class docstring for the codes)."""
        self._rows += _PACK.pack(
            request_id,
            attempt,
            provider,
            t_start,
            t_end,
            ttft,
            outcome,
            status,
            retry_after,
            decision,
            wait,
            input_tokens,
            output_tokens,
            cost,
            error,
        )

    @property
    def append(self) -> Callable[[bytes], None]:
        """For hot loops: adds one row packed by :attr:`pack`, i.e. ``append(pack(...))`` with
        :meth:`add`'s 15 arguments, all given."""
        return self._rows.extend

    @property
    def pack(self) -> Callable[..., bytes]:
        """For hot loops: packs one row's 15 values (:meth:`add`'s argument order) for :attr:`append`."""
        return _PACK.pack

    def __len__(self) -> int:
        return len(self._rows) // _ROW.itemsize

    def frame(self) -> pd.DataFrame:
        """The attempt log collected so far, with the dtypes of :data:`COLUMNS`."""
        # a copy: the buffer may grow after this, which a live view of it would forbid
        rec = np.frombuffer(self._rows, dtype=_ROW).copy()
        n = len(rec)

        def cat(codes: np.ndarray, categories: Sequence[str]) -> pd.Categorical:
            return pd.Categorical.from_codes(codes.astype(np.int32, copy=False), categories=list(categories))

        constant = np.zeros(n, dtype=np.int8)
        status = rec["status"]
        errors = sorted(self._errors, key=self._errors.__getitem__)
        data = {
            "run_id": cat(constant, [self.run_id]),
            "request_id": rec["request_id"],
            "attempt": rec["attempt"],
            "combined_id": cat(constant, [self.combined_id]),
            "provider": cat(rec["provider"], self.providers),
            "model_ref": cat(rec["provider"], self.model_refs),
            "t_start_s": rec["t_start_s"],
            "t_end_s": rec["t_end_s"],
            "latency_s": rec["t_end_s"] - rec["t_start_s"],
            "ttft_s": rec["ttft_s"],
            "outcome": cat(rec["outcome"], OUTCOMES),
            "status": pd.arrays.IntegerArray(status.astype(np.int16), status == 0),
            "retry_after_s": rec["retry_after_s"],
            "decision": cat(rec["decision"], DECISIONS),
            "wait_s": rec["wait_s"],
            "input_tokens": rec["input_tokens"],
            "output_tokens": rec["output_tokens"],
            "cost_usd": rec["cost_usd"],
            "error": cat(rec["error"], errors),
        }
        return pd.DataFrame(data, copy=False)


def empty() -> pd.DataFrame:
    """An attempt log with no rows and the right dtypes."""
    return AttemptCollector("", "", [], []).frame()


def concat_logs(logs: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Stack attempt logs of several runs, keeping every categorical column categorical.

    ``pd.concat`` turns categoricals with different categories into objects; this unions
    the categories first (order of first appearance; outcome and decision keep theirs).
    """
    logs = list(logs)
    if not logs:
        return empty()
    out = pd.concat(logs, ignore_index=True)
    for column, dtype in COLUMNS.items():
        if dtype == "category" and out[column].dtype != "category":
            fixed = {"outcome": list(OUTCOMES), "decision": list(DECISIONS)}.get(column)
            categories = fixed or list(dict.fromkeys(c for log in logs for c in log[column].cat.categories))
            out[column] = pd.Categorical(out[column], categories=categories)
    return out
