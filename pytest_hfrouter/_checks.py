"""What is checked about one test after its body ran: misses, verdicts, unplayed interactions."""

from __future__ import annotations

import contextlib
import datetime
import functools
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import CodeType, FrameType, TracebackType
from typing import Any

import pytest

from . import scrub
from ._clock import REAL
from ._names import REWRITE
from ._settings import Settings
from .cassettes import Cassette
from .errors import NOT_EXERCISED, HFRouterWarning
from .faces._patching import SAID
from .hygiene import expired, unplayed
from .markers import Resilience
from .mocks import let_through
from .providers import PROVIDERS, is_removed
from .routes import HUB_LOOKUPS, INFERENCE_KINDS
from .traffic import Exchange, Rule
from .unmatched import NOT_APPLICABLE, Finding, diagnose
from .verdicts import ACCOUNT_WIDE, Verdict, verdicts_of


@dataclass(eq=False)
class Findings:
    """What the checks of one test found: failures end the test, the rest is reported."""

    failures: list[str] = field(default_factory=list)
    #: failures that say the test exercised nothing it asked for (an xfail does not absorb them)
    unexercised: list[str] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    #: an ``hfrouter_each_outage`` case that could not apply to the test's calls: skip it, saying why
    skip: str | None = None
    #: what a failed test's report should show (an outage that never happened may be why it failed)
    notes: list[str] = field(default_factory=list)
    #: whether the test is marked xfail (asked only when it exercised nothing it asked for: then it fails)
    expects_failure: Callable[[], bool] = bool
    #: the command that re-records the test's cassette
    rerecord: Callable[[], str] = str
    #: `HFRouterWarning` messages, warned once every finding is made (`warn_all`): an error filter
    #: (``-W error``, ``filterwarnings = error``) that makes one fail the test pre-empts no finding
    warnings: list[str] = field(default_factory=list)
    #: the shared cassettes the test had (a module's or class's marker names them): (path, the node that names
    #: it, whether the test requested what it holds), judged for all its tests at the run's end
    shared: list[tuple[Path, str, bool]] = field(default_factory=list)

    def warn_all(self, location: tuple[str, int]) -> list[str]:
        """Warn each message at the test's line; those an error filter made errors, as failures."""
        promoted = []
        for message in self.warnings:
            try:
                warn_at(message, location)
            except pytest.fail.Exception as error:
                promoted.append(str(error))
        return promoted


def check_expiry(cassettes: list[Cassette], settings: Settings, rerecord: str) -> list[tuple[Path, float | str]]:
    """Expired recordings of a test, each with its age in days (or why it cannot be told); with
    ``hfrouter_on_expiry = fail`` the test fails at setup."""
    if settings.max_age is None:
        return []
    now = datetime.datetime.fromtimestamp(REAL.wall(), datetime.timezone.utc)
    old = [(c.path, days) for c in cassettes if (days := expired(c, settings.max_age, now)) is not None]
    if old and settings.on_expiry == "fail":
        names = "\n".join(f"  - {path} ({age_text(days)})" for path, days in old)
        raise pytest_fail(f"pytest-hfrouter: expired recordings (hfrouter_max_age):\n{names}\n  re-record: {rerecord}")
    return old


def age_text(days: float | str | None) -> str:
    """``12 days old``, or why a recording's age cannot be told."""
    return f"{days:.0f} days old" if isinstance(days, (int, float)) else f"age unknown: {days}"


def test_code(item: Any) -> frozenset[CodeType]:
    """The code of the test function itself (and of what it wraps, for a decorated one): what
    "the test's own code" is to `exceptions_reaching`. Not its file: an app written in the test's
    file is the app, and an exception it swallows never reached the test."""
    function = getattr(item, "obj", None)
    function = getattr(function, "__func__", function)  # a test method
    # a Hypothesis ``@given`` test: its body is the handle's ``inner_test`` (its wrapper has no ``__wrapped__``:
    # an audit, the test's own ``except`` went unseen)
    inner = getattr(getattr(function, "hypothesis", None), "inner_test", None)
    codes = set()
    for start in (function, inner):
        while start is not None:
            code = getattr(start, "__code__", None)
            if code is not None:
                codes.add(code)
            start = getattr(start, "__wrapped__", None)
    return frozenset(codes)


@functools.cache
def _raises_exit() -> CodeType:
    """The code of ``pytest.raises(...).__exit__`` (its class moved between pytest versions)."""
    return type(pytest.raises(Exception)).__exit__.__code__


@contextlib.contextmanager
def exceptions_reaching(exchange: Exchange, test: frozenset[CodeType]) -> Iterator[None]:
    """Note when an exception from the app reaches the test: its function's frame (``test``: its
    code), or a ``pytest.raises`` block anywhere (a helper of the test's may hold it).

    Only tests that meet a truncating scenario pay for this: it tells an app that raised after a cut
    stream — the test caught it — from one that showed half an answer. On Python 3.12 and newer it
    is watched with ``sys.monitoring``, on the test's code alone; before, with a trace function, and
    only where none is set: coverage.py's tracer or a debugger's, replaced, would lose what it records
    (an audit: a test's lines were missing from its coverage). Then the exchange is ``unwatched``.
    """
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is not None:
        with _monitored(monitoring, exchange, test):
            yield
        return
    current = sys.gettrace()
    if current is not None:  # ours already (an outage block in a test that meets one), or another's
        exchange.unwatched = exchange.unwatched or getattr(current, "__name__", "") != _TRACER  # type: ignore[misc]
        yield
        return
    raises_exit = _raises_exit()

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        if event == "exception":
            _reached(exchange, test, arg[2])
        return local

    def hfrouter_tracer(frame: FrameType, event: str, arg: object) -> Any:
        code = frame.f_code
        if code is raises_exit:  # the block ended with an exception (the one it expects, or not): the app's?
            _raised_into(exchange, test, frame.f_locals)
            return None
        return local if code in test else None

    sys.settrace(hfrouter_tracer)
    # Started inside the test (``hfrouter.outage()``): its frame already runs, trace it too.
    running: FrameType | None = sys._getframe()
    while running is not None:
        if running.f_code in test and running.f_trace is None:
            running.f_trace = local
        running = running.f_back
    try:
        yield
    finally:
        if sys.gettrace() is hfrouter_tracer:
            sys.settrace(None)
        else:  # another tool put its own in since (a debugger's breakpoint()): not all was seen
            exchange.unwatched = True  # type: ignore[misc]


_TRACER = "hfrouter_tracer"


def _raised_into(exchange: Exchange, test: frozenset[CodeType], exiting: dict[str, Any]) -> None:
    """``pytest.raises(...).__exit__`` (its locals): the exception that ended its block, if the app raised it
    (an audit: a block around the test's own ``1 / 0`` counted, and erased a truncated-stream-accepted)."""
    raised = exiting.get("exc_val")
    if isinstance(raised, BaseException):
        _reached(exchange, test, raised.__traceback__)


def _reached(exchange: Exchange, test: frozenset[CodeType], origin: TracebackType | None) -> None:
    """An exception is in the test's frame: raised by the app (its traceback ends outside the test's code)?"""
    if origin is None:  # thrown into a coroutine or generator of the test: no traceback
        return
    while origin.tb_next is not None:
        origin = origin.tb_next
    if origin.tb_frame.f_code not in test:  # raised by the app, not by the test itself
        exchange.caught_after = len(exchange.calls)


def _unwatched_why() -> str:
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is None:
        return (
            "another trace function was set (coverage.py's, a debugger's), which the plugin leaves in place on "
            "Python < 3.12, so it could not see whether the app's exception reached the test (Python 3.12 and newer "
            "judge it beside any such tool)"
        )
    held = ", ".join(f"{i}: {monitoring.get_tool(i) or 'free again now'}" for i in _TOOL_IDS)
    return (
        f"the sys.monitoring tool ids the plugin watches with were both taken by other tools ({held}), so it "
        "could not see whether the app's exception reached the test. Let one of them go while the test runs"
    )


#: the ``sys.monitoring`` tool ids no Python tool claims (0 debugger, 1 coverage, 2 profiler, 5 optimizer)
_TOOL_IDS = (3, 4)
_NAME = "pytest-hfrouter"


@contextlib.contextmanager
def _monitored(monitoring: Any, exchange: Exchange, test: frozenset[CodeType]) -> Iterator[None]:
    """`exceptions_reaching` with ``sys.monitoring``: an exception handled in the test's code, and
    ``pytest.raises``'s ``__exit__``, beside any trace function or other tool (coverage.py, a debugger)."""
    if _NAME in (monitoring.get_tool(i) for i in _TOOL_IDS):  # watched already: an outage block in such a test
        yield
        return
    tool = next((i for i in _TOOL_IDS if monitoring.get_tool(i) is None), None)
    if tool is None:
        exchange.unwatched = True  # type: ignore[misc]
        yield
        return
    events = monitoring.events
    raises_exit = _raises_exit()

    def handled(code: CodeType, offset: int, exception: BaseException) -> None:
        if code in test:  # an event of every frame (it cannot be set on one code): the test's only
            _reached(exchange, test, exception.__traceback__)

    def started(code: CodeType, offset: int) -> None:
        _raised_into(exchange, test, sys._getframe(1).f_locals)  # the block ended with an exception: the app's?

    monitoring.use_tool_id(tool, _NAME)
    try:
        monitoring.register_callback(tool, events.EXCEPTION_HANDLED, handled)
        monitoring.register_callback(tool, events.PY_START, started)
        monitoring.set_events(tool, events.EXCEPTION_HANDLED)
        monitoring.set_local_events(tool, raises_exit, events.PY_START)
        yield
    finally:
        monitoring.set_events(tool, 0)
        monitoring.set_local_events(tool, raises_exit, 0)
        monitoring.register_callback(tool, events.EXCEPTION_HANDLED, None)
        monitoring.register_callback(tool, events.PY_START, None)
        monitoring.free_tool_id(tool)


def meets_truncation(rules: list[Rule]) -> bool:
    return any(rule.scenario.truncates_stream for rule in rules)


def after_call(
    exchange: Exchange,
    settings: Settings,
    *,
    passed: bool,
    resilience: Resilience | None,
    each_rule: Rule | None,
    judged_alone: bool = False,
    expects_failure: Callable[[], bool] = bool,
    rerecord: Callable[[], str] = str,
) -> Findings:
    """What the test's traffic shows after its body (``judged_alone``: its own ``hfrouter_resilient``
    marker asks for verdicts, so a test whose app made no inference call judged nothing;
    ``expects_failure``: whether the test is marked xfail, asked only when an outage never happened;
    ``rerecord``: the command that re-records the test's cassette, asked only when one answered nothing)."""
    findings = Findings(expects_failure=expects_failure, rerecord=rerecord)
    if exchange.unentered:
        _never_entered(findings, exchange.unentered, passed=passed)
    if exchange.clocks_unentered:
        findings.warnings.append(
            "pytest-hfrouter: hfrouter.virtual_time() was called, but its block never began, so the app's sleeps "
            "waited for real: with hfrouter.virtual_time(): <the calls>"
        )
    _never_happened(findings, exchange, settings, passed=passed, each_rule=each_rule)
    if findings.skip is not None:
        return findings
    _removed_answered(findings, exchange)
    if exchange.cassettes and settings.mode != REWRITE:  # a rewrite replaces the cassette: what it held is no finding
        _cassettes_used(findings, exchange, settings, passed=passed)
    if (
        judged_alone
        and not any(call.route in INFERENCE_KINDS for call in exchange.calls)
        # an outage of the Hub's look-ups (hub-unavailable) stops the app before any inference call: that is
        # what it tests, not a call another mock answered (an audit)
        and not any(call.route in HUB_LOOKUPS and call.scenarios for call in exchange.calls)
    ):
        _unmatched(findings, _nothing_judged(exchange), settings, passed=passed)
    if not settings.judges(resilience is not None):
        return findings
    chain = resilience.chain if resilience is not None and resilience.chain is not None else settings.chain
    findings.verdicts = verdicts_of(exchange, passed=passed, chain=chain, storm_limit=settings.retry_storm)
    if exchange.unwatched and passed and any(call.truncates_stream and not call.unread for call in exchange.calls):
        findings.warnings.append(f"pytest-hfrouter: truncated-stream-accepted was not judged: {_unwatched_why()}")
    if resilience is not None and passed and not chain:
        _unjudged_chain(findings, exchange)
    allowed = resilience.allow if resilience is not None else ()
    blocking = [v for v in findings.verdicts if v.name not in allowed]
    if blocking and (resilience is not None or settings.verdicts == "fail"):
        described = "\n".join(f"  {v.describe()}" for v in blocking)
        names = ", ".join(repr(name) for name in dict.fromkeys(v.name for v in blocking))
        findings.failures.append(
            f"pytest-hfrouter: resilience verdicts:\n{described}\n  (a verdict that is wrong for this app: "
            f"@pytest.mark.hfrouter_resilient(allow=({names},)))"
        )
    return findings


def _removed_answered(findings: Findings, exchange: Exchange) -> None:
    """A call to a provider the router removed, answered with its healthy recording: said (an audit: an app
    that names ``:hyperbolic`` passed every test, and fails every call in production)."""
    removed = {
        call.provider: PROVIDERS[call.provider]
        for call in exchange.calls
        if call.provider is not None
        and call.answered_by == "healthy"
        and call.route in INFERENCE_KINDS
        and is_removed(call.provider)
    }
    for name, provider in removed.items():
        findings.warnings.append(
            f"pytest-hfrouter: the app called {name}, which the router stopped routing on {provider.removed_on} "
            f"({provider.source}). It got {name}'s healthy recording here; in production the call fails, with an "
            "answer that was never recorded. Move the app to a routed provider (a cassette answers an old recording)"
        )


def _unjudged_chain(findings: Findings, exchange: Exchange) -> None:
    """``hfrouter_resilient`` with no chain, on a test whose app ended on a failed call: the one verdict
    that could tell an app that gave up from one that had no provider left was not judged (an audit: an
    app that returned "" after its first provider failed passed, and nothing said why)."""
    inference = [call for call in exchange.calls if call.route in INFERENCE_KINDS]
    if not inference or not inference[-1].failed:
        return
    last = inference[-1]
    if last.fault is None and last.status in ACCOUNT_WIDE:
        return  # stopping there is right whatever the chain
    if last.stream and last.status == 200:
        return  # a stream that broke after it began: stopping is right whatever the chain (`verdicts._gave_up_early`)
    findings.warnings.append(
        f"pytest-hfrouter: the app's last router call failed ({last.fault or last.status} from {last.provider}) and "
        "the test passed, but no fallback chain is set, so gave-up-early (did the app stop while providers were "
        "left?) was not judged. Name the chain: @pytest.mark.hfrouter_resilient(chain=[...]) or ini hfrouter_chain"
    )


def _nothing_judged(exchange: Exchange) -> str:
    """``hfrouter_resilient`` on a test whose app made no inference call the plugin saw."""
    seen = f"only {len(exchange.calls)} other request(s)" if exchange.calls else "no request at all"
    elsewhere = _answered_elsewhere(exchange)
    return (
        "pytest-hfrouter: @pytest.mark.hfrouter_resilient judges how the app treats the router, and this test made "
        f"no inference call that pytest-hfrouter saw ({seen}), so nothing was judged. Did the app run through a "
        f"client the plugin intercepts ({SAID}), or did another mock library (respx, pytest-httpx, "
        "responses, requests-mock, aioresponses) or a patched client answer its calls first? (A test that makes no "
        "router call needs no such marker.)"
    ) + (f"\n{elsewhere}" if elsewhere else "")


def _never_entered(findings: Findings, rules: tuple[Rule, ...], *, passed: bool) -> None:
    """``hfrouter.outage(...)`` called as a statement: its outage applies inside its ``with`` block
    only, so none ever happened. Not a matter of ``hfrouter_on_unmatched``: the test is wrong."""
    listed = "\n".join(f"  - {rule.describe()}" for rule in rules)
    message = (
        "pytest-hfrouter: hfrouter.outage(...) was called, but its block never began, so its outage never "
        f"happened:\n{listed}\n  It applies only inside a with block: with hfrouter.outage(...): <the calls>"
    )
    (findings.unexercised if passed or findings.expects_failure() else findings.notes).append(message)


def _never_happened(
    findings: Findings,
    exchange: Exchange,
    settings: Settings,
    *,
    passed: bool,
    each_rule: Rule | None,
) -> None:
    """Rules that answered no call: a matrix case that could not apply is skipped; the rest are findings."""
    unmatched: list[Finding] = []
    for rule in (*exchange.rules, *exchange.ended_rules):
        if rule is not each_rule and (rule.optional or settings.on_unmatched == "ignore"):
            continue
        finding = diagnose(rule, exchange.calls, exchange.shared_setup)
        if finding is None:
            continue
        if rule is each_rule and finding.kind == NOT_APPLICABLE:
            outcome = "" if passed else " (the body failed too, on answers with no outage in them)"
            findings.skip = f"hfrouter_each_outage case {rule.scenario.name} cannot apply: {finding.reason}{outcome}"
            return
        if settings.on_unmatched != "ignore":
            unmatched.append(finding)
    if not unmatched:
        return
    listed = "\n".join(f"  - {finding.message()}" for finding in unmatched)
    message = (
        f"pytest-hfrouter: an outage this test asks for never happened, so the test did not exercise it:\n{listed}\n"
        f"{_answered_elsewhere(exchange)}"
        "  (a rule that may rightly not happen: optional=True; for the whole run: ini hfrouter_on_unmatched = "
        "warn or ignore)"
    )
    _unmatched(findings, message, settings, passed=passed)


def _answered_elsewhere(exchange: Exchange) -> str:
    """Where the test's calls may have gone instead: other threads' calls answered at session level,
    another mock library that answered first. Closes every finding of calls the plugin did not see."""
    return _beside(exchange) + (let_through(exchange.mocks) if exchange.mocks else "")


def _beside(exchange: Exchange) -> str:
    """The calls other tests' threads made while this one ran: answered at session level, they
    never meet its outages, and may be the calls the test meant."""
    if not exchange.beside:
        return ""
    owners = ", ".join(dict.fromkeys(owner or "no test (started before any test)" for owner in exchange.beside))
    return (
        f"  Meanwhile {len(exchange.beside)} call(s) came from threads this test did not start, started by: "
        f"{owners}. They were answered at session level, not as this test's (a thread works for the test that "
        "started it, in its body or a function-scoped fixture): to have a thread serve every test that uses it, "
        "start it in a fixture of wider scope (scope='module' or 'session').\n"
    )


#: the unplayed interactions a finding lists (a cassette of thousands, named by each of many tests, printed them
#: all for each test: an audit measured 29 MB of warnings and 18 ms a test)
UNPLAYED_SHOWN = 10


def _cassettes_used(findings: Findings, exchange: Exchange, settings: Settings, *, passed: bool) -> None:
    """How much of its cassettes the test requested: none of one is a finding (`_idle_cassettes`),
    part of one names the rest (ini ``hfrouter_on_unplayed``); a module's or class's cassette is
    shared, each of its tests requesting its part, so what one test left is no finding of its."""
    idle = _idle_cassettes(findings, exchange, settings, passed=passed)
    if settings.on_unplayed == "ignore":
        return
    shared = exchange.shared_cassettes
    for cassette in exchange.cassettes:
        if cassette in idle or cassette.path in shared:  # said already; a shared one is the module's or class's
            continue
        left, count = unplayed(cassette, exchange.requested, UNPLAYED_SHOWN)
        if not count:
            continue
        more = f"\n  ... and {count - len(left)} more" if count > len(left) else ""
        message = scrub.text(  # the cassette's own URIs: a hand-written one may hold a key
            f"{cassette.path}: the test never requested {count} of its interactions:\n"
            + "\n".join(f"  {line}" for line in left)
            + more
        )
        if settings.on_unplayed == "fail" and passed:
            findings.failures.append(f"pytest-hfrouter: {message}")
        else:  # a failing test's report shows it too: it may be why the test failed
            findings.warnings.append(message)


def _idle_cassettes(findings: Findings, exchange: Exchange, settings: Settings, *, passed: bool) -> list[Cassette]:
    """Replay: the test's own cassettes it requested none of. Their answers never reached the app,
    so the test exercised none of what it replays: judged like a rule that never happened. (A
    cassette a module's or class's marker names is shared: each of its tests requests a part.)"""
    if settings.live is not None or settings.on_unmatched == "ignore":
        return []  # live and record modes answer from the router; rewriting a cassette replaces it
    requested, shared = exchange.requested, exchange.shared_cassettes
    calls = any(call.route not in HUB_LOOKUPS for call in exchange.calls)
    idle = [c for c in exchange.cassettes if c.path not in shared and not _exercised(c, requested, calls)]  # empty too
    findings.shared = [
        (c.path, shared[c.path], _exercised(c, requested, calls)) for c in exchange.cassettes if c.path in shared
    ]
    if not idle:
        return idle
    made = _calls_made(exchange)
    listed = "\n".join(
        f"  - {c.path}: it holds {_held(c)}; "
        + ("it answered only the Hub look-ups; " if any(requested.get(key) for key in c.index) else "")
        + f"the test called: {made}"
        for c in idle
    )
    message = scrub.text(  # the cassette's own URIs: a hand-written one may hold a key
        "pytest-hfrouter: a cassette this test replays answered none of its calls, so the test did not exercise "
        f"it:\n{listed}\n  (recorded for other calls: re-record it, or drop it from the test; for the whole run: "
        "ini hfrouter_on_unmatched = warn or ignore)"
        + (f"\n  re-record: {command}" if (command := findings.rerecord()) else "")
    )
    _unmatched(findings, message, settings, passed=passed)
    return idle


def _exercised(cassette: Cassette, requested: dict[tuple[str, ...], int], calls: bool) -> bool:
    """Whether the test requested what the cassette is for. In a test that made calls (``calls``: other
    than Hub look-ups), one of the cassette's calls, where it holds any: the look-ups a client makes
    before its call do not count (an audit: a hand-edited cassette answered the mapping look-up, the
    healthy library answered the call the cassette was recorded for, and the test went green on the
    library's text). In a test of look-ups alone, or with a cassette of look-ups alone, a look-up."""
    keys = cassette.index.keys()
    if calls:
        keys = [key for key in keys if key[1] not in HUB_LOOKUPS] or keys  # type: ignore[assignment]
    return any(requested.get(key) for key in keys)


def _calls_made(exchange: Exchange, shown: int = 3) -> str:
    """The test's calls other than Hub look-ups, by URL and what it means (a route's shape and its task
    are part of what a cassette matches on)."""
    lines = list(
        dict.fromkeys(
            f"{call.method} {call.url} [{call.route}: {call.provider or '-'} {call.model or '-'}"
            f"{', stream' if call.stream else ''}]"
            for call in exchange.calls
            if call.route not in HUB_LOOKUPS
        )
    )
    if not lines:
        return "(no call but Hub look-ups)" if exchange.calls else "(no call at all)"
    return ", ".join(lines[:shown]) + (f" and {len(lines) - shown} more" if len(lines) > shown else "")


def _held(cassette: Cassette, shown: int = 3) -> str:
    """Each interaction, in order, with what its call means as `_calls_made` says a call's (an audit: a cassette
    recorded unstreamed, or for another model, read the same as the test's call, and the user could not tell)."""
    if not cassette.interactions:
        return "no interactions at all"
    held = []
    for number, one in enumerate(cassette.interactions[:shown]):
        route = one.route
        meaning = (
            ""
            if route.kind in HUB_LOOKUPS or route.kind == "other"
            else f" [{route.kind}: {route.provider or '-'} {route.model or '-'}{', stream' if route.stream else ''}]"
        )
        held.append(f"interactions[{number}] {one.method} {one.uri}{meaning}")
    more = len(cassette.interactions) - len(held)
    return ", ".join(held) + (f" and {more} more" if more > 0 else "")


def _unmatched(findings: Findings, message: str, settings: Settings, *, passed: bool) -> None:
    """What never happened, as ini ``hfrouter_on_unmatched`` says: a failure, or a warning; on a
    test that failed on its own, a note in its report (it may be why it failed) — unless the test
    expects to fail (xfail): then its failure may be any but the one it pins, and this one fails it."""
    fails = settings.on_unmatched == "fail"
    if fails and findings.expects_failure():
        findings.unexercised.append(message)
    elif not passed:
        findings.notes.append(message)
    elif fails:
        findings.unexercised.append(message)
    else:
        findings.warnings.append(message)


def warn_at(message: str, location: tuple[str, int]) -> None:
    """An `HFRouterWarning` at the test's own line (``location``: its file and 1-based line). Under
    ``-W error::pytest_hfrouter.HFRouterWarning`` the test fails with the message alone (an audit: a
    traceback through the plugin's own code read as a crash of the plugin)."""
    try:
        warnings.warn_explicit(scrub.text(message), HFRouterWarning, location[0], location[1])
    except HFRouterWarning as error:
        raise pytest_fail(f"{error} (an HFRouterWarning, made an error by -W or filterwarnings)") from None


def pytest_fail(message: str) -> BaseException:
    failure = pytest.fail.Exception(scrub.text(message), pytrace=False)
    failure.__suppress_context__ = True
    return failure


def not_exercised(message: str, passed: bool, caught: BaseException | None = None) -> BaseException:
    """The failure of a test that exercised nothing it asked for (`errors.NOT_EXERCISED`: an xfail does
    not absorb it); raised in place of the body's own exception (``caught``: one unittest caught), whose
    first line it keeps."""
    if not passed:
        error = caught if caught is not None else sys.exc_info()[1]
        if caught is not None and isinstance(caught, pytest.xfail.Exception):  # unittest.expectedFailure: no more kept
            message += "\n(the test body failed, as its unittest.expectedFailure expects)"
            error = None
        if error is not None:
            said = str(error).strip().splitlines()
            if isinstance(error, pytest.xfail.Exception):
                message += f"\n(the test body called pytest.xfail{'(' + repr(said[0]) + ')' if said else '()'})"
            else:
                message += f"\n(the test body failed too: {type(error).__name__}{': ' + said[0] if said else ''})"
    failure = pytest_fail(message)
    setattr(failure, NOT_EXERCISED, True)
    return failure
