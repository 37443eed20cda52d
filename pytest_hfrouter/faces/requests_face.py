"""The face for requests (huggingface_hub 0.x, plain requests calls).

Patched at ``HTTPAdapter.send``. The answer is handed to urllib3 as a socket-like body, so
urllib3 and requests decode, stream and fail exactly as over a real socket.
"""

from __future__ import annotations

import http.client
import io
from typing import Any

from .._clock import REAL
from ..faults import CUT, TIMEOUT_CONNECT, TIMEOUT_READ, Outcome, Plan
from ..traffic import Answer, Request, StreamRead
from ._core import ask, failed, idle, observe, observed, played, recording, seconds, stream_read, vcr_below
from ._patching import Replace


class _ChunkReader(io.RawIOBase):
    """A socket-like file for urllib3: one chunk per read, then the fault, if any.

    Faults surface as what a socket gives urllib3 (a timeout, a broken read), so urllib3 and
    requests turn them into their usual exceptions (``ChunkedEncodingError``, ...).
    """

    def __init__(self, answer: Answer, outcome: Plan) -> None:
        self._chunks = played(answer, outcome)
        # A plain body cut short ends in EOF, as a closed socket does: urllib3 then finds fewer
        # bytes than its Content-Length and raises its own IncompleteRead.
        self._outcome = None if outcome.outcome == CUT and not answer.is_stream else outcome.outcome
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


class _Wire:
    """The bytes that reached the socket, read as ``http.client`` and urllib3 read them (``readline``,
    ``read``), then what the socket does next: EOF (a cut) or a timeout (a stall).

    It marks ``read.reached`` (`traffic.StreamRead`) once the app has read the last event (``fault_at``:
    where a fault in that event, or the missing ``[DONE]``, is in the app's hands), or has asked for
    more than there is: the cut or the stall.
    """

    def __init__(self, data: bytes, outcome: Outcome | None, fault_at: int, read: StreamRead | None) -> None:
        self._data, self._outcome, self._position = data, outcome, 0
        self._fault_at, self._read = fault_at, read

    def _take(self, end: int) -> bytes:
        data = self._data
        if self._position >= len(data):
            if self._read is not None:
                self._read.reached = True
            if self._outcome == TIMEOUT_READ:
                raise TimeoutError("timed out")
            return b""
        taken = data[self._position : end]
        self._position += len(taken)
        if self._read is not None and self._position >= self._fault_at:
            self._read.reached = True
        return taken

    def readline(self, limit: int = -1) -> bytes:
        end = self._data.find(b"\n", self._position)
        end = len(self._data) if end < 0 else end + 1
        return self._take(end if limit < 0 else min(end, self._position + limit))

    def read(self, amt: int | None = None) -> bytes:
        return self._take(len(self._data) if amt is None or amt < 0 else self._position + amt)

    def close(self) -> None:
        pass


class _ChunkedBody:
    """An event stream as ``http.client.HTTPResponse`` hands it to urllib3's ``read_chunked``.

    The router sends a stream chunked, one event per chunk, and urllib3 gives requests each
    chunk as it arrives. A plain body is read 512 bytes at a time (requests' ``iter_content``),
    which swallows the events that arrived before a cut or a stall.
    """

    def __init__(self, answer: Answer, outcome: Plan) -> None:
        framed = [b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in played(answer, outcome)]
        wire = b"".join(framed)
        # a content fault is in the last event: in the app's hands once its data is read (before its CRLF)
        fault_at = len(wire) + 1 if outcome.outcome else len(wire) - 2 * bool(framed)
        self.read_stream = stream_read(answer)
        self.fp: _Wire | None = _Wire(
            wire if outcome.outcome else wire + b"0\r\n\r\n", outcome.outcome, fault_at, self.read_stream
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
        """The response closed (``Response.close()``): before the fault, the app met none."""
        if self.fp is not None:
            self.fp = None
            if self.read_stream is not None:
                self.read_stream.left()


def patch(adapters: Any, replace: Replace) -> None:
    from requests import exceptions
    from urllib3 import HTTPResponse
    from urllib3._collections import HTTPHeaderDict
    from urllib3.exceptions import (
        ConnectTimeoutError,
        MaxRetryError,
        NewConnectionError,
        ProtocolError,
        ReadTimeoutError,
        ResponseError,
    )
    from urllib3.util.timeout import Timeout

    def timeouts(value: Any) -> tuple[float | None, float | None]:
        if isinstance(value, tuple):
            return seconds(value[0]), seconds(value[1])
        if isinstance(value, Timeout):
            return seconds(value.connect_timeout), seconds(value.read_timeout)
        return seconds(value), seconds(value)

    def cause(outcome: Outcome | None, request: Any, pool: Any, timeout: Any) -> Exception:
        """urllib3's own exception for a fault before the response, as its pool raises it."""
        read_timeout = timeouts(timeout)[1]
        if outcome == TIMEOUT_CONNECT:  # the value as the app gave it
            given = timeout[0] if isinstance(timeout, tuple) else timeout
            return ConnectTimeoutError(pool, f"Connection to {pool.host} timed out. (connect timeout={given})")
        if outcome == TIMEOUT_READ:  # urllib3's words: the pool, then the timeout it gave up after
            return ReadTimeoutError(pool, request.url, f"Read timed out. (read timeout={read_timeout})")
        return ProtocolError("Connection aborted.", ConnectionResetError(104, "Connection reset by peer"))

    def translated(exc: Exception, request: Any) -> Exception:
        """What ``HTTPAdapter.send`` makes of urllib3's exception (requests 2.x's own mapping)."""
        if isinstance(exc, MaxRetryError):
            if isinstance(exc.reason, ConnectTimeoutError) and not isinstance(exc.reason, NewConnectionError):
                return exceptions.ConnectTimeout(exc, request=request)
            if isinstance(exc.reason, ResponseError):
                return exceptions.RetryError(exc, request=request)
            return exceptions.ConnectionError(exc, request=request)
        if isinstance(exc, ReadTimeoutError):
            return exceptions.ReadTimeout(exc, request=request)
        return exceptions.ConnectionError(exc, request=request)

    def send(
        self: Any,
        request: Any,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> Any:
        if idle() or vcr_below():
            return original(self, request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        body = request.body.encode("utf-8") if isinstance(request.body, str) else request.body
        if body is not None and not isinstance(body, bytes):  # a file-like or generator body
            body = b"".join(body) if not hasattr(body, "read") else body.read()
        asked = Request(request.method, request.url, tuple(request.headers.items()) if recording() else (), body)
        # The adapter's urllib3 Retry runs as in urllib3's pool: a status it retries, a fault it retries,
        # each try a call (requests' default, Retry(0, read=False), retries nothing).
        retries = self.max_retries
        # As the real send does before its pool's first try: the adapter adds its headers (huggingface_hub
        # 0.x its request id, which it appends to the message of a request that fails).
        self.add_headers(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        while True:
            answer, outcome = ask(asked, *timeouts(timeout))
            if answer.target_url or answer.passthrough:
                break
            pool = self.poolmanager.connection_from_url(request.url)  # urllib3 names it in its messages
            if outcome.before_response:
                error = cause(outcome.outcome, request, pool, timeout)
                try:  # urllib3 re-raises the error itself where the Retry does not cover it
                    retries = retries.increment(request.method, request.path_url, error=error, _pool=pool)
                except (MaxRetryError, ConnectTimeoutError, ReadTimeoutError, ProtocolError) as exc:
                    raise translated(exc, request) from None
                retries.sleep()
                continue
            retry_after = any(name.lower() == "retry-after" for name, _ in answer.headers)
            if not retries.is_retry(request.method, answer.status, retry_after):
                break
            raw = _response(answer, outcome, pool, request)
            try:
                retries = retries.increment(request.method, request.path_url, response=raw, _pool=pool)
            except MaxRetryError as exc:
                if retries.raise_on_status:
                    raise translated(exc, request) from None
                break
            retries.sleep(raw)
        if answer.target_url:
            return forward(
                self, request, asked, answer, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
            )
        if answer.passthrough:
            return original(self, request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        return self.build_response(request, _response(answer, outcome, pool, request))

    def _response(answer: Answer, outcome: Any, pool: Any, request: Any) -> Any:
        # A stream goes chunked, as the router sends it: each event reaches the app as it arrives.
        raw_body: Any = _ChunkedBody(answer, outcome) if answer.is_stream else _ChunkReader(answer, outcome)
        headers = [*answer.wire_headers, *([("Transfer-Encoding", "chunked")] if answer.is_stream else [])]
        return HTTPResponse(
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

    def forward(self: Any, request: Any, asked: Request, answer: Answer, **options: Any) -> Any:
        # The body is read here, whole (a stream's timing is lost; its exceptions are the same).
        outgoing = request.copy()
        outgoing.url = answer.target_url
        if answer.authorization:
            outgoing.headers["Authorization"] = answer.authorization
        started = REAL.perf_counter()
        try:
            response = original(self, outgoing, **options)
            body = wire_body(response)
        except Exception as exc:
            observe(asked, failed(exc, started))
            raise
        headers = tuple(response.headers.items())
        observe(asked, observed(response.status_code, response.reason, headers, body, REAL.perf_counter() - started))
        response.request, response.url = request, request.url
        return response

    def wire_body(response: Any) -> bytes:
        """The body as the server sent it (still compressed), for the record; the app then reads
        the same bytes through urllib3's decoding, as it would have."""
        raw = response.raw
        try:
            body = b"".join(raw.stream(65536, decode_content=False))
        except ProtocolError as exc:  # requests' own translations (Response.iter_content)
            raise exceptions.ChunkedEncodingError(exc) from exc
        except ReadTimeoutError as exc:
            raise exceptions.ConnectionError(exc) from exc
        raw.release_conn()
        headers = HTTPHeaderDict([(k, v) for k, v in raw.headers.items() if k.lower() != "transfer-encoding"])
        response.raw = HTTPResponse(
            body=io.BytesIO(body),
            headers=headers,
            status=raw.status,
            reason=raw.reason,
            preload_content=False,
            decode_content=True,
        )
        return body

    original = replace(adapters.HTTPAdapter, "send", send)
