"""pytest hooks and thin fixtures; the logic lives in the core modules."""

from __future__ import annotations

import functools
import gc
import os
import sys
import threading
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from . import (
    _clock,  # noqa: F401  (the real clocks, captured before a test can freeze time)
    threads,
)
from ._keys import (
    ACTS,
    ENGINE,
    HUB_MIRROR,
    LIBRARY,
    MAKE_ENGINE,
    OWN_LIVE,
    OWN_MARKERS,
    POLICY,
    RUN,
    SETTINGS,
)
from ._names import (
    CASSETTE,
    EACH_OUTAGE,
    LIVE_MARKER,
    MARKER_HELP,
    NO_CHAOS,
    OUTAGE,
    RESILIENT,
    SCENARIO_PARAM,
    SIGNATURES,
    marker_count,
    marks_of,
)
from .mocks import mock_libraries
from .scope import OPT_IN_FIXTURES, opted_in

if TYPE_CHECKING:
    from ._running import Running
    from ._settings import Settings
    from .engine import Engine
    from .guard import Policy
    from .handle import HFRouter, HFRouterServer
    from .library import Library
    from .traffic import Rule


def pytest_addoption(parser: pytest.Parser) -> None:
    from ._settings import add_options

    add_options(parser)


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> Any:
    """``--live``, after the conftests' own options (`add_live_option`)."""
    from ._settings import add_live_option

    result = yield
    early_config.stash[OWN_LIVE] = not add_live_option(parser)
    return result


def _conftests(config: pytest.Config) -> list[tuple[str, object]]:
    """The conftest.py modules registered so far, with their paths."""
    found = [(str(getattr(plugin, "__file__", "")), plugin) for plugin in config.pluginmanager.get_plugins()]
    return [(path, plugin) for path, plugin in found if os.path.basename(path) == "conftest.py"]


def _loaded_by(config: pytest.Config) -> str | None:
    """How the plugin was asked for other than by ``-p`` or ``PYTEST_PLUGINS`` (`scope.loaded_on_purpose`
    reads those): a conftest's ``pytest_plugins``, or ``pytest.main(plugins=[...])`` (an audit: both were
    taken for auto-load, and an unmarked test's calls went out). None: by its entry point alone."""
    from .scope import PLUGIN_NAMES

    for _, conftest in _conftests(config):
        named = getattr(conftest, "pytest_plugins", ())
        if not PLUGIN_NAMES.isdisjoint([named] if isinstance(named, str) else named):
            return "pytest_plugins in a conftest.py"
    here = sys.modules[__name__]
    if not any(plugin is here for plugin, _ in config.pluginmanager.list_plugin_distinfo()):
        return "pytest_plugins or pytest.main(plugins=...)"
    return None


def pytest_configure(config: pytest.Config) -> None:
    from ._settings import resolve

    for name, signature in SIGNATURES.items():
        config.addinivalue_line("markers", f"{signature}: {MARKER_HELP[name]}")
    _check_ini_keys(config)
    paths = sys.modules.get("pytest_hfrouter.cassette_paths")
    if paths is not None:  # a run before this one in the process (a notebook's, a watcher's) listed the folders
        paths.cassette_listing.cache_clear()
    settings = config.stash[SETTINGS] = resolve(
        lambda name: config.getoption(name, None), config.getini, config.rootpath, loaded_by=_loaded_by(config)
    )
    endpoint = os.environ.get("HF_ENDPOINT")
    if settings.live is None and endpoint:  # a Hub mirror: its look-ups are the Hub's
        from urllib.parse import urlsplit

        from .guard import is_loopback
        from .routes import read_as_hub

        if not is_loopback(urlsplit(endpoint).hostname or "localhost"):  # a router double answers for itself
            mirror = read_as_hub(endpoint)
            if mirror is not None:
                config.stash[HUB_MIRROR] = mirror
    from . import scrub

    # Every output (cassettes, report, summary, terminal, messages) scrubs these values.
    scrub.register(scrub.environment_secrets(os.environ))
    from ._session import start

    config.stash[RUN] = start(config, settings, functools.partial(config.stash.get, ENGINE, None), acts_on)
    if settings.scenario_dirs:  # a bad scenario file is a usage error at start-up, not at collection
        _library(config)
    if settings.cassette_dir is not None and not settings.records and not settings.cassette_dir.is_dir():
        from ._notes import note_at_start

        note_at_start(
            config,
            f"the cassette dir {settings.cassette_dir} does not exist, so no test finds a default cassette there "
            "(a recording run makes it: --hfrouter-mode=record)",
        )
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
    if settings.live is None:  # a process a test starts is not replayed: refused the router and the Hub
        from . import _children
        from ._names import HUB_HOST, LEGACY_INFERENCE_HOST, ROUTER_HOST

        closed = {ROUTER_HOST, HUB_HOST, LEGACY_INFERENCE_HOST, config.stash.get(HUB_MIRROR, HUB_HOST)}
        _children.install(frozenset(closed), lambda: policy.active, config.stash[RUN].run_id)
    config.pluginmanager.register(TestHooks(config, settings, policy), "hfrouter-tests")


def pytest_report_header(config: pytest.Config) -> str:
    from .scrub import text

    own_live = (
        " (--live is this project's own option: the plugin's live mode is --hfrouter-mode=live)"
        if config.stash.get(OWN_LIVE, False)
        else ""
    )
    mirror = config.stash.get(HUB_MIRROR, None)
    hub = f" (HF_ENDPOINT: {mirror} is answered as the Hub)" if mirror else ""
    settings = config.stash[SETTINGS]
    endpoint = os.environ.get("HF_ENDPOINT")
    if not mirror and endpoint and settings.live is None:  # on loopback: a router double's, or a local Hub mirror's
        hub = (
            f" (HF_ENDPOINT: {endpoint} is on loopback, so huggingface_hub's look-ups go there, unread by the plugin "
            "and met by none of its Hub outages: a router double answers them; a local Hub mirror would fetch them "
            "from the network, so for one, unset HF_ENDPOINT in the tests)"
        )
    unused = ""
    if settings.live is None:  # the live modes' targets, given to a replay run (an audit: said nowhere)
        named = [
            f"--{n.replace('_', '-')}" for n in ("hfrouter_router_url", "hfrouter_hub_url") if config.getoption(n, None)
        ]
        unused = f" ({' and '.join(named)}: for the live and record modes; replay answers in process)" if named else ""
        if config.getoption("record_mode", None) not in (None, "none"):  # a CI command kept from pytest-recording
            unused += (
                " (--record-mode is pytest-recording's, for tests marked @pytest.mark.vcr: pytest-hfrouter records "
                "with --hfrouter-mode=record or rewrite)"
            )
    return text(f"hfrouter: {settings.describe(config.stash[RUN].chaos_seed)}{own_live}{hub}{unused}")


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
        names = (m.name for m in item.iter_markers())
        acts = item.stash[ACTS] = opted_in(names, getattr(item, "fixturenames", ()), SIGNATURES)
    return acts


def pytest_unconfigure(config: pytest.Config) -> None:
    make_engine = config.stash.get(MAKE_ENGINE, None)
    if make_engine is not None:
        from . import faces, guard, threads

        faces.uninstall(make_engine)
        guard.uninstall(config.stash[POLICY])
        if "pytest_hfrouter._children" in sys.modules:
            sys.modules["pytest_hfrouter._children"].uninstall()
        threads.uninstall()
        settings, engine = config.stash[SETTINGS], config.stash.get(ENGINE, None)
        acted = settings.scope.every_test or (engine is not None and engine.acted)
        if settings.live is None and acted:
            from ._names import HUB_HOSTS, LEGACY_INFERENCE_HOSTS, ROUTER_HOSTS

            guard.close_after_session(ROUTER_HOSTS | HUB_HOSTS | LEGACY_INFERENCE_HOSTS)
        else:
            guard.close_after_session(frozenset())
        if engine is not None and acted:  # the Hub answers it served must not reach the app after the run
            from .resets import reset_client_caches

            reset_client_caches(settings.resets)
        if HUB_MIRROR in config.stash:
            from .routes import forget_hub

            forget_hub(config.stash[HUB_MIRROR])
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


def _conftest_pytestmark(config: pytest.Config, items: list[pytest.Item]) -> str | None:
    """A conftest.py's ``pytestmark`` with a marker of the plugin's that no collected test carries: pytest reads
    ``pytestmark`` in test modules only (an audit: the suite ran on healthy answers, green, in silence). One a
    test module imports from a shared module, as the conftest did, is the test's (another audit)."""
    for path, conftest in _conftests(config):
        marks = getattr(conftest, "pytestmark", ())
        found = [getattr(m, "mark", m) for m in (marks if isinstance(marks, (list, tuple)) else [marks])]
        ours = [mark for mark in found if _ours(getattr(mark, "name", ""))]
        if ours and not any(mark is one for item in items for mark in item.iter_markers() for one in ours):
            name = getattr(ours[0], "name", "")
            return (
                f"{path} sets pytestmark with @pytest.mark.{name}, and pytest reads pytestmark in test "
                "modules only: no test gets it. Add it in that conftest's pytest_collection_modifyitems "
                "(item.add_marker(...)), or set pytestmark in the test modules"
            )
    return None


def _pytest_recording_settings(config: pytest.Config, items: list[pytest.Item]) -> str | None:
    """pytest-recording's cassette settings where a test without ``@pytest.mark.vcr`` would read them: the
    plugin reads neither (an audit: a migrated test ran on healthy answers, its cassette beside it). Looked for
    only where pytest-recording is loaded."""
    if not config.pluginmanager.hasplugin("recording"):
        return None
    marked = [i.nodeid for i in items if "default_cassette" in i.keywords and "vcr" not in i.keywords]
    if marked:
        return (
            f"{marked[0]} carries @pytest.mark.default_cassette, pytest-recording's, which pytest-hfrouter does not "
            'read: name the file with @pytest.mark.hfrouter_cassette("<file>") (a test with @pytest.mark.vcr '
            "stays vcrpy's)"
        )
    if not any("vcr" not in i.keywords for i in items):
        return None
    for path, conftest in _conftests(config):
        if hasattr(conftest, "vcr_cassette_dir"):
            return (
                f"{path} overrides pytest-recording's vcr_cassette_dir fixture, which pytest-hfrouter does not read: "
                "a test without @pytest.mark.vcr finds its cassettes under ini hfrouter_cassette_dir (or "
                "--hfrouter-cassette-dir), or names one with @pytest.mark.hfrouter_cassette"
            )
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # warnings: a run of some test modules only may not collect those that import a conftest's pytestmark
    for problem in (_conftest_pytestmark(config, items), _pytest_recording_settings(config, items)):
        if problem is not None:
            from ._notes import note
            from .errors import HFRouterWarning

            try:
                note(config, f"pytest-hfrouter: {problem}")
            except HFRouterWarning as exc:  # made an error by -W or filterwarnings
                raise pytest.UsageError(str(exc)) from None
    for item in items:  # `pytest.param(..., marks=...)`: the markers no walk of the function's saw (an audit)
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.marks:
            problem = _param_marks_problem(config, [mark for mark in callspec.marks if _ours(mark.name)])
            if problem is not None:
                raise pytest.UsageError(f"{item.nodeid}: {problem}")
    if config.stash[SETTINGS].live is not None:
        return
    # A skip marker, not pytest.skip() in setup: the skip report then points at the test,
    # not at this file.
    # where the project's conftest owns --live, the plugin's mode is --hfrouter-mode=live (an audit)
    flag = "--hfrouter-mode=live" if config.stash.get(OWN_LIVE, False) else "--live"
    skip = pytest.mark.skip(reason=f"needs the live router (hfrouter_live): run with {flag} and HF_TOKEN set")
    for item in items:
        # ``keywords`` holds every marker name of the item and its parents (and names that are no
        # markers): a look-up that rules most items out before the walk over their markers
        if LIVE_MARKER in item.keywords and item.get_closest_marker(LIVE_MARKER) is not None:
            item.add_marker(skip)


class TestHooks:
    """Each test's hooks, over the run's objects: registered at start-up (one per run, pytester's
    inner runs their own), they hold the settings, the guard's policy, the report and the
    engine as attributes. A look-up in the config's stash costs pytest three calls; a test's
    hooks made about twenty of them."""

    def __init__(self, config: pytest.Config, settings: Settings, policy: Policy) -> None:
        self.config, self.settings, self.policy = config, settings, policy
        self.run = config.stash.get(RUN, None)
        self._engine: Engine | None = None
        #: an ``hfrouter_outage`` marker's rule, parsed once per distinct marker in the run
        self._parsed: dict[tuple[object, ...], Rule] = {}
        #: the same rules by marker object (its id, and the marker kept alive so the id stays its
        #: own): a test's setup finds the rule its collection parsed without building the key again
        self._marked: dict[int, tuple[pytest.Mark, Rule]] = {}
        #: the test that runs now, from its setup to its teardown (one at a time in a process)
        self.item: pytest.Item | None = None
        self.running: Running | None = None
        #: a test the plugin does not act in (scope "marked"), and what `threads.begin` handed back
        self._plain: tuple[pytest.Item, tuple[str | None, int | None]] | None = None
        #: `_running.start`: an attribute, not a cached property, which pytest 8.0's scan of a plugin's
        #: attributes for fixtures would evaluate (and import) at load
        self._start: Callable[..., Running] | None = None

    def running_of(self, item: pytest.Item) -> Running | None:
        return self.running if item is self.item else None

    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = _engine(self.config)
        return self._engine

    def rule_of(self, mark: pytest.Mark) -> Rule:
        """The rule an ``hfrouter_outage`` marker stands for, parsed (and its provider noted) once per
        distinct marker in the run: at collection, where a wrong argument is a collection error."""
        known = self._marked.get(id(mark))
        if known is not None and known[0] is mark:
            return known[1]
        try:
            key = (mark.args, tuple(sorted(mark.kwargs.items())))
            hash(key)
        except TypeError:  # an unhashable argument: the parser will say what is wrong with it
            key = None
        template = self._parsed.get(key) if key is not None else None
        if template is None:
            from ._notes import note
            from .markers import outage_note, parse_outage

            template = parse_outage(mark.args, mark.kwargs, _library(self.config))
            note(self.config, outage_note(mark.kwargs))
            if key is not None:
                self._parsed[key] = template
        self._marked[id(mark)] = (mark, template)
        return template

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        """Validate the markers at collection and parametrize ``hfrouter_each_outage``."""
        node = metafunc.definition
        marks: dict[str, list[pytest.Mark]] = {}
        for mark in node.iter_markers():  # one walk up the tree, closest first
            if _ours(mark.name):
                marks.setdefault(mark.name, []).append(mark)
        if not marks:
            return
        config = metafunc.config
        unknown = _unknown_marker(marks)
        if unknown is not None:
            raise pytest.Collector.CollectError(f"{node.nodeid}: {unknown}")
        try:
            for name in (LIVE_MARKER, NO_CHAOS):  # they take nothing: an argument is a misunderstanding
                if any(mark.args or mark.kwargs for mark in marks.get(name, ())):
                    from .markers import MarkerError

                    raise MarkerError(name, "takes no arguments")
            for marker in marks.get(OUTAGE, ()):
                self.rule_of(marker)
            for marker in marks.get(CASSETTE, ()):
                from .markers import parse_cassette_paths

                parse_cassette_paths(marker.args, marker.kwargs)
            for marker in marks.get(RESILIENT, ()):
                from .markers import parse_resilient

                parse_resilient(marker.args, marker.kwargs)
            if EACH_OUTAGE in marks:
                from ._notes import note
                from .markers import MarkerError, outage_note, parse_each_outage

                each, *more = marks[EACH_OUTAGE]
                if more:  # one matrix per test: the others' cases would never run
                    raise MarkerError(
                        EACH_OUTAGE,
                        f"{len(more) + 1} of these markers apply to this test (on it, its class or its module), "
                        "and a test runs one matrix: the cases of all but the closest would never run. Put every "
                        "scenario in one marker, or give each provider's matrix a test of its own",
                    )
                plan = parse_each_outage(each.args, each.kwargs, _library(config))
                note(config, outage_note(each.kwargs))
                if SCENARIO_PARAM not in metafunc.fixturenames:
                    metafunc.fixturenames.append(SCENARIO_PARAM)
                metafunc.parametrize(SCENARIO_PARAM, plan.cases, ids=[case.id for case in plan.cases], indirect=True)
        except Exception as exc:
            from .errors import HFRouterWarning
            from .markers import MarkerError

            if isinstance(exc, HFRouterWarning):  # a note (a removed provider) a warnings filter made an error
                raise pytest.Collector.CollectError(
                    f"{node.nodeid}: {exc} (an HFRouterWarning, made an error by -W or filterwarnings)"
                ) from None
            if not isinstance(exc, MarkerError):
                raise
            raise pytest.Collector.CollectError(f"{node.nodeid}: {exc}") from None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        settings = self.settings
        first = item.stash.get(OWN_MARKERS, None)
        if first is None:
            item.stash[OWN_MARKERS] = len(item.own_markers)
        elif len(item.own_markers) > first:  # run again: the markers the last attempt's fixtures added are not its
            _forget_added_markers(item, first)
        marks = marks_of(item)
        if LIVE_MARKER in marks and settings.live is None:
            return  # skipped by its marker (pytest_collection_modifyitems)
        if not hasattr(item, "obj"):
            return  # not a test function (a generated probe)
        if not settings.scope.every_test and not acts_on(item):
            # scope "marked" and the test did not ask: its requests go out as without the plugin. The threads
            # it starts are still its own, and those its wider-scope fixtures start are shared: a module's
            # server first set up here serves the next test that asks, whose outages it meets.
            self._plain = (item, threads.begin(item.nodeid))
            return
        mocks = mock_libraries(item)
        if mocks and not marks and OPT_IN_FIXTURES.isdisjoint(item.fixturenames):  # type: ignore[attr-defined]
            self._step_aside(item)  # scope "all": a test of another mock library's that asks nothing of ours
            return
        if self._start is None:  # imported with the first test the plugin acts in (never by --collect-only)
            from ._running import start

            self._start = start
        running = self._start(item, settings, marks, self.engine(), self.run, self.policy, self.rule_of, mocks)
        self.item, self.running = item, running

    def _step_aside(self, item: pytest.Item) -> None:
        """Until its teardown, the plugin does not act, as in a test of scope "marked" that did not ask:
        the mock answers (or lets out) the test's requests, the guard is off, and no Hub answer cached
        by the plugin reaches the test, nor one cached by the mock the next test."""
        from ._notes import MOCKS_NOTE, note
        from .resets import reset_client_caches

        engine = self.engine()
        engine.every_test = self.policy.active = False
        reset_client_caches(self.settings.resets)
        engine.hub_answers_changed = True
        self.item = item
        note(self.config, MOCKS_NOTE, aside=True)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        running = self.running if item is self.item else None
        if running is None:
            if self.settings.scope.every_test:
                return (yield)
            self._refuse_late_markers(item)
            result = yield
            self._refuse_late_markers(item, in_body=True)
            return result
        if running.seen != marker_count(item):
            running.adopt(item, marks_of(item), self.rule_of)
        threads.set_up()
        try:
            with running.watch(item):
                result = yield
        except pytest.xfail.Exception:
            # ``pytest.xfail()`` after the app called: it pins a failure of the app's, as the marker does, and "never
            # happened" says the app was not put to the test (an audit: the imperative form absorbed it); before any
            # call the body stopped as a skip does, and chose its outcome
            running.check(item, passed=False, xfailed=True)
            raise
        except pytest.skip.Exception:
            running.check(item, passed=False, judge=False)  # the body chose its outcome: only a miss overrides it
            raise
        except KeyboardInterrupt:
            raise
        except BaseException:
            running.check(item, passed=False)
            raise
        caught: list[pytest.ExceptionInfo[BaseException]] | None = getattr(item, "_excinfo", None)
        if not caught:
            running.check(item, passed=True)
            return result
        # a unittest.TestCase whose body failed (or failed as expected): unittest caught it, and pytest reports
        # it from there, in place of what this hook raises (an audit: an xfail absorbed "never happened")
        try:
            running.check(item, passed=False, caught=caught[0].value)
        except BaseException as failure:
            caught[0] = pytest.ExceptionInfo.from_exception(failure)
            raise
        return result

    def _refuse_late_markers(self, item: pytest.Item, in_body: bool = False) -> None:
        """Scope "marked", a test the plugin does not act in: a marker of the plugin's on it or its parents
        now was added after the plugin decided (at setup, with its markers then): by a fixture (a class
        fixture's ``request.node`` is the class), or by the body (an audit: each passed, and its calls went out)."""
        late = [mark.name for mark in item.iter_markers() if mark.name.startswith("hfrouter_")]
        if late and hasattr(item, "obj") and LIVE_MARKER not in late:
            from ._running import late_marker_refused

            raise late_marker_refused(item, list(dict.fromkeys(late)), False, self.settings, in_body)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None, None, None]:
        # After the fixtures' teardown, and whether or not it raised: a fixture that fails its
        # teardown must not lose the test's calls (its record, the report, a recording)
        try:
            return (yield)
        finally:
            if self._plain is not None and self._plain[0] is item:
                threads.end(self._plain[1])
                self._plain = None
            if item is self.item:
                running = self.running
                # let go first: a finished test's traffic must not stay reachable from the run
                self.item = self.running = None
                if running is not None:
                    running.end(item)
                else:  # stepped aside (`_step_aside`, scope "all"): acting again
                    self.engine().every_test = self.policy.active = self.settings.scope.every_test


def _forget_added_markers(item: pytest.Item, first: int) -> None:
    """A test run again in the same session (pytest-rerunfailures, flaky, pytest-retry): the plugin's markers a
    fixture or the body added to it in an earlier attempt are dropped, so each attempt starts as the first did and
    its fixture adds them afresh (an audit: each rerun found one more copy, and the copies failed the test as
    outages that never happened)."""
    added = item.own_markers[first:]
    item.own_markers[first:] = [mark for mark in added if not _ours(mark.name)]


@pytest.fixture
def hfrouter(request: pytest.FixtureRequest) -> HFRouter:
    """The router as this test sees it: ``calls``, ``outage(...)``, ``assert_tried(...)``."""
    from .handle import HFRouter

    item = request.node
    _require_plugin(item.config, "hfrouter")
    settings = item.config.stash[SETTINGS]
    running = _hooks(item.config).running_of(item)
    if running is None:
        doctest = type(item).__name__ == "DoctestItem"  # no arguments, and no usefixtures after collection
        how = (
            "A doctest names no fixtures: load the plugin with -p hfrouter, set ini hfrouter_scope = all, or add an "
            "hfrouter marker to the doctest in a conftest's pytest_collection_modifyitems."
            if doctest
            else "Name the fixture in the test's arguments or in @pytest.mark.usefixtures('hfrouter'), or set ini "
            "hfrouter_scope = all."
        )
        pytest.fail(
            f"pytest-hfrouter: {item.nodeid} asked for the hfrouter fixture at run time (getfixturevalue), "
            f"but the plugin does not act in it ({settings.scope.describe()}). {how}",
            pytrace=False,
        )
    from ._checks import test_code
    from ._running import each_case, resilience

    resilient = resilience(running.marks)
    case = each_case(item)
    chain = resilient.chain if resilient is not None and resilient.chain is not None else settings.chain
    judged = settings.judges(resilient is not None)
    return HFRouter(
        running.exchange,
        _engine(item.config).library,
        case.scenario if case is not None else None,
        chain=chain,
        storm_limit=settings.retry_storm,
        test_code=test_code(item) if judged else None,
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
        # A stream from the double that the app stopped reading (an error event, a cut) stays open
        # while its error's traceback keeps it in a reference cycle. It belongs to httpcore's
        # connection pool, and its close takes the pool's lock: finalized by the cyclic collector
        # inside a later request, while the same thread holds that lock, it hangs the run for good
        # (the lock is not reentrant: https://github.com/encode/httpcore/issues/996). Collected now,
        # no lock is held. Only tests that use the double pay for it (about 10 ms).
        gc.collect()


@pytest.fixture
def hfrouter_scenario(request: pytest.FixtureRequest) -> str | None:
    """The scenario of this ``hfrouter_each_outage`` case, or ``None``."""
    case = getattr(request, "param", None)
    return getattr(case, "scenario", case)


def _ours(name: str) -> bool:
    """A marker name of the plugin's prefix, as written or nearly (``HFRouter_outage``, ``hf_router_outage``)."""
    return name.startswith("hfrouter_") or name[:9].lower().replace("_", "") == "hfrouter"


def _check_ini_keys(config: pytest.Config) -> None:
    """An ini key of the plugin's prefix that it does not know (``hfrouter_strcit``) would leave its setting at
    the default, pytest saying only "Unknown config option" (an audit: the test it meant to make strict passed).
    pytest's own list of the ini file's unknown keys is read (a private method, in pytest 8 and 9; without it,
    nothing is said: ``config.inicfg`` is deprecated, a warning that ``filterwarnings = error`` makes an error)."""
    unknown = getattr(config, "_get_unknown_ini_keys", None)
    try:
        keys = [key for key in unknown() if _ours(key)] if unknown is not None else []
    except Exception:
        return
    if keys:
        import difflib

        known = [name for name in getattr(config._parser, "_inidict", {}) if name.startswith("hfrouter_")]
        close = difflib.get_close_matches(keys[0].lower().replace("hf_router", "hfrouter"), known, n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise pytest.UsageError(f"{keys[0]} (ini) is no setting of pytest-hfrouter: as written it does nothing.{hint}")


def _unknown_marker(marks: dict[str, list[pytest.Mark]]) -> str | None:
    """A marker of the plugin's prefix that it does not know (a typo: ``hfrouter_outages``, ``HFRouter_outage``)
    would leave the test without its outage, green: what to say of it, or None."""
    for name in marks:
        if name not in SIGNATURES:
            import difflib

            close = difflib.get_close_matches(name.lower().replace("hf_router", "hfrouter"), SIGNATURES, n=1)
            hint = f"Did you mean @pytest.mark.{close[0]}? " if close else ""
            return (
                f"@pytest.mark.{name} is no marker of pytest-hfrouter: as written the test would run without it. "
                f"{hint}Its markers: {', '.join(SIGNATURES)}"
            )
    return None


def _param_marks_problem(config: pytest.Config, marks: list[pytest.Mark]) -> str | None:
    """What is wrong with the plugin's markers given to one ``pytest.param``, as the function's are checked."""
    if not marks:
        return None
    from .errors import HFRouterWarning
    from .markers import MarkerError, parse_cassette_paths, parse_resilient

    unknown = _unknown_marker({mark.name: [mark] for mark in marks})
    if unknown is not None:
        return unknown
    try:
        for mark in marks:
            if mark.name == EACH_OUTAGE:
                raise MarkerError(EACH_OUTAGE, "parametrizes the test itself, so it cannot be one case's mark: put it "
                                  "on the test")  # fmt: skip
            if mark.name in (LIVE_MARKER, NO_CHAOS) and (mark.args or mark.kwargs):
                raise MarkerError(mark.name, "takes no arguments")
            if mark.name == OUTAGE:
                _hooks(config).rule_of(mark)
            elif mark.name == CASSETTE:
                parse_cassette_paths(mark.args, mark.kwargs)
            elif mark.name == RESILIENT:
                parse_resilient(mark.args, mark.kwargs)
    except MarkerError as exc:
        return str(exc)
    except HFRouterWarning as exc:  # a note (a removed provider) a warnings filter made an error
        return f"{exc} (an HFRouterWarning, made an error by -W or filterwarnings)"
    return None


def _hooks(config: pytest.Config) -> TestHooks:
    hooks = config.pluginmanager.get_plugin("hfrouter-tests")
    assert isinstance(hooks, TestHooks)  # registered at start-up (`_require_plugin` checked it)
    return hooks


def _require_plugin(config: pytest.Config, fixture: str) -> None:
    """``-p no:hfrouter`` turns the plugin off, yet pytest keeps the fixtures it already saw."""
    if SETTINGS not in config.stash:
        pytest.fail(
            f"pytest-hfrouter is turned off in this run (-p no:hfrouter), and this test uses its {fixture!r} "
            "fixture: run it without -p no:hfrouter, or deselect it",
            pytrace=False,
        )
