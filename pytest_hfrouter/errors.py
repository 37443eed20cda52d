"""Errors and warnings of pytest-hfrouter; every message names the problem and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest


class HFRouterError(Exception):
    """Base class of the plugin's errors."""


class CassetteError(HFRouterError):
    """A cassette file that cannot be used; names the file and what is wrong with it."""

    def __init__(self, problem: str, path: Path | None = None) -> None:
        self.problem = problem
        self.path = path
        super().__init__(f"{path}: {problem}" if path else problem)


class ScenarioError(HFRouterError):
    """An unknown scenario name or a malformed scenario file."""


class UnansweredRequest(HFRouterError):
    """Raised inside the app's HTTP call when nothing may answer it (the test then fails)."""


class HFRouterWarning(pytest.PytestWarning):
    """Warnings of pytest-hfrouter (filter with ``-W error::pytest_hfrouter.HFRouterWarning``)."""
