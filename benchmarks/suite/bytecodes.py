"""Where pytest-hfrouter's own work per test goes, in bytecodes: a measurement plugin.

    cd <a generated suite> && PYTHONPATH=<this folder> \
        python -m pytest -q -p hfrouter -p bytecodes --hfrouter-report=r.json

From the test loop's start to the session's end (the report written), it counts every bytecode
executed in a frame of ``pytest_hfrouter`` (per function), and every bytecode of other packages'
code that such a function called (attributed to the innermost plugin function on the stack: httpx
building a response, a dataclass's generated ``__init__``, ``re`` compiling a pattern). Printed per
test collected. A trace function runs on every bytecode, so the run is
many times slower; the counts do not move between runs. Bytecodes are not instructions: a local load
costs a few, an attribute look-up or a call many (``instructions.py`` counts those).
"""

from __future__ import annotations

import collections
import os
import sys
from types import FrameType
from typing import Any

import pytest

_OWN: collections.Counter[tuple[str, str]] = collections.Counter()
_CALLED: collections.Counter[tuple[str, str]] = collections.Counter()
_PACKAGE = "pytest_hfrouter" + os.sep


def _name(code: Any) -> tuple[str, str]:
    return code.co_filename.rsplit(_PACKAGE, 1)[-1], code.co_name


def _plugin_caller(frame: FrameType) -> tuple[str, str] | None:
    caller = frame.f_back
    for _ in range(60):
        if caller is None:
            return None
        if _PACKAGE in caller.f_code.co_filename:
            return _name(caller.f_code)
        caller = caller.f_back
    return None


def _tracer(frame: FrameType, event: str, arg: Any) -> Any:
    if _PACKAGE in frame.f_code.co_filename:
        key, counter = _name(frame.f_code), _OWN
    else:
        found = _plugin_caller(frame)
        if found is None:
            return None
        key, counter = found, _CALLED
    frame.f_trace_opcodes = True

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "opcode":
            counter[key] += 1
        return local

    return local


def pytest_runtestloop(session: pytest.Session) -> None:
    sys.settrace(_tracer)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    sys.settrace(None)
    tests = session.testscollected or 1
    lines = [
        f"bytecodes per test ({tests} tests): the plugin's own {sum(_OWN.values()) / tests:.0f}, "
        f"other packages' code it called {sum(_CALLED.values()) / tests:.0f}",
        "",
        "| per test | function | own or called |",
        "|---:|---|---|",
    ]
    rows = [(n, key, "own") for key, n in _OWN.items()] + [(n, key, "called") for key, n in _CALLED.items()]
    for n, (path, function), kind in sorted(rows, reverse=True)[:40]:
        lines.append(f"| {n / tests:.1f} | `{path}:{function}` | {kind} |")
    print("\n" + "\n".join(lines))
