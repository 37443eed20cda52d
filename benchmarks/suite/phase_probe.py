"""Where a session's wall time goes, without a profiler's distortion.

Loaded as a plugin (``-p phase_probe``, from the suite's root). Sums pytest's own phase
durations (setup, call, teardown of every test), times collection and the whole session,
and the time the cyclic garbage collector ran; writes them as JSON to the path in
``HFROUTER_BENCH_PHASES`` when the session ends.
"""

from __future__ import annotations

import gc
import json
import os
import time
from typing import Any

import pytest

_TIMES: dict[str, float] = {"setup": 0.0, "call": 0.0, "teardown": 0.0, "gc": 0.0}
_MARKS: dict[str, float] = {}
_GC_COUNTS = [0]


def _gc_callback(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _MARKS["gc"] = time.perf_counter()
    elif "gc" in _MARKS:
        _TIMES["gc"] += time.perf_counter() - _MARKS.pop("gc")
        _GC_COUNTS[0] += info.get("generation") == 2


def pytest_sessionstart(session: pytest.Session) -> None:
    _MARKS["session"] = time.perf_counter()
    gc.callbacks.append(_gc_callback)


def pytest_collection(session: pytest.Session) -> None:
    _MARKS["collection"] = time.perf_counter()


def pytest_collection_finish(session: pytest.Session) -> None:
    _TIMES["collection"] = time.perf_counter() - _MARKS["collection"]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _TIMES[report.when] += report.duration


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _TIMES["session"] = time.perf_counter() - _MARKS["session"]
    gc.callbacks.remove(_gc_callback)
    target = os.environ.get("HFROUTER_BENCH_PHASES")
    if target:
        with open(target, "w") as out:
            json.dump({**_TIMES, "full_collections": _GC_COUNTS[0]}, out)
