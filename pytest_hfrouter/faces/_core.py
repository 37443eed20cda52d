"""What every face shares once its library is patched: asking the engine, reporting live
answers, huggingface_hub's polling clock. The engine stack itself is in ``_patching``."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .. import _children, scrub, threads
from .._clock import REAL
from ..errors import UnansweredRequest
from ..faults import HANG, Plan, hang_message, plan
from ..traffic import StreamRead
from . import _patching
from ._patching import _engines, replace

if TYPE_CHECKING:
    from ..live import Observed
    from ..traffic import Answer, Request

NO_FAULT = Plan(0, None, False)
#: Headers that belong to the connection, not the request: rebuilt for a forwarded one.
HOP_HEADERS = frozenset({"host", "authorization", "content-length", "connection", "transfer-encoding"})

# huggingface_hub's provider helpers that poll a job sleep between polls (``time.sleep`` in
# black_forest_labs (0.x), fal_ai's queue, together's and wavespeed's videos, zai_org's images).
# In replay their ``time`` is this stand-in: a sleep advances the test's clock
# (``Exchange.virtual``, as ``hfrouter.virtual_time()`` does) instead of waiting, so a replayed
# job with its polls takes no real time; in the live modes it waits for real.
_POLLING_MODULES = tuple(
    f"huggingface_hub.inference._providers.{name}"
    for name in ("black_forest_labs", "fal_ai", "together", "wavespeed", "zai_org")
)


class _PollingClock:
    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        engine = _engines[-1] if _engines else None
        background = threads.is_background()
        # live modes, and a test the plugin does not act in (hfrouter_scope): the polls are real
        if engine is None or engine.live is not None or engine.idle(background):
            time.sleep(seconds)
        else:
            engine.waited(seconds, background)


def _virtualise_polling() -> None:
    """Once huggingface_hub's provider helpers are imported (by its first task call), swap their clock."""
    if "huggingface_hub.inference._providers" not in sys.modules:
        return
    clock = _PollingClock()
    for name in _POLLING_MODULES:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "time", None) is time:
            replace(module, "time", clock)  # type: ignore[arg-type]
    _patching.polling_virtual = True


def ask(request: Request, connect_timeout: Any, read_timeout: Any, deadline: Any = None) -> tuple[Answer, Plan]:
    """The engine's answer and how it plays out for a client with these timeouts (seconds, as
    the client holds them: a number or None; read only when a fault plays out); ``deadline``
    bounds the whole answer (aiohttp's ``total``), ``read_timeout`` each read."""
    if not _engines:  # uninstalled while a client still held a patched method
        raise UnansweredRequest(scrub.text(f"pytest-hfrouter is not active: {request.method} {request.url}"))
    if _children.STATE.forked:  # a process forked from a test's: its answers would reach no call log
        refused = _children.refused_here(request.url)
        if refused is not None:
            raise UnansweredRequest(scrub.text(refused))
    engine = _engines[-1]
    if not _patching.polling_virtual:
        _virtualise_polling()
    background = threads.is_background()
    exchange = engine.exchange
    if exchange is not None and len(exchange.calls) >= MAX_CALLS and not background:
        raise endless(request)
    answer = engine.answer(request, background)
    if answer.unanswered:
        raise UnansweredRequest(  # the app may log it, or it may stop collection: scrubbed as every output is
            scrub.text(
                f"pytest-hfrouter: no answer for {request.method} {request.url}: {answer.unanswered} "
                "(the test will fail)"
            )
        )
    if answer.passthrough or answer.fault is None:
        return answer, NO_FAULT
    outcome = plan(
        answer.fault, len(answer.chunks()), seconds(connect_timeout), seconds(read_timeout), seconds(deadline)
    )
    if outcome.outcome == HANG and answer.fault is not None:
        message = hang_message(answer.fault) + _deadline_hint()
        engine.would_hang(request, message, background)
        raise UnansweredRequest(scrub.text(f"pytest-hfrouter: {request.method} {request.url}: {message}"))
    if answer.fault is not None and outcome.outcome is None:
        engine.spared(answer, background)  # slow, but within the client's timeout: a success after all
    return answer, outcome


def _deadline_hint() -> str:
    """For a call made in an event loop: the app may bound it itself (``asyncio.timeout``, ``wait_for``,
    anyio's ``fail_after``), which replay cannot play, as a replayed answer comes at once (an audit: such an
    app was told to give its client a timeout it does not need)."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None or asyncio.events._get_running_loop() is None:
        return ""
    return (
        ". If the app bounds the call itself (asyncio.timeout, asyncio.wait_for, anyio.fail_after), replay cannot "
        "play that deadline: test it against the router double, where the stall is real "
        "(with hfrouter_server.huggingface_hub(): ...; README: The router double)"
    )


#: the calls one test may make: replayed answers come at once, so a retry loop without end would
#: spin for ever (an audit: an app that retried a failing provider in `while True` hung its test)
MAX_CALLS = 10_000


def endless(request: Request) -> BaseException:
    """The test's failure at its call past `MAX_CALLS` (a `pytest.fail` exception: an app's
    ``except Exception`` does not swallow it)."""
    from .._checks import pytest_fail

    return pytest_fail(
        f"pytest-hfrouter: the app made {MAX_CALLS:,} router and Hub calls in this test, and went on "
        f"({request.method} {request.url}): a retry loop with no end? Replayed answers come at once, so such a "
        "loop never stops by itself; against the router it would go on for as long as the outage lasts. Bound "
        "the app's retries (the retry-storm verdict names them)"
    )


def idle() -> bool:
    """Scope "marked" outside the tests the plugin acts in: hand the request on untouched."""
    if not _engines:
        return False
    engine = _engines[-1]
    return not engine.every_test and engine.idle(threads.is_background())


def vcr_below() -> bool:
    """A ``@pytest.mark.vcr`` test, in a face vcrpy patches below (requests': vcrpy stubs urllib3's
    connections): the request goes on to vcrpy's cassette (an audit: refused as "vcrpy did not answer")."""
    exchange = _engines[-1].exchange if _engines else None
    return exchange is not None and exchange.vcr


def recording() -> bool:
    """Only the live modes keep request headers (to record them): replay skips copying them."""
    return bool(_engines) and _engines[-1].live is not None


def records() -> bool:
    """A recording mode: a body the app stops reading is read to its end for the cassette."""
    return bool(_engines) and _engines[-1].records


def observe(request: Request, observed: Observed) -> None:
    if _engines:
        _engines[-1].observe(request, observed, threads.is_background())


def unfinished(finish: Callable[[], None]) -> None:
    """A forwarded stream that reports when the app is done with it: ``finish`` reports it at the
    test's end if the app never read its end nor closed it (`Engine.unfinished`)."""
    if _engines:
        _engines[-1].unfinished(finish, threads.is_background())


def observed(
    status: int | None,
    reason: str,
    headers: tuple[tuple[str, str], ...],
    body: bytes,
    seconds: float,
    error: str | None = None,
    read_to_end: bool = True,
) -> Observed:
    """What the real router answered a forwarded request (made here: a replay run never loads `live`)."""
    from ..live import Observed

    return Observed(status, reason, headers, body, seconds, error, read_to_end)


def failed(exc: BaseException, started: float) -> Observed:
    return observed(None, "", (), b"", REAL.perf_counter() - started, f"{type(exc).__name__}: {exc}")


def seconds(value: Any) -> float | None:
    return None if value is None else float(value)


def stream_read(answer: Answer) -> StreamRead | None:
    """For a streamed answer a scenario breaks: what a face marks ``reached`` once the app has read up
    to the fault, and calls ``left()`` on when the app closes it before (`traffic.StreamRead`); the
    test's check calls ``left()`` on the rest. None for any other answer."""
    if not answer.scenarios or not answer.is_stream or not _engines:
        return None
    engine = _engines[-1]
    exchange = engine._current(threads.is_background())
    read = StreamRead(functools.partial(engine.unread, exchange, answer))
    if exchange is engine.exchange:  # a test's (the session's own log is never checked)
        exchange.streams = (*exchange.streams, read)
    return read


def played(answer: Answer, outcome: Plan) -> list[bytes]:
    """The chunks that reach the app: all of them, or those before the fault."""
    chunks = answer.chunks()
    return chunks[: outcome.chunks] if outcome.outcome else chunks
