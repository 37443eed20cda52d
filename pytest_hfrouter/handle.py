"""The ``hfrouter`` fixture's object: the call log, outages on demand, chain assertions."""

from __future__ import annotations

import asyncio
import importlib
import math
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from ._clock import VIRTUAL_SLEEP
from .library import Library
from .markers import BLOCK_API, SERVER_BLOCK_API, MarkerError, parse_outage
from .resets import Reset, reset_client_caches
from .routes import HUB_LOOKUPS, INFERENCE_KINDS
from .traffic import Call, Exchange, Rule

if TYPE_CHECKING:
    from types import CodeType

    from .double import RouterDouble
    from .verdicts import Verdict

_ANYIO_ASYNCIO = "anyio._backends._asyncio"
#: Where the sleeps of app retries live: ``time.sleep`` (huggingface_hub, the openai SDK's sync
#: client, smolagents, tenacity's default), ``asyncio.sleep`` (tenacity's async retries, litellm)
#: and anyio's asyncio backend, under every ``anyio.sleep`` (the openai SDK's async retries),
#: whatever name a caller imported it by.
_SLEEPS: tuple[tuple[str, str, bool], ...] = (
    ("time", "sleep", False),
    ("asyncio", "sleep", True),
    (_ANYIO_ASYNCIO, "sleep", True),
)


class Clock:
    """The test's clock: the one the call log is stamped with (`Call.at`).

    ``now()`` is ``time.monotonic()`` plus the virtual seconds; ``slept`` is how many seconds
    the app slept inside ``hfrouter.virtual_time()`` without waiting.
    """

    def __init__(self, exchange: Exchange) -> None:
        self._exchange = exchange

    def now(self) -> float:
        return self._exchange.now()

    @property
    def slept(self) -> float:
        return self._exchange.virtual

    def __repr__(self) -> str:
        return f"<hfrouter clock: {self.slept:g} virtual seconds slept>"


class HFRouter:
    """What one test sees of the router: every call it made and what answered it.

    The ``hfrouter`` fixture makes it; a test uses it, never builds one. Public (you may rely
    on them): ``calls``, ``tried``, ``answered``, ``scenario``, ``outage(...)``, ``verdicts``,
    ``assert_resilient(...)``, ``clock``, ``virtual_time()``, ``call_log()``, ``assert_tried(...)``,
    ``assert_answered_by(...)``, ``assert_not_tried(...)``. Import it as
    ``from pytest_hfrouter import HFRouter``.
    """

    def __init__(
        self,
        exchange: Exchange,
        library: Library,
        scenario: str | None,
        *,
        chain: tuple[str, ...] = (),
        storm_limit: int = 3,
        test_code: frozenset[CodeType] | None = None,
        resets: tuple[Reset, ...] = (),
    ) -> None:
        self._exchange = exchange
        #: the user's caches of Hub answers (ini ``hfrouter_reset``), cleared with the built-in ones
        self._resets = resets
        self._library = library
        self._chain = chain
        self._storm_limit = storm_limit
        #: the test function's code, when verdicts are judged: a truncating outage() watches its frame
        self._test_code = test_code
        #: The scenario of this ``hfrouter_each_outage`` case (``None`` elsewhere).
        self.scenario = scenario

    @property
    def calls(self) -> list[Call]:
        """Every request of this test, in order (Hub look-ups included)."""
        return list(self._exchange.calls)

    @property
    def inference_calls(self) -> list[Call]:
        """The inference calls of ``calls`` (provider and auto routes): no Hub look-ups."""
        return [c for c in self._exchange.calls if c.route in INFERENCE_KINDS]

    @property
    def tried(self) -> list[str | None]:
        """The providers of the inference calls, in order."""
        return [c.provider for c in self.inference_calls]

    @property
    def answered(self) -> str | None:
        """The provider of the last inference call that succeeded (2xx, no fault)."""
        ok = [c for c in self.inference_calls if not c.failed]
        return ok[-1].provider if ok else None

    def outage(self, scenario: str, **options: Any) -> AbstractContextManager[None]:
        """The marker's outage for the duration of a ``with`` block; it takes precedence over markers.

        ``options``: the marker's keywords (``provider``, ``model``, ``times``, ``delay``, ``step``, ``retry_after``,
        ``status``, ``body``, ``headers``, ``optional``). A block whose outage answered no call fails the
        test after its body, as a marker does.
        """
        __tracebackhide__ = True
        return self._outage(scenario, options, BLOCK_API)

    def _outage(self, scenario: str, options: dict[str, Any], api: str) -> AbstractContextManager[None]:
        __tracebackhide__ = True
        try:  # checked at the call, so a mistake points at the test's line
            rule = parse_outage((scenario,), options, self._library, api=api)
        except MarkerError as exc:  # the message says what is wrong and how to fix it: no parser traceback
            raise exc.with_traceback(None) from None
        # until its block begins (`_checks._never_entered`); on the instance: the class holds the default
        self._exchange.unentered += (rule,)  # type: ignore[misc]
        return _Block(self, rule)

    @contextmanager
    def _outage_block(self, rule: Rule) -> Iterator[None]:
        watch: AbstractContextManager[None] = nullcontext()
        if self._test_code is not None:
            from ._checks import exceptions_reaching, meets_truncation

            if meets_truncation([rule]):
                watch = exceptions_reaching(self._exchange, self._test_code)
        exchange = self._exchange
        exchange.unentered = tuple(r for r in exchange.unentered if r is not rule)  # type: ignore[misc]
        # The client may have cached a healthy Hub answer earlier in this test: a rule that
        # answers Hub look-ups must be met by a fresh one (and leave none behind).
        hub = not HUB_LOOKUPS.isdisjoint(rule.scenario.answers)
        if hub:
            reset_client_caches(self._resets)
        exchange.rules.insert(0, rule)
        rule.since = len(exchange.calls)
        window = len(exchange.outage_windows)
        exchange.outage_windows.append((len(exchange.calls), None))
        discarded = False
        try:
            with watch:
                yield
        except BaseException as raised:
            # Hypothesis discards an example whose assume() failed: a block it left before the block's outage
            # answered anything is no outage of the test's (an audit: "never happened" for a test in which
            # every example it kept met its block)
            discarded = type(raised).__name__ == "UnsatisfiedAssumption" and not rule.hits
            raise
        finally:
            exchange.rules.remove(rule)
            if not discarded:
                exchange.ended_rules.append(rule)
            rule.until = len(exchange.calls)
            if hub:
                reset_client_caches(self._resets)
            exchange.outage_windows[window] = (exchange.outage_windows[window][0], len(exchange.calls))

    @property
    def verdicts(self) -> list[Verdict]:
        """Resilience verdicts on what the app sent so far (see the README's list)."""
        from .verdicts import verdicts_of

        return verdicts_of(self._exchange, passed=True, chain=self._chain, storm_limit=self._storm_limit)

    def assert_resilient(self, allow: Sequence[str] = (), chain: Sequence[str] | None = None) -> None:
        """Fail with the verdicts (and the call log) unless each is in ``allow``."""
        __tracebackhide__ = True
        from .markers import parse_resilient
        from .verdicts import verdicts_of

        try:  # the marker's own checks (an audit: a string chain was read a letter at a time, a typo taken as given)
            given = parse_resilient((), {"allow": tuple(allow) if isinstance(allow, list) else allow, "chain": chain})
        except MarkerError as exc:
            raise ValueError(f"assert_resilient(allow=(), chain=None): {exc.problem}") from None
        chain = self._chain if given.chain is None else given.chain
        found = verdicts_of(self._exchange, passed=True, chain=chain, storm_limit=self._storm_limit)
        found = [v for v in found if v.name not in given.allow]
        if found:
            self._fail("resilience verdicts:\n" + "\n".join(f"  {v.describe()}" for v in found))

    @property
    def clock(self) -> Clock:
        """The test's clock: ``clock.now()`` (the time base of ``Call.at``) and ``clock.slept``."""
        return Clock(self._exchange)

    def virtual_time(self) -> AbstractContextManager[Clock]:
        """Sleeps advance the test's clock instead of waiting: ``time.sleep``, ``asyncio.sleep``, ``anyio.sleep``.

        Verdicts such as retry-after-ignored and no-backoff then see the waits an app makes
        without the test spending them. The retries of the libraries apps use all wait through
        one of these (see `_SLEEPS`). ``with hfrouter.virtual_time() as clock:`` gives the
        test's `Clock` (``clock.slept``: the seconds slept so far). Called as a statement, it does
        nothing, and the test is told (an audit: its sleeps waited for real, in silence).
        """
        exchange = self._exchange
        exchange.clocks_unentered += 1  # type: ignore[misc]
        return self._virtual_time()  # its body, the count's decrement too, runs when the block begins

    @contextmanager
    def _virtual_time(self) -> Iterator[Clock]:
        exchange = self._exchange
        exchange.clocks_unentered -= 1  # type: ignore[misc]
        real_async_sleep, real_sleep = asyncio.sleep, time.sleep

        def sleep(seconds: float) -> None:
            # negative, NaN, infinite, not a number: what the real sleep raises (an audit: a backoff gone negative
            # passed here and would crash the app; a string gave a comparison's TypeError)
            if not isinstance(seconds, (int, float)) or not 0 <= seconds < math.inf:
                real_sleep(seconds)
            exchange.virtual += seconds

        setattr(sleep, VIRTUAL_SLEEP, True)  # the test's clock advances: no mock of time (`Exchange.sleep_patched`)

        async def async_sleep(seconds: float, result: Any = None) -> Any:
            exchange.virtual += max(0.0, seconds)
            return await real_async_sleep(0, result)

        with ExitStack() as stack:
            for module_name, attribute, asynchronous in _SLEEPS:
                if module_name == _ANYIO_ASYNCIO and "anyio" in sys.modules:
                    importlib.import_module(module_name)  # what anyio.sleep loads on its first call anyway
                if hasattr(sys.modules.get(module_name), attribute):
                    stack.enter_context(patch(f"{module_name}.{attribute}", async_sleep if asynchronous else sleep))
            yield Clock(exchange)

    def call_log(self) -> str:
        if not self._exchange.calls:
            return "  (no router or Hub calls)"
        return "\n".join(f"  {n}. {call.line()}" for n, call in enumerate(self._exchange.calls, 1))

    def _fail(self, message: str) -> None:
        __tracebackhide__ = True
        from .scrub import text

        raise AssertionError(text(f"{message}\ncall log:\n{self.call_log()}"))

    def assert_tried(self, *providers: str) -> None:
        """The inference calls went to exactly these providers, in this order."""
        __tracebackhide__ = True
        _check_providers("assert_tried", providers)
        if self.tried != list(providers):
            tried, hint = self.tried, ""
            once = list(dict.fromkeys(tried))
            if once == list(providers):  # the same chain, with retries
                hint = (
                    f" (the same providers in order once each, {once}, with retries: list each try, or compare "
                    "list(dict.fromkeys(hfrouter.tried)) for the chain alone)"
                )
            self._fail(f"expected the chain to try {list(providers)}, it tried {tried}{hint}")

    def assert_answered_by(self, provider: str) -> None:
        """The last successful inference call came from ``provider``."""
        __tracebackhide__ = True
        _check_providers("assert_answered_by", (provider,))
        if self.answered != provider:
            self._fail(f"expected {provider!r} to answer, the answer came from {self.answered!r}")

    def assert_not_tried(self, *providers: str) -> None:
        """None of these providers was called (a misspelt one would never be: it is an error)."""
        __tracebackhide__ = True
        if not providers:
            raise ValueError("assert_not_tried() needs the providers that must not have been tried")
        _check_providers("assert_not_tried", providers)
        called = [p for p in providers if p in self.tried]
        if called:
            self._fail(f"expected {called} not to be tried, the chain tried {self.tried}")


def _check_providers(method: str, providers: Sequence[str]) -> None:
    """A provider name the router does not know, given to an assertion: a ValueError with "did you mean"."""
    __tracebackhide__ = True
    from .providers import UnknownProvider, check_provider

    for provider in providers:
        if not isinstance(provider, str) or any(c in provider for c in "*?["):
            raise ValueError(f"hfrouter.{method}(...): a provider is a name, got {provider!r}")
        try:
            check_provider(provider)
        except UnknownProvider as exc:
            raise ValueError(f"hfrouter.{method}(...): {exc}") from None


class HFRouterServer:
    """The ``hfrouter_server`` fixture: a router double on loopback sharing this test's rules.

    Public (you may rely on them): ``base_url``, ``openai_base_url``, ``port``, ``calls``,
    ``outage(...)``, ``env()``, ``huggingface_hub()``. Import it as
    ``from pytest_hfrouter import HFRouterServer``.
    """

    def __init__(self, double: RouterDouble, router: HFRouter) -> None:
        self._double = double
        self._router = router
        #: the router base and the Hub endpoint at once (``HF_ENDPOINT``)
        self.base_url = double.base_url
        #: the OpenAI-compatible auto route's base, for the openai SDK's ``base_url``
        self.openai_base_url = double.base_url + "/v1"
        self.port = double.port
        self.lines: list[str] = double.lines

    def outage(self, scenario: str, **options: Any) -> AbstractContextManager[None]:
        """``hfrouter.outage(...)``: the test's rules are the double's (an error names this call)."""
        __tracebackhide__ = True
        return self._router._outage(scenario, options, SERVER_BLOCK_API)

    @property
    def calls(self) -> list[Call]:
        """The test's call log (the double's requests included, under their real router URLs)."""
        return self._router.calls

    def env(self) -> dict[str, str]:
        """Environment for an app in another process: ``HF_ENDPOINT`` (huggingface_hub's Hub
        look-ups), ``OPENAI_BASE_URL`` (the openai SDK's router calls) and ``HFROUTER_URL`` (for an
        app that reads its router base from the environment). huggingface_hub's ``InferenceClient``
        reads no variable for the router (``constants.INFERENCE_PROXY_TEMPLATE``): its provider calls
        reach the double only through ``base_url``."""
        return {"HF_ENDPOINT": self.base_url, "HFROUTER_URL": self.base_url, "OPENAI_BASE_URL": self.openai_base_url}

    def huggingface_hub(self) -> AbstractContextManager[None]:
        """Point this process's huggingface_hub at the double for a ``with`` block."""
        from .double import huggingface_hub_pointed_at

        return huggingface_hub_pointed_at(self.base_url)


class _Block:
    """What ``hfrouter.outage(...)`` returns: one outage per ``with`` it is entered by. Kept in a name and
    entered again (in a loop), it is the same outage afresh, its ``times`` counted again (an audit: the
    second ``with`` of a kept block met contextlib's "'_GeneratorContextManager' object has no attribute
    'args'")."""

    def __init__(self, router: HFRouter, rule: Rule) -> None:
        self._router, self._rule = router, rule
        self._entered = False
        self._open: AbstractContextManager[None] | None = None

    def __enter__(self) -> None:
        __tracebackhide__ = True
        if self._open is not None:
            raise RuntimeError(
                f"pytest-hfrouter: hfrouter.outage({self._rule.scenario.name!r}, ...) was entered again inside its "
                "own with block: its outage already applies there"
            )
        rule = self._rule.fresh() if self._entered else self._rule
        self._entered = True
        self._open = self._router._outage_block(rule)
        self._open.__enter__()

    def __exit__(self, *raised: Any) -> bool | None:
        block, self._open = self._open, None
        assert block is not None
        return block.__exit__(*raised)
