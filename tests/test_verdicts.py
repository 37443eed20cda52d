"""Resilience verdicts: for each one, a small app with exactly that flaw and one without it.

Every inner run drives the real ``huggingface_hub.InferenceClient`` (``resilapp.py`` below)
against the plugin's outage scenarios; a verdict must name the flawed app and never the good
one, both through ``hfrouter.verdicts`` and in the run's summary and report.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import FRESH_LOOKUPS, logged_call

from pytest_hfrouter import Call, HFRouter, ScenarioError
from pytest_hfrouter.library import library_dir, load_user_scenarios, shipped_library
from pytest_hfrouter.verdicts import NAMES, _could_judge, judge

#: Apps with one flaw each, and their good twins (the real client, no mocks).
RESILAPP = '''
from __future__ import annotations

import time

import httpx
from huggingface_hub import InferenceClient

MODEL = "Qwen/Qwen2.5-72B-Instruct"
MESSAGES = [{"role": "user", "content": "hi"}]
NOVITA_URL = "https://router.huggingface.co/novita/v3/openai/chat/completions"
ACCOUNT_WIDE = (401, 402, 403)


class AppError(Exception):
    """What the app raises when it cannot give a whole answer."""


def ask(provider):
    client = InferenceClient(provider=provider, api_key="hf_fake")
    return client.chat_completion(messages=MESSAGES, model=MODEL, max_tokens=5).choices[0].message.content


def status(exc):
    return getattr(getattr(exc, "response", None), "status_code", None)


def with_retries(provider, waits):
    """One call, then one more after each wait; the last error is raised."""
    error = None
    for wait in [None, *waits]:
        if wait is not None:
            time.sleep(wait)
        try:
            return ask(provider)
        except Exception as exc:
            error = exc
    raise error


def chain(providers):
    """Each provider in turn; the first answer wins."""
    error = None
    for provider in providers:
        try:
            return ask(provider)
        except Exception as exc:
            error = exc
    raise AppError("every provider failed") from error


# -- retry-storm ----------------------------------------------------------------------------
def hammers_novita():
    """Six calls to a failing novita (with growing waits), then together."""
    try:
        return with_retries("novita", [1, 2, 4, 8, 16])
    except Exception:
        return ask("together")


def tries_twice_then_falls_back():
    try:
        return with_retries("novita", [1])
    except Exception:
        return ask("together")


# -- retried-non-retryable --------------------------------------------------------------------
def retries_whatever_the_status():
    try:
        return with_retries("novita", [1])
    except Exception:
        return ask("together")


def stops_on_account_errors():
    try:
        return ask("novita")
    except Exception as exc:
        if status(exc) in ACCOUNT_WIDE:
            raise AppError(f"the account cannot call the router ({status(exc)})") from exc
        return ask("together")


def posts_directly_after_the_mapping_refused():
    try:
        return ask("novita")
    except ValueError:  # "Model ... is not supported by provider novita."
        body = {"model": MODEL, "messages": MESSAGES, "max_tokens": 5}
        answer = httpx.post(NOVITA_URL, json=body, headers={"Authorization": "Bearer hf_fake"}, timeout=10)
        return answer.json()["choices"][0]["message"]["content"]


def falls_back_after_the_mapping_refused():
    try:
        return ask("novita")
    except ValueError:
        return ask("together")


# -- retry-after-ignored ----------------------------------------------------------------------
def retries_at_once():
    try:
        return ask("novita")
    except Exception:
        return ask("novita")


def waits_as_asked():
    try:
        return ask("novita")
    except Exception as exc:
        time.sleep(float(exc.response.headers["Retry-After"]))
        return ask("novita")


async def waits_as_asked_async():
    import asyncio

    from huggingface_hub import AsyncInferenceClient

    client = AsyncInferenceClient(provider="novita", api_key="hf_fake")
    for _ in range(2):
        try:
            output = await client.chat_completion(messages=MESSAGES, model=MODEL, max_tokens=5)
            return output.choices[0].message.content
        except Exception as exc:
            # huggingface_hub 1.x raises HfHubHTTPError (with the response); 0.x's aiohttp a ClientResponseError
            headers = exc.response.headers if hasattr(exc, "response") else exc.headers
            await asyncio.sleep(float(headers["Retry-After"]))
    raise AppError("still rate-limited")


# -- no-backoff -----------------------------------------------------------------------------
def retries_every_second():
    return with_retries("novita", [1, 1, 1])


def backs_off_exponentially():
    return with_retries("novita", [1, 2, 4])


# -- truncated-stream-accepted -------------------------------------------------------------------
def stream_into(pieces, provider):
    """Stream a chat into ``pieces``; True when the stream said it was finished."""
    client = InferenceClient(provider=provider, api_key="hf_fake")
    finished = False
    for chunk in client.chat_completion(messages=MESSAGES, model=MODEL, max_tokens=5, stream=True):
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
            finished = finished or choice.finish_reason is not None
    return finished


def shows_half_an_answer():
    pieces = []
    try:
        stream_into(pieces, "novita")
    except Exception:
        pass
    return "".join(pieces)


def refuses_half_an_answer():
    pieces = []
    try:
        finished = stream_into(pieces, "novita")
    except Exception as exc:
        raise AppError("the stream broke") from exc
    if not finished:
        raise AppError("the stream ended before the answer was complete")
    return "".join(pieces)


def streams_elsewhere_after_a_broken_stream():
    pieces = []
    try:
        if stream_into(pieces, "novita"):
            return "".join(pieces)
    except Exception:
        pass
    pieces = []
    stream_into(pieces, "together")
    return "".join(pieces)


# -- gave-up-early ----------------------------------------------------------------------------
def novita_only():
    return ask("novita")


def whole_chain():
    return chain(["novita", "together"])
'''

PARTIAL = "Deep learning is a sub"  # the five events every truncating scenario delivers


@pytest.fixture
def resilapp(pytester: pytest.Pytester) -> pytest.Pytester:
    """``pytester`` with ``resilapp.py`` (the apps above) importable by the inner tests."""
    pytester.makepyfile(resilapp=RESILAPP)
    pytester.makeconftest(FRESH_LOOKUPS)
    return pytester


def verdict_lines(result: pytest.RunResult) -> list[str]:
    """The lines of the "hfrouter resilience verdicts" terminal section ([] when it is absent)."""
    lines = result.stdout.lines
    start = next((n for n, line in enumerate(lines) if "hfrouter resilience verdicts" in line), None)
    if start is None:
        return []
    section = []
    for line in lines[start + 1 :]:
        if line.startswith(("===", "---")):
            break
        section.append(line)
    return section


def reported(result: pytest.RunResult) -> list[tuple[str, str]]:
    """(test name, verdict name) for each line of the verdicts section."""
    pairs = []
    for line in verdict_lines(result):
        test, name = line.split(": ")[:2]
        pairs.append((test.split("::")[-1], name.split(" ")[0]))
    return pairs


def read_report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


# -- one verdict at a time ------------------------------------------------------------------------
def test_retry_storm_names_the_hammering_app_only(resilapp: pytest.Pytester) -> None:
    resilapp.makepyfile(
        test_vd_storm="""
        import pytest
        import resilapp

        pytestmark = pytest.mark.hfrouter_outage("provider-500", provider="novita")

        def test_flawed(hfrouter):
            with hfrouter.virtual_time():
                assert resilapp.hammers_novita()
            assert hfrouter.tried == ["novita"] * 6 + ["together"]
            [verdict] = hfrouter.verdicts
            assert verdict.name == "retry-storm"
            assert verdict.level == "error"
            assert [(c.provider, c.status) for c in verdict.calls] == [("novita", 500)] * 6
            assert verdict.explanation == (
                "6 calls to novita Qwen/Qwen2.5-72B-Instruct, every one failed (more than 3)"
            )

        def test_good(hfrouter):
            with hfrouter.virtual_time():
                assert resilapp.tries_twice_then_falls_back()
            assert hfrouter.tried == ["novita", "novita", "together"]
            assert hfrouter.verdicts == []
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=2)
    assert reported(result) == [("test_flawed", "retry-storm")]
    result.stdout.fnmatch_lines(
        [
            "*- hfrouter resilience verdicts -*",
            "test_vd_storm.py::test_flawed: retry-storm: 6 calls to novita Qwen/Qwen2.5-72B-Instruct, every one "
            "failed (more than 3)",
        ]
    )


@pytest.mark.parametrize(("limit", "expected"), [("6", []), ("5", [("test_six_calls", "retry-storm")])])
def test_retry_storm_limit_is_the_ini_value(
    resilapp: pytest.Pytester, limit: str, expected: list[tuple[str, str]]
) -> None:
    resilapp.makeini(f"[pytest]\nhfrouter_retry_storm = {limit}\n")
    resilapp.makepyfile(
        test_vd_storm_limit="""
        import pytest
        import resilapp

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_six_calls(hfrouter):
            with hfrouter.virtual_time():
                resilapp.hammers_novita()
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=1)
    assert reported(result) == expected


@pytest.mark.parametrize("scenario", ["credits-exhausted-402", "invalid-token-401"])
def test_retried_non_retryable_names_the_app_that_retries_an_account_error(
    resilapp: pytest.Pytester, scenario: str
) -> None:
    resilapp.makepyfile(
        test_vd_non_retryable=f"""
        import pytest
        import resilapp

        pytestmark = pytest.mark.hfrouter_outage({scenario!r}, provider="novita")

        def test_flawed(hfrouter):
            with hfrouter.virtual_time():
                assert resilapp.retries_whatever_the_status()
            [verdict] = hfrouter.verdicts
            assert verdict.name == "retried-non-retryable"
            status = int({scenario!r}.split("-")[-1])
            assert [(c.provider, c.status) for c in verdict.calls] == [("novita", status)] * 2
            assert f"called again after a {{status}}, which cannot change on retry" in verdict.explanation

        def test_good(hfrouter):
            with pytest.raises(resilapp.AppError, match="the account cannot call the router"):
                resilapp.stops_on_account_errors()
            assert hfrouter.tried == ["novita"]
            assert hfrouter.verdicts == []
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=2)
    assert reported(result) == [("test_flawed", "retried-non-retryable")]


def test_retried_non_retryable_after_the_mapping_dropped_the_provider(resilapp: pytest.Pytester) -> None:
    resilapp.makepyfile(
        test_vd_mapping="""
        import pytest
        import resilapp

        pytestmark = pytest.mark.hfrouter_outage("mapping-missing-provider", provider="novita")

        def test_flawed(hfrouter):
            assert resilapp.posts_directly_after_the_mapping_refused()
            assert [c.route for c in hfrouter.calls] == ["mapping", "provider"]
            [verdict] = hfrouter.verdicts
            assert verdict.name == "retried-non-retryable"
            [call] = verdict.calls
            assert (call.method, call.url, call.provider) == ("POST", resilapp.NOVITA_URL, "novita")
            assert verdict.explanation == (
                "novita Qwen/Qwen2.5-72B-Instruct was called although the mapping said the provider does not "
                "serve the model"
            )

        def test_good(hfrouter):
            assert resilapp.falls_back_after_the_mapping_refused()
            assert hfrouter.tried == ["together"]
            assert hfrouter.verdicts == []
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=2)
    assert reported(result) == [("test_flawed", "retried-non-retryable")]


def test_retry_after_ignored_under_virtual_time(resilapp: pytest.Pytester) -> None:
    resilapp.makepyfile(
        test_vd_retry_after="""
        import asyncio
        import time

        import pytest
        import resilapp

        rate_limited = pytest.mark.hfrouter_outage("rate-limited-429", provider="novita", times=1)

        @rate_limited
        def test_flawed(hfrouter):
            with hfrouter.virtual_time():
                assert resilapp.retries_at_once()
            assert [c.retry_after for c in hfrouter.inference_calls] == [55.0, None]
            [verdict] = hfrouter.verdicts
            assert verdict.name == "retry-after-ignored"
            assert [c.status for c in verdict.calls] == [429, 200]
            assert verdict.explanation.startswith("novita Qwen/Qwen2.5-72B-Instruct was called again after 0.")
            assert "s; the answer asked for 55 s" in verdict.explanation

        @rate_limited
        def test_good(hfrouter):
            started = time.perf_counter()
            assert hfrouter.clock.slept == 0
            with hfrouter.virtual_time() as clock:
                assert resilapp.waits_as_asked()
                assert clock.slept >= 55  # read inside the block, through its value
            assert time.perf_counter() - started < 3  # 55 s of virtual waiting, no real one
            first, second = hfrouter.inference_calls
            assert second.at - first.at >= 55
            assert hfrouter.clock.slept == clock.slept  # the public clock, after the block
            assert hfrouter.clock.now() - time.monotonic() == pytest.approx(clock.slept, abs=1)
            assert hfrouter.verdicts == []

        @rate_limited
        def test_good_async(hfrouter):
            started = time.perf_counter()
            with hfrouter.virtual_time():
                assert asyncio.run(resilapp.waits_as_asked_async())
            assert time.perf_counter() - started < 3
            assert [c.status for c in hfrouter.inference_calls] == [429, 200]
            assert hfrouter.verdicts == []

        def test_virtual_time_ends_with_its_block(hfrouter):
            real_sleep, real_async_sleep = time.sleep, asyncio.sleep
            with hfrouter.virtual_time():
                assert time.sleep is not real_sleep and asyncio.sleep is not real_async_sleep
            assert time.sleep is real_sleep and asyncio.sleep is real_async_sleep
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=4)
    assert reported(result) == [("test_flawed", "retry-after-ignored")]
    assert result.duration < 20


def test_time_frozen_or_mocked_by_the_test_leaves_the_plugins_clock_alone(resilapp: pytest.Pytester) -> None:
    """An audit: freezegun moved the plugin's clock with the app's. Frozen, an app that waited was judged
    retry-after-ignored and no-backoff; ticking a minute per read, an app that did not wait passed. A
    mocked time.sleep passes no time either: the verdict says so, and what to use instead."""
    resilapp.makepyfile(
        test_vd_frozen="""
        from unittest import mock

        import pytest
        import resilapp
        from freezegun import freeze_time

        rate_limited = pytest.mark.hfrouter_outage("rate-limited-429", provider="novita", times=1)

        @freeze_time("2024-01-01", auto_tick_seconds=60)
        @rate_limited
        def test_ticking_clock_does_not_hide_an_ignored_retry_after(hfrouter):
            assert resilapp.retries_at_once()
            assert [v.name for v in hfrouter.verdicts] == ["retry-after-ignored"]

        @freeze_time("2020-01-01")
        @pytest.mark.hfrouter_outage("provider-500", provider="novita", times=3)
        def test_frozen_clock_sees_the_real_backoff(hfrouter):
            assert resilapp.with_retries("novita", [0.05, 0.1, 0.2])
            first, *_, last = hfrouter.inference_calls
            assert last.at - first.at >= 0.35
            assert hfrouter.verdicts == []

        @rate_limited
        def test_mocked_sleep_is_named(hfrouter):
            with mock.patch("time.sleep") as sleep:
                assert resilapp.waits_as_asked()
            sleep.assert_called_once_with(55.0)
            [verdict] = hfrouter.verdicts
            assert verdict.name == "retry-after-ignored"
            assert "time.sleep was patched in this test" in verdict.explanation
            assert verdict.explanation.endswith("with hfrouter.virtual_time(): <the calls>)")

        @rate_limited
        def test_virtual_time_is_no_mock(hfrouter):
            with hfrouter.virtual_time():
                assert resilapp.waits_as_asked()
            assert hfrouter.verdicts == []
            assert not hfrouter._exchange.sleep_patched
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=4)


def test_a_run_frozen_at_import_reports_real_times(resilapp: pytest.Pytester) -> None:
    """An audit: a module that starts freezegun at import (and never stops it) got a report whose run
    finished years before it started."""
    resilapp.makepyfile(
        test_frozen_module="""
        import resilapp
        from freezegun import freeze_time

        freeze_time("2020-01-01").start()

        def test_asks():
            assert resilapp.ask("novita")
        """
    )

    # in a process of its own: the freeze outlives the run
    resilapp.runpytest_subprocess("-p", "hfrouter", "--hfrouter-report=report.json").assert_outcomes(passed=1)

    report = read_report(resilapp.path / "report.json")
    assert report["started"] <= report["finished"]
    assert report["started"] > "2026"
    assert 0 <= report["duration_s"] < 60


def test_retry_after_on_answers_that_ask_no_wait_is_no_verdict(resilapp: pytest.Pytester) -> None:
    resilapp.makepyfile(
        test_vd_retry_after_ok="""
        import pytest
        import resilapp

        # A bystander: verdicts are judged only where an outage rule is; this one never fires (optional).
        @pytest.mark.hfrouter_outage("provider-500", provider="novita", optional=True)
        def test_two_quick_answers(hfrouter):
            resilapp.ask("together")
            resilapp.ask("together")
            # together's real 200s carry "retry-after: 2": a rate-limit hint, not a request to wait
            assert [(c.status, c.retry_after) for c in hfrouter.inference_calls] == [(200, 2.0), (200, 2.0)]
            assert hfrouter.verdicts == []

        @pytest.mark.hfrouter_outage("stream-cut", provider="novita", times=1)
        def test_retry_at_once_after_a_cut_stream(hfrouter):
            with pytest.raises(Exception):
                resilapp.stream_into([], "novita")
            assert resilapp.stream_into([], "novita")
            assert hfrouter.inference_calls[0].retry_after == 2.0  # recorded with together's headers
            assert hfrouter.verdicts == []
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=2)
    assert verdict_lines(result) == []


def test_waits_slept_in_virtual_time_are_judged_exactly(
    resilapp: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry-library audit: jittered backoffs with three tries (stamina's defaults, tenacity's
    wait_exponential_jitter) drew waits such as 0.91 s and 1.03 s, judged "the same wait" within the noise a
    wall-clock gap needs, and failed correct apps at random. Slept in virtual time, the waits are exact: only the
    same wait again is no backoff. Waits of nothing under stamina's test switch say the test turned them off. A
    failure that is no 5xx is named as what it was."""
    resilapp.makepyfile(
        test_vd_exact="""
        import pytest
        import resilapp

        @pytest.mark.hfrouter_outage("provider-500", provider="novita", times=3)
        def test_jitter(hfrouter):
            with hfrouter.virtual_time():
                assert resilapp.with_retries("novita", [0.91, 1.03, 0.97])
            assert hfrouter.verdicts == []

        @pytest.mark.hfrouter_outage("provider-500", provider="novita", times=3)
        def test_same_wait(hfrouter):
            with hfrouter.virtual_time():
                assert resilapp.with_retries("novita", [0.5, 0.5, 0.5])
            [verdict] = hfrouter.verdicts
            assert verdict.name == "no-backoff"
            assert "retried after failures (500) with gaps 0.50 s, 0.50 s, 0.50 s" in verdict.explanation
        """
    )
    result = resilapp.runpytest("-p", "hfrouter")
    result.assert_outcomes(passed=2)
    # judged on the call log itself: wall-clock gaps under a busy machine's load would make it flaky
    reset = [dataclasses.replace(logged_call(None, at), fault="connection-reset") for at in (0.0, 0.0002, 0.0004)]
    [verdict] = [v for v in judge([*reset, logged_call(200, 0.0006)], passed=True) if v.name == "no-backoff"]
    assert "retried after failures (connection-reset) with gaps 0.000 s, 0.000 s, 0.000 s" in verdict.explanation
    assert "no wait at all" not in verdict.explanation  # the app's own doing, as far as the plugin can tell
    stamina = type(sys)("stamina")
    stamina.is_testing = lambda: True  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "stamina", stamina)  # its test switch on: the test's doing, not the app's
    [verdict] = [v for v in judge([*reset, logged_call(200, 0.0006)], passed=True) if v.name == "no-backoff"]
    assert "(no wait at all: stamina.set_testing() turned the app's waits off" in verdict.explanation


def test_failed_hub_look_ups_of_different_questions_are_no_retries(resilapp: pytest.Pytester) -> None:
    """A regression audit: counted as one request's tries, the Hub look-ups of four different questions (the
    README's advice: ask different prompts) were a retry storm with no backoff while the Hub was down."""
    resilapp.makepyfile(
        test_vd_hub_questions="""
        import pytest
        from huggingface_hub import InferenceClient
        import resilapp

        @pytest.mark.hfrouter_resilient
        @pytest.mark.hfrouter_outage("hub-unavailable")
        def test_four_questions(hfrouter):
            client = InferenceClient(provider="novita", api_key="hf_fake")
            for n in range(4):
                with pytest.raises(Exception):
                    client.chat_completion([{"role": "user", "content": f"question {n}"}], model=resilapp.MODEL)
            assert hfrouter.verdicts == []
        """
    )
    result = resilapp.runpytest("-p", "hfrouter")
    result.assert_outcomes(passed=1)


def test_a_replayed_test_that_waited_for_real_is_told_of_virtual_time(
    resilapp: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A retry-library audit: a correct app honouring Retry-After took 110 s of real time in replay, and
    nothing said why nor how to take none. Said once a run, as a note (never a failure)."""
    import pytest_hfrouter._running as running

    monkeypatch.setattr(running, "WAITED_FOR_REAL_S", 0.2)
    resilapp.makepyfile(
        test_vd_waits="""
        import pytest
        import resilapp

        @pytest.mark.parametrize("n", [1, 2])
        @pytest.mark.hfrouter_outage("provider-500", provider="novita", times=1)
        def test_waits(n):
            assert resilapp.with_retries("novita", [0.3])

        @pytest.mark.hfrouter_outage("provider-500", provider="novita", times=1)
        def test_waits_in_virtual_time(hfrouter):
            with hfrouter.virtual_time():
                assert resilapp.with_retries("novita", [30])
        """
    )
    result = resilapp.runpytest("-p", "hfrouter", "-p", "no:randomly", "-W", "error::pytest_hfrouter.HFRouterWarning")
    result.assert_outcomes(passed=3)
    assert result.stdout.str().count("s between its first and last router call") == 1
    result.stdout.fnmatch_lines(["*test_waits?1? spent 0.3 s between its first and last router call*virtual_time()*"])


def test_no_backoff_names_constant_gaps_not_growing_ones(resilapp: pytest.Pytester) -> None:
    resilapp.makepyfile(
        test_vd_backoff=r"""
        import re

        import pytest
        import resilapp

        pytestmark = pytest.mark.hfrouter_outage("provider-500", provider="novita", times=3)

        @pytest.mark.parametrize("attempt", range(5))  # the gaps are measured: no lucky jitter
        def test_flawed(hfrouter, attempt):
            with hfrouter.virtual_time():
                assert resilapp.retries_every_second()
            assert [c.status for c in hfrouter.inference_calls] == [500, 500, 500, 200]
            [verdict] = hfrouter.verdicts
            assert verdict.name == "no-backoff"
            assert [c.status for c in verdict.calls] == [500, 500, 500, 200]
            assert re.fullmatch(  # one second of virtual sleep plus the call's own few milliseconds
                r"novita Qwen/Qwen2.5-72B-Instruct was retried after failures \(500\) with gaps "
                r"1\.\d\d s, 1\.\d\d s, 1\.\d\d s: the same wait each time, not growing",
                verdict.explanation,
            )

        @pytest.mark.parametrize("attempt", range(5))
        def test_good(hfrouter, attempt):
            with hfrouter.virtual_time():
                assert resilapp.backs_off_exponentially()
            assert [c.status for c in hfrouter.inference_calls] == [500, 500, 500, 200]
            assert hfrouter.verdicts == []

        # Backoff with jitter (tenacity's wait_random_exponential) may draw a shorter wait after a
        # longer one; its waits still outgrow the first (an audit: each drop was a no-backoff).
        # backoff.expo's default (full jitter) drew only shorter waits after the first (an audit): no fixed
        # wait either
        @pytest.mark.parametrize("waits", [[1.9, 1.7, 7.5], [1, 3, 2.5], [0.96, 0.28, 0.1]])
        def test_jittered(hfrouter, waits):
            with hfrouter.virtual_time():
                assert resilapp.with_retries("novita", waits)
            assert [c.status for c in hfrouter.inference_calls] == [500, 500, 500, 200]
            assert hfrouter.verdicts == []
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=13)
    assert reported(result) == [(f"test_flawed[{n}]", "no-backoff") for n in range(5)]


@pytest.mark.parametrize(
    "scenario", ["stream-cut", "stream-no-done", "stream-half-json", "stream-error-event", "error-in-200"]
)
def test_truncated_stream_accepted_is_a_warning_for_the_app_that_shows_half(
    resilapp: pytest.Pytester, scenario: str
) -> None:
    # error-in-200's JSON body, read as a stream, is no event at all: the app shows nothing, as if whole;
    # stream-error-event breaks off after its first word
    shown = {"error-in-200": "", "stream-error-event": "Deep"}.get(scenario, PARTIAL)
    resilapp.makepyfile(
        test_vd_truncated=f"""
        import pytest
        import resilapp

        pytestmark = pytest.mark.hfrouter_outage({scenario!r}, provider="novita")

        def test_flawed(hfrouter):
            assert resilapp.shows_half_an_answer() == {shown!r}
            [verdict] = hfrouter.verdicts
            assert verdict.name == "truncated-stream-accepted"
            assert verdict.level == "warning"
            [call] = verdict.calls
            assert (call.provider, call.stream, call.answered_by) == ("novita", True, "scenario:{scenario}")
            assert "sent a truncated stream ({scenario})" in verdict.explanation

        def test_good_raises_and_the_test_catches_it(hfrouter):
            with pytest.raises(resilapp.AppError):
                resilapp.refuses_half_an_answer()

        def test_good_falls_back(hfrouter):
            assert resilapp.streams_elsewhere_after_a_broken_stream().startswith("Deep")
            assert hfrouter.tried == ["novita", "together"]
            assert hfrouter.verdicts == []
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=3)
    assert reported(result) == [("test_flawed", "truncated-stream-accepted")]
    result.stdout.fnmatch_lines(
        [f"test_vd_truncated.py::test_flawed: truncated-stream-accepted (warning): novita * ({scenario}) *"]
    )


def test_an_app_in_the_test_file_that_shows_half_is_still_seen(resilapp: pytest.Pytester) -> None:
    """The app written in the test's own file (as the README's first example is): an exception it
    swallows never reached the test, so the verdict holds. The test's own code is its function,
    and a ``pytest.raises`` of its helpers; a helper that raises on through the test is seen too."""
    resilapp.makepyfile(
        test_vd_inline="""
        import pytest
        from huggingface_hub import InferenceClient

        pytestmark = pytest.mark.hfrouter_outage("stream-cut", provider="novita")

        def shows_half():
            pieces = []
            try:
                client = InferenceClient(provider="novita", api_key="hf_fake")
                messages = [{"role": "user", "content": "hi"}]
                for chunk in client.chat_completion(messages, model="Qwen/Qwen2.5-72B-Instruct", stream=True):
                    pieces.append(chunk.choices[0].delta.content or "")
            except Exception:
                pass
            return "".join(pieces)

        def refuses():
            if shows_half() is not None:
                raise RuntimeError("half an answer")

        def expect_refusal():
            with pytest.raises(RuntimeError):
                refuses()

        def test_flawed_inline(hfrouter):
            shows_half()
            assert [v.name for v in hfrouter.verdicts] == ["truncated-stream-accepted"]

        def test_caught_in_a_helper(hfrouter):
            expect_refusal()
            assert hfrouter.verdicts == []

        def test_caught_in_the_test(hfrouter):
            try:
                refuses()
            except RuntimeError:
                pass
            assert hfrouter.verdicts == []
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=3)
    assert reported(result) == [("test_flawed_inline", "truncated-stream-accepted")]


def test_what_only_the_test_itself_raises_does_not_hide_a_half_answer(resilapp: pytest.Pytester) -> None:
    """An audit: a ``pytest.raises`` block around the test's own ``1 / 0``, after the app showed half an answer,
    counted as the app's exception reaching the test, and the verdict went unjudged (a green run). The test's own
    exception does not count, in a ``pytest.raises`` block as in a ``try``; the app's still does."""
    resilapp.makepyfile(
        test_vd_own_raises="""
        import pytest
        import resilapp

        pytestmark = pytest.mark.hfrouter_outage("stream-cut", provider="novita")

        def test_flawed_then_raises_itself(hfrouter):
            assert resilapp.shows_half_an_answer()
            with pytest.raises(ZeroDivisionError):
                1 / 0
            assert [v.name for v in hfrouter.verdicts] == ["truncated-stream-accepted"]

        def test_good(hfrouter):
            with pytest.raises(resilapp.AppError):
                resilapp.refuses_half_an_answer()
            assert hfrouter.verdicts == []
        """
    )
    result = resilapp.runpytest("-p", "hfrouter")
    result.assert_outcomes(passed=2)
    assert reported(result) == [("test_flawed_then_raises_itself", "truncated-stream-accepted")]


def test_a_hypothesis_test_that_catches_the_apps_error_in_its_body_is_no_verdict(resilapp: pytest.Pytester) -> None:
    """An audit: a ``@given`` test's body is Hypothesis's ``inner_test`` (its wrapper names no ``__wrapped__``),
    so its own ``except`` was not the test's code, and a correct app was judged to show half an answer."""
    pytest.importorskip("hypothesis")
    resilapp.makepyfile(
        test_vd_given="""
        import pytest
        import resilapp
        from hypothesis import given, settings, strategies as st

        @pytest.mark.hfrouter_outage("stream-cut", provider="novita")
        @settings(max_examples=2, deadline=None, database=None)
        @given(st.integers())
        def test_catches(n):
            try:
                resilapp.refuses_half_an_answer()
            except resilapp.AppError:
                pass
        """
    )
    result = resilapp.runpytest("-p", "hfrouter", "-o", "hfrouter_verdicts=fail")
    result.assert_outcomes(passed=1)
    assert verdict_lines(result) == []


def test_no_chain_is_asked_for_after_a_stream_that_broke_once_it_began(resilapp: pytest.Pytester) -> None:
    """An audit: stopping after a stream that broke once it had begun is never giving up early, yet the
    "gave-up-early was not judged, name the chain" warning came, and failed the test under -W error."""
    resilapp.makepyfile(
        test_vd_no_chain="""
        import pytest
        import resilapp

        @pytest.mark.hfrouter_resilient
        @pytest.mark.hfrouter_outage("stream-cut", provider="novita")
        def test_refuses(hfrouter):
            with pytest.raises(resilapp.AppError):
                resilapp.refuses_half_an_answer()
        """
    )
    result = resilapp.runpytest("-p", "hfrouter", "-W", "error::pytest_hfrouter.HFRouterWarning")
    result.assert_outcomes(passed=1)


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring: Python 3.12")
def test_the_tool_ids_held_by_others_are_named(resilapp: pytest.Pytester) -> None:
    """An audit: with sys.monitoring's ids 3 and 4 both taken by other tools, the plugin could not watch, and its
    warning spoke of a trace function on Python < 3.12."""
    resilapp.makeconftest(
        FRESH_LOOKUPS + "\nimport sys\n\ndef pytest_configure(config):\n"
        "    sys.monitoring.use_tool_id(3, 'agent-a')\n    sys.monitoring.use_tool_id(4, 'agent-b')\n\n"
        "def pytest_unconfigure(config):\n    sys.monitoring.free_tool_id(3)\n    sys.monitoring.free_tool_id(4)\n"
    )
    resilapp.makepyfile(
        test_vd_held="""
        import pytest
        import resilapp

        @pytest.mark.hfrouter_outage("stream-cut", provider="novita")
        def test_flawed():
            assert resilapp.shows_half_an_answer()
        """
    )
    result = resilapp.runpytest("-p", "hfrouter")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*truncated-stream-accepted was not judged: the sys.monitoring tool ids * (3: agent-a, 4: agent-b)*"]
    )


def test_truncated_stream_that_fails_the_test_is_no_verdict(resilapp: pytest.Pytester) -> None:
    resilapp.makepyfile(
        test_vd_truncated_failing="""
        import pytest
        import resilapp

        @pytest.mark.hfrouter_outage("stream-cut", provider="novita")
        def test_the_error_reaches_the_test():
            resilapp.refuses_half_an_answer()
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*AppError: the stream broke"])
    assert verdict_lines(result) == []


def _scenario_from_shipped(shipped: str, name: str, *, truncates: bool | None, shadow: bool = False) -> str:
    """The shipped ``shipped`` scenario's file as a user scenario ``name``, its truncation as given
    (None: the field left out)."""
    text = (library_dir() / "scenarios" / f"{shipped}.yaml").read_text()
    head, sep, rest = text.partition("interactions:")
    head = head.replace(f"    name: {shipped}\n", f"    name: {name}\n").replace("    truncates_stream: true\n", "")
    extra = "" if truncates is None else f"    truncates_stream: {str(truncates).lower()}\n"
    extra += "    shadow: true\n" if shadow else ""
    return head.replace("    stream: true\n", "    stream: true\n" + extra) + sep + rest


def test_a_user_scenario_that_declares_truncation_is_judged_by_it(resilapp: pytest.Pytester) -> None:
    """The verdict reads ``truncates_stream`` from the scenario's data, never its name: a user
    scenario that declares it is judged, the same bytes declared ``false`` are not, and a user
    file shadowing stream-no-done with ``truncates_stream: false`` turns the verdict off for it."""
    folder = resilapp.mkdir("outages")
    (folder / "short-stream.yaml").write_text(_scenario_from_shipped("stream-no-done", "short-stream", truncates=True))
    (folder / "short-stream-silent.yaml").write_text(
        _scenario_from_shipped("stream-no-done", "short-stream-silent", truncates=False)
    )
    (folder / "stream-no-done.yaml").write_text(
        _scenario_from_shipped("stream-no-done", "stream-no-done", truncates=False, shadow=True)
    )
    resilapp.makeini("[pytest]\nhfrouter_scenario_dirs = outages\n")
    resilapp.makepyfile(
        test_vd_user_truncation=f"""
        import pytest
        import resilapp

        @pytest.mark.parametrize("scenario", ["short-stream", "short-stream-silent", "stream-no-done"])
        def test_shows_half(hfrouter, scenario):
            with hfrouter.outage(scenario, provider="novita"):
                assert resilapp.shows_half_an_answer() == {PARTIAL!r}
            assert [c.scenario for c in hfrouter.inference_calls] == [scenario]
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=3)
    assert reported(result) == [("test_shows_half[short-stream]", "truncated-stream-accepted")]
    result.stdout.fnmatch_lines(
        ["*test_shows_half?short-stream?: truncated-stream-accepted (warning): novita * (short-stream) *"]
    )


@pytest.mark.parametrize(
    ("value", "stream", "problem"),
    [
        ("maybe", "true", "metadata.hfrouter.truncates_stream must be true or false, got 'maybe'"),
        ("1", "true", "metadata.hfrouter.truncates_stream must be true or false, got 1"),
        ("true", "false", "metadata.hfrouter.truncates_stream is true but stream is false"),
    ],
)
def test_a_bad_truncates_stream_names_the_file_and_the_field(
    tmp_path: Path, value: str, stream: str, problem: str
) -> None:
    text = _scenario_from_shipped("stream-no-done", "bad-truncation", truncates=None)
    text = text.replace("    stream: true\n", f"    stream: {stream}\n    truncates_stream: {value}\n")
    (tmp_path / "bad-truncation.yaml").write_text(text)
    with pytest.raises(ScenarioError) as excinfo:
        load_user_scenarios(tmp_path)
    assert str(tmp_path / "bad-truncation.yaml") in str(excinfo.value)
    assert problem in str(excinfo.value)


@pytest.mark.parametrize(
    ("shipped", "why"),
    [("stream-no-done", "its stream ends with no data: [DONE]"), ("stream-cut", "its fault cuts the stream")],
)
def test_a_scenario_that_truncates_a_stream_must_say_whether_it_does(tmp_path: Path, shipped: str, why: str) -> None:
    """A contributor's audit: a stream scenario that ends without [DONE] (or is cut), with the field left
    out, was never judged truncated-stream-accepted, and no test said so. It must say true or false."""
    (tmp_path / "undeclared.yaml").write_text(_scenario_from_shipped(shipped, "undeclared", truncates=None))
    with pytest.raises(ScenarioError) as excinfo:
        load_user_scenarios(tmp_path)
    assert f"{why}, so an app may take half an answer for a whole one: declare it with " in str(excinfo.value)
    assert "metadata.hfrouter.truncates_stream: true" in str(excinfo.value)


def test_a_scenario_folder_is_read_in_sub_folders_and_whatever_the_suffixs_case(tmp_path: Path) -> None:
    """A paths audit: ``x.YAML`` and a file in a sub-folder were skipped in silence (lint read them), so a
    ``shadow: true`` scenario never replaced the shipped one and the test passed on the shipped body."""
    (tmp_path / "novita").mkdir()
    (tmp_path / "novita" / "deep-cut.yaml").write_text(_scenario_from_shipped("stream-cut", "deep-cut", truncates=True))
    (tmp_path / "upper-cut.YAML").write_text(_scenario_from_shipped("stream-cut", "upper-cut", truncates=True))
    (tmp_path / "notes.txt").write_text("not a scenario")
    # a sub-folder's YAML that declares no scenario (recorded cassettes, a CI workflow) and hidden folders are not
    # read (a regression audit: a folder of cassettes below stopped the run)
    (tmp_path / "test_app").mkdir()
    (tmp_path / "test_app" / "test_x.yaml").write_text("interactions: []\nversion: 1\n")
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text("metadata:\n  hfrouter: {name: nope}\n")
    assert sorted(s.name for s in load_user_scenarios(tmp_path)) == ["deep-cut", "upper-cut"]


def test_the_shipped_truncating_scenarios_declare_it() -> None:
    library = shipped_library()
    assert sorted(s.name for s in library.scenarios.values() if s.truncates_stream) == [
        "error-in-200",  # its JSON body, read as a stream, is no event: an empty stream
        "stream-cut",
        "stream-error-event",  # two chunks, then an error event: an app that catches it has half an answer
        "stream-half-json",
        "stream-no-done",
    ]


CHAIN_INI = "[pytest]\nhfrouter_chain =\n    novita\n    together\n"


def test_gave_up_early_with_the_chain_from_the_ini(resilapp: pytest.Pytester) -> None:
    resilapp.makeini(CHAIN_INI)
    resilapp.makepyfile(
        test_vd_gave_up="""
        import pytest
        from huggingface_hub.errors import HfHubHTTPError
        import resilapp

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_flawed(hfrouter):
            with pytest.raises(HfHubHTTPError):
                resilapp.novita_only()
            [verdict] = hfrouter.verdicts
            assert verdict.name == "gave-up-early"
            assert [(c.provider, c.status) for c in verdict.calls] == [("novita", 500)]
            assert verdict.explanation == "the chain ended with 500 from novita while together had never been tried"

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_good(hfrouter):
            assert resilapp.whole_chain()
            hfrouter.assert_tried("novita", "together")
            assert hfrouter.verdicts == []

        @pytest.mark.hfrouter_outage("credits-exhausted-402", provider="novita")
        def test_stopping_on_402_is_right(hfrouter):
            with pytest.raises(resilapp.AppError):
                resilapp.stops_on_account_errors()
            assert hfrouter.tried == ["novita"]
            assert hfrouter.verdicts == []

        @pytest.mark.hfrouter_outage("provider-500", provider="*")
        def test_every_link_tried_and_failed(hfrouter):
            with pytest.raises(resilapp.AppError):
                resilapp.whole_chain()
            assert hfrouter.verdicts == []
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=4)
    assert reported(result) == [("test_flawed", "gave-up-early")]


def test_gave_up_early_needs_a_chain(resilapp: pytest.Pytester) -> None:
    resilapp.makepyfile(
        test_vd_no_chain="""
        import pytest
        import resilapp

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_single_provider_app_without_a_chain(hfrouter):
            with pytest.raises(Exception):
                resilapp.novita_only()
            assert hfrouter.verdicts == []
            hfrouter.assert_resilient()
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=1)
    assert verdict_lines(result) == []


def test_gave_up_early_with_the_chain_from_the_marker(resilapp: pytest.Pytester) -> None:
    resilapp.makepyfile(
        test_vd_gave_up_marker="""
        import pytest
        import resilapp

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        @pytest.mark.hfrouter_resilient(chain=("novita", "together"))
        def test_flawed(hfrouter):
            with pytest.raises(Exception):
                resilapp.novita_only()
            assert [v.name for v in hfrouter.verdicts] == ["gave-up-early"]

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        @pytest.mark.hfrouter_resilient(chain=["novita", "together"])
        def test_good(hfrouter):
            resilapp.whole_chain()

        @pytest.mark.hfrouter_resilient(chain=["novita", "together"])
        @pytest.mark.hfrouter_outage("invalid-token-401", provider="novita")
        def test_stopping_on_401_is_right(hfrouter):
            with pytest.raises(resilapp.AppError):
                resilapp.stops_on_account_errors()
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_flawed _*",
            "pytest-hfrouter: resilience verdicts:",
            "  gave-up-early: the chain ended with 500 from novita while together had never been tried",
            "    POST https://router.huggingface.co/novita/v3/openai/chat/completions ?provider: novita *? -> 500 *",
            "  (a verdict that is wrong for this app: @pytest.mark.hfrouter_resilient(allow=('gave-up-early',)))",
            "call log:",
            "  1. GET https://huggingface.co/api/models/Qwen/Qwen2.5-72B-Instruct?expand=inferenceProviderMapping *",
            "  2. POST https://router.huggingface.co/novita/v3/openai/chat/completions * -> 500 "
            "(scenario:provider-500)",
        ]
    )
    assert reported(result) == [("test_flawed", "gave-up-early")]


# -- assert_resilient, the marker, the ini --------------------------------------------------------
def test_assert_resilient_fails_with_the_verdicts_and_the_call_log(resilapp: pytest.Pytester) -> None:
    resilapp.makepyfile(
        test_vd_assert="""
        import pytest
        import resilapp

        novita_500 = pytest.mark.hfrouter_outage("provider-500", provider="novita")

        @novita_500
        def test_flawed(hfrouter):
            with hfrouter.virtual_time():
                resilapp.hammers_novita()
            hfrouter.assert_resilient()

        @novita_500
        def test_allowed(hfrouter):
            with hfrouter.virtual_time():
                resilapp.hammers_novita()
            hfrouter.assert_resilient(allow=["retry-storm"])
            hfrouter.assert_resilient(allow=("retry-storm",), chain=["novita", "together"])

        @novita_500
        def test_chain_argument(hfrouter):
            with pytest.raises(Exception):
                resilapp.novita_only()
            hfrouter.assert_resilient()
            with pytest.raises(AssertionError, match="gave-up-early: the chain ended with 500 from novita"):
                hfrouter.assert_resilient(chain=["novita", "together"])

        @novita_500
        def test_good(hfrouter):
            with hfrouter.virtual_time():
                resilapp.tries_twice_then_falls_back()
            hfrouter.assert_resilient()

        def test_unknown_name(hfrouter):
            with pytest.raises(ValueError, match="unknown verdict 'retry-strom'. Did you mean 'retry-storm'?"):
                hfrouter.assert_resilient(allow=["retry-strom"])
            with pytest.raises(ValueError, match="unknown verdict 'slow'.* Verdicts: retry-storm, "):
                hfrouter.assert_resilient(allow=["slow"])
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_flawed _*",
            "E       AssertionError: resilience verdicts:",
            "E         retry-storm: 6 calls to novita Qwen/Qwen2.5-72B-Instruct, every one failed (more than 3)",
            "E           POST https://router.huggingface.co/novita/v3/openai/chat/completions ?provider: novita *? -> "
            "500 (scenario:provider-500)",
            "E       call log:",
            "E         1. GET https://huggingface.co/api/models/Qwen/Qwen2.5-72B-Instruct?expand=inferenceProviderMapping*",
            "E         2. POST https://router.huggingface.co/novita/v3/openai/chat/completions ?provider: novita *? -> "
            "500 (scenario:provider-500)",
            "E         8. POST https://router.huggingface.co/together/v1/chat/completions * -> 200 (healthy)",
        ]
    )


def test_a_resilient_test_whose_app_made_no_router_call_judged_nothing(resilapp: pytest.Pytester) -> None:
    """``hfrouter_resilient`` with every call answered by another mock library (pytest-httpx, found by
    a new user's audit) or a patched client: no call was seen, no verdict could fire, and it passed."""
    resilapp.makepyfile(
        test_vd_nothing="""
        from unittest import mock

        import pytest
        import resilapp

        @pytest.mark.hfrouter_resilient()
        def test_patched_client(hfrouter):
            with mock.patch.object(resilapp, "hammers_novita", return_value="patched"):
                assert resilapp.hammers_novita() == "patched"
            hfrouter.assert_resilient()

        @pytest.mark.hfrouter_resilient()
        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_real_client(hfrouter):
            with hfrouter.virtual_time():
                resilapp.tries_twice_then_falls_back()
        """,
        # a module's marker is a policy for its tests that call the router: one that calls none is fine
        test_vd_policy="""
        import pytest

        pytestmark = pytest.mark.hfrouter_resilient()

        def test_reads_the_configuration():
            assert True
        """,
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_patched_client _*",
            "pytest-hfrouter: @pytest.mark.hfrouter_resilient judges how the app treats the router, and this test "
            "made no inference call that pytest-hfrouter saw (no request at all), so nothing was judged.*",
        ]
    )


def test_a_hub_outage_that_stops_the_app_before_any_inference_call_is_no_finding(resilapp: pytest.Pytester) -> None:
    """An audit: a matrix with ``hfrouter_resilient`` failed its hub-unavailable case with "nothing was judged ...
    did another mock library answer its calls first?": the plugin's own Hub outage stopped the app at its
    mapping look-up, which is what that case tests."""
    resilapp.makepyfile(
        test_vd_hub="""
        import pytest
        from huggingface_hub import InferenceClient

        @pytest.mark.hfrouter_resilient(chain=["novita", "together"])
        @pytest.mark.hfrouter_outage("hub-unavailable")
        def test_hub_down(hfrouter):
            try:
                InferenceClient(provider="novita", api_key="hf_fake").chat_completion(
                    [{"role": "user", "content": "hi"}], model="Qwen/Qwen2.5-72B-Instruct"
                )
            except Exception:
                pass  # the app says the service is down
            assert hfrouter.inference_calls == []
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=1)


def test_resilient_marker_checks_after_the_body(resilapp: pytest.Pytester) -> None:
    resilapp.makepyfile(
        test_vd_marker="""
        import pytest
        import resilapp

        novita_500 = pytest.mark.hfrouter_outage("provider-500", provider="novita")
        BODY_RAN = []

        @novita_500
        @pytest.mark.hfrouter_resilient()
        def test_flawed(hfrouter):
            with hfrouter.virtual_time():
                resilapp.hammers_novita()
            BODY_RAN.append("flawed")

        @novita_500
        @pytest.mark.hfrouter_resilient(allow=("retry-storm",))
        def test_flawed_but_allowed(hfrouter):
            with hfrouter.virtual_time():
                resilapp.hammers_novita()

        @novita_500
        @pytest.mark.hfrouter_resilient(allow=["no-backoff"])
        def test_flawed_other_verdict_allowed(hfrouter):
            with hfrouter.virtual_time():
                resilapp.hammers_novita()

        @novita_500
        @pytest.mark.hfrouter_resilient
        def test_good(hfrouter):
            with hfrouter.virtual_time():
                resilapp.tries_twice_then_falls_back()

        def test_the_body_ran_to_its_end():
            assert BODY_RAN == ["flawed"]
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=3, failed=2)
    for name in ("test_flawed", "test_flawed_other_verdict_allowed"):
        result.stdout.fnmatch_lines(
            [
                f"*_ {name} _*",
                "pytest-hfrouter: resilience verdicts:",
                "  retry-storm: 6 calls to novita Qwen/Qwen2.5-72B-Instruct, every one failed (more than 3)",
                "    POST https://router.huggingface.co/novita/v3/openai/chat/completions * -> 500 "
                "(scenario:provider-500)",
                "*call log:",
                "  1. GET https://huggingface.co/api/models/*",
            ]
        )
    # allowed or not, the verdicts are still reported
    assert sorted(reported(result)) == [
        ("test_flawed", "retry-storm"),
        ("test_flawed_but_allowed", "retry-storm"),
        ("test_flawed_other_verdict_allowed", "retry-storm"),
    ]


BAD_RESILIENT = {
    "positional": ('@pytest.mark.hfrouter_resilient("retry-storm")', "takes keyword arguments allow= and chain= only*"),
    "unknown_kwarg": ("@pytest.mark.hfrouter_resilient(allowed=())", "takes keyword arguments allow= and chain= only*"),
    "allow_string": (
        '@pytest.mark.hfrouter_resilient(allow="retry-storm")',
        "allow is a tuple of verdict names, got 'retry-storm'",
    ),
    "allow_typo": (
        '@pytest.mark.hfrouter_resilient(allow=("no-back-off",))',
        "unknown verdict 'no-back-off'. Did you mean 'no-backoff'? Verdicts: retry-storm, *",
    ),
    "chain_string": (
        '@pytest.mark.hfrouter_resilient(chain="novita")',
        "chain is a tuple of provider names, got 'novita'",
    ),
}


def test_bad_resilient_marker_arguments_are_collection_errors(pytester: pytest.Pytester) -> None:
    for name, (marker, _) in BAD_RESILIENT.items():
        pytester.makepyfile(**{f"test_vd_bad_{name}": f"import pytest\n\n{marker}\ndef test_it():\n    pass\n"})

    result = pytester.runpytest("-p", "hfrouter")

    result.assert_outcomes(errors=len(BAD_RESILIENT))
    for name, (_, problem) in BAD_RESILIENT.items():
        result.stdout.fnmatch_lines(
            [
                f"*ERROR collecting test_vd_bad_{name}.py*",
                f"test_vd_bad_{name}.py::test_it: @pytest.mark.hfrouter_resilient: {problem}",
                "  signature: @pytest.mark.hfrouter_resilient(allow=(), chain=None)",
            ]
        )


#: One test with a verdict, one without; the ini decides what happens to the first.
INI_TESTS = """
import pytest
import resilapp

novita_500 = pytest.mark.hfrouter_outage("provider-500", provider="novita")

@novita_500
def test_flawed(hfrouter):
    with hfrouter.virtual_time():
        resilapp.hammers_novita()

@novita_500
def test_good(hfrouter):
    with hfrouter.virtual_time():
        resilapp.tries_twice_then_falls_back()

@pytest.mark.hfrouter_outage("stream-cut", provider="novita")
def test_flawed_stream(hfrouter):
    resilapp.shows_half_an_answer()
"""


def test_ini_fail_makes_any_verdict_fail_its_test(resilapp: pytest.Pytester) -> None:
    resilapp.makeini("[pytest]\nhfrouter_verdicts = fail\n")
    resilapp.makepyfile(test_vd_ini_fail=INI_TESTS)

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_flawed _*",
            "pytest-hfrouter: resilience verdicts:",
            "  retry-storm: 6 calls to novita *",
            "*_ test_flawed_stream _*",
            "pytest-hfrouter: resilience verdicts:",
            "  truncated-stream-accepted: novita * sent a truncated stream (stream-cut) *",
        ]
    )
    result.stdout.fnmatch_lines(["FAILED test_vd_ini_fail.py::test_flawed - *", "FAILED *::test_flawed_stream - *"])


def test_ini_report_lists_verdicts_in_the_summary_and_the_json_report(resilapp: pytest.Pytester) -> None:
    resilapp.makepyfile(test_vd_ini_report=INI_TESTS)  # report is the default

    result = resilapp.runpytest("-p", "hfrouter", "--hfrouter-report=out/report.json")

    result.assert_outcomes(passed=3)
    assert verdict_lines(result) == [
        "test_vd_ini_report.py::test_flawed: retry-storm: 6 calls to novita Qwen/Qwen2.5-72B-Instruct, every one "
        "failed (more than 3)",
        "test_vd_ini_report.py::test_flawed_stream: truncated-stream-accepted (warning): novita "
        "Qwen/Qwen2.5-72B-Instruct sent a truncated stream (stream-cut) and no exception reached the test nor did "
        "another provider answer afterwards: the app may have shown half an answer as if it were whole (an app "
        "that tells its user the answer broke off, such as a web handler that catches the error and says so, does "
        "right: allow it)",
    ]
    verdicts = read_report(resilapp.path / "out" / "report.json")["verdicts"]
    assert [(v["test"], v["name"], v["level"]) for v in verdicts] == [
        ("test_vd_ini_report.py::test_flawed", "retry-storm", "error"),
        ("test_vd_ini_report.py::test_flawed_stream", "truncated-stream-accepted", "warning"),
    ]
    assert verdicts[0]["explanation"].startswith("6 calls to novita")
    assert len(verdicts[0]["calls"]) == 6
    assert verdicts[0]["calls"][0] == (
        "POST https://router.huggingface.co/novita/v3/openai/chat/completions "
        "[provider: novita Qwen/Qwen2.5-72B-Instruct] -> 500 (scenario:provider-500)"
    )
    assert verdicts[1]["calls"] == [
        "POST https://router.huggingface.co/novita/v3/openai/chat/completions "
        "[provider: novita Qwen/Qwen2.5-72B-Instruct] -> stream-cut (scenario:stream-cut)"
    ]


def test_ini_report_under_xdist_merges_every_worker_s_verdicts(resilapp: pytest.Pytester) -> None:
    resilapp.makepyfile(test_vd_ini_xdist=INI_TESTS)

    result = resilapp.runpytest_subprocess("-p", "hfrouter", "-n", "2", "--hfrouter-report=report.json")

    result.assert_outcomes(passed=3)
    assert sorted(reported(result)) == [
        ("test_flawed", "retry-storm"),
        ("test_flawed_stream", "truncated-stream-accepted"),
    ]
    verdicts = read_report(resilapp.path / "report.json")["verdicts"]
    assert sorted(v["name"] for v in verdicts) == ["retry-storm", "truncated-stream-accepted"]


def test_ini_off_computes_nothing(resilapp: pytest.Pytester) -> None:
    resilapp.makeini("[pytest]\nhfrouter_verdicts = off\n")
    resilapp.makepyfile(
        test_vd_ini_off=INI_TESTS
        + """
@novita_500
@pytest.mark.hfrouter_resilient()
def test_marker_still_applies(hfrouter):
    with hfrouter.virtual_time():
        resilapp.hammers_novita()
"""
    )

    result = resilapp.runpytest("-p", "hfrouter", "--hfrouter-report=report.json")

    result.assert_outcomes(passed=3, failed=1)
    # only the test that asked for verdicts with the marker got (and reported) them
    assert reported(result) == [("test_marker_still_applies", "retry-storm")]
    result.stdout.fnmatch_lines(["FAILED *::test_marker_still_applies - Failed: pytest-hfrout*"])
    verdicts = read_report(resilapp.path / "report.json")["verdicts"]
    assert [v["test"] for v in verdicts] == ["test_vd_ini_off.py::test_marker_still_applies"]


@pytest.mark.parametrize(
    ("ini", "message"),
    [
        ("hfrouter_verdicts = strict", "hfrouter_verdicts = 'strict' is not valid. Valid values: off, report, fail"),
        ("hfrouter_verdicts = reports", "hfrouter_verdicts = 'reports' is not valid. Did you mean 'report'? *"),
        ("hfrouter_retry_storm = none", "hfrouter_retry_storm: expected a whole number >= 1, got 'none'"),
        ("hfrouter_retry_storm = 0", "hfrouter_retry_storm: expected a whole number >= 1, got '0'"),
    ],
)
def test_invalid_verdict_ini_values_are_usage_errors(pytester: pytest.Pytester, ini: str, message: str) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(test_vd_usage="def test_it():\n    pass\n")

    result = pytester.runpytest("-p", "hfrouter")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


def test_no_outage_no_verdicts(resilapp: pytest.Pytester) -> None:
    resilapp.makeini(CHAIN_INI)
    resilapp.makepyfile(
        test_vd_healthy="""
        import resilapp

        def test_healthy_calls_are_not_judged(hfrouter):
            for _ in range(5):
                resilapp.ask("novita")
            assert hfrouter.verdicts == []
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=1)
    assert verdict_lines(result) == []


def test_verdicts_of_an_outage_given_by_the_context_manager(resilapp: pytest.Pytester) -> None:
    resilapp.makepyfile(
        test_vd_context="""
        import pytest
        import resilapp

        def test_flawed(hfrouter):
            with hfrouter.outage("provider-500", provider="novita"):
                with hfrouter.virtual_time():
                    resilapp.hammers_novita()
            assert [v.name for v in hfrouter.verdicts] == ["retry-storm"]

        def test_flawed_stream(hfrouter):
            with hfrouter.outage("stream-no-done", provider="novita"):
                resilapp.shows_half_an_answer()

        def test_good_stream(hfrouter):
            with hfrouter.outage("stream-no-done", provider="novita"):
                with pytest.raises(resilapp.AppError):
                    resilapp.refuses_half_an_answer()

        def test_only_calls_inside_the_block_are_judged(hfrouter):
            for _ in range(5):
                resilapp.ask("novita")
            with hfrouter.outage("rate-limited-429", provider="novita"):
                assert resilapp.whole_chain()  # novita 429, then together
                assert [v.name for v in hfrouter.verdicts] == []
            # The outage is over: this call does not ignore the 429's Retry-After of the block.
            assert resilapp.ask("novita")
            assert hfrouter.tried == ["novita"] * 5 + ["novita", "together", "novita"]
            assert hfrouter.verdicts == []

        def test_verdicts_inside_the_block(hfrouter):
            with hfrouter.outage("rate-limited-429", provider="novita", times=1):
                resilapp.retries_at_once()
                assert [v.name for v in hfrouter.verdicts] == ["retry-after-ignored"]
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=5)
    assert reported(result) == [
        ("test_flawed", "retry-storm"),
        ("test_flawed_stream", "truncated-stream-accepted"),
        ("test_verdicts_inside_the_block", "retry-after-ignored"),
    ]


def test_the_example_app_gets_no_verdicts(pytester: pytest.Pytester) -> None:
    """The README's example suite exercises a well-behaved app: not one verdict, even under ``fail``, but
    for the seed's Option 2, pinned by its strict xfail: it dies at novita's 500 with together and cerebras
    left (the examples judge every contract test against the app's chain)."""
    examples = Path(__file__).resolve().parent.parent / "examples"
    shutil.copytree(examples, pytester.path / "examples", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    pytester.makeini("[pytest]\nhfrouter_verdicts = fail\n")

    result = pytester.runpytest_subprocess("-p", "hfrouter", "examples", "--hfrouter-report=report.json")

    assert result.ret == pytest.ExitCode.OK
    assert result.parseoutcomes()["passed"] > 40
    seed = "examples/tests/test_outage_contract.py::test_seed_option2_survives_novita_500"
    assert verdict_lines(result) == [
        f"{seed}: gave-up-early: the chain ended with 500 from novita while together, cerebras had never been tried"
    ]
    assert [(v["test"], v["name"]) for v in read_report(pytester.path / "report.json")["verdicts"]] == [
        (seed, "gave-up-early")
    ]


# -- the closing run: one flawed app per verdict ----------------------------------------------
ONE_FLAW_EACH = """
import pytest
import resilapp


@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_retry_storm(hfrouter):
    with hfrouter.virtual_time():
        resilapp.hammers_novita()


@pytest.mark.hfrouter_outage("credits-exhausted-402", provider="novita")
def test_retried_non_retryable(hfrouter):
    with hfrouter.virtual_time():
        resilapp.retries_whatever_the_status()


@pytest.mark.hfrouter_outage("rate-limited-429", provider="novita", times=1)
def test_retry_after_ignored(hfrouter):
    resilapp.retries_at_once()


@pytest.mark.hfrouter_outage("provider-500", provider="novita", times=3)
def test_no_backoff(hfrouter):
    with hfrouter.virtual_time():
        resilapp.retries_every_second()


@pytest.mark.hfrouter_outage("stream-cut", provider="novita")
def test_truncated_stream_accepted(hfrouter):
    resilapp.shows_half_an_answer()


@pytest.mark.hfrouter_outage("provider-500", provider="novita")
@pytest.mark.hfrouter_resilient(chain=["novita", "together"], allow=["gave-up-early"])
def test_gave_up_early(hfrouter):
    with pytest.raises(Exception):
        resilapp.novita_only()
"""


def test_one_flawed_app_per_verdict_in_one_summary(resilapp: pytest.Pytester) -> None:
    resilapp.makepyfile(test_vd_one_flaw_each=ONE_FLAW_EACH)

    result = resilapp.runpytest("-p", "hfrouter", "--hfrouter-report=report.json")

    result.assert_outcomes(passed=6)
    names = [
        "retry-storm",
        "retried-non-retryable",
        "retry-after-ignored",
        "no-backoff",
        "truncated-stream-accepted",
        "gave-up-early",
    ]
    assert reported(result) == [(f"test_{name.replace('-', '_')}", name) for name in names]
    assert [v["name"] for v in read_report(resilapp.path / "report.json")["verdicts"]] == names


# -- the pre-check: every verdict is judged when its call log can have it -------------------------
_logged = logged_call


#: a call log that has each verdict, and what judge() is told besides
LOGS_WITH: dict[str, tuple[list[Call], dict[str, Any]]] = {
    "retry-storm": ([_logged(500, n * 2.0**n, scenario="provider-500") for n in range(4)], {}),
    "retried-non-retryable": ([_logged(402, 0, scenario="credits-exhausted-402"), _logged(200, 1)], {}),
    "retry-after-ignored": ([_logged(429, 0, scenario="rate-limited-429", retry_after=10), _logged(200, 1)], {}),
    "no-backoff": ([*(_logged(500, n, scenario="provider-500") for n in range(3)), _logged(200, 3)], {}),
    "truncated-stream-accepted": ([_logged(200, 0, scenario="stream-no-done", truncates=True)], {}),
    "gave-up-early": ([_logged(500, 0, scenario="provider-500")], {"chain": ("novita", "together")}),
}


@pytest.mark.parametrize("name", NAMES)
def test_the_pre_check_lets_every_verdict_through(name: str) -> None:
    """`_could_judge` spares the judgement for tests that cannot have a verdict; for a call log that
    has one it must say yes, for every verdict there is (a new one without a log here fails)."""
    assert name in LOGS_WITH, f"no call log with {name!r} in LOGS_WITH: add one"
    calls, options = LOGS_WITH[name]
    chain = options.get("chain", ())
    found = [v.name for v in judge(calls, passed=True, chain=chain)]
    assert name in found
    assert _could_judge(calls, chain)


def test_the_pre_check_spares_a_healthy_log_and_sees_a_removed_provider() -> None:
    healthy = [_logged(200, 0), _logged(200, 1, provider="together")]
    assert judge(healthy, passed=True) == []
    assert not _could_judge(healthy, ())
    removed = frozenset({("novita", "qwen/qwen2.5-72b-instruct")})
    assert [v.name for v in judge(healthy, passed=True, removed=removed)] == ["retried-non-retryable"]
    assert _could_judge(healthy, (), removed=True)


def test_the_apps_other_requests_are_no_retries_nor_fallbacks() -> None:
    """A verdict judges one request's tries: the calls that ask the same (a retry, a fallback). Ten
    prompts gathered at a failing provider were a "retry storm" with "no backoff", and a concurrent call
    of another prompt to another provider counted as the fallback of a cut stream, which then passed
    (found by an audit of concurrent apps)."""
    five_prompts = [_logged(500, 0.0, scenario="provider-500", asks=f"q{n}") for n in range(5)]
    assert judge(five_prompts, passed=True) == []
    one_prompt = [_logged(500, 0.0, scenario="provider-500") for _ in range(5)]
    assert [v.name for v in judge(one_prompt, passed=True)] == ["retry-storm", "no-backoff"]

    cut = _logged(200, 0.0, scenario="stream-no-done", truncates=True)
    other = _logged(200, 0.1, provider="together", asks="summarise the day")
    assert [v.name for v in judge([cut, other], passed=True)] == ["truncated-stream-accepted"]
    fallback = _logged(200, 0.1, provider="together")
    assert judge([cut, fallback], passed=True) == []


def test_stopping_after_a_stream_that_broke_once_begun_is_not_giving_up_early() -> None:
    """Words a broken stream showed cannot be taken back: an app that says the answer broke off does right
    (an audit: the example app's StreamInterrupted was judged gave-up-early, and accepting the half answer
    truncated-stream-accepted, so only starting the answer again elsewhere escaped both)."""
    chain = ("novita", "together")
    for scenario in ("stream-cut", "stream-error-event"):
        broke = _logged(200, 0, scenario=scenario, truncates=True)
        assert judge([broke], passed=False, chain=chain) == []
    refused = _logged(500, 0, scenario="provider-500", truncates=True)  # a stream refused before it began
    assert [v.name for v in judge([refused], passed=False, chain=chain)] == ["gave-up-early"]


def test_a_link_the_hub_stopped_was_tried() -> None:
    """A link whose mapping look-up failed or left its provider out was tried: the app did not give up
    while it was left (an audit: chaos removed novita, failed together with a 503 and the Hub for
    cerebras, and gave-up-early said novita and cerebras had never been tried)."""
    import dataclasses

    chain = ("novita", "together", "cerebras")
    looked_up = dataclasses.replace(_logged(200, 0), route="mapping", looked_up_for="novita")
    hub_down = dataclasses.replace(_logged(503, 2), route="mapping", looked_up_for="cerebras")
    together = _logged(503, 1, provider="together", scenario="service-unavailable-503")
    assert judge([looked_up, together, hub_down], passed=False, chain=chain) == []
    assert [v.name for v in judge([together], passed=False, chain=chain)] == ["gave-up-early"]


def test_error_in_200_on_a_plain_call_truncates_no_stream(hfrouter: HFRouter) -> None:
    """error-in-200 declares truncates_stream for the streams it answers; a plain call is no stream."""
    from huggingface_hub import InferenceClient

    client = InferenceClient(provider="novita", api_key="hf_fake", timeout=10)
    with hfrouter.outage("error-in-200", provider="novita"):
        out = client.chat_completion([{"role": "user", "content": "hi"}], model="Qwen/Qwen2.5-72B-Instruct")
    assert out.choices is None  # huggingface_hub does not raise on it (docs/ROUTER-FACTS.md §2.10)
    assert [(c.answered_by, c.truncates_stream) for c in hfrouter.inference_calls] == [("scenario:error-in-200", False)]
    assert hfrouter.verdicts == []


def test_resilient_without_a_chain_says_gave_up_early_was_not_judged(resilapp: pytest.Pytester) -> None:
    """An app that stopped after its first provider failed, under hfrouter_resilient with no chain:
    green, and a warning says why gave-up-early was not judged (an audit: nothing said so)."""
    resilapp.makepyfile(
        test_vd_nochain="""
        import pytest
        import resilapp

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        @pytest.mark.hfrouter_resilient()
        def test_gives_up(hfrouter):
            with pytest.raises(Exception):
                resilapp.novita_only()

        @pytest.mark.hfrouter_outage("credits-exhausted-402", provider="novita")
        @pytest.mark.hfrouter_resilient()
        def test_stops_on_a_402(hfrouter):  # right whatever the chain: no warning
            with pytest.raises(Exception):
                resilapp.novita_only()
        """
    )

    result = resilapp.runpytest("-p", "hfrouter")

    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*test_vd_nochain.py:*: HFRouterWarning: pytest-hfrouter: the app's last router call failed (500 from "
            "novita) and the test passed, but no fallback chain is set, so gave-up-early*",
        ]
    )
    assert result.stdout.str().count("no fallback chain is set") == 1


def test_an_hfrouter_warning_made_an_error_fails_with_its_message(resilapp: pytest.Pytester) -> None:
    """``-W error::pytest_hfrouter.HFRouterWarning``: the test fails with the warning's message, not
    a traceback through the plugin's code (an audit read one as a crash of the plugin)."""
    resilapp.makepyfile(
        test_vd_werror="""
        import pytest
        import resilapp

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        @pytest.mark.hfrouter_resilient()
        def test_gives_up(hfrouter):
            with pytest.raises(Exception):
                resilapp.novita_only()
        """
    )

    result = resilapp.runpytest("-p", "hfrouter", "-W", "error::pytest_hfrouter.HFRouterWarning")

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*pytest-hfrouter: the app's last router call failed (500 from novita)*made an error by -W or filterwarnings)"]
    )
    assert "pytest_hfrouter/_checks.py" not in result.stdout.str()


def test_a_verdict_that_needs_does_not_declare_is_none() -> None:
    """A contributor's audit: a verdict judged but missing from `NEEDS` was reported when another
    verdict's facts let the look through, then refused by ``allow=`` as unknown. It cannot be made."""
    from pytest_hfrouter.verdicts import NAMES, Verdict

    with pytest.raises(ValueError, match=r"'retried-auth-error' is not declared in verdicts\.NEEDS"):
        Verdict("retried-auth-error", "called again after a 401")
    assert [Verdict(name, "").name for name in NAMES] == list(NAMES)


TRACED = """
import sys
import pytest
import resilapp

pytestmark = pytest.mark.hfrouter_outage("stream-cut", provider="novita")

def test_shows_half(hfrouter):
    assert resilapp.shows_half_an_answer()

def test_raises_under_a_debugger(hfrouter):
    sys.settrace(lambda frame, event, arg: None)  # what a breakpoint() does: a debugger's own trace function
    try:
        with pytest.raises(resilapp.AppError):
            resilapp.refuses_half_an_answer()
    finally:
        sys.settrace(None)
"""


def test_coverage_keeps_the_lines_of_a_test_that_meets_a_truncating_scenario(resilapp: pytest.Pytester) -> None:
    """An audit: a test that met a stream scenario lost its lines from coverage.py's data (the plugin's trace
    function replaced coverage's), and a debugger's breakpoint in one turned a passing test into a false
    truncated-stream-accepted. Python 3.12 and newer watch with sys.monitoring, beside either; before, the
    plugin leaves another trace function in place and says the verdict was not judged."""
    pytest.importorskip("coverage")
    resilapp.makepyfile(test_traced=TRACED)

    result = resilapp.runpytest_subprocess("-p", "hfrouter", "-p", "no:cacheprovider", "-W", "always")
    result.assert_outcomes(passed=2)
    assert reported(result) == [("test_shows_half", "truncated-stream-accepted")]  # not the debugged one
    if sys.version_info < (3, 12):  # the debugger's trace function replaced the plugin's: not judged, and said
        result.stdout.fnmatch_lines(["*truncated-stream-accepted was not judged: another trace function was set*"])

    covered = subprocess.run(
        [sys.executable, "-m", "coverage", "run", "--include=resilapp.py", "-m", "pytest", "-p", "hfrouter",
         "-p", "no:cacheprovider", "-W", "always", "test_traced.py::test_shows_half"],
        cwd=resilapp.path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert "1 passed" in covered.stdout, covered.stdout[-2000:]
    subprocess.run([sys.executable, "-m", "coverage", "json", "-o", "cov.json"], cwd=resilapp.path, check=True)
    missing = set(json.loads((resilapp.path / "cov.json").read_text())["files"]["resilapp.py"]["missing_lines"])
    tree = ast.parse((resilapp.path / "resilapp.py").read_text())
    ran = {  # the lines the test ran: the app's stream (up to its cut: not its return) and what it shows
        line
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name in ("stream_into", "shows_half_an_answer")
        for line in range(node.body[0].lineno, node.end_lineno + 1)  # type: ignore[operator]
        if not (node.name == "stream_into" and line == node.body[-1].lineno)
    }
    assert ran and not (ran & missing), sorted(ran & missing)
