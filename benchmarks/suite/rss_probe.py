"""Memory probe for the long session: the process's RSS at points through the run.

Loaded as a plugin (``-p rss_probe``, from the suite's root) so it sits beside any conftest.
Samples VmRSS after collection and every 250 tests (after a ``gc.collect()``), and writes
``{"tests": [...], "rss_kib": [...]}`` to the path in ``HFROUTER_BENCH_RSS`` at the end.
"""

from __future__ import annotations

import gc
import json
import os

import pytest

_SAMPLES: list[tuple[int, int]] = []
_DONE = [0]


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.collect()
    _SAMPLES.append((0, _rss_kib()))


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    _DONE[0] += 1
    if _DONE[0] % 250 == 0:
        gc.collect()
        _SAMPLES.append((_DONE[0], _rss_kib()))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get("HFROUTER_BENCH_RSS")
    if target:
        with open(target, "w") as out:
            json.dump({"tests": [t for t, _ in _SAMPLES], "rss_kib": [r for _, r in _SAMPLES]}, out)
