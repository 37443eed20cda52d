"""langchain-huggingface (``ChatHuggingFace`` with ``with_fallbacks``): sync, async and streamed.

langchain-huggingface needs huggingface_hub < 2.0: with 1.x its async client is httpx, with 0.x
aiohttp (both intercepted; CI runs this module on 1.x and on 0.36.2).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

pytest.importorskip("langchain_huggingface")

import app_langchain as app

if TYPE_CHECKING:
    from pytest_hfrouter import HFRouter

ASYNC = [
    pytest.param(False, id="sync"),
    pytest.param(True, id="async"),  # on huggingface_hub 0.x: AsyncInferenceClient over aiohttp
]


def invoke(asynchronous: bool, runnable: Any) -> str:
    reply = asyncio.run(runnable.ainvoke("hi")) if asynchronous else runnable.invoke("hi")
    return str(reply.content)


def novita(hfrouter: HFRouter) -> list[object]:
    return [c.fault or c.status for c in hfrouter.inference_calls if c.provider == "novita"]


@pytest.mark.parametrize("asynchronous", ASYNC)
def test_healthy_answer_offline_with_a_fake_token(hfrouter: HFRouter, asynchronous: bool) -> None:
    assert invoke(asynchronous, app.chain())
    hfrouter.assert_tried("novita")
    assert [c.route for c in hfrouter.calls] == ["mapping", "provider"]


@pytest.mark.parametrize("asynchronous", ASYNC)
@pytest.mark.parametrize(
    ("scenario", "novita_saw"),
    [("provider-500", 500), ("staging-auth", 401), ("rate-limited-429", 429), ("read-timeout", "read-timeout")],
)
def test_outage_falls_back_to_together(
    hfrouter: HFRouter, asynchronous: bool, scenario: str, novita_saw: object
) -> None:
    with hfrouter.outage(scenario, provider="novita"):
        assert invoke(asynchronous, app.chain(timeout=2))
    assert novita(hfrouter) == [novita_saw]  # no retries of its own: with_fallbacks moves on
    hfrouter.assert_answered_by("together")


@pytest.mark.parametrize("asynchronous", ASYNC)
@pytest.mark.hfrouter_outage("stream-cut", provider="novita")
def test_stream_cut_reaches_the_app(hfrouter: HFRouter, asynchronous: bool) -> None:
    received: list[str] = []

    async def astream() -> None:
        async for chunk in app.llm("novita").astream("hi"):
            received.append(str(chunk.content))

    with pytest.raises(Exception) as raised:
        if asynchronous:
            asyncio.run(astream())
        else:
            received.extend(str(chunk.content) for chunk in app.llm("novita").stream("hi"))
    assert type(raised.value).__name__ in ("RemoteProtocolError", "ChunkedEncodingError", "ClientPayloadError")
    assert "".join(received), "the events before the cut reach the app first"
    assert novita(hfrouter) == ["stream-cut"]
