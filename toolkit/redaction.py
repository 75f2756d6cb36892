"""Secrets out of every text the toolkit shows or keeps: redaction by value and by shape.

Every error text that goes into an attempt log, every message, every line the command line
prints and every ``export --diff`` passes through here. Two passes:

**By value.** :data:`SECRETS` holds every secret this process has read: provider keys from
the environment, ``{file:...}`` keys, literal ``options.apiKey`` values, the values in
OpenCode's ``auth.json``, the gateway token, Google access tokens and AWS secrets as they
are issued. A secret is found in the forms a provider or a library echoes it back in:

- exact, upper-, lower- or mixed-case;
- JSON-escaped (``\\/``, ``\\"``, ``\\\\``, ``\\uXXXX``, escaped more than once);
- URL-encoded (``quote``, ``quote_plus``, percent-encoded twice);
- base64, standard or URL-safe, with or without padding, alone or inside a longer encoded
  string (``base64("user:" + key)`` as HTTP Basic auth sends it);
- truncated: any run of :func:`fragment_length` or more consecutive characters of the
  secret (a prefix, a suffix, the middle), so a key cut short by a few characters goes too.

Secrets shorter than :data:`MIN_SECRET` characters are not redacted by value: they cannot
be told from ordinary words (no provider issues keys that short).

**By shape.** Whatever the process does not know but that looks like a credential:
values of ``Authorization``, ``Proxy-Authorization``, ``x-api-key``, ``api-key``,
``Cookie``, ``Set-Cookie`` and of any field named like ``*key``, ``*token``, ``*secret``,
``*password``, ``*credential(s)``, ``*signature`` (as a header, a JSON or Python field,
``name=value``, a query parameter such as ``key=``, ``token=``, ``sig=``); ``user:password@``
in URLs; ``Bearer`` and ``Basic`` credentials; and tokens shaped like provider keys
(``sk-...``, ``AIza...``, ``AKIA...``, ``ya29....``, JWTs, ``ghp_...``, ``hf_...``).
``{env:VAR}`` / ``{file:path}`` references are not secrets and stay.

Variants are worked out once per secret (the fixed-length windows of its decoded, lower-cased
form and of its base64 encodings, in sets); a text is decoded once into a view with a map back
to its characters, probed every few characters, and compared only where a probe hits.
"""

from __future__ import annotations

import base64
import functools
import re
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

MARK = "[redacted]"
"""What a redacted span becomes in logs and messages."""
CONFIG_MARK = "***"
"""What a redacted value becomes in a shown config (``export --diff``)."""
MIN_SECRET = 6
"""Secrets shorter than this are not redacted by value (too short to tell from ordinary text)."""
ERROR_LIMIT = 200
"""Error texts are cut to this many characters after redaction."""


def fragment_length(n: int) -> int:
    """The shortest run of a secret of ``n`` characters that is redacted on its own.

    A secret of up to 8 characters only goes whole; a longer one in runs of a third of it,
    at least 8 and at most 24 characters (a third of a random key tells nothing usable,
    and a shorter window would start to hit ordinary text).
    """
    return n if n <= 8 else min(max(8, -(-n // 3)), 24)


# --------------------------------------------------------------------------------------------
# The decoded view of a text: escapes undone, with a map back to the original characters

# a JSON \uXXXX escape (any number of backslashes), a run of percent escapes (%XX, or %25XX
# when encoded twice), or backslashes (JSON escapes such as \/ and \" and their doubles)
_ESCAPE = re.compile(r"\\+u([0-9a-fA-F]{4})|((?:%(?:25)?[0-9a-fA-F]{2})+)|\\+")
_PERCENT = re.compile(r"%(?:25)?([0-9a-fA-F]{2})")


def _view(text: str) -> tuple[str, list[int] | None, list[int] | None]:
    """``text`` with JSON and URL escapes decoded and backslashes dropped, and for each
    character of the result where it came from in ``text`` (``starts``/``ends``; None when
    nothing was decoded: the view is ``text`` itself)."""
    if "\\" not in text and "%" not in text:
        return text, None, None
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []

    def emit(piece: str, start: int, end: int) -> None:
        piece = piece.replace("\\", "")
        chars.append(piece)
        starts.extend([start] * len(piece))
        ends.extend([end] * len(piece))

    pos = 0
    for m in _ESCAPE.finditer(text):
        a = m.start()
        if a > pos:  # a plain run: each character maps to itself
            chars.append(text[pos:a])
            starts.extend(range(pos, a))
            ends.extend(range(pos + 1, a + 1))
        if m.group(1) is not None:
            emit(chr(int(m.group(1), 16)), a, m.end())
        elif m.group(2) is not None:
            codes = [(p.start(), p.end(), int(p.group(1), 16)) for p in _PERCENT.finditer(m.group(2))]
            if all(code < 0x80 for _, _, code in codes):  # ASCII: one character per escape
                for s, e, code in codes:
                    emit(chr(code), a + s, a + e)
            else:  # UTF-8 bytes: the decoded characters map to the whole run
                emit(bytes(code for _, _, code in codes).decode("utf-8", "replace"), a, m.end())
        pos = m.end()
    chars.append(text[pos:])
    starts.extend(range(pos, len(text)))
    ends.extend(range(pos + 1, len(text) + 1))
    return "".join(chars), starts, ends


def _lower(text: str) -> str:
    """``text`` lower-cased character by character (same length, so positions still map)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join((c.lower() or c)[0] for c in text)


def _base64_cores(secret: str) -> set[str]:
    """The parts of any base64 text that encode ``secret`` whole, at each of the three byte
    alignments it can have inside a longer encoded string (std and URL-safe alphabets)."""
    raw = secret.encode()
    cores = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode()
        # characters whose 6 bits all come from the secret's bytes
        core = encoded[-(-8 * offset // 6) : 8 * (offset + len(raw)) // 6]
        cores |= {core, core.translate(str.maketrans("+/", "-_"))}
    return cores


_GRAM = 4  # the length of the probes a text is sampled with


@dataclass(frozen=True)
class _Windows:
    """Every run of :func:`fragment_length` characters of some forms, and how to find them fast.

    A text is probed only every ``stride`` characters with its ``_GRAM``-character piece
    there: every window is at least ``_GRAM + stride - 1`` long, so each window holds a probed
    piece, and only where a probe is one of ``grams`` are the windows around it compared.
    """

    sizes: dict[int, frozenset[str]] = field(default_factory=dict)  # window length -> windows
    grams: frozenset[str] = frozenset()
    stride: int = 1

    def plus(self, forms: Iterable[str]) -> _Windows:
        """These windows and those of ``forms``."""
        sizes = {size: set(windows) for size, windows in self.sizes.items()}
        for form in forms:
            if len(form) < MIN_SECRET:  # a decoded form can be shorter than the secret: too short to look for
                continue
            size = fragment_length(len(form))
            sizes.setdefault(size, set()).update(form[i : i + size] for i in range(len(form) - size + 1))
        grams = {w[i : i + _GRAM] for windows in sizes.values() for w in windows for i in range(len(w) - _GRAM + 1)}
        stride = min(sizes) - _GRAM + 1 if sizes else 1
        return _Windows({size: frozenset(w) for size, w in sizes.items()}, frozenset(grams), stride)

    def find(self, text: str) -> Iterator[tuple[int, int]]:
        """(start, end) of every window in ``text`` (the same one may come more than once)."""
        grams, last = self.grams, len(text) - _GRAM + 1
        for probe in [i for i in range(0, last, self.stride) if text[i : i + _GRAM] in grams]:
            for size, windows in self.sizes.items():
                for start in range(max(0, probe + _GRAM - size), min(probe, len(text) - size) + 1):
                    if text[start : start + size] in windows:
                        yield start, start + size


class Secrets:
    """Secret values to redact wherever they appear, in any of the forms in the module docs.

    Adding is copy-on-write (a new table replaces the old one), so a thread may add a
    freshly issued token while another redacts.
    """

    def __init__(self, values: Iterable[str | None] = ()) -> None:
        self._known: frozenset[str] = frozenset()
        self.generation = 0  # counts changes, so cached redactions of older sets are not reused
        self._plain = _Windows()  # of the secrets as written and decoded, lower-cased
        self._encoded = _Windows()  # of their base64 forms (case kept)
        self._lock = threading.Lock()
        self.add(*values)

    def __bool__(self) -> bool:
        return bool(self._known)

    def __repr__(self) -> str:
        return f"Secrets({len(self._known)} known)"  # never the values

    def add(self, *values: str | None) -> None:
        """Remember ``values`` (None, blanks and values under :data:`MIN_SECRET` are skipped)."""
        new = {v for v in values if isinstance(v, str) and len(v.strip()) >= MIN_SECRET} - self._known
        if not new:
            return
        with self._lock:
            # as written and as decoded (a key holding "%41" or a backslash), and with a space as
            # quote_plus writes it
            plain = {_lower(form) for secret in new for form in (secret, _view(secret)[0], secret.replace(" ", "+"))}
            self._plain = self._plain.plus(plain)
            self._encoded = self._encoded.plus(core for secret in new for core in _base64_cores(secret))
            self._known = self._known | new
            self.generation += 1

    def clear(self) -> None:
        """Forget every secret (tests start from none)."""
        with self._lock:
            self._known, self._plain, self._encoded = frozenset(), _Windows(), _Windows()
            self.generation += 1

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where in ``text`` a known secret (or a long enough run of one) appears, merged, in order."""
        if not self._known:
            return []
        view, starts, ends = _view(text)
        found = list(self._hits(view, starts, ends))
        if starts is not None:
            # the text as written too: an escape-like neighbour ("%4" before "1abc...") must not hide a secret
            found += self._hits(text, None, None)
        if not found:
            return []
        spans = sorted(found)
        merged = [spans[0]]
        for start, end in spans[1:]:
            if start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def _hits(self, view: str, starts: list[int] | None, ends: list[int] | None) -> Iterator[tuple[int, int]]:
        """Spans (in the original text, through ``starts``/``ends``) of every window in ``view``."""
        for source, windows in ((_lower(view), self._plain), (view, self._encoded)):
            for start, end in windows.find(source):
                yield (start, end) if starts is None or ends is None else (starts[start], ends[end - 1])

    def scrub(self, text: str, mark: str = MARK) -> str:
        """``text`` with every known secret, in any form, replaced by ``mark`` (nothing else changes)."""
        spans = self.spans(text)
        if not spans:
            return text
        out, pos = [], 0
        for start, end in spans:
            out += [text[pos:start], mark]
            pos = end
        out.append(text[pos:])
        return "".join(out)


SECRETS = Secrets()
"""Every secret this process has read (see the module docs); :func:`remember` adds to it."""


def remember(*values: str | None) -> None:
    """Add secrets the process has read to :data:`SECRETS`, so no output shows them."""
    SECRETS.add(*values)


# --------------------------------------------------------------------------------------------
# By shape

# Field names whose value is a credential: headers, JSON / Python fields, name=value pairs. A name
# is read whole (possessive: no backtracking inside it), then must end in one of these.
_NAME_ENDS = ("key", "secret", "password", "passwd", "token", "credential", "credentials", "signature", "cookie")
_NAME = r"(?:[\w.-]++(?:" + "|".join(f"(?<={end})" for end in (*_NAME_ENDS, "authorization")) + r")|sig|auth|pwd)"
_SCHEME = r"(?:Bearer|Basic|Token|Digest|Negotiate|AWS4-HMAC-SHA256|SharedKey|SSWS)\s+"
_TOKENS = (
    r"sk-[A-Za-z0-9_-]{8,}",  # OpenAI, Anthropic, OpenRouter, DeepSeek ... keys
    r"AIza[0-9A-Za-z_-]{20,}",  # Google API keys
    r"(?:AKIA|ASIA)[0-9A-Z]{12,}",  # AWS access key ids
    r"ya29\.[0-9A-Za-z_.-]+",  # Google OAuth access tokens
    r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*",  # JWTs
    r"gh[pousr]_[A-Za-z0-9]{20,}",  # GitHub tokens
    r"(?:hf|gsk|xai|pplx|fw|nvapi)[_-][A-Za-z0-9_-]{20,}",  # Hugging Face, Groq, xAI, Perplexity, ...
    r"xox[abprs]-[\w-]{10,}",  # Slack tokens
)
# Lower-case text a rule can match only if it holds one of: the rules that cannot match are skipped.
_TOKEN_STEMS = ("sk-", "aiza", "akia", "asia", "ya29.", "eyj", "gh", "hf", "gsk", "xai", "pplx", "fw", "nvapi", "xox")
_FIELD_STEMS = ("key", "secret", "pass", "token", "credential", "sig", "auth", "cookie", "pwd")
_WORD = re.compile(r"[A-Za-z]{1,19}")  # a plain word: after "name:" it is prose, not a credential


@functools.cache
def _shape_rules(mark: str) -> list[tuple[tuple[str, ...], re.Pattern[str], Any]]:
    """The shape patterns, each with the stems that must be in the text and what a match becomes, for one ``mark``."""
    skip = rf"(?!{re.escape(mark)}|\{{(?:env|file):)"  # already masked, or a reference, not a secret
    not_a_number = r"(?!(?:-?\d+(?:\.\d+)?|true|false|null|none)(?![\w.+/=-]))"
    field = re.compile(
        rf"(?<![\w.-])(?P<name>{_NAME})(?P<sep>\\?[\"']?\s*[:=]\s*)"
        rf"(?:\"(?P<dq>{skip}(?:\\.|[^\"\\])*)\""  # "value" (escape-aware)
        rf"|'(?P<sq>{skip}(?:\\.|[^'\\])*)'"  # 'value'
        rf"|\\\"(?P<eq>{skip}(?:\\\\.|(?!\\\").)*)\\\""  # \"value\" (JSON inside a JSON string)
        rf"|(?P<bare>{skip}{not_a_number}(?:{_SCHEME})?[^\s\"'&,;<>{{}}\[\]\\]+"
        rf"(?:;\s*[\w.-]+=[^\s\"'&,;<>\\]*)*))",  # cookie pairs: a=b; c=d
        re.IGNORECASE,
    )
    quotes = {"dq": '"', "sq": "'", "eq": '\\"', "bare": ""}

    def field_value(m: re.Match[str]) -> str:
        if m.group("bare") is not None and ":" in m.group("sep") and _WORD.fullmatch(m.group("bare")):
            return m.group()  # "NAME_TOKEN: that variable ...": prose after a colon, not a credential
        quote = next(quote for group, quote in quotes.items() if m.group(group) is not None)
        return f"{m.group('name')}{m.group('sep')}{quote}{mark}{quote}"

    return [
        (_FIELD_STEMS, field, field_value),
        (("://",), re.compile(rf"(?<=://){skip}[^\s/@\"'<>?#]+@"), f"{mark}@"),  # user:password@ in URLs
        (("bearer",), re.compile(rf"(?<![\w-])(Bearer\s+){skip}[^\s\"',;<>]+", re.IGNORECASE), rf"\g<1>{mark}"),
        (
            ("basic",),
            re.compile(r"(?<![\w-])(Basic\s+)(?=[A-Za-z0-9+/]*[0-9+/=])[A-Za-z0-9+/]{8,}={0,2}"),
            rf"\g<1>{mark}",
        ),
        (_TOKEN_STEMS, re.compile(r"(?<![\w-])(?:" + "|".join(_TOKENS) + ")"), mark),
    ]


def redact_shapes(text: str, mark: str = MARK) -> str:
    """``text`` with everything shaped like a credential replaced by ``mark`` (see the module docs)."""
    lowered = text.lower()
    for stems, pattern, replacement in _shape_rules(mark):
        if any(stem in lowered for stem in stems):
            text = pattern.sub(replacement, text)
    return text


def redact_text(text: str, secrets: Secrets = SECRETS, mark: str = MARK) -> str:
    """``text`` with known secrets (in every form) and credential-shaped strings replaced."""
    return redact_shapes(secrets.scrub(text, mark), mark)


def redact(text: str, limit: int = ERROR_LIMIT, secrets: Secrets = SECRETS) -> str:
    """An error text safe to keep: whitespace collapsed, secrets and credential shapes
    replaced, then cut to ``limit`` characters.

    Only a bounded head of ``text`` is looked at, so a huge body costs no more than a long
    one; and the same text is redacted once (providers repeat their error texts), until a
    secret is added.
    """
    return _redact_once(text[: 16 * limit], limit, secrets, secrets.generation)


@functools.lru_cache(maxsize=1024)
def _redact_once(text: str, limit: int, secrets: Secrets, generation: int) -> str:
    """:func:`redact` for one set of known secrets (``generation`` changes when one is added)."""
    return redact_text(" ".join(text.split()), secrets)[:limit]


# --------------------------------------------------------------------------------------------
# Shown config text (export --diff)

_JSON_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_SENSITIVE_FIELD = re.compile(r"key|token|secret|passw|authorization|cookie|credential|signature", re.IGNORECASE)
_REFERENCE = re.compile(r"^\{(?:env|file):[^}]*\}$")
_COLON = re.compile(r"\s*:\s*")


def mask_config_line(line: str, mark: str = CONFIG_MARK) -> str:
    """One line of a JSON / JSONC config as it may be shown: the whole string value of a
    field named like a credential is ``mark`` (escape-aware: an escaped quote does not end
    it), other strings and comments are redacted by value and shape; ``{env:...}`` and
    ``{file:...}`` references stay."""
    out: list[str] = []
    pos, sensitive_key = 0, False
    for m in _JSON_STRING.finditer(line):
        between, inner = line[pos : m.start()], m.group()[1:-1]
        if sensitive_key and _COLON.fullmatch(between) and not _REFERENCE.match(inner):
            shown = mark
        else:
            shown = redact_text(inner, mark=mark)
        out += [redact_text(between, mark=mark), '"', shown, '"']
        sensitive_key = bool(_SENSITIVE_FIELD.search(inner))  # it is a field name if a colon follows
        pos = m.end()
    out.append(redact_text(line[pos:], mark=mark))
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Standard output and error


class RedactingStream:
    """A text stream that writes through to ``stream`` with every known secret replaced.

    Only by value: the command's own output is not second-guessed by shape. A secret split
    across two writes is not seen (print writes a line's text in one call).
    """

    def __init__(self, stream: TextIO, secrets: Secrets = SECRETS) -> None:
        self._stream, self._secrets = stream, secrets

    def write(self, text: str) -> int:
        self._stream.write(self._secrets.scrub(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding, buffer ...
        return getattr(self._stream, name)


@contextmanager
def redacted_output() -> Iterator[None]:
    """Within the block, ``sys.stdout`` and ``sys.stderr`` (and logging to them) show no known secret."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(saved[0]), RedactingStream(saved[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
