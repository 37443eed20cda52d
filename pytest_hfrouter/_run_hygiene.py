"""Run hygiene: orphan cassettes (``--hfrouter-check-orphans``), ending on SIGTERM like Ctrl-C, and shared
cassettes that none of the tests sharing them used (`SharedCassettes`).

Registered only when one of them applies (`_session.start` decides). Under xdist each worker notes the cassettes its
collected tests use and hands them over in ``workeroutput``; the controller finds the orphans,
prints them and fails the run.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import scrub
from ._xdist import CASSETTES_KEY, is_worker

if TYPE_CHECKING:
    from ._settings import Settings


class RunHygiene:
    """``handles_sigterm``: end a SIGTERM like a Ctrl-C (until unconfigure). ``generated``: the
    item types the plugin makes itself (probes), which have no cassettes to count."""

    def __init__(
        self, config: pytest.Config, settings: Settings, handles_sigterm: bool, generated: tuple[type, ...] = ()
    ) -> None:
        self.config = config
        self.settings = settings
        #: cassette paths the collected tests use, and the folders that hold them (orphans)
        self.used: set[str] = set()
        self.roots: set[str] = set()
        self.orphans: list[Path] = []
        #: cassette roots not judged: the run named some of their modules' tests by node id
        self.partial: list[Path] = []
        #: the cassette folders of the modules this run collected (``<cassette dir>/<module>/``)
        self.modules: set[str] = set()
        #: cassettes not judged: the run named files, or ran the last failures, and collected not their modules
        self.unjudged = 0
        self._generated = generated
        self._handles_sigterm = handles_sigterm
        if handles_sigterm:
            signal.signal(signal.SIGTERM, _interrupt)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self._handles_sigterm:  # hand the signal back (a pytest run inside a process that goes on)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    # -- orphans ------------------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._note_cassettes(session.items)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        # -k / -m leave a test out of this run, not out of the project: its cassettes are no orphans.
        self._note_cassettes(items)

    def _note_cassettes(self, items: list[pytest.Item]) -> None:
        if not self.settings.check_orphans:
            return
        from .cassette_paths import cassette_root, item_cassettes, module_cassette_dir

        for item in items:
            if isinstance(item, self._generated):
                continue
            self.roots.add(str(cassette_root(Path(str(item.path)), self.settings.cassette_dir)))
            self.modules.add(str(module_cassette_dir(str(item.path), self.settings.cassette_dir)))
            self.used.update(str(path) for path in item_cassettes(item, self.settings.cassette_dir)[0])

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        payload = getattr(node, "workeroutput", {}).get(CASSETTES_KEY)
        if payload:
            self.used.update(payload.get("used") or [])
            self.roots.update(payload.get("roots") or [])
            self.modules.update(payload.get("modules") or [])

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.settings.check_orphans:
            return
        if is_worker(self.config):
            output = {"used": sorted(self.used), "roots": sorted(self.roots), "modules": sorted(self.modules)}
            self.config.workeroutput[CASSETTES_KEY] = output  # type: ignore[attr-defined]
            return
        from .hygiene import orphans

        settings = self.settings
        others = [*settings.scenario_dirs, *([settings.harvest_dir] if settings.harvest_dir is not None else [])]
        # ``pytest tests/test_x.py::test_y[one]`` collects part of a module, and no hook says which tests it left
        # out (``-k``, ``-m`` and ``--deselect`` do): the cassettes of its other tests are no orphans (an audit)
        from .cassette_paths import cassette_root

        here = self.config.invocation_params.dir
        self.partial = sorted(
            {
                cassette_root((here / arg.split("::", 1)[0]).resolve(), settings.cassette_dir)
                for arg in self.config.args
                if "::" in arg
            }
        )
        found = orphans([Path(r) for r in self.roots], [Path(u) for u in self.used], [*others, *self.partial])
        if not whole_run(
            self.config
        ):  # only the modules it collected are judged (an audit: --lf failed a run that passed)
            modules = [Path(m).resolve() for m in self.modules]
            self.orphans = [path for path in found if any(path.resolve().is_relative_to(m) for m in modules)]
            self.unjudged = len(found) - len(self.orphans)
        else:
            self.orphans = found
        if self.orphans and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    @pytest.hookimpl(trylast=True)  # after the report's sections, as the last of ours
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if is_worker(self.config) or not self.settings.check_orphans:
            return
        terminalreporter.write_sep("-", "hfrouter orphan cassettes")
        lines = [f"{len(self.orphans)} cassette(s) no collected test uses" + (":" if self.orphans else "")]
        lines += [f"  {path}" for path in self.orphans]
        lines += [
            f"not judged: {root} (this run named some of its tests by node id; run their modules whole to judge it)"
            for root in self.partial
        ]
        if self.unjudged:
            lines.append(
                f"not judged: {self.unjudged} cassette(s) outside the modules this run collected (it named files, or "
                "ran --lf); run the whole suite to judge them"
            )
        for line in lines:
            terminalreporter.write_line(scrub.text(line))


def whole_run(config: pytest.Config) -> bool:
    """Whether the run collected every module of its folders: no ``--lf`` (it skips the files with no failure),
    no node id, and every path it was given a folder."""
    if config.getoption("lf", False):
        return False
    here = config.invocation_params.dir
    return all("::" not in arg and (here / arg).is_dir() for arg in config.args)


class SharedCassettes:
    """Replay: a cassette that a module's or class's marker names is shared, each of its tests requesting its
    part, so no one test is judged for it (`_checks._idle_cassettes`). Judged here, for all of them: when every
    test that ran with it requested none of what it holds, its answers never reached the app (an audit: the
    app moved to another model, every call was answered healthy, and the run was green with not a word).

    Not judged where the run left some of the module's tests out (``-k``, ``-m``, ``--deselect``, ``--lf``, node
    ids), did not run one (skipped, an error before its body), or stopped early (``-x``); a cassette outside its
    module's own folder (``<cassette dir>/<module>/``), which other modules' markers may name too, only in a run
    of the whole suite with none of that (a regression audit: a run of one module failed where the whole passed).

    No plugin of its own (a registration costs every run's start): the run's session (`_session.RunSession`)
    makes it at the first shared cassette a test had, and hands it its hooks' parts; under xdist the workers hand
    what they saw to the controller."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        #: cassette path → [the node whose marker names it, its module's path, tests that ran, tests that used it,
        #: whether it lies in that module's own folder]
        self.seen: dict[str, list[Any]] = {}
        self.idle: list[tuple[str, str, int]] = []

    def note(self, module: Path, shared: list[tuple[Path, str, bool]]) -> None:
        from .cassette_paths import module_cassette_dir

        folder = module_cassette_dir(str(module), self.settings.cassette_dir)
        for path, owner, used in shared:
            entry = self.seen.setdefault(str(path), [owner, str(module), 0, 0, path.is_relative_to(folder)])
            entry[2] += 1
            entry[3] += used

    def payload(self, partial: set[str]) -> dict[str, Any]:
        """A worker's part, for the controller (`merge`)."""
        return {"seen": self.seen, "partial": sorted(partial)}

    def merge(self, payload: dict[str, Any], partial: set[str]) -> None:
        for path, (owner, module, ran, used, inside) in payload["seen"].items():
            entry = self.seen.setdefault(path, [owner, module, 0, 0, inside])
            entry[2] += ran
            entry[3] += used
        partial.update(payload["partial"])

    def finish(self, session: pytest.Session, partial: set[str]) -> None:
        """The controller, at the run's end: the shared cassettes none of their tests used; they fail the run
        under ini ``hfrouter_on_unmatched = fail``. ``partial``: the modules some of whose tests the run left out
        or did not run."""
        if session.shouldstop or session.shouldfail:  # -x, --maxfail: the node's other tests may not have run
            return
        here = self.config.invocation_params.dir
        partial = partial | {str((here / arg.split("::", 1)[0]).resolve()) for arg in self.config.args if "::" in arg}
        whole = not partial and whole_run(self.config)
        self.idle = sorted(
            (path, owner, ran)
            for path, (owner, module, ran, used, inside) in self.seen.items()
            if ran and not used and (whole or (inside and str(Path(module).resolve()) not in partial))
        )
        if self.idle and self.settings.on_unmatched == "fail" and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def summary(self, terminalreporter: Any) -> None:
        if not self.idle:
            return
        terminalreporter.write_sep("-", "hfrouter shared cassettes")
        lines = [
            "pytest-hfrouter: a cassette the tests of a module or class share answered none of their calls, so they "
            "did not exercise it:"
        ]
        lines += [
            f"  - {path}: named by the marker of {owner}; {ran} test(s) ran with it, and none requested what it holds"
            for path, owner, ran in self.idle
        ]
        warned = "" if self.settings.on_unmatched == "fail" else ", as now: the run does not fail for it"
        lines.append(
            "  (recorded for other calls: re-record it, or drop it from the marker; for the whole run: ini "
            f"hfrouter_on_unmatched = warn or ignore{warned})"
        )
        for line in lines:
            terminalreporter.write_line(scrub.text(line))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
