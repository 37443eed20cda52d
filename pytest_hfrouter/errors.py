"""Errors and warnings of pytest-hfrouter; every message names the problem and the fix."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest


def closest(given: str, choices: Iterable[str]) -> str | None:
    """The choice ``given`` looks like a typo of (difflib's similarity at least 0.6), else None."""
    import difflib  # only when a name is wrong

    close = difflib.get_close_matches(given, list(choices), n=1)
    return close[0] if close else None


def did_you_mean(given: object, choices: Iterable[str]) -> str:
    """``" Did you mean 'x'?"`` for a wrong name close to one of ``choices``, else ``""``:
    every "unknown name" message of the plugin (options, scenarios, providers, verdicts) ends so."""
    close = closest(str(given), choices)
    return f" Did you mean {close!r}?" if close else ""


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


#: the attribute set on a test's failure that says it exercised nothing it asked for (an outage that
#: never happened, a request nothing answered). An ``xfail`` marker does not absorb such a failure: the
#: failure an ``xfail`` expects is the app's, and this one says the app was never put to the test (an
#: audit: a strict xfail over an outage whose model was mistyped read XFAIL, exit 0)
NOT_EXERCISED = "hfrouter_not_exercised"
