"""The router double: the engine behind a real HTTP/1.1 server on loopback.

It serves the router's paths (``/{provider}/...``, ``/v1/chat/completions``) and the Hub's
(``/api/models/...``) from one port, so a client pointed at it — huggingface_hub through
``HF_ENDPOINT`` and the router base, the openai SDK through ``base_url``, a Gradio app in a
subprocess, a JavaScript client — works unchanged. Answers come from the same engine and
rule objects as in-process replay; transport faults are played for real: a reset is an RST
(``SO_LINGER 0``), a stall is a stall, a cut stream is a chunked body that stops.

The connections are run by `serving` (a bounded server, built for a busy parallel suite and
for abuse); this module answers each request.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
from collections.abc import Callable, Iterator
from typing import Any

from ._clock import REAL
from .engine import Engine
from .faults import hang_message
from .serving import IDLE_TIMEOUT, WORKERS, BodyTooLarge, ConnectionHandler, Listener, Serving
from .traffic import Answer, Request

ROUTER = "https://router.huggingface.co"
HUB = "https://huggingface.co"
#: how long a stall (read-timeout) holds a connection whose client never gives up
MAX_STALL = 60.0


def canonical_url(path: str) -> str:
    """The double's path as the real URL it stands for: ``/api/...`` is the Hub, the rest the router."""
    return (HUB if path.startswith("/api/") else ROUTER) + path


class PortInUse(OSError):
    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"port {port} on {host} is already in use: pick another with --port N, or --port 0 to let the "
            "operating system choose a free one"
        )


class _Server(Listener):
    double: RouterDouble


class _Handler(ConnectionHandler):
    """Answers one request at a time through the double's engine, faults played for real."""

    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is logged by `_serve` instead

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        double = self.server.double
        try:
            body = self.read_body()
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
            reason = answer.unanswered or (
                "under --live only the test's outage rules and cassettes answer here: the double does not forward "
                "to the live router (the test's in-process clients do)"
                if answer.source == "live"
                else "the double does not proxy to other hosts"
            )
            self._send_plain(404, f"pytest-hfrouter double: no answer for {self.command} {self.path}: {reason}")
            double.log(f"{self.command} {self.path} -> 404 (no answer)")
            return
        fault = answer.fault.type if answer.fault else None
        if answer.fault is not None and answer.fault.kind.before_response:
            double.log(f"{self.command} {self.path} -> {fault} ({answer.source})")
        else:
            double.log(
                f"{self.command} {self.path} -> {answer.status} ({answer.source}{', ' + fault if fault else ''})"
            )
        self._play(answer, request)

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
    def _play(self, answer: Answer, request: Request) -> None:
        """The answer on the socket, its fault's `Play` (faults.py) done for real."""
        fault = answer.fault
        play = fault.kind.play if fault is not None else None
        if play in ("stall-read", "stall-connect"):
            # Over an open socket a connect timeout cannot happen any more: both stall.
            gave_up = self._stall(MAX_STALL)
            if not gave_up and fault is not None:  # a real provider would still be stalling: the test fails
                self.server.double.engine.would_hang(
                    request, f"{hang_message(fault)} (the router double closed it after {MAX_STALL:g} s)"
                )
            self._abort(reset=False)
            return
        if play == "reset":
            self._abort(reset=True)
            return
        if play == "slow-head" and fault is not None and self._stall(fault.delay):
            self._abort(reset=False)  # the client gave up first
            return
        # the chunks before a cut (a stream's events, a halved body's first half), then the connection dies
        cut_at = fault.after_chunks if play == "cut" and fault is not None else None
        chunks = answer.chunks()
        # the answer's own headers, Server included, and the Date of now in place of the recorded one
        self.log_request(answer.status)
        self.send_response_only(answer.status, answer.reason or None)
        self.send_header("Date", self.date_time_string())
        for name, value in answer.headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection", "date"):
                self.send_header(name, value)
        if not answer.is_stream:
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if cut_at is not None:  # short of Content-Length
                self.wfile.write(b"".join(chunks[:cut_at]) if len(chunks) > 1 else b"")
                self._abort(reset=False)
                return
            self._spared(answer)  # before the last bytes: once it has them, the client may read the call log
            self.wfile.write(answer.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for number, chunk in enumerate(chunks):
            if number == cut_at:
                self._abort(reset=False)  # a chunked body that never ends
                return
            if play == "slow-chunks" and fault is not None and number > 0 and self._stall(fault.delay):
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
        if answer.fault is not None and answer.fault.kind.slow:
            self.server.double.engine.spared(answer)  # slow, but the client waited: a success

    def _stall(self, seconds: float) -> bool:
        """Wait ``seconds``; True if the client hung up meanwhile."""
        deadline = REAL.monotonic() + seconds  # the real clock: a test may freeze time (freezegun)
        while (left := deadline - REAL.monotonic()) > 0:
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if readable:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return True
                except OSError:
                    return True
                REAL.sleep(min(left, 0.05))  # data pending (a pipelined request): keep stalling
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
        self._log = log
        self.idle_timeout = idle_timeout
        self.workers = workers
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
        self._serving = Serving(self._server, self.log, idle_timeout, workers)
        #: set when the double stops: a stalled answer gives up waiting
        self.stopping = self._serving.stopping

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
        self._serving.start("hfrouter-double")
        return self

    def stop(self) -> None:
        self._serving.stop()
        self.engine.doubles.discard(self.netloc)

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
