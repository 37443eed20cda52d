"""The openai SDK on the router's auto route: sync, async and streamed, under the shipped outages."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import TYPE_CHECKING

import pytest

openai = pytest.importorskip("openai")
httpx2 = pytest.importorskip("httpx2")

import app_openai as app  # noqa: E402

if TYPE_CHECKING:
    from pytest_hfrouter import HFRouter

ASYNC = [pytest.param(False, id="sync"), pytest.param(True, id="async")]


def chat(asynchronous: bool, **kwargs: object) -> tuple[str, str]:
    return asyncio.run(app.achat(**kwargs)) if asynchronous else app.chat(**kwargs)  # type: ignore[arg-type]


def novita_calls(hfrouter: HFRouter) -> list[object]:
    return [c.fault or c.status for c in hfrouter.inference_calls if c.provider == "novita"]


@pytest.mark.parametrize("asynchronous", ASYNC)
def test_healthy_answer_offline_with_a_fake_token(hfrouter: HFRouter, asynchronous: bool) -> None:
    answer, provider = chat(asynchronous)
    assert provider == "novita" and answer
    assert [(c.route, c.provider, c.status, c.answered_by) for c in hfrouter.calls] == [
        ("auto", "novita", 200, "healthy")
    ]


@pytest.mark.parametrize("asynchronous", ASYNC)
@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_provider_500_falls_back_after_the_sdk_retries(hfrouter: HFRouter, asynchronous: bool) -> None:
    with hfrouter.virtual_time():
        answer, provider = chat(asynchronous)
    assert (provider, bool(answer)) == ("together", True)
    # the SDK's own retries (max_retries=2) are in the call log: three 500s, then the fallback
    assert novita_calls(hfrouter) == [500, 500, 500]
    hfrouter.assert_tried("novita", "novita", "novita", "together")


@pytest.mark.parametrize("asynchronous", ASYNC)
@pytest.mark.hfrouter_outage("rate-limited-429", provider="novita")
def test_429_retries_honour_retry_after_in_virtual_time(hfrouter: HFRouter, asynchronous: bool) -> None:
    started = time.perf_counter()
    with hfrouter.virtual_time():
        _, provider = chat(asynchronous)
    wall = time.perf_counter() - started
    assert provider == "together"
    assert novita_calls(hfrouter) == [429, 429, 429]
    novita = [c for c in hfrouter.calls if c.provider == "novita"]
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(novita)]
    # Retry-After: 55 was waited for on the test's clock (async: anyio.sleep), not on the wall's
    assert all(gap >= 55 for gap in gaps), gaps
    assert wall < 10, f"the retries waited for real: {wall:.1f}s"


def test_staging_auth_reaches_the_provider_route_only(hfrouter: HFRouter) -> None:
    """The auto route has no client-side mapping look-up: staging-auth's 401 is a provider-route answer."""
    with hfrouter.outage("staging-auth", provider="novita"):
        _, provider = app.chat()
        assert provider == "novita"  # the auto route is untouched by the scenario
        client = openai.OpenAI(base_url="https://router.huggingface.co/novita/v3/openai", api_key="hf_fake")
        with pytest.raises(openai.AuthenticationError) as raised:
            client.chat.completions.create(model=app.MODEL, messages=app.MESSAGES)  # type: ignore[arg-type]
    assert raised.value.status_code == 401
    assert [(c.route, c.status) for c in hfrouter.calls] == [("auto", 200), ("provider", 401)]


@pytest.mark.parametrize("asynchronous", ASYNC)
@pytest.mark.hfrouter_outage("read-timeout", provider="novita")
def test_read_timeout_falls_back(hfrouter: HFRouter, asynchronous: bool) -> None:
    with hfrouter.virtual_time():
        _, provider = chat(asynchronous, timeout=2.0)
    assert provider == "together"
    assert novita_calls(hfrouter) == ["read-timeout"] * 3  # the SDK retries timeouts too


@pytest.mark.hfrouter_outage("stream-cut", provider="novita")
def test_stream_cut_reaches_the_app(hfrouter: HFRouter) -> None:
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError) as raised:
        for delta in app.stream():
            received.append(delta)
    assert received, "the events before the cut reach the app first"
    assert isinstance(raised.value.__cause__, httpx2.RemoteProtocolError)
    assert novita_calls(hfrouter) == ["stream-cut"]


@pytest.mark.hfrouter_outage("stream-cut", provider="novita")
def test_async_stream_cut_reaches_the_app(hfrouter: HFRouter) -> None:
    received: list[str] = []

    async def read() -> None:
        async for delta in app.astream():
            received.append(delta)

    with pytest.raises(openai.APIConnectionError):
        asyncio.run(read())
    assert received
    assert novita_calls(hfrouter) == ["stream-cut"]


def test_streamed_healthy_answer(hfrouter: HFRouter) -> None:
    assert "".join(app.stream())
    assert [(c.stream, c.status) for c in hfrouter.calls] == [(True, 200)]
