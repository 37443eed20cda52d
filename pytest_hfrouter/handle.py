"""The ``hfrouter`` fixture's object: the call log, outages on demand, chain assertions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from .engine import Call, Exchange
from .library import Library
from .markers import parse_outage

if TYPE_CHECKING:
    from .double import RouterDouble


class HFRouter:
    """What one test sees of the router: every call it made and what answered it."""

    def __init__(self, exchange: Exchange, library: Library, scenario: str | None) -> None:
        self._exchange = exchange
        self._library = library
        #: The scenario of this ``hfrouter_each_outage`` case (``None`` elsewhere).
        self.scenario = scenario

    @property
    def calls(self) -> list[Call]:
        """Every request of this test, in order (Hub look-ups included)."""
        return list(self._exchange.calls)

    @property
    def inference_calls(self) -> list[Call]:
        return [c for c in self._exchange.calls if c.route in ("provider", "auto")]

    @property
    def tried(self) -> list[str | None]:
        """The providers of the inference calls, in order."""
        return [c.provider for c in self.inference_calls]

    @property
    def answered(self) -> str | None:
        """The provider of the last inference call that succeeded (2xx, no fault)."""
        ok = [c for c in self.inference_calls if c.status is not None and 200 <= c.status < 300]
        return ok[-1].provider if ok else None

    @contextmanager
    def outage(
        self,
        scenario: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        times: int | None = None,
        delay: float | None = None,
    ) -> Iterator[None]:
        """The marker's outage for the duration of a ``with`` block; it takes precedence over markers."""
        __tracebackhide__ = True
        kwargs: dict[str, Any] = {"provider": provider, "model": model, "times": times, "delay": delay}
        rule = parse_outage((scenario,), kwargs, self._library)
        self._exchange.rules.insert(0, rule)
        try:
            yield
        finally:
            self._exchange.rules.remove(rule)

    def call_log(self) -> str:
        if not self._exchange.calls:
            return "  (no router or Hub calls)"
        return "\n".join(f"  {n}. {call.line()}" for n, call in enumerate(self._exchange.calls, 1))

    def _fail(self, message: str) -> None:
        __tracebackhide__ = True
        raise AssertionError(f"{message}\ncall log:\n{self.call_log()}")

    def assert_tried(self, *providers: str) -> None:
        """The inference calls went to exactly these providers, in this order."""
        __tracebackhide__ = True
        if self.tried != list(providers):
            self._fail(f"expected the chain to try {list(providers)}, it tried {self.tried}")

    def assert_answered_by(self, provider: str) -> None:
        """The last successful inference call came from ``provider``."""
        __tracebackhide__ = True
        if self.answered != provider:
            self._fail(f"expected {provider!r} to answer, the answer came from {self.answered!r}")

    def assert_not_tried(self, *providers: str) -> None:
        """None of these providers was called."""
        __tracebackhide__ = True
        called = [p for p in providers if p in self.tried]
        if called:
            self._fail(f"expected {called} not to be tried, the chain tried {self.tried}")


class HFRouterServer:
    """The ``hfrouter_server`` fixture: a router double on loopback sharing this test's rules."""

    def __init__(self, double: RouterDouble, router: HFRouter) -> None:
        self._double = double
        self._router = router
        #: the router base and the Hub endpoint at once (``HF_ENDPOINT``)
        self.base_url = double.base_url
        #: the OpenAI-compatible auto route's base, for the openai SDK's ``base_url``
        self.openai_base_url = double.base_url + "/v1"
        self.port = double.port
        self.outage = router.outage
        self.lines: list[str] = double.lines

    @property
    def calls(self) -> list[Call]:
        """The test's call log (the double's requests included, under their real router URLs)."""
        return self._router.calls

    def env(self) -> dict[str, str]:
        """Environment for an app in another process: ``HF_ENDPOINT`` and ``HFROUTER_URL``."""
        return {"HF_ENDPOINT": self.base_url, "HFROUTER_URL": self.base_url}

    def huggingface_hub(self) -> AbstractContextManager[None]:
        """Point this process's huggingface_hub at the double for a ``with`` block."""
        from .double import huggingface_hub_pointed_at

        return huggingface_hub_pointed_at(self.base_url)
