"""Each test's time split three ways: the plugin's hooks, the HTTP transport, and the rest.

Loaded as a plugin (``-p segment_probe``, from the suite's root) by ``segments.py``. From
collection's end it wraps:

- every ``pytest_runtest_*`` implementation of ``pytest_hfrouter`` or ``shape_hooks``: a plain
  hook's whole call, a wrapper's own parts (before its ``yield`` and after it, not the test
  inside it);
- ``httpx2.HTTPTransport.handle_request`` (pytest-hfrouter answers there) and
  ``httpx2.MockTransport.handle_request`` (the floor answers there);
- each test's run protocol, outermost.

Natively it sums the nanoseconds of each per test and writes them, as JSON, to the path in
``HFROUTER_BENCH_SEGMENTS``. Under ``valgrind --tool=callgrind --collect-atstart=no`` with
``HFROUTER_BENCH_TOGGLE`` set to ``protocol``, ``hooks`` or ``transport``, it also switches
callgrind's collection on and off around that segment (``CALLGRIND_TOGGLE_COLLECT``, from the
small C library ``HFROUTER_BENCH_TOGGLE_LIB`` names): callgrind then counts only that segment,
from the second test on (the first pays for imports).
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import time
from collections.abc import Callable, Generator
from typing import Any

import pytest

_OWNERS = ("pytest_hfrouter", "shape_hooks")
_now = time.perf_counter_ns
#: nanoseconds so far, per segment
_spent = {"hooks": 0, "transport": 0}
#: per test after the first: (protocol, hooks, transport) nanoseconds
_rows: list[tuple[int, int, int]] = []
_counting = [False]

_collected = os.environ.get("HFROUTER_BENCH_TOGGLE", "")
if _collected:
    import ctypes

    _switch = ctypes.CDLL(os.environ["HFROUTER_BENCH_TOGGLE_LIB"]).hfrouter_toggle_collect

    def _toggle(segment: str) -> None:
        if _counting[0] and segment == _collected:
            _switch()
else:

    def _toggle(segment: str) -> None:
        pass


def _plain(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def timed(*args: Any) -> Any:
        _toggle("hooks")
        started = _now()
        try:
            return function(*args)
        finally:
            _spent["hooks"] += _now() - started
            _toggle("hooks")

    return timed


def _step(generator: Generator[Any, Any, Any], how: str, value: Any) -> tuple[bool, Any]:
    """One step of a hook wrapper, timed: (finished, what it yielded or returned)."""
    _toggle("hooks")
    started = _now()
    try:
        if how == "send":
            return False, generator.send(value)
        return False, generator.throw(value)
    except StopIteration as stop:
        return True, stop.value
    finally:
        _spent["hooks"] += _now() - started
        _toggle("hooks")


def _wrapper(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def timed(*args: Any) -> Generator[Any, Any, Any]:
        generator = function(*args)
        done, value = _step(generator, "send", None)
        while not done:
            try:
                sent = yield value
            except BaseException as exc:  # handed to the wrapped hook, as pluggy would
                done, value = _step(generator, "throw", exc)
            else:
                done, value = _step(generator, "send", sent)
        return value

    return timed


def _transport(handle: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(handle)
    def timed(self: Any, request: Any) -> Any:
        _toggle("transport")
        started = _now()
        try:
            return handle(self, request)
        finally:
            _spent["transport"] += _now() - started
            _toggle("transport")

    return timed


def pytest_collection_finish(session: pytest.Session) -> None:
    hooks = session.config.pluginmanager.hook
    for name in dir(hooks):
        if not name.startswith("pytest_runtest_"):
            continue
        for impl in getattr(hooks, name).get_hookimpls():
            if (getattr(impl.function, "__module__", None) or "").startswith(_OWNERS):
                impl.function = (_wrapper if impl.wrapper or impl.hookwrapper else _plain)(impl.function)
    import httpx2

    for transport in (httpx2.HTTPTransport, httpx2.MockTransport):
        transport.handle_request = _transport(transport.handle_request)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, Any, Any]:
    hooks, transport = _spent["hooks"], _spent["transport"]
    _toggle("protocol")
    started = _now()
    try:
        return (yield)
    finally:
        took = _now() - started
        _toggle("protocol")
        if _counting[0]:
            _rows.append((took, _spent["hooks"] - hooks, _spent["transport"] - transport))
        _counting[0] = True


def _write() -> None:
    target = os.environ.get("HFROUTER_BENCH_SEGMENTS")
    if target:
        with open(target, "w") as out:
            json.dump(_rows, out)


atexit.register(_write)
