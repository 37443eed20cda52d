"""pytest hooks and thin fixtures; the logic lives in the core modules."""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ._keys import (
    ACTS,
    ENGINE,
    LIBRARY,
    MAKE_ENGINE,
    MARKED_OUTAGES,
    PARSED_OUTAGES,
    POLICY,
    RUN,
    RUNNING,
    SETTINGS,
)
from ._names import CASSETTE, EACH_OUTAGE, LIVE_MARKER, MARKER_HELP, NO_CHAOS, OUTAGE, RESILIENT, SIGNATURES

if TYPE_CHECKING:
    from ._running import Running
    from ._session import RunSession
    from ._settings import Settings
    from .cassettes import Cassette
    from .engine import Engine
    from .handle import HFRouter, HFRouterServer
    from .library import Library
    from .markers import EachCase, Resilience
    from .traffic import Exchange, Rule

_SCENARIO_PARAM = "hfrouter_scenario"


def pytest_addoption(parser: pytest.Parser) -> None:
    from ._settings import add_options

    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    from ._settings import resolve

    for name, signature in SIGNATURES.items():
        config.addinivalue_line("markers", f"{signature}: {MARKER_HELP[name]}")
    settings = config.stash[SETTINGS] = resolve(config.getoption, config.getini, config.rootpath)
    from . import scrub

    # Every output (cassettes, report, summary, terminal, messages) scrubs these values.
    scrub.register(scrub.environment_secrets(os.environ))
    from ._session import start

    config.stash[RUN] = start(config, settings, functools.partial(config.stash.get, ENGINE, None))
    if settings.scenario_dirs:  # a bad scenario file is a usage error at start-up, not at collection
        _library(config)
    # From here on nothing leaves the process: requests made at import or collection time are
    # answered (or refused) like any other, at session level. The engine itself is built when
    # first needed (a client library imported, a test run, a connection refused).
    from . import faces, guard, threads

    every_test = settings.scope.every_test
    policy = config.stash[POLICY] = guard.Policy(
        allow_loopback=settings.allow_loopback,
        hosts=settings.reachable_hosts(),
        blocked=lambda *refused: _engine(config).blocked(*refused),
        # scope "marked": off until a test that asked for the plugin runs, and never for
        # threads that do not work for it
        active=every_test,
        background_passes=not every_test,
    )
    make_engine: Callable[[], Engine] = functools.partial(_engine, config)
    config.stash[MAKE_ENGINE] = make_engine
    threads.install()
    faces.install(make_engine)
    guard.install(policy)


def pytest_report_header(config: pytest.Config) -> str:
    from .scrub import text

    return text(f"hfrouter: {config.stash[SETTINGS].describe(config.stash[RUN].chaos_seed)}")


def acts_on(item: pytest.Item) -> bool:
    """Whether the plugin acts in this test (answers, blocks, clears client caches): every test in
    scope "all"; in scope "marked" only the tests that use one of its markers or fixtures.
    The interception and the network guard both ask this; the answer is computed once per test."""
    settings = item.config.stash.get(SETTINGS, None)
    if settings is None:
        return False
    if settings.scope.every_test:
        return True
    acts = item.stash.get(ACTS, None)
    if acts is None:
        from .scope import opted_in

        names = (m.name for m in item.iter_markers())
        acts = item.stash[ACTS] = opted_in(names, getattr(item, "fixturenames", ()), SIGNATURES)
    return acts


def pytest_unconfigure(config: pytest.Config) -> None:
    make_engine = config.stash.get(MAKE_ENGINE, None)
    if make_engine is not None:
        from . import faces, guard, threads

        faces.uninstall(make_engine)
        guard.uninstall(config.stash[POLICY])
        threads.uninstall()
        del config.stash[MAKE_ENGINE]
        if ENGINE in config.stash:
            del config.stash[ENGINE]


def _library(config: pytest.Config) -> Library:
    """The shipped scenarios plus the user's (ini ``hfrouter_scenario_dirs``), loaded once per run."""
    library = config.stash.get(LIBRARY, None)
    if library is None:
        from .library import with_user_scenarios

        try:
            library = config.stash[LIBRARY] = with_user_scenarios(config.stash[SETTINGS].scenario_dirs)
        except Exception as exc:  # a user scenario file that cannot be used: say which, at start-up
            from .errors import HFRouterError

            if not isinstance(exc, HFRouterError):
                raise
            raise pytest.UsageError(f"hfrouter_scenario_dirs: {exc}") from None
    return library


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Validate the markers at collection and parametrize ``hfrouter_each_outage``."""
    node = metafunc.definition
    marks: dict[str, list[pytest.Mark]] = {}
    for mark in node.iter_markers():  # one walk up the tree, closest first
        if mark.name in _VALIDATED:
            marks.setdefault(mark.name, []).append(mark)
    if not marks:
        return
    from .markers import MarkerError

    config = metafunc.config
    try:
        for marker in marks.get(OUTAGE, ()):
            _parsed_outage(config, marker, _library(config))
        for marker in marks.get(CASSETTE, ()):
            from .markers import parse_cassette_paths

            parse_cassette_paths(marker.args, marker.kwargs)
        for marker in marks.get(RESILIENT, ()):
            from .markers import parse_resilient

            parse_resilient(marker.args, marker.kwargs)
        if EACH_OUTAGE in marks:
            from ._notes import note
            from .markers import outage_note, parse_each_outage

            each = marks[EACH_OUTAGE][0]
            plan = parse_each_outage(each.args, each.kwargs, _library(config))
            note(config, outage_note(each.kwargs))
            if _SCENARIO_PARAM not in metafunc.fixturenames:
                metafunc.fixturenames.append(_SCENARIO_PARAM)
            metafunc.parametrize(_SCENARIO_PARAM, plan.cases, ids=[case.id for case in plan.cases], indirect=True)
    except MarkerError as exc:
        raise pytest.Collector.CollectError(f"{node.nodeid}: {exc}") from None


_VALIDATED = frozenset({OUTAGE, EACH_OUTAGE, CASSETTE, RESILIENT})


def _engine(config: pytest.Config) -> Engine:
    engine = config.stash.get(ENGINE, None)
    if engine is None:
        with _BUILDING:  # the first need may come from two threads at once (a refused connection, a client)
            engine = config.stash.get(ENGINE, None)
            if engine is None:
                from .engine import Engine

                settings = config.stash[SETTINGS]
                engine = config.stash[ENGINE] = Engine(
                    functools.partial(_library, config),
                    settings.live,
                    every_test=settings.scope.every_test,
                    allow_hosts=settings.allow_hosts,
                    doubles=config.stash[POLICY].doubles,
                )
    return engine


_BUILDING = threading.RLock()


def _cassettes(item: pytest.Item, settings: Settings, marks: dict[str, list[pytest.Mark]]) -> list[Path]:
    from .cassette_paths import item_cassettes

    found, missing = item_cassettes(item, settings.cassette_dir, marks.get(CASSETTE, []))
    for given, tried in missing:
        pytest.fail(
            f"pytest-hfrouter: @pytest.mark.{CASSETTE}({given!r}): no such cassette; looked at:\n"
            + "\n".join(f"  - {p}" for p in tried),
            pytrace=False,
        )
    return found


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.stash[SETTINGS].live is not None:
        return
    # A skip marker, not pytest.skip() in setup: the skip report then points at the test,
    # not at this file.
    skip = pytest.mark.skip(reason="needs the live router (hfrouter_live): run with --live and HF_TOKEN set")
    for item in items:
        # ``keywords`` holds every marker name of the item and its parents (and names that are no
        # markers): a look-up that rules most items out before the walk over their markers
        if LIVE_MARKER in item.keywords and item.get_closest_marker(LIVE_MARKER) is not None:
            item.add_marker(skip)


def _marks(item: pytest.Item) -> dict[str, list[pytest.Mark]]:
    """The test's hfrouter markers (and ``vcr``) by name, closest first (read once, at setup: a
    running test's are in its `Running`)."""
    marks: dict[str, list[pytest.Mark]] = {}
    for mark in item.iter_markers():
        if mark.name.startswith("hfrouter_") or mark.name == "vcr":
            marks.setdefault(mark.name, []).append(mark)
    return marks


def _parsed_outage(config: pytest.Config, mark: pytest.Mark, library: Library) -> Rule:
    """The rule an ``hfrouter_outage`` marker stands for, parsed (and its provider noted) once per
    distinct marker in the run: at collection, where a wrong argument is a collection error."""
    marked = config.stash.setdefault(MARKED_OUTAGES, {})
    known = marked.get(id(mark))
    if known is not None and known[0] is mark:
        return known[1]
    try:
        key = (mark.args, tuple(sorted(mark.kwargs.items())))
        hash(key)
    except TypeError:  # an unhashable argument: the parser will say what is wrong with it
        key = None
    parsed = config.stash.setdefault(PARSED_OUTAGES, {})
    template = parsed.get(key) if key is not None else None
    if template is None:
        from ._notes import note
        from .markers import outage_note, parse_outage

        template = parse_outage(mark.args, mark.kwargs, library)
        note(config, outage_note(mark.kwargs))
        if key is not None:
            parsed[key] = template
    marked[id(mark)] = (mark, template)
    return template


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    config = item.config
    settings = config.stash[SETTINGS]
    marks = _marks(item)
    if LIVE_MARKER in marks and settings.live is None:
        return  # skipped by its marker (pytest_collection_modifyitems)
    if not hasattr(item, "obj"):
        return  # not a test function (a generated probe)
    if not settings.scope.every_test and not acts_on(item):
        return  # scope "marked" and the test did not ask: its requests go out as without the plugin
    from ._running import Running
    from .traffic import Exchange

    engine = _engine(config)
    run = config.stash.get(RUN, None)
    if "vcr" in marks:
        _yield_to_vcr(item, marks)
        item.stash[RUNNING] = Running(engine.begin(Exchange(vcr=True), item.nodeid), marks, settings, engine, run)
        return
    library = engine.library
    rules = [_parsed_outage(config, m, library).fresh() for m in marks.get(OUTAGE, ())]
    case = _each_case(item)
    each = marks.get(EACH_OUTAGE)
    each_rule = None
    if case is not None and each:
        from .markers import parse_each_outage

        each_rule = parse_each_outage(each[0].args, each[0].kwargs, library).rule(library, case)
        rules.insert(0, each_rule)
    cassettes = _loaded_cassettes(item, settings, run, marks)
    chaos = None
    if settings.chaos and not rules and run is not None and NO_CHAOS not in marks:
        chaos = run.chaos_for(item.nodeid, library)
    exchange = Exchange(
        rules=rules, cassettes=cassettes, strict=settings.strict, allow_loopback=settings.allow_loopback, chaos=chaos
    )
    # Scope "marked": the tests in between made real requests, so the caches may hold real answers.
    if engine.must_reset_client_caches(exchange) or not settings.scope.every_test:
        from .resets import reset_client_caches

        reset_client_caches(settings.resets)
        engine.hub_answers_changed = False
    item.stash[RUNNING] = Running(engine.begin(exchange, item.nodeid), marks, settings, engine, run, each_rule)
    config.stash[POLICY].active = True


def _loaded_cassettes(
    item: pytest.Item, settings: Settings, run: RunSession | None, marks: dict[str, list[pytest.Mark]]
) -> list[Cassette]:
    paths = _cassettes(item, settings, marks)
    if not paths:
        return []
    from ._checks import check_expiry
    from ._notes import note_unmatchable
    from .cassette_paths import record_command
    from .cassettes import load_cassette
    from .errors import CassetteError

    try:
        cassettes = [load_cassette(path) for path in paths]
    except CassetteError as exc:
        # ``from None``: the message says it all; no "During handling..." twin of it.
        raise pytest.fail.Exception(f"pytest-hfrouter: malformed cassette: {exc}", pytrace=False) from None
    note_unmatchable(item.config, cassettes)
    old = check_expiry(cassettes, settings, record_command(item.nodeid, "rewrite"))
    if run is not None and old:
        run.add_expired(item.nodeid, old)
    return cassettes


def _yield_to_vcr(item: pytest.Item, marks: dict[str, list[pytest.Mark]]) -> None:
    """A ``@pytest.mark.vcr`` test: said once per run; with hfrouter markers or fixtures, refused."""
    ours = [f"@pytest.mark.{name}" for name in (OUTAGE, EACH_OUTAGE, CASSETTE, RESILIENT) if marks.get(name)]
    fixtures = getattr(item, "fixturenames", ())
    ours += [f"the {name!r} fixture" for name in ("hfrouter", "hfrouter_server") if name in fixtures]
    from ._notes import VCR_NOTE, note, vcr_conflict

    if ours:
        raise pytest.fail.Exception(vcr_conflict(ours), pytrace=False)
    note(item.config, VCR_NOTE)


def _each_case(item: pytest.Item) -> EachCase | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get(_SCENARIO_PARAM) if callspec is not None else None


def _scenario_param(item: pytest.Item) -> str | None:
    case = _each_case(item)
    return case.scenario if case is not None else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    running = item.stash.get(RUNNING, None)
    if running is None:
        return (yield)
    watch: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    exchange = running.exchange
    if exchange.rules and running.settings.judges(RESILIENT in running.marks):
        from ._checks import exceptions_reaching, meets_truncation

        if meets_truncation(exchange.rules):
            watch = exceptions_reaching(exchange, str(item.path))
    try:
        with watch:
            result = yield
    except (pytest.skip.Exception, pytest.xfail.Exception):
        _after_call(item, running, passed=False, judge=False)  # the body chose its outcome: only a miss overrides it
        raise
    except KeyboardInterrupt:
        raise
    except BaseException:
        _after_call(item, running, passed=False)
        raise
    _after_call(item, running, passed=True)
    return result


def _after_call(item: pytest.Item, running: Running, passed: bool, judge: bool = True) -> None:
    from ._checks import after_call, pytest_fail

    exchange = running.exchange
    if exchange.misses:  # the miss says it all; the app's traceback of it is hidden
        hint = _record_hint(item)
        raise pytest_fail("\n\n".join(m.message(hint) for m in exchange.misses))
    if not judge:
        return
    path, line, _ = item.location
    findings = after_call(
        exchange,
        running.settings,
        passed=passed,
        resilience=_resilience(running.marks),
        each_rule=running.each_rule,
        location=(path, (line or 0) + 1),
    )
    if findings.skip is not None:
        raise pytest.skip.Exception(findings.skip, _use_item_location=True) from None
    if running.run is not None and findings.verdicts:
        running.run.add_verdicts(item.nodeid, findings.verdicts)
    for note in findings.notes:  # the test failed on its own; what never happened may be why
        item.add_report_section("call", "hfrouter", note + "\ncall log:\n" + _call_log(exchange))
    if findings.failures and passed:
        raise pytest_fail("\n\n".join(findings.failures) + "\ncall log:\n" + _call_log(exchange))
    if findings.skip is not None:
        raise pytest.skip.Exception(f"pytest-hfrouter: {findings.skip}", _use_item_location=True)


def _resilience(marks: dict[str, list[pytest.Mark]]) -> Resilience | None:
    """The merged ``hfrouter_resilient`` markers (closest wins per argument), or None without one."""
    resilient = marks.get(RESILIENT)
    if not resilient:
        return None
    from .markers import merge_resilient

    return merge_resilient([(m.args, m.kwargs) for m in resilient])


def _call_log(exchange: Exchange) -> str:
    return "\n".join(f"  {n}. {call.line()}" for n, call in enumerate(exchange.calls, 1)) or "  (no calls)"


def _default_cassette(item: pytest.Item, settings: Settings) -> Path:
    from .cassette_paths import default_cassette

    cls = getattr(item, "cls", None)
    return default_cassette(Path(str(item.path)), cls.__name__ if cls else None, item.name, settings.cassette_dir)


def _record_hint(item: pytest.Item) -> str:
    from .cassette_paths import record_command

    target = _default_cassette(item, item.config.stash[SETTINGS])
    return (
        f"to answer it, record it into {target}: {record_command(item.nodeid)} "
        f"— or mark the test with @pytest.mark.{SIGNATURES[OUTAGE]}"
    )


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    running = item.stash.get(RUNNING, None)
    if running is None:
        return
    # Items live as long as the session: a finished test's traffic must not.
    del item.stash[RUNNING]
    engine, exchange, settings = running.engine, running.exchange, running.settings
    engine.end()
    if running.run is not None:
        running.run.collect(item.nodeid, exchange)
    if not settings.scope.every_test:
        from .resets import reset_client_caches

        item.config.stash[POLICY].active = False
        reset_client_caches(settings.resets)  # the mappings it served must not reach a test it does not act in
        engine.hub_answers_changed = True  # nor what the tests in between cache reach the next one
    if settings.records and exchange.recorded:
        _write_recording(item, settings, exchange)


def _write_recording(item: pytest.Item, settings: Settings, exchange: Exchange) -> None:
    from .cassette_paths import cassette_listing
    from .recorder import interaction, write_cassette

    assert settings.live is not None
    secrets = (settings.live.token,)
    target = exchange.cassettes[0].path if exchange.cassettes else _default_cassette(item, settings)
    run_id = item.config.stash[RUN].run_id
    write_cassette(
        target,
        [interaction(request, observed, secrets) for request, observed in exchange.recorded],
        rewrite=settings.mode == "rewrite",
        run_id=run_id,
    )
    cassette_listing.cache_clear()  # the next test may find its new default cassette


@pytest.fixture
def hfrouter(request: pytest.FixtureRequest) -> HFRouter:
    """The router as this test sees it: ``calls``, ``outage(...)``, ``assert_tried(...)``."""
    from .handle import HFRouter

    item = request.node
    _require_plugin(item.config, "hfrouter")
    settings = item.config.stash[SETTINGS]
    running = item.stash.get(RUNNING, None)
    if running is None:
        pytest.fail(
            f"pytest-hfrouter: {item.nodeid} asked for the hfrouter fixture at run time (getfixturevalue), "
            f"but the plugin does not act in it ({settings.scope.describe()}). Name the fixture in the test's "
            "arguments or in @pytest.mark.usefixtures('hfrouter'), or set ini hfrouter_scope = all.",
            pytrace=False,
        )
    resilience = _resilience(running.marks)
    chain = resilience.chain if resilience is not None and resilience.chain is not None else settings.chain
    judged = settings.judges(resilience is not None)
    return HFRouter(
        running.exchange,
        _engine(item.config).library,
        _scenario_param(item),
        chain=chain,
        storm_limit=settings.retry_storm,
        test_file=str(item.path) if judged else None,
        resets=settings.resets,
    )


@pytest.fixture
def hfrouter_server(hfrouter: HFRouter, request: pytest.FixtureRequest) -> Iterator[HFRouterServer]:
    """A router double on 127.0.0.1 (a port the OS picks), answering with this test's rules."""
    from .double import RouterDouble
    from .handle import HFRouterServer

    _require_plugin(request.config, "hfrouter_server")
    double = RouterDouble(_engine(request.config)).start()
    try:
        yield HFRouterServer(double, hfrouter)
    finally:
        double.stop()


@pytest.fixture
def hfrouter_scenario(request: pytest.FixtureRequest) -> str | None:
    """The scenario of this ``hfrouter_each_outage`` case, or ``None``."""
    case = getattr(request, "param", None)
    return getattr(case, "scenario", case)


def _require_plugin(config: pytest.Config, fixture: str) -> None:
    """``-p no:hfrouter`` turns the plugin off, yet pytest keeps the fixtures it already saw."""
    if SETTINGS not in config.stash:
        pytest.fail(
            f"pytest-hfrouter is turned off in this run (-p no:hfrouter), and this test uses its {fixture!r} "
            "fixture: run it without -p no:hfrouter, or deselect it",
            pytrace=False,
        )
