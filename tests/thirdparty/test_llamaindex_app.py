"""llama-index's ``HuggingFaceInferenceAPI``: chat, achat, stream_chat, astream_chat."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("llama_index.llms.huggingface_api")

import app_llamaindex as app

if TYPE_CHECKING:
    from pytest_hfrouter import HFRouter

ASYNC = [
    pytest.param(False, id="sync"),
    pytest.param(True, id="async"),  # on huggingface_hub 0.x: AsyncInferenceClient over aiohttp
]


def chat(asynchronous: bool, **kwargs: float) -> tuple[str, str]:
    return asyncio.run(app.achat(**kwargs)) if asynchronous else app.chat(**kwargs)


def novita(hfrouter: HFRouter) -> list[object]:
    return [c.fault or c.status for c in hfrouter.inference_calls if c.provider == "novita"]


@pytest.mark.parametrize("asynchronous", ASYNC)
def test_healthy_answer_offline_with_a_fake_token(hfrouter: HFRouter, asynchronous: bool) -> None:
    answer, provider = chat(asynchronous)
    assert provider == "novita" and answer
    assert [(c.route, c.status) for c in hfrouter.calls][-2:] == [("mapping", 200), ("provider", 200)]


@pytest.mark.parametrize("asynchronous", ASYNC)
@pytest.mark.parametrize(
    ("scenario", "novita_saw"),
    [("provider-500", 500), ("staging-auth", 401), ("rate-limited-429", 429), ("read-timeout", "read-timeout")],
)
def test_outage_falls_back_to_together(
    hfrouter: HFRouter, asynchronous: bool, scenario: str, novita_saw: object
) -> None:
    with hfrouter.outage(scenario, provider="novita"):
        _, provider = chat(asynchronous, timeout=2.0)
    assert provider == "together"
    assert novita(hfrouter) == [novita_saw]
    hfrouter.assert_answered_by("together")


@pytest.mark.parametrize("asynchronous", ASYNC)
@pytest.mark.hfrouter_outage("stream-cut", provider="novita")
def test_stream_cut_reaches_the_app(hfrouter: HFRouter, asynchronous: bool) -> None:
    with pytest.raises(Exception) as raised:
        asyncio.run(app.astream()) if asynchronous else app.stream()
    assert type(raised.value).__name__ in ("RemoteProtocolError", "ChunkedEncodingError", "ClientPayloadError")
    assert novita(hfrouter) == ["stream-cut"]


def test_streamed_healthy_answer(hfrouter: HFRouter) -> None:
    assert "".join(app.stream())
    assert [c.stream for c in hfrouter.inference_calls] == [True]
