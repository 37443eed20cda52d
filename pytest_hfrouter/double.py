"""The router double: the engine behind a real HTTP/1.1 server on loopback.

It serves the router's paths (``/{provider}/...``, ``/v1/chat/completions``) and the Hub's
(``/api/models/...``) from one port, so a client pointed at it — huggingface_hub through
``HF_ENDPOINT`` and the router base, the openai SDK through ``base_url``, a Gradio app in a
subprocess, a JavaScript client — works unchanged. Answers come from the same engine and
rule objects as in-process replay; transport faults are played for real: a reset is an RST
(``SO_LINGER 0``), a stall is a stall, a cut stream is a chunked body that stops.

Built for a busy parallel suite and for abuse: a listen backlog of 1024 (a burst of clients
is queued, not reset), one selector thread watching every idle connection, and a bounded pool
of workers that serve a connection only while it has a request to read — an idle keep-alive
or slowloris connection holds no thread, and is closed after ``idle_timeout`` seconds of
silence. Request bodies are capped at 16 MiB, chunked or not (413).
"""

from __future__ import annotations

import contextlib
import io
import queue
import select
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from .engine import Engine
from .faults import CONNECT_TIMEOUT, CONNECTION_RESET, READ_TIMEOUT, SLOW_FIRST_TOKEN, SLOW_STREAM, STREAM_CUT
from .traffic import Answer, Request

ROUTER = "https://router.huggingface.co"
HUB = "https://huggingface.co"
#: how long a stall (read-timeout) holds a connection whose client never gives up
MAX_STALL = 60.0
#: how often the selector thread looks for connections past their idle timeout
_IDLE_CHECK = 0.2
_MAX_BODY = 16 * 1024 * 1024
#: connections the kernel queues before the double accepts them (a parallel suite's burst)
BACKLOG = 1024
#: seconds of silence after which a connection is closed (longer than clients' keep-alive expiry)
IDLE_TIMEOUT = 60.0
#: requests served at once; more wait for a free worker, idle connections never take one
WORKERS = 64


def canonical_url(path: str) -> str:
    """The double's path as the real URL it stands for: ``/api/...`` is the Hub, the rest the router."""
    return (HUB if path.startswith("/api/") else ROUTER) + path


class PortInUse(OSError):
    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"port {port} on {host} is already in use: pick another with --port N, or --port 0 to let the "
            "operating system choose a free one"
        )


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
        except BlockingIOError:  # `_Handler.pending` asks without blocking
            return None

    def head_complete(self) -> bool:
        return b"\r\n\r\n" in self.ahead or b"\n\n" in self.ahead or len(self.ahead) > _MAX_HEAD


class _Server(HTTPServer):
    """Binds and listens only: `RouterDouble` runs the accept loop and the workers."""

    allow_reuse_address = True
    request_queue_size = BACKLOG
    double: RouterDouble


class _Handler(BaseHTTPRequestHandler):
    """One per connection, kept across its requests; the double calls `handle_one_request`."""

    protocol_version = "HTTP/1.1"
    server: _Server

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
        deadline = time.monotonic() + 2.0
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.2)
            dropped = 0
            while time.monotonic() < deadline and dropped < 2 * _MAX_BODY:
                data = self.connection.recv(65536)
                if not data:
                    break
                dropped += len(data)

    def pending(self) -> bool:
        """Whether the next request's bytes are already buffered here (a pipelining client)."""
        peek = getattr(self.rfile, "peek", None)
        if peek is None:
            return False
        try:
            self.connection.setblocking(False)
            return bool(peek(1))
        except (OSError, ValueError):
            return False
        finally:
            with contextlib.suppress(OSError):
                self.connection.settimeout(self.server.double.idle_timeout)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is logged by `_serve` instead

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        double = self.server.double
        try:
            body = self._read_body()
        except BodyTooLarge as exc:
            self.close_connection = True  # the rest of the body is never read
            self._send_plain(413, f"pytest-hfrouter double: request body too large: {exc}")
            double.log(f"{self.command} {self.path} -> 413 (request body too large: {exc})")
            self.refuse_rest()
            return
        except ValueError as exc:
            self.close_connection = True
            self._send_plain(400, f"malformed request: {exc}")
            double.log(f"{self.command} {self.path} -> 400 (malformed request: {exc})")
            return
        request = Request(self.command, canonical_url(self.path), tuple(self.headers.items()), body)
        try:
            answer = double.engine.answer(request)
        except Exception as exc:  # never crash the server on one request
            self._send_plain(500, f"pytest-hfrouter double: {type(exc).__name__}: {exc}")
            double.log(f"{self.command} {self.path} -> 500 ({type(exc).__name__}: {exc})")
            return
        if answer.unanswered or answer.passthrough:
            reason = answer.unanswered or "the double does not proxy to other hosts"
            self._send_plain(404, f"pytest-hfrouter double: no answer for {self.command} {self.path}: {reason}")
            double.log(f"{self.command} {self.path} -> 404 (no answer)")
            return
        fault = answer.fault.type if answer.fault else None
        if fault in (CONNECT_TIMEOUT, READ_TIMEOUT, CONNECTION_RESET):
            double.log(f"{self.command} {self.path} -> {fault} ({answer.source})")
        else:
            double.log(
                f"{self.command} {self.path} -> {answer.status} ({answer.source}{', ' + fault if fault else ''})"
            )
        self._play(answer)

    def _read_body(self) -> bytes | None:
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
                if total > _MAX_BODY:
                    raise BodyTooLarge(f"chunked body over the {_MAX_BODY // 2**20} MiB limit")
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
        if size > _MAX_BODY:
            raise BodyTooLarge(f"Content-Length {size} is over the {_MAX_BODY // 2**20} MiB limit")
        return self.rfile.read(size)

    def _send_plain(self, status: int, text: str) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    # -- playing an answer, faults included ----------------------------------------------
    def _play(self, answer: Answer) -> None:
        fault = answer.fault
        kind = fault.type if fault else None
        if kind in (READ_TIMEOUT, CONNECT_TIMEOUT):
            # Over an open socket a connect timeout cannot happen any more: both stall.
            self._stall(MAX_STALL)
            self._abort(reset=False)
            return
        if kind == CONNECTION_RESET:
            self._abort(reset=True)
            return
        if kind == SLOW_FIRST_TOKEN and fault is not None and self._stall(fault.delay):
            self._abort(reset=False)  # the client gave up first
            return
        chunks = answer.chunks()
        self.send_response(answer.status, answer.reason or None)
        for name, value in answer.headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        if not answer.is_stream:
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self._spared(answer)  # before the last bytes: once it has them, the client may read the call log
            self.wfile.write(answer.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for number, chunk in enumerate(chunks):
            if kind == STREAM_CUT and fault is not None and number == fault.after_chunks:
                self._abort(reset=False)  # a chunked body that never ends
                return
            if kind == SLOW_STREAM and fault is not None and number > 0 and self._stall(fault.delay):
                self._abort(reset=False)
                return
            if number == len(chunks) - 1:  # the last delay is over; a client may stop at this chunk ([DONE])
                self._spared(answer)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        if not chunks:
            self._spared(answer)
        self.wfile.write(b"0\r\n\r\n")

    def _spared(self, answer: Answer) -> None:
        if answer.fault is not None and answer.fault.type in (SLOW_FIRST_TOKEN, SLOW_STREAM):
            self.server.double.engine.spared(answer)  # slow, but the client waited: a success

    def _stall(self, seconds: float) -> bool:
        """Wait ``seconds``; True if the client hung up meanwhile."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if readable:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return True
                except OSError:
                    return True
                time.sleep(min(left, 0.05))  # data pending (a pipelined request): keep stalling
            if self.server.double.stopping.is_set():
                return True
        return False

    def _abort(self, reset: bool) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            if reset:  # SO_LINGER 0: close() sends an RST instead of a FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
            self.connection.close()


class RouterDouble:
    """A real server on ``host:port`` (0: the OS picks) answering through ``engine``."""

    def __init__(
        self,
        engine: Engine,
        host: str = "127.0.0.1",
        port: int = 0,
        log: Callable[[str], None] | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
        workers: int = WORKERS,
    ) -> None:
        self.engine = engine
        self.stopping = threading.Event()
        self._log = log
        self.idle_timeout = idle_timeout
        self.workers = workers
        #: connections a worker is done with, for the selector thread to watch again
        self._returned: queue.SimpleQueue[_Handler] = queue.SimpleQueue()
        #: connections a worker is serving now (cut at `stop`, so that no worker waits on a read)
        self._busy: set[_Handler] = set()
        self._busy_lock = threading.Lock()
        self._wake_read, self._wake_write = socket.socketpair()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hfrouter-double-worker")
        #: every request line logged, in order
        self.lines: list[str] = []
        try:
            self._server = _Server((host, port), _Handler)
        except OSError as exc:
            if exc.errno in (98, 48):  # EADDRINUSE on Linux, macOS
                raise PortInUse(host, port) from None
            raise
        self._server.double = self
        address = self._server.server_address
        self.host, self.port = str(address[0]), int(address[1])
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """Both the router base and the Hub endpoint (``HF_ENDPOINT``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    def log(self, line: str) -> None:
        self.lines.append(line)
        if self._log is not None:
            self._log(line)

    def start(self) -> RouterDouble:
        self.engine.doubles.add(self.netloc)
        self._thread = threading.Thread(target=self._watch, name="hfrouter-double", daemon=True)
        self._thread.start()
        return self

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
        self.engine.doubles.discard(self.netloc)

    # -- the selector thread: accepts, and watches idle connections ---------------------------
    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_write.send(b"\0")

    def _watch(self) -> None:
        listener = self._server.socket
        listener.setblocking(False)
        idle: dict[_Handler, float] = {}  # connection → when it went quiet
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            selector.register(self._wake_read, selectors.EVENT_READ)
            while not self.stopping.is_set():
                for key, _ in selector.select(timeout=min(_IDLE_CHECK, self.idle_timeout)):
                    if key.fileobj is listener:
                        for handler in self._accept():
                            selector.register(handler.connection, selectors.EVENT_READ, handler)
                            idle[handler] = time.monotonic()
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
                    idle[handler] = time.monotonic()
                expired = time.monotonic() - self.idle_timeout
                for handler in [h for h, since in idle.items() if since <= expired]:
                    selector.unregister(handler.connection)
                    del idle[handler]
                    handler.close()
            for handler in idle:
                handler.close()

    @staticmethod
    def _read_head(handler: _Handler) -> bool | None:
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

    def _accept(self) -> Iterator[_Handler]:
        while True:
            try:
                connection, address = self._server.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors, say: the rest stay in the backlog
                self.log(f"cannot accept a connection: {exc!r}")
                return
            connection.settimeout(self.idle_timeout)  # a worker's reads and writes time out too
            yield _Handler(connection, address, self._server)

    # -- a worker: one request (more if they are already buffered), then back to the selector --
    def _serve(self, handler: _Handler) -> None:
        with self._busy_lock:
            self._busy.add(handler)
        try:
            self._serve_requests(handler)
        finally:
            with self._busy_lock:
                self._busy.discard(handler)

    def _serve_requests(self, handler: _Handler) -> None:
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

    def __enter__(self) -> RouterDouble:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def huggingface_hub_pointed_at(base_url: str) -> Iterator[None]:
    """Point an in-process huggingface_hub (any major) at a double: Hub, provider routes, auto route.

    For another process, ``HF_ENDPOINT`` covers the Hub; the router base is the app's own
    setting (``InferenceClient(base_url=...)``, the openai SDK's ``base_url``).
    """
    import importlib

    from huggingface_hub import constants

    from .resets import reset_client_caches

    reset_client_caches()  # mappings cached from another endpoint must not answer for this one
    saved = (constants.ENDPOINT, constants.INFERENCE_PROXY_TEMPLATE)
    providers = importlib.import_module("huggingface_hub.inference._providers")
    auto = getattr(providers, "CONVERSATIONAL_AUTO_ROUTER", None)  # 1.x and 2.x only
    saved_auto = getattr(auto, "base_url", None)
    constants.ENDPOINT = base_url
    constants.INFERENCE_PROXY_TEMPLATE = base_url + "/{provider}"
    if auto is not None:
        auto.base_url = base_url
    try:
        yield
    finally:
        constants.ENDPOINT, constants.INFERENCE_PROXY_TEMPLATE = saved
        if auto is not None:
            auto.base_url = saved_auto
        reset_client_caches()
