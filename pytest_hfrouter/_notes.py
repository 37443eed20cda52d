"""Things said once per run (an HFRouterWarning), and the text of the vcrpy hand-over."""

from __future__ import annotations

import warnings

import pytest

from .cassettes import Cassette
from .errors import HFRouterWarning

VCR_NOTE = (
    "pytest-hfrouter steps aside for tests marked @pytest.mark.vcr (pytest-recording): vcrpy answers them, "
    "pytest-hfrouter neither intercepts them nor answers for vcrpy (in a recording mode its answers would be "
    "written into the vcrpy cassette). To inject outages on top of a recorded cassette, use "
    "@pytest.mark.hfrouter_cassette(path) with @pytest.mark.hfrouter_outage instead of @pytest.mark.vcr."
)

MOCKS_NOTE = (
    "pytest-hfrouter steps aside for tests that mock HTTP with another library (respx, pytest-httpx, responses, "
    "requests-mock, aioresponses) and use none of its markers or fixtures: their mock answers them, as without "
    "the plugin. To inject an outage into such a test, add an hfrouter marker and let the router and the Hub "
    "through the mock (README: Next to other HTTP mock libraries)."
)

#: the notes already said once in this run (kept here, not in `_keys`: the module that says them is
#: the only one that reads it, and `_running`, which `_keys` names, imports this one)
NOTED: pytest.StashKey[set[str]] = pytest.StashKey()


def note(config: pytest.Config, text: str | None, *, aside: bool = False) -> None:
    """Warn ``text`` once per run (a removed provider, the vcrpy hand-over, an unmatchable interaction).

    ``aside``: a note on a test the plugin steps aside for (it mocks HTTP with another library, or uses
    vcrpy). Where a warnings filter makes warnings errors (``-W error``, ``filterwarnings = error``), it
    is shown as a warning still: it is no fault of the test it happens to come in, which it would fail (an
    audit: a project's own first test that mocked HTTP errored once the plugin was loaded)."""
    if text is None:
        return
    noted = config.stash.setdefault(NOTED, set())
    if text not in noted:
        warning = HFRouterWarning(text if text.startswith("pytest-hfrouter") else f"pytest-hfrouter: {text}")
        try:
            warnings.warn(warning, stacklevel=2)
        except HFRouterWarning:
            if not aside:  # an error where it is said, each time: not said once and then never again
                raise
            noted.add(text)
            with warnings.catch_warnings():
                warnings.simplefilter("always", HFRouterWarning)
                warnings.warn(warning, stacklevel=2)
        else:
            noted.add(text)


def note_at_start(config: pytest.Config, text: str) -> None:
    """`note`, from ``pytest_configure``: through pytest's config-time warnings, so ``-W`` and the ini's
    ``filterwarnings`` apply; one they turn into an error stops the run as a usage error naming it
    (an audit: ``filterwarnings = error`` with a cassette dir not made yet was an INTERNALERROR)."""
    try:
        config.issue_config_time_warning(HFRouterWarning(f"pytest-hfrouter: {text}"), stacklevel=3)
    except HFRouterWarning as exc:
        raise pytest.UsageError(f"{exc} (a warning your warnings filter turns into an error)") from None


def note_unmatchable(config: pytest.Config, cassettes: list[Cassette]) -> None:
    """Interactions of a test's cassettes that no request can match: said once per file and run."""
    noted = config.stash.setdefault(NOTED, set())
    for cassette in cassettes:
        key = f"unmatchable:{cassette.path}"
        if key in noted:
            continue
        noted.add(key)
        lines = cassette.unmatchable()
        if lines:
            note(config, f"{cassette.path}: " + "\n  ".join(lines))


def vcr_conflict(ours: list[str]) -> str:
    """Why a test marked ``vcr`` that also uses hfrouter (``ours``: its markers and fixtures) is refused."""
    return (
        f"pytest-hfrouter: @pytest.mark.vcr and {' and '.join(ours)} on one test: vcrpy answers the requests "
        "before pytest-hfrouter sees them, so an outage would never reach the app and the call log would stay "
        "empty. Keep one: to inject outages on top of a vcrpy cassette, replace @pytest.mark.vcr with "
        "@pytest.mark.hfrouter_cassette('<the cassette>.yaml'); to leave the test to vcrpy, drop the hfrouter "
        "markers and fixtures."
    )
