"""A test's traffic as the engine sees it: requests, answers, outage rules, the call log.

Plain records, shared by the engine (which fills them), the faces (which play answers), the
fixture (which reads the call log) and the verdicts (which judge it).
"""

from __future__ import annotations

import fnmatch
import functools
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal, NamedTuple

from . import scrub
from ._clock import REAL, VIRTUAL_SLEEP
from .bodies import Message
from .cassettes import Cassette, split_chunks
from .faults import Fault, FaultType, body_chunks
from .library import Scenario
from .overrides import Overrides
from .routes import AUTO, Route, RouteKind
from .tasks import Step

if TYPE_CHECKING:
    from pathlib import Path

    from .chaos import TestChaos
    from .live import Drift, LiveCall, Observed

_GLOB_CHARS = frozenset("*?[")


class Request(NamedTuple):  # made for every request: a named tuple is the cheapest record to make
    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None


@dataclass(frozen=True)
class Answer(Message):
    """What the engine decided. ``passthrough`` means: let the real request go."""

    status: int = 200
    reason: str = "OK"
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    source: str = ""
    fault: Fault | None = None
    #: why nothing may answer (the face raises `UnansweredRequest` and the test fails)
    unanswered: str | None = None
    passthrough: bool = False
    #: live modes: send the request here instead, with this Authorization, and `observe` the answer
    target_url: str | None = None
    authorization: str | None = None
    #: the position of its call in the test's call log (for `Engine.spared`)
    call: int = -1
    #: the scenarios that shaped it (several: mapping overlays stack); empty for other answers
    scenarios: tuple[str, ...] = ()
    #: its scenario declares a truncated stream (``truncates_stream: true`` in its data)
    truncates_stream: bool = False

    @functools.cached_property
    def retry_after(self) -> float | None:
        return retry_after(self.headers)

    @functools.cached_property
    def wire_headers(self) -> tuple[tuple[str, str], ...]:
        """The headers as sent: with the Content-Length of a whole body."""
        return self.headers if self.is_stream else (*self.headers, ("Content-Length", str(len(self.body))))

    @functools.cached_property
    def _chunks(self) -> tuple[bytes, ...]:
        halves = body_chunks(self.body, self.fault)
        return tuple(halves if halves is not None else split_chunks(self.body, self.headers))

    def chunks(self) -> list[bytes]:
        """The body as the network would deliver it: one SSE event per chunk for streams."""
        return list(self._chunks)

    def for_call(self, position: int) -> Answer:
        """This answer as the answer to call ``position`` of the log (`Engine.spared` finds it).

        A copy that shares what is worked out from the body (its chunks, its headers as sent: every
        face reads them), none of which depends on ``call``: a tenth of `dataclasses.replace`'s
        cost, on the path of every faulted request, and the chunks are split once per answer.
        """
        self._chunks, self.wire_headers  # noqa: B018 - worked out once, on the answer the engine keeps
        copied = object.__new__(Answer)
        copied.__dict__.update(self.__dict__)
        copied.__dict__["call"] = position
        return copied


PASSTHROUGH = Answer(passthrough=True, source="passthrough")


def _glob(pattern: str, value: str | None) -> bool:
    """Case-insensitive glob match (a plain name compares as a string)."""
    return value is not None and _matcher(pattern)(value.lower())


@functools.lru_cache(maxsize=1024)
def _matcher(pattern: str) -> Callable[[str], bool]:
    lowered = pattern.lower()
    if not _GLOB_CHARS & set(lowered):
        return lowered.__eq__
    match = re.compile(fnmatch.translate(lowered)).match
    return lambda value: match(value) is not None


@dataclass(eq=False)  # a rule counts its uses: it equals only itself (an outage block removes its own)
class Rule:
    """One outage: traffic matching provider and model gets the scenario, ``times`` times."""

    scenario: Scenario
    provider: str | None = None
    model: str | None = None
    times: int | None = None
    #: overrides the scenario's ``fault.delay`` (slow-first-token, slow-stream)
    delay: float | None = None
    #: only this step of a task's exchange (``submit``, ``poll``, ``download``); None: every step
    step: Step | None = None
    #: scenario parameters (retry_after=, status=, body=, headers=)
    overrides: Overrides | None = None
    #: True: answering no call of the test is no finding (``optional=True``)
    optional: bool = False
    #: how the user wrote it: "marker", "block" (``hfrouter.outage()``), "each" (a matrix case) or "serve"
    api: str = "marker"
    #: the scenario's name as the user wrote it, where that was an alias (``novita-500``); else None
    written: str | None = None
    #: matching calls answered (counts toward ``times``)
    used: int = 0
    #: answers this rule gave or shaped, mapping overlays included (0 after the body: it never happened)
    hits: int = 0
    #: the calls it applied to, by their place in the test's log: from ``since`` (a block's start, or the
    #: body's for a marker a fixture added) to ``until`` (a block's end; None: the test's)
    since: int = 0
    until: int | None = None

    @property
    def fault(self) -> Fault | None:
        return self.scenario.fault.with_delay(self.delay) if self.scenario.fault else None

    def fresh(self) -> Rule:
        """This rule unused (a marker's rule for the next test): a copy with its counts at 0
        (`dataclasses.replace` re-runs ``__init__``; one dict copy is a fifth of that)."""
        copied = object.__new__(Rule)
        copied.__dict__.update(self.__dict__, used=0, hits=0, since=0, until=None)
        return copied

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.used >= self.times

    def matches_model(self, route: Route, hf_model: str | None) -> bool:
        if self.model is None:
            return True
        if ":" in self.model:  # a model:provider (or :policy) target on the auto route
            return route.kind == AUTO and _glob(self.model, route.requested)
        return _glob(self.model, hf_model) or _glob(self.model, route.model)

    @property
    def literal_provider(self) -> str | None:
        """The provider this rule names outright (None for a glob or no provider)."""
        return self.provider if self.provider and not _GLOB_CHARS & set(self.provider) else None

    def matches_provider(self, provider: str | None) -> bool:
        if not self.scenario.applies_to(provider):
            return False
        return self.provider is None or _glob(self.provider, provider)

    def matches_step(self, step: Step | None) -> bool:
        return self.step is None or self.step == step

    def flags_unavailable(self, provider: str, route: Route) -> bool:
        """This rule flags ``provider`` unavailable for the router's own pick on the auto route."""
        return (
            not self.exhausted
            and self.scenario.flags_unavailable
            and self.matches_provider(provider)
            and self.matches_model(route, route.model)
        )

    def describe(self) -> str:
        """The rule as the user wrote it: the marker, the ``hfrouter.outage()`` block, the matrix case."""
        parts = [repr(self.written or self.scenario.name)]
        parts += [f"{k}={v!r}" for k, v in (("provider", self.provider), ("model", self.model)) if v]
        if self.times is not None:
            parts.append(f"times={self.times} (used {self.used})")
        if self.delay is not None:
            parts.append(f"delay={self.delay}")
        if self.step is not None:
            parts.append(f"step={self.step!r}")
        if self.overrides is not None:
            parts.append(self.overrides.describe())
        if self.optional:
            parts.append("optional=True")
        head = {"block": "hfrouter.outage", "each": "hfrouter_each_outage case", "serve": "hfrouter_outage"}
        return f"{head.get(self.api, '@pytest.mark.hfrouter_outage')}({', '.join(parts)})"


#: a call's ``fault``: a scenario's fault that struck, ``unanswered`` (a miss), ``error`` (a live
#: call's transport error)
CallFault = FaultType | Literal["unanswered", "error"]


@dataclass(frozen=True, init=False)
class Call:
    """One request the app made, as the call log shows it (``from pytest_hfrouter import Call``).

    Frozen. You may rely on the fields below, ``scenario``, ``failed`` and ``line()``; the plugin makes them.
    """

    provider: str | None
    model: str | None
    #: the route kind, or for a task's follow-up the step (``poll``, ``download``)
    route: RouteKind | Step
    method: str
    url: str
    status: int | None
    fault: CallFault | None
    #: who answered, as reports show it: ``healthy``, ``scenario:NAME``, ``cassette:FILE``, ``live``…
    answered_by: str
    stream: bool
    #: when it was made, on the test's clock (monotonic seconds plus any virtual time: `Exchange.now`)
    at: float
    #: the wait the answer asked for (``Retry-After``, or the ``t=`` of HF's ``ratelimit``)
    retry_after: float | None = None
    #: the auto route's raw ``model`` (``Qwen/X:novita``), for ``model:provider`` rules
    requested: str | None = None
    #: the scenarios that answered it (several: mapping overlays stack); empty for other answers
    scenarios: tuple[str, ...] = ()
    #: its scenario declares a truncated stream (``truncates_stream: true`` in the scenario's data)
    truncates_stream: bool = False
    #: a Hub look-up's: the provider whose call the client was making when it looked up (read from
    #: its call on the stack, as its task is), for the outage coverage; None where it is not known
    looked_up_for: str | None = None

    #: a slow-* scenario's answer that came within the client's timeout (a success)
    spared: bool = False
    #: a streamed answer the app closed before its scenario's fault (a title that reads two words): the
    #: outage never reached the app
    unread: bool = False
    #: the request's body as sent: verdicts tell a retry of one question from another request by it
    #: (`verdicts.question`); in no report
    body: bytes | None = field(default=None, repr=False, compare=False)
    #: the test's virtual time when it was made (``hfrouter.virtual_time()``'s sleeps so far, part of ``at``): the
    #: waits the app asked for between two calls, exactly, which ``at`` holds with the calls' own time added
    slept: float = field(default=0.0, repr=False, compare=False)

    # One is made per request: a frozen dataclass's own __init__ sets each field through
    # object.__setattr__ (about 1.9 us for these fields); one dict update costs a third of that.
    # The parameters are the fields, in order, with their types and defaults (a test checks it).
    def __init__(
        self,
        provider: str | None,
        model: str | None,
        route: RouteKind | Step,
        method: str,
        url: str,
        status: int | None,
        fault: CallFault | None,
        answered_by: str,
        stream: bool,
        at: float,
        retry_after: float | None = None,
        requested: str | None = None,
        scenarios: tuple[str, ...] = (),
        truncates_stream: bool = False,
        looked_up_for: str | None = None,
        spared: bool = False,
        unread: bool = False,
        body: bytes | None = None,
        slept: float = 0.0,
    ) -> None:
        self.__dict__.update(
            provider=provider,
            model=model,
            route=route,
            method=method,
            url=url,
            status=status,
            fault=fault,
            answered_by=answered_by,
            stream=stream,
            at=at,
            retry_after=retry_after,
            requested=requested,
            scenarios=scenarios,
            truncates_stream=truncates_stream,
            looked_up_for=looked_up_for,
            spared=spared,
            unread=unread,
            body=body,
            slept=slept,
        )

    @property
    def scenario(self) -> str | None:
        """The scenario that answered (``a+b`` for stacked mapping overlays); None for other answers."""
        return "+".join(self.scenarios) if self.scenarios else None

    @property
    def failed(self) -> bool:
        """No proper answer: an error status, a fault that struck, or an outage in a 200
        (an error body or event, a broken stream); a slow answer that came in time is none."""
        if self.fault is not None or self.status is None or self.status >= 400:
            return True
        return bool(self.scenarios) and not self.spared and not self.unread

    def line(self) -> str:
        outcome = self.fault or (str(self.status) if self.status is not None else "-")
        who = f"{self.provider or '-'} {self.model or '-'}"
        unread = ", the app stopped reading before its fault" if self.unread else ""
        return scrub.text(f"{self.method} {self.url} [{self.route}: {who}] -> {outcome} ({self.answered_by}{unread})")


@dataclass(eq=False)
class Miss:
    """A request the test must fail for: nothing may answer it, or it would hang forever."""

    request: Request
    reason: str
    searched: tuple[str, ...] = ()
    closest: tuple[str, ...] = ()
    headline: str = "no answer for"
    #: the fix, when the engine knows better than the generic record hint (a non-router host)
    hint: str | None = None
    #: an outage marker could answer it (not a route no scenario reads, nor a stream no scenario fits)
    markable: bool = True

    def message(self, record_hint: str, marker_hint: str = "") -> str:
        lines = [
            f"pytest-hfrouter: {self.headline} {self.request.method} {self.request.url}",
            f"  {self.reason}",
        ]
        if self.searched:
            lines.append("  cassettes searched:")
            lines += [f"    - {path}" for path in self.searched]
        if self.closest:
            lines.append("  closest recorded requests:")
            lines += [f"    - {candidate}" for candidate in self.closest]
        if self.headline == "no answer for":
            lines.append(f"  {self.hint or record_hint + (marker_hint if self.markable else '')}")
        return scrub.text("\n".join(lines))


class StreamRead:
    """A streamed answer that a scenario breaks at its end, as a face hands it to the app: ``reached``
    once the app has read up to the fault; ``left()`` when the app closes it before, or when the test's
    body ends with it unread (a stream left open, or one the client library never closes: huggingface_hub
    0.x's over requests) — then the call met no outage (`Engine.unread`)."""

    __slots__ = ("_unread", "reached")

    def __init__(self, unread: Callable[[], None]) -> None:
        self.reached = False
        self._unread: Callable[[], None] | None = unread

    def left(self) -> None:
        if not self.reached and self._unread is not None:
            unread, self._unread = self._unread, None
            unread()


@dataclass(eq=False, repr=False)
class Exchange:
    """The state of one test: its rules (closest first), cassettes, call log and misses."""

    rules: list[Rule] = field(default_factory=list)
    cassettes: list[Cassette] = field(default_factory=list)
    #: the cassettes only a module's or class's marker names, each with that node's id: its tests share them,
    #: each requesting its part (a test that requests none of one has no finding for it; the run judges the
    #: tests that share it together, `SharedCassettes`)
    shared_cassettes: Mapping[Path, str] = field(default_factory=dict)
    strict: bool = False
    allow_loopback: bool = True
    calls: list[Call] = field(default_factory=list)
    misses: list[Miss] = field(default_factory=list)
    played: dict[tuple[int, tuple[str, ...]], int] = field(default_factory=dict)
    #: (provider, provider's model id) → HF model id, learned from mappings served in this test.
    provider_ids: dict[tuple[str, str], str] = field(default_factory=dict)
    #: live modes: what the real router answered, in order (the report's raw material)
    live: list[LiveCall] = field(default_factory=list)
    #: record modes: the interactions to write to the test's cassette
    recorded: list[tuple[Request, Observed]] = field(default_factory=list)
    #: live modes: differences in shape from the recorded answer for the same request
    drift: list[Drift] = field(default_factory=list)
    #: live modes: failed answers (request, route, provider, HF model, answer), for the harvest
    failures: list[tuple[Request, Route, str | None, str | None, Observed]] = field(default_factory=list)
    #: seconds added to the monotonic clock by ``hfrouter.virtual_time()`` (sleeps that did not wait)
    virtual: float = 0.0
    #: ``time.sleep`` was another than the real one or ``hfrouter.virtual_time()``'s at a call
    sleep_patched: bool = False
    #: how often each request key was asked for (cassette hygiene: what a cassette holds in vain)
    requested: dict[tuple[str, ...], int] = field(default_factory=dict)
    #: (provider, model) pairs a mapping answered in this test without the provider
    removed: set[tuple[str, str]] = field(default_factory=set)
    #: model (lower case) → the task of the client call behind its Hub look-up (None: not readable)
    tasks: dict[str, str | None] = field(default_factory=dict)
    #: model (lower case) → the provider the client asked for by name at its mapping look-up
    asked: dict[str, str] = field(default_factory=dict)
    #: provider → the HF model of its last inference call (what its polls and downloads are for)
    submitted: dict[str, str | None] = field(default_factory=dict)
    #: follow-up URL → how often it was answered (polls play in recorded order)
    followed: dict[str, int] = field(default_factory=dict)
    #: how many calls had been made when an exception last reached the test's own code (-1: never)
    caught_after: int = -1
    #: whether an exception reached the test could not be watched (another trace function was set: coverage.py's,
    #: a debugger's, on Python < 3.12): truncated-stream-accepted is then not judged (a class default, as ``unentered``)
    unwatched: ClassVar[bool] = False
    #: ``hfrouter.virtual_time()`` called and not entered (a statement, not a ``with``): a class default, as
    #: ``unentered``
    clocks_unentered: ClassVar[int] = 0
    #: the streams a scenario breaks at their end that this test was handed (`StreamRead`): a class default set
    #: on the instance, as ``unentered``
    streams: ClassVar[tuple[StreamRead, ...]] = ()
    #: a Hypothesis ``@given`` test's: the call-log position each example began at (`_running._per_example`),
    #: each example's calls judged on their own: a class default set on the instance, as ``unentered``
    examples: ClassVar[tuple[int, ...]] = ()
    #: call-log positions [start, end) of ``hfrouter.outage()`` blocks; end None while one is open
    outage_windows: list[tuple[int, int | None]] = field(default_factory=list)
    #: ``hfrouter.outage()`` rules whose ``with`` block has not begun (called as a statement, it does
    #: nothing). A class default the handle sets on the instance, not a field: a field costs every
    #: test's exchange (3 k instructions, measured), and most tests never call ``outage()``
    unentered: ClassVar[tuple[Rule, ...]] = ()
    #: the tests whose threads made calls while this test ran (answered at session level, `threads`),
    #: one entry a call: a class default the engine sets on the instance, as ``unentered``
    beside: ClassVar[tuple[str | None, ...]] = ()
    #: the other HTTP mock libraries the test uses (`mocks.mock_libraries`): a class default set on the
    #: instance, as ``unentered``
    mocks: ClassVar[tuple[str, ...]] = ()
    #: call-log positions of the calls a fixture of wider scope made while it was set up for this test (they
    #: meet none of its outages, `Engine.answer`): a class default the engine sets on the instance, as ``unentered``
    shared_setup: ClassVar[tuple[int, ...]] = ()
    #: the rules of ``hfrouter.outage()`` blocks that have ended (judged after the body with the rest)
    ended_rules: list[Rule] = field(default_factory=list)
    #: a ``@pytest.mark.vcr`` test: vcrpy answers it; what reaches the plugin is neither answered nor sent
    vcr: bool = False
    #: a chaos run: the test's seeded injections (None: no chaos for this test)
    chaos: TestChaos | None = None

    def now(self) -> float:
        sleep = time.sleep
        if sleep is not REAL.sleep and getattr(sleep, VIRTUAL_SLEEP, None) is not True:  # a MagicMock has any attribute
            self.sleep_patched = True  # mock.patch("time.sleep"), monkeypatch: a wait that takes no time
        return REAL.monotonic() + self.virtual

    def log(self, call: Call) -> int:
        """Add ``call`` (stamped ``at=self.now()`` by its maker) to the call log; its position."""
        self.calls.append(call)
        return len(self.calls) - 1


def retry_after(headers: tuple[tuple[str, str], ...]) -> float | None:
    """Seconds to wait, from ``Retry-After`` or the ``t=`` of HF's ``ratelimit`` header (docs/ROUTER-FACTS.md §2.6)."""
    for name, value in headers:
        name = name.lower()
        if name == "retry-after" and value.strip().replace(".", "", 1).isdigit():
            return float(value)
        if name == "ratelimit":
            for part in value.split(";"):
                key, _, number = part.strip().partition("=")
                if key == "t" and number.replace(".", "", 1).isdigit():
                    return float(number)
    return None
