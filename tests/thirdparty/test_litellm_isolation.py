"""Between litellm tests: its Hub mapping cache is cleared, and its logging thread charges no one else."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("litellm")

HERE = Path(__file__).parent


@pytest.fixture
def litellm_app(pytester: pytest.Pytester) -> pytest.Pytester:
    shutil.copy(HERE / "app_litellm.py", pytester.path / "app_litellm.py")
    (pytester.path / "cassettes").mkdir()
    shutil.copy(HERE / "cassettes" / "litellm-hub-config.yaml", pytester.path / "cassettes")
    pytester.syspathinsert()
    return pytester


LEAK = """
import litellm
import pytest

import app_litellm as app

pytestmark = [pytest.mark.hfrouter_cassette("litellm-hub-config.yaml"),
              pytest.mark.filterwarnings("ignore::pytest_hfrouter.HFRouterWarning")]


def settle():
    from litellm.litellm_core_utils.thread_pool_executor import executor
    executor.submit(lambda: None).result(timeout=30)


@pytest.mark.hfrouter_outage("mapping-missing-provider", provider="novita")
def test_mapping_says_novita_is_gone(hfrouter):
    with pytest.raises(litellm.exceptions.APIError, match="not supported for provider novita"):
        litellm.completion(model=app.name("novita"), messages=app.MESSAGES, api_key="hf_fake")
    settle()


def test_next_test_sees_a_healthy_mapping(hfrouter):
    reply = litellm.completion(model=app.name("novita"), messages=app.MESSAGES, api_key="hf_fake")
    assert reply.choices[0].message.content
    hfrouter.assert_answered_by("novita")
    settle()
"""


def test_a_mapping_scenario_does_not_leak_into_the_next_test(litellm_app: pytest.Pytester) -> None:
    litellm_app.makepyfile(test_leak=LEAK)
    result = litellm_app.runpytest("-p", "hfrouter", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_without_the_builtin_reset_the_mapping_leaks(
    litellm_app: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: the same two tests with litellm's cache left alone (the issue's measurement)."""
    from pytest_hfrouter import resets

    monkeypatch.setattr(resets, "BUILTIN", tuple(r for r in resets.BUILTIN if not r.module.startswith("litellm")))
    litellm_app.makepyfile(test_leak=LEAK)
    result = litellm_app.runpytest("-p", "hfrouter", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_next_test_sees_a_healthy_mapping*", "*not supported for provider novita*"])


BACKGROUND = """
import threading

import pytest
from litellm.litellm_core_utils.thread_pool_executor import executor

import app_litellm as app

gate = threading.Event()


@pytest.mark.hfrouter_cassette("litellm-hub-config.yaml")
@pytest.mark.filterwarnings("ignore::pytest_hfrouter.HFRouterWarning")
def test_first_leaves_logging_work_behind(hfrouter):
    executor.submit(gate.wait, 30)  # holds the one logging thread: this test's logging runs later
    answer, provider = app.chat(chain=("novita",))
    assert provider == "novita"


def test_second_is_charged_for_nothing(hfrouter):
    gate.set()
    executor.submit(lambda: None).result(timeout=30)  # the first test's logging work ran, during this test
    assert hfrouter.calls == []
"""


def test_a_logging_thread_from_an_earlier_test_charges_nothing_to_the_next(litellm_app: pytest.Pytester) -> None:
    litellm_app.makepyfile(test_background=BACKGROUND)
    # The first test's cassette answers nothing within it, by design (its fetches run late, outside
    # any test), which hfrouter_on_unmatched would otherwise fail it for.
    result = litellm_app.runpytest_subprocess(
        "-p", "hfrouter", "-p", "no:cacheprovider", "-p", "no:xdist", "-o", "hfrouter_on_unmatched=warn"
    )
    result.assert_outcomes(passed=2)
    # the first test's late config.json fetches are the session's, not the second test's, and the cassette
    # the first test named answers them there: nothing is left for the session to fail on
    result.stdout.no_fnmatch_line("*requests outside any test*")
    assert result.ret == pytest.ExitCode.OK
