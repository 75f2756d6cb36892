"""Redaction by value (every known secret in every common encoding) and by shape, and every
output path that uses it: attempt logs, stdout, stderr, logging, CLI errors, export --diff."""

from __future__ import annotations

import base64
import json
import logging
import re
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from local_http import serving

from toolkit.combined_model import CombinedModel
from toolkit.endpoints import Endpoint
from toolkit.gateway import Gateway
from toolkit.mock_providers import Reply
from toolkit.policy import FailoverPolicy
from toolkit.redaction import (
    SECRETS,
    Secrets,
    fragment_length,
    mask_config_line,
    redact,
    redact_shapes,
    redacted_output,
    remember,
)

KEY = 'PLANTED/file+key="q\\0123456789abcdef'  # a slash, a plus, an equals sign, a quote, a backslash

# Every form a provider or a library may echo a key back in.
ENCODINGS: dict[str, Callable[[str], str]] = {
    "exact": lambda s: s,
    "json": lambda s: json.dumps(s)[1:-1],
    "json with \\/": lambda s: json.dumps(s)[1:-1].replace("/", "\\/"),
    "json \\uXXXX": lambda s: "".join(f"\\u{ord(c):04X}" for c in s),
    "json twice": lambda s: json.dumps(json.dumps(s))[1:-1],
    "quote": lambda s: urllib.parse.quote(s, safe=""),
    "quote keeping /": urllib.parse.quote,
    "quote_plus": urllib.parse.quote_plus,
    "quote twice": lambda s: urllib.parse.quote(urllib.parse.quote(s, safe=""), safe=""),
    "upper": str.upper,
    "lower": str.lower,
    "swapcase": str.swapcase,
    "cut 3 at the end": lambda s: s[:-3],
    "cut 4 at the start": lambda s: s[4:],
    "cut at both ends": lambda s: s[5:-5],
    "base64": lambda s: base64.b64encode(s.encode()).decode(),
    "base64 url-safe unpadded": lambda s: base64.urlsafe_b64encode(s.encode()).decode().rstrip("="),
    "basic auth user:key": lambda s: base64.b64encode(b"user:" + s.encode()).decode(),
    "basic auth ab:key": lambda s: base64.b64encode(b"ab:" + s.encode()).decode(),
}

# What is left of each form around the redaction: the inner quotes of JSON in JSON, and the
# base64 characters that encode the "user:" part, not the key.
LEFT = {"json twice": ('\\"', '\\"'), "basic auth user:key": ("dXNlcjp", "Y="), "basic auth ab:key": ("YWI6", "")}


@pytest.mark.parametrize("name", ENCODINGS)
def test_a_known_secret_goes_in_every_encoding(name):
    secrets = Secrets([KEY])
    form = ENCODINGS[name](KEY)
    before, after = LEFT.get(name, ("", ""))
    assert secrets.scrub(f"error <{form}> end") == f"error <{before}[redacted]{after}> end"


@pytest.mark.parametrize(
    ("value", "text", "expected"),
    [
        ("abc12", "abc12 stays: too short to tell from a word", "abc12 stays: too short to tell from a word"),
        ("abcdefgh", "abcdefg is 7 of 8 characters", "abcdefg is 7 of 8 characters"),
        ("abcdefgh", "ABCDEFGH goes", "[redacted] goes"),
        ("0123456789abcdefghijklmnop", "the run 012345678 is 9 of 26", "the run [redacted] is 9 of 26"),
        ("0123456789abcdefghijklmnop", "the run 01234567 is 8 of 26", "the run 01234567 is 8 of 26"),
        ("{env:X}-long-value", "a %41BC%2d%2D mix", "a %41BC%2d%2D mix"),
    ],
)
def test_short_runs_and_short_secrets(value, text, expected):
    assert Secrets([value]).scrub(text) == expected


def test_fragment_length():
    assert [fragment_length(n) for n in (6, 8, 9, 24, 25, 36, 51, 72, 200)] == [6, 8, 8, 8, 9, 12, 17, 24, 24]


def test_secrets_repr_and_adding_twice():
    secrets = Secrets([KEY, None, "", "short"])
    secrets.add(KEY)
    assert repr(secrets) == "Secrets(1 known)" and KEY not in repr(secrets)
    generation = secrets.generation
    secrets.add(KEY)
    assert secrets.generation == generation  # nothing new: cached redactions stay valid


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Incorrect API key provided: sk-abcdef1234567890", "Incorrect API key provided: [redacted]"),
        ("Authorization: Bearer eyJhbGciOi.x.y failed", "Authorization: [redacted] failed"),
        ("proxy-authorization: Basic dXNlcjpwYXNz", "proxy-authorization: [redacted]"),
        ("x-api-key=secretvalue rejected", "x-api-key=[redacted] rejected"),
        ('{"api-key": "abc\\"444-tail", "n": 1}', '{"api-key": "[redacted]", "n": 1}'),
        ("{'x-goog-api-key': 'abc', 'n': 1}", "{'x-goog-api-key': '[redacted]', 'n': 1}"),
        ('{\\"api_key\\": \\"abc\\"}', '{\\"api_key\\": \\"[redacted]\\"}'),
        ("Cookie: a=b; session=xyz", "Cookie: [redacted]"),
        ('set-cookie: "sid=abc; Path=/"', 'set-cookie: "[redacted]"'),
        ("GET https://bob:hunter2@example.com/v1", "GET https://[redacted]@example.com/v1"),
        ("/v1?key=AIzaXYZ&sig=abc123&max_tokens=5", "/v1?key=[redacted]&sig=[redacted]&max_tokens=5"),
        ("url?access_token=abc.def&token=1a2b", "url?access_token=[redacted]&token=[redacted]"),
        ("client_secret: s3cr3t, password=pw", "client_secret: [redacted], password=[redacted]"),
        ("sent Bearer abc.def-ghi to it", "sent Bearer [redacted] to it"),
        ("key AIzaSyA1234567890abcdefghijklmnopqrs", "key [redacted]"),
        ("id AKIAABCDEFGHIJKLMNOP", "id [redacted]"),
        ("token ya29.a0AfH6SMBx-y_z", "token [redacted]"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "jwt [redacted]"),
        ("gh ghp_abcdefghijklmnopqrstuvwxyz0123", "gh [redacted]"),
        # left alone: references, numbers, words
        ('"apiKey": "{env:FOO}", apiKey={file:~/k}', '"apiKey": "{env:FOO}", apiKey={file:~/k}'),
        ("max token: 4096, tokens=12, token=null", "max token: 4096, tokens=12, token=null"),
        ("--token-env GW_TOKEN: that variable", "--token-env GW_TOKEN: that variable"),  # prose after a colon
        ("x-api-key: s3cretvalue", "x-api-key: [redacted]"),
        ("task-management-system: Basic authentication failed", "task-management-system: Basic authentication failed"),
        ("already Authorization: [redacted]", "already Authorization: [redacted]"),
    ],
)
def test_shapes(text, expected):
    assert redact_shapes(text) == expected


def test_redact_collapses_whitespace_and_caps_after_redacting():
    assert redact("plain\n  overloaded   error") == "plain overloaded error"
    remember(KEY)
    assert redact(("x" * 195) + " " + KEY) == ("x" * 195) + " [red"
    assert redact(KEY * 1000, limit=30) == "[redacted]"  # one span: the copies are back to back


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('   "apiKey": "sk-live-123",', '   "apiKey": "***",'),
        ('-  "token": "abc\\"444-tail",', '-  "token": "***",'),  # the escaped quote does not end it
        ('+  "headers": {"Authorization": "Bearer abc", "X-Other": "Bearer def"},', None),
        ('   "Cookie": "a=b; c=d", "baseURL": "https://u:p@host/v1"', None),
        ('   "apiKey": "{env:ANTHROPIC_API_KEY}", "keyFile": "{file:~/k}"', None),
        ("   // old key: sk-abcdefghijkl, Authorization: Bearer xyz", "   // old key: ***, Authorization: ***"),
        ('   "theme": "dark", "model": "anthropic/claude-sonnet-4-5"', None),
    ],
)
def test_config_lines_mask_whole_values(line, expected):
    masked = {
        '+  "headers": {"Authorization": "Bearer abc", "X-Other": "Bearer def"},': (
            '+  "headers": {"Authorization": "***", "X-Other": "Bearer ***"},'
        ),
        '   "Cookie": "a=b; c=d", "baseURL": "https://u:p@host/v1"': '   "Cookie": "***", "baseURL": "https://***@host/v1"',
    }
    assert mask_config_line(line) == (expected or masked.get(line, line))


# --- the property: random secret, random encoding, random body ----------------------------------


def _decoded(text: str) -> Iterator[str]:
    """``text`` as a reader could decode it: as is, URL-decoded (once, twice), JSON-unescaped."""
    yield text
    yield urllib.parse.unquote(text)
    yield urllib.parse.unquote(urllib.parse.unquote(text))
    unescaped = re.sub(r"\\+u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    yield re.sub(r"\\+(.)", r"\1", unescaped)


def leaks(secret: str, text: str) -> list[str]:
    """The runs of ``secret`` (of its redaction length, any case, any decoding) and of its
    base64 encodings found in ``text``: [] when nothing leaked."""
    size = fragment_length(len(secret))
    runs = {secret.lower()[i : i + size] for i in range(len(secret) - size + 1)}
    found = [run for form in _decoded(text) for run in runs if run in form.lower()]
    raw = secret.encode()
    for offset in range(3):  # the three alignments of the key inside a longer base64 string
        encoded = base64.b64encode(b":" * offset + raw).decode()
        core = encoded[-(-8 * offset // 6) : 8 * (offset + len(raw)) // 6]  # the characters only the key decides
        for alphabet in (core, core.translate(str.maketrans("+/", "-_"))):
            b64size = fragment_length(len(alphabet))
            found += [
                alphabet[i : i + b64size]
                for i in range(len(alphabet) - b64size + 1)
                if alphabet[i : i + b64size] in text
            ]
    return found


KEY_CHARS = st.sampled_from('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./+=:"\\~%')
# any text, and the characters that could join an escape with the secret's first ones ("%4" + "1abc")
BODY_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from(
    '%\\u0123456789abcdefABCDEF"/+=:_-'
)


@st.composite
def bodies(draw: st.DrawFn, secret: str) -> str:
    """A body with the secret in it, in a random encoding, in plain text or a JSON document."""
    form = ENCODINGS[draw(st.sampled_from(sorted(ENCODINGS)))](secret)
    before, after = draw(st.text(BODY_CHARS, max_size=40)), draw(st.text(BODY_CHARS, max_size=40))
    shape = draw(st.sampled_from(["text", "json", "json of the raw form", "header", "query"]))
    if shape == "json":
        return json.dumps({"error": {"message": before + form + after, "code": 401}})
    if shape == "json of the raw form":
        return '{"error": {"message": "' + before + form + after + '"}}'
    if shape == "header":
        return f"{before}\r\nx-echo: {form}\r\n{after}"
    if shape == "query":
        return f"https://h/v1?{before}&q={form}&{after}"
    return before + form + after


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_no_encoding_of_a_random_secret_survives_in_a_random_body(data):
    secret = data.draw(st.text(KEY_CHARS, min_size=12, max_size=64), label="secret")
    body = data.draw(bodies(secret), label="body")
    secrets = Secrets([secret])
    out = secrets.scrub(body)
    assert leaks(secret, out) == [], out
    assert leaks(secret, redact(body, limit=10_000, secrets=secrets)) == []


# --- every output path ------------------------------------------------------------------------------


def test_stdout_stderr_and_logging_show_no_known_secret(capsys):
    remember(KEY)
    forms = [encode(KEY) for encode in ENCODINGS.values()]
    with redacted_output():
        print(*forms)
        print(json.dumps({"key": KEY}), file=sys.stderr)
        logger = logging.Logger("echo")  # not registered: nothing outlives the test
        logger.addHandler(logging.StreamHandler())  # on sys.stderr as it is now, as uvicorn's handlers are
        logger.warning("echoed %s", ENCODINGS["quote"](KEY))
    out, err = capsys.readouterr()
    assert leaks(KEY, out + err) == []
    assert out.count("[redacted]") == len(forms) and err.count("[redacted]") == 2


class _Echo(BaseHTTPRequestHandler):
    """A provider that refuses every call with a 401 echoing the key it got, each time in the next encoding."""

    sent: list[str] = []
    keys: set[str] = set()
    lock = threading.Lock()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        key = (self.headers.get("authorization") or "").removeprefix("Bearer ")
        with self.lock:
            name = sorted(ENCODINGS)[len(self.sent) % len(ENCODINGS)]
            self.sent.append(name)
            self.keys.add(key)
        body = '{"error": {"message": "Incorrect API key provided: ' + ENCODINGS[name](key) + '"}}'
        self.send_response(401)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body.encode())))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def echo_provider() -> Iterator[str]:
    _Echo.sent, _Echo.keys = [], set()
    with serving(_Echo) as root:
        yield f"{root}/v1"


def test_live_run_against_an_echoing_provider_leaks_the_key_nowhere(cli, tmp_path, monkeypatch, echo_provider):
    monkeypatch.setenv("PLANTED_KEY", KEY)
    model = {"claude-sonnet-4-5": {"name": "Claude Sonnet 4.5", "limit": {"context": 200000, "output": 64000}}}
    config = tmp_path / "opencode.json"
    options = {"baseURL": echo_provider, "apiKey": "{env:PLANTED_KEY}"}
    providers = {
        name: {"npm": "@ai-sdk/openai-compatible", "name": name, "models": model, "options": options}
        for name in ("echo-a", "echo-b")
    }
    config.write_text(json.dumps({"provider": providers}))
    log = tmp_path / "attempts.jsonl"
    run = ["live", "--real", "--yes", "--config", str(config), "--source", "bundled", "--combined", "claude-sonnet-4-5"]
    sizes = ["--requests", str(len(ENCODINGS)), "--input-tokens", "5", "--output-tokens", "3"]
    result = cli(*run, "--providers", "echo-a,echo-b", *sizes, "--log", str(log))
    assert result.code == 1  # every attempt refused
    assert _Echo.keys == {KEY} and set(_Echo.sent) == set(ENCODINGS)  # it got the key and echoed every form
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert {row["outcome"] for row in rows} == {"auth"} and len(rows) == len(_Echo.sent)
    assert all(row["error"].startswith('401 {"error": {"message": "Incorrect API key provided: ') for row in rows)
    assert all("[redacted]" in row["error"] for row in rows)
    for where in (log.read_text(), result.out, result.err):
        assert leaks(KEY, where) == []


def test_gateway_answers_log_and_stats_show_no_echoed_key(mock_providers, tmp_path):
    names = sorted(ENCODINGS)
    replies = [Reply("auth", message=f"Incorrect API key provided: {ENCODINGS[name](KEY)}") for name in names]
    mock = mock_providers(["a"], api_key=KEY, script={"a": replies})
    model = CombinedModel.of(["a"], combined_id="m", cost_input=3.0, cost_output=15.0)
    endpoints = {"a": Endpoint("a", mock.endpoints["a"], "openai", "env:K", KEY)}
    log = tmp_path / "gw.jsonl"
    gateway = Gateway([(model, endpoints)], FailoverPolicy(max_attempts=1, min_providers=1), log_path=log)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    with gateway.running() as url:
        answers = [httpx.post(url + "/chat/completions", json=body, timeout=30) for _ in names]
        stats = httpx.get(url.removesuffix("/v1") + "/stats").text
    assert [a.status_code for a in answers] == [502] * len(names)  # no provider answered
    assert all("[redacted]" in a.json()["error"]["message"] for a in answers)
    for where in (*(a.text for a in answers), log.read_text(), stats):
        assert leaks(KEY, where) == []


def test_export_diff_masks_literal_credentials_of_every_shape(cli, tmp_path):
    path = tmp_path / "opencode.json"
    lines = [
        "{",
        '  "theme": "dark",',
        '  "provider": {"x": {"options": {',
        '    "apiKey": "sk-live-123\\"444-tail",',
        '    "baseURL": "https://bob:hunter2@proxy.example/v1",',
        '    "headers": {"Authorization": "Bearer tok-abc123", "Cookie": "sid=c00kie; theme=dark",',
        '                "X-Trace": "Basic dXNlcjpwYXNzd29yZA=="}}}}',
        "}",
    ]
    path.write_text("\n".join(lines) + "\n")
    before = path.read_bytes()
    result = cli("export", "--config", str(path), "--source", "bundled", "--layout", "plugin", "--diff")
    assert result.code == 0
    shown = result.out.splitlines()
    assert shown[3:8] == [
        '     "apiKey": "***",',
        '     "baseURL": "https://***@proxy.example/v1",',
        '     "headers": {"Authorization": "***", "Cookie": "***",',
        '-                "X-Trace": "Basic ***"}}}}',
        '+                "X-Trace": "Basic ***"}}}},',
    ]
    for secret in ("sk-live-123", "444-tail", "hunter2", "bob:", "tok-abc123", "c00kie", "dXNlcjpwYXNzd29yZA"):
        assert secret not in result.out
    assert path.read_bytes() == before  # --diff writes nothing


def test_cli_error_for_a_plugin_entry_holding_a_key_does_not_show_it(cli, tmp_path):
    path = tmp_path / "opencode.json"
    path.write_text(json.dumps({"plugin": ["x", {"apiKey": "sk-in-a-plugin-entry-0123456789"}]}))
    result = cli("export", "--config", str(path), "--source", "bundled")
    assert result.code == 2
    assert result.err == (
        f'error: {path}: every \'plugin\' entry must be "name" or ["name", {{options}}], not an object\n'
    )


def test_cli_error_messages_are_redacted(cli):
    remember(KEY)
    result = cli("live", "--combined", ENCODINGS["quote"](KEY), "--source", "bundled")
    assert result.code == 2 and result.err.startswith("error: ")
    assert "[redacted]" in result.err and leaks(KEY, result.err) == []


def test_the_traceback_of_a_bug_is_redacted_too(cli, monkeypatch):
    def crash(args: object) -> int:
        raise RuntimeError(f"a bug while holding {ENCODINGS['json'](KEY)}")

    remember(KEY)
    monkeypatch.setattr("toolkit.cli.catalog.run", crash)  # the parser takes each command's run as it is built
    result = cli("catalog")
    assert result.code == 1
    assert result.err.startswith("Traceback (most recent call last):")
    assert result.err.endswith("RuntimeError: a bug while holding [redacted]\n")


def test_the_registry_starts_empty_in_every_test():
    assert not SECRETS
