"""No silent green: an outage a test asks for happens to one of its calls, or the test says so.

Inner runs drive the real ``InferenceClient`` (``hfapp.py``, see conftest) and real httpx.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from conftest import CassetteWriter, InnerRun, needs_server_side_auto

from pytest_hfrouter import Call
from pytest_hfrouter.library import shipped_library
from pytest_hfrouter.markers import Resilience, merge_resilient, parse_outage
from pytest_hfrouter.overrides import OverrideError, parse_overrides
from pytest_hfrouter.providers import PROVIDERS, REMOVED, UnknownProvider, check_provider
from pytest_hfrouter.routes import RouteKind
from pytest_hfrouter.tasks import Step
from pytest_hfrouter.traffic import Rule
from pytest_hfrouter.unmatched import NOT_APPLICABLE, SHADOWED, UNMATCHED, diagnose


# -- §1: an outage that never happened is a finding ------------------------------------------------
def test_an_outage_on_a_provider_the_app_never_calls_fails_the_test(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat

        @pytest.mark.hfrouter_outage("provider-500", provider="groq")
        def test_chain(hfrouter):
            chat("novita")
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "pytest-hfrouter: an outage this test asks for never happened, so the test did not exercise it:",
            "  - @pytest.mark.hfrouter_outage('provider-500', provider='groq') answered no call of this test: no call "
            "went to provider 'groq'; the test called: novita Qwen/Qwen2.5-72B-Instruct",
            "  (a rule that may rightly not happen: optional=True; for the whole run: ini hfrouter_on_unmatched = "
            "warn or ignore)",
            "call log:",
            "  1. GET https://huggingface.co/api/models/Qwen/Qwen2.5-72B-Instruct?expand=inferenceProviderMapping *",
            "  2. POST https://router.huggingface.co/novita/v3/openai/chat/completions * -> 200 (healthy)",
        ]
    )


def test_an_outage_block_written_without_with_fails_the_test(hfapp: pytest.Pytester) -> None:
    """``hfrouter.outage(...)`` as a statement returns a block nobody enters: its outage applies to
    nothing, and the test says so even when the calls went on (and with the run's unmatched-rule
    policy at ignore: the test is wrong, not the outage). A block entered later is fine."""
    hfapp.makepyfile(
        """
        from hfapp import chat

        def test_statement(hfrouter):
            hfrouter.outage("provider-500", provider="novita")
            chat("novita")

        def test_entered_later(hfrouter):
            block = hfrouter.outage("provider-500", provider="novita")
            with block:
                assert hfrouter.calls == []
                try:
                    chat("novita")
                except Exception:
                    pass
            assert hfrouter.calls[-1].status == 500

        def test_statement_in_a_failing_test(hfrouter):
            hfrouter.outage("provider-500", provider="novita", times=1)
            assert chat("novita") is None
        """
    )

    result = hfapp.runpytest("-p", "hfrouter", "-o", "hfrouter_on_unmatched=ignore", "-rA")

    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_statement _*",
            "pytest-hfrouter: hfrouter.outage(...) was called, but its block never began, so its outage never "
            "happened:",
            "  - hfrouter.outage('provider-500', provider='novita')",
            "  It applies only inside a with block: with hfrouter.outage(...): <the calls>",
            "call log:",
        ]
    )
    # a test that failed on its own gets it as a note in its report
    result.stdout.fnmatch_lines(
        [
            "*_ test_statement_in_a_failing_test _*",
            "*assert * is None*",
            "*- Captured hfrouter call -*",
            "pytest-hfrouter: hfrouter.outage(...) was called, but its block never began*",
            "  - hfrouter.outage('provider-500', provider='novita', times=1 (used 0))",
        ]
    )


@pytest.mark.parametrize("again", ["--reruns=2", "--count-attempts"])
def test_a_test_run_again_meets_the_marker_its_fixture_adds_once(hfapp: pytest.Pytester, again: str) -> None:
    """An audit: a fixture's ``request.applymarker`` stays on the test, so each rerun found one more copy, and
    the copies failed a test whose app met the outage ("answered by scenario:provider-500 first (a closer
    rule ...)"). Each attempt now starts with the markers the test was collected with. Rerun by
    pytest-rerunfailures, or by a plugin that runs the protocol again itself (as pytest-retry does)."""
    pytest.importorskip("pytest_rerunfailures")
    hfapp.makeconftest(
        """
        import pytest
        from _pytest.runner import runtestprotocol

        def pytest_addoption(parser):
            parser.addoption("--count-attempts", action="store_true")

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_protocol(item, nextitem):
            if not item.config.getoption("count_attempts"):
                return None
            for attempt in range(3):  # a rerun plugin's loop, until the test passes
                reports = runtestprotocol(item, nextitem=nextitem, log=False)
                if all(report.passed for report in reports):
                    break
            for report in reports:
                item.ihook.pytest_runtest_logreport(report=report)
            return True
        """
    )
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat

        ATTEMPTS = []

        @pytest.fixture
        def novita_down(request):
            request.applymarker(pytest.mark.hfrouter_outage("provider-500", provider="novita"))

        def test_falls_back(novita_down, hfrouter):
            ATTEMPTS.append(1)
            with pytest.raises(Exception):
                chat("novita")
            assert chat("together").choices
            assert [c.answered_by for c in hfrouter.calls if c.provider][:1] == ["scenario:provider-500"]
            assert len(ATTEMPTS) == 3, "flaky: something else failed this attempt"
        """
    )
    args = ["-p", "hfrouter", again] + (["-p", "rerunfailures"] if again.startswith("--reruns") else [])
    result = hfapp.runpytest(*args)
    outcomes = {k: v for k, v in result.parseoutcomes().items() if k != "seconds"}
    assert outcomes == ({"passed": 1, "rerun": 2} if again.startswith("--reruns") else {"passed": 1})
    result.stdout.no_fnmatch_line("*a closer rule*")


def test_a_marker_a_fixture_adds_applies_or_fails_the_test(hfapp: pytest.Pytester) -> None:
    """A fixture that adds an outage marker (``request.applymarker``) runs after the plugin read the
    test's markers: the outage applies from the body on, as the user meant; a marker that is read
    before any fixture (a cassette) fails the test instead of applying to nothing; and so does any
    of the plugin's markers on a test the plugin does not act in (scope "marked")."""
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat

        @pytest.fixture
        def novita_down(request):
            request.applymarker(pytest.mark.hfrouter_outage("provider-500", provider="novita"))

        @pytest.fixture
        def groq_down(request):
            request.applymarker(pytest.mark.hfrouter_outage("provider-500", provider="groq"))

        @pytest.fixture
        def recorded(request):
            request.applymarker(pytest.mark.hfrouter_cassette("recorded.yaml"))

        @pytest.fixture
        def typo(request):
            request.applymarker(pytest.mark.hfrouter_outage("provider-5000", provider="novita"))

        @pytest.mark.hfrouter_outage("rate-limited-429", provider="together")
        def test_applies(novita_down, hfrouter):
            with pytest.raises(Exception):
                chat("novita")
            with pytest.raises(Exception):
                chat("together")
            assert [c.answered_by for c in hfrouter.calls if c.provider] == [
                "scenario:provider-500", "scenario:rate-limited-429"
            ]

        def test_never_happened(groq_down, hfrouter):
            chat("novita")

        def test_cassette(recorded, hfrouter):
            chat("novita")

        def test_typo(typo, hfrouter):
            chat("novita")
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*_ test_never_happened _*",
            "pytest-hfrouter: an outage this test asks for never happened, so the test did not exercise it:",
            "  - @pytest.mark.hfrouter_outage('provider-500', provider='groq') answered no call of this test*",
            "*_ test_cassette _*",
            "pytest-hfrouter: a fixture of test_a_marker_a_fixture_adds_applies_or_fails_the_test.py::test_cassette "
            "added @pytest.mark.hfrouter_cassette while the test's setup ran (request.applymarker or "
            "node.add_marker), and the plugin reads it when the test's setup begins, before any fixture, so it "
            "would apply to nothing. Put the marker on the test, its class or module (pytestmark), or add it in a "
            "conftest's pytest_collection_modifyitems.",
            "*_ test_typo _*",
            "pytest-hfrouter: *::test_typo: @pytest.mark.hfrouter_outage: unknown scenario 'provider-5000'. "
            "Did you mean 'provider-500'?*",
        ]
    )

    # scope "marked" (auto-loaded): the plugin leaves a test without its markers or fixtures alone,
    # so an outage its fixture adds cannot apply: said, not passed on the network's answers
    hfapp.makepyfile(
        test_unmarked="""
        import pytest

        @pytest.fixture
        def novita_down(request):
            request.applymarker(pytest.mark.hfrouter_outage("provider-500", provider="novita"))

        def test_unmarked(novita_down):
            pass
        """
    )
    unmarked = hfapp.runpytest("test_unmarked.py")

    unmarked.assert_outcomes(failed=1)
    unmarked.stdout.fnmatch_lines(
        [
            "pytest-hfrouter: a fixture of test_unmarked.py::test_unmarked added @pytest.mark.hfrouter_outage while "
            "the test's setup ran (request.applymarker or node.add_marker), and the plugin does not act in this test "
            "(scope=marked *): it decided when the test's setup began, before any fixture, so the test's requests "
            "are not the plugin's to answer. Put the marker on the test, its class or module (pytestmark), or add it "
            "in a conftest's pytest_collection_modifyitems; or name the hfrouter fixture in the test's arguments.",
        ]
    )

    # the same where the marker lands on the class (a class fixture's request.node), or the body adds it: each
    # passed, its calls going where the app sent them (an audit)
    hfapp.makepyfile(
        test_late="""
        import pytest

        class TestNovitaDown:
            @pytest.fixture(autouse=True, scope="class")
            @classmethod
            def novita_down(cls, request):
                request.node.add_marker(pytest.mark.hfrouter_outage("provider-500", provider="novita"))

            def test_first(self):
                pass

            def test_second(self, hfrouter):
                pass

        def test_in_body(request):
            request.applymarker(pytest.mark.hfrouter_outage("provider-500", provider="novita"))
        """
    )
    late = hfapp.runpytest("test_late.py")

    late.assert_outcomes(
        failed=3
    )  # test_second: on the class from its setup on, the outage applies (and never happens)
    late.stdout.fnmatch_lines_random(
        [
            "*hfrouter_outage('provider-500', provider='novita') answered no call of this test*",
            "pytest-hfrouter: a fixture of test_late.py::TestNovitaDown::test_first added "
            "@pytest.mark.hfrouter_outage while the test's setup ran *",
            "pytest-hfrouter: the body of test_late.py::test_in_body added @pytest.mark.hfrouter_outage while the "
            "test's body ran (request.applymarker or node.add_marker), and the plugin does not act in this test*",
        ]
    )


def test_a_marker_the_body_adds_fails_the_test(hfapp: pytest.Pytester) -> None:
    """The body is too late for a marker: its calls ran without it. A passing test fails naming it;
    a failing one keeps its own failure, with the finding in its report."""
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat

        def test_cassette_in_the_body(request, hfrouter):
            request.applymarker(pytest.mark.hfrouter_cassette("recorded.yaml"))
            chat("novita")

        def test_outage_in_a_failing_body(request, hfrouter):
            request.node.add_marker(pytest.mark.hfrouter_outage("provider-500", provider="novita"))
            chat("novita")
            assert False, "the app's own failure"

        def test_other_markers_are_not_ours(request, hfrouter):
            request.applymarker(pytest.mark.slow)
            chat("novita")
        """
    )

    result = hfapp.runpytest("-p", "hfrouter", "-W", "ignore::pytest.PytestUnknownMarkWarning")

    result.assert_outcomes(passed=1, failed=2)
    said = (
        "pytest-hfrouter: the body of *::{test} added @pytest.mark.{marker} (request.applymarker or "
        "node.add_marker). The plugin reads its markers when the test's setup begins, so this one applied to none "
        "of the test's calls. Put the marker on the test, its class or module; for an outage over part of the "
        "body: with hfrouter.outage(...): <the calls>."
    )
    result.stdout.fnmatch_lines(
        [
            "*_ test_cassette_in_the_body _*",
            said.format(test="test_cassette_in_the_body", marker="hfrouter_cassette"),
            "*_ test_outage_in_a_failing_body _*",
            "E       AssertionError: the app's own failure",
            "*- Captured hfrouter call -*",
            said.format(test="test_outage_in_a_failing_body", marker="hfrouter_outage"),
        ]
    )


def test_a_streamed_call_of_another_task_is_a_miss_not_an_empty_stream(hfapp: pytest.Pytester) -> None:
    """``text_generation(..., stream=True)``: no token stream of that task was ever recorded. The
    task's JSON answer would end the app's stream empty (a green test on nothing), and a stream
    scenario's chat-completion events would fail it on their shape, not on the outage: both are a
    miss that says so. An error status before any event still applies to the stream."""
    hfapp.makepyfile(
        """
        import pytest
        from huggingface_hub import InferenceClient
        from huggingface_hub.errors import HfHubHTTPError

        def tokens():
            client = InferenceClient(provider="hf-inference", api_key="hf_fake", timeout=10)
            return "".join(client.text_generation("Once upon", model="openai-community/gpt2", stream=True))

        def test_healthy(hfrouter):
            tokens()

        @pytest.mark.hfrouter_outage("stream-cut", provider="hf-inference")
        def test_cut(hfrouter):
            with pytest.raises(Exception):
                tokens()

        @pytest.mark.hfrouter_outage("provider-500", provider="hf-inference")
        def test_500(hfrouter):
            with pytest.raises(HfHubHTTPError):
                tokens()
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=1, failed=2)
    reason = (
        '  no healthy answer: this text-generation call asks for a stream ("stream": true), and pytest-hfrouter '
        "holds no recorded text-generation stream: the shipped answers of tasks other than chat are single JSON "
        "bodies (which would end the app's stream empty), and its stream scenarios play chat-completion events"
    )
    for test in ("test_healthy", "test_cut"):
        result.stdout.fnmatch_lines(
            [
                f"*_ {test} _*",
                "pytest-hfrouter: no answer for POST https://router.huggingface.co/hf-inference/models/"
                "openai-community/gpt2",
                reason,
                f"  to answer it, record it into *{test}.yaml: pytest -p hfrouter --hfrouter-mode=record '*::{test}'",
            ]
        )
    assert "or mark the test" not in result.stdout.str()


def test_a_route_no_scenario_reads_is_a_miss_that_names_the_one_fix(hfapp: pytest.Pytester) -> None:
    """A router route the plugin does not read (``/v1/models``): no outage marker can answer it,
    so the miss does not suggest one; nor, on any miss, a marker the test already has."""
    hfapp.makepyfile(
        """
        import httpx
        import pytest
        from hfapp import chat

        def test_models(hfrouter):
            httpx.get("https://router.huggingface.co/v1/models")

        @pytest.mark.hfrouter_outage("provider-500", provider="novita", optional=True)
        def test_marked(hfrouter):
            httpx.post("https://router.huggingface.co/hf-inference/models/openai-community/gpt2", json={})
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_models _*",
            "pytest-hfrouter: no answer for GET https://router.huggingface.co/v1/models",
            "  pytest-hfrouter does not read this route (it reads the chat completion routes, the provider routes "
            "and the Hub's model look-ups: README, How the router is read), so no outage scenario and no healthy "
            "answer applies to it; only a cassette can answer it (nothing leaves the process)",
            "  to answer it, record it into *test_models.yaml: pytest -p hfrouter "
            "--hfrouter-mode=record '*::test_models'",
            "*_ test_marked _*",
            "pytest-hfrouter: no answer for POST https://router.huggingface.co/hf-inference/models/"
            "openai-community/gpt2",
            "  no healthy answer: pytest-hfrouter cannot tell which task*",
            "  to answer it, record it into *test_marked.yaml: pytest -p hfrouter "
            "--hfrouter-mode=record '*::test_marked'",
        ]
    )
    assert "or mark the test" not in result.stdout.str()


def test_a_model_typo_is_named_with_the_nearest_model(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat

        def test_typo(hfrouter):
            with hfrouter.outage("provider-500", provider="novita", model="Qwen/Qwen2.5-72B-Instruc"):
                chat("novita")
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "  - hfrouter.outage('provider-500', provider='novita', model='Qwen/Qwen2.5-72B-Instruc') answered no "
            "call of this test: no call went to provider 'novita' with model 'Qwen/Qwen2.5-72B-Instruc'; the test "
            "called: novita Qwen/Qwen2.5-72B-Instruct — did you mean model='Qwen/Qwen2.5-72B-Instruct'?",
        ]
    )


def test_a_stream_only_outage_on_a_plain_call_says_it_cannot_apply(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat

        @pytest.mark.hfrouter_outage("stream-cut", provider="novita")
        def test_plain(hfrouter):
            chat("novita")
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "  - @pytest.mark.hfrouter_outage('stream-cut', provider='novita') answered no call of this test: "
            'stream-cut happens only to streamed requests ("stream": true); the matching calls were plain',
        ]
    )


@needs_server_side_auto
def test_a_hub_side_outage_on_the_auto_route_says_the_route_makes_no_mapping_look_up(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import MODEL, auto_chat

        @pytest.mark.hfrouter_outage("staging-auth", provider="novita")
        def test_auto(hfrouter):
            auto_chat(MODEL)
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*staging-auth changes the Hub's provider-mapping look-up, and the test's calls went to the auto route "
            "(POST /v1/chat/completions), which makes no mapping look-up*",
        ]
    )


def test_a_shadowed_rule_is_named_with_what_answered_instead(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat

        pytestmark = pytest.mark.hfrouter_outage("provider-500", provider="novita")

        @pytest.mark.hfrouter_outage("rate-limited-429", provider="novita")
        def test_closest(hfrouter):
            chat("novita")
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "  - @pytest.mark.hfrouter_outage('provider-500', provider='novita') answered no call of this test: the "
            "1 call(s) it could answer were answered by scenario:rate-limited-429 first *",
        ]
    )


def test_optional_and_the_ini_modes(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat

        @pytest.mark.hfrouter_outage("provider-500", provider="groq", optional=True)
        def test_optional(hfrouter):
            chat("novita")

        def test_optional_block(hfrouter):
            with hfrouter.outage("provider-500", provider="groq", optional=True):
                chat("novita")

        @pytest.mark.hfrouter_outage("provider-500", provider="groq")
        def test_required(hfrouter):
            chat("novita")
        """
    )

    assert hfapp.runpytest("-p", "hfrouter").parseoutcomes() == {"passed": 2, "failed": 1}
    warned = hfapp.runpytest("-p", "hfrouter", "-o", "hfrouter_on_unmatched=warn")
    warned.assert_outcomes(passed=3, warnings=1)
    warned.stdout.fnmatch_lines(["*HFRouterWarning: pytest-hfrouter: an outage this test asks for never happened*"])
    hfapp.runpytest("-p", "hfrouter", "-o", "hfrouter_on_unmatched=ignore").assert_outcomes(passed=3)
    bad = hfapp.runpytest("-p", "hfrouter", "-o", "hfrouter_on_unmatched=fial")
    bad.stderr.fnmatch_lines(["*hfrouter_on_unmatched = 'fial' is not valid. Did you mean 'fail'? Valid values: *"])


def test_a_warning_made_an_error_pre_empts_no_finding(hfapp: pytest.Pytester, write_cassette: CassetteWriter) -> None:
    """An audit: under ``-W error`` (or ``filterwarnings = error``) the cassette's unplayed interaction,
    warned in the middle of the checks, failed the test plainly: the xfail absorbed that failure, and the
    outage that never happened, found before it, was lost (XFAIL, a green run). Every finding is now made
    first; a warning made an error joins them."""
    write_cassette("cassettes/extra.yaml", example_com=True)  # an interaction the test never requests
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat

        @pytest.mark.xfail(reason="no fallback yet")
        @pytest.mark.hfrouter_cassette("extra.yaml")
        @pytest.mark.hfrouter_outage("provider-500", provider="together")
        def test_pinned(hfrouter):
            chat("novita")
            raise AssertionError("the app has no fallback")

        @pytest.mark.hfrouter_cassette("extra.yaml")
        def test_unplayed(hfrouter):
            chat("novita")
        """
    )

    result = hfapp.runpytest("-p", "hfrouter", "-W", "error::pytest_hfrouter.HFRouterWarning")

    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*test_pinned*",
            "*an outage this test asks for never happened*",
            "*test_unplayed*",
            "*the test never requested 1 of its interactions:",
            "*example.com/api/recorded (an HFRouterWarning, made an error by -W or filterwarnings)",
        ]
    )


def test_a_failing_test_shows_the_outage_that_never_happened_in_its_report(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat

        @pytest.mark.hfrouter_outage("provider-500", provider="together")
        def test_fails(hfrouter):
            chat("novita")
            assert hfrouter.tried == ["novita", "together"]
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*AssertionError*", "*- Captured hfrouter call -*", "*never happened*"])


# -- provider names, checked at collection ---------------------------------------------------------
@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("grok", "unknown provider 'grok'. Did you mean 'groq'?"),
        ("novtia", "unknown provider 'novtia'. Did you mean 'novita'?"),
        (" novita", "unknown provider ' novita'. Did you mean 'novita'?"),
        ("nov*x", "provider glob 'nov*x' matches no provider the router knows."),
    ],
)
def test_unknown_provider_names_are_rejected(given: str, message: str) -> None:
    with pytest.raises(UnknownProvider) as excinfo:
        check_provider(given)
    assert str(excinfo.value).startswith(message)
    assert "Providers: baseten, cerebras," in str(excinfo.value)


def test_known_globs_and_removed_providers() -> None:
    assert check_provider("novita") is None
    assert check_provider("Together") is None
    assert check_provider("n*") is None
    note = check_provider("hyperbolic")
    assert note is not None and "removed from the router on 2026-07-01" in note
    assert {n for n, p in PROVIDERS.items() if p.status == REMOVED} == {
        "hyperbolic",
        "nebius",
        "sambanova",
        "clarifai",
        "nvidia",
        "black-forest-labs",
    }


def test_a_provider_typo_is_a_collection_error_in_every_api(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        test_marker="""
        import pytest

        @pytest.mark.hfrouter_outage("provider-500", provider="grok")
        def test_marker(hfrouter):
            pass

        @pytest.mark.hfrouter_each_outage("provider-500", provider="novtia")
        def test_each(hfrouter):
            pass
        """,
        test_block="""
        def test_block(hfrouter):
            with hfrouter.outage("provider-500", provider="grok"):
                pass
        """,
    )

    result = hfapp.runpytest("-p", "hfrouter", "--continue-on-collection-errors")

    result.assert_outcomes(errors=1, failed=1)
    result.stdout.fnmatch_lines_random(
        [
            "*test_marker.py::test_marker: @pytest.mark.hfrouter_outage: provider='grok': unknown provider 'grok'. "
            "Did you mean 'groq'?*",
            "E   *MarkerError: hfrouter.outage(...): provider='grok': unknown provider 'grok'. Did you mean 'groq'?*",
            "*signature: with hfrouter.outage(scenario, *",
        ]
    )


def test_a_blocks_unknown_scenario_is_a_scenario_error_and_the_servers_block_names_itself(
    hfapp: pytest.Pytester,
) -> None:
    """The README's API section: ``hfrouter.outage("bogus")`` raises `ScenarioError` (an audit: it raised
    a `MarkerError` only, which the package does not export). The double's block is named as itself, with
    the signature's ``step=``."""
    hfapp.makepyfile(
        """
        import pytest
        from pytest_hfrouter import ScenarioError


        def test_block(hfrouter):
            with pytest.raises(ScenarioError, match="provider-50"):
                hfrouter.outage("provider-50")


        def test_server_block(hfrouter_server):
            hfrouter_server.outage("provider-500", times=0)
        """
    )
    result = hfapp.runpytest("-p", "hfrouter")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E   *MarkerError: hfrouter_server.outage(...): times must be *, got 0",
            "E*signature: with hfrouter_server.outage(scenario, *, provider=None, model=None, times=None, "
            "delay=None, step=None, retry_after=*",
        ]
    )


def test_a_removed_provider_is_allowed_with_a_note(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        """
        import httpx
        import pytest

        # huggingface_hub 2.x no longer knows hyperbolic; an old app calling its route does.
        URL = "https://router.huggingface.co/hyperbolic/v1/chat/completions"
        BODY = {"model": "Qwen/Qwen2.5-72B-Instruct", "messages": []}

        @pytest.mark.hfrouter_outage("provider-500", provider="hyperbolic")
        def test_old(hfrouter):
            assert httpx.post(URL, json=BODY).status_code == 500

        @pytest.mark.hfrouter_outage("invalid-token-401", provider="hyperbolic")
        def test_old_again(hfrouter):
            assert httpx.post(URL, json=BODY).status_code == 401
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines(["*provider 'hyperbolic' was removed from the router on 2026-07-01*"])
    # a warnings filter that makes it an error: each module that names it fails to collect, saying which test
    # and why (it was a traceback through the plugin's hooks, and only the first module's)
    hfapp.makepyfile(
        test_again="import pytest\n\n@pytest.mark.hfrouter_outage('provider-500', provider='hyperbolic')\n"
        "def test_third(hfrouter):\n    pass\n"
    )
    strict = hfapp.runpytest("-p", "hfrouter", "-W", "error::pytest_hfrouter.HFRouterWarning")
    strict.assert_outcomes(errors=2)
    strict.stdout.fnmatch_lines(
        [
            "*test_again.py::test_third: pytest-hfrouter: provider 'hyperbolic' was removed from the router on "
            "2026-07-01 * (an HFRouterWarning, made an error by -W or filterwarnings)",
        ]
    )
    assert "Traceback" not in strict.stdout.str()


def test_a_call_to_a_provider_the_router_does_not_route_is_a_miss(hfapp: pytest.Pytester) -> None:
    """A typo in the app's own URL or ``model:provider`` suffix was answered 200 with novita's healthy
    answer: green, where the real router answers with an error."""
    hfapp.makepyfile(
        """
        import httpx
        import pytest
        from openai import OpenAI

        BODY = {"model": "Qwen/Qwen2.5-72B-Instruct", "messages": [{"role": "user", "content": "hi"}]}

        def test_path(hfrouter):
            httpx.post("https://router.huggingface.co/novitaa/v3/openai/chat/completions", json=BODY)

        def test_suffix(hfrouter):
            client = OpenAI(base_url="https://router.huggingface.co/v1", api_key="hf_x", max_retries=0)
            client.chat.completions.create(model="Qwen/Qwen2.5-72B-Instruct:togther", messages=BODY["messages"])

        def test_known_provider_without_recording(hfrouter):  # groq is routed: the default answer stands
            reply = httpx.post("https://router.huggingface.co/groq/openai/v1/chat/completions", json=BODY)
            assert reply.status_code == 200
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "*no answer for POST https://router.huggingface.co/novitaa/v3/openai/chat/completions",
            "*the router routes no provider 'novitaa'. Did you mean 'novita'? Its answer to a provider it does not "
            "route is an error that was never recorded*",
            "*no answer for POST https://router.huggingface.co/v1/chat/completions",
            "*the router routes no provider 'togther'. Did you mean 'together'?*",
        ]
    )


def test_chat_to_a_provider_that_serves_no_chat_is_a_miss_and_to_a_removed_one_is_said(hfapp: pytest.Pytester) -> None:
    """``model:fal-ai`` and ``/replicate/v1/chat/completions`` were answered with novita's chat (production
    fails them); ``model:hyperbolic``, a provider the router removed, passed in silence."""
    hfapp.makepyfile(
        """
        import httpx
        from openai import OpenAI

        MESSAGES = [{"role": "user", "content": "hi"}]

        def test_suffix(hfrouter):
            client = OpenAI(base_url="https://router.huggingface.co/v1", api_key="hf_x", max_retries=0)
            client.chat.completions.create(model="Qwen/Qwen2.5-72B-Instruct:fal-ai", messages=MESSAGES)

        def test_path(hfrouter):
            body = {"model": "Qwen/Qwen2.5-72B-Instruct", "messages": MESSAGES}
            httpx.post("https://router.huggingface.co/replicate/v1/chat/completions", json=body)

        def test_removed(hfrouter):
            client = OpenAI(base_url="https://router.huggingface.co/v1", api_key="hf_x", max_retries=0)
            client.chat.completions.create(model="Qwen/Qwen2.5-72B-Instruct:hyperbolic", messages=MESSAGES)
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=1, failed=2, warnings=1)
    result.stdout.fnmatch_lines_random(
        [
            "*no answer for POST https://router.huggingface.co/v1/chat/completions: fal-ai serves no chat on the "
            "router (its tasks: *",
            "*no answer for POST https://router.huggingface.co/replicate/v1/chat/completions: replicate serves no "
            "chat*",
            "*the app called hyperbolic, which the router stopped routing on 2026-07-01*",
        ]
    )


XFAIL_PINNED = """
import pytest
from hfapp import chat


def answer():
    try:
        return chat("novita").choices[0].message.content
    except Exception:
        return chat("together").choices[0].message.content


@pytest.mark.xfail(strict=True, reason="known bug: no fallback when novita 500s")
@pytest.mark.hfrouter_outage("provider-500", provider="novita", model="meta-llama/Llama-3.1-8B-Instruct")
def test_strict_body_passes():
    assert answer()


@pytest.mark.xfail(reason="known bug")
@pytest.mark.hfrouter_outage("provider-500", provider="novita", model="meta-llama/Llama-3.1-8B-Instruct")
def test_body_fails_on_the_healthy_answer():
    assert answer() == "from together"


@pytest.mark.xfail(strict=True, reason="known bug")
@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_the_outage_happened_and_the_body_failed():
    chat("novita")


@pytest.mark.xfail(reason="known bug")
def test_a_request_nothing_answered():
    import httpx

    try:
        httpx.get("https://router.huggingface.co/v1/models")
    except Exception:
        pass
    raise AssertionError("the app's own bug")
"""


def test_an_xfail_does_not_absorb_an_outage_that_never_happened(hfapp: pytest.Pytester) -> None:
    """An xfail pins the app's failure; "the outage never happened" says the app was not put to the test,
    and fails the test through it (an audit: a strict xfail over an outage whose model was mistyped read
    XFAIL, exit 0, and the same test without the plugin's check read XPASS(strict), red). An outage that
    happened leaves the xfail as it is."""
    hfapp.makepyfile(test_pinned=XFAIL_PINNED)

    result = hfapp.runpytest("-p", "hfrouter", "-rA")

    result.assert_outcomes(failed=3, xfailed=1)
    result.stdout.fnmatch_lines_random(
        [
            "FAILED test_pinned.py::test_strict_body_passes - Failed: *",
            "FAILED test_pinned.py::test_body_fails_on_the_healthy_answer - Failed: *",
            "FAILED test_pinned.py::test_a_request_nothing_answered - Failed: *",
            "XFAIL test_pinned.py::test_the_outage_happened_and_the_body_failed - known bug",
            "(the test body failed too: AssertionError*",
        ]
    )
    # each failure's section (the short summary repeats it where the terminal is wide enough)
    never = "pytest-hfrouter: an outage this test asks for never happened"
    assert sum(line.startswith(never) for line in result.stdout.lines) == 2


def test_a_unittest_testcase_is_judged_as_a_test_function_is(hfapp: pytest.Pytester) -> None:
    """unittest catches a TestCase's failure, and pytest reports it from there, in place of what the plugin
    raised: an xfail (or ``unittest.expectedFailure``) absorbed "never happened" (an audit: XFAIL, green)."""
    hfapp.makepyfile(
        """
        import unittest

        import pytest
        from hfapp import chat

        @pytest.mark.hfrouter_outage("novita-500", provider="novita")
        class TestChain(unittest.TestCase):
            @pytest.mark.xfail(reason="known bug")
            def test_xfail(self):
                chat("together")
                assert False

            @unittest.expectedFailure
            def test_expected_failure(self):
                assert False

            def test_failed_anyway(self):
                assert False, "the app's own failure"

            def test_met(self):
                with self.assertRaises(Exception):
                    chat("novita")
        """
    )

    result = hfapp.runpytest("-p", "hfrouter", "-rA")

    result.assert_outcomes(failed=3, passed=1)
    result.stdout.fnmatch_lines_random(
        [
            "FAILED *::TestChain::test_xfail*",
            "FAILED *::TestChain::test_expected_failure*",
            "FAILED *::TestChain::test_failed_anyway*",
            "E       AssertionError: the app's own failure",
            "(the test body failed too: AssertionError*",
            "(the test body failed, as its unittest.expectedFailure expects)",
            "*Captured hfrouter call*",
        ]
    )
    assert (
        sum(
            line.startswith("pytest-hfrouter: an outage this test asks for never happened")
            for line in result.stdout.lines
        )
        == 3
    )


def test_an_outage_that_met_calls_only_outside_where_it_applied_says_so(hfapp: pytest.Pytester) -> None:
    """A marker a fixture added applies from the body on, a block inside its with: the calls they could
    have answered came before (or after), and the finding says that, not "a closer rule answered first"
    (an audit: no closer rule existed)."""
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat

        @pytest.fixture
        def warmed(request):
            request.applymarker(pytest.mark.hfrouter_outage("provider-500", provider="novita"))
            chat("novita")

        def test_marker_added_by_a_fixture(warmed):
            pass

        def test_calls_around_an_empty_block(hfrouter):
            chat("novita")
            with hfrouter.outage("provider-500", provider="novita"):
                pass
            chat("novita")
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "*answered no call of this test: the 1 call(s) it could answer were made in the test's setup, before a "
            "fixture added this marker (request.applymarker)*",
            "*answered no call of this test: the 2 call(s) it could answer were made outside its with block*",
        ]
    )
    assert "a closer rule" not in result.stdout.str()


def test_a_matrix_a_fixture_adds_is_sent_to_the_test_not_to_modifyitems(hfapp: pytest.Pytester) -> None:
    """hfrouter_each_outage parametrizes the test while it is collected, before a conftest's
    pytest_collection_modifyitems runs: the message names only the places that work (an audit)."""
    hfapp.makepyfile(
        """
        import pytest

        @pytest.fixture
        def matrix(request):
            request.applymarker(pytest.mark.hfrouter_each_outage("provider-500", provider="novita"))

        def test_matrix(matrix, hfrouter):
            pass
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*added @pytest.mark.hfrouter_each_outage while the test's setup ran*"])
    result.stdout.fnmatch_lines(["*Put the marker on the test, its class or module (pytestmark).*"])
    assert "pytest_collection_modifyitems" not in result.stdout.str()


# -- §2: the matrix runs only what can happen --------------------------------------------------------
def test_each_outage_skips_the_cases_that_cannot_apply_with_their_reason(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat, status_of

        @pytest.mark.hfrouter_each_outage(
            "provider-500", "stream-cut", "model-not-supported-400", "mapping-missing-provider", provider="novita"
        )
        def test_plain_provider_route(hfrouter):
            status_of(lambda: chat("novita"))
            status_of(lambda: chat("together"))
        """
    )

    result = hfapp.runpytest("-p", "hfrouter", "-rs")

    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines_random(
        [
            "SKIPPED [[]1[]] test_*.py:4: hfrouter_each_outage case stream-cut cannot apply: stream-cut happens only "
            "to streamed requests*",
            "SKIPPED [[]1[]] test_*.py:4: hfrouter_each_outage case model-not-supported-400 cannot apply: "
            "model-not-supported-400 happens only on the auto route*",
        ]
    )


def test_each_outage_case_that_could_apply_but_answered_nothing_fails(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat

        @pytest.mark.hfrouter_each_outage("provider-500", provider="together")
        def test_never_reaches_together(hfrouter):
            chat("novita")
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["  - hfrouter_each_outage case('provider-500', provider='together') answered no call of this test: *"]
    )


# -- §3: scenario parameters -----------------------------------------------------------------------
def test_parse_overrides_validates_each_parameter() -> None:
    overrides = parse_overrides({"retry_after": 1, "status": 503}, sends_status=True)
    assert overrides is not None and overrides.describe() == "retry_after=1, status=503"
    assert parse_overrides({}, sends_status=True) is None
    for kwargs, problem in [
        ({"status": 99}, "status must be an HTTP status code"),
        ({"status": True}, "status must be an HTTP status code"),
        ({"retry_after": -1}, "retry_after must be seconds >= 0, or None"),
        ({"retry_after": "soon"}, "retry_after must be seconds >= 0, or None"),
        ({"body": 3}, "body must be a str, bytes, or a dict or list"),
        ({"headers": {"X": 1}}, "headers must be a dict of header name to str value"),
    ]:
        with pytest.raises(OverrideError, match=problem):
            parse_overrides(kwargs, sends_status=True)
    with pytest.raises(OverrideError, match="cannot apply: this scenario's fault strikes before any status line"):
        parse_overrides({"status": 500}, sends_status=False)


def test_overrides_rewrite_status_headers_body_and_the_ratelimit_wait() -> None:
    headers = (("Retry-After", "55"), ("ratelimit", '"api";r=0;t=55'), ("X-Keep", "1"))
    overrides = parse_overrides({"retry_after": 1.5, "headers": {"X-New": "yes"}}, sends_status=True)
    assert overrides is not None
    status, reason, out, body = overrides.apply(429, "Too Many Requests", headers, b"x")
    assert (status, reason, body) == (429, "Too Many Requests", b"x")
    assert out == (("ratelimit", '"api";r=0;t=1.5'), ("X-Keep", "1"), ("Retry-After", "1.5"), ("X-New", "yes"))
    dropped = parse_overrides({"retry_after": None, "status": 503, "body": {"error": "busy"}}, sends_status=True)
    assert dropped is not None
    status, reason, out, body = dropped.apply(429, "Too Many Requests", headers, b"x")
    assert (status, reason, json.loads(body)) == (503, "Service Unavailable", {"error": "busy"})
    assert out == (("X-Keep", "1"), ("Content-Type", "application/json"))


def test_scenario_parameters_reach_the_app_and_the_verdicts(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        """
        import pytest
        from huggingface_hub.errors import HfHubHTTPError
        from hfapp import chat

        @pytest.mark.hfrouter_outage("rate-limited-429", provider="novita", retry_after=1)
        def test_short_wait(hfrouter):
            with pytest.raises(HfHubHTTPError) as excinfo:
                chat("novita")
            assert excinfo.value.response.headers["retry-after"] == "1"
            assert excinfo.value.response.headers["ratelimit"] == '"api";r=0;t=1'
            assert hfrouter.inference_calls[-1].retry_after == 1.0

        def test_block_status_and_body(hfrouter):
            with hfrouter.outage("provider-500", provider="novita", status=503, body={"error": "busy"}):
                with pytest.raises(HfHubHTTPError) as excinfo:
                    chat("novita")
            assert excinfo.value.response.status_code == 503
            assert excinfo.value.server_message == "busy"

        @pytest.mark.hfrouter_each_outage("rate-limited-429", provider="novita", retry_after=[0, 30, None])
        def test_matrix(hfrouter):
            with pytest.raises(HfHubHTTPError):
                chat("novita")
        """
    )

    result = hfapp.runpytest("-p", "hfrouter", "-v")

    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines_random(
        [
            "*test_matrix[[]rate-limited-429-retry_after=0[]] PASSED*",
            "*test_matrix[[]rate-limited-429-retry_after=30[]] PASSED*",
            "*test_matrix[[]rate-limited-429-retry_after=None[]] PASSED*",
        ]
    )


def test_bad_scenario_parameters_name_the_api_used(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        test_marker="""
        import pytest

        @pytest.mark.hfrouter_outage("read-timeout", provider="novita", status=500)
        def test_marker(hfrouter):
            pass
        """,
        test_block="""
        def test_block(hfrouter):
            with hfrouter.outage("rate-limited-429", provider="novita", retry_after="soon"):
                pass
        """,
    )

    result = hfapp.runpytest("-p", "hfrouter", "--continue-on-collection-errors")

    result.assert_outcomes(errors=1, failed=1)
    result.stdout.fnmatch_lines_random(
        [
            "*@pytest.mark.hfrouter_outage: read-timeout: status= cannot apply: this scenario's fault strikes before "
            "any status line*",
            "E   *MarkerError: hfrouter.outage(...): rate-limited-429: retry_after must be "
            "seconds >= 0, or None to drop the Retry-After header, got 'soon'",
        ]
    )


# -- §4: verdicts and hygiene see everything --------------------------------------------------------
RATE_LIMITED_CASSETTE = """\
interactions:
- request:
    body: '{"model": "Qwen/Qwen2.5-72B-Instruct", "messages": [], "stream": false}'
    headers: {}
    method: POST
    uri: https://router.huggingface.co/novita/v3/openai/chat/completions
  response:
    body: {string: '{"error": "rate limited"}'}
    headers:
      Content-Type: [application/json]
      Retry-After: ['30']
    status: {code: 429, message: Too Many Requests}
version: 1
"""


def test_a_429_from_a_cassette_is_judged(hfapp: pytest.Pytester) -> None:
    (hfapp.path / "cassettes").mkdir()
    (hfapp.path / "cassettes" / "rate.yaml").write_text(RATE_LIMITED_CASSETTE)
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat, status_of

        @pytest.mark.hfrouter_cassette("rate.yaml")
        @pytest.mark.hfrouter_resilient()
        def test_retries_at_once(hfrouter):
            assert status_of(lambda: chat("novita")) == 429
            assert status_of(lambda: chat("novita")) == 429
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "pytest-hfrouter: resilience verdicts:",
            "  retry-after-ignored: novita Qwen/Qwen2.5-72B-Instruct was called again after *; the answer asked "
            "for 30 s",
        ]
    )


def test_resilient_markers_merge_closest_wins_per_argument(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat, status_of

        pytestmark = pytest.mark.hfrouter_resilient(chain=("novita", "together"))

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        @pytest.mark.hfrouter_resilient(allow=("retry-storm",))
        def test_gave_up(hfrouter):
            assert status_of(lambda: chat("novita")) == 500
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["  gave-up-early: the chain ended with 500 from novita while together had never*"])


def test_unplayed_interactions_are_warned_on_failing_tests_too(
    hfapp: pytest.Pytester, write_cassette: CassetteWriter
) -> None:
    write_cassette("cassettes/extra.yaml", example_com=True)
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat

        @pytest.mark.hfrouter_cassette("extra.yaml")
        def test_fails(hfrouter):
            chat("novita")
            assert False
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=1, warnings=1)
    result.stdout.fnmatch_lines(["*extra.yaml: the test never requested 1 of its interactions:*"])


# -- §6: small things that make a user trust it ----------------------------------------------------
def test_no_hfrouter_wins_over_addopts(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\naddopts = -p hfrouter\n")
    pytester.makepyfile(
        """
        def test_uses_the_fixture(hfrouter):
            pass

        def test_plain():
            pass
        """
    )

    result = pytester.runpytest("-p", "no:hfrouter")

    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*pytest-hfrouter is turned off in this run (-p no:hfrouter)*'hfrouter' fixture*"])
    result.stdout.no_fnmatch_line("*KeyError*")


def test_serve_errors_name_the_command_line(pytester: pytest.Pytester) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "pytest_hfrouter", "serve", "--port", "0", "--outage", "provider-500:provider=grok"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2
    assert done.stderr.startswith(
        "hfrouter: error: serve --outage: provider='grok': unknown provider 'grok'. Did you mean 'groq'?"
    )
    assert "signature: --outage SCENARIO[:key=value,...]" in done.stderr


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("stream-cut:provider=novita,body=xyz", "unexpected keyword argument(s) body"),
        ("stream-cut:provider=novita,optional=1", "unexpected keyword argument(s) optional"),
        ("novita-500:provider=novita,times=0", "times must be a whole number from 1 (leave it out: every call), got 0"),
    ],
)
def test_serve_takes_only_the_keys_a_command_line_can_spell(spec: str, problem: str) -> None:
    """``serve --outage`` names its keys; one it does not take (a body, ``optional``) is an error
    naming it, not an outage that runs with less than it says."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "pytest_hfrouter", "serve", "--port", "0", "--outage", spec],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == f"hfrouter: error: serve --outage: {problem}"
    assert done.stderr.splitlines()[1] == (
        "  signature: --outage SCENARIO[:key=value,...] with keys provider, model, times, delay, step, retry_after, "
        "status (e.g. --outage rate-limited-429:provider=novita,retry_after=1)"
    )


# -- §3: the user's own scenarios -------------------------------------------------------------------
SHIPPED_429 = Path(__file__).resolve().parent.parent / "cassettes" / "scenarios" / "rate-limited-429.yaml"


def _user_scenario(folder: Path, name: str, *, shadow: bool = False, retry_after: str = "1") -> Path:
    """A copy of the shipped 429 under another name, with its own Retry-After."""
    text = SHIPPED_429.read_text(encoding="utf-8").replace("name: rate-limited-429", f"name: {name}")
    text = text.replace("Retry-After:\n      - '55'", f"Retry-After:\n      - '{retry_after}'")
    if shadow:
        text = text.replace("    aliases: []\n", "    aliases: []\n    shadow: true\n")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_user_scenario_edited_or_deleted_between_runs_in_one_process_is_read_again(hfapp: pytest.Pytester) -> None:
    """A notebook or a watcher runs pytest again in its process: the edit applies, a deleted file is gone."""
    path = _user_scenario(hfapp.path / "outages", "quick-429", retry_after="7")
    hfapp.makeini("[pytest]\nhfrouter_scenario_dirs = outages\n")
    hfapp.makepyfile(
        """
        import os

        import pytest
        from huggingface_hub.errors import HfHubHTTPError
        from hfapp import chat

        @pytest.mark.hfrouter_outage("quick-429", provider="novita")
        def test_marked():
            with pytest.raises(HfHubHTTPError) as excinfo:
                chat("novita")
            assert excinfo.value.response.headers["retry-after"] == os.environ["EXPECTED_RETRY_AFTER"]
        """
    )
    for retry_after in ("7", "3"):
        _user_scenario(hfapp.path / "outages", "quick-429", retry_after=retry_after)
        os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + int(retry_after)))  # a coarse clock
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("EXPECTED_RETRY_AFTER", retry_after)
            hfapp.runpytest_inprocess("-p", "hfrouter").assert_outcomes(passed=1)
    path.unlink()
    gone = hfapp.runpytest_inprocess("-p", "hfrouter")
    gone.assert_outcomes(errors=1)
    gone.stdout.fnmatch_lines(["*unknown scenario 'quick-429'*"])


def test_user_scenarios_work_in_markers_the_matrix_lint_and_the_listing(hfapp: pytest.Pytester) -> None:
    assert "Retry-After:\n      - '55'" in SHIPPED_429.read_text(encoding="utf-8")  # what _user_scenario rewrites
    _user_scenario(hfapp.path / "outages", "quick-429")
    hfapp.makeini("[pytest]\nhfrouter_scenario_dirs = outages\n")
    hfapp.makepyfile(
        """
        import pytest
        from huggingface_hub.errors import HfHubHTTPError
        from hfapp import chat

        @pytest.mark.hfrouter_outage("quick-429", provider="novita")
        def test_marker(hfrouter):
            with pytest.raises(HfHubHTTPError) as excinfo:
                chat("novita")
            assert excinfo.value.response.headers["retry-after"] == "1"

        @pytest.mark.hfrouter_each_outage("quick-429", "provider-500", provider="novita")
        def test_matrix(hfrouter):
            with pytest.raises(HfHubHTTPError):
                chat("novita")
        """
    )

    hfapp.runpytest("-p", "hfrouter").assert_outcomes(passed=3)
    # the run's own scenarios are in the report's catalog, so one no test met is a gap (serial and -n 2)
    _user_scenario(hfapp.path / "outages", "unmet-429")
    for xdist in ([], ["-n", "2"]):
        result = hfapp.runpytest_subprocess(
            "-p", "hfrouter", *xdist, "--hfrouter-report=r.json", "--hfrouter-summary=s.md"
        )
        result.assert_outcomes(passed=3)
        report = json.loads((hfapp.path / "r.json").read_text())
        assert {"quick-429", "unmet-429"} <= set(report["scenarios"]), xdist
        assert "unmet-429" in report["coverage"]["gaps"]["novita"], xdist
        assert "unmet-429" in (hfapp.path / "s.md").read_text(), xdist
    listing = hfapp.run(sys.executable, "-m", "pytest_hfrouter", "scenarios", "--scenario-dir", "outages")
    listing.stdout.fnmatch_lines(["quick-429 *http *429 *provider,auto *yours: *quick-429.yaml"])
    assert hfapp.run(sys.executable, "-m", "pytest_hfrouter", "lint", "outages").ret == 0


def test_a_user_scenario_shadows_a_shipped_one_only_when_it_says_so(hfapp: pytest.Pytester) -> None:
    _user_scenario(hfapp.path / "outages", "rate-limited-429", retry_after="2")
    hfapp.makeini("[pytest]\nhfrouter_scenario_dirs = outages\n")
    hfapp.makepyfile("def test_nothing():\n    pass\n")

    refused = hfapp.runpytest("-p", "hfrouter")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(
        ["*hfrouter_scenario_dirs: *rate-limited-429.yaml: 'rate-limited-429' is a shipped scenario *shadow: true*"]
    )
    linted = hfapp.run(sys.executable, "-m", "pytest_hfrouter", "lint", "outages")
    assert linted.ret == 1
    linted.stdout.fnmatch_lines(["*'rate-limited-429' is a shipped scenario*"])

    _user_scenario(hfapp.path / "outages", "rate-limited-429", shadow=True, retry_after="2")
    hfapp.makepyfile(
        """
        import pytest
        from huggingface_hub.errors import HfHubHTTPError
        from hfapp import chat

        @pytest.mark.hfrouter_outage("rate-limited-429", provider="novita")
        def test_shadowed(hfrouter):
            with pytest.raises(HfHubHTTPError) as excinfo:
                chat("novita")
            assert excinfo.value.response.headers["retry-after"] == "2"
        """
    )
    hfapp.runpytest("-p", "hfrouter").assert_outcomes(passed=1)


NO_BODY = """\
interactions:
- request:
    body: null
    headers: {}
    method: POST
    uri: https://router.huggingface.co/novita/v3/openai/chat/completions
  response:
    body: {string: '{"choices": []}'}
    headers: {}
    status: {code: 200, message: OK}
version: 1
"""


def test_an_interaction_that_can_never_match_is_flagged_by_lint_and_on_load(hfapp: pytest.Pytester) -> None:
    (hfapp.path / "cassettes").mkdir()
    (hfapp.path / "cassettes" / "nobody.yaml").write_text(NO_BODY)
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat

        @pytest.mark.hfrouter_cassette("nobody.yaml")
        def test_uses_it(hfrouter):
            chat("novita")
            assert hfrouter.calls[-1].answered_by == "healthy"  # the recorded answer never plays
        """
    )

    result = hfapp.runpytest("-p", "hfrouter", "-o", "hfrouter_on_unplayed=ignore")

    # said when the cassette loads, and the test fails after its body: the cassette answered nothing
    result.assert_outcomes(failed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*nobody.yaml: interactions[[]0[]] POST https://router.huggingface.co/novita/v3/openai/chat/completions: "
            "a provider-route POST with no request body can never match*",
        ]
    )
    result.stdout.fnmatch_lines(["*a cassette this test replays answered none of its calls*"])
    linted = hfapp.run(sys.executable, "-m", "pytest_hfrouter", "lint", "cassettes")
    assert linted.ret == 1
    linted.stdout.fnmatch_lines(["*nobody.yaml: interactions[[]0[]] POST *: a provider-route POST with no request*"])


def test_provider_names_in_assertions_and_the_chain_ini_are_checked(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat

        def test_assertions(hfrouter):
            chat("novita")
            # a misspelt name in assert_not_tried would pass whatever the app did
            with pytest.raises(ValueError, match="not_tried.*unknown provider 'togther'. Did you mean 'together'"):
                hfrouter.assert_not_tried("togther")
            with pytest.raises(ValueError, match="assert_tried.*unknown provider 'novtia'"):
                hfrouter.assert_tried("novtia")
            hfrouter.assert_tried("novita")
        """
    )
    hfapp.runpytest("-p", "hfrouter").assert_outcomes(passed=1)

    for chain in ("\n    novita\n    grok", " novita, grok"):  # one a line, or between commas: each name checked
        hfapp.makeini(f"[pytest]\nhfrouter_chain ={chain}\n")
        bad = hfapp.runpytest("-p", "hfrouter")
        assert bad.ret == pytest.ExitCode.USAGE_ERROR
        bad.stderr.fnmatch_lines(["*hfrouter_chain: unknown provider 'grok'. Did you mean 'groq'?*"])


# -- pure logic ------------------------------------------------------------------------------------
def _call(route: RouteKind | Step, provider: str | None, *, stream: bool = False, scenario: str | None = None) -> Call:
    return Call(
        provider,
        "Qwen/Qwen2.5-72B-Instruct",
        route,
        "POST",
        "https://router.huggingface.co/x",
        200,
        None,
        f"scenario:{scenario}" if scenario else "healthy",
        stream,
        0.0,
        scenarios=(scenario,) if scenario else (),
    )


def _kind(rule: Rule, calls: list[Call]) -> str | None:
    finding = diagnose(rule, calls)
    return finding.kind if finding is not None else None


def test_an_outage_over_calls_no_outage_applies_to_says_where_they_went() -> None:
    """The Responses API, a dedicated Inference Endpoint: the finding blamed an answer cache (an audit)."""
    rule = parse_outage(("provider-500",), {"provider": "novita"}, shipped_library())
    responses = Call(
        None,
        None,
        "other",
        "POST",
        "https://router.huggingface.co/v1/responses",
        200,
        None,
        "cassette:resp.yaml",
        False,
        0.0,
    )
    finding = diagnose(rule, [responses])
    assert finding is not None
    assert "the test's calls went where no outage applies (POST https://router.huggingface.co/v1/responses)" in (
        finding.reason
    )
    assert "answer cache" not in finding.reason


def test_diagnose_tells_the_four_outcomes_apart() -> None:
    library = shipped_library()
    rule = parse_outage(("provider-500",), {"provider": "novita"}, library)
    calls = [_call("mapping", None), _call("provider", "novita", scenario="rate-limited-429")]
    assert _kind(rule, calls) == SHADOWED
    assert _kind(rule, [_call("provider", "together")]) == UNMATCHED
    cut = parse_outage(("stream-cut",), {"provider": "novita"}, library)
    assert _kind(cut, [_call("provider", "novita")]) == NOT_APPLICABLE
    rule.hits = 1
    assert _kind(rule, []) is None


def test_diagnose_counts_a_poll_or_download_as_a_call_of_its_provider() -> None:
    library = shipped_library()
    submit, download = _call("provider", "fal-ai"), _call("download", "fal-ai", scenario="body-cut")
    # a rule on the download step that a closer rule pre-empted: its call was one it could answer
    on_download = parse_outage(("provider-500",), {"provider": "fal-ai", "step": "download"}, library)
    assert _kind(on_download, [submit, download]) == SHADOWED
    # a provider that answers at once has no poll: the rule on the poll step cannot apply
    on_poll = parse_outage(("provider-500",), {"provider": "fal-ai", "step": "poll"}, library)
    finding = diagnose(on_poll, [submit])
    assert finding is not None and finding.kind == NOT_APPLICABLE
    assert "step='poll'" in finding.reason and "the matching calls were: submit" in finding.reason
    # an auto-route-only scenario over a provider call and its download says why it cannot apply
    auto_only = parse_outage(("model-not-supported-400",), {"provider": "fal-ai"}, library)
    finding = diagnose(auto_only, [submit, download])
    assert finding is not None and finding.kind == NOT_APPLICABLE and "only on the auto route" in finding.reason


def test_resilient_markers_merge_per_argument() -> None:
    merged = merge_resilient([((), {"allow": ("retry-storm",)}), ((), {"chain": ("novita", "together")})])
    assert merged == Resilience(("retry-storm",), ("novita", "together"))
    closest_first = merge_resilient([((), {"chain": ("groq",)}), ((), {"chain": ("novita",), "allow": ["no-backoff"]})])
    assert closest_first == Resilience(("no-backoff",), ("groq",))


def test_a_body_that_skips_or_xfails_is_not_judged(hfapp: pytest.Pytester) -> None:
    hfapp.makepyfile(
        """
        import pytest

        @pytest.mark.hfrouter_outage("provider-500", provider="groq")
        def test_skips(hfrouter):
            pytest.skip("not today")

        @pytest.mark.hfrouter_outage("provider-500", provider="groq")
        def test_xfails(hfrouter):
            pytest.xfail("known")
        """
    )

    hfapp.runpytest("-p", "hfrouter").assert_outcomes(skipped=1, xfailed=1)


def test_a_body_that_xfails_after_the_app_called_is_judged_as_an_xfail_marker_is(hfapp: pytest.Pytester) -> None:
    """``pytest.xfail()`` once the app has run pins the app's failure, as the marker does: an outage that never
    happened fails it (an audit: XFAIL, green, while the marked form failed). One that happened leaves it."""
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat

        @pytest.mark.hfrouter_outage("provider-500", provider="groq")
        def test_never_happened():
            chat("together")
            pytest.xfail("known: no fallback")

        @pytest.mark.hfrouter_outage("provider-500", provider="together")
        def test_happened():
            with pytest.raises(Exception):
                chat("together")
            pytest.xfail("known: no fallback")
        """
    )

    result = hfapp.runpytest("-p", "hfrouter", "-rA")

    result.assert_outcomes(failed=1, xfailed=1)
    result.stdout.fnmatch_lines_random(
        [
            "FAILED *::test_never_happened*",
            "pytest-hfrouter: an outage this test asks for never happened*",
            "(the test body called pytest.xfail('known: no fallback'))",
            "XFAIL *::test_happened - known: no fallback",
        ]
    )


def test_an_allowed_host_written_as_a_url_or_with_a_port_is_a_usage_error(pytester: pytest.Pytester) -> None:
    # The globs match a request's host name alone: a URL or a port in one never matches, and the
    # guard's refusal would then tell the user to add the host they believe they added.
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    for given in ("https://api.gradio.app/queue", "api.gradio.app/", "api.gradio.app:443"):
        pytester.makeini(f"[pytest]\nhfrouter_allow_hosts = *.hf.space, {given}\n")
        result = pytester.runpytest("-p", "hfrouter")
        assert result.ret == pytest.ExitCode.USAGE_ERROR, given
        result.stderr.fnmatch_lines([f"*hfrouter_allow_hosts: '{given}'*write: hfrouter_allow_hosts = api.gradio.app"])
    pytester.makeini("[pytest]\nhfrouter_allow_hosts = *.hf.space, api.gradio.app, ::1\n")
    pytester.runpytest("-p", "hfrouter").assert_outcomes(passed=1)


def test_a_probe_of_an_unknown_provider_is_a_usage_error_in_replay_too(pytester: pytest.Pytester) -> None:
    # Found at the pull request's replay run, not by a nightly that probes a provider the router lacks.
    pytester.makepyfile(test_a="def test_a():\n    pass\n")
    pytester.makeini("[pytest]\nhfrouter_probes = Qwen/Qwen2.5-72B-Instruct, novitaa:Qwen/Qwen2.5-72B-Instruct\n")
    result = pytester.runpytest("-p", "hfrouter")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*hfrouter_probes: unknown provider 'novitaa'. Did you mean 'novita'?*"])


IDLE_CASSETTE = """
import pytest
from hfapp import chat

@pytest.mark.hfrouter_cassette("novita-ok.yaml")
def test_calls_another_provider(hfrouter):
    assert chat("cerebras").choices[0].message.content  # a healthy answer: the cassette never played

@pytest.mark.hfrouter_cassette("novita-ok.yaml")
def test_fails_on_its_own():
    chat("cerebras")
    assert False, "the app's own failure"

@pytest.mark.hfrouter_cassette("novita-ok.yaml")
def test_plays_it(hfrouter):
    assert chat("novita").choices[0].message.content == "from the cassette"
"""


@pytest.mark.parametrize("policy", [None, "warn", "ignore"])
def test_a_cassette_that_answered_none_of_the_calls_never_happened(
    hfapp: pytest.Pytester, write_cassette: CassetteWriter, policy: str | None
) -> None:
    # Its answers never reached the app: the test exercised none of what it replays, and used to pass
    # on healthy answers with only the warning about unplayed interactions.
    path = write_cassette("cassettes/novita-ok.yaml")
    hfapp.makepyfile(test_idle=IDLE_CASSETTE)
    args = ["-p", "hfrouter", "-rA"] + (["-o", f"hfrouter_on_unmatched={policy}"] if policy else [])

    result = hfapp.runpytest(*args)

    idle = [
        "*pytest-hfrouter: a cassette this test replays answered none of its calls, so the test did not exercise it:",
        f"  - {path}: it holds interactions[[]0[]] *; the test called: POST *[[]provider: cerebras *",
    ]
    if policy is None:  # hfrouter_on_unmatched = fail, the default
        result.assert_outcomes(passed=1, failed=2)
        result.stdout.fnmatch_lines(["*_ test_calls_another_provider _*", *idle])
    elif policy == "warn":
        result.assert_outcomes(passed=2, failed=1, warnings=1)
        result.stdout.fnmatch_lines(["*HFRouterWarning: pytest-hfrouter: a cassette this test replays answered none*"])
    else:  # ignore: only the unplayed interactions are said, as before
        result.assert_outcomes(passed=2, failed=1, warnings=2)
        result.stdout.no_fnmatch_line("*a cassette this test replays answered none*")
    # a test that failed on its own shows it in its report: it may be why it failed
    result.stdout.fnmatch_lines(["*_ test_fails_on_its_own _*", "*the app's own failure*"])
    if policy != "ignore":
        result.stdout.fnmatch_lines(["*- Captured hfrouter call -*", *idle])


#: The Hub's mapping look-up, as a recording of InferenceClient holds it before its call
MAPPING_LOOKUP = """\
- request:
    body: null
    headers: {}
    method: GET
    uri: https://huggingface.co/api/models/Qwen/Qwen2.5-72B-Instruct?expand=inferenceProviderMapping
  response:
    body:
      string: '{"id": "Qwen/Qwen2.5-72B-Instruct", "inferenceProviderMapping": {"novita": {"status": "live",
        "providerId": "qwen/qwen-2.5-72b-instruct", "task": "conversational"}}}'
    headers:
      Content-Type:
      - application/json
    status:
      code: 200
      message: OK
"""


def test_a_cassette_that_answered_only_the_hub_look_up_did_not_answer_the_call(
    hfapp: pytest.Pytester, write_cassette: CassetteWriter
) -> None:
    """An audit: a cassette recorded through InferenceClient (the mapping look-up, then the chat call),
    its call edited by hand (another model); replay answered the look-up from it and the call from the
    healthy library, and the test passed on the library's text with one warning about an unplayed
    interaction. The look-up every client makes first is not what a cassette is for."""
    path = write_cassette("cassettes/edited.yaml")
    text = path.read_text().replace(
        '"model": "Qwen/Qwen2.5-72B-Instruct", "messages"', '"model": "Qwen/Qwen2.5-7B-Instruct", "messages"'
    )
    path.write_text(text.replace("version: 1\n", MAPPING_LOOKUP + "version: 1\n"))
    hfapp.makepyfile(
        test_edited="""
        import pytest
        from hfapp import chat

        @pytest.mark.hfrouter_cassette("edited.yaml")
        def test_plays_it(hfrouter):
            assert chat("novita").choices[0].message.content
            assert [call.answered_by for call in hfrouter.calls] == ["cassette:edited.yaml", "healthy"]
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*a cassette this test replays answered none of its calls, so the test did not exercise it:",
            f"  - {path}: it holds interactions[[]0[]] POST https://router.huggingface.co/novita/*, "
            "interactions[[]1[]] GET https://huggingface.co/api/models/*; it answered only the Hub look-ups; "
            "the test called: POST https://router.huggingface.co/novita/v3/openai/chat/completions "
            "[[]provider: novita Qwen/Qwen2.5-72B-Instruct[]]",
        ]
    )


def test_an_empty_cassette_answered_nothing_and_fails_the_test(hfapp: pytest.Pytester) -> None:
    """A cassette with no interactions (``interactions: []``) answered none of the calls: the test
    ran on healthy answers, green and silent, even with the cassette named by a marker."""
    (hfapp.path / "cassettes").mkdir()
    (hfapp.path / "cassettes" / "empty.yaml").write_text("interactions: []\nversion: 1\n")
    hfapp.makepyfile(
        test_empty="""
        import pytest
        from hfapp import chat

        @pytest.mark.hfrouter_cassette("empty.yaml")
        def test_plays_it():
            chat("novita")
        """
    )
    result = hfapp.runpytest("-p", "hfrouter")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*a cassette this test replays answered none of its calls, so the test did not exercise it:",
            "  - *empty.yaml: it holds no interactions at all; the test called: POST *[[]provider: novita *",
        ]
    )


SHARED_CASSETTE = """
import pytest
from hfapp import chat

pytestmark = pytest.mark.hfrouter_cassette("novita-ok.yaml")  # shared: each test requests its part

def test_makes_no_call():
    pass

def test_calls_another_provider(hfrouter):
    assert chat("cerebras").choices[0].message.content

@pytest.mark.hfrouter_cassette("novita-ok.yaml")  # named by the test itself too: its own
def test_names_it_itself(hfrouter):
    assert chat("cerebras").choices[0].message.content
"""


def test_a_cassette_a_module_shares_is_no_finding_for_a_test_that_uses_none_of_it(
    hfapp: pytest.Pytester, write_cassette: CassetteWriter
) -> None:
    write_cassette("cassettes/novita-ok.yaml")
    hfapp.makepyfile(test_shared=SHARED_CASSETTE)

    result = hfapp.runpytest("-p", "hfrouter", "-o", "hfrouter_on_unplayed=ignore")

    result.assert_outcomes(passed=2, failed=1)
    # named twice (module and test), loaded once: one entry between the headline and the hint
    result.stdout.fnmatch_lines(
        [
            "*_ test_names_it_itself _*",
            "pytest-hfrouter: a cassette this test replays*",
            "  - */novita-ok.yaml: it holds *",
            "  (recorded for other calls*",
        ],
        consecutive=True,
    )

    # What a test left of a shared cassette is its neighbours' part, no unplayed interactions of its
    # own: under hfrouter_on_unplayed = fail each test of the module failed for it (found by an audit).
    result = hfapp.runpytest("-p", "hfrouter", "-o", "hfrouter_on_unplayed=fail")

    result.assert_outcomes(passed=2, failed=1)
    result.stdout.no_fnmatch_line("*test_makes_no_call*never requested*")


SHARED_BY_ALL = """
import pytest
from hfapp import chat

pytestmark = pytest.mark.hfrouter_cassette("novita-ok.yaml")

def test_one(hfrouter):
    assert chat("{provider}").choices[0].message.content

class TestMore:
    def test_two(self, hfrouter):
        assert chat("cerebras").choices[0].message.content
"""


def test_a_cassette_a_module_shares_that_none_of_its_tests_used_fails_the_run(
    hfapp: pytest.Pytester, write_cassette: CassetteWriter, inner_run: InnerRun
) -> None:
    """An audit: the app moved to another provider, every call of the module's tests was answered healthy, and
    the run was green with not a word, under the strictest settings. Judged for the tests that share it together,
    where all of them ran."""
    write_cassette("cassettes/test_shared/novita-ok.yaml")
    hfapp.makepyfile(test_shared=SHARED_BY_ALL.format(provider="together"))
    # a skip in another module leaves this one's judgement alone (the second regression audit: it hid it)
    hfapp.makepyfile(
        test_other="import pytest\n\n\n@pytest.mark.skip(reason='elsewhere')\ndef test_skipped():\n    pass\n"
    )

    result = inner_run(hfapp, "-p", "hfrouter")

    result.assert_outcomes(passed=2, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*hfrouter shared cassettes*",
            "pytest-hfrouter: a cassette the tests of a module or class share answered none of their calls, *",
            "  - */test_shared/novita-ok.yaml: named by the marker of test_shared.py; 2 test(s) ran with it, *",
        ]
    )
    # a run that left one of them out does not judge it, and says so; ini ignore says nothing
    left_out = "not judged: */test_shared/novita-ok.yaml: no test that ran with it requested what it holds, but the "
    for args in (("-k", "test_one"), ("test_shared.py::test_one",)):
        result = inner_run(hfapp, "-p", "hfrouter", *args)
        assert result.ret == pytest.ExitCode.OK, args
        result.stdout.fnmatch_lines([left_out + "run left some of its module's tests out"])
    result = inner_run(hfapp, "-p", "hfrouter", "-o", "hfrouter_on_unmatched=ignore")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.no_fnmatch_line("*shared cassettes*")
    hfapp.makepyfile(test_shared=SHARED_BY_ALL.format(provider="novita"))
    result = inner_run(hfapp, "-p", "hfrouter")
    result.assert_outcomes(passed=2, skipped=1)
    assert result.ret == pytest.ExitCode.OK


def test_a_shared_cassette_is_not_judged_where_its_user_did_not_run_or_was_left_out(
    hfapp: pytest.Pytester, write_cassette: CassetteWriter, inner_run: InnerRun
) -> None:
    """The regression audit of the judgement above: the module's only test that uses it skipped (a skipif, a
    skip in the body) failed the run; and a cassette two modules' markers name, in a run of the one that makes no
    call (its file named, ``-k``), failed where the whole suite passed."""
    write_cassette("cassettes/test_skips/novita-ok.yaml")
    hfapp.makepyfile(
        test_skips="""
        import pytest
        from hfapp import chat

        pytestmark = pytest.mark.hfrouter_cassette("novita-ok.yaml")

        @pytest.mark.skip(reason="not today")
        def test_uses_it(hfrouter):
            assert chat("novita").choices[0].message.content == "from the cassette"

        @pytest.mark.xfail(run=False, reason="not run")
        def test_not_run(hfrouter):
            assert chat("novita").choices[0].message.content == "from the cassette"

        def test_no_call():
            pass
        """
    )
    result = inner_run(hfapp, "-p", "hfrouter", "test_skips.py")
    result.assert_outcomes(passed=1, skipped=1, xfailed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["not judged: */novita-ok.yaml: *, but not every test under its marker ran its body"])

    write_cassette("cassettes/common.yaml")
    uses = (
        'pytestmark = pytest.mark.hfrouter_cassette("common.yaml")\n\n\ndef test_chat(hfrouter):\n    chat("novita")\n'
    )
    none = 'pytestmark = pytest.mark.hfrouter_cassette("common.yaml")\n\n\ndef test_admin(hfrouter):\n    pass\n'
    head = "import pytest\nfrom hfapp import chat\n\n"
    hfapp.makepyfile(test_chat=head + uses, test_admin=head + none)
    for args in ((), ("test_admin.py",), ("-k", "admin")):
        result = (
            inner_run(hfapp, "-p", "hfrouter", "test_chat.py", "test_admin.py", *args)
            if not args
            else (inner_run(hfapp, "-p", "hfrouter", *args))
        )
        assert result.ret == pytest.ExitCode.OK, args
        if args:  # the whole suite: test_chat used it
            result.stdout.fnmatch_lines(["not judged: */common.yaml: *, but it lies outside its module's own folder*"])
        else:
            result.stdout.no_fnmatch_line("*shared cassettes*")


def test_a_provider_flagged_unavailable_that_the_app_names_is_no_outage_it_met(hfapp: pytest.Pytester) -> None:
    """provider-unavailable flags a provider in the mapping; only the router's pick on the auto route
    acts on it. An app that names its provider is still served: the rule counted as answered (it did
    answer the mapping look-up), and an app with no fallback passed. Now it changed nothing: judged so."""
    hfapp.makepyfile(
        test_flag="""
        import pytest
        from hfapp import auto_chat, chat

        @pytest.mark.hfrouter_outage("provider-unavailable", provider="novita")
        def test_names_its_provider(hfrouter):
            chat("novita")

        @pytest.mark.hfrouter_outage("provider-unavailable", provider="novita")
        def test_lets_the_router_pick(hfrouter):
            auto_chat("Qwen/Qwen2.5-72B-Instruct")
            assert hfrouter.tried == ["together"]  # the flagged provider was passed over
        """
    )
    import huggingface_hub

    # before 1.0 huggingface_hub has no server-side auto route: "auto" is a client-side pick of a provider route
    server_side_auto = int(huggingface_hub.__version__.split(".")[0]) >= 1
    result = hfapp.runpytest("-p", "hfrouter", *(() if server_side_auto else ("-k", "names_its_provider")))
    if server_side_auto:
        result.assert_outcomes(passed=1, failed=1)
    else:
        result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(
        [
            "*provider-unavailable flags the provider unavailable in the Hub's mapping, and only the router's own "
            "pick acts on that*",
            "*FAILED test_flag.py::test_names_its_provider*",
        ]
    )


def test_a_staging_mapping_with_no_provider_call_after_it_is_no_outage_it_met(hfapp: pytest.Pytester) -> None:
    """staging-auth is the mapping's "staging" entry and the provider's 401. The mapping answer alone
    counted as the outage: an app whose provider call another mock library answered (aioresponses,
    found by a new user's audit) never saw the 401 and passed. Here the app looks the mapping up and
    calls no provider."""
    hfapp.makepyfile(
        test_staging="""
        import pytest
        from huggingface_hub import HfApi
        from hfapp import MODEL, chat, status_of

        @pytest.mark.hfrouter_outage("staging-auth", provider="novita")
        def test_looks_up_only():
            info = HfApi().model_info(MODEL, expand=["inferenceProviderMapping"])
            assert info.id == MODEL

        @pytest.mark.hfrouter_outage("staging-auth", provider="novita")
        def test_calls_the_provider():
            assert status_of(chat) == 401
        """
    )

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*staging-auth shaped the Hub's provider-mapping look-up, but no call to novita followed that "
            "pytest-hfrouter answered, so its outage (HTTP 401 from the provider) never reached the app.*",
            "*FAILED test_staging.py::test_looks_up_only*",
        ]
    )


def test_a_hub_outage_on_hf_inference_says_its_client_makes_no_mapping_look_up(pytester: pytest.Pytester) -> None:
    """hub-unavailable answers the mapping look-up; a client that names hf-inference asks the Hub only
    for the model's task. The failure said "the matching calls were: provider", hiding the look-up."""
    pytester.makepyfile(
        test_hub="""
        import pytest
        from huggingface_hub import InferenceClient

        @pytest.mark.hfrouter_outage("hub-unavailable", model="sentence-transformers/all-MiniLM-L6-v2")
        def test_embeds(hfrouter):
            client = InferenceClient(provider="hf-inference", api_key="hf_fake", timeout=10)
            client.feature_extraction("hi", model="sentence-transformers/all-MiniLM-L6-v2")
        """
    )
    result = pytester.runpytest("-p", "hfrouter")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*hub-unavailable changes the Hub's provider-mapping look-up, and the test made none: huggingface_hub "
            "asks the Hub nothing but the model's task for provider='hf-inference'*"
        ]
    )


def test_a_retry_loop_without_end_fails_instead_of_hanging(
    hfapp: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replayed answers come at once: an app that retries a failing provider for ever would spin for
    ever (an audit: its outage test hung). Past the cap the test fails, whatever the app catches."""
    import pytest_hfrouter.faces._core as core

    monkeypatch.setattr(core, "MAX_CALLS", 200)  # the same check, sooner (the inner run is in this process)
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_retries_for_ever():
            while True:
                try:
                    return chat("novita")
                except Exception:
                    continue
        """
    )

    result = hfapp.runpytest("-p", "hfrouter", "-p", "no:randomly")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the app made 200 router and Hub calls in this test, and went on*"])


def test_hf_hub_offline_is_named_when_no_call_was_made(hfapp: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """``HF_HUB_OFFLINE=1`` (set in many CI images): huggingface_hub refuses every call before a request
    is made, so the outage never happens. The test fails, as before; an audit: the message never named
    the variable."""
    hfapp.makepyfile(
        test_offline="""
        import pytest
        from huggingface_hub import InferenceClient

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_fallback(hfrouter):
            try:
                InferenceClient(provider="novita", api_key="hf_fake").chat_completion(
                    [{"role": "user", "content": "hi"}], model="Qwen/Qwen2.5-72B-Instruct"
                )
            except Exception:
                pass
        """
    )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # read by huggingface_hub at import: a subprocess
    result = hfapp.runpytest_subprocess("-p", "hfrouter")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*; HF_HUB_OFFLINE is set, and huggingface_hub then refuses its calls before any*"])


EARLY_STOP = """
import pytest
from huggingface_hub import InferenceClient

MESSAGES = [{"role": "user", "content": "hi"}]

def title(words):
    client = InferenceClient(provider="novita", api_key="hf_fake")
    out = []
    for chunk in client.chat_completion(MESSAGES, model="Qwen/Qwen2.5-72B-Instruct", stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            out.append(chunk.choices[0].delta.content)
        if len(out) >= words:
            break  # the app has its title and stops reading
    return "".join(out)

def whole():
    client = InferenceClient(provider="novita", api_key="hf_fake")
    try:
        return "".join(
            c.choices[0].delta.content or ""
            for c in client.chat_completion(MESSAGES, model="Qwen/Qwen2.5-72B-Instruct", stream=True)
            if c.choices
        )
    except Exception as exc:
        return type(exc).__name__

@pytest.mark.hfrouter_outage("stream-error-event", provider="novita")
def test_title_stops_before_the_error_event(hfrouter):
    assert title(1)

@pytest.mark.hfrouter_outage("stream-cut", provider="novita")
def test_title_stops_before_the_cut(hfrouter):
    assert title(2)

@pytest.mark.hfrouter_each_outage("stream-error-event", "stream-no-done", provider="novita")
def test_title_matrix(hfrouter):
    assert title(1)

@pytest.mark.hfrouter_outage("stream-cut", provider="novita")
def test_whole_answer_meets_the_cut(hfrouter):
    assert whole() != ""
    [call] = hfrouter.inference_calls
    assert not call.unread and call.failed
"""


def test_an_app_that_stops_reading_a_stream_before_its_fault_met_no_outage(hfapp: pytest.Pytester) -> None:
    """An audit: an app that reads the first words of a stream (a title, a preview) never reaches the
    fault a stream scenario plays at the stream's end; its tests passed, the call log and the report said
    the outage was met, and a resilient app that closed the stream by choice was judged
    truncated-stream-accepted. The rule now met nothing: a marker fails, a matrix case is skipped.
    On huggingface_hub 0.x (requests), whose stream is never closed, as on 1.x and 2.x (httpx)."""
    hfapp.makepyfile(test_early=EARLY_STOP)

    result = hfapp.runpytest("-p", "hfrouter", "-rs", "--hfrouter-report=report.json")

    result.assert_outcomes(failed=2, passed=1, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*hfrouter_outage('stream-error-event', provider='novita') answered no call of this test: the app "
            "stopped reading the stream it answered before its fault came (at the stream's end)*",
            "*-> 200 (scenario:stream-error-event, the app stopped reading before its fault)",
        ]
    )
    result.stdout.fnmatch_lines(["SKIPPED*hfrouter_each_outage case stream-no-done cannot apply: the app stopped*"])
    report = json.loads((hfapp.path / "report.json").read_text())
    met = {t["test"].split("::")[1]: t["met"] for t in report["tests"]}
    assert met["test_title_stops_before_the_cut"] == []
    assert met["test_whole_answer_meets_the_cut"] == [["novita", "stream-cut"]]


EARLY_STOP_ASYNC = """
import asyncio
import pytest
from huggingface_hub import AsyncInferenceClient
from openai import OpenAI

MESSAGES = [{"role": "user", "content": "hi"}]
MODEL = "Qwen/Qwen2.5-72B-Instruct"

async def title(words):
    client = AsyncInferenceClient(provider="novita", api_key="hf_fake")
    out = []
    async for chunk in await client.chat_completion(MESSAGES, model=MODEL, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            out.append(chunk.choices[0].delta.content)
        if len(out) >= words:
            break
    return "".join(out)

async def whole():
    client = AsyncInferenceClient(provider="novita", api_key="hf_fake")
    out = []
    try:
        async for chunk in await client.chat_completion(MESSAGES, model=MODEL, stream=True):
            out.append(chunk)
    except Exception as exc:
        return type(exc).__name__
    return "whole"

@pytest.mark.hfrouter_outage("stream-error-event", provider="novita")
def test_async_title(hfrouter):
    assert asyncio.run(title(1))

@pytest.mark.hfrouter_outage("stream-cut", provider="novita")
def test_async_whole_answer_meets_the_cut(hfrouter):
    assert asyncio.run(whole()) != "whole"
    [call] = hfrouter.inference_calls
    assert not call.unread and call.failed

kept = []

@pytest.mark.hfrouter_outage("stream-cut", provider="novita")
def test_first_chunk_of_a_stream_left_open(hfrouter):
    stream = OpenAI(base_url="https://router.huggingface.co/v1", api_key="hf_fake").chat.completions.create(
        model=MODEL + ":novita", messages=MESSAGES, stream=True
    )
    kept.append(stream)  # never closed, never read on
    assert next(iter(stream))
"""


def test_an_async_stream_stopped_early_or_a_stream_left_open_met_no_outage(hfapp: pytest.Pytester) -> None:
    """An async app that stops reading (AsyncInferenceClient: aiohttp on huggingface_hub 0.x, httpx on
    1.x and 2.x), and an app that reads a stream's first chunk and never closes it (the openai SDK), met
    no fault a stream scenario plays at its end: each passed with the outage "met". The test's end
    now counts a stream the body left unread to its fault."""
    hfapp.makepyfile(test_early_async=EARLY_STOP_ASYNC)

    result = hfapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_async_title*",
            "*hfrouter_outage('stream-error-event', provider='novita') answered no call of this test: the app "
            "stopped reading the stream it answered before its fault came*",
            "*test_first_chunk_of_a_stream_left_open*",
            "*hfrouter_outage('stream-cut', provider='novita') answered no call of this test: the app "
            "stopped reading the stream it answered before its fault came*",
        ]
    )


def test_an_outage_that_met_only_hub_look_ups_names_the_app_s_answer_cache(hfapp: pytest.Pytester) -> None:
    """An audit: dspy.LM caches answers (in memory and on disk) by default, and an outage test whose prompt a
    test before it had asked made no inference call; the finding said only "(no inference call)"."""
    hfapp.makepyfile(
        """
        import functools
        import pytest
        from huggingface_hub import InferenceClient

        @functools.cache  # the app's own answer cache
        def ask(prompt):
            client = InferenceClient(provider="novita", api_key="hf_fake")
            return client.chat_completion([{"role": "user", "content": prompt}], model="Qwen/Qwen2.5-72B-Instruct")

        def test_healthy(hfrouter):
            assert ask("hi").choices

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_outage(hfrouter):
            assert ask("hi").choices
        """
    )

    result = hfapp.runpytest("-p", "hfrouter", "-p", "no:randomly")

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*did an answer cache of the app's answer it: dspy.LM's cache*"])


def test_a_flag_read_by_an_app_from_the_mapping_itself_is_said_so() -> None:
    """An app that reads the mapping (HfApi().model_info) and skips a flagged provider was told its calls
    "named their provider" and that "nothing changed for the app" (an audit)."""
    rule = parse_outage(("provider-unavailable",), {"provider": "novita"}, shipped_library())
    lookup = Call(
        None,
        "Qwen/Qwen2.5-72B-Instruct",
        "mapping",
        "GET",
        "https://huggingface.co/api/models/Qwen/Qwen2.5-72B-Instruct?expand=inferenceProviderMapping",
        200,
        None,
        "scenario:provider-unavailable",
        False,
        0.0,
        scenarios=("provider-unavailable",),
    )
    finding = diagnose(rule, [lookup])
    assert finding is not None
    assert "the test's only calls it matched were mapping look-ups" in finding.reason
    assert "named their provider" not in finding.reason


@pytest.mark.parametrize("name", ["Test_Reads.yaml", "test_reads.yml", "test_reads.YAML", "test_reads.JSON"])
def test_a_default_cassette_named_but_for_case_or_suffix_fails_the_test(
    hfapp: pytest.Pytester, write_cassette: CassetteWriter, name: str
) -> None:
    """An audit: ``test_reads.yml`` (or ``Test_Reads.yaml``) beside where the default cassette goes was never
    read, and the test passed on the healthy library with no word of the file."""
    write_cassette(f"cassettes/test_near/{name}", content="mine")
    hfapp.makepyfile(
        test_near="""
        from hfapp import chat

        def test_reads():
            assert chat("novita").choices[0].message.content == "mine"

        def test_other():
            assert chat("novita").choices
        """
    )
    result = hfapp.runpytest("-p", "hfrouter", "-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [f"*test_reads: its default cassette would be *test_reads.yaml, and there is none; *{name} has its name but*"]
    )


def test_another_tests_default_cassette_is_no_near_miss(hfapp: pytest.Pytester, write_cassette: CassetteWriter) -> None:
    """A regression audit: ``test_Refund`` (no cassette) was failed for ``test_refund.yaml``, the exact cassette of
    its sibling ``test_refund``, also when run alone; and a case ``[EN]`` for its sibling ``[en]``'s."""
    write_cassette("cassettes/test_siblings/test_refund.yaml", content="mine")
    write_cassette("cassettes/test_siblings/test_lang[en].yaml", content="mine")
    hfapp.makepyfile(
        test_siblings="""
        import pytest
        from hfapp import chat

        def test_refund():
            assert chat("novita").choices[0].message.content == "mine"

        def test_Refund():
            assert chat("novita").choices[0].message.content != "mine"

        @pytest.mark.parametrize("lang", ["en", "EN"])
        def test_lang(lang):
            assert (chat("novita").choices[0].message.content == "mine") is (lang == "en")
        """
    )
    hfapp.runpytest("-p", "hfrouter").assert_outcomes(passed=4)
    hfapp.runpytest("-p", "hfrouter", "test_siblings.py::test_Refund", "-k", "test_Refund or EN").assert_outcomes(
        passed=1
    )


LEFT_BEHIND = """
import pytest
from hfapp import chat

def test_kept(hfrouter):
    assert chat("novita").choices[0].message.content == "from the cassette"

def test_new_name(hfrouter):
    assert chat("novita").choices[0].message.content

@pytest.mark.parametrize("lang", ["fr"])
def test_cases(hfrouter, lang):
    assert chat("novita").choices[0].message.content

class TestGroup:
    def test_inner(self, hfrouter):
        assert chat("novita").choices[0].message.content == "from the cassette"
"""


def test_a_default_cassette_a_renamed_or_moved_test_left_behind_is_said(
    hfapp: pytest.Pytester, write_cassette: CassetteWriter, inner_run: InnerRun
) -> None:
    """An audit: a test renamed, moved to another module or given a new parametrize id lost its default cassette
    and passed on the healthy library, with no word of the file. Said at the run's end, with the tests that have no
    cassette (it may be a deleted test's file: the run does not fail for it)."""
    for name in ("test_kept", "test_old_name", "test_cases[en]", "TestGroup.test_inner", "test_moved"):
        write_cassette(f"cassettes/test_app/{name}.yaml")
    hfapp.makepyfile(test_app=LEFT_BEHIND)
    hfapp.makepyfile(test_elsewhere="from hfapp import chat\n\n\ndef test_moved(hfrouter):\n    chat('novita')\n")

    result = inner_run(hfapp, "-p", "hfrouter")

    result.assert_outcomes(passed=5)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*hfrouter cassettes left behind*",
            "pytest-hfrouter: these cassettes are named for no test of their module, *",
            "  - cassettes/test_app/test_cases[[]en].yaml: no cassette for test_app.py::test_cases[[]fr], *",
            "  - cassettes/test_app/test_moved.yaml: no cassette for test_elsewhere.py::test_moved",
            "  - cassettes/test_app/test_old_name.yaml: no cassette for test_app.py::test_new_name, *",
            "  (if it is one of theirs, rename it *",
        ],
        consecutive=True,
    )
    result.stdout.no_fnmatch_line("*test_kept.yaml: no cassette*")
    result.stdout.no_fnmatch_line("*test_inner.yaml: no cassette*")

    # a test left out is still the file's: -k; a run naming tests by node id takes a function's name for any case
    result = inner_run(hfapp, "-p", "hfrouter", "-k", "new_name")
    result.stdout.fnmatch_lines(
        ["  - cassettes/test_app/test_old_name.yaml: no cassette for test_app.py::test_new_name"]
    )
    result.stdout.no_fnmatch_line("*test_kept.yaml*")
    result = inner_run(hfapp, "-p", "hfrouter", "test_app.py::test_cases")
    result.stdout.fnmatch_lines(
        ["  - cassettes/test_app/test_old_name.yaml: no cassette for test_app.py::test_cases[[]fr]"]
    )
    result.stdout.no_fnmatch_line("*test_cases[[]en].yaml*")

    # every test has its cassette: a file named for none of them is an orphan only, not said here
    for name in ("test_new_name", "test_cases[fr]"):
        write_cassette(f"cassettes/test_app/{name}.yaml")
    (hfapp.path / "test_elsewhere.py").unlink()
    result = inner_run(hfapp, "-p", "hfrouter")
    result.assert_outcomes(passed=4)
    result.stdout.no_fnmatch_line("*left behind*")
    # recording makes the renamed test's cassette afresh: nothing to say
    (hfapp.path / "cassettes/test_app/test_new_name.yaml").unlink()
    result = inner_run(hfapp, "-p", "hfrouter", "--hfrouter-mode=rewrite", "-k", "nothing_at_all")
    result.stdout.no_fnmatch_line("*left behind*")


def test_files_no_renamed_test_left_behind_are_not_said(hfapp: pytest.Pytester, write_cassette: CassetteWriter) -> None:
    """The regression audit of the check above: a module with pytest-recording tests (which name cassettes their own
    ways), the cassettes of a same-named module of another folder under one cassette dir, and a JSON data file
    were each said to be left behind."""
    hfapp.makeini("[pytest]\nhfrouter_cassette_dir = cassettes\n")
    for folder in ("unit", "integ"):
        (hfapp.path / folder).mkdir()
        (hfapp.path / folder / "__init__.py").write_text("")
    (hfapp.path / "unit" / "test_api.py").write_text("def test_helper():\n    pass\n")
    (hfapp.path / "integ" / "test_api.py").write_text(
        "from hfapp import chat\n\n\ndef test_chat_integ(hfrouter):\n"
        "    assert chat('novita').choices[0].message.content == 'from the cassette'\n"
    )
    write_cassette("cassettes/test_api/test_chat_integ.yaml")
    hfapp.makepyfile(
        test_weather="import pytest\n\n\n@pytest.mark.vcr\n@pytest.mark.default_cassette('weather.yaml')\n"
        "def test_weather():\n    pass\n\n\ndef test_unit():\n    pass\n"
    )
    write_cassette("cassettes/test_weather/weather.yaml")
    (hfapp.path / "cassettes" / "test_api" / "expected_output.json").write_text('{"expected": 1}')

    result = hfapp.runpytest("-p", "hfrouter", "-p", "no:recording")

    result.assert_outcomes(passed=4)
    result.stdout.no_fnmatch_line("*left behind*")
    # the renamed test is still said where the folder's modules share it
    write_cassette("cassettes/test_api/test_chat_old.yaml")
    result = hfapp.runpytest("-p", "hfrouter", "-p", "no:recording")
    result.stdout.fnmatch_lines(
        ["  - cassettes/test_api/test_chat_old.yaml: no cassette for unit/test_api.py::test_helper"]
    )
