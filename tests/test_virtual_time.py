"""``hfrouter.virtual_time()``: every sleep app retries use advances the test's clock instead of waiting."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_hfrouter import HFRouter

anyio = pytest.importorskip("anyio")


def test_time_asyncio_and_anyio_sleeps_do_not_wait(hfrouter: HFRouter) -> None:
    from anyio import sleep as sleep_bound_at_import  # a name bound before the block, like many libraries

    async def retries() -> None:
        await anyio.sleep(20)  # the openai SDK's async retries
        await sleep_bound_at_import(20)
        await asyncio.sleep(20)  # tenacity's async retries, litellm

    started = time.perf_counter()
    with hfrouter.virtual_time():
        time.sleep(20)  # huggingface_hub, the openai SDK's sync retries, smolagents, tenacity
        anyio.run(retries)
        asyncio.run(retries())
    assert time.perf_counter() - started < 5
    assert hfrouter._exchange.virtual == pytest.approx(20 + 2 * 60)


def test_sleeps_wait_again_after_the_block(hfrouter: HFRouter) -> None:
    with hfrouter.virtual_time():
        pass
    started = time.perf_counter()
    anyio.run(anyio.sleep, 0.05)
    assert time.perf_counter() - started >= 0.05
    assert hfrouter._exchange.virtual == 0
