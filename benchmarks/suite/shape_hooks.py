"""Empty hooks of the kinds pytest-hfrouter implements, for ``instructions.py``'s lower bound.

Loaded with ``-p shape_hooks`` on the floor's suite with the marker on every test (``c1h``): what
any plugin that reads a marker per test and hooks in where pytest-hfrouter does pays before it
answers anything. Each hook does the least of the plugin's work: it reads the test's markers where
the plugin reads them, and nothing else.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for _ in metafunc.definition.iter_markers():
        pass


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for _ in item.iter_markers():
        pass


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    return (yield)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    pass


class _Reports:
    """The report wrapper, on a registered object as the plugin's run session has it."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        return (yield)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_Reports(), "shape-hooks-reports")
