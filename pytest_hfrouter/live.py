"""Live modes: where real traffic goes, what came back, and whether its shape drifted.

Pure values and functions; the faces forward requests and report `Observed` answers to the
engine, which keeps them for the report, the recorder and the drift check.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import scrub
from ._names import HUB_HOSTS, HUB_URL, LEGACY_INFERENCE_HOSTS, ROUTER_HOSTS, ROUTER_URL, Mode
from .bodies import Message, is_event_stream, sse_data
from .providers import REMOVED_PROVIDERS as _REMOVED
from .routes import Route, RouteKind

if TYPE_CHECKING:
    from .cassettes import Recorded

#: providers removed from the router's routing layer in 2026-07 (docs/ROUTER-FACTS.md §1.2)
REMOVED_PROVIDERS = _REMOVED


LEGACY_INFERENCE_URL = "https://api-inference.huggingface.co"


@dataclass(frozen=True)
class Live:
    """Where router and Hub traffic goes in a live mode, with which token."""

    mode: Mode
    token: str
    router_url: str = ROUTER_URL
    hub_url: str = HUB_URL

    @property
    def legacy_url(self) -> str:
        """Where the pre-router serverless API goes: itself, or the overridden router's
        hf-inference route (its successor, docs/ROUTER-FACTS.md §1.1), never the real host."""
        return LEGACY_INFERENCE_URL if self.router_url == ROUTER_URL else f"{self.router_url}/hf-inference"

    def target(self, url: str) -> str | None:
        """Where a router, Hub or legacy inference URL goes in this run, any path; None for
        every other host (those are the app's business: never redirected, never given the token)."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host in HUB_HOSTS:
            base = self.hub_url
        elif host in ROUTER_HOSTS:
            base = self.router_url
        elif host in LEGACY_INFERENCE_HOSTS:
            base = self.legacy_url
        else:
            return None
        return base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


@dataclass(frozen=True)
class Observed(Message):
    """What the real router answered (``error``: the transport error, if it failed;
    ``read_to_end``: False when the app stopped reading the body before its end, so ``body`` is the
    part it read; ``header``, ``content``: `Message`)."""

    status: int | None
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    elapsed: float
    error: str | None = None
    read_to_end: bool = True

    @property
    def cut_short(self) -> bool:
        """The app stopped reading before the end, and what it read is not a whole answer (a stream
        it left after ``[DONE]`` is whole: huggingface_hub 1.x closes those late)."""
        return not self.read_to_end and not (self.is_stream and sse_data(self.content)[1])


def error_text(body: bytes, limit: int = 300) -> str | None:
    """The server's message: JSON ``error`` (string or ``message`` of an object), else the text.

    Scrubbed before it is cut to ``limit``: a cut must not leave half a key that no pattern knows.
    """
    if not body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        if text.startswith(("data:", "event:", ":")):  # a stream: its error event says it
            return _event_error(text, limit)
        return None if text.lower().startswith("<") else scrub.text(text)[:limit]
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        error = error.get("message", error)
    return None if error is None else scrub.text(str(error))[:limit]


def _event_error(text: str, limit: int) -> str | None:
    """The message of a stream's ``error`` event (``data: {"error": ...}``), if it has one."""
    for line in text.splitlines():
        if line.startswith("data:"):
            found = error_text(line[5:].strip().encode(), limit)
            if found is not None and not found.startswith(("{", "[")):
                return found
    return None


def is_failure(observed: Observed) -> bool:
    """A failed answer: a status of 400 or more, a transport error, or an error inside a 200 (a JSON
    ``error`` without ``choices``, an ``error`` event in a stream)."""
    if observed.error is not None or observed.status is None or observed.status >= 400:
        return True
    kind, structure = body_shape(
        observed.content, (observed.header("content-type") or "").split(";")[0].strip().lower()
    )
    if kind == "json":
        return isinstance(structure, dict) and "error" in structure and "choices" not in structure
    if kind == "sse":
        events, _ = structure
        return isinstance(events, dict) and "error" in events
    return False


@dataclass(frozen=True)
class LiveCall:
    """One live call as the report keeps it."""

    provider: str | None
    model: str | None
    route: RouteKind
    method: str
    url: str
    status: int | None
    latency_ms: float
    request_id: str | None
    inference_provider: str | None
    error: str | None
    stream: bool

    @classmethod
    def of(
        cls, method: str, url: str, route: Route, provider: str | None, model: str | None, seen: Observed
    ) -> LiveCall:
        # an error inside a 200 fails the pair as a 5xx does (an audit: a night of them stayed "healthy")
        failed = is_failure(seen)
        return cls(
            provider=provider,
            model=model,
            route=route.kind,
            method=method,
            url=url,
            status=seen.status,
            latency_ms=round(seen.elapsed * 1000, 1),
            request_id=seen.header("x-request-id"),
            inference_provider=seen.header("x-inference-provider"),
            error=seen.error or ((error_text(seen.content) or f"HTTP {seen.status}") if failed else None),
            stream=route.stream,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Drift:
    """How a live answer's shape differs from the recorded one for the same request."""

    recorded_in: str
    request: str
    differences: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"recorded_in": self.recorded_in, "request": self.request, "differences": list(self.differences)}


# -- shapes: keys and types, never values ---------------------------------------------------
Shape = Any


def json_shape(value: Any) -> Shape:
    if isinstance(value, dict):
        return {key: json_shape(item) for key, item in value.items()}
    if isinstance(value, list):
        merged: Shape = None
        for item in value:
            merged = _merge(merged, json_shape(item))
        return [merged]
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _merge(a: Shape, b: Shape) -> Shape:
    if a is None:
        return b
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: _merge(a.get(k), b.get(k)) for k in {**a, **b}}
    return a


def _compare(recorded: Shape, live: Shape, path: str, out: list[str]) -> None:
    if recorded is None or live is None:  # null is a value, not a type: tolerated
        return
    if isinstance(recorded, dict) and isinstance(live, dict):
        for key in recorded.keys() - live.keys():
            out.append(f"{path}.{key}: missing")
        for key in live.keys() - recorded.keys():
            out.append(f"{path}.{key}: new")
        for key in recorded.keys() & live.keys():
            _compare(recorded[key], live[key], f"{path}.{key}", out)
    elif isinstance(recorded, list) and isinstance(live, list):
        _compare(recorded[0], live[0], f"{path}[]", out)
    elif _kind(recorded) != _kind(live):
        out.append(f"{path}: {_kind(recorded)} became {_kind(live)}")


def _kind(shape: Shape) -> str:
    return "object" if isinstance(shape, dict) else "array" if isinstance(shape, list) else str(shape)


def body_shape(body: bytes, content_type: str) -> tuple[str, Shape]:
    """``("json", shape)``, ``("sse", (event shape, ends with [DONE]))`` or ``("text", None)``."""
    if is_event_stream(content_type):
        events: Shape = None
        data, done = sse_data(body)
        for text in data:
            try:
                events = _merge(events, json_shape(json.loads(text)))
            except ValueError:
                events = _merge(events, "unparsable")
        return "sse", (events, done)
    try:
        return "json", json_shape(json.loads(body))
    except ValueError:
        return "text", None


def shape_differences(recorded: Recorded, live: Observed) -> tuple[str, ...]:
    """Status class, JSON keys and types, SSE event shape; tolerant of values, ids and times."""
    if live.status is None:
        return ()
    if recorded.status // 100 != live.status // 100:
        return (f"status {recorded.status} became {live.status}",)
    kind_a, shape_a = body_shape(recorded.content, recorded.header("content-type") or "")
    kind_b, shape_b = body_shape(live.content, live.header("content-type") or "")
    if kind_a != kind_b and not live.cut_short:
        return (f"body {kind_a} became {kind_b}",)
    out: list[str] = []
    if live.cut_short and kind_a != "sse":
        return ()  # the part of a body the app read has no shape to compare
    if kind_a == "sse":
        _compare(shape_a[0], shape_b[0], "event", out)
        if shape_a[1] != shape_b[1] and not live.cut_short:  # the app stopped before the end
            out.append("stream " + ("no longer ends with [DONE]" if shape_a[1] else "now ends with [DONE]"))
    elif kind_a == "json":
        _compare(shape_a, shape_b, "body", out)
    return tuple(sorted(out))
