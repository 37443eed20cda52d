"""Edges a mutation audit found no test for: each test here passed on the code as it is and failed on a
realistic change to it (a comparison flipped, a clause dropped), named in its comment by the audit's id.

Verdicts on call logs built by hand; the scrubber's and the guard's patterns; why an outage never happened;
the per-test call cap; ``times=`` on an answer played on the healthy body.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest
from conftest import logged_call

from pytest_hfrouter import Call, HFRouter, HFRouterWarning, scrub
from pytest_hfrouter._checks import Findings, _unjudged_chain
from pytest_hfrouter.library import shipped_library
from pytest_hfrouter.traffic import Exchange, Rule
from pytest_hfrouter.unmatched import SHADOWED, UNMATCHED, diagnose
from pytest_hfrouter.verdicts import judge

MODEL = "Qwen/Qwen2.5-72B-Instruct"


_logged = logged_call


def names(calls, **kw):
    return [v.name for v in judge(calls, passed=kw.pop("passed", True), **kw)]


def test_waiting_exactly_retry_after_is_no_verdict():  # kills V04
    calls = [_logged(429, 0.0, scenario="rate-limited-429", retry_after=10), _logged(200, 10.0)]
    assert names(calls) == []


def test_two_retries_without_backoff_is_no_backoff():  # kills V07
    calls = [_logged(500, 0.0, scenario="provider-500"), _logged(500, 1.0, scenario="provider-500"), _logged(200, 2.0)]
    assert names(calls) == ["no-backoff"]


def test_jitter_whose_last_wait_is_short_is_a_backoff():  # kills V08
    calls = [
        _logged(500, 0.0, scenario="provider-500"),
        _logged(500, 2.0, scenario="provider-500"),
        _logged(500, 7.0, scenario="provider-500"),
        _logged(200, 8.0),
    ]
    assert names(calls) == []


def test_a_truncated_stream_after_a_caught_error_is_still_judged():  # kills V13
    failed = _logged(500, 0.0, scenario="provider-500", asks="first")
    cut = _logged(200, 1.0, scenario="stream-no-done", truncates=True, asks="second")
    assert names([failed, cut], caught_after=1) == ["truncated-stream-accepted"]


def test_a_503_retry_after_ignored_is_a_verdict():  # kills V16
    calls = [_logged(503, 0.0, scenario="service-unavailable-503", retry_after=30), _logged(200, 1.0)]
    assert names(calls) == ["retry-after-ignored"]


def test_retry_after_on_a_success_asks_no_wait():  # kills V06
    calls = [
        _logged(500, 0.0, scenario="provider-500"),
        _logged(200, 0.1, retry_after=2),
        _logged(200, 0.2, retry_after=2),
    ]
    assert names(calls) == []


def test_a_fallback_that_failed_too_does_not_excuse_a_truncated_stream():  # kills V18
    cut = _logged(200, 0.0, scenario="stream-no-done", truncates=True)
    failed = _logged(500, 0.1, provider="together", scenario="provider-500")
    assert names([cut, failed]) == ["truncated-stream-accepted"]


def _struck(status, at, fault="slow-first-token", **kw):
    """A call a fault struck before the app read the answer's status (slow-first-token past its timeout, status=)."""
    return dataclasses.replace(_logged(status, at, scenario=fault, **kw), fault=fault)


def test_retrying_a_timed_out_402_is_no_retried_non_retryable():  # kills V03
    assert names([_struck(402, 0.0), _logged(200, 5.0)]) == []


def test_a_timed_out_429_asks_no_wait():  # kills V05
    assert names([_struck(429, 0.0, retry_after=30), _logged(200, 1.0)]) == []


def test_stopping_on_a_timed_out_401_is_giving_up_early():  # kills V10
    assert names([_struck(401, 0.0)], passed=False, chain=("novita", "together")) == ["gave-up-early"]


def test_constant_waits_with_slow_calls_are_no_backoff():  # kills V19
    calls = [
        _logged(500, 0.0, scenario="provider-500"),
        _logged(500, 1.0, scenario="provider-500"),
        _logged(500, 2.08, scenario="provider-500"),
        _logged(200, 3.16),
    ]
    assert names(calls) == ["no-backoff"]


def test_a_timed_out_401_with_no_chain_says_gave_up_early_was_not_judged():  # kills C10
    exchange = Exchange()
    exchange.calls.append(_struck(401, 0.0))
    findings = Findings()
    _unjudged_chain(findings, exchange)
    [said] = findings.warnings
    assert "no fallback chain is set" in said
    with pytest.warns(HFRouterWarning, match="no fallback chain is set"):
        assert findings.warn_all(("test_x.py", 1)) == []


def test_times_counts_an_answer_played_on_the_healthy_body(hfrouter: HFRouter) -> None:  # kills E01
    from huggingface_hub import InferenceClient

    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    client = InferenceClient(provider="novita", api_key="hf_fake", timeout=10)
    with hfrouter.outage("slow-first-token", provider="novita", delay=0.01, times=1):
        for _ in range(2):
            client.chat_completion(
                [{"role": "user", "content": "x"}],
                model="Qwen/Qwen2.5-72B-Instruct",
                response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
            )
    assert [c.scenarios for c in hfrouter.inference_calls] == [("slow-first-token",), ()]


def test_a_glob_model_gets_no_did_you_mean():  # kills U12
    call = _logged(200, 0.0)
    rule = Rule(shipped_library().get("provider-500"), provider="novita", model="Qwen/Qwen2.5-7B-*")
    finding = diagnose(rule, [call])
    assert finding is not None and "did you mean model=" not in finding.reason, finding.reason


def _call(provider):
    """A call on the auto route that the router answered from ``provider``."""
    return dataclasses.replace(
        _logged(200, 0.0, provider=provider), route="auto", url="https://router.huggingface.co/v1/chat/completions"
    )


def test_a_flag_rule_with_a_typo_in_its_provider_is_unmatched():  # kills U02
    rule = Rule(shipped_library().get("provider-unavailable"), provider="novitaa")
    finding = diagnose(rule, [_call("novita")])
    assert finding is not None and finding.kind == UNMATCHED
    assert "did you mean provider='novita'?" in finding.reason


def test_a_basic_credential_in_free_text_is_scrubbed():  # kills S04
    said = scrub.text("upstream said: Authorization: Basic dXNlcjpodW50ZXIyMjI=")
    assert "dXNlcjpodW50ZXIyMjI=" not in said


def test_a_bracketed_token_name_is_a_secret_name():  # kills S06
    assert scrub.is_secret_name("session[token]")
    assert scrub.is_secret_name("auth[key]")


def test_a_fully_qualified_router_name_is_refused_after_the_session():  # kills G04
    code = (
        "import socket\n"
        "socket.getaddrinfo = lambda *a, **k: ['REAL LOOKUP']\n"
        "from pytest_hfrouter import guard\n"
        "guard.close_after_session(frozenset({'router.huggingface.co'}))\n"
        "try:\n"
        "    socket.getaddrinfo('router.huggingface.co.', 443)\n"
        "    print('LEAK')\n"
        "except guard.BlockedLookup:\n"
        "    print('BLOCKED')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ).stdout
    assert out.strip() == "BLOCKED"


def test_a_short_registered_secret_is_scrubbed():  # kills S03
    scrub.register(["s3cr3tv4l"])
    assert "s3cr3tv4l" not in scrub.text("password was s3cr3tv4l")


def test_github_server_and_refresh_tokens_are_scrubbed():  # kills S05
    for prefix in ("ghs_", "ghr_"):
        token = prefix + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
        assert token not in scrub.text(f"token in log: {token}")


def test_an_allowed_host_matches_whatever_its_case():  # kills G05
    from pytest_hfrouter.guard import Policy

    assert Policy(hosts=("api.example.com",)).allows("API.Example.com", 443)
    assert Policy(allow_loopback=True).allows("LOCALHOST", 8080)


def test_an_xfail_does_not_absorb_an_outage_block_that_never_began(hfapp: pytest.Pytester) -> None:  # C03
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat

        @pytest.mark.xfail(reason="known bug")
        def test_statement(hfrouter):
            hfrouter.outage("provider-500", provider="novita")
            chat("novita")
            raise AssertionError("the app's own bug")
        """
    )
    result = hfapp.runpytest("-p", "hfrouter")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*its block never began*"])


def test_each_outage_case_that_cannot_apply_is_skipped_even_when_unmatched_is_ignored(
    hfapp: pytest.Pytester,
) -> None:  # C04
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat

        @pytest.mark.hfrouter_each_outage("provider-500", "stream-cut", provider="novita")
        def test_plain(hfrouter):
            try:
                chat("novita")
            except Exception:
                pass
        """
    )
    result = hfapp.runpytest("-p", "hfrouter", "-o", "hfrouter_on_unmatched=ignore", "-rs")
    result.assert_outcomes(passed=1, skipped=1)


def _mapping(status, answered_by, scenarios=()):
    return Call(
        "novita",
        MODEL,
        "mapping",
        "GET",
        f"https://huggingface.co/api/models/{MODEL}",
        status,
        None,
        answered_by,
        False,
        0.0,
        scenarios=scenarios,
        looked_up_for="novita",
    )


def test_a_look_up_a_closer_rule_answered_is_shadowed_not_overlay_only() -> None:  # U08
    rule = Rule(shipped_library().get("staging-auth"), provider="novita")
    finding = diagnose(rule, [_mapping(503, "scenario:hub-unavailable", ("hub-unavailable",))])
    assert finding is not None and finding.kind == SHADOWED, finding


def test_no_failed_look_up_hint_when_inference_calls_followed() -> None:  # U10
    rule = Rule(shipped_library().get("provider-500"), provider="together")
    novita = _logged(200, 1.0)
    finding = diagnose(rule, [_mapping(503, "scenario:hub-unavailable", ("hub-unavailable",)), novita])
    assert finding is not None and "makes no inference call after a failed look-up" not in finding.reason


def test_the_call_cap_is_exact(hfapp: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:  # FC1
    import pytest_hfrouter.faces._core as core

    monkeypatch.setattr(core, "MAX_CALLS", 50)
    hfapp.makepyfile(
        """
        import pytest
        from hfapp import chat

        @pytest.mark.hfrouter_outage("provider-500", provider="novita")
        def test_counts(hfrouter):
            try:
                while True:
                    try:
                        chat("novita")
                    except Exception:
                        pass
            except BaseException:
                pass
            assert len(hfrouter.calls) == 50
        """
    )
    result = hfapp.runpytest("-p", "hfrouter", "-p", "no:randomly")
    result.assert_outcomes(passed=1)


def test_a_half_stream_after_a_caught_error_in_a_block_is_judged(hfapp: pytest.Pytester) -> None:  # V20
    hfapp.makepyfile(
        """
        import httpx
        import pytest

        BODY = {"model": "Qwen/Qwen2.5-72B-Instruct", "messages": [{"role": "user", "content": "hi"}]}
        AUTH = {"Authorization": "Bearer hf_fake"}

        def url(provider):
            return f"https://router.huggingface.co/{provider}/v3/openai/chat/completions"

        def test_half(hfrouter):
            httpx.post(url("novita"), json=BODY, headers=AUTH)
            with hfrouter.outage("stream-no-done", provider="novita"):
                with hfrouter.outage("provider-500", provider="together"):
                    with pytest.raises(httpx.HTTPStatusError):
                        httpx.post(url("together"), json=BODY, headers=AUTH).raise_for_status()
                with httpx.stream("POST", url("novita"), json={**BODY, "stream": True}, headers=AUTH) as r:
                    list(r.iter_lines())
            print("CALLS", [(c.route, c.provider, c.status) for c in hfrouter.calls])
            assert [v.name for v in hfrouter.verdicts] == ["truncated-stream-accepted"]
        """
    )
    result = hfapp.runpytest("-p", "hfrouter", "-s")
    result.assert_outcomes(passed=1)


def test_the_fixtures_checks_are_the_real_ones(hfrouter: HFRouter) -> None:
    """What an audit of the README's API found unchecked: a virtual sleep of an invalid length raises as the
    real one does (a backoff gone negative passed), assert_not_tried() needs a provider (it asserted nothing),
    and assert_resilient checks allow= and chain= as the marker does (a string chain was read letter by letter)."""
    import math
    import time

    with hfrouter.virtual_time():
        time.sleep(3)
        for bad, error in ((-1, ValueError), (math.nan, ValueError), (math.inf, OverflowError)):
            with pytest.raises(error):
                time.sleep(bad)
    assert hfrouter.clock.slept == 3
    with pytest.raises(ValueError, match="needs the providers"):
        hfrouter.assert_not_tried()
    for given, said in (
        ({"chain": ["novita", "togther"]}, "Did you mean 'together'"),
        ({"chain": "novita,together"}, "chain is a tuple of provider names"),
        ({"allow": "retry-storm"}, "allow is a tuple of verdict names"),
    ):
        with pytest.raises(ValueError, match=said):
            hfrouter.assert_resilient(**given)  # type: ignore[arg-type]
    hfrouter.assert_resilient(allow=["retry-storm"], chain=["novita"])
