"""Live probes as tests: ``hfrouter::probe[...]`` items, run in batches, results to the report.

Registered only in a live run with ini ``hfrouter_probes`` set; any other run pays nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from . import scrub
from ._xdist import Spool, is_worker

if TYPE_CHECKING:  # probes.py loads with the first probe
    from ._settings import Settings
    from .probes import Budget, Probe, ProbeResult


class ProbeFailed(Exception):
    pass


class ProbeGroup(pytest.Collector):
    """The parent of the generated probe tests (node ids ``hfrouter::probe[...]``)."""

    def collect(self) -> list[pytest.Item | pytest.Collector]:
        return []


class ProbeItem(pytest.Item):
    """One generated probe test (live mode, ini ``hfrouter_probes``)."""

    probe: Probe
    runner: ProbeRun

    def runtest(self) -> None:
        result = self.runner.result(self.probe)
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


class ProbeRun:
    """The probes of one run: adds their items at collection, runs them, hands results on."""

    def __init__(
        self, config: pytest.Config, settings: Settings, report: Callable[[list[dict[str, Any]]], None]
    ) -> None:
        self.config = config
        self.settings = settings
        #: where each batch's results go (the running test's part of the report)
        self._report = report
        self._items: list[ProbeItem] = []
        self._scheduled: frozenset[pytest.Item] = frozenset()
        self._results: dict[Probe, ProbeResult] = {}
        # The request budget is the run's: under xdist the workers claim it from the spool's folder.
        self._budget_left = settings.probe_budget
        self._budget_folder = Spool.of(config).folder
        self._budget: Budget | None = None

    @pytest.hookimpl(tryfirst=True)  # before -k / -m deselection, so they apply to probes too
    def pytest_collection_modifyitems(self, session: pytest.Session, items: list[pytest.Item]) -> None:
        from .probes import parse_probes

        if any("::" in arg for arg in self.config.args):
            # the run names its tests by node id: it asked for those alone, not for live requests of the probes'
            # (an audit: one test selected, and the four probes ran too)
            return
        group = ProbeGroup.from_parent(session, name="hfrouter", nodeid="hfrouter")
        for probe in parse_probes(self.settings.probes):
            item = ProbeItem.from_parent(group, name=f"probe[{probe.name}]")
            item.probe, item.runner = probe, self
            self._items.append(item)
        items += self._items
        # collected as pytest collects a node's items: the terminal's count holds them (it said "-3 selected")
        session.ihook.pytest_collectreport(report=pytest.CollectReport(group.nodeid, "passed", None, [*self._items]))

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._scheduled = frozenset(session.items)

    def result(self, probe: Probe) -> ProbeResult:
        if probe not in self._results:
            live = self.settings.live
            assert live is not None
            # Without xdist every selected probe runs now, `probe_concurrency` at a time; an xdist
            # worker cannot know which probes it will be given, so it runs them one by one.
            batch = [probe]
            if not is_worker(self.config):
                batch = [i.probe for i in self._items if i in self._scheduled and i.probe not in self._results]
            from .probes import Budget, run_all

            self._budget = self._budget or Budget(self._budget_left, self._budget_folder)
            results = run_all(batch, live, self.settings.probe_concurrency, self._budget, self.settings.probe_timeout)
            self._results.update(results)
            self._report([result.to_dict() for result in results.values()])
        return self._results[probe]
