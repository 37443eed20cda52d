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
    test under that marker ran its body, and none requested what the cassette holds, its answers never reached
    the app (an audit: the app moved to another model, every call was answered healthy, and the run was green
    with not a word).

    Judged only where that is known: a cassette in the module's own folder (``<cassette dir>/<module>/``: one
    elsewhere may be another module's too, which a run of part of the suite does not see), in a run that ran
    every test under the marker (none left out by ``-k``, ``-m``, ``--deselect``, ``--lf`` or a node id, none
    skipped, none failing before its body) and did not stop early (``-x``). Two regression audits: a run of
    part of the suite failed where the whole passed, and a skip elsewhere hid a cassette nobody used.

    No plugin of its own (a registration costs every run's start): the run's session (`_session.RunSession`)
    makes it at the first shared cassette a test had, and hands it its hooks' parts; under xdist the workers hand
    what they saw to the controller."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        #: cassette path → [the node whose marker names it, its module's path, tests that used it, whether it lies in
        #: the module's own folder]
        self.seen: dict[str, list[Any]] = {}
        #: marker node → the tests under it that ran their body; the tests collected under it (`count`)
        self.ran: dict[str, int] = {}
        self.collected: dict[str, int] = {}
        self.idle: list[tuple[str, str, int]] = []
        #: the unused ones it could not judge, and why (said, never failing: a check that does not apply says so)
        self.unjudged: list[tuple[str, str]] = []

    def note(self, module: Path, shared: list[tuple[Path, str, bool]]) -> None:
        from .cassette_paths import module_cassette_dir

        folder = module_cassette_dir(str(module), self.settings.cassette_dir)
        for owner in {owner for _, owner, _ in shared}:
            self.ran[owner] = self.ran.get(owner, 0) + 1
        for path, owner, used in shared:
            self.seen.setdefault(str(path), [owner, str(module), 0, path.is_relative_to(folder)])[2] += used

    def count(self, items: list[pytest.Item]) -> None:
        """How many tests the run collected under each marker node it saw (the selected ones: a deselected test's
        module is left out of the judgement whole)."""
        owners = set(self.ran)
        counts = dict.fromkeys(owners, 0)
        for item in items:
            nodeid = item.nodeid
            while "::" in nodeid:
                nodeid = nodeid.rsplit("::", 1)[0]
                if nodeid in owners:
                    counts[nodeid] += 1
        self.collected = counts

    def payload(self, partial: set[str]) -> dict[str, Any]:
        """A worker's part, for the controller (`merge`)."""
        return {"seen": self.seen, "ran": self.ran, "collected": self.collected, "partial": sorted(partial)}

    def merge(self, payload: dict[str, Any], partial: set[str]) -> None:
        for path, (owner, module, used, inside) in payload["seen"].items():
            self.seen.setdefault(path, [owner, module, 0, inside])[2] += used
        for owner, ran in payload["ran"].items():
            self.ran[owner] = self.ran.get(owner, 0) + ran
        for owner, collected in payload["collected"].items():  # every worker collects the whole run
            self.collected[owner] = max(self.collected.get(owner, 0), collected)
        partial.update(payload["partial"])

    def finish(self, session: pytest.Session, partial: set[str]) -> None:
        """The controller, at the run's end: the shared cassettes none of their tests used; they fail the run
        under ini ``hfrouter_on_unmatched = fail``. ``partial``: the modules some of whose tests the run left out."""
        stopped = bool(session.shouldstop or session.shouldfail)  # -x, --maxfail: the others may not have run
        if not self.collected:  # no xdist worker counted them: this process ran them
            self.count(session.items)
        here = self.config.invocation_params.dir
        partial = {str(Path(path).resolve()) for path in partial}
        partial |= {str((here / arg.split("::", 1)[0]).resolve()) for arg in self.config.args if "::" in arg}
        for path, (owner, module, used, inside) in sorted(self.seen.items()):
            if used:
                continue
            why = (
                "it lies outside its module's own folder, where another module's marker may name it too"
                if not inside
                else "the run stopped early"
                if stopped
                else "the run left some of its module's tests out"
                if str(Path(module).resolve()) in partial
                else "not every test under its marker ran its body"
                if self.ran.get(owner, 0) != self.collected.get(owner, -1)
                else ""
            )
            if why:
                self.unjudged.append((path, why))
            else:
                self.idle.append((path, owner, self.ran.get(owner, 0)))
        if self.idle and self.settings.on_unmatched == "fail" and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def summary(self, terminalreporter: Any) -> None:
        if not self.idle and not self.unjudged:
            return
        terminalreporter.write_sep("-", "hfrouter shared cassettes")
        lines = []
        if self.idle:
            lines.append(
                "pytest-hfrouter: a cassette the tests of a module or class share answered none of their calls, so "
                "they did not exercise it:"
            )
            lines += [
                f"  - {path}: named by the marker of {owner}; {ran} test(s) ran with it, and none requested what it "
                "holds"
                for path, owner, ran in self.idle
            ]
            warned = "" if self.settings.on_unmatched == "fail" else ", as now: the run does not fail for it"
            lines.append(
                "  (recorded for other calls: re-record it, or drop it from the marker; for the whole run: ini "
                f"hfrouter_on_unmatched = warn or ignore{warned})"
            )
        lines += [
            f"not judged: {path}: no test that ran with it requested what it holds, but {why}"
            for path, why in self.unjudged
        ]
        for line in lines:
            terminalreporter.write_line(scrub.text(line))


def left_behind_summary(terminalreporter: Any, left: dict[str, list[str]], config: pytest.Config) -> None:
    """The default cassettes named for no test of their module, beside tests of the run that have no cassette
    (`cassette_paths.left_behind`): said, never failing (the file may be a deleted test's)."""
    terminalreporter.write_sep("-", "hfrouter cassettes left behind")
    lines = [
        "pytest-hfrouter: these cassettes are named for no test of their module, and tests of this run that have "
        "no cassette replayed the healthy library instead. A test renamed, moved to another module or given a new "
        "parametrize id leaves its cassette behind like this:"
    ]
    for path, nodeids in sorted(left.items()):
        shown = ", ".join(nodeids[:3]) + (f" and {len(nodeids) - 3} more" if len(nodeids) > 3 else "")
        lines.append(f"  - {_shown_path(Path(path), config)}: no cassette for {shown}")
    lines.append(
        "  (if it is one of theirs, rename it to that test's name (<cassette dir>/<module>/<Class>.<test>.yaml) or "
        'name it with @pytest.mark.hfrouter_cassette("<file>"); if its test is gone, delete it. '
        "--hfrouter-check-orphans lists every cassette no test uses, and fails the run)"
    )
    for line in lines:
        terminalreporter.write_line(scrub.text(line))


def _shown_path(path: Path, config: pytest.Config) -> str:
    """A path relative to the rootdir where it lies below it, else as it is."""
    try:
        return str(path.relative_to(config.rootpath))
    except ValueError:
        return str(path)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
