"""The backstop below every library: no connection leaves the process unless allowed.

The faces answer the client libraries they know before any socket opens. Anything else —
``urllib.request``, ``http.client``, a raw socket, a library no face knows — reaches
``socket``; there this guard refuses every name look-up and connection that its `Policy`
does not allow, records it (the test that made it fails; outside a test, the session does)
and raises inside the caller. Loopback, the session's router doubles and ini
``hfrouter_allow_hosts`` pass; in live and record modes so do the router and the Hub.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import re
import socket
import sys
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import HFRouterError
from .faces._patching import LIBRARIES

if TYPE_CHECKING:
    from types import FrameType

#: modules that only carry a connection on its way: the library that tried is the first other one
_CARRIERS = (
    "socket",
    "ssl",
    "selectors",
    "asyncio",
    "concurrent",
    "threading",
    "contextlib",
    "functools",
    "pytest_hfrouter",
    "importlib",
    "_pytest",
    "pluggy",
    "runpy",
    "__main__",
)
#: libraries the faces answer for: a connection from them is one their face let through
FACE_LIBRARIES = LIBRARIES


class BlockedConnection(HFRouterError, ConnectionRefusedError):
    """Raised where a connection (or a name look-up) was refused; the test fails for it."""


class BlockedLookup(HFRouterError, socket.gaierror):
    """A refused name look-up (raised as ``socket.gaierror``, what a resolver failure is)."""


class Policy:
    """Who may be reached. ``active`` is off where the plugin does not act (its scope).

    A plain class, not a dataclass: every run makes one at start-up, where defining a dataclass
    costs more than the rest of this module (docs/ARCHITECTURE.md)."""

    __slots__ = ("active", "allow_loopback", "background_passes", "blocked", "doubles", "hosts", "resolved")

    def __init__(
        self,
        allow_loopback: bool = True,
        hosts: tuple[str, ...] = (),
        doubles: set[str] | None = None,
        blocked: Callable[[str, int | None, str, str], None] = lambda *_: None,
        active: bool = True,
        background_passes: bool = False,
    ) -> None:
        self.allow_loopback = allow_loopback
        #: glob patterns of host names (or addresses) that may be reached
        self.hosts = hosts
        #: ``host:port`` of router doubles: always reachable
        self.doubles: set[str] = set() if doubles is None else doubles
        #: called with (host, port, library, message) for each refusal
        self.blocked = blocked
        self.active = active
        #: scope "marked": a thread that does not work for the running test is not in it (`threads`)
        self.background_passes = background_passes
        #: addresses that allowed host names resolved to (a connection to them is allowed)
        self.resolved: set[str] = set()

    def is_double(self, host: str, port: int | None) -> bool:
        return f"{host}:{port}" in self.doubles or f"[{host}]:{port}" in self.doubles

    def allows(self, host: str, port: int | None) -> bool:
        host = host.lower().strip("[]")
        listed = any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in self.hosts)
        if is_loopback(host):  # a listed loopback host passes even with hfrouter_allow_loopback = false
            if listed or self.is_double(host, port):
                return True
            # a proxy on loopback forwards to the network (an audit: urllib's requests went through a
            # loopback HTTPS_PROXY to the router and to other hosts, and the tests passed)
            return self.allow_loopback and loopback_proxy(port) is None
        return listed or host in self.resolved


_policies: list[Policy] = []
_originals: list[tuple[Any, str, Any]] = []


def install(policy: Policy) -> None:
    _policies.append(policy)
    if _originals:
        return
    connect, connect_ex, getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo
    send, sendall = socket.socket.send, socket.socket.sendall
    sendmsg = getattr(socket.socket, "sendmsg", None)  # not on Windows

    def guarded_connect(self: socket.socket, address: Any) -> None:
        _check_address(self, address)
        connect(self, address)

    def guarded_connect_ex(self: socket.socket, address: Any) -> int:
        _check_address(self, address)
        return connect_ex(self, address)

    def guarded_send(self: socket.socket, data: Any, *args: Any) -> int:
        if _watched and self in _watched:
            _check_sent(self, data)
        return send(self, data, *args)

    def guarded_sendall(self: socket.socket, data: Any, *args: Any) -> None:
        if _watched and self in _watched:
            _check_sent(self, data)
        sendall(self, data, *args)

    def guarded_sendmsg(self: socket.socket, buffers: Any, *args: Any) -> int:
        if _watched and self in _watched:
            buffers = list(buffers)  # an iterable, read once
            _check_sent(self, b"".join(bytes(_head(b)) for b in buffers))
        return sendmsg(self, buffers, *args)  # type: ignore[misc,no-any-return]

    def guarded_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        policy = _active()
        if policy is None or host is None:
            return getaddrinfo(host, port, *args, **kwargs)
        name = host.decode() if isinstance(host, bytes) else str(host)
        if not policy.allows(name, _port(port)):  # refused before a query leaves
            _refuse(policy, name, _port(port), BlockedLookup)
        results = getaddrinfo(host, port, *args, **kwargs)
        if not is_loopback(name):  # what an allowed name resolves to may be connected to
            policy.resolved.update(str(r[4][0]) for r in results)
        return results

    wrappers: list[tuple[Any, str, Any]] = [
        (socket.socket, "connect", guarded_connect),
        (socket.socket, "connect_ex", guarded_connect_ex),
        (socket.socket, "send", guarded_send),
        (socket.socket, "sendall", guarded_sendall),
        (socket, "getaddrinfo", guarded_getaddrinfo),
    ]
    if sendmsg is not None:
        wrappers.append((socket.socket, "sendmsg", guarded_sendmsg))
    for owner, name, wrapper in wrappers:
        _originals.append((owner, name, getattr(owner, name)))
        setattr(owner, name, wrapper)
    guard_loops()


def uninstall(policy: Policy) -> None:
    if policy in _policies:
        _policies.remove(policy)
    if _policies:
        return
    for owner, name, original in reversed(_originals):
        if original is _INHERITED:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
    _originals.clear()
    _loops.clear()


_INHERITED = object()
#: the event-loop classes guarded (`guard_loops`)
_loops: set[type] = set()


def guard_loops() -> None:
    """uvloop's loop resolves names and connects in libuv, below the socket module: its methods that
    reach a host are guarded on its class once it is imported (checked at install and as each test the
    plugin acts in starts; an audit: under uvloop, ``asyncio.open_connection`` reached a refused host)."""
    module = sys.modules.get("uvloop")
    loop = getattr(module, "Loop", None)
    if loop is None or loop in _loops or not _originals:
        return
    _loops.add(loop)

    def wrap(name: str, check: Callable[..., None]) -> None:
        original = getattr(loop, name)

        async def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
            check(*args, **kwargs)
            return await original(self, *args, **kwargs)

        _originals.append((loop, name, loop.__dict__.get(name, _INHERITED)))
        setattr(loop, name, guarded)

    def host_port(host: Any, port: Any, error: type[Exception] = BlockedConnection) -> None:
        policy = _active()
        if policy is not None and isinstance(host, (str, bytes)):
            name = host.decode() if isinstance(host, bytes) else host
            if not policy.allows(name, _port(port)):
                _refuse(policy, name, _port(port), error)

    def connection(protocol_factory: Any, host: Any = None, port: Any = None, *_: Any, **__: Any) -> None:
        host_port(host, port)

    def lookup(host: Any, port: Any, *_: Any, **__: Any) -> None:
        host_port(host, port, BlockedLookup)

    def sock_connect(sock: socket.socket, address: Any) -> None:
        _check_address(sock, address)

    def datagram(protocol_factory: Any, local_addr: Any = None, remote_addr: Any = None, **_: Any) -> None:
        if remote_addr is not None:
            host_port(remote_addr[0], remote_addr[1])

    wrap("create_connection", connection)
    wrap("getaddrinfo", lookup)
    wrap("sock_connect", sock_connect)
    wrap("create_datagram_endpoint", datagram)


#: after a replay session that acted in tests, the router's and the Hub's names stay refused for the rest
#: of the process while no session runs: a thread the app left running, or its ``atexit`` handler, must
#: not reach them with whatever token it holds (README, Network safety)
_after_session: dict[str, Any] = {"closed": frozenset()}


def close_after_session(hosts: frozenset[str]) -> None:
    """Refuse ``hosts`` (names, lower case) while no session is configured; an empty set lifts it."""
    _after_session["closed"] = hosts
    if "getaddrinfo" in _after_session or not hosts:
        return
    getaddrinfo = _after_session["getaddrinfo"] = socket.getaddrinfo

    def after_session_getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        closed = _after_session["closed"]
        if closed and not _policies and host is not None:
            name = (host.decode() if isinstance(host, bytes) else str(host)).lower().rstrip(".")
            if name in closed and not _in_a_later_run():
                message = (
                    f"pytest-hfrouter: a request to {name} after the test session ended (from a thread the app left "
                    "running, or an atexit handler) was refused: in replay no request leaves the process. No test "
                    "fails for it now: end the app's threads in the test (join them, or shut the executor down) or "
                    "in a fixture's teardown, so that its requests are answered and judged"
                )
                sys.stderr.write(message + "\n")
                raise BlockedLookup(socket.EAI_NONAME, message)
        return getaddrinfo(host, port, *args, **kwargs)

    socket.getaddrinfo = after_session_getaddrinfo


_RUNNER = os.path.join("_pytest", "runner.py")


def _in_a_later_run() -> bool:
    """A test of a later pytest run in this process, one without the plugin, is on this thread's stack
    (``pytest.main`` again, with ``-p no:hfrouter``): its requests go where the app sends them."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.endswith(_RUNNER):
            return True
        frame = frame.f_back
    return False


def _active() -> Policy | None:
    policy = _policies[-1] if _policies else None
    if policy is None or not policy.active:
        return None
    if policy.background_passes:
        from . import threads

        if threads.is_background():
            return None
    return policy


def _port(port: Any) -> int | None:
    try:
        return int(port)
    except (TypeError, ValueError):
        return None


def _check_address(sock: socket.socket, address: Any) -> None:
    policy = _active()
    if policy is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # a Unix socket, a socketpair: not the network
    host, port = str(address[0]), _port(address[1])
    if not policy.allows(host, port):
        _refuse(policy, host, port, BlockedConnection)
    if sock.type == socket.SOCK_STREAM and not policy.is_double(host, port):
        _watched[sock] = b""  # allowed: a proxy's tunnel or absolute URL is checked as it is sent


#: allowed stream connections (not a router double's) → the start of a request line sent in pieces: a proxy
#: carries what the guard would refuse (an audit: urllib reached the router through a loopback proxy set in
#: code, or one the message said to allow, and the tests passed). Every request on the connection is read
#: (keep-alive sends several), each send's first line, and a first line split over sends is put together.
_watched: weakref.WeakKeyDictionary[socket.socket, bytes] = weakref.WeakKeyDictionary()
#: what a request line begins with, before its first CRLF has been sent
_LINE_START = re.compile(rb"[A-Z]{1,12}(?: [^\r\n]*)?")


def _head(data: Any) -> memoryview:
    """The first 512 bytes of anything ``send`` accepts (a ctypes structure, a PickleBuffer: no slicing)."""
    try:
        return memoryview(data).cast("B")[:512]
    except (TypeError, ValueError):
        return memoryview(b"")


def _check_sent(sock: socket.socket, data: Any) -> None:
    head = _watched.get(sock, b"") + bytes(_head(data))
    if b"\r\n" in head or len(head) >= 512:
        _watched[sock] = b""
        _check_tunnel(sock, head)
    else:  # no line end yet: the start of a request line is kept for the next send, anything else let go
        _watched[sock] = head if _LINE_START.fullmatch(head) else b""


def _tunnel_target(data: bytes) -> tuple[str, int | None] | None:
    """The host a request line asks a proxy for: ``CONNECT host:port`` or ``GET http://host/...``."""
    line = data.split(b"\r\n", 1)[0].split(b" ")
    if len(line) != 3 or not line[2].startswith(b"HTTP/"):
        return None
    target = line[1].decode("latin-1")
    if line[0] == b"CONNECT":
        host, _, port = target.rpartition(":")
        return host.strip("[]").lower(), _port(port)
    if target.startswith(("http://", "https://")):
        try:
            parts = urlsplit(target)
            return (parts.hostname or ""), parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return None
    return None


def _check_tunnel(sock: socket.socket, data: bytes) -> None:
    """Refuse the first request on an allowed connection when it asks a proxy for a host the guard refuses."""
    policy = _active()
    target = _tunnel_target(data) if policy is not None else None
    if policy is None or target is None or policy.allows(*target):
        return
    host, port = target
    try:
        peer = "{}:{}".format(*sock.getpeername()[:2])
    except OSError:
        peer = "a proxy"
    library = caller_library()
    message = (
        f"{blocked_message(host, port, library)}. It asked {peer}, a proxy the guard lets through, to reach "
        f"{host}: a proxy carries only what the guard allows (hfrouter_allow_hosts names the hosts, not the "
        "proxies that reach them)"
    )
    policy.blocked(host, port, library, message)
    raise BlockedConnection(message)


def _refuse(policy: Policy, host: str, port: int | None, error: type[Exception]) -> None:
    library = caller_library()
    message = blocked_message(host, port, library)
    policy.blocked(host, port, library, message)
    raise error(message)


#: the environment variables whose proxy HTTP libraries use (urllib reads either case)
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def loopback_proxy(port: int | None) -> str | None:
    """The variable that names a proxy on loopback at ``port`` (``HTTPS_PROXY``), else None."""
    for name in PROXY_VARIABLES:
        value = os.environ.get(name)
        if not value:
            continue
        try:
            parts = urlsplit(value if "://" in value else f"http://{value}")
            proxy_port = parts.port or (443 if parts.scheme == "https" else 1080 if "socks" in parts.scheme else 80)
        except ValueError:
            continue
        if parts.hostname and is_loopback(parts.hostname) and proxy_port == port:
            return name
    return None


def blocked_message(host: str, port: int | None, library: str) -> str:
    from ._names import HUB_HOSTS, LEGACY_INFERENCE_HOSTS, ROUTER_HOSTS

    where = f"{host}:{port}" if port is not None else host
    head = (
        f"pytest-hfrouter blocked a connection to {where} (from {library}): nothing leaves the process unless allowed"
    )
    proxy = loopback_proxy(port) if is_loopback(host) else None
    if proxy is not None:
        return (
            f"{head}. {where} is the proxy in {proxy}, which forwards requests to the network. A request the "
            f"plugin intercepts never reaches a proxy in replay; this one went through {library}, which it cannot "
            f"intercept: call the router through {', '.join(FACE_LIBRARIES)}, or, if the test means to use the proxy, "
            f"allow it with the ini key hfrouter_allow_hosts (hfrouter_allow_hosts = {host})"
        )
    if host in ROUTER_HOSTS or host in HUB_HOSTS or host in LEGACY_INFERENCE_HOSTS:
        return (
            f"{head}. This router/Hub call went through {library}, which pytest-hfrouter cannot intercept "
            f"(it answers {', '.join(FACE_LIBRARIES)}): call the router through one of those, or start the "
            "router double (fixture hfrouter_server) and point the client at its URL"
        )
    from .routes import phone_home

    switch = phone_home(host)
    return (
        f"{head}. {host} is not the router: {switch + '; else ' if switch else ''}if the test means to reach it, "
        f"allow it with the ini key hfrouter_allow_hosts (e.g. hfrouter_allow_hosts = {host}), or answer it from a "
        "cassette (@pytest.mark.hfrouter_cassette)"
    )


def caller_library() -> str:
    """The library that opened the connection, and what called it: ``http.client (via urllib.request)``."""
    names: list[str] = []
    frame = sys._getframe(2)
    while frame is not None and len(names) < 3:
        module = str(frame.f_globals.get("__name__", ""))
        if module and not module.startswith(_CARRIERS):
            name = module if module in ("http.client", "urllib.request") else module.split(".")[0]
            if name not in names:
                names.append(name)
        frame = frame.f_back  # type: ignore[assignment]
    if not names:
        return "an unknown caller"
    return names[0] + (f" (via {', '.join(names[1:])})" if names[1:] else "")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False
