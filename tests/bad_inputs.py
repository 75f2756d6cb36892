"""The bad-input corpus of tests/test_bad_input.py: one :class:`Case` per mistake a user can make.

Every case writes its files into an empty folder, runs one ``combined-models`` command on
them, and names the exit code and a pattern the single stderr line must match. ``{d}`` in
an argument is that folder. The files every case gets are :data:`BASE_FILES`: a tiny
three-provider catalog, a valid config, choice, scenario and results file, so each case
breaks exactly one thing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

DEEP = "[" * 100_000 + "]" * 100_000
"""100,000 levels of nesting (each reader must refuse it without a RecursionError)."""
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000
HUGE_INT = "1" + "0" * 5000


def _api(**models: dict) -> str:
    """A models.dev-shaped catalog: providers p-one, p-two, p-three, each with model ``m1``."""
    base = {"limit": {"context": 128000, "output": 8192}, "cost": {"input": 1, "output": 2}}
    api = {
        p: {
            "id": p,
            "api": "https://example.invalid/v1",
            "npm": "@ai-sdk/openai-compatible",
            "models": {"m1": {"id": "m1", "name": "M1", **base, **models.get(p, {})}},
        }
        for p in ("p-one", "p-two", "p-three")
    }
    return json.dumps(api)


SCENARIO: dict = {
    "name": "tiny",
    "arrivals": {"kind": "poisson", "rate_per_s": 2.0},
    "providers": {"default": {"ttft_s": 0.5, "tokens_per_s": 50, "errors": {"server_error": 0.01}}},
}


def scenario(**changes: object) -> str:
    """:data:`SCENARIO` with top-level keys replaced, or ``a__b`` paths set one level down."""
    data = json.loads(json.dumps(SCENARIO))
    for path, value in changes.items():
        *parents, last = path.split("__")
        target = data
        for key in parents:
            target = target.setdefault(key, {})
        target[last] = value
    return json.dumps(data)


def profile(**fields: object) -> str:
    """A scenario whose ``default`` profile has ``fields`` set."""
    return scenario(providers={"default": {**SCENARIO["providers"]["default"], **fields}})


def incident(**fields: object) -> str:
    """A scenario with one incident (an outage of rank:0 for 10 s, overridden by ``fields``)."""
    return scenario(incidents=[{"provider": "rank:0", "kind": "outage", "start_s": 0, "end_s": 10, **fields}])


RESULTS_HEADER = "point,preset,strategy,priority,max_attempts,scenario,seed,combined_id,success_rate,latency_p95_s,cost_per_success_usd"


def results(*rows: str) -> str:
    """A sweep results CSV: the header, then ``rows`` (default: two good rows)."""
    good = [
        "a|0,opencode-1.18,on_error,p-one>p-two>p-three,6,tiny,0,m1,1.0,11.5,0.0086",
        "b|0,opencode-1.18,on_error,p-two>p-one>p-three,6,tiny,0,m1,1.0,12.5,0.0090",
    ]
    return "\n".join([RESULTS_HEADER, *(rows or good)]) + "\n"


BASE_FILES: dict[str, str | bytes] = {
    "tiny.json": _api(),
    "opencode.json": '{\n  "model": "p-one/m1"\n}\n',
    "choice.json": '{"provider_priority": ["p-one", "p-two"], "strategy": "on_error", "max_attempts": 2}\n',
    "scenario.json": scenario(),
    "results.csv": results(),
    "a-file": "not a folder\n",
}

MODEL = ["--source", "{d}/tiny.json", "--providers", "p-one,p-two,p-three", "--combined", "m1"]
SIMULATE = ["simulate", *MODEL, "--requests", "10"]
SWEEP = ["sweep", *MODEL, "--requests", "10", "--seeds", "1", "--executor", "serial"]


@dataclass(frozen=True)
class Case:
    """One bad input: the command line, the files it needs beyond :data:`BASE_FILES`, what it must say."""

    id: str
    argv: list[str]
    err: str  # a regular expression the one stderr line must match (re.search)
    code: int = 2
    files: dict[str, str | bytes] = field(default_factory=dict)
    folders: tuple[str, ...] = ()  # made as empty folders (a folder where a file belongs)
    fifos: tuple[str, ...] = ()  # made as named pipes: reading one would block for ever
    links: dict[str, str] = field(default_factory=dict)  # symlink name -> target (a loop, say)


def _usage(command: str, option: str, value: str, extra: list[str]) -> Case:
    return Case(
        f"{command} {option} {value}",
        [command, *extra, f"{option}={value}"],  # "=": argparse reads a lone "-inf" as an option
        rf"^combined-models {command}: error: argument {option}: expected .*, not '{value}' "
        rf"\(see combined-models {command} --help\)$",
    )


# Every numeric option of every command, with values out of its range: one usage line each.
_NUMBERS: list[tuple[str, list[str], str, list[str]]] = [
    ("catalog", [], "--timeout", ["nan", "inf", "0", "-1", "abc"]),
    ("combine", [], "--timeout", ["-inf"]),
    ("combine", [], "--min-providers", ["-1", "2.5", "x"]),
    ("endpoints", [], "--timeout", ["NaN"]),
    ("live", [], "--requests", ["0", "-5", "2.5", "10000000", "nan"]),
    ("live", [], "--concurrency", ["0", "1000000000"]),
    ("live", [], "--time-scale", ["nan", "inf", "0", "-1", "1e999"]),
    ("live", [], "--input-tokens", ["0", "1000000000000"]),
    ("live", [], "--output-tokens", ["-1"]),
    ("live", [], "--connect-timeout", ["nan", "0"]),
    ("live", [], "--first-token-timeout", ["-1"]),
    ("live", [], "--total-timeout", ["-inf", "0"]),
    ("live", [], "--seed", ["-1", "1099511627776"]),
    ("live", [], "--max-attempts", ["0", "1.5"]),
    ("live", [], "--max-providers", ["-3"]),
    ("simulate", ["--scenario", "calm-day"], "--requests", ["0", "nan"]),
    ("simulate", ["--scenario", "calm-day"], "--seed", ["abc"]),
    ("simulate", ["--scenario", "calm-day"], "--max-attempts", ["101"]),
    ("sweep", ["--scenario", "calm-day", "--out", "x.csv"], "--seeds", ["0", "-1"]),
    ("sweep", ["--scenario", "calm-day", "--out", "x.csv"], "--requests", ["0"]),
    ("sweep", ["--scenario", "calm-day", "--out", "x.csv"], "--workers", ["0"]),
    ("sweep", ["--scenario", "calm-day", "--out", "x.csv"], "--max-attempts", ["0", "x"]),
    ("recommend", ["--results", "r.csv"], "--min-success", ["nan", "1.5", "-0.1"]),
    ("recommend", ["--results", "r.csv"], "--min-providers", ["-1"]),
    ("report", [], "--seeds", ["0"]),
    ("report", [], "--requests", ["nan"]),
    ("report", [], "--min-success", ["2"]),
    ("report", [], "--max-providers", ["-1"]),
    ("gateway", [], "--port", ["70000", "-1"]),
    ("gateway", [], "--grace", ["nan", "-1"]),
    ("gateway", [], "--max-body-mb", ["0", "inf"]),
    ("mock-providers", ["--scenario", "calm-day"], "--time-scale", ["0", "nan"]),
    ("mock-providers", ["--scenario", "calm-day"], "--port", ["99999"]),
    ("mock-providers", ["--scenario", "calm-day"], "--seed", ["-1"]),
    ("mock-providers", ["--scenario", "calm-day"], "--duration", ["nan", "-1"]),
]

USAGE_CASES = [_usage(cmd, opt, v, extra) for cmd, extra, opt, values in _NUMBERS for v in values] + [
    Case("unknown command", ["no-such-command"], r"^combined-models: error: argument COMMAND: invalid choice"),
    Case("sweep without --out", ["sweep", "--scenario", "calm-day"], r"required: --out \(see"),
    Case("recommend without --results", ["recommend"], r"required: --results \(see"),
    Case("bad --variants", ["simulate", "--scenario", "calm-day", "--variants", "some"], r"--variants: invalid choice"),
]

# Each JSON file type, broken in each way: (where it is read, the expected message).
_JSON_READERS: dict[str, tuple[list[str], str]] = {
    "config": (["catalog", "--source", "{d}/tiny.json", "--config", "{d}/bad.json"], ""),
    "choice": (["export", "--from", "{d}/bad.json", "--config", "{d}/opencode.json"], ""),
    "catalog": (["catalog", "--source", "{d}/bad.json"], ""),
    "overrides": (["combine", "--source", "{d}/tiny.json", "--overrides", "{d}/bad.json"], ""),
    "scenario": ([*SIMULATE, "--scenario", "{d}/bad.json"], "scenario .*"),
}
_JSON_BREAKS: list[tuple[str, str | bytes, str]] = [
    ("deep array", DEEP, r"bad\.json: nested more than 64 levels deep"),
    ("deep object", DEEP_OBJECT, r"bad\.json: nested more than 64 levels deep"),
    ("NaN", '{"a": NaN}', r"bad\.json: invalid JSON \(NaN is not a JSON value; write a finite number\)"),
    ("Infinity", '{"a": -Infinity}', r"bad\.json: invalid JSON \(-Infinity is not a JSON value"),
    ("1e400", '{"a": 1e400}', r"bad\.json: invalid JSON \(the number 1e400 is out of range\)"),
    ("huge integer", '{"a": ' + HUGE_INT + "}", r"bad\.json: invalid JSON \(an integer with thousands of digits\)"),
    ("not UTF-8", b'{"a": "\xff\xfe"}', r"bad\.json(:|: it is) not UTF-8 text"),
    ("empty", "", r"bad\.json:1:1: invalid JSON \(Expecting value\)"),
    ("truncated", '{"a": [1, 2', r"bad\.json:1:12: invalid JSON"),
]

JSON_CASES = (
    [
        Case(f"{kind} {name}", argv, prefix + pattern, files={"bad.json": content})
        for kind, (argv, prefix) in _JSON_READERS.items()
        for name, content, pattern in _JSON_BREAKS
    ]
    + [
        Case(f"{kind} is a folder", argv, r"bad\.json is a directory", folders=("bad.json",))
        for kind, (argv, _) in _JSON_READERS.items()
    ]
    + [Case(f"{kind} missing", argv, r"bad\.json|no scenario file") for kind, (argv, _) in _JSON_READERS.items()]
)

SCENARIO_CASES = [
    Case(f"scenario {name}", [*SIMULATE, "--scenario", "{d}/bad.json"], pattern, files={"bad.json": content})
    for name, content, pattern in [
        ("rate 0", scenario(arrivals={"kind": "poisson", "rate_per_s": 0}), r"at arrivals"),
        ("rate above max", scenario(arrivals={"kind": "poisson", "rate_per_s": 1e7}), r"at arrivals"),
        ("sessions 0", scenario(arrivals={"kind": "sessions", "sessions": 0, "think_time_s": 5}), r"at arrivals"),
        ("tokens_per_s 0", profile(tokens_per_s=0), r"at providers\.default\.tokens_per_s: a speed of 0 tokens"),
        (
            "tokens_per_s uniform from 0",
            profile(tokens_per_s={"dist": "uniform", "low": 0, "high": 10}),
            r"tokens_per_s: a speed of 0 tokens per second never finishes",
        ),
        (
            "tokens_per_s absurd",
            profile(tokens_per_s=1e9),
            r"tokens_per_s: 1e\+09 is out of range; use at most 100,000",
        ),
        (
            "output tokens absurd",
            scenario(request={"output_tokens": 1e15}),
            r"at request\.output_tokens: 1e\+15 is out of range; use at most 10,000,000 tokens",
        ),
        (
            "input tokens absurd",
            scenario(request={"input_tokens": {"dist": "lognormal", "median": 2e7, "sigma": 1}}),
            r"at request\.input_tokens: 2e\+07 is out of range",
        ),
        ("ttft a year", profile(ttft_s=3e7), r"ttft_s: 3e\+07 is out of range; use at most 3,600 seconds"),
        ("sigma 50", profile(ttft_s={"dist": "lognormal", "median": 1, "sigma": 50}), r"sigma 50 is out of range"),
        ("negative ttft", profile(ttft_s=-1), r"at providers\.default\.ttft_s"),
        ("probability 1.5", profile(errors={"timeout": 1.5}), r"at providers\.default\.errors\.timeout"),
        ("probabilities above 1", profile(errors={"timeout": 0.6, "auth": 0.6}), r"add up to 1\.2"),
        ("retry after a week", profile(retry_after_s=604800), r"retry_after_s: 604800 is out of range"),
        ("incident rank:99", incident(provider="rank:99"), r"incidents\.0\.provider: rank:99 is past the last of 3"),
        (
            "profile rank:7",
            scenario(providers={"rank:7": {"ttft_s": 1}}),
            r"providers\.rank:7: rank:7 is past the last of 3",
        ),
        (
            "incident unknown id",
            incident(provider="p-fuor"),
            r"unknown provider id 'p-fuor' \(did you mean p-two, p-one\?\); use one of p-one, p-three, p-two, rank:0 to rank:2, or all",
        ),
        ("profile unknown id", scenario(providers={"p-onee": {"ttft_s": 1}}), r"unknown provider id 'p-onee'"),
        ("incident ends first", incident(start_s=10, end_s=5), r"incidents\.0: end_s must be greater than start_s"),
        ("incident latency 0", incident(kind="degraded", latency_factor=0), r"incidents\.0\.latency_factor"),
        ("errors incident without table", incident(kind="errors"), r"kind 'errors' needs an 'errors' table"),
        ("unknown field", scenario(speed=3), r"Additional properties are not allowed \('speed'"),
        ("bad name", scenario(name="Has Spaces"), r"at name: 'Has Spaces' does not match"),
        ("top level a list", "[1, 2]", r"the top level must be a JSON object"),
        ("uniform low above high", profile(ttft_s={"dist": "uniform", "low": 5, "high": 1}), r"low must not exceed"),
    ]
]

CATALOG_CASES = [
    Case(f"catalog {name}", ["combine", "--source", "{d}/bad.json"], pattern, files={"bad.json": content})
    for name, content, pattern in [
        ("empty object", "{}", r"catalog .*bad\.json lists no models; check the file, or use --source bundled"),
        ("providers without models", '{"a": {"models": {}}, "b": {}}', r"lists no models"),
        ("a list", "[]", r"not in models\.dev api\.json shape"),
        ("provider a string", '{"a": "x"}', r"not in models\.dev api\.json shape"),
        ("models a list", '{"a": {"models": []}}', r"not in models\.dev api\.json shape"),
        ("corrupt gzip", b"\x1f\x8b\x08\x00garbage", r"bad\.json: corrupt gzip data"),
    ]
]

# Out-of-range limits and prices: dropped with one warning naming provider, model and field.
WARNING_CASES = [
    Case(
        f"catalog {name} dropped",
        ["catalog", "--source", "{d}/bad.json"],
        rf"^warning: catalog .*bad\.json: ignored values out of range: p-two/m1 {field_name} {shown} ",
        code=0,
        files={"bad.json": _api(**{"p-two": {key: {sub: value}}})},
    )
    for name, key, sub, value, field_name, shown in [
        ("fractional limit", "limit", "context", 1.5, "limit.context", "1.5"),
        ("negative limit", "limit", "output", -5, "limit.output", "-5"),
        ("huge limit", "limit", "context", 10**30, "limit.context", "1" + "0" * 30),
        ("negative price", "cost", "input", -1, "cost.input", "-1"),
        ("absurd price", "cost", "output", 1e9, "cost.output", "1000000000.0"),
    ]
]

CONFIG_CASES = [
    Case(
        f"config {name}", ["catalog", "--source", "{d}/tiny.json", "--config", "{d}/bad.json"], p, files={"bad.json": c}
    )
    for name, c, p in [
        ("a list", "[]", r"an OpenCode config must be a JSON object at the top level"),
        ("provider a list", '{"provider": []}', r"'provider' must be an object"),
        ("enabled_providers text", '{"enabled_providers": "a"}', r"'enabled_providers' must be a list"),
        ("unterminated comment", '{"a": 1 /* no end', r"invalid JSONC \(unterminated /\* comment at line 1"),
        ("duplicate-free garbage", "{,}", r"bad\.json:1:2: invalid JSON"),
    ]
]

RESULTS_CASES = (
    [
        Case(f"results {name}", ["recommend", "--results", "{d}/bad.csv"], pattern, files={"bad.csv": content})
        for name, content, pattern in [
            ("header only", results("x").replace("x\n", ""), r"the results file has no rows"),
            ("empty", "", r"cannot read sweep results .*bad\.csv: No columns to parse"),
            (
                "text success",
                results("a|0,p,on_error,p-one>p-two,6,tiny,0,m1,high,1,1"),
                r"line 2: success_rate is 'high'",
            ),
            ("NaN success", results("a|0,p,on_error,p-one>p-two,6,tiny,0,m1,nan,1,1"), r"line 2: success_rate is nan"),
            ("success 1.5", results("a|0,p,on_error,p-one>p-two,6,tiny,0,m1,1.5,1,1"), r"success_rate is 1\.5"),
            ("fractional attempts", results("a|0,p,on_error,p-one>p-two,2.5,tiny,0,m1,1,1,1"), r"max_attempts is 2\.5"),
            ("zero attempts", results("a|0,p,on_error,p-one>p-two,0,tiny,0,m1,1,1,1"), r"max_attempts is 0"),
            ("text latency", results("a|0,p,on_error,p-one>p-two,6,tiny,0,m1,1,slow,1"), r"latency_p95_s is 'slow'"),
            ("NaN latency", results("a|0,p,on_error,p-one>p-two,6,tiny,0,m1,1,nan,1"), r"latency_p95_s is nan"),
            ("inf cost", results("a|0,p,on_error,p-one>p-two,6,tiny,0,m1,1,1,inf"), r"cost_per_success_usd is inf"),
            ("missing column", "a,b\n1,2\n", r"the results have no column 'success_rate'"),
            ("not UTF-8", b"\xff\xfe\x00\x01", r"cannot read sweep results"),
            ("ragged", results() + "1,2,3,4,5,6,7,8,9,10,11,12,13,14\n", r"cannot read sweep results"),
            (
                "negative latency",
                results("a|0,p,on_error,p-one>p-two,6,tiny,0,m1,1,-11.5,1"),
                r"line 2: latency_p95_s is -11\.5, expected a finite number of at least 0",
            ),
            (
                "negative cost",
                results("a|0,p,on_error,p-one>p-two,6,tiny,0,m1,1,1,-0.01"),
                r"cost_per_success_usd is -0\.01",
            ),
            (
                "attempts past int64",
                results("a|0,p,on_error,p-one>p-two," + "9" * 23 + ",tiny,0,m1,1,1,1"),
                r"line 2: max_attempts is '?9{23}(\.0)?'?, expected a whole number from 1 to 100",
            ),
            (
                "attempts 101",
                results("a|0,p,on_error,p-one>p-two,101,tiny,0,m1,1,1,1"),
                r"max_attempts is 101, expected",
            ),
        ]
    ]
    + [
        Case(f"recommend --save {name}", ["recommend", "--results", "{d}/results.csv", "--save", path], pattern)
        for name, path, pattern in [
            (
                "the results CSV",
                "{d}/results.csv",
                r"--save .*results\.csv: a choice is saved as JSON; give a \.json file name$",
            ),
            (
                "opencode.json",
                "{d}/opencode.json",
                r"opencode\.json exists and is not a saved choice; give a new file name$",
            ),
            ("a folder", "{d}", r"a choice is saved as JSON"),
            ("missing folder", "{d}/no/c.json", r"--save .*c\.json: the folder .*no does not exist; create it first$"),
        ]
    ]
    + [
        Case("results missing", ["recommend", "--results", "{d}/nothing.csv"], r"nothing\.csv does not exist$"),
        Case("results a folder", ["recommend", "--results", "{d}"], r"is a directory, not a regular file"),
    ]
)

OUTPUT_CASES = [
    Case(
        "live --log a folder",
        ["live", *MODEL, "--log", "{d}"],
        r"^error: --log .* is a directory, not a regular file; point at the file itself$",
    ),
    *[
        Case(
            f"{command[0]} --log over {name}",
            [*command, "--log", "{d}/" + name],
            rf"^error: --log .*{name.replace('.', '[.]')} exists and is not a JSON-lines log; give a new file name$",
            files={"one-line.json": '{"model": "p-one/m1"}\n'},
        )
        for command in (["live", *MODEL], ["gateway"], ["mock-providers", "--scenario", "calm-day"])
        for name in ("opencode.json", "results.csv", "one-line.json")
    ],
    Case("live --log missing folder", ["live", *MODEL, "--log", "{d}/no/log.jsonl"], r"the folder .*/no does not"),
    Case("live --log under a file", ["live", *MODEL, "--log", "{d}/a-file/x"], r"a-file is a file, not a folder$"),
    Case(
        "simulate --log a folder",
        [*SIMULATE, "--scenario", "calm-day", "--log", "{d}/l.csv"],
        r"cannot write .*l\.csv: it is a directory",
        folders=("l.csv",),
    ),
    Case(
        "simulate --log a text file",
        [*SIMULATE, "--scenario", "calm-day", "--log", "{d}/l.txt"],
        r"cannot tell the format of .*l\.txt",
    ),
    Case("history --out a text file", ["history", "--data-dir", "{d}/no", "--out", "{d}/h.txt"], r"cannot tell the"),
    Case(
        "endpoints --out a text file", ["endpoints", "--source", "{d}/tiny.json", "--out", "{d}/e.md"], r"cannot tell"
    ),
    Case("gateway --log a folder", ["gateway", "--log", "{d}"], r"--log .* is a directory, not a regular file"),
    Case(
        "mock-providers --log a folder",
        ["mock-providers", "--scenario", "calm-day", "--log", "{d}"],
        r"is a directory, not a regular file",
    ),
    Case(
        "sweep --out a folder",
        [*SWEEP, "--scenario", "calm-day", "--out", "{d}"],
        r"--out .* is a directory, not a regular file",
    ),
    Case("sweep --out missing folder", [*SWEEP, "--scenario", "calm-day", "--out", "{d}/no/r.csv"], r"does not exist"),
    Case(
        "sweep --out a foreign CSV",
        [*SWEEP, "--scenario", "calm-day", "--out", "{d}/other.csv"],
        r"other\.csv is not a sweep results file \(no 'point' column\)",
        files={"other.csv": "name,amount\nrent,1200\n"},
    ),
    Case(
        "sweep --out not UTF-8",
        [*SWEEP, "--scenario", "calm-day", "--out", "{d}/other.csv"],
        r"other\.csv is not a sweep results file",
        files={"other.csv": b"\xff\xfe\xfa\n\x00\x01"},
    ),
    Case("report --out under a file", ["report", "--out", "{d}/a-file/sub"], r"cannot create the report folder"),
    Case("report --out a file", ["report", "--out", "{d}/a-file"], r"a-file is a file; --out takes a folder"),
    Case("catalog --out bad type", ["catalog", "--source", "{d}/tiny.json", "--out", "{d}/t.txt"], r"cannot tell the"),
    Case(
        "catalog --out a folder",
        ["catalog", "--source", "{d}/tiny.json", "--out", "{d}/t.csv"],
        r"cannot write .*t\.csv: it is a directory; give a file name$",
        folders=("t.csv",),
    ),
    Case(
        "combine --out a folder",
        ["combine", "--source", "{d}/tiny.json", "--out", "{d}/sub.csv"],
        r"cannot write",
        folders=("sub.csv",),
    ),
]

SIZE_CASES = [
    Case(
        "report 100 million seeds",
        ["report", "--out", "{d}/r", "--seeds", "100000000"],
        r"^error: [0-9,]+ runs x 2,000 requests is too large: about .* days",
    ),
    Case(
        "report rank:99",
        ["report", "--out", "{d}/r", "--scenario", "{d}/bad.json"],
        r"^error: scenario .*bad\.json: incidents\.0\.provider: rank:99 is past the last of \d+ providers",
        files={"bad.json": incident(provider="rank:99")},
    ),
    Case(
        "report bad scenario",
        ["report", "--out", "{d}/r", "--scenario", "calm-day", "{d}/bad.json"],
        r"^error: scenario .*bad\.json: at request\.output_tokens: 1e\+15 is out of range",
        files={"bad.json": scenario(request={"output_tokens": 1e15})},
    ),
    Case("report --history missing", ["report", "--out", "{d}/r", "--history", "{d}/no"], r"no OpenCode data folder"),
    Case(
        "sweep 100 million seeds",
        [*SWEEP, "--scenario", "calm-day", "--out", "{d}/r.csv", "--seeds", "100000000"],
        r"runs x 10 requests is too large: about .* days .*; lower --seeds, --requests or the grid$",
    ),
    Case(
        "sweep 10 billion requests",
        [*SWEEP[:-4], "--scenario", "calm-day", "--out", "{d}/r.csv", "--requests", "10000000000"],
        r"x 10,000,000,000 requests is too large: about .* TiB of memory",
    ),
    Case(
        "simulate 10 billion requests",
        ["simulate", *MODEL, "--scenario", "calm-day", "--requests", "10000000000"],
        r"^error: 1 runs x 10,000,000,000 requests is too large: .*; lower --requests$",
    ),
]

HISTORY_CASES = [
    Case("history missing folder", ["history", "--data-dir", "{d}/nothing"], r"no OpenCode data folder at"),
    Case("history a file", ["history", "--data-dir", "{d}/a-file"], r"no OpenCode data folder at"),
    Case("history without db", ["history", "--data-dir", "{d}"], r"no opencode\.db in"),
    Case(
        "history garbage db",
        ["history", "--data-dir", "{d}/oc"],
        r"opencode\.db",
        files={"oc/opencode.db": b"this is not a database" * 100},
    ),
    Case(
        "history bad --since",
        ["history", "--data-dir", "{d}/oc", "--since", "yesterday-ish"],
        r"--since",
        files={"oc/opencode.db": b""},
    ),
]

MODEL_CASES = [
    Case(
        "mock-providers rank past the last",
        ["mock-providers", "--scenario", "{d}/s.json", "--providers", "a,b"],
        r"incidents\.0\.provider: rank:2 is past the last of 2 providers; use rank:0 to rank:1",
        files={"s.json": incident(provider="rank:2")},
    ),
    Case(
        "mock-providers unknown provider",
        ["mock-providers", "--scenario", "{d}/s.json", "--providers", "a,b"],
        r"providers\.c: unknown provider id 'c'; use one of a, b, rank:0 to rank:1, or all",
        files={"s.json": scenario(providers={"c": {"ttft_s": 1}})},
    ),
    Case(
        "mock-providers bad scenario",
        ["mock-providers", "--scenario", "{d}/s.json"],
        r"scenario .*s\.json: nested more than 64 levels deep",
        files={"s.json": DEEP},
    ),
    Case("unknown combined id", ["simulate", *MODEL[:4], "--combined", "m2", "--scenario", "calm-day"], r"'m2'"),
    Case(
        "unknown provider",
        ["simulate", *MODEL[:2], "--providers", "p-one,p-nine", "--combined", "m1", "--scenario", "calm-day"],
        r"p-nine",
    ),
    Case("unknown rank", [*SIMULATE, "--scenario", "calm-day", "--rank", "p-nine"], r"--rank names 'p-nine'"),
    Case("one provider", [*SIMULATE, "--scenario", "calm-day", "--max-providers", "1"], r"--max-providers must be 0"),
    Case("unknown preset", [*SIMULATE, "--scenario", "calm-day", "--preset", "fastest"], r"'fastest'"),
    Case("unknown source", ["catalog", "--source", "models.dve"], r"did you mean models\.dev"),
    Case("unknown scenario name", [*SIMULATE, "--scenario", "calm-dya"], r"did you mean calm-day"),
    Case(
        "export --max-attempts nan",
        ["export", "--config", "{d}/opencode.json", "--max-attempts", "nan"],
        r"--max-attempts",
    ),
]

# A choice (export --from) and an overrides file (combine --overrides) that parse but say something wrong.
_CHOICE = ["export", "--from", "{d}/c.json", "--config", "{d}/opencode.json"]
_OVERRIDES = ["combine", "--source", "{d}/tiny.json", "--overrides", "{d}/c.json"]
MODEL_CASES += [
    Case(name, argv, pattern, files={"c.json": content})
    for name, argv, content, pattern in [
        ("choice unknown field", _CHOICE, '{"speed": 1}', r"'speed'"),
        ("choice attempts 0", _CHOICE, '{"max_attempts": 0}', r"max_attempts"),
        ("choice strategy", _CHOICE, '{"strategy": "always"}', r"strategy"),
        ("choice priority text", _CHOICE, '{"provider_priority": 5}', r"provider_priority"),
        (
            "choice priority one text",
            _CHOICE,
            '{"provider_priority": "p-one"}',
            r"provider_priority: 'p-one' is not of type 'array'",
        ),
        (
            "choice a billion attempts",
            _CHOICE,
            '{"max_attempts": 1000000000}',
            r"max_attempts: 1000000000 is greater than the maximum of 100",
        ),
        (
            "choice a backoff of ages",
            _CHOICE,
            '{"policy_fields": {"backoff_base_s": 1e300}}',
            r"policy_fields: backoff_base_s must be at most 86,400, got 1e\+300",
        ),
        ("overrides unknown key", _OVERRIDES, '{"alias": {}}', r"only 'aliases'"),
        ("overrides unknown model", _OVERRIDES, '{"exclude": ["p-one/m9"]}', r"p-one/m9"),
        ("overrides alias to nothing", _OVERRIDES, '{"aliases": {"p-one/m1": ""}}', r"'aliases' must map"),
    ]
]

# Files that are not regular files: each is refused without being opened for a blocking read.
_FIFO = "{d}/pipe"
SPECIAL_CASES = [
    Case(f"{name} a FIFO", argv, r"pipe is a named pipe \(FIFO\), not a regular file", fifos=("pipe",))
    for name, argv in [
        ("config", ["catalog", "--source", "{d}/tiny.json", "--config", _FIFO]),
        ("catalog", ["catalog", "--source", _FIFO]),
        ("choice", ["export", "--from", _FIFO, "--config", "{d}/opencode.json"]),
        ("overrides", ["combine", "--source", "{d}/tiny.json", "--overrides", _FIFO]),
        ("scenario", [*SIMULATE, "--scenario", _FIFO]),
        ("results", ["recommend", "--results", _FIFO]),
        ("live --log", ["live", *MODEL, "--log", _FIFO]),
        ("sweep --out", [*SWEEP, "--scenario", "calm-day", "--out", _FIFO]),
        ("gateway --from", ["gateway", "--source", "{d}/tiny.json", "--from", _FIFO, "--check"]),
    ]
] + [
    Case(f"{name} a symlink loop", argv, r"loop is a symlink loop; point at the real file", links=LOOP)
    for LOOP in [{"loop": "loop2", "loop2": "loop"}]
    for name, argv in [
        ("config", ["catalog", "--source", "{d}/tiny.json", "--config", "{d}/loop"]),
        ("catalog", ["catalog", "--source", "{d}/loop"]),
        ("scenario", [*SIMULATE, "--scenario", "{d}/loop"]),
        ("results", ["recommend", "--results", "{d}/loop"]),
    ]
]

# The exported config's own mistakes (export refuses, the config stays as it was; no key in the message).
_EXPORT = ["export", "--source", "{d}/tiny.json", "--preset", "resilient", "--config", "{d}/oc.json"]
EXPORT_CASES = [
    Case("export --plugin @", [*_EXPORT, "--plugin", "@"], r"--plugin takes an npm package name .*, not '@'$"),
    Case("export --plugin file://", [*_EXPORT, "--plugin", "file://"], r"--plugin takes .*, not 'file://'$"),
    Case("export --plugin braces", [*_EXPORT, "--plugin", "a{b}"], r"--plugin takes .*, not 'a\{b\}'$"),
    Case(
        "export plugin lone surrogate",
        _EXPORT,
        r"oc\.json: the plugin entry 'a\\ud800b' holds a lone surrogate escape",
        files={"oc.json": '{\n  "plugin": ["a\\ud800b"]\n}\n'},
    ),
    Case(
        "export plugin object with a key",
        _EXPORT,
        r"^(?!.*sk-planted).*oc\.json: every 'plugin' entry must be .*not an object$",
        files={"oc.json": '{\n  "plugin": [{"name": "x", "apiKey": "sk-planted-0123456789"}]\n}\n'},
    ),
    Case("export config deep", _EXPORT, r"oc\.json: nested more than 64 levels deep", files={"oc.json": DEEP}),
    Case("export config NaN", _EXPORT, r"oc\.json: invalid JSON \(NaN", files={"oc.json": '{"model": NaN}'}),
]

# A catalog URL served by a local server (tests/test_bad_input.py: the ``url`` fixture serves
# these paths on 127.0.0.1): each is one line, exit 1, and nothing is cached.
URL_BODIES: dict[str, tuple[int, str | bytes]] = {
    "/garbage": (200, "<html>not a catalog"),
    "/empty": (200, "{}"),
    "/deep": (200, DEEP),
    "/missing": (404, "not here"),
}
URL_BOMB = "/bomb"  # gzip-encoded zeros beyond the 64 MiB download limit
URL_CASES = [
    Case(
        f"catalog URL {name}",
        ["catalog", "--source", "{url}" + path, "--timeout", "20"],
        rf"^error: cannot fetch http://127\.0\.0\.1:\d+{path} \({reason}\) and there is no cached copy$",
        code=1,
    )
    for name, path, reason in [
        ("not JSON", "/garbage", r".*garbage:1:1: invalid JSON \(Expecting value\)"),
        ("empty", "/empty", r".*empty: the catalog lists no model"),
        ("deep", "/deep", r".*deep: nested more than 64 levels deep"),
        ("404", "/missing", r"HTTP 404"),
        ("gzip bomb", URL_BOMB, r"the server sent more than 64 MiB \(decoded or on the wire\)"),
    ]
]


def _gateway_config(failover: str) -> str:
    """An opencode.json whose combined provider (the gateway layout) holds ``failover``."""
    return (
        '{"provider": {"combined": {"npm": "@ai-sdk/openai-compatible", "options": '
        '{"baseURL": "http://127.0.0.1:4141/v1", "failover": ' + failover + '}, "models": {"m1": {}}}}}'
    )


_GATEWAY = ["gateway", "--source", "{d}/tiny.json", "--config", "{d}/gw.json", "--check"]
GATEWAY_CASES = [
    Case(
        f"gateway policy {name}",
        _GATEWAY,
        r"gw\.json: provider\.combined\.options\.failover" + pattern,
        files={"gw.json": _gateway_config(failover)},
    )
    for name, failover, pattern in [
        ("a list", "[]", r" must be an object of policy fields, not list"),
        ("unknown preset", '{"preset": "nope"}', r": unknown preset 'nope'"),
        ("text attempts", '{"max_attempts": "x"}', r": max_attempts must be a whole number >= 1, got 'x'"),
        ("a billion attempts", '{"max_attempts": 1000000000}', r": max_attempts must be at most 1,000"),
        ("priority as text", '{"provider_priority": "p-one"}', r": provider_priority must be a list of provider ids"),
        ("a backoff of ages", '{"backoff_base_s": 1e300}', r": backoff_base_s must be at most 86,400"),
        ("negative timeout", '{"attempt_timeout_s": -1}', r": attempt_timeout_s must be a number > 0, got -1"),
        ("unknown field", '{"retry_after_cap_s": 0}', r": unknown policy field 'retry_after_cap_s'"),
    ]
]

# An empty value or a repeated name in any option: a usage line, never "the default" or the folder ".".
_EMPTY = r"argument {}: expected a value, not an empty string; leave the option out for its default \(see"
EMPTY_CASES = [
    Case(f"{argv[0]} {option} empty", [*argv, option, ""], _EMPTY.format(option))
    for argv, option in [
        (["catalog"], "--source"),
        (["catalog", "--source", "{d}/tiny.json"], "--config"),
        (["catalog", "--source", "{d}/tiny.json"], "--out"),
        (["combine", "--source", "{d}/tiny.json"], "--overrides"),
        (["endpoints", "--source", "{d}/tiny.json"], "--combined"),
        (SIMULATE, "--log"),
        (SIMULATE, "--providers"),
        (["export", "--config", "{d}/opencode.json"], "--plugin"),
        (["gateway", "--check"], "--token-env"),
        (["history", "--data-dir", "{d}"], "--since"),
    ]
] + [
    Case(
        f"{argv[0]} {option} {value}",
        [*argv, option, value],
        rf"argument {option}: " + pattern,
    )
    for argv, option, value, pattern in [
        (SIMULATE, "--providers", "p-one,p-one", r"'p-one' is listed twice in 'p-one,p-one'; name each once \(see"),
        (SIMULATE, "--priority", "p-two, p-two", r"'p-two' is listed twice"),
        (SIMULATE, "--rank", "p-two,p-one,p-two", r"'p-two' is listed twice"),
        (
            ["combine", "--source", "{d}/tiny.json"],
            "--providers",
            ",,",
            r"expected a comma-separated list of names, not ',,'",
        ),
        (["export", "--config", "{d}/opencode.json"], "--priority", "p-one,p-one", r"'p-one' is listed twice"),
        (
            ["sweep", "--scenario", "calm-day", "--out", "x.csv"],
            "--presets",
            "resilient,resilient",
            r".* is listed twice",
        ),
        (["recommend", "--results", "r.csv"], "--objective", ",", r"expected a comma-separated list"),
    ]
]

# Files the system refuses after they pass every check: one line naming the file, no traceback.
LONG_NAME = "x" * 300
OS_CASES = [
    Case(
        "catalog from /proc/self/mem",
        ["catalog", "--source", "/proc/self/mem"],
        r"^error: cannot read /proc/self/mem: ",
    ),
    Case(
        "catalog --out a name too long",
        ["catalog", "--source", "{d}/tiny.json", "--out", "{d}/" + LONG_NAME + ".csv"],
        r"^error: cannot use .*x\.csv: File name too long$",
        code=1,
    ),
    Case("catalog from a name too long", ["catalog", "--source", "{d}/" + LONG_NAME], r"File name too long$"),
    Case(
        "mock-providers --log in /proc",
        ["mock-providers", "--scenario", "calm-day", "--log", "/proc/x.jsonl", "--duration", "0"],
        r"^error: --log cannot write /proc/x\.jsonl: the folder takes no new file \(.*\); choose another folder$",
    ),
    Case(
        "export a new config in /proc",
        ["export", "--source", "{d}/tiny.json", "--config", "/proc/opencode.json"],
        r"^error: cannot write /proc/opencode\.json: the folder takes no new file \(.*\); choose another folder$",
    ),
    Case(
        "simulate --log in /proc",
        [*SIMULATE, "--scenario", "calm-day", "--log", "/proc/log.csv"],
        r"^error: cannot write /proc/log\.csv: the folder takes no new file \(.*\); choose another folder$",
    ),
    Case(
        "recommend --save in /proc",
        ["recommend", "--results", "{d}/results.csv", "--save", "/proc/c.json"],
        r"^error: --save cannot write /proc/c\.json: the folder takes no new file",
    ),
    Case(
        "mock-providers ports past 65535",
        ["mock-providers", "--scenario", "calm-day", "--providers", "a,b,c", "--port", "65534"],
        r"^error: --port 65534 with 3 providers needs ports up to 65536; use --port 65533 or lower",
    ),
    Case(
        "history --since past the year 1",
        ["history", "--data-dir", "{d}/oc", "--since", "99999999999d"],
        r"^error: --since '99999999999d' reaches before the year 1; give a shorter span or a date$",
        files={"oc/opencode.db": b""},
    ),
]

CASES: list[Case] = [
    *[
        Case(
            f"{command[0]} --executor {value}",
            [*command, "--executor", value],
            rf"argument --executor: expected processes, serial or dask://HOST:PORT, not '{value}' \(see",
        )
        for command in ([*SWEEP[:-2], "--scenario", "calm-day", "--out", "{d}/r.csv"], ["report", "--out", "{d}/r"])
        for value in ("threads", "dask://", "dask://host")
    ],
    Case(
        "live --real --time-scale before the model line",
        ["live", *MODEL, "--real", "--time-scale", "5"],
        r"^error: --time-scale applies to mock providers only; drop it with --real$",
    ),
    *EMPTY_CASES,
    *OS_CASES,
    *GATEWAY_CASES,
    *URL_CASES,
    *SPECIAL_CASES,
    *EXPORT_CASES,
    *USAGE_CASES,
    *JSON_CASES,
    *SCENARIO_CASES,
    *CATALOG_CASES,
    *WARNING_CASES,
    *CONFIG_CASES,
    *RESULTS_CASES,
    *OUTPUT_CASES,
    *SIZE_CASES,
    *HISTORY_CASES,
    *MODEL_CASES,
]
