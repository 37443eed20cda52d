"""The outage coverage report (JSON, Markdown, HTML), its merge across shards, and the ``hfrouter`` command."""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import FRESH_LOOKUPS, InnerRun

from pytest_hfrouter.coverage import ANY, catalog, markdown, matrix, merge
from pytest_hfrouter.library import library_dir, shipped_library
from pytest_hfrouter.report import SCHEMA, report_problem

HFROUTER = Path(sys.executable).parent / "hfrouter"
MODEL = "Qwen/Qwen2.5-72B-Instruct"

SUITE = """
import pytest

from hfapp import chat


def with_fallback():
    for provider in ("novita", "together"):
        try:
            return chat(provider)
        except Exception:
            continue
    raise AssertionError("every provider failed")


@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_fallback(hfrouter):
    assert with_fallback().choices[0].message.content
    assert hfrouter.answered == "together"


@pytest.mark.hfrouter_outage("rate-limited-429", provider="novita")
def test_no_fallback():
    assert chat("novita").choices[0].message.content


@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_storm():
    for _ in range(5):
        try:
            chat("novita")
        except Exception:
            pass


@pytest.mark.hfrouter_outage("stream-cut", provider="together")
def test_skipped():
    pytest.skip("not today")


def test_healthy():
    assert chat("together").choices[0].message.content
"""


def run_suite(hfapp: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    hfapp.makepyfile(test_suite=SUITE)
    result = hfapp.runpytest("-p", "hfrouter", "--hfrouter-report=r.json", *args)
    return result, json.loads((hfapp.path / "r.json").read_text())


def test_replay_report_holds_outcomes_structured_calls_and_the_matrix(hfapp: pytest.Pytester) -> None:
    result, data = run_suite(hfapp, "--hfrouter-summary=s.md")
    result.assert_outcomes(passed=3, failed=1, skipped=1)
    assert data["schema"] == "pytest-hfrouter/report/2" and data["mode"] == "replay"
    tests = {t["test"].split("::")[1]: t for t in data["tests"]}
    assert {name: t["outcome"] for name, t in tests.items()} == {
        "test_fallback": "passed",
        "test_no_fallback": "failed",
        "test_storm": "passed",
        "test_skipped": "skipped",
        "test_healthy": "passed",
    }
    fallback = tests["test_fallback"]
    assert fallback["scenarios"] == ["provider-500"] and fallback["met"] == [["novita", "provider-500"]]
    inference = [c for c in fallback["calls"] if c["route"] == "provider"]
    assert [{k: c[k] for k in ("provider", "model", "task", "status", "fault", "answered_by")} for c in inference] == [
        {
            "provider": "novita",
            "model": MODEL,
            "task": "chat-completion",
            "status": 500,
            "fault": None,
            "answered_by": "scenario:provider-500",
        },
        {
            "provider": "together",
            "model": MODEL,
            "task": "chat-completion",
            "status": 200,
            "fault": None,
            "answered_by": "healthy",
        },
    ]
    assert [v["name"] for v in tests["test_storm"]["verdicts"]] == ["retry-storm", "no-backoff"]
    assert tests["test_skipped"]["calls"] == [] and tests["test_healthy"]["scenarios"] == []
    cells = data["coverage"]["cells"]
    assert cells["novita"]["provider-500"]["tests"] == ["test_suite.py::test_fallback", "test_suite.py::test_storm"]
    assert (cells["novita"]["provider-500"]["passed"], cells["novita"]["rate-limited-429"]["failed"]) == (2, 1)
    assert "stream-cut" not in cells.get("together", {})  # the skipped test made no call: it met nothing
    assert set(data["scenarios"]) == set(shipped_library().scenarios)
    gaps = data["coverage"]["gaps"]
    assert "rate-limited-429" in gaps["together"] and "provider-500" not in gaps["novita"]
    assert "stream-cut" not in gaps["together"]  # stream-only: no streamed call was made
    summary = (hfapp.path / "s.md").read_text().splitlines()
    assert summary[:3] == [
        "## pytest-hfrouter: outage coverage",
        "",
        "5 test(s): 3 passed, 1 failed, 1 skipped; 2 provider x scenario pair(s) met",
    ]
    assert "| scenario | novita | together |" in summary
    assert "| `provider-500` | ✅ 2 | — |" in summary
    assert "| `rate-limited-429` | ❌ 1/1 failed | — |" in summary
    assert any(line.startswith("- together: no test meets ") and "rate-limited-429" in line for line in summary)
    assert "- `test_suite.py::test_no_fallback`: rate-limited-429" in summary


def test_a_hub_outage_counts_for_the_provider_each_look_up_was_for(hfapp: pytest.Pytester) -> None:
    """A Hub outage the app met while calling novita, then together, counted for novita only (the rule's
    provider) or for ``(any)``, and together's gaps still listed it (an audit of the report)."""
    hfapp.makepyfile(
        test_hub="""
        import pytest
        from hfapp import chat

        def each_provider():
            failed = []
            for provider in ("novita", "together"):
                try:
                    chat(provider)
                except Exception:
                    failed.append(provider)
            return failed

        @pytest.mark.hfrouter_outage("hub-unavailable", provider="novita")
        def test_named(hfrouter):
            assert each_provider() == ["novita", "together"]  # the Hub is down for every look-up

        @pytest.mark.hfrouter_outage("hub-unavailable")
        def test_unnamed(hfrouter):
            assert each_provider() == ["novita", "together"]
        """
    )
    result = hfapp.runpytest("-p", "hfrouter", "--hfrouter-report=r.json")
    result.assert_outcomes(passed=2)
    data = json.loads((hfapp.path / "r.json").read_text())
    met = {t["test"].split("::")[1]: t["met"] for t in data["tests"]}
    both = [["novita", "hub-unavailable"], ["together", "hub-unavailable"]]
    assert met == {"test_named": both, "test_unnamed": both}
    coverage = data["coverage"]
    assert coverage["providers"] == ["novita", "together"]
    assert all("hub-unavailable" not in gaps for gaps in coverage["gaps"].values())


def test_xdist_report_is_the_same_as_one_process(hfapp: pytest.Pytester) -> None:
    _, alone = run_suite(hfapp)
    result, spread = run_suite(hfapp, "-n", "2")
    result.assert_outcomes(passed=3, failed=1, skipped=1)

    def by_test(data: dict[str, Any]) -> dict[str, Any]:
        return {
            t["test"]: (t["outcome"], t["met"], len(t["calls"]), [v["name"] for v in t["verdicts"]])
            for t in data["tests"]
        }

    assert by_test(spread) == by_test(alone)
    assert spread["coverage"] == alone["coverage"]  # each cell's tests in one order (by node id), not completion order
    assert spread["scenarios"] == alone["scenarios"]  # a worker's catalog: the controller loads no library


RERUN_SUITE = """
import pytest

from hfapp import chat

ATTEMPTS = []


@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_flaky():
    ATTEMPTS.append(1)
    if len(ATTEMPTS) == 1:  # the first attempt hammers novita (a retry storm), then fails
        for _ in range(5):
            try:
                chat("novita")
            except Exception:
                pass
        raise AssertionError("first attempt")
    with pytest.raises(Exception):
        chat("novita")
    assert chat("together").choices[0].message.content
"""


def test_a_rerun_test_is_reported_by_its_last_attempt(hfapp: pytest.Pytester, inner_run: InnerRun) -> None:
    """pytest-rerunfailures runs a failed test again: each attempt's record and verdicts went into the
    report, so a test that passed on its rerun counted as failed under the outage (found by an audit)."""
    pytest.importorskip("pytest_rerunfailures")
    hfapp.makepyfile(test_rerun=RERUN_SUITE)

    result = inner_run(hfapp, "-p", "hfrouter", "--reruns", "1", "--hfrouter-report=r.json", "--hfrouter-summary=s.md")

    assert {k: v for k, v in result.parseoutcomes().items() if k != "seconds"} == {"passed": 1, "rerun": 1}
    report = json.loads((hfapp.path / "r.json").read_text())
    assert [(t["test"], t["outcome"]) for t in report["tests"]] == [("test_rerun.py::test_flaky", "passed")]
    assert report["verdicts"] == []  # the storm was the first attempt's
    cell = report["coverage"]["cells"]["novita"]["provider-500"]
    assert (cell["passed"], cell["failed"], cell["tests"]) == (1, 0, ["test_rerun.py::test_flaky"])
    summary = (hfapp.path / "s.md").read_text()
    assert "1 test(s): 1 passed" in summary, summary


RETRIES_IN_ITS_REPORT_HOOK = """
import pytest


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    # pytest-retry's way: a failed call is run again inside the report hook (teardown, setup, call through the
    # hooks, no report hook of theirs), and the first report takes the last attempt's outcome
    outcome = yield
    report = outcome.get_result()
    if call.when != "call" or not report.failed:
        return
    hook = item.ihook
    pytest.CallInfo.from_call(lambda: hook.pytest_runtest_teardown(item=item, nextitem=None), when="teardown")
    item._initrequest()
    pytest.CallInfo.from_call(lambda: hook.pytest_runtest_setup(item=item), when="setup")
    again = pytest.CallInfo.from_call(lambda: hook.pytest_runtest_call(item=item), when="call")
    retried = pytest.TestReport.from_item_and_call(item, again)
    report.outcome, report.longrepr = retried.outcome, retried.longrepr
"""


def test_a_test_run_again_inside_the_report_hook_is_reported_by_its_last_attempt(
    hfapp: pytest.Pytester, inner_run: InnerRun
) -> None:
    """An audit: pytest-retry runs a failed call again inside its report hook; the report kept the first
    attempt's outcome (failed) and its verdicts (a retry storm) for a test that passed on its retry."""
    hfapp.makeconftest(RETRIES_IN_ITS_REPORT_HOOK)
    hfapp.makepyfile(test_rerun=RERUN_SUITE)

    result = inner_run(hfapp, "-p", "hfrouter", "--hfrouter-report=r.json")

    result.assert_outcomes(passed=1)
    report = json.loads((hfapp.path / "r.json").read_text())
    assert [(t["test"], t["outcome"]) for t in report["tests"]] == [("test_rerun.py::test_flaky", "passed")]
    assert report["verdicts"] == [] and report["tests"][0]["verdicts"] == []  # the storm was the first attempt's
    assert [c["status"] for c in report["tests"][0]["calls"]] == [500, 200]  # the last attempt's calls
    result.stdout.no_fnmatch_line("*resilience verdicts*")


TEARDOWN_ERROR_SUITE = """
import pytest

from hfapp import chat


@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown broke")


@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_falls_back_then_its_teardown_fails(broken_teardown):
    with pytest.raises(Exception):
        chat("novita")
    assert chat("together").choices[0].message.content
"""


def test_a_test_whose_teardown_fails_keeps_its_calls(hfapp: pytest.Pytester, inner_run: InnerRun) -> None:
    """A fixture's teardown that raises stopped the plugin's own teardown: the test's calls and the
    outage it met were lost from every output (found by an audit of the outputs)."""
    hfapp.makepyfile(test_teardown=TEARDOWN_ERROR_SUITE)

    result = inner_run(hfapp, "-p", "hfrouter", "--hfrouter-report=r.json")

    result.assert_outcomes(passed=1, errors=1)
    (record,) = json.loads((hfapp.path / "r.json").read_text())["tests"]
    assert record["outcome"] == "failed", record  # its teardown failed: not a test that came through
    assert [tuple(pair) for pair in record["met"]] == [("novita", "provider-500")]
    assert [call["status"] for call in record["calls"] if call["route"] == "provider"] == [500, 200]


#: On the xdist controller only, the shipped library refuses to load.
CONTROLLER_LOADS_NO_LIBRARY = """
from pytest_hfrouter import library


def pytest_configure(config):
    if hasattr(config, "workerinput"):
        return
    def refuse():
        raise AssertionError("the xdist controller loaded the shipped library")
    kept = library.shipped_library
    library.shipped_library = refuse
    config.add_cleanup(lambda: setattr(library, "shipped_library", kept))
"""


def test_the_xdist_controller_writes_the_report_with_a_workers_catalog(hfapp: pytest.Pytester) -> None:
    """The workers loaded the library to answer their tests; the controller takes the scenario catalog
    they hand it and loads nothing itself (the last thing it did before writing, ~25 ms)."""
    hfapp.makeconftest(FRESH_LOOKUPS + CONTROLLER_LOADS_NO_LIBRARY)
    result, spread = run_suite(hfapp, "-n", "2")
    result.assert_outcomes(passed=3, failed=1, skipped=1)
    assert set(spread["scenarios"]) == set(shipped_library().scenarios)
    assert spread["coverage"]["gaps"]  # computed from that catalog


def test_summary_is_written_in_replay_and_says_when_nothing_was_met(
    pytester: pytest.Pytester, hfapp: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    step = pytester.path / "step.md"
    step.write_text("# before\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    pytester.makepyfile(test_plain="def test_plain(): pass")
    pytester.runpytest("-p", "hfrouter", "test_plain.py").assert_outcomes(passed=1)
    assert step.read_text() == "# before\n"  # no router call at all: the step summary is left alone
    pytester.makepyfile(  # a call to another host (refused: it fails the test) is no router call either
        test_elsewhere="""
        import httpx

        def test_elsewhere():
            httpx.get("http://nonexistent.invalid/")
        """
    )
    pytester.runpytest("-p", "hfrouter", "test_elsewhere.py").assert_outcomes(failed=1)
    assert step.read_text() == "# before\n"
    pytester.runpytest("-p", "hfrouter", "test_plain.py", "--hfrouter-summary=s.md").assert_outcomes(passed=1)
    assert "No test met an outage scenario." in (pytester.path / "s.md").read_text()
    assert step.read_text() == "# before\n"  # still no router call: the run's own file only
    hfapp.makepyfile(test_suite=SUITE)
    hfapp.runpytest("-p", "hfrouter", "test_suite.py")
    assert step.read_text().startswith("# before\n## pytest-hfrouter: outage coverage\n")
    # the run's own file holds this run's summary (as the report does); the step summary gathers runs
    hfapp.runpytest("-p", "hfrouter", "test_suite.py", "--hfrouter-summary=s.md")
    summary = (pytester.path / "s.md").read_text()
    assert summary.count("## pytest-hfrouter: outage coverage") == 1 and "No test met" not in summary
    assert step.read_text().count("## pytest-hfrouter: outage coverage") == 2


# -- HTML ---------------------------------------------------------------------------------------
VOID = {"meta", "br", "hr", "img", "input", "link"}


class Checker(html.parser.HTMLParser):
    """Balanced tags, every in-page link resolves, nothing is fetched from elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.cells: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("script", "iframe", "object", "link") or "src" in found:
            self.problems.append(f"<{tag}> loads or runs something: {attrs}")
        if found.get("id"):
            if found["id"] in self.ids:
                self.problems.append(f"duplicate id {found['id']}")
            self.ids.add(str(found["id"]))
        if tag == "a":
            self.links.append(str(found.get("href")))
        if tag == "td":
            self.cells.append(found)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def test_html_is_self_contained_valid_and_every_cell_links_to_its_tests(hfapp: pytest.Pytester) -> None:
    result, data = run_suite(hfapp, "--hfrouter-html=out/coverage.html")
    page = (hfapp.path / "out" / "coverage.html").read_text()
    checker = Checker()
    checker.feed(page)
    checker.close()
    assert checker.problems == [] and checker.stack == []
    assert page.startswith("<!DOCTYPE html>") and "http://" not in page.replace("https://router", "").replace(
        "https://huggingface.co", ""
    )
    assert all(link.startswith("#") for link in checker.links)
    assert {link[1:] for link in checker.links} <= checker.ids  # every link lands somewhere
    assert "#cell-novita-rate-limited-429" in checker.links and "#cell-novita-provider-500" in checker.links
    coloured = [c for c in checker.cells if (c.get("style") or "").startswith("background")]
    assert len(coloured) == 2 and any("hsl(0" in (c.get("style") or "") for c in coloured)  # the failed pair is red
    assert page.count('class="test"') == len(data["tests"]) == 5
    assert "scenario:rate-limited-429" in page and "together: no test meets" not in page  # gaps are a list
    result.stdout.no_fnmatch_line("*Traceback*")


def test_html_renders_in_a_headless_browser(hfapp: pytest.Pytester, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium): the HTML was checked by html.parser only")
    run_suite(hfapp, "--hfrouter-html=coverage.html")
    url = (hfapp.path / "coverage.html").as_uri()
    flags = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    dom = subprocess.run([*flags, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True).stdout
    assert '<table class="matrix">' in dom and "rate-limited-429" in dom and "✗ 1/1 failed" in dom
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*flags, "--window-size=1200,900", f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000  # a page, not a blank


# -- pure logic ------------------------------------------------------------------------------------
def record(test: str, outcome: str, met: list[list[str]], calls: list[tuple[str, str, bool]]) -> dict[str, Any]:
    return {
        "test": test,
        "outcome": outcome,
        "met": met,
        "scenarios": sorted({m[1] for m in met}),
        "calls": [{"provider": p, "route": r, "stream": s} for p, r, s in calls],
        "verdicts": [],
    }


def test_matrix_gaps_and_merge() -> None:
    scenarios = {
        "provider-500": {"routes": ["provider", "auto"], "stream": None},
        "stream-cut": {"routes": ["provider", "auto"], "stream": True},
        "hub-unavailable": {"routes": ["mapping"], "stream": None},
        "model-not-supported-400": {"routes": ["auto"], "stream": None},
    }
    a = record("t::a", "passed", [["novita", "provider-500"]], [("novita", "provider", False)])
    b = record("t::b", "failed", [["novita", "provider-500"]], [("novita", "provider", True)])
    c = record("t::c", "passed", [[ANY, "hub-unavailable"]], [("groq", "provider", False)])
    coverage = matrix([a, b, c], scenarios)
    assert coverage["providers"] == ["groq", "novita", ANY]
    assert coverage["cells"]["novita"]["provider-500"] | {"tests": []} == {
        "tests": [],
        "passed": 1,
        "failed": 1,
        "skipped": 0,
        "xfailed": 0,
        "xpassed": 0,
    }
    # groq made plain calls only: stream-cut is no gap there; the Hub outage was met for any provider
    assert coverage["gaps"] == {"groq": ["provider-500"], "novita": ["stream-cut"]}
    first = {"schema": "pytest-hfrouter/report/2", "tests": [a, c], "scenarios": scenarios, "calls": [1]}
    second = {"schema": "pytest-hfrouter/report/2", "tests": [b], "scenarios": scenarios, "calls": [2]}
    merged = merge([first, second])
    assert [t["test"] for t in merged["tests"]] == ["t::a", "t::c", "t::b"] and merged["calls"] == [1, 2]
    assert merged["coverage"] == coverage and merged["merged_from"] == 2
    text = markdown(merged)
    assert "| `provider-500` | — | ❌ 1/2 failed | — |" in text
    assert "- novita: no test meets stream-cut" in text


def test_the_matrix_says_what_each_outcome_means_for_the_app() -> None:
    """An xfail under an outage is the app not coming through (❌, not ✅); an xpass passed; tests
    that met a scenario but were skipped after it leave it uncovered (a gap, not "no test met it");
    the headline names every outcome, so its parts add up."""
    scenarios = {
        name: {"routes": ["provider", "auto"], "stream": None} for name in ("a-500", "b-502", "c-503", "d-504")
    }
    calls = [("novita", "provider", False)]
    tests = [
        record("t::passed", "passed", [["novita", "a-500"]], calls),
        record("t::xfailed", "xfailed", [["novita", "b-502"]], calls),
        record("t::passed_too", "passed", [["novita", "b-502"]], calls),
        record("t::xpassed", "xpassed", [["novita", "c-503"]], calls),
        record("t::skipped", "skipped", [["novita", "d-504"]], calls),
    ]
    scenarios["job-failed"] = {"routes": ["provider"], "stream": None, "providers": ["replicate"]}
    coverage = matrix(tests, scenarios)
    assert coverage["gaps"] == {"novita": ["d-504"]}  # job-failed is replicate's answer: no gap of novita
    text = markdown({"tests": tests, "scenarios": scenarios, "coverage": coverage})
    assert "5 test(s): 2 passed, 0 failed, 1 skipped, 1 xfailed, 1 xpassed; 3 provider x scenario pair(s) met" in text
    assert "| `a-500` | ✅ 1 |" in text
    assert "| `b-502` | ❌ 1/2 failed (1 xfail) |" in text
    assert "| `c-503` | ✅ 1 |" in text
    assert "| `d-504` | skipped 1 |" in text
    assert "- novita: no test meets d-504" in text
    # the page: a cell of tests all skipped after it is grey, as its legend says (it was white: an audit)
    from pytest_hfrouter.coverage_html import render

    page = render({"tests": tests, "scenarios": scenarios, "coverage": coverage})
    (skipped_cell,) = [line for line in page.split("<td") if "skipped 1" in line]
    assert 'style="background:#eef0f2"' in skipped_cell, skipped_cell


def test_matrix_lists_a_test_once_per_cell_and_reads_a_shared_call_record_once() -> None:
    scenarios = {
        "provider-500": {"routes": ["provider", "auto"], "stream": None},
        "provider-503": {"routes": ["provider", "auto"], "stream": None},
    }
    shared = {"provider": "novita", "route": "provider", "stream": False}
    twice = record("t::twice", "passed", [["novita", "provider-500"], ["novita", "provider-500"]], [])
    twice["calls"] = (shared, shared)
    other = record("t::other", "failed", [["novita", "provider-500"]], [])
    other["calls"] = (shared,)
    coverage = matrix([twice, other], scenarios)
    cell = coverage["cells"]["novita"]["provider-500"]
    assert cell["tests"] == ["t::other", "t::twice"] and cell["passed"] == 1 and cell["failed"] == 1  # by node id
    # a gap needs a call the scenario could hit: the shared record is read (once) and counts
    assert coverage["gaps"] == {"novita": ["provider-503"]}


# -- the hfrouter command ----------------------------------------------------------------------------
def hfrouter(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HFROUTER), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_tests_that_made_the_same_calls_share_one_traffic_record_scrubbed_as_it_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_hfrouter import scrub
    from pytest_hfrouter.coverage import traffic_record
    from pytest_hfrouter.traffic import Call, Exchange

    monkeypatch.setattr(scrub, "_current", scrub.Scrubber())
    key = "hf_" + "k3Y" * 11 + "7"

    def exchange(status: int) -> Exchange:
        url = f"https://router.huggingface.co/novita/v3/openai/chat/completions?api_key={key}"
        call = Call("novita", "Qwen/Q", "provider", "POST", url, status, None, "scenario:provider-500", False, 1.0,
                    scenarios=("provider-500",))  # fmt: skip
        return Exchange(calls=[call])

    first, again, other = traffic_record(exchange(500)), traffic_record(exchange(500)), traffic_record(exchange(502))
    assert again is first and other is not first
    assert first["met"] == (("novita", "provider-500"),) and first["scenarios"] == ("provider-500",)
    assert key not in first["calls"][0]["url"] and "REDACTED" in first["calls"][0]["url"]
    scrub.register(["k3Y" * 11])  # a new scrubber: a record of its own, never the old one
    assert traffic_record(exchange(500)) is not first


def test_report_merge_and_show_across_shards(hfapp: pytest.Pytester) -> None:
    _, whole = run_suite(hfapp)
    hfapp.runpytest("-p", "hfrouter", "--hfrouter-report=a.json", "-k", "fallback or storm")
    hfapp.runpytest("-p", "hfrouter", "--hfrouter-report=b.json", "-k", "not (fallback or storm)")
    done = hfrouter("report", "merge", "a.json", "b.json", "-o", "all/merged.json", cwd=hfapp.path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["merged 2 report(s), 5 test(s), into all/merged.json"]
    merged = json.loads((hfapp.path / "all" / "merged.json").read_text())
    assert sorted(t["test"] for t in merged["tests"]) == sorted(t["test"] for t in whole["tests"])
    assert merged["coverage"]["gaps"] == whole["coverage"]["gaps"]
    assert merged["coverage"]["cells"] == whole["coverage"]["cells"]
    shown = hfrouter("report", "show", "all/merged.json", cwd=hfapp.path)
    assert shown.returncode == 0 and shown.stdout == markdown(merged)
    files = hfrouter("report", "show", "all/merged.json", "--html", "m.html", "--markdown", "m.md", cwd=hfapp.path)
    assert files.returncode == 0 and files.stdout.splitlines() == ["HTML: m.html", "Markdown: m.md"]
    assert (hfapp.path / "m.md").read_text() == markdown(merged)
    assert "merged from 2 reports" in (hfapp.path / "m.html").read_text()
    for args, expected in [
        (("report", "show", "missing.json"), "hfrouter: error: missing.json: no such file"),
        (("report", "merge", "a.json", "test_suite.py", "-o", "x.json"), "hfrouter: error: test_suite.py: not a JSON"),
        (("report", "merge", "a.json"), "hfrouter report merge: error: the following arguments are required: -o"),
    ]:
        failed = hfrouter(*args, cwd=hfapp.path)
        assert failed.returncode == 2 and len(failed.stderr.splitlines()) == 1, failed.stderr
        assert failed.stderr.startswith(expected), failed.stderr


def test_a_damaged_report_or_an_unwritable_output_is_one_error_line(hfapp: pytest.Pytester) -> None:
    """A report with the right schema and a damaged field gave a traceback, or numbers it did not hold
    (a record without an outage counted as passed); an output path that is a folder left a temporary
    file behind, with a traceback (found by an audit of the outputs)."""
    _, report = run_suite(hfapp)
    damaged = {
        "no-test": ({"outcome": "passed"}, 'tests[0] has no "test" (the node id)'),
        "no-outcome": ({"test": "t.py::t"}, "tests[0].outcome must be one of failed, passed, skipped, xfailed"),
        "bad-met": ({"test": "t.py::t", "outcome": "passed", "met": ["novita"]}, "tests[0].met must be a list of"),
    }
    for name, (record, problem) in damaged.items():
        (hfapp.path / f"{name}.json").write_text(json.dumps({**report, "tests": [record]}))
        for args in (("report", "show", f"{name}.json"), ("report", "merge", "r.json", f"{name}.json", "-o", "m.json")):
            failed = hfrouter(*args, cwd=hfapp.path)
            assert failed.returncode == 2 and len(failed.stderr.splitlines()) == 1, failed.stderr
            assert failed.stderr.startswith(f"hfrouter: error: {name}.json: {problem}"), failed.stderr
    (hfapp.path / "bad-chaos.json").write_text(json.dumps({**report, "chaos": {"seed": 7}}))
    failed = hfrouter("report", "show", "bad-chaos.json", cwd=hfapp.path)
    assert failed.stderr.startswith('hfrouter: error: bad-chaos.json: "chaos" must be null, or an object'), (
        failed.stderr
    )
    result = hfapp.runpytest("-p", "hfrouter", "--hfrouter-baseline=no-test.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    said = result.stdout.lines + result.stderr.lines
    assert any('--hfrouter-baseline no-test.json: tests[0] has no "test"' in line for line in said), said

    (hfapp.path / "out").mkdir()
    for args in (("report", "merge", "r.json", "-o", "out"), ("report", "show", "r.json", "--html", "out")):
        failed = hfrouter(*args, cwd=hfapp.path)
        assert failed.returncode == 2 and len(failed.stderr.splitlines()) == 1, failed.stderr
        # the folder named, not the temporary file beside it (an audit: "cannot write .out.tmp")
        assert failed.stderr.startswith("hfrouter: error: cannot write out: Is a directory;"), failed.stderr
    assert sorted(p.name for p in hfapp.path.iterdir() if p.name.endswith(".tmp")) == []


def test_merged_chaos_runs_say_each_seed_and_rate() -> None:
    """Two shards of different chaos runs merged said "seed several, rate 0"; a chaos shard with a
    plain one said the whole run was chaos (found by an audit of the outputs)."""
    base = {"schema": "pytest-hfrouter/report/2", "tests": [], "scenarios": {}}
    seven, eight = {"seed": 7, "rate": 1.0}, {"seed": 8, "rate": 0.5}
    assert "Chaos run: 2 reports: seed 7, rate 1; seed 8, rate 0.5." in markdown(
        merge([{**base, "chaos": seven}, {**base, "chaos": eight}])
    )
    assert "Chaos run: 2 reports: seed 7, rate 1; no chaos." in markdown(
        merge([{**base, "chaos": seven}, {**base, "chaos": None}])
    )
    assert "Chaos run: seed 7, rate 1." in markdown(merge([{**base, "chaos": seven}, {**base, "chaos": seven}]))


def test_scenarios_table_and_show() -> None:
    library = shipped_library()
    table = hfrouter("scenarios")
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["name", "kind", "status/fault", "routes", "provenance"]
    assert {line.split()[0] for line in lines[2 : 2 + len(library.scenarios)]} == set(library.scenarios)
    assert any(line.split()[:4] == ["stream-cut", "transport", "stream-cut", "after"] for line in lines)
    shown = hfrouter("scenarios", "show", "hyperbolic-staging")  # an alias
    assert shown.returncode == 0
    text = shown.stdout
    assert text.startswith("staging-auth (aliases: hyperbolic-staging)")
    assert "  provider: 401 Unauthorized" in text and "body: " in text
    assert (
        "2.x (httpx2): a warning logged at the mapping look-up, then huggingface_hub.errors.HfHubHTTPError "
        "(subclass of httpx2.HTTPError); e.response.status_code == 401"
    ) in text
    assert "0.x (requests):" in text and "1.x (httpx):" in text and "provenance: partly-real" in text
    timeout = hfrouter("scenarios", "show", "read-timeout").stdout
    assert "2.x (httpx2): huggingface_hub.errors.InferenceTimeoutError" in timeout and "body:" not in timeout
    unknown = hfrouter("scenarios", "show", "rate-limit")
    assert unknown.returncode == 2 and len(unknown.stderr.splitlines()) == 1
    assert "unknown scenario 'rate-limit'. Did you mean 'rate-limited-429'?" in unknown.stderr


#: every scenario a chat call to novita can meet (job-failed is replicate's task answer)
CHAT_SCENARIOS = sorted(
    name
    for name, scenario in shipped_library().scenarios.items()
    if {"provider", "mapping"} & set(scenario.routes) and name != "job-failed"
)


@pytest.mark.parametrize("name", CHAT_SCENARIOS)
def test_what_show_says_a_client_raises_is_what_it_raises(hfrouter: Any, name: str) -> None:
    """`hfrouter scenarios show` tells what InferenceClient.chat_completion raises per huggingface_hub
    major: the installed major's line names the exception a replayed call raises (an audit found four
    lines wrong: body-cut, provider-unavailable, stream-half-json's text, job-failed's task)."""
    import huggingface_hub
    from huggingface_hub import InferenceClient

    from pytest_hfrouter.scenario_info import raised

    major = f"{huggingface_hub.__version__.split('.')[0]}.x"
    library = shipped_library()
    scenario = library.scenarios[name]
    stream = scenario.truncates_stream or scenario.stream is True
    client = InferenceClient(provider="novita", api_key="hf_fake", timeout=10)
    got = "nothing"
    with hfrouter.outage(name, provider="novita", optional=True):  # provider-unavailable changes nothing here
        try:
            answer = client.chat_completion(
                [{"role": "user", "content": "hi"}], model="Qwen/Qwen2.5-72B-Instruct", stream=stream
            )
            if stream:
                list(answer)  # type: ignore[arg-type]
        except Exception as error:
            got = type(error).__name__
    said = next(text for who, text in raised(scenario) if who.startswith(major))
    if got == "nothing":
        assert said.startswith("nothing"), said
    elif "the read-timeout exceptions" in said:  # slow-first-token, slower than the client's timeout
        timeout = next(text for who, text in raised(library.scenarios["read-timeout"]) if who.startswith(major))
        assert got in timeout, (got, timeout)
    else:
        assert got in said, (got, said)


def test_show_reads_a_user_stream_scenario_from_its_body(tmp_path: Path) -> None:
    """A contributor's audit: `show` told a stream scenario's client exception by the shipped scenario's
    name, so a user's own (another error type, a stream that stops) was described as an HTTP error with
    status 200. It now reads the body; the error types are huggingface_hub's own table."""
    from huggingface_hub.inference import _common

    from pytest_hfrouter.library import load_user_scenarios
    from pytest_hfrouter.scenario_info import _ERROR_TYPES, raised

    for error_type, name in _ERROR_TYPES.items():  # the client's own mapping, in the installed major
        assert type(_common._parse_text_generation_error("x", error_type)).__name__ == name
    shipped = library_dir() / "scenarios"
    error = (shipped / "stream-error-event.yaml").read_text()
    error = error.replace("name: stream-error-event", "name: my-validation-event")
    error = error.replace(
        '"error":"Model is overloaded","error_type":"overloaded"', '"error":"Too long","error_type":"validation"'
    )
    (tmp_path / "my-validation-event.yaml").write_text(error)
    stops = (shipped / "stream-no-done.yaml").read_text().replace("name: stream-no-done", "name: my-stop")
    (tmp_path / "my-stop.yaml").write_text(stops)
    mine = {scenario.name: scenario for scenario in load_user_scenarios(tmp_path)}

    said = dict(raised(mine["my-validation-event"]))
    assert said["2.x (httpx2)"].startswith("huggingface_hub.errors.ValidationError: Too long"), said
    assert dict(raised(mine["my-stop"]))["2.x (httpx2)"].startswith("nothing: iteration just stops")


def test_the_command_prints_to_an_output_that_cannot_encode_its_characters() -> None:
    """An audit: ``hfrouter scenarios show`` and ``report show`` print ✅ and §; with an ASCII stdout (a C
    locale, ``PYTHONIOENCODING=ascii``, a Windows runner's redirected stdout) they crashed with
    UnicodeEncodeError. Redirected, the output is UTF-8, as a step summary's reader expects."""
    shown = subprocess.run(
        [sys.executable, "-m", "pytest_hfrouter", "scenarios", "show", "novita-500"],
        capture_output=True,
        timeout=60,
        env={**os.environ, "PYTHONIOENCODING": "ascii"},
    )
    assert shown.returncode == 0, shown.stderr
    assert "§" in shown.stdout.decode("utf-8")


#: a locale whose encoding is ASCII, file names included (they arrive surrogate-escaped): the C locale, uncoerced
C_LOCALE = {"LANG": "C", "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}


def test_the_command_prints_non_ascii_file_names_in_a_c_locale(tmp_path: Path) -> None:
    """An audit: ``hfrouter lint`` crashed on the first file with a non-ASCII name (its token never reported),
    and a missing one gave a traceback in place of the one-line error."""
    folder = tmp_path / "cas"
    folder.mkdir()
    token = "hf_QwErTyUiOpAsDfGhJkLzXcVbNm123456"
    request = {"method": "GET", "uri": "https://huggingface.co/api/models/x", "body": "", "headers": {}}
    request["headers"]["authorization"] = [f"Bearer {token}"]
    response = {"status": {"code": 200, "message": "OK"}, "headers": {}, "body": {"string": "{}"}}
    cassette = {"version": 1, "interactions": [{"request": request, "response": response}]}
    (folder / "泄露.yaml").write_text(yaml.safe_dump(cassette), encoding="utf-8")
    env = {**os.environ, **C_LOCALE}
    command = [sys.executable, "-m", "pytest_hfrouter", "lint"]
    linted = subprocess.run([*command, "cas"], capture_output=True, timeout=60, cwd=tmp_path, env=env)
    missing = subprocess.run([*command, "不存在.yaml"], capture_output=True, timeout=60, cwd=tmp_path, env=env)

    assert linted.returncode == 1 and b"Traceback" not in linted.stderr, linted.stderr
    assert "cas/泄露.yaml:" in linted.stdout.decode("utf-8") and b"1 cassette(s) checked" in linted.stdout
    assert missing.returncode == 2 and missing.stderr.decode("utf-8").startswith(
        "hfrouter: error: 不存在.yaml: no such"
    )


def test_a_report_naming_a_non_ascii_path_is_written_in_a_c_locale(pytester: pytest.Pytester) -> None:
    """An audit: a project in ``项目/`` with ``--hfrouter-report``, in a C locale: a traceback and no report."""
    project = pytester.path / "项目"
    (project / "cassettes" / "test_app").mkdir(parents=True)
    chat = {"id": "c", "object": "chat.completion", "created": 1, "model": "Qwen/Qwen2.5-72B-Instruct"}
    chat["choices"] = [{"index": 0, "message": {"role": "assistant", "content": "recorded"}, "finish_reason": "stop"}]
    request = {
        "method": "POST",
        "uri": "https://router.huggingface.co/novita/v3/openai/chat/completions",
        "body": json.dumps({"model": "Qwen/Qwen2.5-72B-Instruct", "messages": [{"role": "user", "content": "hi"}]}),
        "headers": {},
    }
    response = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"content-type": ["application/json"], "date": ["Mon, 17 Feb 2025 15:45:33 GMT"]},
        "body": {"string": json.dumps(chat)},
    }
    cassette = {"version": 1, "interactions": [{"request": request, "response": response}]}
    (project / "cassettes" / "test_app" / "test_chat.yaml").write_text(yaml.safe_dump(cassette), encoding="utf-8")
    (project / "test_app.py").write_text(
        "from huggingface_hub import InferenceClient\n\n\ndef test_chat(hfrouter):\n"
        "    client = InferenceClient(provider='novita', api_key='hf_fake', timeout=10)\n"
        "    reply = client.chat_completion([{'role': 'user', 'content': 'hi'}], model='Qwen/Qwen2.5-72B-Instruct')\n"
        "    assert reply.choices[0].message.content == 'recorded'\n"
    )
    (project / "pytest.ini").write_text("[pytest]\nhfrouter_max_age = 90d\nhfrouter_on_expiry = warn\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "hfrouter", "-p", "no:cacheprovider", "--hfrouter-report=r.json"],
        capture_output=True,
        timeout=120,
        cwd=project,
        env={**os.environ, **C_LOCALE},
    )

    assert done.returncode == 0 and b"Traceback" not in done.stdout + done.stderr, done.stdout[-2000:]
    report = json.loads((project / "r.json").read_text(encoding="utf-8"))
    assert "项目" in json.dumps(report, ensure_ascii=False)


def test_version_usage_errors_and_python_m_is_the_same_command() -> None:
    version = hfrouter("--version")
    assert version.returncode == 0 and version.stdout.startswith("hfrouter (pytest-hfrouter) ")
    module = subprocess.run(
        [sys.executable, "-m", "pytest_hfrouter", "--version"], capture_output=True, text=True, timeout=60
    )
    assert module.stdout == version.stdout
    for args in ((), ("bogus",), ("report",), ("serve", "--port", "x")):
        failed = hfrouter(*args)
        assert failed.returncode == 2, args
        assert len(failed.stderr.splitlines()) == 1 and "error:" in failed.stderr and "--help" in failed.stderr
    helped = hfrouter("--help")
    assert helped.returncode == 0
    for command in ("scenarios", "serve", "lint", "report"):
        assert command in helped.stdout


@pytest.mark.parametrize("mode", ["--setup-only", "--setup-plan"])
def test_a_run_whose_bodies_do_not_run_records_no_test(hfapp: pytest.Pytester, mode: str) -> None:
    """An audit: ``--setup-only`` wrote every test as passed (one whose outage never happens too), and a merge
    with a real run's report kept that."""
    hfapp.makepyfile(
        test_x="""
        import pytest
        from hfapp import chat

        @pytest.mark.hfrouter_outage("provider-500", provider="groq")
        def test_never_happens():
            chat("together")
        """
    )
    result = hfapp.runpytest("-p", "hfrouter", mode, "--hfrouter-report=r.json", "--hfrouter-summary=s.md")

    assert result.ret == 0, result.stdout.str()
    report = json.loads((hfapp.path / "r.json").read_text())
    assert report["tests"] == []
    assert report["incomplete"] == [f"{mode}: no test body ran, so no test is recorded"]
    assert "0 test(s)" in (hfapp.path / "s.md").read_text()


def test_report_calls_hold_no_token(pytester: pytest.Pytester) -> None:
    token = "hf_" + "a1B2c3D4e5F6g7H8i9J0k1L2"
    pytester.makepyfile(
        test_leak=f"""
        import httpx

        def test_token_in_the_query():
            url = "https://router.huggingface.co/novita/v3/openai/chat/completions?api_key={token}"
            body = b'{{"model": "Qwen/Qwen2.5-72B-Instruct", "messages": []}}'
            assert httpx.post(url, content=body).status_code == 200
        """
    )
    pytester.runpytest("-p", "hfrouter", "--hfrouter-report=r.json", "--hfrouter-html=r.html").assert_outcomes(passed=1)
    written = (pytester.path / "r.json").read_text() + (pytester.path / "r.html").read_text()
    assert token not in written and written.count("chat/completions?api_key=") == 2  # the call is there, its key not


def test_merge_keeps_the_later_report_of_a_test_whatever_the_order() -> None:
    """A test in two shards' reports: the one that finished later wins, in either argument order, and
    the disagreement is said (an audit: the last file named won, so a glob's order could hide a failure)."""

    def report(finished: str, outcome: str) -> dict[str, Any]:
        test = {"test": "t.py::test_chain", "outcome": outcome, "met": [["novita", "provider-500"]], "calls": []}
        return {"finished": finished, "started": finished, "tests": [test], "scenarios": {}}

    older, newer = report("2026-12-01T10:00:00+00:00", "passed"), report("2026-12-02T10:00:00+00:00", "failed")
    for order in ([older, newer], [newer, older]):
        conflicts: list[str] = []
        merged = merge(order, conflicts)
        assert [t["outcome"] for t in merged["tests"]] == ["failed"]
        assert conflicts == [
            "t.py::test_chain: passed in one report, failed in one that finished later (2026-12-02T10:00:00+00:00): "
            "kept the later"
        ]
    same: list[str] = []
    merge([older, report("2026-12-02T10:00:00+00:00", "passed")], same)
    assert same == []  # the same outcome twice: nothing to say


def test_a_test_whose_worker_crashed_is_failed_and_the_report_says_it_is_incomplete(hfapp: pytest.Pytester) -> None:
    """A segfault, an OOM kill or ``os._exit`` in an xdist worker: its part of the report never reaches
    the spool. An audit: the test was in no report, whose summary said "1 test(s): 1 passed"."""
    hfapp.makepyfile(
        test_crash="""
        import os
        import pytest
        from hfapp import chat

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_survives(hfrouter):
            with pytest.raises(Exception):
                chat("novita")

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_dies(hfrouter):
            with pytest.raises(Exception):
                chat("novita")
            os._exit(3)
        """
    )
    result = hfapp.runpytest("-p", "hfrouter", "-n", "2", "--hfrouter-report=r.json", "--hfrouter-summary=s.md")
    result.assert_outcomes(passed=1, failed=1)
    data = json.loads((hfapp.path / "r.json").read_text())
    assert sorted((t["test"].split("::")[1], t["outcome"]) for t in data["tests"]) == [
        ("test_dies", "failed"),
        ("test_survives", "passed"),
    ]
    (note,) = data["incomplete"]
    assert note.startswith("the xdist worker running test_crash.py::test_dies crashed: its calls")
    summary = (hfapp.path / "s.md").read_text()
    assert "2 test(s): 1 passed, 1 failed" in summary
    assert f"**Incomplete:** {note}" in summary


def test_a_run_stopped_at_its_first_failure_says_so(hfapp: pytest.Pytester) -> None:
    """``-x`` (or ``--maxfail``): the tests after the failure never ran, and their outages were listed as
    gaps no test meets (an audit)."""
    hfapp.makepyfile(
        test_stop="""
        import pytest
        from hfapp import chat

        def test_a_failure():
            assert False

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_never_runs(hfrouter):
            with pytest.raises(Exception):
                chat("novita")
        """
    )
    result = hfapp.runpytest("-p", "hfrouter", "-x", "--hfrouter-report=r.json", "--hfrouter-html=r.html")
    result.assert_outcomes(failed=1)
    data = json.loads((hfapp.path / "r.json").read_text())
    (note,) = data["incomplete"]
    assert note == (
        "the run stopped early (stopping after 1 failures): tests after that did not run, so a gap below may be "
        "a test that did not run"
    )
    assert "<strong>Incomplete:</strong> the run stopped early" in (hfapp.path / "r.html").read_text()
    assert report_problem({**data, "incomplete": "a string"}) == '"incomplete" must be a list of strings'
    merged = merge([data, {**data, "incomplete": ["another"]}], [])
    assert merged["incomplete"] == [note, "another"]


def _commands(parser: Any, prefix: str = "hfrouter") -> dict[str, Any]:
    """Every command path of the parser (``hfrouter report show``) → its parser."""
    import argparse

    found: dict[str, Any] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[f"{prefix} {name}"] = sub
                found.update(_commands(sub, f"{prefix} {name}"))
    return found


def _needs_a_subcommand(parser: Any) -> bool:
    import argparse

    return any(isinstance(a, argparse._SubParsersAction) and a.required for a in parser._actions)


def test_every_command_runs_its_own_function_and_is_in_the_readme_table() -> None:
    """A contributor's audit: a command added to the parser but not to ``main`` ran ``serve`` and crashed,
    and no test saw it; the README's table missed two. Each command now names its function where it is
    declared, and the table lists every command path."""
    from pytest_hfrouter.__main__ import build_parser

    commands = _commands(build_parser())
    top = {path: sub for path, sub in commands.items() if path.count(" ") == 1}
    assert set(top) == {"hfrouter scenarios", "hfrouter serve", "hfrouter lint", "hfrouter report"}
    for path, sub in top.items():
        assert callable(sub.get_default("run")), path
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = text.split("## The `hfrouter` command", 1)[1].split("\n## ", 1)[0]
    listed = re.findall(r"^\| `(hfrouter [a-z ]+?)(?: [A-Z.\[-]|`)", table, re.M)
    runnable = [path for path, sub in commands.items() if not _needs_a_subcommand(sub)]
    assert sorted(set(listed)) == sorted(runnable)


def test_report_outputs_never_overwrite_the_reports_read_or_one_another(tmp_path: Path) -> None:
    """An audit: ``hfrouter report show r.json --html r.json`` replaced the report with the page and said
    nothing; ``--html x --markdown x`` kept the Markdown only."""
    report = tmp_path / "r.json"
    report.write_text(json.dumps({"schema": "pytest-hfrouter/report/2", "tests": [], "scenarios": {}}))
    before = report.read_text()
    onto = hfrouter("report", "show", str(report), "--html", str(report))
    assert onto.returncode == 2 and f"--html {report} is a report it reads too" in onto.stderr
    assert report.read_text() == before
    page = tmp_path / "c.html"
    both = hfrouter("report", "show", str(report), "--html", str(page), "--markdown", str(page))
    assert both.returncode == 2 and f"--markdown {page} is --html too" in both.stderr and not page.exists()
    merged = hfrouter("report", "merge", str(report), "-o", str(report))
    assert merged.returncode == 2 and report.read_text() == before


def test_untrusted_text_in_the_markdown_is_text() -> None:
    """A test id with a backtick closed its code span, and a provider's error text put images and links into
    the job summary (an audit, rendered with GitHub's cmark-gfm)."""
    from pytest_hfrouter import _markdown as md
    from pytest_hfrouter.coverage import markdown

    hostile = "a` <img src=https://evil.example/p.png> [login](https://evil.example/phish) `b"
    assert md.text(hostile) == (
        r"a\` &lt;img src=https://evil.example/p.png&gt; \[login\]\(https://evil.example/phish\) \`b"
    )
    assert md.code(hostile) == f"``{hostile}``"
    assert md.code("x|y", in_table=True) == r"`x\|y`"
    assert md.text("<a href=x>" * 30, limit=120).endswith("&lt;a href=x&gt;")  # cut before it is escaped
    payload = {
        "coverage": {"providers": [], "scenarios": [], "cells": {}, "gaps": {"novita": ["my-<b>outage"]}},
        "tests": [{"test": hostile, "outcome": "failed", "met": ["provider-500"], "scenarios": ["provider-500"]}],
    }
    said = markdown(payload)
    assert f"- ``{hostile}``: provider-500" in said.splitlines()
    assert "- novita: no test meets my-&lt;b&gt;outage" in said.splitlines()


def test_a_damaged_report_is_named_with_its_field_not_a_traceback(tmp_path: Path) -> None:
    """Each of these made ``report show`` or ``merge`` end in a traceback (an audit); a merged report of a
    chaos run and a plain one stays readable."""
    good = {"schema": SCHEMA, "tests": [], "scenarios": {}}
    test = {"test": "t.py::t", "outcome": "passed"}
    damaged = {
        '"chaos" must be null, or an object': [
            {**good, "chaos": {"seed": 1, "rate": "x"}},
            {**good, "chaos": {"runs": 5}},
        ],
        "tests[0].calls must be a list of objects": [{**good, "tests": [{**test, "calls": ["x"]}]}],
        "tests[0].reproduce must be a list of strings": [{**good, "tests": [{**test, "reproduce": 5}]}],
        'tests[0].verdicts must be a list of objects with a "name"': [
            {**good, "tests": [{**test, "verdicts": [{"nope": 1}]}]}
        ],
    }
    for said, reports in damaged.items():
        for report in reports:
            assert (report_problem(report) or "").startswith(said), (report, report_problem(report))
    merged = merge([{**good, "chaos": {"seed": 7, "rate": 0.5}}, good], [])
    assert merged["chaos"]["runs"] == [{"seed": 7, "rate": 0.5}, None]
    assert report_problem(merged) is None
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    done = subprocess.run(
        [sys.executable, "-m", "pytest_hfrouter", "report", "show", str(deep)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"hfrouter: error: {deep}: not a report: its JSON is nested too deep to read"


def test_a_scenario_that_pins_the_chat_task_is_no_gap_of_a_chat_only_suite() -> None:
    """mapping-task-conversational writes a chat entry into the mapping: a chat call sees no change, so a suite
    of chat calls cannot meet it (the Gaps line listed it for every provider). A text_generation call can."""
    scenarios = catalog(shipped_library())
    assert scenarios["mapping-task-conversational"]["pins_task"] == "conversational"
    chat = record("t::chat", "passed", [["novita", "provider-500"]], [("novita", "provider", False)])
    chat["calls"][0]["task"] = "chat-completion"
    gaps = matrix([chat], scenarios)["gaps"]["novita"]
    assert "mapping-task-conversational" not in gaps and "mapping-missing-provider" in gaps
    generation = record("t::generation", "passed", [], [("novita", "provider", False)])
    generation["calls"][0]["task"] = "text-generation"
    assert "mapping-task-conversational" in matrix([chat, generation], scenarios)["gaps"]["novita"]
    untold = record("t::untold", "passed", [], [("novita", "provider", False)])  # a task the call did not tell
    assert "mapping-task-conversational" in matrix([untold], scenarios)["gaps"]["novita"]
