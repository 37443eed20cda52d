"""Run-level hooks: the report, probes, baseline, drift and the xdist hand-off.

Each test's part of the report (its live calls, drift, verdicts, expired recordings, probe
results) is folded in when the test ends. Under xdist a worker appends it, one JSON line per
test, to a spool file the controller named (``workerinput``), before it starts its next test;
the controller reads the spool when the session ends. A Ctrl-C or SIGTERM therefore loses
nothing a worker finished: an interrupted controller tears the workers down before their
``workeroutput`` arrives, and drops the test reports still queued from them, but a line on
disk stays. Requests made outside any test go the same way, at the worker's end. What is only
needed when a worker ends normally (cassettes used, for orphans) travels by ``workeroutput``.
The controller compares with the baseline, writes the report and the summaries, prints the
terminal section and sets the exit status (syrupy's pattern). Modules that only some runs
need (probes, verdicts, the engine) are imported when first used, so loading the plugin
stays cheap.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import scrub
from ._names import LIVE
from ._settings import Settings
from .report import Comparison, Report, compare, harvest_lines, markdown, pair_states

if TYPE_CHECKING:  # the engine, probes and verdicts load with the first test that needs them
    from .chaos import ChaosPlan
    from .library import Library
    from .probes import Probe, ProbeResult
    from .traffic import Exchange
    from .verdicts import Verdict

WORKER_KEY = "hfrouter_report"
SESSION_ITEMS: pytest.StashKey[frozenset[pytest.Item]] = pytest.StashKey()
RUN_ID_KEY = "hfrouter_run_id"
SPOOL_KEY = "hfrouter_spool"
CHAOS_SEED_KEY = "hfrouter_chaos_seed"
_WORST = {"failed": 3, "xpassed": 2, "passed": 0, "skipped": 1, "xfailed": 1}


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


class ProbeFailed(Exception):
    pass


class ProbeGroup(pytest.Collector):
    """The parent of the generated probe tests (node ids ``hfrouter::probe[...]``)."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []


class ProbeItem(pytest.Item):
    """One generated probe test (live mode, ini ``hfrouter_probes``)."""

    probe: Probe
    run: RunSession

    def runtest(self) -> None:
        result = self.run.probe_result(self.probe)
        if result.outcome in ("removed", "over-budget"):
            # Reported at the probe (reportinfo), not at this line of the plugin's source.
            raise pytest.skip.Exception(scrub.text(result.error or result.outcome), _use_item_location=True)
        if result.outcome != "ok":
            raise ProbeFailed(
                f"{self.probe.name}: {result.error} (status {result.status}, request id {result.request_id})"
            )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, ProbeFailed):
            return scrub.text(f"probe failed: {excinfo.value}")
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[str, int, str]:
        return "hfrouter probe", 0, self.name


class RunSession:
    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.report = Report(mode=settings.mode, started=time.time())
        self.run_id = config.workerinput[RUN_ID_KEY] if is_worker(config) else uuid.uuid4().hex  # type: ignore[attr-defined]
        self.comparison: Comparison | None = None
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
        self._pending: dict[str, dict[str, Any]] = {}
        #: the run's outage coverage matrix (controller, once the session finished)
        self.coverage: dict[str, Any] | None = None
        self._probe_items: list[ProbeItem] = []
        self._results: dict[Probe, ProbeResult] = {}
        # The request budget is the run's: under xdist each worker gets its share.
        workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
        self._budget_left = settings.probe_budget // max(1, workers)
        self._budget: Any = None
        self._harvester: Any = None
        #: cassette paths the collected tests use, and the folders that hold them (orphans)
        self.used: set[str] = set()
        self.roots: set[str] = set()
        self.orphans: list[Path] = []
        #: the node id of the test running now (a Ctrl-C or SIGTERM skips its teardown)
        self._running: str | None = None
        #: the running test's part of the report, folded in (or spooled) when it ends
        self._part: dict[str, list[dict[str, Any]]] = {}
        #: xdist: the folder of the workers' spool files (the controller's), or this worker's file
        self._spool: str | None = None
        self._spool_file: Path | None = None
        if is_worker(config) and config.workerinput.get(SPOOL_KEY):  # type: ignore[attr-defined]
            worker = config.workerinput.get("workerid", "gw")  # type: ignore[attr-defined]
            self._spool_file = Path(config.workerinput[SPOOL_KEY]) / f"{worker}.jsonl"  # type: ignore[attr-defined]
        self._handles_sigterm = False
        writes = settings.live is not None or settings.report is not None or settings.summary is not None
        if writes and not is_worker(config) and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            # A CI timeout sends SIGTERM: end like Ctrl-C, so the report of what completed is written.
            signal.signal(signal.SIGTERM, _interrupt)
            self._handles_sigterm = True

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self._handles_sigterm:  # hand the signal back (a pytest run inside a process that goes on)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if self._spool is not None:  # the workers are down by now (xdist's sessionfinish)
            shutil.rmtree(self._spool, ignore_errors=True)

    # -- per test -----------------------------------------------------------------------
    def _add(self, key: str, entries: list[dict[str, Any]]) -> None:
        if entries:
            self._part.setdefault(key, []).extend(entries)

    def add_verdicts(self, nodeid: str, verdicts: list[Verdict]) -> None:
        entries = [{"test": nodeid, **verdict.to_dict()} for verdict in verdicts]
        self._add("verdicts", entries)
        if self.keeps_tests:
            self._record(nodeid)["verdicts"] += [{k: v for k, v in e.items() if k != "test"} for e in entries]

    def chaos_plan(self, library: Library) -> ChaosPlan | None:
        if self.chaos_seed is None:
            return None
        if self._chaos_plan is None:
            from .chaos import ChaosPlan

            self._chaos_plan = ChaosPlan.build(
                library, self.chaos_seed, self.settings.chaos_rate, self.settings.chaos_scenarios
            )
        return self._chaos_plan

    def _record(self, nodeid: str) -> dict[str, Any]:
        record = self._pending.get(nodeid)
        if record is None:
            record = self._pending[nodeid] = {
                "test": nodeid,
                "outcome": None,
                "scenarios": [],
                "met": [],
                "calls": [],
                "verdicts": [],
            }
        return record

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        if not self.keeps_tests or isinstance(item, ProbeItem):
            return report
        record = self._record(item.nodeid)
        outcome = _outcome(report)
        if record["outcome"] is None or _WORST[outcome] > _WORST[record["outcome"]]:
            record["outcome"] = outcome
        if report.failed and report.when == "call":
            from .plugin import EXCHANGE

            exchange = item.stash.get(EXCHANGE, None)
            if exchange is not None and exchange.chaos is not None and exchange.chaos.injected:
                report.sections.append(("hfrouter chaos", _chaos_section(self.chaos_seed, exchange.chaos)))
        if report.when == "teardown":
            self._add("tests", [self._pending.pop(item.nodeid)])
        return report

    def add_expired(self, nodeid: str, old: list[tuple[Path, float]]) -> None:
        entries = [{"test": nodeid, "cassette": str(path), "age_days": round(days, 1)} for path, days in old]
        self._add("expired", entries)

    def collect(self, nodeid: str, exchange: Exchange) -> None:
        self._add("calls", [{"test": nodeid, **call.to_dict()} for call in exchange.live])
        self._add("drift", [{"test": nodeid, **drift.to_dict()} for drift in exchange.drift])
        if exchange.failures and self.settings.live is not None and self.settings.harvest_dir is not None:
            self._harvest(nodeid, exchange)
        if self.keeps_tests:
            from .coverage import test_record

            record = self._record(nodeid)
            fresh = test_record(nodeid, exchange)
            record.update({k: v for k, v in fresh.items() if k not in ("outcome", "verdicts")})
            if exchange.chaos is not None:
                record["chaos"] = [injection.to_dict() for injection in exchange.chaos.injected]
                record["reproduce"] = exchange.chaos.reproduction()

    def _harvest(self, nodeid: str, exchange: Exchange) -> None:
        """Live failures: known ones count as seen in the wild, unknown shapes become candidates."""
        from .harvest import Harvester
        from .report import versions

        if self._harvester is None:
            from .plugin import ENGINE

            assert self.settings.live is not None and self.settings.harvest_dir is not None
            library = self.config.stash[ENGINE].library
            self._harvester = Harvester(library, self.settings.harvest_dir, (self.settings.live.token,))
        client = {k: v for k, v in versions().items() if k in ("huggingface_hub", "openai", "httpx", "requests")}
        for request, route, provider, model, observed in exchange.failures:
            finding = self._harvester.harvest(request, route, provider, model, observed, client)
            if finding is not None:
                self._add("harvest", [{"test": nodeid, "line": finding.line(), **finding.to_dict()}])
        exchange.failures.clear()

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self._running = nodeid

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        self._end_part()
        self._running = None

    def _end_part(self) -> None:
        """The test is over: its part joins the report (a worker: the spool, before its next test)."""
        part, self._part = self._part, {}
        if not part:
            return
        if self._spool_file is None:
            self.report.merge_payload(part)
            return
        line = json.dumps(scrub.payload(part), separators=(",", ":")) + "\n"  # on disk: scrubbed like the report
        # One write of one line, appended: a reader sees whole lines, or a last one cut short.
        with contextlib.suppress(OSError), self._spool_file.open("a", encoding="utf-8") as out:
            out.write(line)

    def _collect_interrupted(self) -> None:
        """A Ctrl-C or SIGTERM skips the running test's teardown: keep the live calls it completed."""
        from .plugin import ENGINE

        engine = self.config.stash.get(ENGINE, None)
        if engine is not None and engine.exchange is not None and self._running is not None:
            self.collect(self._running, engine.exchange)
            engine.end()
        self._end_part()

    def _read_spool(self) -> None:
        """The controller: every part the workers finished (a line cut by a kill is left out)."""
        if self._spool is None:
            return
        for path in sorted(Path(self._spool).glob("*.jsonl")):
            with contextlib.suppress(OSError):
                for line in path.read_text(encoding="utf-8").splitlines():
                    with contextlib.suppress(ValueError):
                        self.report.merge_payload(json.loads(line))

    def _collect_outside_tests(self) -> None:
        """Requests refused or unanswered outside any test: they fail the session, not a test."""
        from .plugin import ENGINE

        engine = self.config.stash.get(ENGINE, None)
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

    # -- probes ---------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)  # before -k / -m deselection, so they apply to probes too
    def pytest_collection_modifyitems(self, session: pytest.Session, items: list[pytest.Item]) -> None:
        if self.settings.mode != LIVE or not self.settings.probes:
            return
        from .probes import parse_probes

        group = ProbeGroup.from_parent(session, name="hfrouter", nodeid="hfrouter")
        for probe in parse_probes(self.settings.probes):
            item = ProbeItem.from_parent(group, name=f"probe[{probe.name}]")
            item.probe, item.run = probe, self
            self._probe_items.append(item)
            items.append(item)

    def probe_result(self, probe: Probe) -> ProbeResult:
        if probe not in self._results:
            live = self.settings.live
            assert live is not None
            # Without xdist every selected probe runs now, `probe_concurrency` at a time; an xdist
            # worker cannot know which probes it will be given, so it runs them one by one.
            batch = [probe]
            if not is_worker(self.config):
                scheduled = self.config.stash[SESSION_ITEMS]
                batch = [i.probe for i in self._probe_items if i in scheduled and i.probe not in self._results]
            from .probes import Budget, run_all

            self._budget = self._budget or Budget(self._budget_left)
            results = run_all(batch, live, self.settings.probe_concurrency, self._budget, self.settings.probe_timeout)
            self._results.update(results)
            self._add("probes", [result.to_dict() for result in results.values()])
        return self._results[probe]

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.config.stash[SESSION_ITEMS] = frozenset(session.items)
        self._note_cassettes(session.items)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        # -k / -m leave a test out of this run, not out of the project: its cassettes are no orphans.
        self._note_cassettes(items)

    def _note_cassettes(self, items: list[pytest.Item]) -> None:
        if not self.settings.check_orphans:
            return
        from .markers import cassette_root, test_cassettes

        for item in items:
            if isinstance(item, ProbeItem):
                continue
            self.roots.add(str(cassette_root(Path(str(item.path)), self.settings.cassette_dir)))
            self.used.update(str(path) for path in test_cassettes(item, self.settings.cassette_dir)[0])

    # -- xdist ---------------------------------------------------------------------------
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[RUN_ID_KEY] = self.run_id
        if self._spool is None:
            self._spool = tempfile.mkdtemp(prefix="hfrouter-spool-")
        node.workerinput[SPOOL_KEY] = self._spool
        node.workerinput[CHAOS_SEED_KEY] = self.chaos_seed

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        payload = getattr(node, "workeroutput", {}).get(WORKER_KEY)
        if payload:  # the per-test parts came through the spool; this is the rest
            self.report.interrupted = self.report.interrupted or bool(payload.get("interrupted"))
            self.used.update(payload.get("used_cassettes") or [])
            self.roots.update(payload.get("cassette_roots") or [])

    # -- the end ---------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self.report.finished = time.time()
        self.report.interrupted = exitstatus == pytest.ExitCode.INTERRUPTED
        if self.report.interrupted:
            self._collect_interrupted()
        self._collect_outside_tests()
        if is_worker(self.config):
            rest = {
                "interrupted": self.report.interrupted,
                "used_cassettes": sorted(self.used),
                "cassette_roots": sorted(self.roots),
            }
            self.config.workeroutput[WORKER_KEY] = rest  # type: ignore[attr-defined]
            return
        self._read_spool()
        if self.settings.check_orphans:
            from .hygiene import orphans

            self.orphans = orphans([Path(r) for r in self.roots], [Path(u) for u in self.used])
        self._pending.clear()  # an interrupted test's record has no outcome: it is left out
        if self.keeps_tests:
            from .coverage import catalog
            from .library import shipped_library

            self.report.scenarios = catalog(shipped_library())
        payload = self.report.to_file_payload() if self.keeps_tests else self.report.to_payload()
        baseline = json.loads(self.settings.baseline.read_text()) if self.settings.baseline else None
        if baseline is not None:
            self.comparison = compare(baseline, payload)
        if self.settings.report is not None:
            self.report.write(self.settings.report, payload if self.keeps_tests else None)
        text = markdown(payload, baseline) if self.settings.live is not None or baseline is not None else ""
        if self.keeps_tests and (self.settings.summary or any(t["calls"] for t in self.report.tests)):
            from .coverage import markdown as coverage_markdown

            text += ("\n" if text else "") + scrub.text(coverage_markdown(payload))
        if text:
            targets = [os.environ.get("GITHUB_STEP_SUMMARY"), self.settings.summary]
            for target in [Path(t) for t in targets if t]:
                target.parent.mkdir(parents=True, exist_ok=True)  # as for the report
                with target.open("a", encoding="utf-8") as out:
                    out.write(text)
        self.coverage = payload.get("coverage")
        if self.settings.html is not None:
            from .coverage_html import write_html

            write_html(self.settings.html, scrub.payload(payload))
        failed = (
            bool(self.comparison and self.comparison.regressions)
            or (self.settings.fail_on_drift and bool(self.report.drift))
            or bool(self.orphans)
            or bool(self.report.outside_tests)
        )
        if failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if is_worker(self.config):
            return

        def write(line: str) -> None:
            terminalreporter.write_line(scrub.text(line))

        self._summarise_live(terminalreporter, write)
        if self.settings.chaos:
            self._summarise_chaos(terminalreporter, write)
        if self.report.verdicts:
            terminalreporter.write_sep("-", "hfrouter resilience verdicts")
            for verdict in self.report.verdicts:
                level = "" if verdict["level"] == "error" else f" ({verdict['level']})"
                write(f"{verdict['test']}: {verdict['name']}{level}: {verdict['explanation']}")
        if self.report.expired:
            terminalreporter.write_sep("-", "hfrouter expired recordings")
            for entry in self.report.expired:
                write(f"{entry['cassette']} ({entry['age_days']:.0f} days old), used by {entry['test']}")
                write(f"  re-record: HF_TOKEN=hf_... pytest -p hfrouter --hfrouter-mode=rewrite '{entry['test']}'")
        if self.report.outside_tests:
            terminalreporter.write_sep("-", "hfrouter: requests outside any test (they fail the session)")
            write("made at import or collection time, between tests, or by a thread an earlier test left running:")
            for entry in self.report.outside_tests:
                write(f"{entry['request']}: {entry['problem']}")
        if self.settings.check_orphans:
            terminalreporter.write_sep("-", "hfrouter orphan cassettes")
            write(f"{len(self.orphans)} cassette(s) no collected test uses" + (":" if self.orphans else ""))
            for path in self.orphans:
                write(f"  {path}")

    def _summarise_live(self, terminalreporter: Any, write: Any) -> None:
        payload = self.report.to_payload()
        states = pair_states(payload)
        if not states and not self.report.drift and self.comparison is None and not self.report.harvest:
            return
        terminalreporter.write_sep("-", "hfrouter live summary")
        write(f"{len(states)} provider x model pair(s), {sum(s.healthy for s in states.values())} healthy")
        for state in states.values():
            if not state.healthy:
                write(f"  failing: {state.provider} {state.model}: {state.status or 'no response'} {state.error or ''}")
        if self.comparison is not None:
            for before, now in self.comparison.regressions:
                write(
                    f"REGRESSION {now.provider} {now.model}: was {before.status}, now {now.status or 'no response'}: "
                    f"{now.error or ''}"
                )
            for _, now in self.comparison.recoveries:
                write(f"recovered {now.provider} {now.model}: {now.status}")
        for drift in self.report.drift:
            write(f"drift in {drift['recorded_in']} ({drift['request']}): {'; '.join(drift['differences'])}")
        for line in harvest_lines(self.report.harvest):
            write(line)
        if self.settings.report is not None:
            write(f"report: {self.settings.report}")

    def _summarise_chaos(self, terminalreporter: Any, write: Any) -> None:
        terminalreporter.write_sep("-", "hfrouter chaos")
        under = [t for t in self.report.tests if "chaos" in t]
        injected = sum(len(t["chaos"]) for t in under)
        hit = sum(bool(t["chaos"]) for t in under)
        write(
            f"seed {self.chaos_seed}, rate {self.settings.chaos_rate:g}: {len(under)} test(s) ran under chaos, "
            f"{injected} outage(s) injected into {hit} test(s)"
        )
        failed = [t for t in under if t["outcome"] == "failed" and t["chaos"]]
        write(f"failed under chaos: {len(failed)}" + (" (by scenario)" if failed else ""))
        by_scenario: dict[str, list[dict[str, Any]]] = {}
        for test in failed:
            for name in dict.fromkeys(i["scenario"] for i in test["chaos"]):
                by_scenario.setdefault(name, []).append(test)
        for name in sorted(by_scenario):
            write(f"  {name}:")
            for test in by_scenario[name]:
                write(f"    {test['test']}")
                for line in test["reproduce"]:
                    write(f"      {line}")
        if self.coverage is not None:
            from .coverage import cell_state

            met = sum(cell_state(c) != "none" for row in self.coverage["cells"].values() for c in row.values())
            gaps = sum(len(names) for names in self.coverage["gaps"].values())
            write(
                f"outage coverage: {met} provider x scenario pair(s) met, {gaps} gap(s) "
                "(the matrix: --hfrouter-summary, --hfrouter-html or --hfrouter-report)"
            )
        write(f"replay this run: --hfrouter-chaos-seed={self.chaos_seed}")
        for name, path in (("report", self.settings.report), ("HTML", self.settings.html)):
            if path is not None:
                write(f"coverage {name}: {path}")


def _outcome(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    return report.outcome


def _chaos_section(seed: int | None, chaos: Any) -> str:
    from .chaos import describe

    lines = [f"chaos (seed {seed}) injected into this test:"]
    lines += [f"  {describe(injection.to_dict())}" for injection in chaos.injected]
    lines.append("reproduce it without chaos (add above the test):")
    lines += [f"  {line}" for line in chaos.reproduction()]
    return "\n".join(lines)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
