"""Installed, auto-loaded, not asked: a suite that never uses the plugin runs as without it.

Each case here is one a user met (audit I, stop 36): a conftest's own ``--live``, failure output
rewritten in tests the plugin stayed out of, a TLS context made later than httpx makes it, and a
library parse and cache file from a run the plugin did nothing in.
"""

from __future__ import annotations

from pathlib import Path

import pytest

OWN_LIVE = """
import pytest


def pytest_addoption(parser):
    parser.addoption("--live", action="store_true", help="the project's own: run against its staging server")


@pytest.fixture
def live(request):
    return request.config.getoption("live")
"""


def test_a_conftests_own_live_option_keeps_working(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(OWN_LIVE)
    pytester.makepyfile(test_own="def test_own(live):\n    assert live is True\n")
    result = pytester.runpytest("--live")
    result.assert_outcomes(passed=1)  # before: "option dest 'live' already used", and no test ran
    result.stdout.fnmatch_lines(["hfrouter: mode=replay * (--live is this project's own option: *mode=live)"])
    # the live marker's skip names the plugin's own live mode, not the project's --live
    pytester.makepyfile(test_live_marked="import pytest\n\n@pytest.mark.hfrouter_live\ndef test_l():\n    pass\n")
    skipped = pytester.runpytest("-p", "hfrouter", "-rs", "test_live_marked.py")
    skipped.assert_outcomes(skipped=1)
    skipped.stdout.fnmatch_lines(
        ["*needs the live router (hfrouter_live): run with --hfrouter-mode=live and HF_TOKEN*"]
    )
    helped = pytester.runpytest("--help")
    text = " ".join(helped.stdout.str().split())
    assert "--live the project's own" in text and "--hfrouter-mode=" in text  # the plugin's: by its mode option


def test_the_plugins_live_option_is_there_when_no_conftest_has_one(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    result = pytester.runpytest("-p", "hfrouter", "--live")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*ERROR: --live talks to the live router and needs HF_TOKEN*"])


FAILING_OUTPUT = """
import pytest


def test_plain():
    header = "Bearer abc123def456"
    print("?token=12345678abcd")
    assert header == "Bearer something-else"


@pytest.mark.hfrouter_outage("provider-500", provider="novita", optional=True)
def test_asks():
    header = "Bearer abc123def456"
    assert header == "Bearer something-else"
"""


def test_a_test_the_plugin_stays_out_of_keeps_its_failure_output(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_out=FAILING_OUTPUT)
    result = pytester.runpytest("-rA")  # auto-loaded: scope "marked"
    result.assert_outcomes(failed=2)
    text = result.stdout.str()
    plain, asks = text.split("short test summary")[0].split("_ test_asks _")
    assert "Bearer abc123def456" in plain and "?token=12345678abcd" in plain  # as pytest shows it
    assert "abc123def456" not in asks  # a test the plugin acts in: scrubbed, as README says


TLS = """
import ssl

import httpx
import pytest


def context_type(client):
    return type(client._transport._pool._ssl_context).__name__


def test_plain():
    assert context_type(httpx.Client()) == "SSLContext"  # made at once, as httpx makes it


@pytest.mark.hfrouter_outage("provider-500", provider="novita", optional=True)
def test_asks():
    assert context_type(httpx.Client()) == "DeferredContext"  # made at the first handshake
"""


def test_a_client_built_where_the_plugin_does_not_act_gets_its_tls_context_at_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_client_tls=TLS)
    pytester.runpytest().assert_outcomes(passed=2)


@pytest.mark.parametrize("xdist", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_run_the_plugin_did_nothing_in_loads_no_library_and_writes_nothing(
    pytester: pytest.Pytester, tmp_path: Path, xdist: tuple[str, ...]
) -> None:
    cache, summary = tmp_path / "cache", tmp_path / "step-summary.md"
    summary.write_text("")
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    env = {"XDG_CACHE_HOME": str(cache), "GITHUB_STEP_SUMMARY": str(summary)}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        result = pytester.runpytest_subprocess(*xdist)
    result.assert_outcomes(passed=1)
    assert not cache.exists() or not any(cache.rglob("*"))  # before: the library parsed, its pickle written
    assert summary.read_text() == ""
