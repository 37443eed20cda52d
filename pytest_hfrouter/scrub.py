"""One scrubber for everything that leaves the plugin.

Cassettes, the JSON report, the Markdown summary, terminal lines, call-log lines, assertion
and miss messages all pass through `text` (or `data`, `headers`, `payload`, `body`). It removes:

- the values of secrets it was told about (`register`: ``HF_TOKEN`` and other secret-named
  environment variables) in every encoding they travel in: raw, URL-encoded, JSON-escaped and
  base64 (also inside a longer base64 text, such as ``Basic base64(user:token)``);
- well-known key shapes wherever they stand: ``hf_…``, ``api_org_…``, ``sk-…`` (OpenAI,
  ``sk-ant-…`` Anthropic), ``gsk_``/``xai-``/``pplx-``/``csk-``/``nvapi-``/``fw_``/``r8_`` provider
  keys, GitHub, Google, AWS and Slack keys, a URL's ``user:password@`` (a JSON web token is
  caught where it serves as one: ``Bearer …``, a secret-named header or field; the Hub's
  public ``verifyToken`` signatures are left alone);
- the value of a secret-named query or form parameter (``?api_key=…``, ``&token=…``) and of
  a secret-named JSON string field (``"api_key": "…"``);
- the whole value of a secret-named header (`is_secret_name`: Authorization, Cookie,
  Set-Cookie, Proxy-Authorization, names ending in ``token`` or ``key``, names holding
  ``secret``, ``password``, ``credential``, ``signature``, ``api-key``).

Not scrubbed, on purpose: a bare run of 40 hex digits. The Hub's commit ids (``X-Repo-Commit``,
``/resolve/<sha>/``) and ETags have that shape, and a report that loses them loses what it is
for; such a key is caught where it stands (a secret-named header, parameter or field,
``Bearer …``). Router request ids (``Root=1-<8 hex>-<24 hex>;<uuid>``, plain uuids, docs/ROUTER-FACTS.md
§2.1) match no pattern here. A secret-named value that is only a number (``x-time-per-token:
20``) or a placeholder (``hf_...``, ``$HF_TOKEN``) is kept: no key looks like that.

Everything is compiled once (again only when `register` learns a new secret); scrubbing
happens when something is written or shown, never per request in replay.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from .bodies import content_encoding, decode, encode

#: what a Hugging Face token becomes
TOKEN_REDACTED = "hf_REDACTED"
#: what any other secret becomes
REDACTED = "REDACTED"
#: what the value of a secret-named header becomes
HEADER_REDACTED = "<redacted>"
#: values that are already scrubbed
MARKERS = frozenset({TOKEN_REDACTED, REDACTED, HEADER_REDACTED, f"Bearer {TOKEN_REDACTED}", f"Bearer {REDACTED}"})

_EXACT_SECRET_NAMES = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
#: secret-looking names whose values are public: the Hub's signed evaluation results (model-index)
_PUBLIC_NAMES = frozenset({"verifytoken"})
_SECRET_WORDS = ("secret", "password", "passwd", "credential", "signature", "api-key", "api_key", "apikey")
_NUMBER = r"\s*-?[0-9]+(?:\.[0-9]+)?\s*(?:ms|s)?\s*"

# Well-known key shapes, each a literal prefix (found by a plain substring search first, so a text
# without it costs one scan in C) and the rest. hf_ tokens are found anywhere (as the recorder
# always did); the others only where no letter or digit comes just before them, so "risk-…" or
# "task-…" never match, and only with a digit in them, so hyphenated words never match.
_DIGIT = r"(?=[A-Za-z_-]*[0-9])"


def _shape(prefix: str, rest: str, bounded: bool = True) -> tuple[str, str]:
    boundary = f"(?<![A-Za-z0-9]{re.escape(prefix)})" if bounded else ""
    return prefix, re.escape(prefix) + boundary + rest


_PROVIDER_REST = r"[-_]" + _DIGIT + r"[A-Za-z0-9_-]{20,}"
KEY_SHAPES: dict[str, list[tuple[str, str]]] = {
    # hf_ tokens, and the OAuth tokens of "Sign in with Hugging Face" (hf_oauth_...)
    "a Hugging Face token": [_shape("hf", r"(?:_|%5[Ff]|\\u005[Ff])(?:oauth_)?[A-Za-z0-9]{16,}", bounded=False)],
    "a Hugging Face org token": [_shape("api_org_", r"[A-Za-z0-9]{16,}")],
    "an OpenAI or Anthropic key": [_shape("sk-", _DIGIT + r"[A-Za-z0-9_-]{20,}")],
    "a provider key": [_shape(prefix, _PROVIDER_REST) for prefix in ("gsk", "xai", "pplx", "csk", "nvapi", "fw", "r8")],
    # classic tokens (ghp_, gho_, ghu_, ghs_, ghr_) and fine-grained ones (github_pat_)
    "a GitHub token": [_shape("gh", r"[pousr]_[A-Za-z0-9]{30,}"), _shape("github_pat_", r"[A-Za-z0-9_]{22,}")],
    "a Google API key": [_shape("AIza", r"[0-9A-Za-z_-]{35}")],
    "an AWS access key id": [_shape("A", r"(?:KIA|SIA)[0-9A-Z]{16}(?![0-9A-Z])")],
    "a Slack token": [_shape("xox", r"[abposr]-[A-Za-z0-9-]{10,}")],
}
# Secret-named parameters and JSON fields are found from the secret word in their name, searched
# for in a lower-cased copy (a case-insensitive pattern is several times slower), then the whole
# name is read backwards from there: no backtracking over long texts.
_WORDS = r"token|key|secret|passw|credential|signature|cookie|authorization"
_PARAM_TAIL = r"[A-Za-z0-9_\-\]]*=(?P<value>[^&\s#\"'<>;,]+)"
_FIELD_TAIL = r'[A-Za-z0-9_\-]*"\s*:\s*"(?P<value>(?:[^"\\]|\\.)*)"'
#: the same field in JSON inside a JSON string (``"{\\"api_key\\": \\"…\\"}"``, an echoed request body)
_ESCAPED_FIELD_TAIL = r'[A-Za-z0-9_\-]*\\"\s*:\s*\\"(?P<value>(?:[^"\\]|\\[^"])*)\\"'
_PARAM_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-[]")
_PARAM_STARTS = frozenset("?&; \t\n\r'\"(")
_BEARER = r"(?:bearer|basic|token)[ \t]+(?P<value>[a-z0-9._~+/=-]{8,})"
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}
_USERINFO = r"(?<=://)(?P<user>[^/\s:@]+):(?P<password>[^/\s@]+)@"
_ENV_SECRET = ("TOKEN", "API_KEY", "APIKEY", "SECRET", "SECRET_KEY", "ACCESS_KEY", "PASSWORD")
#: the shortest secret value scrubbed by its value (shorter ones would eat ordinary words)
MIN_SECRET = 8


class _Compiled:
    """The patterns, compiled on first use: loading the plugin does not pay for them."""

    #: every key shape: its name, its prefix and its pattern's source (`pattern` compiles it)
    shapes: tuple[tuple[str, str, str], ...] = tuple(
        (name, prefix, p) for name, shapes in KEY_SHAPES.items() for prefix, p in shapes
    )

    @functools.cached_property
    def prefixes(self) -> re.Pattern[str]:
        """Any shape's prefix: one scan finds whether a text can hold a key shape at all (about 70
        times faster than a substring search per prefix over 20 kB, and faster on short texts too)."""
        return re.compile("|".join(re.escape(prefix) for _, prefix, _ in self.shapes))

    @staticmethod
    @functools.cache
    def pattern(source: str) -> re.Pattern[str]:
        """A shape's pattern, compiled the first time a text holds its prefix (``re``'s compiler is
        Python: the fourteen shapes cost 2 ms to compile, and most runs meet none of them)."""
        return re.compile(source)

    @functools.cached_property
    def words(self) -> re.Pattern[str]:
        return re.compile(_WORDS)

    @functools.cached_property
    def tails(self) -> tuple[tuple[re.Pattern[str], str], ...]:
        return (
            (re.compile(_PARAM_TAIL), "param"),
            (re.compile(_FIELD_TAIL), "field"),
            (re.compile(_ESCAPED_FIELD_TAIL), "field"),
        )

    @functools.cached_property
    def bearer(self) -> re.Pattern[str]:
        return re.compile(_BEARER)

    @functools.cached_property
    def userinfo(self) -> re.Pattern[str]:
        return re.compile(_USERINFO)

    @functools.cached_property
    def number(self) -> re.Pattern[str]:
        return re.compile(_NUMBER)


_re = _Compiled()


def is_secret_name(name: str) -> bool:
    """A header, parameter or field whose name says it carries a secret."""
    lowered = name.lower().strip()
    if lowered in _PUBLIC_NAMES or lowered.startswith("access-control-"):  # CORS policy, not credentials
        return False
    return (
        lowered in _EXACT_SECRET_NAMES
        or lowered.endswith(("token", "key", "token]", "key]"))
        or any(word in lowered for word in _SECRET_WORDS)
    )


def _keeps(value: str) -> bool:
    """A secret-named value that is no secret: empty, already scrubbed, only a number, or a
    placeholder (``hf_...``, ``$HF_TOKEN``, ``<token>``) such as the plugin's own hints show."""
    return (
        not value
        or value in MARKERS
        or value.endswith(("...", "…"))
        or value.startswith("$")
        or value[:1] + value[-1:] == "<>"
        or _re.number.fullmatch(value) is not None
    )


def _char(c: str) -> str:
    """A character as it may travel: itself, percent-encoded, JSON-escaped (``+`` for a space)."""
    if ord(c) > 0x7F:
        utf8 = "".join(f"%{b:02x}" for b in c.encode("utf-8"))
        return f"(?:{re.escape(c)}|(?i:{re.escape(utf8)})|(?i:\\\\u{ord(c):04x}))"
    spellings = [re.escape(c), f"(?i:%{ord(c):02x})", f"(?i:\\\\u{ord(c):04x})"]
    if c == " ":
        spellings.append(r"\+")
    elif c in '"\\':
        spellings.append(re.escape("\\" + c))
    return f"(?:{'|'.join(spellings)})"


def patterns(secret: str, escaped: bool = True) -> list[str]:
    """Regular expressions for a secret value in every form it travels in: raw, URL-encoded (any
    character), JSON-escaped, and base64 (standard or URL-safe, also inside a longer base64 text
    such as ``Basic base64(user:token)``: the secret starts at any of 3 byte offsets there).
    Without ``escaped``: only the forms a text with no ``%`` and no ``\\u`` can hold (faster)."""
    plain = {secret, secret.replace(" ", "+"), json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    found = ["".join(map(_char, secret))] if escaped else [re.escape(form) for form in plain]
    raw = secret.encode("utf-8")
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode("ascii")
        start, end = -(-8 * shift // 6), 8 * (shift + len(raw)) // 6
        core = encoded[start:end]
        if len(core) >= MIN_SECRET:
            found += [re.escape(core), re.escape(core.replace("+", "-").replace("/", "_"))]
    return found


def _secret_variable(name: str) -> bool:
    return any(name == suffix or name.endswith("_" + suffix) for suffix in _ENV_SECRET)


def _key_variable(name: str, value: str) -> bool:
    """Any other ``*_KEY`` (``NOVITA_KEY``, ``OPENAI_KEY``: an audit found them shown) whose value looks
    like a key, letters and digits both: a ``SORT_KEY=timestamp`` is a word, and scrubbing it would
    rewrite every ``timestamp`` in a recording."""
    return (
        name.endswith("_KEY")
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
        and not any(c.isspace() for c in value)
    )


def environment_secrets(environ: Mapping[str, str]) -> list[str]:
    """``HF_TOKEN`` and the values of other secret-named variables (``*_API_KEY``, ``*_TOKEN``, ...,
    and a key-like ``*_KEY``), and the token ``hf auth login`` stored, which huggingface_hub sends when
    ``HF_TOKEN`` is not set."""
    names = [
        name
        for name, value in environ.items()
        if name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
        or _secret_variable(name)
        or _key_variable(name, value.strip())
    ]
    found = [environ[name].strip() for name in names if len(environ[name].strip()) >= MIN_SECRET]
    stored = _stored_token(environ)
    return [*found, stored] if stored and len(stored) >= MIN_SECRET else found


def _stored_token(environ: Mapping[str, str]) -> str | None:
    """The token file huggingface_hub reads: ``HF_TOKEN_PATH``, else ``$HF_HOME/token``, else
    ``~/.cache/huggingface/token`` (under ``XDG_CACHE_HOME`` when that is set)."""
    path = environ.get("HF_TOKEN_PATH")
    if not path:
        home = environ.get("HF_HOME") or os.path.join(
            environ.get("XDG_CACHE_HOME") or os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".cache"),
            "huggingface",
        )
        path = os.path.join(home, "token")
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as file:
            return file.read(4096).strip() or None
    except (OSError, ValueError):
        return None


#: how many of the payloads' scrubbed strings a scrubber remembers
_PAYLOAD_TEXTS = 20_000


class Scrubber:
    """The compiled patterns for a set of known secret values."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = frozenset(s for s in secrets if len(s) >= MIN_SECRET)
        #: the payloads' strings scrubbed so far (an xdist worker scrubs every test's part: the
        #: same keys, URLs and scenario names each time), forgotten past `_PAYLOAD_TEXTS`
        self._payload_texts: dict[str, str] = {}

    @functools.cached_property
    def _known(self) -> re.Pattern[str] | None:
        return _alternation(form for secret in self.secrets for form in patterns(secret))

    @functools.cached_property
    def _plain(self) -> re.Pattern[str] | None:
        return _alternation(form for secret in self.secrets for form in patterns(secret, escaped=False))

    @functools.cached_property
    def _cut(self) -> re.Pattern[str] | None:
        """A known secret's part left beside the ``...`` of a shortened text: pytest's ``-l`` shows a long
        local's repr with its middle cut out (an audit: 23 of a token's characters stood after it)."""
        parts = [
            form
            for secret in self.secrets
            for k in range(len(secret) - 1, MIN_SECRET - 1, -1)  # the longest first
            for form in (f"{re.escape(secret[:k])}(?=\\.\\.\\.)", f"(?<=\\.\\.\\.){re.escape(secret[-k:])}")
        ]
        return re.compile("|".join(parts)) if parts else None

    def known(self, text: str) -> re.Pattern[str] | None:
        """The pattern of the known secrets that can stand in ``text`` (compiled when first needed)."""
        if not self.secrets:
            return None
        return self._known if "%" in text or "\\u" in text else self._plain

    # -- text -------------------------------------------------------------------------
    def text(self, text: str) -> str:
        spans = _named_values(text)
        if spans:
            parts, done = [], 0
            for start, end in spans:
                parts += [text[done:start], REDACTED]
                done = end
            text = "".join([*parts, text[done:]])
        known = self.known(text)
        if known is not None:
            text = known.sub(_shape_replacement, text)
            if "..." in text and self._cut is not None:
                text = self._cut.sub(REDACTED, text)
        if _re.prefixes.search(text) is not None:
            for _, prefix, source in _re.shapes:
                if prefix in text:
                    text = _re.pattern(source).sub(_shape_replacement, text)
        if "://" in text:
            text = _re.userinfo.sub(lambda m: f"{m['user']}:{REDACTED}@", text)
        return text

    def data(self, data: bytes) -> bytes:
        """Bytes scrubbed as text, byte for byte where nothing matches (binary bodies stay binary)."""
        return self.text(data.decode("latin-1")).encode("latin-1")

    def header(self, name: str, value: str) -> str:
        if is_secret_name(name) and not _keeps(value):
            return HEADER_REDACTED
        return self.text(value)

    def headers(self, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        return [(name, self.header(name, value)) for name, value in pairs]

    def once(self, value: str) -> str:
        """``value`` scrubbed, remembered with the payloads' strings (a report record made clean as
        it is made looks its strings up here: the test ids, URLs and names recur)."""
        done = self._payload_texts
        scrubbed = done.get(value)
        if scrubbed is None:
            if len(done) > _PAYLOAD_TEXTS:
                done.clear()
            scrubbed = done[value] = self.text(value)
        return scrubbed

    def payload(self, value: Any, clean: Iterable[Any] = ()) -> Any:
        """Every string in a JSON-like structure (the report), keys included; a string that
        recurs (keys, test ids, URLs), in it or in the payloads before it, is scrubbed once, and
        so is a dict or list that recurs (the report shares one record among the tests that made
        the same call). ``clean``: dicts inside ``value`` that were scrubbed already (an xdist
        worker's part), kept as they are."""
        done = self._payload_texts
        # id → scrubbed copy; ``value`` keeps every id alive meanwhile
        shared: dict[int, Any] = {id(known): known for known in clean}
        text = self.text

        def walk(value: Any) -> Any:
            if isinstance(value, str):
                scrubbed = done.get(value)
                if scrubbed is None:
                    scrubbed = done[value] = text(value)
                return scrubbed
            if isinstance(value, dict):
                copy = shared.get(id(value))
                if copy is None:
                    copy = shared[id(value)] = {walk(k): walk(v) for k, v in value.items()}
                return copy
            if isinstance(value, (list, tuple)):
                return [walk(item) for item in value]
            return value

        scrubbed = walk(value)
        if len(done) > _PAYLOAD_TEXTS:
            done.clear()
        return scrubbed

    def body(self, body: bytes, headers: Iterable[tuple[str, str]]) -> bytes:
        """A body scrubbed inside its Content-Encoding; the very bytes when it held no secret."""
        encoding = content_encoding(headers)
        if encoding:
            decoded = decode(body, encoding)
            if decoded is not None:
                scrubbed = self.data(decoded)
                if scrubbed == decoded:
                    return body
                encoded = encode(scrubbed, encoding)
                if encoded is not None:
                    return encoded
        return self.data(body)


def _alternation(forms: Iterable[str]) -> re.Pattern[str] | None:
    ordered = sorted(set(forms), key=len, reverse=True)  # the longest form first
    return re.compile("|".join(ordered)) if ordered else None


def _shape_replacement(match: re.Match[str]) -> str:
    return TOKEN_REDACTED if match.group().startswith("hf") else REDACTED


def _lower(text: str) -> str:
    """``text`` in lower case, position for position (``str.lower`` may change lengths outside ASCII)."""
    lowered = text.lower()
    return lowered if len(lowered) == len(text) else text.translate(_ASCII_LOWER)


def _named_values(text: str) -> list[tuple[int, int]]:
    """Spans of the values to redact: secret-named parameters and JSON fields, ``Bearer``/``Basic`` credentials."""
    if "=" not in text and '"' not in text and " " not in text and "\t" not in text:
        return []
    low = _lower(text)
    spans = []
    for word in _re.words.finditer(low):
        for tail, name_of in _re.tails:
            match = tail.match(text, word.end())
            if match is None:
                continue
            name = (_param_name if name_of == "param" else _field_name)(text, word.start(), match)
            if name is not None and is_secret_name(name) and not _keeps(match["value"]):
                spans.append(match.span("value"))
    for match in _re.bearer.finditer(low):
        if match.start() and low[match.start() - 1].isalnum():
            continue  # a longer word ("subtoken 1234…")
        value = text[match.start("value") : match.end("value")]
        # Words are not credentials ("bearer standards", "token expired"); redaction markers are done.
        if any(c.isdigit() for c in value) and value not in MARKERS and not value.startswith(TOKEN_REDACTED):
            spans.append(match.span("value"))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            continue
        merged.append((start, end))
    return merged


def _param_name(text: str, start: int, match: re.Match[str]) -> str | None:
    while start > 0 and text[start - 1] in _PARAM_NAME_CHARS:
        start -= 1
    if start > 0 and text[start - 1] not in _PARAM_STARTS:
        return None  # inside something else (a path, a base64 text), not a parameter
    return text[start : match.start("value") - 1]


def _field_name(text: str, start: int, match: re.Match[str]) -> str | None:
    opening = text.rfind('"', 0, start)
    name = text[opening + 1 : text.index('"', start)].rstrip("\\")
    # In JSON a bare "token" or "key" is data (logprobs, key/value lists), and "<…>"/"[…]" values are
    # a tokenizer's special tokens (eos_token, pad_token): only the other secret names count.
    value = match["value"]
    if opening < 0 or not name.replace("_", "").replace("-", "").isalnum() or name.lower() in ("token", "key"):
        return None
    return None if value[:1] + value[-1:] in ("<>", "[]") else name


def deep(value: Any, depth: int = 0) -> Any:
    """Every string in ``value`` scrubbed: in lists and tuples, and in the attributes of pytest's
    failure representations (traceback entries, the crash line), changed in place."""
    if isinstance(value, str):
        return _current.text(value)
    if depth > 8:
        return value
    if isinstance(value, list):
        return [deep(item, depth + 1) for item in value]
    if isinstance(value, tuple):
        return tuple(deep(item, depth + 1) for item in value)
    if type(value).__module__.startswith("_pytest.") and hasattr(value, "__dict__"):
        for name, item in vars(value).items():
            object.__setattr__(value, name, deep(item, depth + 1))  # some are frozen dataclasses
    return value


def findings(text: str) -> list[tuple[int, str]]:
    """Where in ``text`` a key shape or a known secret stands, and what it is (for lint)."""
    shapes = [(name, _re.pattern(source)) for name, prefix, source in _re.shapes if prefix in text]
    found = [(m.start(), name) for name, pattern in shapes for m in pattern.finditer(text)]
    known = _current.known(text)
    if known is not None:
        found += [(m.start(), "the value of a secret environment variable") for m in known.finditer(text)]
    return sorted(found)


# -- the process's scrubber ----------------------------------------------------------------
_current = Scrubber()


#: a token's kind, before its secret part: a server may echo the part alone
_TOKEN_PREFIXES = ("hf_", "api_org_")


def register(secrets: Iterable[str]) -> None:
    """Add secret values (``HF_TOKEN``'s) to what every output scrubs, and a token's part after
    its kind (``hf_``), which a server may echo alone."""
    global _current
    given = list(secrets)
    given += [s[len(p) :] for s in given for p in _TOKEN_PREFIXES if s.startswith(p)]
    new = frozenset(s for s in given if len(s) >= MIN_SECRET)
    if not new <= _current.secrets:
        _current = Scrubber(_current.secrets | new)


def current() -> Scrubber:
    return _current


def text(value: str) -> str:
    return _current.text(value)


def payload(value: Any, clean: Iterable[Any] = ()) -> Any:
    return _current.payload(value, clean)
