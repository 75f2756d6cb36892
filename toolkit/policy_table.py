"""The presets side by side: one row per policy field, one column per preset (README's table).

The README's "Failover policies and presets" table is :func:`presets_markdown` verbatim (a
test checks it), so the documentation cannot drift from :data:`~toolkit.policy.PRESETS`.
"""

from __future__ import annotations

from dataclasses import fields

import pandas as pd

from toolkit.policy import PRESETS, FailoverPolicy
from toolkit.vocabulary import TRANSIENT

_OFF = "—"  # off / unlimited


def _cell(value: object) -> str:
    """One field value as the table shows it."""
    if value is None or value == ():
        return _OFF
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        if isinstance(value[0], tuple):  # weights: (provider, weight) pairs
            return ", ".join(f"{p}={w:g}" for p, w in value)
        return "every transient class" if set(value) == TRANSIENT else ", ".join(value)
    return str(value)


def presets_frame() -> pd.DataFrame:
    """Every policy field (index ``field``) of every preset (one column each), as display strings."""
    names = [f.name for f in fields(FailoverPolicy) if f.name != "name"]
    table = {preset: [_cell(getattr(policy, n)) for n in names] for preset, policy in PRESETS.items()}
    return pd.DataFrame(table, index=pd.Index(names, name="field"))


def presets_markdown() -> str:
    """:func:`presets_frame` as the README's Markdown table (``—`` = off / unlimited)."""
    frame = presets_frame()
    lines = ["| field | " + " | ".join(f"`{c}`" for c in frame.columns) + " |", "|---" * (len(frame.columns) + 1) + "|"]
    lines += [f"| `{name}` | " + " | ".join(row) + " |" for name, row in zip(frame.index, frame.to_numpy().tolist())]
    return "\n".join(lines)
