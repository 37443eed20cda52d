"""The face for aiohttp (huggingface_hub 0.x's AsyncInferenceClient, plain ``ClientSession``).

Patched at ``BaseConnector.connect``, where a session asks for a connection: by then aiohttp has
built the whole request (headers, cookies, body, middlewares) and has looked up no name yet, so
a replayed call never reaches DNS or a socket. The answer is played over an in-memory
connection into aiohttp's own protocol and HTTP parser (``ResponseHandler``): the status line
and headers, then one chunk each time the reader waits for more, as from a server that keeps up.
``ClientResponse``, ``content.iter_any()`` / ``readline()``, ``json()``, ``raise_for_status()``
are aiohttp's own, and a fault ends the connection as a socket would, so aiohttp raises what it
raises over one (observed against the router double, aiohttp 3.14):

* connect-timeout: ``ConnectionTimeoutError`` (``ClientTimeout.connect`` / ``sock_connect``), or a
  bare ``TimeoutError`` when ``total`` runs out first;
* read-timeout, a stall: ``SocketTimeoutError`` (``sock_read``), or ``TimeoutError`` (``total``);
* connection-reset: ``ClientOSError(104, 'Connection reset by peer')``;
* stream-cut: ``ClientPayloadError`` (the chunked body ends early).

Live and record modes send the request to the engine's target with a session of its own and
feed that answer, as sent (still compressed, if it was), through the same in-memory connection,
reporting it to the engine once read.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
from collections import deque
from collections.abc import Callable
from typing import Any

from .._clock import REAL
from ..faults import CUT, RESET, TIMEOUT_CONNECT, TIMEOUT_READ, Outcome, Plan
from ..traffic import Answer, Request, StreamRead
from ._core import HOP_HEADERS, ask, failed, idle, observe, observed, played, recording, seconds, stream_read
from ._patching import Replace

#: set while this face sends a forwarded request itself (live modes): that one really connects
_forwarding: contextvars.ContextVar[bool] = contextvars.ContextVar("hfrouter_aiohttp_forwarding", default=False)
#: framing headers the face writes itself (a forwarded body is handed on chunked, as sent: still encoded)
_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})
_LAST_CHUNK = b"0\r\n\r\n"


def _least(*values: Any) -> float | None:
    """The timeout that runs out first (None: no timeout)."""
    given = [float(v) for v in values if v is not None and float(v) > 0]
    return min(given) if given else None


def _total_first(total: Any, *others: Any) -> bool:
    """``ClientTimeout.total`` runs from the start of the request: it fires first unless another is shorter."""
    if seconds(total) is None:
        return False
    shorter = _least(*others)
    return shorter is None or float(total) <= shorter


def _head(status: int, reason: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}".encode("latin-1", "replace")]
    lines += [f"{name}: {value}".encode() for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _wire(answer: Answer, outcome: Plan) -> tuple[bytes, list[bytes]]:
    """The answer as a server writes it: the head, then each chunk (chunked for an event stream)."""
    pieces = played(answer, outcome)
    if not answer.is_stream:
        return _head(answer.status, answer.reason, list(answer.wire_headers)), pieces
    headers = [*answer.wire_headers, ("Transfer-Encoding", "chunked")]
    framed = [_chunk(piece) for piece in pieces if piece]
    return _head(answer.status, answer.reason, headers), framed if outcome.outcome else [*framed, _LAST_CHUNK]


async def _body(request: Any) -> bytes:
    body = request.body
    if not body:
        return b""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    return bytes(await body.as_bytes())


def patch(connector: Any, replace: Replace) -> None:
    client_proto: Any = importlib.import_module("aiohttp.client_proto")

    class Wire(asyncio.Transport):
        """The in-memory socket: what the client writes is dropped (the engine has the request)."""

        def __init__(self, protocol: Any) -> None:
            super().__init__()
            self.protocol, self.closing = protocol, False

        def write(self, data: Any) -> None:
            pass

        def writelines(self, data: Any) -> None:
            pass

        def is_closing(self) -> bool:
            return self.closing

        def close(self) -> None:
            if not self.closing:
                self.closing = True
                if self.protocol.hfrouter_read is not None:  # closed before the fault came: the app met none
                    self.protocol.hfrouter_read.left()
                loop = self.protocol._loop
                if not loop.is_closed():  # a connection collected after its loop ended
                    loop.call_soon(self.protocol.connection_lost, None)

        abort = close

        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return default

        def can_write_eof(self) -> bool:
            return True

        def write_eof(self) -> None:
            pass

        def pause_reading(self) -> None:
            pass

        def resume_reading(self) -> None:
            pass

        def is_reading(self) -> bool:
            return not self.closing

        def get_write_buffer_size(self) -> int:
            return 0

        def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
            pass

    class Played(client_proto.ResponseHandler):  # type: ignore[misc]
        """aiohttp's protocol, fed what the socket would deliver: the head once the request is
        written, then the next piece each time the reader waits (`connected` is what
        ``StreamReader`` asks before it waits), and after the last piece, the fault."""

        def __init__(self, loop: asyncio.AbstractEventLoop, request: Any, timeout: Any) -> None:
            super().__init__(loop)
            self.hfrouter_request, self.hfrouter_timeout = request, timeout
            self.pieces: deque[bytes | Callable[[], None]] = deque()
            self.asked = False
            #: a stream a scenario breaks at its end: reached once no more than ``reach_at`` pieces are left
            self.hfrouter_read: StreamRead | None = None
            self.reach_at = 0
            self.force_close()  # never pooled: a pooled connection would answer the next request
            self.connection_made(Wire(self))

        def play(
            self,
            head: bytes | Callable[[], None],
            pieces: list[bytes],
            end: Callable[[], None] | None,
            read: StreamRead | None = None,
        ) -> Any:
            self.pieces.extend([head, *pieces, *([end] if end is not None else [])])
            # the fault is the end, or in the last event (the last piece before the stream's last chunk)
            self.hfrouter_read, self.reach_at = read, 0 if end is not None else 1
            return self

        async def read(self) -> Any:
            if not self.asked:  # the client now waits for the answer: the server has the whole request
                self.asked = True
                writer = self.hfrouter_request._writer
                if writer is not None and not writer.done():
                    await asyncio.wait((writer,))
                self._loop.call_soon(self.deliver)  # once the client waits, as bytes off a socket arrive
            return await super().read()

        def _reschedule_timeout(self) -> None:
            """No timer of its own: the engine's plan decides whether a stall outlasts ``sock_read``
            (a replayed server always has the next byte ready, however slowly the app reads)."""

        @property
        def connected(self) -> bool:
            if self.transport is not None:
                self._loop.call_soon(self.deliver_waited)
            return self.transport is not None

        def deliver_waited(self) -> None:
            payload = self._payload
            if payload is not None and getattr(payload, "_waiter", None) is not None:
                self.deliver()

        def deliver(self) -> None:
            if self.transport is None or not self.pieces:
                return
            piece = self.pieces.popleft()
            if self.hfrouter_read is not None and len(self.pieces) <= self.reach_at:
                self.hfrouter_read.reached = True
            if callable(piece):
                piece()
            else:
                self.data_received(piece)

        def lose(self, error: BaseException | None) -> None:
            """The server closed (None: a FIN) or reset the connection."""
            if self.transport is not None:
                self.transport.closing = True
                self.connection_lost(error)

        def stall(self) -> None:
            """A stall that outlasts the client's read timeout: whichever of its timeouts fires first."""
            timeout = self.hfrouter_timeout
            if _total_first(timeout.total, timeout.sock_read):
                self.hfrouter_request._timer.timeout()
            else:
                self._on_read_timeout()

        def ending(self, outcome: Outcome | None) -> Callable[[], None] | None:
            if outcome == TIMEOUT_READ:
                return self.stall
            if outcome == RESET:
                return lambda: self.lose(ConnectionResetError(104, "Connection reset by peer"))
            if outcome == CUT:
                return lambda: self.lose(None)
            return None

    def timeouts(timeout: Any) -> tuple[float | None, float | None, float | None]:
        """connect, each read, and the whole request: ``total`` is a deadline for the answer, body included."""
        return (
            _least(timeout.total, timeout.connect, timeout.sock_connect),
            seconds(timeout.sock_read),
            seconds(timeout.total),
        )

    async def connect(self: Any, request: Any, traces: Any, timeout: Any) -> Any:
        if _forwarding.get() or idle():
            return await original(self, request, traces, timeout)
        body = await _body(request)
        headers = tuple((str(k), v) for k, v in request.headers.items()) if recording() else ()  # str, not istr
        sent = Request(request.method, str(request.url), headers, body)
        answer, outcome = ask(sent, *timeouts(timeout))
        if answer.target_url:
            return await forward(self, request, sent, answer, timeout)
        if answer.passthrough:
            return await original(self, request, traces, timeout)
        if outcome.outcome == TIMEOUT_CONNECT:
            if _total_first(timeout.total, timeout.connect, timeout.sock_connect):
                request._timer.timeout()  # cancels this task: aiohttp's timer turns it into TimeoutError
                await asyncio.sleep(0)
            raise asyncio.TimeoutError  # aiohttp: ConnectionTimeoutError("Connection timeout to host ...")
        protocol = Played(self._loop, request, timeout)
        head, pieces = _wire(answer, outcome)
        if outcome.before_response:
            protocol.play(protocol.ending(outcome.outcome) or (lambda: None), [], None)
        else:
            protocol.play(head, pieces, protocol.ending(outcome.outcome), stream_read(answer))
        return connector.Connection(self, request.connection_key, protocol, self._loop)

    async def forward(self: Any, request: Any, sent: Request, answer: Answer, timeout: Any) -> Any:
        from aiohttp import ClientSession

        dropped = HOP_HEADERS if answer.authorization else HOP_HEADERS - {"authorization"}
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in dropped]
        if answer.authorization:
            headers.append(("Authorization", answer.authorization))
        started = REAL.perf_counter()
        # The body as sent (auto_decompress off): recorded byte for byte, decoded by the app's own session.
        session = ClientSession(
            timeout=timeout, auto_decompress=False, skip_auto_headers=("User-Agent", "Content-Type")
        )
        token = _forwarding.set(True)
        try:
            response = await session.request(
                request.method, str(answer.target_url), headers=headers, data=sent.body, allow_redirects=False
            )
        except Exception as exc:
            observe(sent, failed(exc, started))
            await session.close()
            raise
        finally:
            _forwarding.reset(token)
        protocol = Played(self._loop, request, timeout)
        kept = [(k, v) for k, v in response.headers.items() if k.lower() not in _FRAMING]
        bodiless = request.method == "HEAD" or response.status in (204, 304)  # no body, so no framing
        framing = [] if bodiless else [("Transfer-Encoding", "chunked")]
        protocol.data_received(_head(response.status, response.reason or "", [*kept, *framing]))
        protocol.asked = True  # the head is there: the pump feeds the rest as it arrives
        protocol.hfrouter_pump = asyncio.ensure_future(pump(protocol, session, response, sent, started, bodiless))
        return connector.Connection(self, request.connection_key, protocol, self._loop)

    async def pump(protocol: Any, session: Any, response: Any, sent: Request, started: float, bodiless: bool) -> None:
        """The live body into the app's connection as it arrives, reported to the engine before the
        app sees its end (an app may read the call log at once; its loop may close right after)."""
        parts: list[bytes] = []
        failure: Exception | None = None
        whole = True
        try:
            try:
                async for part in response.content.iter_any():
                    parts.append(part)
                    if protocol.transport is not None and not bodiless:
                        protocol.data_received(_chunk(part))
            except asyncio.CancelledError:
                # The app's loop is ending (asyncio.run cancels what is left) while the app has left
                # the answer unread: a recording reads on, so the cassette holds the whole answer;
                # a live run reports the part it read, then lets the cancellation through.
                if not recording():
                    whole = False
                    raise
                try:
                    async for part in response.content.iter_any():
                        parts.append(part)
                except Exception as exc:
                    failure = exc
            except Exception as exc:
                failure = exc
            finally:
                error = None if failure is None else f"{type(failure).__name__}: {failure}"
                headers = tuple((str(k), v) for k, v in response.headers.items())
                body = b"".join(parts)
                seen = observed(
                    response.status, response.reason or "", headers, body, REAL.perf_counter() - started, error, whole
                )
                observe(sent, seen)
            if isinstance(failure, asyncio.TimeoutError):  # the app's own timeout class for it
                protocol.stall()
            elif failure is not None:
                protocol.lose(failure if isinstance(failure, OSError) else None)
            elif protocol.transport is not None and not bodiless:
                protocol.data_received(_LAST_CHUNK)
        finally:
            response.release()
            await session.close()

    original = replace(connector.BaseConnector, "connect", connect)
