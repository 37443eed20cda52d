"""smolagents' ``InferenceClientModel`` (huggingface_hub underneath) under the shipped outages."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("smolagents")

import app_smolagents as app

if TYPE_CHECKING:
    from pytest_hfrouter import HFRouter


def novita(hfrouter: HFRouter) -> list[object]:
    return [c.fault or c.status for c in hfrouter.inference_calls if c.provider == "novita"]


def test_healthy_answer_offline_with_a_fake_token(hfrouter: HFRouter) -> None:
    answer, provider = app.chat()
    assert provider == "novita" and answer
    assert [(c.route, c.status) for c in hfrouter.calls] == [("mapping", 200), ("provider", 200)]


@pytest.mark.parametrize("scenario", ["provider-500", "staging-auth", "read-timeout"])
def test_outage_falls_back_to_together(hfrouter: HFRouter, scenario: str) -> None:
    with hfrouter.outage(scenario, provider="novita"):
        _, provider = app.chat(timeout=2.0)
    assert provider == "together"
    expected = {"provider-500": 500, "staging-auth": 401, "read-timeout": "read-timeout"}[scenario]
    assert novita(hfrouter) == [expected]  # smolagents retries rate limits only
    hfrouter.assert_answered_by("together")


@pytest.mark.hfrouter_outage("rate-limited-429", provider="novita")
def test_429_smolagents_retries_are_in_the_call_log(hfrouter: HFRouter) -> None:
    with hfrouter.virtual_time():
        _, provider = app.chat()
    assert provider == "together"
    assert novita(hfrouter) == [429, 429, 429]  # RETRY_MAX_ATTEMPTS = 3
    novita_calls = [c for c in hfrouter.inference_calls if c.provider == "novita"]
    assert all(b.at - a.at >= 55 for a, b in itertools.pairwise(novita_calls))  # waits of 60 s and more


@pytest.mark.hfrouter_outage("stream-cut", provider="novita")
def test_stream_cut_reaches_the_app(hfrouter: HFRouter) -> None:
    from huggingface_hub import __version__

    with pytest.raises(Exception) as raised:
        app.stream()
    # what huggingface_hub's HTTP library raises for a cut chunked body (README's fault table)
    assert type(raised.value).__name__ in ("RemoteProtocolError", "ChunkedEncodingError"), (__version__, raised.value)
    assert novita(hfrouter) == ["stream-cut"]


def test_streamed_healthy_answer(hfrouter: HFRouter) -> None:
    assert "".join(app.stream())
    assert [c.stream for c in hfrouter.inference_calls] == [True]
