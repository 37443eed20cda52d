"""Which test a thread works for, so that a test is charged only for its own traffic.

A thread is stamped, when it starts, with the test that started it (directly, or through a
thread it started); work handed to a thread pool carries the test that submitted it. A
request from a thread stamped with another test — a logging thread an earlier test left
behind — or with none (started before any test) is *background*: the engine answers it at
session level and it never fails the test running now.

A thread that a fixture of wider scope than a test starts (a module-scoped Starlette/FastAPI
``TestClient``'s portal, a session's worker) is *shared*: like the fixture, it serves every test
that uses it, so its requests are the test's running at the time, outages included.

The requests such a fixture makes while it is set up (a start-up ping, a warm-up call) meet no
outage of the test being set up (`in_shared_setup`): it is set up once, in whichever test first uses
it, and a failure there is replayed by pytest for every test that uses it (an audit: a module's client
fixture met the first test's outage, and all its tests errored; healthy tests first, all passed).
They are still that test's calls: its cassettes answer them, a recording keeps them.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

#: the node id of the test running now (None between tests), and the thread that runs it
_current: str | None = None
_test_thread: int | None = None
#: the test running now is being set up (its fixtures), not yet run
_setting_up = False
_local = threading.local()
_UNSET = object()
_originals: list[tuple[Any, str, Any]] = []
_installs = 0


def begin(nodeid: str) -> tuple[str | None, int | None]:
    """The test ``nodeid`` runs now, in this thread (its fixtures are set up first); returns what to hand
    to `end`."""
    global _current, _test_thread, _setting_up
    before = (_current, _test_thread)
    _current, _test_thread, _setting_up = nodeid, threading.get_ident(), True
    return before


def set_up() -> None:
    """The test's fixtures are set up: its body runs now."""
    global _setting_up
    _setting_up = False


def end(before: tuple[str | None, int | None] = (None, None)) -> None:
    global _current, _test_thread, _setting_up
    _current, _test_thread = before
    _setting_up = False


#: the stamp of a thread (or pool work) that a fixture of wider scope than a test set going
SHARED = "<shared by the tests>"


def owner() -> str | None:
    """The test the calling thread works for (None: no test)."""
    if threading.get_ident() == _test_thread:
        return _current
    stamp = _stamped()
    return _current if stamp is SHARED else stamp


def _stamped() -> str | None:
    """The stamp of the calling thread (or of the pool work it runs now)."""
    stamp = getattr(_local, "owner", _UNSET)
    if stamp is _UNSET:
        stamp = getattr(threading.current_thread(), "_hfrouter_owner", None)
    return stamp  # type: ignore[return-value]


def _stamp() -> str | None:
    """What a thread or pool work set going now is stamped with: `owner`, or `SHARED` from a
    fixture of wider scope than a test (read from the stack: threads start seldom)."""
    if threading.get_ident() != _test_thread:
        return _stamped()
    if _current is not None and _fixture_scope() not in (None, "function"):
        return SHARED
    return _current


def _fixture_scope() -> str | None:
    """The scope of the fixture being set up in this thread's innermost ``pytest_fixture_setup``."""
    fixtures = sys.modules.get("_pytest.fixtures")
    setup = getattr(getattr(fixtures, "pytest_fixture_setup", None), "__code__", None)
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code is setup:
            return getattr(frame.f_locals.get("fixturedef"), "scope", None)
        frame = frame.f_back
    return None


def is_background() -> bool:
    """True for a thread that does not work for the test running now."""
    if _current is None or threading.get_ident() == _test_thread:
        return False
    return owner() != _current


def in_shared_setup() -> bool:
    """The test running now is being set up, in this thread, by a fixture of wider scope than a test (read
    from the stack, only while the test is set up)."""
    return _setting_up and threading.get_ident() == _test_thread and _fixture_scope() not in (None, "function")


def install() -> None:
    """Stamp threads and pool work with their test (once per process; nested runs share it).

    ``ThreadPoolExecutor.submit`` is patched when ``concurrent.futures`` is loaded: now if it is,
    else when the first thread starts after it is (a pool starts its first worker from its first
    ``submit``, and that worker is stamped with the submitting test, so nothing is missed)."""
    global _installs
    _installs += 1
    if _installs > 1:
        return
    start = threading.Thread.start

    def stamped_start(self: threading.Thread) -> None:
        self._hfrouter_owner = _stamp()  # type: ignore[attr-defined]
        if not _pool_patched and "concurrent.futures.thread" in sys.modules:
            _patch_pool()
        start(self)

    _originals.append((threading.Thread, "start", start))
    threading.Thread.start = stamped_start  # type: ignore[method-assign]
    if "concurrent.futures.thread" in sys.modules:
        _patch_pool()


_pool_patched = False


def _patch_pool() -> None:
    global _pool_patched
    _pool_patched = True
    from concurrent.futures import ThreadPoolExecutor

    submit = ThreadPoolExecutor.submit

    def stamped_submit(self: Any, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return submit(self, _carrying(_stamp(), fn), *args, **kwargs)

    _originals.append((ThreadPoolExecutor, "submit", submit))
    ThreadPoolExecutor.submit = stamped_submit  # type: ignore[method-assign]


def uninstall() -> None:
    global _installs
    _installs = max(0, _installs - 1)
    if _installs:
        return
    global _pool_patched
    for cls, name, original in reversed(_originals):
        setattr(cls, name, original)
    _originals.clear()
    _pool_patched = False


def _carrying(test: str | None, fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        saved = getattr(_local, "owner", _UNSET)
        _local.owner = test
        try:
            return fn(*args, **kwargs)
        finally:
            if saved is _UNSET:
                del _local.owner
            else:
                _local.owner = saved

    return run
