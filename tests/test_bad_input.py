"""Bad input gets a clear error and loses nothing (an audit of every option, ini key and marker): each case
here passed in silence, or failed through the plugin's internals, before."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

CHAT = """
import pytest
from hfapp import chat

def test_chat(hfrouter):
    chat("novita")
"""


@pytest.mark.parametrize(
    "option",
    ["--hfrouter-chaos-seed=", "--hfrouter-chaos-rate=", "--hfrouter-report=", "--hfrouter-cassette-dir="],
)
def test_an_option_given_with_no_value_is_a_usage_error(hfapp: pytest.Pytester, option: str) -> None:
    """``--hfrouter-chaos-seed=$SEED`` with SEED unset ran a chaos job that injected nothing, green."""
    hfapp.makepyfile(test_chat=CHAT)
    result = hfapp.runpytest("-p", "hfrouter", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {option} is given with no value (a variable unset in a CI script?)*"])


@pytest.mark.parametrize("url", ["http://[::1", "http://[zz]:80"])
def test_a_malformed_ipv6_url_is_a_usage_error(hfapp: pytest.Pytester, url: str) -> None:
    hfapp.makepyfile(test_chat=CHAT)
    result = hfapp.runpytest("-p", "hfrouter", f"--hfrouter-router-url={url}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # it was an INTERNALERROR
    escaped = re.sub(r"[\[\]]", lambda bracket: f"[{bracket.group()}]", url)  # fnmatch's own brackets
    result.stderr.fnmatch_lines([f"ERROR: --hfrouter-router-url: expected an http(s) URL with a host*got '{escaped}'"])


def test_the_live_targets_given_to_a_replay_run_are_said_to_be_unused(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(test_chat=CHAT)
    result = hfapp.runpytest("-p", "hfrouter", "--hfrouter-router-url=http://127.0.0.1:9")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["hfrouter: mode=replay * (--hfrouter-router-url: for the live and record modes*"])


def test_a_replay_run_never_writes_its_report_over_the_baseline(hfapp: pytest.Pytester) -> None:
    """An ini ``hfrouter_baseline`` shared with the nightly, and a local run with ``--hfrouter-report`` on the same
    file: last night's live report was replaced by a replay report, and the next nightly compared nothing."""
    hfapp.makepyfile(test_chat=CHAT)
    baseline = hfapp.path / "nightly.json"
    baseline.write_text(json.dumps({"schema": "pytest-hfrouter/report/2", "mode": "live", "tests": []}))
    before = baseline.read_text()
    hfapp.makeini("[pytest]\nhfrouter_baseline = nightly.json\n")
    result = hfapp.runpytest("-p", "hfrouter", "--hfrouter-report=nightly.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--hfrouter-report and hfrouter_baseline both name nightly.json: a replay run*"])
    assert baseline.read_text() == before


def test_an_ini_key_of_the_plugin_s_prefix_it_does_not_know_is_a_usage_error(hfapp: pytest.Pytester) -> None:
    """``hfrouter_strcit = true`` left the setting at its default; pytest said only "Unknown config option"."""
    hfapp.makepyfile(test_chat=CHAT)
    hfapp.makeini("[pytest]\nhfrouter_strcit = true\n")
    result = hfapp.runpytest("-p", "hfrouter")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*hfrouter_strcit (ini) is no setting of pytest-hfrouter*Did you mean hfrouter_strict?"]
    )


@pytest.mark.parametrize(
    ("headers", "said"),
    [
        ("{'X-A': 'a\\r\\nX-B: injected'}", "headers: the value of 'X-A' holds a line break or NUL"),
        ("{'Bad Name': 'x'}", "headers: 'Bad Name' is no HTTP header name"),
    ],
)
def test_an_outage_s_headers_are_what_a_server_could_send(hfapp: pytest.Pytester, headers: str, said: str) -> None:
    """A CR LF in a header value: the router double wrote a header of its own onto the wire."""
    hfapp.makepyfile(
        test_headers=f"""
        import pytest

        @pytest.mark.hfrouter_outage("provider-500", provider="novita", headers={headers})
        def test_it(hfrouter):
            pass
        """
    )
    result = hfapp.runpytest("-p", "hfrouter")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*{said}*"])


def test_virtual_time_called_as_a_statement_is_said_and_its_sleep_raises_what_time_sleep_does(
    hfapp: pytest.Pytester,
) -> None:
    hfapp.makepyfile(
        test_clock="""
        import time
        import pytest

        def test_statement(hfrouter):
            hfrouter.virtual_time()  # no with: nothing is virtual

        def test_a_string(hfrouter):
            with hfrouter.virtual_time():
                with pytest.raises(TypeError, match="'str' object cannot be interpreted as an integer"):
                    time.sleep("1")
        """
    )
    result = hfapp.runpytest("-p", "hfrouter")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(["*hfrouter.virtual_time() was called, but its block never began*"])


def test_pytestmark_in_a_conftest_that_no_test_gets_is_said(hfapp: pytest.Pytester) -> None:
    """pytest reads ``pytestmark`` in test modules only: set in a conftest, no test got the outage, and the
    suite ran green on healthy answers (an audit). A shared module's, which the test modules import as the
    conftest does, is theirs: not said (another audit: a usage error stopped a correct suite)."""
    hfapp.makeconftest('import pytest\n\npytestmark = pytest.mark.hfrouter_outage("provider-500")\n')
    hfapp.makepyfile("def test_it():\n    pass\n")
    result = hfapp.runpytest("-p", "hfrouter")
    result.assert_outcomes(passed=1, warnings=1)
    said = (
        "*conftest.py sets pytestmark with @pytest.mark.hfrouter_outage, and pytest reads pytestmark in test modules*"
    )
    result.stdout.fnmatch_lines([said])
    strict = hfapp.runpytest("-p", "hfrouter", "-W", "error::pytest_hfrouter.HFRouterWarning")
    assert strict.ret == pytest.ExitCode.USAGE_ERROR
    strict.stderr.fnmatch_lines([said])

    hfapp.makepyfile(
        common='import pytest\n\npytestmark = [pytest.mark.hfrouter_outage("provider-500", provider="novita")]\n'
    )
    hfapp.makeconftest("from common import *  # its helpers\n")
    hfapp.makepyfile(
        """
        import pytest
        from common import *
        from hfapp import chat

        def test_it():
            with pytest.raises(Exception):
                chat("novita")
        """
    )
    shared = hfapp.runpytest("-p", "hfrouter", "-W", "error::pytest_hfrouter.HFRouterWarning")
    shared.assert_outcomes(passed=1)


def test_a_scenario_file_named_as_a_cassette_is_refused_and_kept(
    hfapp: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An audit: a shipped scenario copied beside the tests and named as a cassette was answered "re-record it",
    and the rewrite replaced the scenario with healthy answers, in silence."""
    import shutil

    scenario = Path(__file__).parent.parent / "cassettes" / "scenarios" / "provider-500.yaml"
    copy = hfapp.path / "cassettes" / "test_sc" / "provider-500.yaml"
    copy.parent.mkdir(parents=True)
    shutil.copy(scenario, copy)
    before = copy.read_bytes()
    hfapp.makepyfile(
        test_sc="""
        import pytest
        from hfapp import chat

        @pytest.mark.hfrouter_cassette("provider-500.yaml")
        def test_chat(hfrouter):
            chat("novita")
        """
    )
    said = (
        f"*pytest-hfrouter: {copy} is the scenario 'provider-500' (its metadata.hfrouter.name), not a recording: *"
        '@pytest.mark.hfrouter_outage("provider-500", provider="<provider>")*'
    )
    result = hfapp.runpytest("-p", "hfrouter")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([said])
    monkeypatch.setenv("HF_TOKEN", "hf_" + "x" * 34)
    result = hfapp.runpytest("-p", "hfrouter", "--hfrouter-mode=rewrite", "--hfrouter-router-url=http://127.0.0.1:9")
    result.assert_outcomes(errors=1)
    assert copy.read_bytes() == before
