"""Which providers the user has: auth.json ids, environment variables, config."""

from __future__ import annotations

import json

import pytest

from toolkit.catalog import api_to_models
from toolkit.errors import UserError
from toolkit.opencode_config import auth_provider_ids, connected_providers, read_config

MODELS = api_to_models(
    {
        "a": {"env": ["A_KEY"], "models": {"m": {}}},
        "b": {"env": ["B_KEY", "B_PROJECT"], "models": {"m": {}}},
        "c": {"env": [], "models": {"m": {}}},
        "d": {"env": ["D_KEY"], "models": {"m": {}}},
    }
)


def test_connected_combines_auth_env_and_config(tmp_path):
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"d": {"type": "api", "key": "secret"}, "not-in-catalog": {"key": "x"}}))
    environ = {"A_KEY": "1", "B_KEY": "1"}  # b lacks B_PROJECT, so it is not connected
    assert connected_providers(MODELS, environ=environ, auth_file=auth) == ["a", "d"]
    assert connected_providers(MODELS, config={"provider": {"c": {}}}, environ={}, auth_file=auth) == ["c", "d"]
    assert connected_providers(MODELS, environ={"A_KEY": ""}, auth_file=tmp_path / "missing.json") == []


def test_auth_file_errors_never_show_its_contents(tmp_path):
    auth = tmp_path / "auth.json"
    auth.write_text('{"a": {"key": "sk-very-secret"')
    with pytest.raises(UserError) as info:
        auth_provider_ids(auth)
    assert "sk-very-secret" not in str(info.value)


def test_default_auth_file_follows_xdg_data_home(isolated_home):
    path = isolated_home / ".local" / "share" / "opencode" / "auth.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"b": {}, "a": {}}))
    assert auth_provider_ids() == ["a", "b"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "JSON object at the top level"),
        ('{"enabled_providers": "a"}', "'enabled_providers' must be a list"),
        ('{"provider": []}', "'provider' must be an object"),
    ],
)
def test_read_config_checks_the_parts_it_uses(tmp_path, text, message):
    path = tmp_path / "opencode.json"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        read_config(path)
