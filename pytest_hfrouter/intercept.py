"""The in-process face of the engine: the transports of httpx, httpx2 and requests.

Installed once per session at the lowest layer every client shares — huggingface_hub 2.x
(httpx2), 1.x (httpx) and 0.x (requests), the openai SDK, plain httpx/requests calls — so
no test patches anything and the per-request cost is a dictionary look-up. A client's own
``MockTransport`` is not an ``HTTPTransport`` and is left alone.
"""

from __future__ import annotations

import functools
import http.client
import importlib
import io
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from .engine import Engine
from .errors import UnansweredRequest
from .faults import HANG, RESET, TIMEOUT_CONNECT, TIMEOUT_READ, Plan, hang_message, plan
from .live import Observed
from .traffic import Answer, Request

# A stack, so that a pytest run inside a pytest run (pytester) answers with its own engine
# and hands the transports back to the outer one when it ends.
_engines: list[Engine] = []
_originals: list[tuple[Any, str, Any]] = []


def install(engine: Engine) -> None:
    """Route every HTTP request of the process through ``engine`` until `uninstall`."""
    _engines.append(engine)
    if _originals:
        return
    for name in ("httpx", "httpx2"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        _patch_httpx(module)
    try:
        adapters = importlib.import_module("requests.adapters")
    except ImportError:
        pass
    else:
        _patch_requests(adapters)


def uninstall(engine: Engine) -> None:
    if engine in _engines:
        _engines.remove(engine)
    if _engines:
        return
    for owner, attribute, original in reversed(_originals):
        setattr(owner, attribute, original)
    _originals.clear()


def _replace(owner: Any, attribute: str, wrapper: Callable[..., Any]) -> Any:
    original = getattr(owner, attribute)
    _originals.append((owner, attribute, original))
    setattr(owner, attribute, wrapper)
    return original


def _ask(request: Request, connect_timeout: float | None, read_timeout: float | None) -> tuple[Answer, Plan]:
    """The engine's answer and how it plays out for a client with these timeouts."""
    if not _engines:  # uninstalled while a client still held a patched method
        raise UnansweredRequest(f"pytest-hfrouter is not active: {request.method} {request.url}")
    engine = _engines[-1]
    answer = engine.answer(request)
    if answer.unanswered:
        raise UnansweredRequest(
            f"pytest-hfrouter: no answer for {request.method} {request.url}: {answer.unanswered} (the test will fail)"
        )
    if answer.passthrough:
        return answer, NO_FAULT
    chunks = answer.chunks()
    outcome = plan(answer.fault, len(chunks), connect_timeout, read_timeout)
    if outcome.outcome == HANG and answer.fault is not None:
        message = hang_message(answer.fault)
        engine.would_hang(request, message)
        raise UnansweredRequest(f"pytest-hfrouter: {request.method} {request.url}: {message}")
    if answer.fault is not None and outcome.outcome is None:
        engine.spared(answer)  # slow, but within the client's timeout: a success after all
    return answer, outcome


NO_FAULT = Plan(0, None, False)


# Headers that belong to the connection, not the request: rebuilt for the forwarded one.
_HOP_HEADERS = frozenset({"host", "authorization", "content-length", "connection", "transfer-encoding"})


def _recording() -> bool:
    """Only the live modes keep request headers (to record them): replay skips copying them."""
    return bool(_engines) and _engines[-1].live is not None


def _observe(request: Request, observed: Observed) -> None:
    if _engines:
        _engines[-1].observe(request, observed)


def _failed(exc: BaseException, started: float) -> Observed:
    return Observed(None, "", (), b"", time.perf_counter() - started, f"{type(exc).__name__}: {exc}")


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value)


# -- httpx and httpx2 (the same API under two module names) ------------------------------
def _patch_httpx(module: Any) -> None:
    # The messages httpx(2) gives these faults on a real socket (ROUTER-FACTS §2.11, §3.2). The
    # async transports read through anyio, whose TimeoutError and BrokenResourceError carry no
    # text: there the timeouts and the reset are raised with an empty message.
    def error(outcome: str | None, request: Any, asynchronous: bool = False) -> Exception:
        if outcome == TIMEOUT_CONNECT:
            return module.ConnectTimeout("" if asynchronous else "timed out", request=request)  # type: ignore[no-any-return]
        if outcome == TIMEOUT_READ:
            return module.ReadTimeout("" if asynchronous else "timed out", request=request)  # type: ignore[no-any-return]
        if outcome == RESET:
            message = "" if asynchronous else "[Errno 104] Connection reset by peer"
            return module.ReadError(message, request=request)  # type: ignore[no-any-return]
        return module.RemoteProtocolError(  # type: ignore[no-any-return]
            "peer closed connection without sending complete message body (incomplete chunked read)",
            request=request,
        )

    class ReplayStream(module.SyncByteStream):  # type: ignore[misc]
        def __init__(self, request: Any, answer: Answer, outcome: Plan, asynchronous: bool = False) -> None:
            self.request, self.answer, self.outcome = request, answer, outcome
            self.asynchronous = asynchronous

        def __iter__(self) -> Iterator[bytes]:
            chunks = self.answer.chunks()
            yield from chunks[: self.outcome.chunks] if self.outcome.outcome else chunks
            if self.outcome.outcome:
                raise error(self.outcome.outcome, self.request, self.asynchronous)

    class AsyncReplayStream(module.AsyncByteStream):  # type: ignore[misc]
        def __init__(self, request: Any, answer: Answer, outcome: Plan) -> None:
            self.sync = ReplayStream(request, answer, outcome, asynchronous=True)

        async def __aiter__(self) -> AsyncIterator[bytes]:
            for chunk in self.sync:
                yield chunk

    def ask(request: Any, body: bytes, asynchronous: bool = False) -> tuple[Request, Answer, Plan]:
        timeouts = request.extensions.get("timeout") or {}
        headers = tuple(request.headers.multi_items()) if _recording() else ()
        asked = Request(request.method, str(request.url), headers, body)
        answer, outcome = _ask(asked, _seconds(timeouts.get("connect")), _seconds(timeouts.get("read")))
        if outcome.before_response:
            raise error(outcome.outcome, request, asynchronous)
        return asked, answer, outcome

    def forwarded(request: Any, body: bytes, answer: Answer) -> Any:
        dropped = _HOP_HEADERS if answer.authorization else _HOP_HEADERS - {"authorization"}
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in dropped]
        if answer.authorization:
            headers.append(("Authorization", answer.authorization))
        return module.Request(
            request.method, answer.target_url, headers=headers, content=body, extensions=request.extensions
        )

    def observed_response(asked: Request, response: Any, started: float, stream: Any) -> Any:
        seen = functools.partial(
            Observed, response.status_code, response.reason_phrase, tuple(response.headers.multi_items())
        )
        tee = stream(response.stream, lambda body, err: _observe(asked, seen(body, time.perf_counter() - started, err)))
        return module.Response(
            response.status_code, headers=response.headers, stream=tee, extensions=response.extensions
        )

    class TeeStream(module.SyncByteStream):  # type: ignore[misc]
        """The live body as the app reads it, reported to the engine once it ends."""

        def __init__(self, inner: Any, done: Callable[[bytes, str | None], None]) -> None:
            self.inner, self.done, self.reported = inner, done, False
            self.parts: list[bytes] = []

        def _report(self, error: str | None) -> None:
            if not self.reported:
                self.reported = True
                self.done(b"".join(self.parts), error)

        def __iter__(self) -> Iterator[bytes]:
            try:
                for part in self.inner:
                    self.parts.append(part)
                    yield part
            except Exception as exc:
                self._report(f"{type(exc).__name__}: {exc}")
                raise
            self._report(None)

        def close(self) -> None:
            self._report(None)
            self.inner.close()

    class AsyncTeeStream(module.AsyncByteStream):  # type: ignore[misc]
        def __init__(self, inner: Any, done: Callable[[bytes, str | None], None]) -> None:
            self.tee = TeeStream(inner, done)

        async def __aiter__(self) -> AsyncIterator[bytes]:
            try:
                async for part in self.tee.inner:
                    self.tee.parts.append(part)
                    yield part
            except Exception as exc:
                self.tee._report(f"{type(exc).__name__}: {exc}")
                raise
            self.tee._report(None)

        async def aclose(self) -> None:
            self.tee._report(None)
            await self.tee.inner.aclose()

    def respond(request: Any, answer: Answer, stream: Any) -> Any:
        return module.Response(
            answer.status,
            headers=answer.wire_headers,
            stream=stream,
            request=request,
            extensions={
                "reason_phrase": answer.reason.encode("ascii", "replace"),
                "http_version": b"HTTP/1.1",
            },
        )

    def handle_request(self: Any, request: Any) -> Any:
        body = request.read()
        asked, answer, outcome = ask(request, body)
        if answer.target_url:
            started = time.perf_counter()
            try:
                response = sync_original(self, forwarded(request, body, answer))
            except Exception as exc:
                _observe(asked, _failed(exc, started))
                raise
            return observed_response(asked, response, started, TeeStream)
        if answer.passthrough:
            return sync_original(self, request)
        return respond(request, answer, ReplayStream(request, answer, outcome))

    async def handle_async_request(self: Any, request: Any) -> Any:
        body = await request.aread()
        asked, answer, outcome = ask(request, body, asynchronous=True)
        if answer.target_url:
            started = time.perf_counter()
            try:
                response = await async_original(self, forwarded(request, body, answer))
            except Exception as exc:
                _observe(asked, _failed(exc, started))
                raise
            return observed_response(asked, response, started, AsyncTeeStream)
        if answer.passthrough:
            return await async_original(self, request)
        return respond(request, answer, AsyncReplayStream(request, answer, outcome))

    sync_original = _replace(module.HTTPTransport, "handle_request", handle_request)
    async_original = _replace(module.AsyncHTTPTransport, "handle_async_request", handle_async_request)


# -- requests (huggingface_hub 0.x) ------------------------------------------------------
class _ChunkReader(io.RawIOBase):
    """A socket-like file for urllib3: one chunk per read, then the fault, if any.

    Faults surface as what a socket gives urllib3 (a timeout, a broken read), so urllib3 and
    requests turn them into their usual exceptions (``ChunkedEncodingError``, ...).
    """

    def __init__(self, answer: Answer, outcome: Plan) -> None:
        chunks = answer.chunks()
        self._chunks = chunks[: outcome.chunks] if outcome.outcome else chunks
        self._outcome = outcome.outcome
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def isclosed(self) -> bool:
        """Like ``http.client.HTTPResponse``: urllib3 stops reading once this says so."""
        return not (self._buffer or self._chunks or self._outcome)

    def readinto(self, target: Any) -> int:
        if not self._buffer and self._chunks:
            self._buffer = self._chunks.pop(0)
        if not self._buffer and self._outcome:
            outcome, self._outcome = self._outcome, None
            if outcome == TIMEOUT_READ:
                raise TimeoutError("timed out")
            raise http.client.IncompleteRead(b"")
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


class _Wire(io.RawIOBase):
    """The bytes that reached the socket, then what it does next: EOF (a cut) or a timeout (a stall)."""

    def __init__(self, data: bytes, outcome: str | None) -> None:
        self._data, self._outcome = data, outcome

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        if not self._data:
            if self._outcome == TIMEOUT_READ:
                raise TimeoutError("timed out")
            return 0
        size = min(len(target), len(self._data))
        target[:size] = self._data[:size]
        self._data = self._data[size:]
        return size


class _ChunkedBody:
    """An event stream as ``http.client.HTTPResponse`` hands it to urllib3's ``read_chunked``.

    The router sends a stream chunked, one event per chunk, and urllib3 gives requests each
    chunk as it arrives. A plain body is read 512 bytes at a time (requests' ``iter_content``),
    which swallows the events that arrived before a cut or a stall.
    """

    def __init__(self, answer: Answer, outcome: Plan) -> None:
        chunks = answer.chunks()
        kept = chunks[: outcome.chunks] if outcome.outcome else chunks
        wire = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in kept)
        self.fp: io.BufferedReader | None = io.BufferedReader(
            _Wire(wire if outcome.outcome else wire + b"0\r\n\r\n", outcome.outcome)
        )

    def _safe_read(self, amt: int) -> bytes:
        data = self.fp.read(amt) if self.fp is not None else b""
        if len(data) < amt:
            raise http.client.IncompleteRead(data, amt - len(data))
        return data

    def read(self, amt: int | None = None) -> bytes:
        """The body without its chunk framing, as ``http.client`` reads it."""
        parts: list[bytes] = []
        while self.fp is not None and (amt is None or sum(map(len, parts)) < amt):
            line = self.fp.readline()
            if not line:
                raise http.client.IncompleteRead(b"".join(parts))
            size = int(line.split(b";", 1)[0], 16)
            if size == 0:
                self.close()
                break
            parts.append(self._safe_read(size))
            self._safe_read(2)
        return b"".join(parts)

    def isclosed(self) -> bool:
        return self.fp is None

    def close(self) -> None:
        if self.fp is not None:
            self.fp.close()
            self.fp = None


def _patch_requests(adapters: Any) -> None:
    from requests import exceptions
    from urllib3 import HTTPResponse
    from urllib3._collections import HTTPHeaderDict
    from urllib3.exceptions import ConnectTimeoutError, ProtocolError, ReadTimeoutError
    from urllib3.util.timeout import Timeout

    def timeouts(value: Any) -> tuple[float | None, float | None]:
        if isinstance(value, tuple):
            return _seconds(value[0]), _seconds(value[1])
        if isinstance(value, Timeout):
            return _seconds(value.connect_timeout), _seconds(value.read_timeout)
        return _seconds(value), _seconds(value)

    def error(outcome: str | None, request: Any, pool: Any, read_timeout: float | None) -> Exception:
        if outcome == TIMEOUT_CONNECT:
            cause: Exception = ConnectTimeoutError(None, f"Connection to {request.url} timed out.")
            return exceptions.ConnectTimeout(cause, request=request)
        if outcome == TIMEOUT_READ:  # urllib3's words: the pool, then the timeout it gave up after
            cause = ReadTimeoutError(pool, request.url, f"Read timed out. (read timeout={read_timeout})")
            return exceptions.ReadTimeout(cause, request=request)
        reset = ConnectionResetError(104, "Connection reset by peer")
        return exceptions.ConnectionError(ProtocolError("Connection aborted.", reset), request=request)

    def send(self: Any, request: Any, stream: bool = False, timeout: Any = None, verify: Any = True,
             cert: Any = None, proxies: Any = None) -> Any:  # fmt: skip
        body = request.body.encode("utf-8") if isinstance(request.body, str) else request.body
        if body is not None and not isinstance(body, bytes):  # a file-like or generator body
            body = b"".join(body) if not hasattr(body, "read") else body.read()
        asked = Request(request.method, request.url, tuple(request.headers.items()) if _recording() else (), body)
        answer, outcome = _ask(asked, *timeouts(timeout))
        if answer.target_url:
            return forward(self, request, asked, answer, stream=stream, timeout=timeout, verify=verify, cert=cert,
                           proxies=proxies)  # fmt: skip
        if answer.passthrough:
            return original(self, request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        # As the real send does: the adapter adds its headers (huggingface_hub 0.x its request id,
        # which it appends to the message of a request that fails).
        self.add_headers(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        pool = self.poolmanager.connection_from_url(request.url)  # urllib3 names it in timeout messages
        if outcome.before_response:
            raise error(outcome.outcome, request, pool, timeouts(timeout)[1])
        # A stream goes chunked, as the router sends it: each event reaches the app as it arrives.
        raw_body: Any = _ChunkedBody(answer, outcome) if answer.is_stream else _ChunkReader(answer, outcome)
        headers = [*answer.wire_headers, *([("Transfer-Encoding", "chunked")] if answer.is_stream else [])]
        raw = HTTPResponse(
            pool=pool,
            body=raw_body,
            headers=HTTPHeaderDict(headers),
            status=answer.status,
            reason=answer.reason,
            preload_content=False,
            decode_content=True,
            request_method=request.method,
            request_url=request.url,
        )
        return self.build_response(request, raw)

    def forward(self: Any, request: Any, asked: Request, answer: Answer, **options: Any) -> Any:
        # The body is read here, whole (a stream's timing is lost; its exceptions are the same).
        outgoing = request.copy()
        outgoing.url = answer.target_url
        if answer.authorization:
            outgoing.headers["Authorization"] = answer.authorization
        started = time.perf_counter()
        try:
            response = original(self, outgoing, **options)
            body = response.content
        except Exception as exc:
            _observe(asked, _failed(exc, started))
            raise
        headers = tuple(response.headers.items())
        _observe(asked, Observed(response.status_code, response.reason, headers, body, time.perf_counter() - started))
        response.request, response.url = request, request.url
        return response

    original = _replace(adapters.HTTPAdapter, "send", send)


# huggingface_hub caches provider mappings and task checks per process (lru_cache); one
# test's scenario must never leak into the next (ROUTER-FACTS §1.3). Modules not yet imported
# hold nothing to clear, so nothing is imported here.
_CLIENT_CACHES = (
    ("huggingface_hub.inference._providers._common", "_fetch_inference_provider_mapping"),
    ("huggingface_hub.inference._providers.hf_inference", "_check_supported_task"),
    ("huggingface_hub.inference._providers.hf_inference", "_fetch_recommended_models"),
)


def reset_client_caches() -> None:
    for module_name, function_name in _CLIENT_CACHES:
        module = sys.modules.get(module_name)
        cached = getattr(module, function_name, None) if module is not None else None
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()
