"""A bounded HTTP/1.1 server for the router double: a busy parallel suite, and abuse.

A listen backlog of 1024 (a burst of clients is queued, not reset), one selector thread that
accepts, watches every idle connection and reads request heads, and a bounded pool of workers
that serve a connection only once a whole request head has arrived — an idle keep-alive or
slowloris connection holds no thread, and is closed ``idle_timeout`` seconds after it went
quiet (a trickling head does not reset that). Request bodies are capped at 16 MiB, chunked
or not (`BodyTooLarge`, a 413 for the double). Nothing here knows about the router.
"""

from __future__ import annotations

import contextlib
import io
import queue
import selectors
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from ._clock import REAL

#: connections the kernel queues before they are accepted (a parallel suite's burst)
BACKLOG = 1024
#: seconds of silence after which a connection is closed (longer than clients' keep-alive expiry)
IDLE_TIMEOUT = 60.0
#: requests served at once; more wait for a free worker, idle connections never take one
WORKERS = 64
MAX_BODY = 16 * 1024 * 1024
#: how often the selector thread looks for connections past their idle timeout
_IDLE_CHECK = 0.2


#: the most a request line and headers may take (the selector thread holds them)
_MAX_HEAD = 64 * 1024


class BodyTooLarge(ValueError):
    pass


class _Feed(io.RawIOBase):
    """A connection's bytes: first those the selector thread read ahead (the request head),
    then the socket's."""

    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection
        self.ahead = bytearray()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        if self.ahead:
            size = min(len(buffer), len(self.ahead))
            buffer[:size] = self.ahead[:size]
            del self.ahead[:size]
            return size
        try:
            return self.connection.recv_into(buffer)
        except BlockingIOError:  # `ConnectionHandler.pending` asks without blocking
            return None

    def head_complete(self) -> bool:
        return b"\r\n\r\n" in self.ahead or b"\n\n" in self.ahead or len(self.ahead) > _MAX_HEAD


class Listener(HTTPServer):
    """Binds and listens only: `Serving` runs the accept loop and the workers."""

    allow_reuse_address = True
    request_queue_size = BACKLOG


class ConnectionHandler(BaseHTTPRequestHandler):
    """One per connection, kept across its requests; a worker calls `handle_one_request`."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.rfile.close()
        self.feed = _Feed(self.connection)
        self.rfile = io.BufferedReader(self.feed)

    def handle(self) -> None:
        pass  # the constructor must not serve: requests are served one at a time by the workers

    def finish(self) -> None:
        pass  # the connection outlives the constructor; `close` ends it

    def close(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with contextlib.suppress(OSError):
            self.connection.close()

    def refuse_rest(self) -> None:
        """After an early answer (413): read and drop what the client still sends, so that
        closing does not reset the connection before the client has read the answer."""
        deadline = REAL.monotonic() + 2.0
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.2)
            dropped = 0
            while REAL.monotonic() < deadline and dropped < 2 * MAX_BODY:
                data = self.connection.recv(65536)
                if not data:
                    break
                dropped += len(data)

    def pending(self) -> bool:
        """Whether the next request's bytes are already buffered here (a pipelining client)."""
        peek = getattr(self.rfile, "peek", None)
        if peek is None:
            return False
        timeout = self.connection.gettimeout()
        try:
            self.connection.setblocking(False)
            return bool(peek(1))
        except (OSError, ValueError):
            return False
        finally:
            with contextlib.suppress(OSError):
                self.connection.settimeout(timeout)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the server using this logs one line per request itself

    def read_body(self) -> bytes | None:
        """The request's body (None without one), chunked or not; `BodyTooLarge` past the cap,
        ValueError for a malformed framing."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                line = self.rfile.readline(1024).split(b";")[0].strip()
                try:
                    size = int(line, 16)
                except ValueError:
                    raise ValueError(f"chunk size {line[:40]!r}") from None
                if size < 0:
                    raise ValueError(f"chunk size {line[:40]!r}")
                if size == 0:
                    self.rfile.readline(1024)
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise BodyTooLarge(f"chunked body over the {MAX_BODY // 2**20} MiB limit")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = self.headers.get("Content-Length")
        if length is None:
            return None
        try:
            size = int(length)
        except ValueError:
            raise ValueError(f"Content-Length {length!r}") from None
        if size < 0:
            raise ValueError(f"Content-Length {length!r}")
        if size > MAX_BODY:
            raise BodyTooLarge(f"Content-Length {size} is over the {MAX_BODY // 2**20} MiB limit")
        return self.rfile.read(size)


class Serving:
    """Runs ``server``'s connections: the selector thread and the pool of ``workers``."""

    def __init__(
        self, server: Listener, log: Callable[[str], None], idle_timeout: float = IDLE_TIMEOUT, workers: int = WORKERS
    ) -> None:
        self._server = server
        self.log = log
        self.idle_timeout = idle_timeout
        self.stopping = threading.Event()
        #: connections a worker is done with, for the selector thread to watch again
        self._returned: queue.SimpleQueue[ConnectionHandler] = queue.SimpleQueue()
        #: connections a worker is serving now (cut at `stop`, so that no worker waits on a read)
        self._busy: set[ConnectionHandler] = set()
        self._busy_lock = threading.Lock()
        self._wake_read, self._wake_write = socket.socketpair()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hfrouter-double-worker")
        self._thread: threading.Thread | None = None

    def start(self, name: str) -> None:
        self._thread = threading.Thread(target=self._watch, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._busy_lock:
            for handler in self._busy:
                with contextlib.suppress(OSError):
                    handler.connection.shutdown(socket.SHUT_RDWR)
        self._pool.shutdown(wait=True, cancel_futures=True)
        while True:
            try:
                self._returned.get_nowait().close()
            except queue.Empty:
                break
        self._server.server_close()
        self._wake_read.close()
        self._wake_write.close()

    # -- the selector thread: accepts, and watches idle connections ---------------------------
    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_write.send(b"\0")

    def _watch(self) -> None:
        listener = self._server.socket
        listener.setblocking(False)
        idle: dict[ConnectionHandler, float] = {}  # connection → when it went quiet
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            selector.register(self._wake_read, selectors.EVENT_READ)
            while not self.stopping.is_set():
                for key, _ in selector.select(timeout=min(_IDLE_CHECK, self.idle_timeout)):
                    if key.fileobj is listener:
                        for handler in self._accept():
                            selector.register(handler.connection, selectors.EVENT_READ, handler)
                            idle[handler] = REAL.monotonic()
                    elif key.fileobj is self._wake_read:
                        with contextlib.suppress(OSError):
                            self._wake_read.recv(4096)
                    else:
                        handler = key.data
                        complete = self._read_head(handler)
                        if complete is None:  # the client went away
                            selector.unregister(key.fileobj)
                            idle.pop(handler, None)
                            handler.close()
                        elif complete:  # a worker serves the request; the selector forgets it meanwhile
                            selector.unregister(key.fileobj)
                            idle.pop(handler, None)
                            self._pool.submit(self._serve, handler)
                while True:
                    try:
                        handler = self._returned.get_nowait()
                    except queue.Empty:
                        break
                    selector.register(handler.connection, selectors.EVENT_READ, handler)
                    idle[handler] = REAL.monotonic()
                expired = REAL.monotonic() - self.idle_timeout
                for handler in [h for h, since in idle.items() if since <= expired]:
                    selector.unregister(handler.connection)
                    del idle[handler]
                    handler.close()
            for handler in idle:
                handler.close()

    @staticmethod
    def _read_head(handler: ConnectionHandler) -> bool | None:
        """Read what arrived of a request head; True once it is complete, None at the end.

        A request whose head trickles in (slowloris) waits here, holding no worker; its idle
        time is not reset by the trickle, so it is closed ``idle_timeout`` after it began.
        """
        try:
            data = handler.connection.recv(65536)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return None
        if not data:
            return None
        handler.feed.ahead += data
        return handler.feed.head_complete()

    def _accept(self) -> Iterator[ConnectionHandler]:
        while True:
            try:
                connection, address = self._server.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors, say: the rest stay in the backlog
                self.log(f"cannot accept a connection: {exc!r}")
                return
            connection.settimeout(self.idle_timeout)  # a worker's reads and writes time out too
            handler = self._server.RequestHandlerClass(connection, address, self._server)
            assert isinstance(handler, ConnectionHandler)
            yield handler

    # -- a worker: one request (more if they are already buffered), then back to the selector --
    def _serve(self, handler: ConnectionHandler) -> None:
        with self._busy_lock:
            self._busy.add(handler)
        try:
            self._serve_requests(handler)
        finally:
            with self._busy_lock:
                self._busy.discard(handler)

    def _serve_requests(self, handler: ConnectionHandler) -> None:
        if self.stopping.is_set():
            handler.close()
            return
        try:
            while True:
                handler.handle_one_request()  # a read timing out closes the connection
                if handler.close_connection or self.stopping.is_set():
                    handler.close()
                    return
                if not handler.pending():
                    break
        except Exception as exc:
            # A client that hangs up mid-answer (it timed out, or the fault was ours) is normal here.
            if not isinstance(exc, (ConnectionError, TimeoutError)):
                host, port = handler.client_address[:2]
                self.log(f"error serving {host}:{port}: {exc!r}")
            handler.close()
            return
        self._returned.put(handler)
        self._wake()
