"""The failover settings a user settles on, and what the exporter writes: a :class:`Choice`.

A choice is the seed plugin's four options (``provider_priority``, ``strategy``,
``max_attempts``, ``min_providers``), the deployment ``variants`` a failover order may use
(``toolkit.variants.SETTINGS``; written only when not the default ``exact``), optionally
the combined model it was tuned for, the preset it came from and ``policy_fields``: the other :class:`~toolkit.policy.FailoverPolicy`
fields that differ from that preset (cooldowns, breaker, backoff...), so that
:meth:`Choice.policy` gives back the whole policy the gateway layout exports. It is built
from a dict (a saved choice file, CLI flags), from a policy (:meth:`Choice.from_policy`) or
by the sweep's recommendation, and it is the one input type of
:func:`toolkit.export.export_opencode_config`. A saved choice without ``policy_fields``
is written exactly as before, so older files and older readers keep working.

The options are checked against ``data/combined_models.schema.json`` when the value is
built, so an invalid choice cannot exist and every exported section has passed the schema.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit import data_files
from toolkit.errors import UserError, check_known
from toolkit.variants import DEFAULT_SETTING

if TYPE_CHECKING:
    from toolkit.policy import FailoverPolicy

SEED_FIELDS = ("provider_priority", "min_providers", "strategy", "max_attempts")


@cache
def options_schema() -> dict:
    """The JSON Schema of the plugin's options (``data/combined_models.schema.json``)."""
    return data_files.read_json("combined_models.schema.json")


def validate_options(options: Mapping[str, object], source: str = "choice") -> None:
    """Raise a one-line :class:`UserError` naming the first option that breaks the schema."""
    import jsonschema  # imported here: only building a choice needs it

    base = jsonschema.Draft202012Validator
    # JSON Schema counts 3.0 as an integer; the plugin's counters are whole numbers, so only int passes
    checker = base.TYPE_CHECKER.redefine("integer", lambda _, value: type(value) is int)
    validator = jsonschema.validators.extend(base, type_checker=checker)(options_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(options))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "options"
        raise UserError(f"{source}: {where}: {error.message}")


def _check(values: Mapping[str, object], source: str) -> None:
    """Validate a choice's fields (as plain JSON values) before a :class:`Choice` holds them."""
    validate_options({k: values[k] for k in (*SEED_FIELDS, "variants")}, source)
    for name in ("combined_id", "preset"):
        value = values[name]
        if value is not None and not (isinstance(value, str) and value.strip()):
            raise UserError(f"{source}: {name}: must be a non-empty string or null, not {value!r}")
    extra = values.get("policy_fields") or {}
    if not isinstance(extra, Mapping):
        raise UserError(f"{source}: policy_fields: must be an object of policy field -> value, not {extra!r}")
    if extra:
        try:
            build_policy(values["preset"], {**{k: values[k] for k in SEED_FIELDS}, **extra})  # type: ignore[arg-type]
        except UserError as exc:
            raise UserError(f"{source}: policy_fields: {exc}") from None


def _frozen(value: object) -> object:
    """A JSON value with lists and objects turned into tuples, so a choice stays hashable."""
    if isinstance(value, Mapping):
        return tuple((k, _frozen(v)) for k, v in value.items())
    return tuple(_frozen(v) for v in value) if isinstance(value, (list, tuple)) else value


def base_policy(preset_name: str | None) -> FailoverPolicy:
    """The policy a choice's fields are differences from: the named preset, or the defaults."""
    from toolkit.policy import FailoverPolicy, preset

    return preset(preset_name) if preset_name else FailoverPolicy()


def _differences(preset_name: str | None, values: Mapping[str, Any]) -> dict[str, Any]:
    """The ``values`` (policy fields) that change the preset, as plain JSON values; unknown or invalid ones raise."""
    from toolkit.policy import FailoverPolicy

    check_known("policy field", values, [f.name for f in fields(FailoverPolicy) if f.name != "name"])
    base = base_policy(preset_name)
    applied, plain = replace(base, **values).to_dict(), base.to_dict()  # validates every value
    return {k: applied[k] for k in plain if k in values and applied[k] != plain[k]}  # in field order


def build_policy(preset_name: str | None, values: Mapping[str, Any]) -> FailoverPolicy:
    """The preset (or the defaults) with ``values`` (policy fields) applied; names what differs.

    Only the fields that really differ from the preset go into the policy's name, so a
    policy read back from a file is named like the one that was written.
    """
    from toolkit.policy import FailoverPolicy, preset

    changed = _differences(preset_name, values)
    return preset(preset_name, **changed) if preset_name else FailoverPolicy(**changed)


@dataclass(frozen=True)
class Choice:
    """One failover configuration, ready to export. Defaults are the seed plugin's."""

    provider_priority: tuple[str, ...] = ()
    strategy: str = "on_error"
    max_attempts: int = 3
    min_providers: int = 2
    combined_id: str | None = None
    preset: str | None = None
    variants: str = DEFAULT_SETTING
    # other FailoverPolicy fields that differ from the preset, as sorted (name, value) pairs
    policy_fields: tuple[tuple[str, object], ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.provider_priority, list):  # accept a list, keep the value hashable
            object.__setattr__(self, "provider_priority", tuple(self.provider_priority))
        extra = self.policy_fields
        plain = {
            **{f.name: getattr(self, f.name) for f in fields(self)},
            "provider_priority": list(self.provider_priority),
        }
        _check({**plain, "policy_fields": dict(extra) if isinstance(extra, tuple) else extra}, "choice")
        if extra:  # keep only real differences, in one canonical form: equal choices compare equal
            values = dict(extra)
            changed = _differences(self.preset, {k: v for k, v in values.items() if k not in SEED_FIELDS})
            object.__setattr__(self, "policy_fields", tuple(sorted((k, _frozen(v)) for k, v in changed.items())))

    def options(self) -> dict[str, object]:
        """The plugin's options, in the seed README's order (what the exporter writes).

        ``variants`` is written only when it is not ``exact``: an exported file for the
        plain model stays the seed's four options.
        """
        options: dict[str, object] = {
            "provider_priority": list(self.provider_priority),
            "min_providers": self.min_providers,
            "strategy": self.strategy,
            "max_attempts": self.max_attempts,
        }
        if self.variants != DEFAULT_SETTING:
            options["variants"] = self.variants
        return options

    def to_dict(self) -> dict[str, object]:
        """Every field as plain JSON values (the saved-choice file format).

        ``policy_fields`` appears only when there is one, so a plain choice saves as before.
        """
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "policy_fields"}
        priority = self.provider_priority
        out["provider_priority"] = list(priority) if isinstance(priority, tuple) else priority
        if self.policy_fields:
            applied = self.policy().to_dict()
            out["policy_fields"] = {k: applied[k] for k, _ in self.policy_fields}
        return out

    def policy(self) -> FailoverPolicy:
        """The whole failover policy: the preset (or the defaults) with this choice's fields applied."""
        return build_policy(self.preset, {**{k: getattr(self, k) for k in SEED_FIELDS}, **dict(self.policy_fields)})

    def with_overrides(self, **overrides: Any) -> Choice:
        """A copy with the given fields replaced; ``None`` values mean "keep" (unset CLI flags)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_dict(cls, data: object, source: str = "choice") -> Choice:
        """Build from a dict such as a saved choice file; unknown keys are refused with a hint."""
        if not isinstance(data, Mapping):
            raise UserError(f"{source}: a choice must be a JSON object, not {type(data).__name__}")
        check_known(f"field in {source}:", data, [f.name for f in fields(cls)])
        _check({**cls().to_dict(), **data}, source)
        return cls(**data)

    @classmethod
    def from_policy(cls, policy: FailoverPolicy, combined_id: str | None = None, preset: str | None = None) -> Choice:
        """A choice holding ``policy``: its seed options, and every other field that differs from ``preset``.

        :meth:`policy` gives ``policy`` back (equal field by field).
        """
        values = policy.to_dict()
        return cls.from_dict(
            {
                **policy.seed_options(),
                "combined_id": combined_id,
                "preset": preset,
                "policy_fields": {k: v for k, v in values.items() if k not in SEED_FIELDS and k != "name"},
            }
        )

    @classmethod
    def load(cls, path: str | Path) -> Choice:
        """Read a saved choice file (JSON; errors name the file, line and column)."""
        from toolkit import jsonc

        return cls.from_dict(jsonc.load(path), str(path))

    def save(self, path: str | Path) -> Path:
        """Write the choice as JSON, atomically; returns the path."""
        from toolkit.atomic import write_atomic

        path = Path(path)
        write_atomic(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path
