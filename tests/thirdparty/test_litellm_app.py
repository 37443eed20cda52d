"""litellm's ``huggingface/<provider>/<model>`` route under the shipped outages.

litellm fetches ``config.json`` from the Hub for every model name it meets (max tokens); those
fetches are answered by ``cassettes/litellm-hub-config.yaml``. Its async path (``acompletion``,
and ``completion(fallbacks=...)``, which runs it) goes through aiohttp.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("litellm")

import app_litellm as app

from pytest_hfrouter import resets

if TYPE_CHECKING:
    from pytest_hfrouter import HFRouter

pytestmark = [
    pytest.mark.hfrouter_cassette("litellm-hub-config.yaml"),
    # one cassette for every test here: each test requests only the names its chain meets
    pytest.mark.filterwarnings("ignore:.*litellm-hub-config.yaml. the test never requested"),
]


@pytest.fixture(autouse=True)
def logging_settled() -> Iterator[None]:
    """The test ends once litellm's logging thread has done the test's work (its config.json fetches).

    Work it does later is answered at session level (a background request): without a cassette
    there it would fail the session.
    """
    yield
    from litellm.litellm_core_utils.thread_pool_executor import executor

    assert executor._max_workers == 1, "LOGGING_EXECUTOR_MAX_THREADS=1 must be set before litellm is imported"
    executor.submit(lambda: None).result(timeout=30)


def novita(hfrouter: HFRouter) -> list[object]:
    return [c.fault or c.status for c in hfrouter.inference_calls if c.provider == "novita"]


def test_offline_setting_is_on() -> None:
    # Without it litellm fetches its price map from GitHub on import (the plugin fails the test).
    assert os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"


def test_healthy_answer_offline_with_a_fake_token(hfrouter: HFRouter) -> None:
    answer, provider = app.chat()
    assert provider == "novita" and answer
    assert [(c.route, c.status) for c in hfrouter.calls if c.route != "other"] == [("mapping", 200), ("provider", 200)]


@pytest.mark.parametrize(
    ("scenario", "novita_saw"), [("provider-500", 500), ("staging-auth", 401), ("read-timeout", "read-timeout")]
)
def test_outage_falls_back_to_together(hfrouter: HFRouter, scenario: str, novita_saw: object) -> None:
    with hfrouter.outage(scenario, provider="novita"):
        _, provider = app.chat(timeout=2.0)
    assert provider == "together"
    assert novita(hfrouter) == [novita_saw]
    hfrouter.assert_answered_by("together")


@pytest.mark.hfrouter_outage("rate-limited-429", provider="novita")
def test_429_litellm_retries_are_in_the_call_log(hfrouter: HFRouter) -> None:
    with hfrouter.virtual_time():
        _, provider = app.chat(num_retries=2)
    assert provider == "together"
    assert novita(hfrouter) == [429, 429, 429]  # num_retries=2: litellm's own retries


@pytest.mark.hfrouter_outage("stream-cut", provider="novita")
def test_stream_cut_reaches_the_app(hfrouter: HFRouter) -> None:
    import litellm

    with pytest.raises(litellm.exceptions.MidStreamFallbackError, match="peer closed connection"):
        app.stream()
    assert novita(hfrouter) == ["stream-cut"]


def test_streamed_healthy_answer(hfrouter: HFRouter) -> None:
    assert "".join(app.stream())
    assert [c.stream for c in hfrouter.inference_calls] == [True]


def test_acompletion_healthy(hfrouter: HFRouter) -> None:
    assert asyncio.run(app.achat())
    hfrouter.assert_answered_by("novita")


@pytest.mark.hfrouter_outage("provider-500", provider="novita")
def test_builtin_fallbacks_after_a_500(hfrouter: HFRouter) -> None:
    reply = app.chat_with_fallbacks()
    assert reply.choices[0].message.content
    hfrouter.assert_tried("novita", "together")


def test_the_mapping_cache_is_a_builtin_reset() -> None:
    """litellm's lru_cache of the Hub mapping is cleared before every test (see test_resets.py)."""
    from litellm.llms.huggingface import common_utils

    cached = common_utils.fetch_inference_provider_mapping
    assert any(str(r) == f"{cached.__module__}:{cached.__name__}" for r in resets.BUILTIN)
    assert hasattr(cached, "cache_clear")
