"""One running test: what its setup starts, what its call and teardown check and end.

The plugin's runtest hooks are thin: setup calls `start` and keeps the `Running` it returns (on
`plugin.TestHooks`, until teardown); the call hook asks it to `check` what happened; teardown asks
it to `end`. Loaded with the first test the plugin acts in (never by ``--collect-only``), so what
every test needs is imported here once, at the top, not inside each hook call.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import _children
from ._checks import (
    after_call,
    check_expiry,
    exceptions_reaching,
    meets_truncation,
    not_exercised,
    pytest_fail,
    test_code,
    warn_at,
)
from ._keys import SHARED_DEFAULTS
from ._names import (
    CASSETTE,
    EACH_OUTAGE,
    NO_CHAOS,
    OUTAGE,
    RECORD,
    RESILIENT,
    REWRITE,
    SCENARIO_PARAM,
    SIGNATURES,
    marker_count,
    marks_of,
)
from ._notes import VCR_NOTE, note, note_unmatchable, vcr_conflict
from .cassette_paths import (
    cassette_listing,
    default_cassette,
    default_near_miss,
    item_cassettes,
    module_cassette_dir,
    record_command,
    resolve_cassette,
    shared_defaults,
    shared_message,
)
from .cassettes import Cassette, load_cassette
from .errors import CassetteError
from .guard import Policy, guard_loops
from .markers import (
    MARKER_API,
    EachCase,
    MarkerError,
    Resilience,
    merge_resilient,
    parse_cassette_paths,
    parse_each_outage,
    parse_resilient,
)
from .routes import HUB_LOOKUPS
from .traffic import Exchange, Miss, Request, Rule

if TYPE_CHECKING:
    from _pytest.nodes import Node

    from ._session import RunSession
    from ._settings import Settings
    from .engine import Engine


def start(
    item: pytest.Item,
    settings: Settings,
    marks: dict[str, list[pytest.Mark]],
    engine: Engine,
    run: RunSession | None,
    policy: Policy,
    rule_of: Callable[[pytest.Mark], Rule],
    mocks: tuple[str, ...] = (),
) -> Running:
    """Begin the test's exchange with its rules and cassettes (``rule_of``: the rule collection
    parsed from an ``hfrouter_outage`` marker; ``mocks``: the other HTTP mock libraries it uses);
    the hooks keep what this returns until teardown."""
    if "uvloop" in sys.modules:  # imported since the guard was installed: its loop is guarded now
        guard_loops()
    if "vcr" in marks:
        _yield_to_vcr(item, marks)
        exchange = engine.begin(Exchange(vcr=True), item.nodeid)
        return Running(exchange, marks, settings, engine, run, policy, seen=marker_count(item))
    if run is not None:
        run.attempt(item.nodeid)
    library = engine.library
    rules = [rule_of(m).fresh() for m in marks.get(OUTAGE, ())]
    case = each_case(item)
    each = marks.get(EACH_OUTAGE)
    each_rule = None
    if each and case is None:
        raise _unparametrized(item)
    if case is not None and each:
        each_rule = parse_each_outage(each[0].args, each[0].kwargs, library).rule(library, case)
        rules.insert(0, each_rule)
    cassettes = _loaded_cassettes(item, settings, run, marks)
    shared = _shared_cassettes(item, settings) if cassettes and CASSETTE in marks else {}
    chaos = None
    if settings.chaos and not rules and run is not None and NO_CHAOS not in marks:
        chaos = run.chaos_for(item.nodeid, library)
    exchange = Exchange(
        rules=rules,
        cassettes=cassettes,
        shared_cassettes=shared,
        strict=settings.strict,
        allow_loopback=settings.allow_loopback,
        chaos=chaos,
    )
    if mocks:
        exchange.mocks = mocks  # type: ignore[misc]
    # Scope "marked": the tests in between made real requests, so the caches may hold real answers.
    if engine.must_reset_client_caches(exchange) or not settings.scope.every_test:
        from .resets import reset_client_caches

        reset_client_caches(settings.resets)
        engine.hub_answers_changed = False
    exchange = engine.begin(exchange, item.nodeid)
    running = Running(exchange, marks, settings, engine, run, policy, each_rule, marker_count(item))
    policy.active = True
    # the processes a test starts are refused the router too: from the first test on (an xdist controller,
    # which runs none, hands nothing down to its workers), in scope "marked" until the test's end
    _children.enter()
    return running


def _unparametrized(item: pytest.Item) -> BaseException:
    """An ``hfrouter_each_outage`` test that pytest never parametrized: it would run once, with no outage."""
    unittest = type(item).__name__ == "TestCaseFunction"
    why = (
        "pytest does not parametrize the methods of a unittest.TestCase"
        if unittest
        else "the marker came after pytest parametrized the tests at collection (added by a conftest's "
        "pytest_collection_modifyitems, or by a fixture)"
    )
    fix = (
        "give each scenario its own test method with @pytest.mark.hfrouter_outage(...), or move the test to a "
        "plain test function or class"
        if unittest
        else "put the marker on the test, its class or module (pytestmark)"
    )
    return pytest_fail(
        f"pytest-hfrouter: {item.nodeid} is marked @pytest.mark.hfrouter_each_outage, but no case of it was made: "
        f"{why}. As it stands the test would run once without any outage. To run it once per scenario, {fix}."
    )


def late_marker_refused(
    item: pytest.Item, names: list[str], acting: bool, settings: Settings, in_body: bool = False
) -> BaseException:
    """A marker of the plugin's that a fixture added while the test's setup ran (or, in a test the plugin
    does not act in, the body), which cannot apply."""
    marks = ", ".join(f"@pytest.mark.{name}" for name in names)
    if acting:
        why = "the plugin reads it when the test's setup begins, before any fixture, so it would apply to nothing"
    else:
        why = (
            f"the plugin does not act in this test ({settings.scope.describe()}): it decided when the test's setup "
            "began, before any fixture, so the test's requests are not the plugin's to answer"
        )
    # a matrix is made while the test is collected, before pytest_collection_modifyitems runs
    where = "" if EACH_OUTAGE in names else ", or add it in a conftest's pytest_collection_modifyitems"
    who = f"the body of {item.nodeid} added {marks}" if in_body else f"a fixture of {item.nodeid} added {marks}"
    return pytest_fail(
        f"pytest-hfrouter: {who} while the test's {'body' if in_body else 'setup'} ran "
        f"(request.applymarker or node.add_marker), and {why}. Put the marker on the test, its class or module "
        f"(pytestmark){where}" + ("" if acting else "; or name the hfrouter fixture in the test's arguments") + "."
    )


@dataclass(slots=True, eq=False, repr=False)
class Running:
    """The test's traffic, its markers and the run's objects, each looked up once per test."""

    exchange: Exchange
    #: its hfrouter markers (and ``vcr``) by name, closest first
    marks: dict[str, list[pytest.Mark]]
    settings: Settings
    engine: Engine
    run: RunSession | None
    #: the network guard's policy (on while a test of scope "marked" runs)
    policy: Policy
    each_rule: Rule | None = None
    #: `marker_count` at setup (a fixture that adds a marker changes it)
    seen: int = 0

    def closest(self, name: str) -> pytest.Mark | None:
        found = self.marks.get(name)
        return found[0] if found else None

    def adopt(
        self, item: pytest.Item, marks: dict[str, list[pytest.Mark]], rule_of: Callable[[pytest.Mark], Rule]
    ) -> None:
        """Markers a fixture added while the test's setup ran (``request.applymarker``): its outages
        and ``hfrouter_resilient`` apply from the body on; the others are read before any fixture
        runs, and fail the test rather than apply to nothing."""
        self.seen = marker_count(item)
        old = self.marks
        late: dict[str, list[pytest.Mark]] = {}
        for name, found in marks.items():
            added = [m for m in found if all(m is not o for o in old.get(name, ()))]
            if added and name.startswith("hfrouter_"):
                late[name] = added
        if not late:
            return
        refused = [name for name in late if name not in (OUTAGE, RESILIENT)]
        if refused or self.exchange.vcr:
            raise late_marker_refused(item, refused or list(late), True, self.settings)
        try:
            fresh = {id(m): rule_of(m).fresh() for m in late.get(OUTAGE, ())}
            for rule in fresh.values():
                rule.since = len(self.exchange.calls)  # setup's calls came before it
            for mark in late.get(RESILIENT, ()):
                parse_resilient(mark.args, mark.kwargs)
        except MarkerError as exc:
            raise pytest_fail(f"pytest-hfrouter: {item.nodeid}: {exc}") from None
        self.marks = marks
        if fresh:
            # the markers' rules close the list (outage blocks go first, then the matrix case): the
            # markers' part again, in their order, the rules already running kept as they are
            rules, marked = self.exchange.rules, old.get(OUTAGE, [])
            before = dict(zip(map(id, marked), rules[len(rules) - len(marked) :], strict=True))
            rules[len(rules) - len(marked) :] = [before.get(id(m)) or fresh[id(m)] for m in marks[OUTAGE]]
            if any(not HUB_LOOKUPS.isdisjoint(rule.scenario.answers) for rule in fresh.values()):
                from .resets import reset_client_caches

                reset_client_caches(self.settings.resets)

    def _added_in_body(self, item: pytest.Item, passed: bool) -> None:
        """A marker of the plugin's the test body added (``request.applymarker``): read at setup,
        it applied to none of the calls; said, as a failure, or a note on a test that failed anyway."""
        old = self.marks
        late = [
            name
            for name, found in marks_of(item).items()
            if name.startswith("hfrouter_") and any(all(m is not o for o in old.get(name, ())) for m in found)
        ]
        if not late:
            return
        message = (
            f"pytest-hfrouter: the body of {item.nodeid} added {', '.join(f'@pytest.mark.{n}' for n in late)} "
            "(request.applymarker or node.add_marker). The plugin reads its markers when the test's setup begins, "
            "so this one applied to none of the test's calls. Put the marker on the test, its class or module; for "
            "an outage over part of the body: with hfrouter.outage(...): <the calls>."
        )
        if passed:
            raise pytest_fail(message)
        item.add_report_section("call", "hfrouter", message)

    def watch(self, item: pytest.Item) -> contextlib.AbstractContextManager[None]:
        """What the test body runs under: a watch for the exceptions a truncated stream raises,
        when a rule (or the run's chaos) may truncate one and verdicts are judged; for a Hypothesis
        test with outage markers, each example meeting them afresh (`_per_example`)."""
        exchange = self.exchange
        truncates = (exchange.rules and meets_truncation(exchange.rules)) or (
            exchange.chaos is not None and exchange.chaos.plan.truncates
        )
        watch: contextlib.AbstractContextManager[None] = _UNWATCHED
        if truncates and self.settings.judges(RESILIENT in self.marks):
            watch = exceptions_reaching(exchange, test_code(item))
        handle = getattr(getattr(item, "obj", None), "hypothesis", None)
        if handle is not None and exchange.rules and hasattr(handle, "inner_test"):
            return _per_example(handle, exchange, self.settings, watch)
        return watch

    def check(
        self,
        item: pytest.Item,
        passed: bool,
        judge: bool = True,
        caught: BaseException | None = None,
        xfailed: bool = False,
    ) -> None:
        """After the body: a miss fails the test; then what never happened, and the verdicts (``caught``:
        the body's failure that unittest caught, for a ``TestCase``; ``xfailed``: the body called
        ``pytest.xfail``)."""
        if self.seen != marker_count(item):
            self._added_in_body(item, passed)
        exchange = self.exchange
        if exchange.streams:  # a stream the body ended without reading to its fault met no outage
            for read in exchange.streams:
                read.left()
            exchange.streams = ()  # type: ignore[misc]
        for host, said in _children.collect():  # a process the test started was refused the router or the Hub
            exchange.misses.append(Miss(Request("GET", host), said + CHILD_FIX, headline="refused in a child process:"))
        if exchange.misses:  # the miss says it all; the app's traceback of it is hidden
            hint = _record_hint(item, self.settings)
            marker = "" if OUTAGE in self.marks else f" — or mark the test with @pytest.mark.{SIGNATURES[OUTAGE]}"
            raise not_exercised("\n\n".join(m.message(hint, marker) for m in exchange.misses), passed, caught)
        if not judge or (xfailed and not exchange.calls):
            return
        findings = after_call(
            exchange,
            self.settings,
            passed=passed,
            resilience=resilience(self.marks),
            each_rule=self.each_rule,
            # the test's own marker asks that its calls be judged; a module's or class's is a policy
            # for the tests that call the router
            judged_alone=RESILIENT in self.marks and any(m.name == RESILIENT for m in item.own_markers),
            rerecord=lambda: record_command(item.nodeid, "rewrite", item.config),
            expects_failure=lambda: (
                xfailed
                or item.get_closest_marker("xfail") is not None
                or getattr(getattr(item, "obj", None), "__unittest_expecting_failure__", False)
            ),
        )
        if findings.shared and self.run is not None:
            self.run.note_shared(Path(str(item.path)), findings.shared)
        if findings.skip is not None:
            raise pytest.skip.Exception(findings.skip, _use_item_location=True) from None
        if self.settings.live is None and len(exchange.calls) > 1 and not exchange.virtual:
            _waited_for_real(item, exchange)
        if self.run is not None and findings.verdicts:
            self.run.add_verdicts(item.nodeid, findings.verdicts)
        path, line, _ = item.location
        # warned once every finding is made: one an error filter makes a failure joins them, pre-empting none
        promoted = findings.warn_all((path, (line or 0) + 1))
        for said in findings.notes + (promoted if not passed else []):  # the test failed on its own: why, maybe
            item.add_report_section("call", "hfrouter", said + "\ncall log:\n" + _call_log(exchange))
        failures = findings.unexercised + (findings.failures + promoted if passed else [])
        if failures:
            message = "\n\n".join(failures) + "\ncall log:\n" + _call_log(exchange)
            raise not_exercised(message, passed, caught) if findings.unexercised else pytest_fail(message)

    def end(self, item: pytest.Item) -> None:
        """Teardown: the engine lets go of the test; its traffic joins the report; a recording is written."""
        engine, exchange, settings = self.engine, self.exchange, self.settings
        engine.end()
        if self.run is not None:
            self.run.collect(item.nodeid, exchange)
        if not settings.scope.every_test:
            from .resets import reset_client_caches

            self.policy.active = False
            _children.leave()
            reset_client_caches(settings.resets)  # the mappings it served must not reach a test it does not act in
            engine.hub_answers_changed = True  # nor what the tests in between cache reach the next one
        if settings.records and exchange.recorded:
            assert self.run is not None  # a recording run has its report
            _write_recording(item, settings, exchange, self.run, named=CASSETTE in self.marks)


#: the real seconds between a replayed test's first and last call past which it is said (once a run)
WAITED_FOR_REAL_S = 5.0
_WAITED: pytest.StashKey[bool] = pytest.StashKey()


def _waited_for_real(item: pytest.Item, exchange: Exchange) -> None:
    """A replayed test whose calls lay seconds apart: the app waited for real (a retry library's backoff, a
    Retry-After), where replayed answers come at once (an audit: a test of a correct app took 110 s, and nothing
    said why nor how to make it take none)."""
    span = exchange.calls[-1].at - exchange.calls[0].at
    if span > WAITED_FOR_REAL_S and not item.config.stash.get(_WAITED, False):
        item.config.stash[_WAITED] = True
        note(
            item.config,
            f"{item.nodeid} spent {round(span) if span >= 10 else round(span, 1)} s between its first and last "
            "router call, where replayed answers come at once: the app waited for real (a backoff, a Retry-After). "
            "Run its calls in "
            "hfrouter.virtual_time(): the waits are kept, counted on the test's clock and judged, and take no "
            "time (said once a run)",
            aside=True,
        )


#: a body with nothing to watch (reusable: it holds no state)
_UNWATCHED = contextlib.nullcontext()


@contextlib.contextmanager
def _per_example(
    handle: Any, exchange: Exchange, settings: Settings, watch: contextlib.AbstractContextManager[None]
) -> Iterator[None]:
    """A Hypothesis ``@given`` test runs its body once per example, in one pytest test: each example meets
    the test's outage markers afresh, their ``times`` counted again and the client's Hub answers cleared
    (an audit: ``times=1`` was spent by the first of 100 examples, and 99 passed on healthy answers).
    Through Hypothesis's ``inner_test``, which it calls per example (as pytest-trio wraps it)."""
    inner = handle.inner_test
    rules = [rule for rule in exchange.rules if rule.api == MARKER_API]
    hub = any(not HUB_LOOKUPS.isdisjoint(rule.scenario.answers) or rule.scenario.overlay for rule in rules)

    @functools.wraps(inner)
    def example(*args: Any, **kwargs: Any) -> Any:
        exchange.examples += (len(exchange.calls),)  # type: ignore[misc]
        for rule in rules:
            rule.used = 0
        if hub:
            from .resets import reset_client_caches

            reset_client_caches(settings.resets)
        return inner(*args, **kwargs)

    handle.inner_test = example
    try:
        with watch:
            yield
    finally:
        handle.inner_test = inner


#: what a test whose child process was refused should do
CHILD_FIX = (
    ": in replay a process the test starts is not replayed, and no router or Hub request leaves it. Make the "
    "call in the test's process, or point that process at the router double (the hfrouter_server fixture: its "
    "env() for HF_ENDPOINT and the openai SDK, base_url for InferenceClient)"
)


def each_case(item: pytest.Item) -> EachCase | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get(SCENARIO_PARAM) if callspec is not None else None


def resilience(marks: dict[str, list[pytest.Mark]]) -> Resilience | None:
    """The merged ``hfrouter_resilient`` markers (closest wins per argument), or None without one."""
    resilient = marks.get(RESILIENT)
    if not resilient:
        return None
    return merge_resilient([(m.args, m.kwargs) for m in resilient])


def _shared_default(item: pytest.Item, settings: Settings) -> None:
    """A test whose default cassette another collected test has too (an audit: a recording of one silently
    replaced the other's): a recording run fails it before it records; replay says so once. The run's
    tests are looked at once, with the first test that reads or writes a default cassette."""
    config = item.config
    shared = config.stash.get(SHARED_DEFAULTS, None)
    if shared is None:
        found = shared_defaults(item.session.items, settings.cassette_dir, every_module=settings.records)
        shared = config.stash[SHARED_DEFAULTS] = {n: shared_message(p, ids) for p, ids in found.items() for n in ids}
    said = shared.get(item.nodeid)
    if said is None:
        return
    if settings.records:
        raise pytest.fail.Exception(said, pytrace=False)
    note(config, said)


def _loaded_cassettes(
    item: pytest.Item, settings: Settings, run: RunSession | None, marks: dict[str, list[pytest.Mark]]
) -> list[Cassette]:
    found, missing = item_cassettes(item, settings.cassette_dir, marks.get(CASSETTE, []))
    if settings.records or (found and CASSETTE not in marks):  # its default cassette is written or read
        _shared_default(item, settings)
    for given, tried in missing:
        if settings.records:  # recording makes it, at the first place replay looks
            continue
        slash = (
            "\n  (write / between folders: a backslash is part of a file's name on Linux and macOS)"
            if "\\" in given
            else ""
        )
        pytest.fail(
            f"pytest-hfrouter: @pytest.mark.{CASSETTE}({given!r}): no such cassette; looked at:\n"
            + "\n".join(f"  - {p}" + (" (a folder, not a cassette file)" if p.is_dir() else "") for p in tried)
            + slash,
            pytrace=False,
        )
    if not found and not missing:
        miss = None if settings.records or CASSETTE in marks else default_near_miss(item, settings.cassette_dir)
        if miss is not None:
            near, exact = miss
            pytest.fail(
                f"pytest-hfrouter: {item.nodeid}: its default cassette would be {exact}, and there is none; "
                f"{near} has its name but for case or suffix, so it is not read (default cassettes are matched "
                f"exactly, on every file system). Rename it to {exact.name}, or name it: "
                f'@pytest.mark.{CASSETTE}("{near.name}")',
                pytrace=False,
            )
        return []
    cassettes = [_recording_into(tried[0]) for _, tried in missing]
    for path in dict.fromkeys(found):  # named twice (module and test): once
        try:
            cassettes.append(load_cassette(path))
        except CassetteError as exc:
            if settings.mode != REWRITE:
                # a recording run would append to it: rewrite records it afresh
                fix = (
                    f" (record it afresh: {record_command(item.nodeid, 'rewrite', item.config)})"
                    if settings.records
                    else ""
                )
                # ``from None``: the message says it all; no "During handling..." twin of it.
                raise pytest.fail.Exception(f"pytest-hfrouter: malformed cassette: {exc}{fix}", pytrace=False) from None
            cassettes.append(_recording_into(path))  # rewrite replaces it: nothing of it is read
            continue
        if cassettes[-1].is_scenario:
            # an audit: a scenario file copied beside the tests and named as a cassette was told to be re-recorded,
            # and the rewrite replaced the scenario with two healthy answers, in silence
            name = cassettes[-1].hfrouter.get("name")
            pytest.fail(
                f"pytest-hfrouter: {path} is the scenario {name!r} (its metadata.hfrouter.name), not a recording: its "
                f"requests are examples, which no call matches, and a recording would replace it. Inject it with "
                f'@pytest.mark.hfrouter_outage("{name}", provider="<provider>"); a scenario of your own goes in a '
                "folder named by ini hfrouter_scenario_dirs",
                pytrace=False,
            )
    if len(cassettes) > 1:  # the first named is the one a recording writes (and the first replay reads)
        named = _named_paths(item, settings, marks)
        cassettes.sort(key=lambda c: named.index(c.path) if c.path in named else len(named))
    note_unmatchable(item.config, cassettes)
    # replay and record (which appends, leaving the cassette as old as it was): a rewrite is how an old cassette
    # gets new answers (an audit: the command the expiry failure printed failed again, at setup, on the same
    # expiry), and a live run answers from the router
    old = (
        check_expiry(cassettes, settings, record_command(item.nodeid, "rewrite", item.config))
        if settings.live is None or settings.mode == RECORD
        else []
    )
    if run is not None and old:
        run.add_expired(item.nodeid, old)
    return cassettes


def _recording_into(path: Path) -> Cassette:
    """A cassette a recording run makes (or, in ``rewrite``, replaces): nothing to replay yet."""
    return Cassette(path, (), {})


def _named_paths(item: pytest.Item, settings: Settings, marks: dict[str, list[pytest.Mark]]) -> list[Path]:
    """The test's ``hfrouter_cassette`` paths, closest marker first, each where replay finds it."""
    module_dir = module_cassette_dir(str(item.path), settings.cassette_dir)
    return [
        resolve_cassette(given, Path(str(item.path)).parent, module_dir)[0]
        for mark in marks.get(CASSETTE, ())
        for given in parse_cassette_paths(mark.args, mark.kwargs)
    ]


def _shared_cassettes(item: pytest.Item, settings: Settings) -> dict[Path, str]:
    """The cassettes that only markers of the test's module or class name (``pytestmark``), each with the id of
    the node whose marker names it (the closest)."""
    own: list[pytest.Mark] = []
    parents: list[tuple[Node, pytest.Mark]] = []
    for node, mark in item.iter_markers_with_node(CASSETTE):
        if node is item:
            own.append(mark)
        else:
            parents.append((node, mark))
    if not parents:
        return {}
    mine = set(item_cassettes(item, settings.cassette_dir, own)[0]) if own else set()
    shared: dict[Path, str] = {}
    for node, mark in parents:
        for path in item_cassettes(item, settings.cassette_dir, [mark])[0]:
            if path not in mine:
                shared.setdefault(path, node.nodeid)
    return shared


def _yield_to_vcr(item: pytest.Item, marks: dict[str, list[pytest.Mark]]) -> None:
    """A ``@pytest.mark.vcr`` test: said once per run; with hfrouter markers or fixtures, refused."""
    ours = [f"@pytest.mark.{name}" for name in (OUTAGE, EACH_OUTAGE, CASSETTE, RESILIENT) if marks.get(name)]
    fixtures = getattr(item, "fixturenames", ())
    ours += [f"the {name!r} fixture" for name in ("hfrouter", "hfrouter_server") if name in fixtures]
    if ours:
        raise pytest.fail.Exception(vcr_conflict(ours), pytrace=False)
    note(item.config, VCR_NOTE, aside=True)


def _call_log(exchange: Exchange) -> str:
    return "\n".join(f"  {n}. {call.line()}" for n, call in enumerate(exchange.calls, 1)) or "  (no calls)"


def _default_cassette(item: pytest.Item, settings: Settings) -> Path:
    cls = getattr(item, "cls", None)
    return default_cassette(Path(str(item.path)), cls.__name__ if cls else None, item.name, settings.cassette_dir)


def _record_hint(item: pytest.Item, settings: Settings) -> str:
    command = record_command(item.nodeid, config=item.config)
    return f"to answer it, record it into {_default_cassette(item, settings)}: {command}"


def _write_recording(item: pytest.Item, settings: Settings, exchange: Exchange, run: RunSession, named: bool) -> None:
    """The test's live answers, into its cassette; said aloud: a failure it now replays (the
    provider was down while recording), and a call a cassette cannot hold (no complete response)."""
    from .harvest import fault_of
    from .live import is_failure
    from .recorder import interaction, write_cassette
    from .routes import classify

    assert settings.live is not None
    secrets = (settings.live.token,)
    target = exchange.cassettes[0].path if exchange.cassettes else _default_cassette(item, settings)
    kept = [(request, observed) for request, observed in exchange.recorded if observed.error is None]
    # A rewrite in which calls got no response (the router unreachable, a proxy down) would replace what the
    # cassette holds with less: the cassette stays as it was (an audit: a recorded outage was lost, and replay
    # went green on the healthy library).
    lost_calls = any(observed.error is not None for _, observed in exchange.recorded)
    kept_old = settings.mode == REWRITE and lost_calls and target.is_file()
    clashes: list[str] = []
    if kept and not kept_old:
        try:
            clashes = write_cassette(
                target,
                [interaction(request, observed, secrets) for request, observed in kept],
                rewrite=settings.mode == "rewrite",
                run_id=run.run_id,
                shared=target in exchange.shared_cassettes,
                test=item.nodeid if named else None,  # a marker's cassette may be (or become) shared
                rootdir=item.config.rootpath,
            )
        except OSError as exc:  # a full disk, a read-only folder: an audit met a traceback of the plugin's code
            # and a summary saying "nothing recorded: no test ... sent a call the router answered"
            why = exc.strerror or str(exc)
            blocking = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
            if blocking is not None:  # mkdir's "File exists" says little
                why = f"{blocking} is a file, not a folder"
            run.add_recorded(item.nodeid, target, 0, 0, 0, named=named, error=why)
            raise pytest_fail(
                f"pytest-hfrouter: could not write this test's recording to {target} ({why}): what the file held "
                f"is unchanged. Make room, or make the folder writable, and record again: "
                f"{record_command(item.nodeid, settings.mode, item.config)}"
            ) from None
        cassette_listing.cache_clear()  # the next test may find its new default cassette
    location = (item.location[0], (item.location[1] or 0) + 1)
    failed = [f"  - {r.method} {r.url}: {o.status} {o.reason}" for r, o in kept if is_failure(o)]
    short = [f"  - {r.method} {r.url}: {len(o.body)} bytes" for r, o in kept if o.cut_short]
    lost = []
    for request, observed in exchange.recorded:
        if observed.error is not None:
            fault, provider = fault_of(observed.error), classify(request.method, request.url, request.body).provider
            marker = (
                f" (offline: @pytest.mark.{OUTAGE}({fault!r}, provider={provider!r}))" if fault and provider else ""
            )
            lost.append(f"  - {request.method} {request.url}: {observed.error}{marker}")
    run.add_recorded(item.nodeid, target, 0 if kept_old else len(kept), len(failed), len(lost), named=named)
    if failed:
        holds = "\n".join(failed)
        warn_at(
            f"pytest-hfrouter: the router answered {len(failed)} of this test's calls with a failure, and {target} "
            f"now holds {'it' if len(failed) == 1 else 'them'}:\n{holds}\n  Replay answers these calls with that "
            "failure, not a healthy answer. If the provider was down, record again when it is healthy: "
            f"{record_command(item.nodeid, 'rewrite', item.config)}; if the failure is what the test is about, "
            "keep it.",
            location,
        )
    if short:
        parts = "\n".join(short)
        warn_at(
            f"pytest-hfrouter: {len(short)} answer(s) were still open, not read to their end, when the test "
            f"ended, and {target} holds only the part the app read:\n{parts}\n  Replay hands that part over as the "
            "whole answer. Read the answer to its end, or close the response within the test (an "
            "AsyncInferenceClient's are closed with the client: async with AsyncInferenceClient(...)), and record "
            f"again: {record_command(item.nodeid, 'rewrite', item.config)}",
            location,
        )
    if clashes:
        requests = "\n".join(f"  - {clash}" for clash in clashes)  # warn_at scrubs
        warn_at(
            f"pytest-hfrouter: {target} is shared by several tests, and another test's recording in it made the "
            f"same request as this one (by meaning: method, route, provider, model, stream):\n{requests}\n  A "
            "cassette matches requests by meaning, not by their messages, so replay answers each of these tests "
            "with the first such answer it holds, and a rewrite of one test replaces the other's. Give each test a "
            "cassette of its own (its default one, or @pytest.mark.hfrouter_cassette on the test).",
            location,
        )
    if lost and kept_old:
        calls = "\n".join(lost)
        warn_at(
            f"pytest-hfrouter: {len(lost)} of this test's calls got no complete response, so this rewrite left "
            f"{target} as it was (writing it would have replaced what it holds with less):\n{calls}\n  Rewrite "
            f"again when the router answers: {record_command(item.nodeid, 'rewrite', item.config)}",
            location,
        )
    elif lost:
        calls, them = "\n".join(lost), "it" if len(lost) == 1 else "them"
        warn_at(
            f"pytest-hfrouter: {len(lost)} of this test's calls got no complete response, which a cassette cannot "
            f"hold, so {target} does not record {them}:\n{calls}\n  Replay answers {them} as it answers any call "
            "the cassette lacks (from the healthy library, where it has one). Record again when the router answers, "
            "or test the fault with the marker named.",
            location,
        )
