"""A client's TLS context, made when the client first shakes hands rather than when it is built.

A real ``httpx(2).HTTPTransport`` makes its SSL context as it is created, and loading the
certificate authorities' bundle into it is the single most expensive thing a test run under
the plugin did before its first test (a quarter of a billion CPU instructions: ``create_ssl_context()``
takes about 20 ms on the benchmark's machine, in every process and xdist worker). A replayed request
never opens a connection, so in replay the bundle is never needed.

`deferred` wraps a library's ``create_ssl_context``. For the default arguments (``verify=True``,
no client certificate; an ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` that is there) it returns a
`DeferredContext`: a real `ssl.SSLContext` (``isinstance`` holds, for asyncio's ``start_tls``
and the like) that makes the library's own context on first use — a handshake, a setting read
or changed — and hands every attribute to it. So a connection made through it (live, a
loopback server, a recording) verifies exactly as without the plugin. Its own, unused C state
is a client context with no certificate authority: code that reached it directly could not
trust any server (it fails closed). Any other argument (a context of the app's own, a path,
``verify=False``, a bundle named but missing) goes to the library at once, as it would without
the plugin, and fails where it would. Two things move to the first handshake: the reading of a
named bundle that is there but cannot be parsed, and of the environment variables themselves
(a test that changes them after building its client gets the new ones). Only while the plugin
acts, though: in scope "marked", a client built at import or in a test that did not ask gets its
context at once, as without the plugin.
"""

from __future__ import annotations

import functools
import os
import ssl
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()


class DeferredContext(ssl.SSLContext):
    """The SSL context ``make()`` returns, made at its first use; every attribute is its."""

    def __new__(cls, make: Callable[[], ssl.SSLContext]) -> DeferredContext:
        self = super().__new__(cls, ssl.PROTOCOL_TLS_CLIENT)
        object.__setattr__(self, "_hfrouter_make", make)
        object.__setattr__(self, "_hfrouter_real", None)
        return self

    def __init__(self, make: Callable[[], ssl.SSLContext]) -> None:
        pass

    @property
    def made(self) -> bool:
        """Whether the real context exists yet (read without making it)."""
        return object.__getattribute__(self, "_hfrouter_real") is not None

    def _hfrouter_context(self) -> ssl.SSLContext:
        real: ssl.SSLContext | None = object.__getattribute__(self, "_hfrouter_real")
        if real is None:
            with _lock:  # two threads' first connections at once: one context
                real = object.__getattribute__(self, "_hfrouter_real")
                if real is None:
                    real = object.__getattribute__(self, "_hfrouter_make")()
                    object.__setattr__(self, "_hfrouter_real", real)
        return real

    def __getattribute__(self, name: str) -> Any:
        if name in _OWN:
            return object.__getattribute__(self, name)
        return getattr(object.__getattribute__(self, "_hfrouter_context")(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(object.__getattribute__(self, "_hfrouter_context")(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(object.__getattribute__(self, "_hfrouter_context")(), name)

    def __repr__(self) -> str:
        state = "made" if self.made else "not made yet"
        return f"<DeferredContext ({state})>"


_OWN = frozenset({"__class__", "__dict__", "made", "_hfrouter_context", "__repr__"})


def deferred(create: Callable[..., ssl.SSLContext], acting: Callable[[], bool]) -> Callable[..., ssl.SSLContext]:
    """``create_ssl_context`` of httpx or httpx2, deferred for its default arguments while the plugin
    acts (``acting``: scope "all", or a test that asked in scope "marked"); elsewhere made at once,
    as without the plugin."""

    @functools.wraps(create)
    def create_ssl_context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> ssl.SSLContext:
        if verify is True and not cert and _bundle_exists(trust_env) and acting():
            return DeferredContext(functools.partial(create, verify=True, cert=None, trust_env=trust_env))
        return create(verify=verify, cert=cert, trust_env=trust_env)

    return create_ssl_context


def _bundle_exists(trust_env: bool) -> bool:
    """Whether the bundle that ``SSL_CERT_FILE`` or ``SSL_CERT_DIR`` names (honoured in this
    order, as both libraries do) is there: a missing one fails at the client's creation, as
    without the plugin, because the library is then called at once."""
    if not trust_env:
        return True
    if cafile := os.environ.get("SSL_CERT_FILE"):
        return os.path.isfile(cafile)
    if capath := os.environ.get("SSL_CERT_DIR"):
        return os.path.isdir(capath)
    return True
