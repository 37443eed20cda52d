"""The run's report: each test's part, the xdist merge, and what the controller makes of it.

Each test's part of the report (its live calls, drift, verdicts, expired recordings, probe
results) is folded in when the test ends. Under xdist a worker appends it, one JSON line per
test, to a spool file the controller named (``workerinput``), before it starts its next test;
the controller reads the spool when the session ends. A Ctrl-C or SIGTERM therefore loses
nothing a worker finished: an interrupted controller tears the workers down before their
``workeroutput`` arrives, and drops the test reports still queued from them, but a line on
disk stays. Requests made outside any test go the same way, at the worker's end.
The controller compares with the baseline, writes the report and the summaries, prints the
terminal section and sets the exit status (syrupy's pattern). Modules that only some runs
need (probes, verdicts, the engine) are imported when first used, so loading the plugin
stays cheap.

`start` registers this object and the run's other concerns, each a plugin with its own hooks
and only when the run needs it: the live probes (`_probe_run`) and orphans and SIGTERM
(`_run_hygiene`).
"""

from __future__ import annotations

import logging
import os
import random
import signal
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import scrub
from ._clock import REAL
from ._names import LIVE
from ._settings import Settings
from ._xdist import CHAOS_SEED_KEY, LEFT_KEY, RUN_ID_KEY, SHARED_KEY, WORKER_KEY, Spool, is_worker
from .errors import NOT_EXERCISED

if TYPE_CHECKING:  # the engine, probes and verdicts load with the first test that needs them
    from ._run_hygiene import SharedCassettes
    from .chaos import ChaosPlan, TestChaos
    from .engine import Engine
    from .library import Library
    from .report import Comparison, Report
    from .traffic import Exchange
    from .verdicts import Verdict

_WORST = {"failed": 3, "xpassed": 2, "passed": 0, "skipped": 1, "xfailed": 1}


def start(
    config: pytest.Config,
    settings: Settings,
    engine: Callable[[], Engine | None],
    acts_on: Callable[[pytest.Item], bool],
) -> RunSession:
    """The run's report, registered with the concerns this run has; ``engine`` gives the engine
    once it exists (a Ctrl-C or the session's end collects what it still holds); ``acts_on``
    tells the tests the plugin acts in (`plugin.acts_on`)."""
    run = RunSession(config, settings, engine, acts_on)
    config.pluginmanager.register(run, "hfrouter-run")
    if settings.mode == LIVE and settings.probes:
        from ._probe_run import ProbeItem, ProbeRun

        run.generated = (ProbeItem,)
        config.pluginmanager.register(ProbeRun(config, settings, run.add_probes), "hfrouter-probes")
    # A CI timeout sends SIGTERM: a run that writes something ends like Ctrl-C, so the report of
    # what completed is written. Only the controller, and only if nobody else took the signal.
    writes = settings.live is not None or settings.report is not None or settings.summary is not None
    sigterm = writes and not is_worker(config) and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    if settings.check_orphans or sigterm:
        from ._run_hygiene import RunHygiene

        config.pluginmanager.register(RunHygiene(config, settings, sigterm, run.generated), "hfrouter-hygiene")
    return run


class RunSession:
    """The report of one run (its part on a worker), the run id and the chaos seed workers share."""

    #: the run's report, made when first written to (`__getattr__`): a run that reports nothing never loads
    #: its module. Not a property: pytest 8.0 to 8.2 read every attribute of a plugin looking for fixtures,
    #: which made it (an audit: a run the plugin did nothing in then wrote its step summary and library cache)
    report: Report

    def __getattr__(self, name: str) -> Any:
        if name != "report":
            raise AttributeError(name)
        from .report import Report

        made = self.__dict__["report"] = Report(mode=self.settings.mode, started=self._started)
        return made

    @property
    def _reported(self) -> bool:
        """Whether anything was reported yet (the report made)."""
        return "report" in self.__dict__

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        engine: Callable[[], Engine | None],
        acts_on: Callable[[pytest.Item], bool],
    ) -> None:
        self.config = config
        self.settings = settings
        #: `coverage.traffic_record`, once a test has a record: an attribute, not a cached property, which
        #: pytest 8.0's scan of a plugin's attributes for fixtures would evaluate (and import) at load
        self._traffic_record: Callable[[Exchange], dict[str, Any]] | None = None
        self._engine = engine
        #: whether the plugin acts in a test (in scope "marked", one that did not ask keeps its output);
        #: in scope "all" every test, without asking three times a test
        self._acts_on = (lambda item: True) if settings.scope.every_test else acts_on
        #: the item types the plugin generates (probes): no test records of their own
        self.generated: tuple[type, ...] = ()
        self._started = REAL.wall()
        self.run_id = config.workerinput[RUN_ID_KEY] if is_worker(config) else uuid.uuid4().hex  # type: ignore[attr-defined]
        self.comparison: Comparison | None = None
        #: outputs the run could not write at its end: (what, path, why)
        self.unwritten: list[tuple[str, Path, str]] = []
        #: a chaos run's seed: the one given, else drawn once on the controller and handed to workers
        self.chaos_seed: int | None = None
        if settings.chaos:
            given = config.workerinput.get(CHAOS_SEED_KEY) if is_worker(config) else None  # type: ignore[attr-defined]
            self.chaos_seed = settings.chaos_seed if settings.chaos_seed is not None else given
            if self.chaos_seed is None:
                self.chaos_seed = random.SystemRandom().randrange(1 << 32)
            self.report.chaos = {
                "seed": self.chaos_seed,
                "rate": settings.chaos_rate,
                "scenarios": list(settings.chaos_scenarios),
            }
        self._chaos_plan: ChaosPlan | None = None
        #: per-test records for the coverage report: kept only when something will show them
        self.keeps_tests = bool(
            settings.report
            or settings.summary
            or settings.html
            or settings.chaos
            or os.environ.get("GITHUB_STEP_SUMMARY")
        )
        #: --setup-only, --setup-plan: no body runs, so no test has an outcome to record (an audit: every test was
        #: "passed", and a merge with a real run's report kept that)
        self._no_bodies = bool(config.option.setuponly or config.option.setupplan)
        if self._no_bodies and self.keeps_tests:
            self.report.incomplete.append(
                f"{'--setup-plan' if config.option.setupplan else '--setup-only'}: no test body ran, so no test is "
                "recorded"
            )
        #: the running tests' worst outcome so far, and what they did (`collect`, `add_verdicts`),
        #: until their last report makes them a record
        self._outcomes: dict[str, list[pytest.TestReport]] = {}
        self._pending: dict[str, dict[str, Any]] = {}
        #: scope "marked": the last test the plugin acted in (its warnings are recorded after its teardown)
        self._acted: str | None = None
        option = config.option
        #: whether a passing test's output or ``record_property`` values are shown (``-rP``, ``-rA``) or written
        #: (JUnit XML, ``--report-log``, pytest-html): scrubbing what no one shows costs chatty tests dear (a
        #: regression audit: 300 tests printing 2,000 lines each took three times as long)
        self.shows_passed = bool(
            {"P", "A"} & set(str(getattr(option, "reportchars", "") or ""))
            or getattr(option, "xmlpath", None)
            or getattr(option, "report_log", None)
            or getattr(option, "htmlpath", None)
        )
        #: the run's outage coverage matrix (controller, once the session finished)
        self.coverage: dict[str, Any] | None = None
        self._harvester: Any = None
        #: the chaos each test runs under, until its last report
        self._chaos: dict[str, TestChaos] = {}
        #: the running test's part of the report, folded in (or spooled) when it ends, and those of
        #: its entries that were scrubbed as they were made (`_record`)
        self._part: dict[str, list[dict[str, Any]]] = {}
        #: whether any test's part was made (a worker that made none sends the controller no catalog)
        self._parts = False
        self._clean: list[dict[str, Any]] = []
        #: xdist: the workers' parts on their way to the controller
        self._spool = Spool.of(config)
        #: the cassettes the tests of a module or class share (`note_shared`), and the modules some of whose tests
        #: the run left out (``-k``, ``-m``, ``--deselect``, ``--lf``)
        self._shared: SharedCassettes | None = None
        self._partial: set[str] = set()
        self._deselected: list[pytest.Item] = []
        #: replay: default cassettes left behind by a test renamed or moved, and the tests that may be theirs
        self._left: dict[str, list[str]] = {}

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self._spool.remove()  # the workers are down by now (xdist's sessionfinish)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self._partial.update(str(item.path) for item in items)  # resolved at the end, once each
        self._deselected.extend(items)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Replay: the files of a collected module's cassette folder named for none of its tests, beside tests
        with no cassette (`cassette_paths.left_behind`); said at the end (under xdist by the controller)."""
        deselected, self._deselected = self._deselected, []
        if self.settings.records or self.settings.live is not None or not session.items:
            return
        from .cassette_paths import left_behind

        here = self.config.invocation_params.dir
        named = {(here / arg.split("::", 1)[0]).resolve() for arg in self.config.args if "::" in arg}
        items = [item for item in session.items if not isinstance(item, self.generated)]
        found = left_behind(items, deselected, self.settings.cassette_dir, named, self._acts_on)
        self._left = {str(path): nodeids for path, nodeids in found}

    def note_shared(self, module: Path, shared: list[tuple[Path, str, bool]]) -> None:
        """Replay: what a test did with the cassettes its module or class shares (`SharedCassettes`)."""
        self._shared_cassettes().note(module, shared)

    def _shared_cassettes(self) -> SharedCassettes:
        if self._shared is None:  # made (and its module loaded) by the first test that had a shared cassette
            from ._run_hygiene import SharedCassettes

            self._shared = SharedCassettes(self.config, self.settings)
        return self._shared

    # -- per test -----------------------------------------------------------------------
    def _add(self, key: str, entries: list[dict[str, Any]]) -> None:
        if entries:
            self._part.setdefault(key, []).extend(entries)

    def add_verdicts(self, nodeid: str, verdicts: list[Verdict]) -> None:
        entries = [{"test": nodeid, **verdict.to_dict()} for verdict in verdicts]
        self._add("verdicts", entries)
        if self.keeps_tests:
            pending = self._pending.setdefault(nodeid, {})
            pending["verdicts"] = (*pending.get("verdicts", ()), *(verdict.to_dict() for verdict in verdicts))

    def add_probes(self, results: list[dict[str, Any]]) -> None:
        self._add("probes", results)

    def chaos_for(self, nodeid: str, library: Library) -> TestChaos | None:
        """The chaos this test runs under (a chaos run), drawn from the run's seed; else None."""
        if self.chaos_seed is None:
            return None
        if self._chaos_plan is None:
            from .chaos import ChaosPlan

            self._chaos_plan = ChaosPlan.build(
                library, self.chaos_seed, self.settings.chaos_rate, self.settings.chaos_scenarios
            )
        chaos = self._chaos[nodeid] = self._chaos_plan.for_test(nodeid)
        return chaos

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        """A test's outcome for its record, and its part of the report ended with its teardown
        report (`_end_part`); what any output may show of it — its traceback, captured output and
        logs (an app's or httpx's log line with the URL), its ``record_property`` values — goes through
        the scrubber, a passing test's too where it is shown or written (``-rP``, JUnit XML, ``--report-log``,
        pytest-html) or may become a failure later (pytest's subtests)."""
        report: pytest.TestReport = yield
        if hasattr(report, "wasxfail") and call.excinfo is not None and hasattr(call.excinfo.value, NOT_EXERCISED):
            report.outcome = "failed"  # an xfail pins the app's failure, not one that says nothing was tested
            del report.wasxfail
        when, passed = report.when, report.outcome == "passed"
        acts = self._acts_on(item)  # in scope "marked", a test that did not ask is no record's, and keeps its output
        # A passing setup or call report notes nothing (`_note_outcome`), unless chaos or an xfail has a say.
        if (
            self.keeps_tests
            and acts
            and not self._no_bodies
            and (when == "teardown" or not passed or self._chaos or hasattr(report, "wasxfail"))
            and not isinstance(item, self.generated)
        ):
            self._note_outcome(item.nodeid, report)
        if when == "teardown":
            self._end_part()
        if acts and (
            not passed
            or (
                (report.sections or report.user_properties)
                # pytest's subtests may turn a passing report into a failure after this hook
                and (self.shows_passed or "subtests" in getattr(item, "fixturenames", ()))
            )
        ):
            report.longrepr = scrub.deep(report.longrepr)  # in place: the terminal's layout and summary stay
            report.sections = scrub.deep(report.sections)
            report.user_properties = scrub.deep(report.user_properties)
        if acts and when == "teardown" and not self.settings.scope.every_test:
            self._acted = item.nodeid
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """A subtest's report (pytest's ``subtests``) gets its captured output after the report hook
        ran: scrubbed before any output takes it (an audit: a failing subtest showed the app's token)."""
        if report.sections and type(report).__name__ == "SubtestReport" and self._acting():
            report.sections = scrub.deep(report.sections)

    def _acting(self) -> bool:
        """Whether the plugin acts in the test running now (scope "all": in every test)."""
        if self.settings.scope.every_test:
            return True
        engine = self._engine()
        return engine is not None and engine.exchange is not None

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector: pytest.Collector) -> Any:
        """A collection error (an app that fails at import) shows its exception: scrubbed too, where
        the plugin acts in every test (in scope "marked", what is no test's stays as it was)."""
        report: pytest.CollectReport = yield
        if report.failed and self.settings.scope.every_test:
            report.longrepr = scrub.deep(report.longrepr)
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_warning_recorded(self, warning_message: Any, nodeid: str) -> None:
        """A warning's text, before the terminal's summary or JUnit XML take it: every warning in scope
        "all"; in scope "marked", a test's the plugin acted in (recorded after its teardown)."""
        if not self.settings.scope.every_test and (not nodeid or nodeid != self._acted):
            return
        warning = warning_message.message
        if isinstance(warning, Warning) and warning.args and isinstance(warning.args[0], str):
            clean = scrub.text(warning.args[0])
            if clean != warning.args[0]:
                warning.args = (clean, *warning.args[1:])
        if warning_message.line is None and warning_message.filename:  # the source line it shows
            import linecache

            line = linecache.getline(warning_message.filename, warning_message.lineno)
            clean = scrub.text(line)
            if clean != line:
                warning_message.line = clean

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Live logs (``log_cli``) and ``--log-file`` go to the terminal and to files as they are
        written, not through a report: their handlers' formatters scrub each line written while the
        plugin acts (scope "all": every line; "marked": a line of a test that asked, an audit found them
        shown in clear)."""
        logging_plugin = self.config.pluginmanager.get_plugin("logging-plugin")
        for name in ("log_cli_handler", "log_file_handler"):
            handler = getattr(logging_plugin, name, None)
            if getattr(handler, "baseFilename", None) == os.devnull:
                continue  # no --log-file: pytest formats its lines for nothing, and nothing is scrubbed
            if isinstance(handler, logging.Handler) and handler.formatter is not None:
                handler.setFormatter(_Scrubbing(handler.formatter, self._acting))

    def _note_outcome(self, nodeid: str, report: pytest.TestReport) -> None:
        when = report.when
        if self._chaos:
            chaos = self._chaos.get(nodeid)
            if report.failed and when == "call" and chaos is not None and chaos.injected:
                report.sections.append(("hfrouter chaos", _chaos_section(self.chaos_seed, chaos)))
            if when == "teardown":
                self._chaos.pop(nodeid, None)
        if when != "teardown":
            if report.passed and not hasattr(report, "wasxfail"):
                return  # the least an outcome can be: nothing to note until the last report
            # read at the test's end: a plugin that runs the call again inside its report hook (pytest-retry)
            # gives this report the last attempt's outcome after it (an audit: a test it rescued was "failed")
            self._outcomes.setdefault(nodeid, []).append(report)
            return
        worst = _outcome(report)
        for earlier in self._outcomes.pop(nodeid, ()):
            outcome = _outcome(earlier)
            if _WORST.get(outcome, _WORST["failed"]) > _WORST.get(worst, _WORST["failed"]):
                worst = outcome
        record, clean = _record(nodeid, worst, self._pending.pop(nodeid, None))
        self._add("tests", [record])
        if clean:
            self._clean.append(record)

    def attempt(self, nodeid: str) -> None:
        """A test begins: a part of it still open is an earlier attempt's, which a plugin ended without its
        teardown report (pytest-retry runs teardown, setup and call again inside the report hook): its traffic
        and verdicts are dropped, as a rerun's are (`Report.merge_payload`)."""
        if nodeid in self._pending or self._part.get("verdicts"):
            self._pending.pop(nodeid, None)
            verdicts = self._part.get("verdicts")
            if verdicts:
                self._part["verdicts"] = [entry for entry in verdicts if entry["test"] != nodeid]

    def add_recorded(
        self, nodeid: str, cassette: Path, written: int, failed: int, lost: int, named: bool, error: str | None = None
    ) -> None:
        """Record modes: a test wrote ``written`` interactions (``failed`` of them failures) into
        ``cassette`` (``named``: by its marker, else its default), and left out ``lost`` calls that
        had no complete response; ``error``: the cassette could not be written (the OS's reason)."""
        entry: dict[str, Any] = {"test": nodeid, "cassette": str(cassette), "written": written, "failed": failed}
        entry["lost"], entry["named"] = lost, named
        if error is not None:
            entry["error"] = error
        self._add("recorded", [entry])

    def add_expired(self, nodeid: str, old: list[tuple[Path, float | str]]) -> None:
        entries = [
            {"test": nodeid, "cassette": str(path), "age_days": round(days, 1)}
            if isinstance(days, float)
            else {"test": nodeid, "cassette": str(path), "age_days": None, "undated": days}
            for path, days in old
        ]
        self._add("expired", entries)

    def collect(self, nodeid: str, exchange: Exchange) -> None:
        if exchange.live:
            self._add("calls", [{"test": nodeid, **call.to_dict()} for call in exchange.live])
        if exchange.drift:
            self._add("drift", [{"test": nodeid, **drift.to_dict()} for drift in exchange.drift])
        if exchange.failures and self.settings.live is not None and self.settings.harvest_dir is not None:
            self._harvest(nodeid, exchange)
        if self.keeps_tests and not self._no_bodies:
            pending = self._pending.setdefault(nodeid, {})
            if self._traffic_record is None:  # imported with the first test's record, not at load
                from .coverage import traffic_record

                self._traffic_record = traffic_record
            pending.update(self._traffic_record(exchange))
            if exchange.chaos is not None:
                pending["chaos"] = tuple(injection.to_dict() for injection in exchange.chaos.injected)
                pending["reproduce"] = tuple(exchange.chaos.reproduction())

    def _harvest(self, nodeid: str, exchange: Exchange) -> None:
        """Live failures: known ones count as seen in the wild, unknown shapes become candidates."""
        from .harvest import Harvester
        from .report import versions

        if self._harvester is None:
            engine = self._engine()
            assert engine is not None and self.settings.live is not None and self.settings.harvest_dir is not None
            library = engine.library
            self._harvester = Harvester(library, self.settings.harvest_dir, (self.settings.live.token,))
        client = {k: v for k, v in versions().items() if k in ("huggingface_hub", "openai", "httpx", "requests")}
        for request, route, provider, model, observed in exchange.failures:
            finding = self._harvester.harvest(request, route, provider, model, observed, client)
            if finding is not None:
                self._add("harvest", [{"test": nodeid, "line": finding.line(), **finding.to_dict()}])
        exchange.failures.clear()

    def _end_part(self) -> None:
        """The test is over: its part joins the report (a worker: the spool, before its next test)."""
        part, self._part = self._part, {}
        clean, self._clean = self._clean, []
        if not part:
            return
        self._parts = True
        if self._spool.file is None:
            self.report.merge_payload(part)
            self.report.made_clean(clean, scrub.current())
        else:
            self._spool.append(scrub.payload(part, clean))  # on disk: scrubbed like the report

    def _collect_interrupted(self) -> None:
        """A Ctrl-C or SIGTERM skips the running test's teardown: keep the live calls it completed."""
        engine = self._engine()
        if engine is not None and engine.exchange is not None and engine.test is not None:
            exchange, test = engine.exchange, engine.test
            if self.settings.records and exchange.recorded:  # an audit: they vanished without a word
                self.add_recorded(
                    test,
                    exchange.cassettes[0].path if exchange.cassettes else self._default_cassette(test),
                    0,
                    0,
                    0,
                    named=bool(exchange.cassettes),
                    error=f"the run was interrupted while its test ran: its {len(exchange.recorded)} recorded "
                    "call(s) were not written",
                )
            self.collect(test, exchange)
            engine.end()
        self._end_part()

    def _default_cassette(self, nodeid: str) -> Path:
        """The default cassette of a test known by its node id only (``path::Class::name``)."""
        from .cassette_paths import default_cassette

        parts = nodeid.split("::")
        return default_cassette(
            self.config.rootpath / parts[0], parts[1] if len(parts) > 2 else None, parts[-1], self.settings.cassette_dir
        )

    def _collect_outside_tests(self) -> None:
        """Requests refused or unanswered outside any test: they fail the session, not a test."""
        engine = self._engine()
        if engine is None:
            return
        # Through the part, so that a worker's go to the spool like a test's (and outlive a Ctrl-C).
        self._add(
            "outside_tests",
            [
                {"request": f"{miss.request.method} {miss.request.url}", "problem": miss.reason}
                for miss in engine.session.misses
            ],
        )
        engine.session.misses.clear()
        self._end_part()

    # -- xdist ---------------------------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[RUN_ID_KEY] = self.run_id
        self._spool.hand_to(node.workerinput)
        node.workerinput[CHAOS_SEED_KEY] = self.chaos_seed

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        payload = getattr(node, "workeroutput", {}).get(WORKER_KEY)
        # the per-test parts came through the spool; this is the rest (a worker the plugin did nothing
        # in sends only that it was not interrupted: the report is not made for it)
        if payload and (payload.get("interrupted") or payload.get("scenarios")):
            self.report.interrupted = self.report.interrupted or bool(payload.get("interrupted"))
            self.report.scenarios = self.report.scenarios or payload.get("scenarios") or {}
        shared = getattr(node, "workeroutput", {}).get(SHARED_KEY)
        if shared:
            self._shared_cassettes().merge(shared, self._partial)
        self._left.update(getattr(node, "workeroutput", {}).get(LEFT_KEY) or {})  # each worker collected them all

    @pytest.hookimpl(optionalhook=True)
    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        """xdist, on the controller: the worker running ``crashitem`` died (a segfault, ``os._exit``, an
        OOM kill) before its part of the report reached the spool. An audit: the test was in no report,
        whose summary then said every test passed. Its record says failed, with no calls."""
        if not self.keeps_tests:
            return
        self.report.incomplete.append(
            f"the xdist worker running {scrub.text(crashitem)} crashed: its calls, and the outages it met, are "
            "not in this report"
        )
        record, _ = _record(crashitem, "failed", None)
        self.report.merge_payload({"tests": [record]})

    def _library(self) -> Library | None:
        """The run's scenario library (the user's with the shipped), if a test of this process ran."""
        engine = self._engine()  # an xdist controller's engine, made for a refused call, never acted
        return engine.library if engine is not None and engine.acted else None

    # -- the end ---------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
        if interrupted:
            self._collect_interrupted()
        self._collect_outside_tests()
        if is_worker(self.config):
            self._spool.close()
            if self._shared is not None:
                self._shared.count(session.items)
                self.config.workeroutput[SHARED_KEY] = self._shared.payload(self._partial)  # type: ignore[attr-defined]
            if self._left:
                self.config.workeroutput[LEFT_KEY] = self._left  # type: ignore[attr-defined]
            rest: dict[str, Any] = {"interrupted": interrupted}
            if self.keeps_tests and self._parts:
                from .coverage import loaded_catalog

                # the controller need not load the library for it
                rest["scenarios"] = loaded_catalog(self._library())
            self.config.workeroutput[WORKER_KEY] = rest  # type: ignore[attr-defined]
            return
        for part in self._spool.parts():
            self.report.merge_payload(part, scrubbed=True)
        self._pending.clear()  # an interrupted test's record has no outcome: it is left out
        self._outcomes.clear()
        if self._shared is not None and not interrupted:
            self._shared.finish(session, self._partial)
        step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
        settings = self.settings
        outputs = (settings.baseline, settings.report, settings.summary, settings.html, settings.live)
        if not self._reported and not any(outputs):
            # nothing was reported and nothing is asked for (GitHub's step summary is there in every job:
            # it gets a section only from a run the plugin did something in): the report module is never loaded
            return
        self.report.finished = REAL.wall()
        self.report.interrupted = interrupted
        stopped = session.shouldfail or session.shouldstop
        if stopped and not interrupted and self.keeps_tests:  # -x, --maxfail (an audit: nothing said so)
            self.report.incomplete.append(
                f"the run stopped early ({stopped}): tests after that did not run, so a gap below may be a test "
                "that did not run"
            )
        from .report import write_outputs

        self.comparison, self.coverage = write_outputs(
            self.report,
            self.keeps_tests,
            baseline=self.settings.baseline,
            json_path=self.settings.report,
            summary=self.settings.summary,
            step_summary=Path(step_summary) if step_summary else None,
            html=self.settings.html,
            live=self.settings.live is not None,
            library=self._library(),
            unwritten=self.unwritten,
        )
        failed = (
            bool(self.comparison and self.comparison.regressions)
            or (self.settings.fail_on_drift and bool(self.report.drift))
            or bool(self.report.outside_tests)
            # an output the run was asked for and could not write (CI's step summary is not asked for)
            or any(what != "GITHUB_STEP_SUMMARY" for what, _, _ in self.unwritten)
        )
        if failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if is_worker(self.config):
            return
        if self._shared is not None:
            self._shared.summary(terminalreporter)
        if self._left:
            from ._run_hygiene import left_behind_summary

            left_behind_summary(terminalreporter, self._left, self.config)
        for what, path, why in self.unwritten:
            fails = "" if what == "GITHUB_STEP_SUMMARY" else " (the run fails for it)"
            if what != "GITHUB_STEP_SUMMARY" and path.exists():  # an audit: CI would publish it as this run's
                fails += f"; the file at {path} is an earlier run's"
            terminalreporter.write_line(
                f"pytest-hfrouter: could not write {what} to {path}: {why}{fails}; name a file you can write to",
                red=True,
                bold=True,
            )
        if not self._reported and not self.settings.chaos:
            return  # nothing was reported
        r = self.report
        shown = (r.calls, r.probes, r.drift, r.harvest, r.verdicts, r.expired, r.outside_tests, self.comparison)
        replay_baseline = self.settings.baseline is not None and self.settings.live is None  # said: not compared
        if not any(shown) and not self.settings.chaos and not self.settings.records and not replay_baseline:
            return  # no section has anything to say (and their module stays unloaded)
        from ._summary import write_summary

        write_summary(terminalreporter, self.report, self.settings, self.comparison, self.coverage, self.chaos_seed)


class _Scrubbing(logging.Formatter):
    """A log handler's formatter whose lines go through the scrubber."""

    def __init__(self, formatter: logging.Formatter, acting: Callable[[], bool]) -> None:
        super().__init__()
        self.formatter, self.acting = formatter, acting

    def format(self, record: logging.LogRecord) -> str:
        line = self.formatter.format(record)
        return scrub.text(line) if self.acting() else line


def _chaos_section(seed: int | None, chaos: Any) -> str:
    from .chaos import describe

    lines = [f"chaos (seed {seed}) injected into this test:"]
    lines += [f"  {describe(injection.to_dict())}" for injection in chaos.injected]
    lines.append("reproduce it without chaos (add above the test, in this order: the lowest meets the first call):")
    lines += [f"  {line}" for line in chaos.reproduction()]
    return "\n".join(lines)


_NOTHING: dict[str, Any] = {}


def _outcome(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    return report.outcome


def _record(nodeid: str, outcome: str, pending: dict[str, Any] | None) -> tuple[dict[str, Any], bool]:
    """A finished test's record for the coverage report, made once, at its last report; and whether
    it is clean: scrubbed as it was made (its traffic by `coverage.traffic_record`, its test id
    here), so that writing the report walks none of it again. Verdicts and chaos are not (a
    failing or chaos test's record is scrubbed when the report is written).

    Its sequences are tuples (written the same as JSON lists). A run keeps every test's record until
    the report is written. Lists stay in the cyclic garbage collector's books; tuples of strings,
    numbers and flat dicts leave them at its next pass. So the run keeps one tracked object per test
    instead of seven, and 1,000 tests no longer cost a full collection of the whole process more
    than they would without the report.
    """
    done = pending or _NOTHING
    verdicts = done.get("verdicts", ())
    record = {
        "test": scrub.current().once(nodeid),
        "outcome": outcome,
        "scenarios": done.get("scenarios", ()),
        "met": done.get("met", ()),
        "calls": done.get("calls", ()),
        "verdicts": verdicts,
    }
    if "chaos" in done:
        record["chaos"], record["reproduce"] = done["chaos"], done["reproduce"]
        return record, False
    return record, not verdicts
