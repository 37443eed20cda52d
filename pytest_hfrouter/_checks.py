"""What is checked about one test after its body ran: misses, verdicts, unplayed interactions."""

from __future__ import annotations

import contextlib
import datetime
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from . import scrub
from ._settings import Settings
from .cassettes import Cassette
from .errors import HFRouterWarning
from .hygiene import expired, unplayed
from .markers import Resilience
from .traffic import Exchange, Rule
from .verdicts import TRUNCATING_SCENARIOS, Verdict, verdicts_of


@dataclass
class Findings:
    """What the checks of one test found: failures end the test, the rest is reported."""

    failures: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    #: the `hfrouter_each_outage` case cannot happen to this test's calls: it is reported skipped
    skip: str | None = None


def check_expiry(cassettes: list[Cassette], settings: Settings, rerecord: str) -> list[tuple[Path, float]]:
    """Expired recordings of a test; with ``hfrouter_on_expiry = fail`` the test fails at setup."""
    if settings.max_age is None:
        return []
    now = datetime.datetime.now(datetime.timezone.utc)
    old = [(c.path, days) for c in cassettes if (days := expired(c, settings.max_age, now)) is not None]
    if old and settings.on_expiry == "fail":
        names = "\n".join(f"  - {path} ({days:.0f} days old)" for path, days in old)
        raise pytest_fail(f"pytest-hfrouter: expired recordings (hfrouter_max_age):\n{names}\n  re-record: {rerecord}")
    return old


@contextlib.contextmanager
def exceptions_reaching(exchange: Exchange, test_file: str) -> Iterator[None]:
    """Note when an exception reaches the test's own code (its file's frames).

    Only tests that meet a truncating scenario pay for this (a trace function): it tells an app
    that raised after a cut stream — the test caught it — from one that showed half an answer.
    """
    previous = sys.gettrace()

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "exception":
            origin = arg[2]
            if origin is None:  # thrown into a coroutine or generator of the test: no traceback
                return local
            while origin.tb_next is not None:
                origin = origin.tb_next
            if origin.tb_frame.f_code.co_filename != test_file:  # raised by the app, not by the test
                exchange.caught_after = len(exchange.calls)
        return local

    def tracer(frame: FrameType, event: str, arg: object) -> Any:
        return local if frame.f_code.co_filename == test_file else None

    sys.settrace(tracer)
    # Started inside the test (``hfrouter.outage()``): its frames already run, trace them too.
    running: FrameType | None = sys._getframe()
    while running is not None:
        if running.f_code.co_filename == test_file and running.f_trace is None:
            running.f_trace = local
        running = running.f_back
    try:
        yield
    finally:
        sys.settrace(previous)


def meets_truncation(rules: list[Rule]) -> bool:
    return any(rule.scenario.name in TRUNCATING_SCENARIOS for rule in rules)


def after_call(
    exchange: Exchange,
    settings: Settings,
    *,
    passed: bool,
    resilience: Resilience | None,
    each_rule: Rule | None,
    location: tuple[str, int],
) -> Findings:
    findings = Findings()
    if each_rule is not None and each_rule.used == 0 and passed:  # it passed without meeting its outage
        # A scenario none of whose routes (or stream mode) this test's calls took — a streamed-only
        # one over a non-chat task, an auto-route one over provider calls — cannot happen to it:
        # the case is reported skipped, saying why, instead of passing unexercised.
        findings.skip = _cannot_happen(each_rule, exchange)
        if findings.skip is None:
            warnings.warn_explicit(_unexercised(each_rule), HFRouterWarning, location[0], location[1])
    if passed and settings.on_unplayed != "ignore":
        for cassette in exchange.cassettes:
            left = unplayed(cassette, exchange.requested)
            if not left:
                continue
            message = scrub.text(  # the cassette's own URIs: a hand-written one may hold a key
                f"{cassette.path}: the test never requested {len(left)} of its interactions:\n"
                + "\n".join(f"  {line}" for line in left)
            )
            if settings.on_unplayed == "fail":
                findings.failures.append(f"pytest-hfrouter: {message}")
            else:
                warnings.warn_explicit(message, HFRouterWarning, location[0], location[1])
    if resilience is None and settings.verdicts == "off":
        return findings
    chain = resilience.chain if resilience is not None and resilience.chain is not None else settings.chain
    findings.verdicts = verdicts_of(exchange, passed=passed, chain=chain, storm_limit=settings.retry_storm)
    allowed = resilience.allow if resilience is not None else ()
    blocking = [v for v in findings.verdicts if v.name not in allowed]
    if blocking and (resilience is not None or settings.verdicts == "fail"):
        described = "\n".join(f"  {v.describe()}" for v in blocking)
        findings.failures.append(f"pytest-hfrouter: resilience verdicts:\n{described}")
    return findings


def _cannot_happen(rule: Rule, exchange: Exchange) -> str | None:
    scenario = rule.scenario
    if not exchange.calls:
        return None
    kinds = set(scenario.routes) | ({"poll", "download"} if "provider" in scenario.routes else set())
    for call in exchange.calls:
        if call.route in kinds and (scenario.stream in (None, call.stream) or call.route == "mapping"):
            return None
    only = "" if scenario.stream is None else "streamed " if scenario.stream else "plain "
    taken = ", ".join(sorted({f"{'streamed ' if c.stream else ''}{c.route}" for c in exchange.calls}))
    return (
        f"{rule.describe()} can only happen to {only}calls on {'/'.join(scenario.routes)} routes, and this "
        f"test made none (its calls: {taken})"
    )


def _unexercised(rule: Rule) -> str:
    scenario = rule.scenario
    only = "" if scenario.stream is None else ", streamed requests only" if scenario.stream else ", plain requests only"
    return (
        f"{rule.describe()} answered no call of this test, so this case passed without exercising it "
        f"(it answers {'/'.join(scenario.routes)} routes{only})"
    )


def pytest_fail(message: str) -> BaseException:
    import pytest

    failure = pytest.fail.Exception(scrub.text(message), pytrace=False)
    failure.__suppress_context__ = True
    return failure
