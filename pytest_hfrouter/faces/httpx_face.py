"""The face for httpx and httpx2 (the same API under two module names).

Patched at ``HTTPTransport.handle_request`` and ``AsyncHTTPTransport.handle_async_request``,
the lowest layer every client shares — huggingface_hub 2.x (httpx2) and 1.x (httpx), the
openai SDK, plain calls — so no test patches anything and the per-request cost is a
dictionary look-up. A client's own ``MockTransport`` is not an ``HTTPTransport`` and is left
alone.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from .._clock import REAL
from ..faults import RESET, TIMEOUT_CONNECT, TIMEOUT_READ, Outcome, Plan
from ..traffic import Answer, Request
from ._core import (
    HOP_HEADERS,
    NO_FAULT,
    ask,
    failed,
    idle,
    observe,
    observed,
    played,
    recording,
    records,
    stream_read,
    unfinished,
)
from ._patching import Replace
from ._tls import deferred


def patch(module: Any, replace: Replace) -> None:
    # The messages httpx(2) gives these faults on a real socket (docs/ROUTER-FACTS.md §2.11, §3.2). The
    # async transports read through anyio, whose TimeoutError and BrokenResourceError carry no
    # text: there the timeouts and the reset are raised with an empty message.
    def error(
        outcome: Outcome | None, request: Any, asynchronous: bool = False, length: int | None = None, received: int = 0
    ) -> Exception:
        if outcome == TIMEOUT_CONNECT:
            return module.ConnectTimeout("" if asynchronous else "timed out", request=request)  # type: ignore[no-any-return]
        if outcome == TIMEOUT_READ:
            return module.ReadTimeout("" if asynchronous else "timed out", request=request)  # type: ignore[no-any-return]
        if outcome == RESET:
            message = "" if asynchronous else "[Errno 104] Connection reset by peer"
            return module.ReadError(message, request=request)  # type: ignore[no-any-return]
        if length is not None:  # a Content-Length body cut short (httpcore's words)
            return module.RemoteProtocolError(  # type: ignore[no-any-return]
                f"peer closed connection without sending complete message body (received {received} bytes, "
                f"expected {length})",
                request=request,
            )
        return module.RemoteProtocolError(  # type: ignore[no-any-return]
            "peer closed connection without sending complete message body (incomplete chunked read)",
            request=request,
        )

    class ReplayStream(module.SyncByteStream):  # type: ignore[misc]
        def __init__(self, request: Any, answer: Answer, outcome: Plan, asynchronous: bool = False) -> None:
            self.request, self.answer, self.outcome = request, answer, outcome
            self.asynchronous = asynchronous
            # the fault comes at the stream's end: in its last event (an error event, half a JSON line, no
            # [DONE]), or after its events (a cut, a stall); an app that closes it before has met none
            self.read = stream_read(answer)

        def __iter__(self) -> Iterator[bytes]:
            chunks = played(self.answer, self.outcome)
            try:
                for number, chunk in enumerate(chunks, 1):
                    if self.read is not None and number == len(chunks) and not self.outcome.outcome:
                        self.read.reached = True
                    yield chunk
                if self.read is not None:
                    self.read.reached = True
                if self.outcome.outcome:
                    length = None if self.answer.is_stream else len(self.answer.body)
                    received = sum(map(len, chunks))
                    raise error(self.outcome.outcome, self.request, self.asynchronous, length, received)
            finally:
                self.left()

        def close(self) -> None:  # the response closed (the openai SDK's ``stream.close()``)
            self.left()

        def left(self) -> None:
            if self.read is not None:
                self.read.left()

    class AsyncReplayStream(module.AsyncByteStream):  # type: ignore[misc]
        def __init__(self, request: Any, answer: Answer, outcome: Plan) -> None:
            self.sync = ReplayStream(request, answer, outcome, asynchronous=True)

        async def __aiter__(self) -> AsyncIterator[bytes]:
            for chunk in self.sync:
                yield chunk

        async def aclose(self) -> None:
            self.sync.close()

    def asked(request: Any, body: bytes, asynchronous: bool = False) -> tuple[Request, Answer, Plan]:
        timeouts = request.extensions.get("timeout") or {}
        headers = tuple(request.headers.multi_items()) if recording() else ()
        sent = Request(request.method, str(request.url), headers, body)
        answer, outcome = ask(sent, timeouts.get("connect"), timeouts.get("read"))
        if outcome.before_response:
            raise error(outcome.outcome, request, asynchronous)
        return sent, answer, outcome

    def forwarded(request: Any, body: bytes, answer: Answer) -> Any:
        dropped = HOP_HEADERS if answer.authorization else HOP_HEADERS - {"authorization"}
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in dropped]
        if answer.authorization:
            headers.append(("Authorization", answer.authorization))
        return module.Request(
            request.method, answer.target_url, headers=headers, content=body, extensions=request.extensions
        )

    def observed_response(sent: Request, response: Any, started: float, stream: Any) -> Any:
        seen = functools.partial(
            observed, response.status_code, response.reason_phrase, tuple(response.headers.multi_items())
        )
        tee = stream(
            response.stream,
            lambda body, err, whole: observe(sent, seen(body, REAL.perf_counter() - started, err, whole)),
        )
        return module.Response(
            response.status_code, headers=response.headers, stream=tee, extensions=response.extensions
        )

    class TeeStream(module.SyncByteStream):  # type: ignore[misc]
        """The live body as the app reads it, reported to the engine once it ends; or once the app is
        done with it (closed it, or the test ended), then in a recording mode after reading the rest
        from where the app stopped, so the cassette is whole."""

        def __init__(self, inner: Any, done: Callable[[bytes, str | None, bool], None], drains: bool = True) -> None:
            self.inner, self.done, self.reported, self.ended = inner, done, False, False
            self.drains = drains  # an async body is read on by `AsyncTeeStream.aclose` only
            self.parts: list[bytes] = []
            self.reading: Any = None  # the iterator over ``inner`` the app reads through
            # huggingface_hub 1.x keeps a stream's response open in the client's exit stack after the
            # app stopped at [DONE]: its close may come after the test, from the garbage collector
            unfinished(self._left)

        def _report(self, error: str | None) -> None:
            if not self.reported:
                self.reported = True
                self.done(b"".join(self.parts), error, self.ended)

        def _left(self) -> None:
            if self.drains and not self.reported and not self.ended and records():
                # the same iterator, not a second one over the connection; the app saw no error, so
                # a failure here keeps the part it read (the recording says so)
                with contextlib.suppress(Exception):
                    self.parts.extend(self.reading if self.reading is not None else self.inner)
                    self.ended = True
            self._report(None)

        def __iter__(self) -> Iterator[bytes]:
            self.reading = iter(self.inner)
            try:
                for part in self.reading:
                    self.parts.append(part)
                    yield part
            except Exception as exc:
                self.ended = True
                self._report(f"{type(exc).__name__}: {exc}")
                raise
            self.ended = True
            self._report(None)

        def close(self) -> None:
            self._left()
            self.inner.close()

    class AsyncTeeStream(module.AsyncByteStream):  # type: ignore[misc]
        def __init__(self, inner: Any, done: Callable[[bytes, str | None, bool], None]) -> None:
            self.tee = TeeStream(inner, done, drains=False)

        async def __aiter__(self) -> AsyncIterator[bytes]:
            tee = self.tee
            tee.reading = tee.inner.__aiter__()
            try:
                async for part in tee.reading:
                    tee.parts.append(part)
                    yield part
            except Exception as exc:
                tee.ended = True
                tee._report(f"{type(exc).__name__}: {exc}")
                raise
            tee.ended = True
            tee._report(None)

        async def aclose(self) -> None:
            tee = self.tee
            if not tee.reported and not tee.ended and records():
                with contextlib.suppress(Exception):  # as `TeeStream._left`
                    async for part in tee.reading if tee.reading is not None else tee.inner:
                        tee.parts.append(part)
                    tee.ended = True
            tee._report(None)
            await tee.inner.aclose()

    #: id of an answer's headers as sent → (them, the same as httpx ``Headers``): a response copies
    #: a ``Headers`` it is given (one list copy) instead of encoding every name and value anew,
    #: about 8 us for a router answer's 31 headers. The engine keeps its answers, so their
    #: headers recur; a cassette's answers are made per request and miss (bounded below).
    prepared: dict[int, tuple[tuple[tuple[str, str], ...], Any]] = {}

    def headers_of(answer: Answer) -> Any:
        pairs = answer.wire_headers
        known = prepared.get(id(pairs))
        if known is None or known[0] is not pairs:
            if len(prepared) >= 512:
                prepared.clear()
            known = prepared[id(pairs)] = (pairs, module.Headers(pairs))
        return known[1]

    def respond(request: Any, answer: Answer, stream: Any) -> Any:
        return module.Response(
            answer.status,
            headers=headers_of(answer),
            stream=stream,
            request=request,
            extensions={
                "reason_phrase": answer.reason.encode("ascii", "replace"),
                "http_version": b"HTTP/1.1",
            },
        )

    def retries(transport: Any) -> Iterator[float]:
        """The waits before each retry the transport's ``retries=`` allows after a connect error, as
        httpcore's pool makes them (0, then 0.5 s doubling): its connection retries, played in replay."""
        left = getattr(getattr(transport, "_pool", None), "_retries", 0) or 0
        for number in range(left):
            yield 0.0 if number == 0 else 0.5 * 2 ** (number - 1)

    def retried(transport: Any, request: Any, body: bytes, error: Exception) -> tuple[Request, Answer, Plan]:
        """A connect error the transport's ``retries=`` covers: asked again after each wait."""
        for wait in retries(transport):
            time.sleep(wait)
            try:
                return asked(request, body)
            except module.ConnectTimeout as again:
                error = again
        raise error from None

    def handle_request(self: Any, request: Any) -> Any:
        if idle():
            return sync_original(self, request)
        body = request.read()
        try:
            sent, answer, outcome = asked(request, body)
        except module.ConnectTimeout as error:
            sent, answer, outcome = retried(self, request, body, error)
        if answer.target_url:
            started = REAL.perf_counter()
            try:
                response = sync_original(self, forwarded(request, body, answer))
            except Exception as exc:
                observe(sent, failed(exc, started))
                raise
            return observed_response(sent, response, started, TeeStream)
        if answer.passthrough:
            return sync_original(self, request)
        if outcome is NO_FAULT and not answer.is_stream:  # a whole body, as httpx holds one it has read
            return respond(request, answer, module.ByteStream(answer.body))
        return respond(request, answer, ReplayStream(request, answer, outcome))

    async def handle_async_request(self: Any, request: Any) -> Any:
        if idle():
            return await async_original(self, request)
        # A request on the network lets the event loop run the app's other tasks before its answer comes:
        # so does a replayed one (without it, ten gathered calls ran one after another, and an app that
        # stops calling a provider after two failures made two calls in replay and ten in production).
        await checkpoint()
        body = await request.aread()
        try:
            sent, answer, outcome = asked(request, body, asynchronous=True)
        except module.ConnectTimeout as error:
            for wait in retries(self):  # a connect error the transport's retries= covers
                await asleep(wait)
                try:
                    sent, answer, outcome = asked(request, body, asynchronous=True)
                    break
                except module.ConnectTimeout:
                    continue
            else:
                raise error from None
        if answer.target_url:
            started = REAL.perf_counter()
            try:
                response = await async_original(self, forwarded(request, body, answer))
            except Exception as exc:
                observe(sent, failed(exc, started))
                raise
            return observed_response(sent, response, started, AsyncTeeStream)
        if answer.passthrough:
            return await async_original(self, request)
        if outcome is NO_FAULT and not answer.is_stream:
            return respond(request, answer, module.ByteStream(answer.body))
        return respond(request, answer, AsyncReplayStream(request, answer, outcome))

    try:  # the event loop's own yield, asyncio or trio alike (httpx and httpx2 depend on anyio)
        from anyio import sleep as asleep
        from anyio.lowlevel import checkpoint
    except ImportError:  # pragma: no cover - httpx without anyio (emscripten)
        import asyncio

        async def checkpoint() -> None:
            await asyncio.sleep(0)

        asleep = asyncio.sleep

    sync_original = replace(module.HTTPTransport, "handle_request", handle_request)
    async_original = replace(module.AsyncHTTPTransport, "handle_async_request", handle_async_request)
    # A transport's SSL context is made at its first handshake, which a replayed request never makes.
    # (the module that defines it: httpx names its public classes' ``__module__`` after itself)
    transports = sys.modules[module.HTTPTransport.__init__.__module__]
    replace(transports, "create_ssl_context", deferred(transports.create_ssl_context, lambda: not idle()))
