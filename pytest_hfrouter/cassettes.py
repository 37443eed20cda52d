"""Reading vcrpy cassettes (format version 1) into router-aware interactions.

The same reader serves the shipped scenario library, the healthy library and the user's
own cassettes (recorded by vcrpy, pytest-recording, or the real ones from huggingface_hub's
suite). Each file is parsed once per process and indexed by what its requests mean to the
router, so a look-up costs the same in a cassette of ten interactions or ten thousand.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, NamedTuple

from . import scrub
from .bodies import Message, content_encoding, decode, header, is_event_stream
from .errors import CassetteError
from .routes import OTHER, Route, classify

# Headers that describe the recorded transfer, not the response: recomputed on replay.
_TRANSFER_HEADERS = frozenset({"content-length", "transfer-encoding"})


@dataclass(frozen=True)
class Recorded(Message):
    """A recorded HTTP response (``header``, ``content``, ``is_stream``: `Message`)."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


def split_chunks(body: bytes, headers: tuple[tuple[str, str], ...]) -> list[bytes]:
    """The body as the network delivers it: one chunk per SSE event for streams."""
    if not is_event_stream(header(headers, "content-type")):
        return [body] if body else []
    events = body.split(b"\n\n")
    chunks = [event + b"\n\n" for event in events[:-1]]
    if events[-1]:
        chunks.append(events[-1])
    return chunks


class Interaction(NamedTuple):
    method: str
    uri: str
    body: bytes | None
    route: Route
    response: Recorded


def unmatchable(interaction: Interaction) -> str | None:
    """Why a recorded interaction can never be requested, or None.

    Router calls match on provider, model and stream (`match_key`), and the model comes from the
    request body: a chat POST recorded without its body (or with no ``"model"`` in it) has no model,
    while every app request names one.
    """
    route = interaction.route
    if route.is_inference and interaction.method == "POST" and not route.model:
        held = "no request body" if not interaction.body else 'a request body without "model"'
        return (
            f"a {route.kind}-route POST with {held} can never match: router calls are matched on provider, "
            "model and stream, and the model comes from the body. Record the request body (vcrpy does by "
            'default) or add its "model"'
        )
    return None


def match_key(method: str, route: Route, url: str) -> tuple[str, ...]:
    """What two requests must share to be "the same request" to the router.

    Router and Hub calls match on meaning (kind, provider, model, streamed or not, and the task
    where the route names one: hf-inference's ``/pipeline/feature-extraction`` and
    ``/pipeline/sentence-similarity`` on one model are two requests), so route drift between
    client versions does not matter; anything else matches on the exact URL.
    """
    if route.kind == OTHER:
        return (method.upper(), OTHER, url)
    model = (route.requested or route.model or "").lower()
    stream = "stream" if route.stream else ""
    return (method.upper(), route.kind, route.provider or "", model, stream, route.task or "")


@dataclass(eq=False)
class Cassette:
    path: Path
    interactions: tuple[Interaction, ...]
    metadata: dict[str, Any]
    index: dict[tuple[str, ...], list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for position, interaction in enumerate(self.interactions):
            key = match_key(interaction.method, interaction.route, interaction.uri)
            self.index.setdefault(key, []).append(position)

    @property
    def hfrouter(self) -> dict[str, Any]:
        block = self.metadata.get("hfrouter")
        return block if isinstance(block, dict) else {}

    @property
    def is_scenario(self) -> bool:
        """A scenario file: its requests are examples, matched by rules, never by the example."""
        return "name" in self.hfrouter

    def unmatchable(self) -> list[str]:
        """Interactions no request can ever match (see `unmatchable`), one line each. Scenario and
        healthy-library files are served by rule, provider and task, never matched: none of theirs."""
        if self.is_scenario or self.hfrouter.get("healthy"):
            return []
        return [
            scrub.text(f"interactions[{n}] {i.method} {i.uri}: {why}")
            for n, i in enumerate(self.interactions)
            if (why := unmatchable(i)) is not None
        ]


def _as_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _text(value: Any, where: str) -> str:
    """A scalar of the file as text (YAML's null is empty, an unquoted date its ISO form). A mapping or a list
    there is a damaged file, never made text: an alias of nested lists (a "billion laughs" of 748 bytes) would
    have grown to gigabytes (an audit)."""
    if isinstance(value, (Mapping, list, tuple, set)):
        raise CassetteError(f"{where} must be a string, got a {type(value).__name__}")
    return "" if value is None else str(value)


def header_pairs(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise CassetteError(f"{where}.headers must be a mapping of name to list of values")
    pairs: list[tuple[str, str]] = []
    for name, values in raw.items():
        name = _text(name, f"{where}.headers")
        for value in values if isinstance(values, list) else [values]:
            pairs.append((name, _text(value, f"{where}.headers.{name}")))
    return tuple(pairs)


def stored_decoded(body: bytes, headers: tuple[tuple[str, str], ...]) -> bool:
    """A body under a gzip or deflate Content-Encoding that it is not: stored decoded, when it is text
    (compressed bytes stored as text hold U+FFFD replacement characters: they are lost, not decoded)."""
    encoding = content_encoding(headers)
    return encoding in ("gzip", "x-gzip", "deflate") and decode(body, encoding) is None


#: an HTTP status's standard reason phrase
_PHRASES = {status.value: status.phrase for status in HTTPStatus}


def _interaction(raw: Any, number: int) -> Interaction:
    where = f"interactions[{number}]"
    if not isinstance(raw, Mapping) or "request" not in raw or "response" not in raw:
        raise CassetteError(f"{where} needs a 'request' and a 'response'")
    request, response = raw["request"], raw["response"]
    for part, value in (("request", request), ("response", response)):
        if not isinstance(value, Mapping):  # a file cut short: "string indices must be integers" said nothing
            raise CassetteError(f"{where}.{part} must be a mapping, as vcrpy writes it; got {type(value).__name__}")
    try:
        method = _text(request["method"], f"{where}.request.method")
        uri = _text(request["uri"], f"{where}.request.uri")
        if "status" not in response and "status_code" in response:
            # the format vcrpy's httpx stubs wrote before vcrpy 5 (``status_code``, ``content``), which vcrpy
            # still reads (vcr/stubs/httpx_stubs.py, ``_deserialize_response``): no reason phrase was kept
            code, reason, stored = int(response["status_code"]), "", response.get("content")
        else:
            status = response["status"]
            if not isinstance(status, Mapping):
                raise CassetteError(
                    f"{where}.response.status must be a mapping, as vcrpy writes it "
                    f"(status: {{code: 503, message: Service Unavailable}}), got {status!r}"
                )
            code = int(status["code"])
            reason = _text(status.get("message") or "", f"{where}.response.status.message")
            body = response.get("body") or {}
            stored = body.get("string") if isinstance(body, Mapping) else body
        content = _as_bytes(stored) or b""
        request_body = _as_bytes(request.get("body"))
    except KeyError as exc:
        raise CassetteError(
            f"{where}: missing field {exc} (a vcrpy interaction has request.method, request.uri, "
            "response.status.code and response.body.string)"
        ) from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise CassetteError(f"{where}: malformed field ({exc})") from None
    if not 100 <= code <= 599:  # what an HTTP client can be handed; -1 or 999 is a damaged file
        raise CassetteError(f"{where}.response.status.code must be an HTTP status (100-599), got {code}")
    if not reason:  # kept by no older recorder: the code's own phrase, as httpx derives it (and HTTP/2 sends none)
        reason = _PHRASES.get(code, "")
    headers = tuple(
        (k, v)
        for k, v in header_pairs(response.get("headers"), f"{where}.response")
        if k.lower() not in _TRANSFER_HEADERS
    )
    if isinstance(stored, str) and "\ufffd" not in stored and stored_decoded(content, headers):
        # vcrpy through requests keeps ``Content-Encoding: gzip`` over the text it stored decoded, and
        # replays it decoded: so does this (a client would fail to decompress it)
        headers = tuple((k, v) for k, v in headers if k.lower() != "content-encoding")
    route = classify(method, uri, request_body)
    if request_body is None and route.is_inference and not route.stream:
        # recorded without its body (vcrpy's aiohttp stubs): the answer says whether it was streamed
        route = route._replace(stream=is_event_stream(header(headers, "content-type")))
    response = Recorded(code, reason, headers, content)
    return Interaction(method=method.upper(), uri=uri, body=request_body, route=route, response=response)


def parse_cassette(text: str | bytes, path: Path) -> Cassette:
    """Parse a vcrpy cassette; every problem becomes a `CassetteError` naming the file."""
    import yaml  # here, not at import: a run whose tests load no cassette pays no YAML

    # libyaml when available: an order of magnitude faster on large cassettes
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise CassetteError(f"not valid YAML: {exc}", path) from None
    return cassette_from_data(data, path)


def cassette_from_data(data: Any, path: Path) -> Cassette:
    """A cassette from its parsed YAML; every problem becomes a `CassetteError` naming the file."""
    if not isinstance(data, Mapping) or not isinstance(data.get("interactions"), list):
        raise CassetteError("not a vcrpy cassette: no top-level 'interactions' list", path)
    if data.get("version", 1) != 1:
        raise CassetteError(f"unsupported cassette format version {data.get('version')!r} (expected 1)", path)
    try:
        interactions = tuple(_interaction(raw, n) for n, raw in enumerate(data["interactions"]))
    except CassetteError as exc:
        raise CassetteError(exc.problem, path) from None
    metadata = data.get("metadata")
    return Cassette(path, interactions, dict(metadata) if isinstance(metadata, Mapping) else {})


_cache: dict[Path, tuple[tuple[int, int], Cassette]] = {}


def load_cassette(path: Path) -> Cassette:
    """Load a cassette, parsed once per process (re-read only if the file changed)."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        raise CassetteError("no such cassette file", path) from None
    if not os.path.isfile(path):  # an audit: a folder at a test's default cassette path was ignored in silence
        what = "a folder" if os.path.isdir(path) else "not a regular file (a pipe, a device)"
        raise CassetteError(f"is {what}, not a cassette file: remove or rename it", path)
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _cache.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    cassette = parse_cassette(path.read_bytes(), path)
    _cache[path] = (stamp, cassette)
    return cassette
