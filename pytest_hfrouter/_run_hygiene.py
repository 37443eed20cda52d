"""Run hygiene: orphan cassettes (``--hfrouter-check-orphans``) and ending on SIGTERM like Ctrl-C.

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
        from .cassette_paths import cassette_root, item_cassettes

        for item in items:
            if isinstance(item, self._generated):
                continue
            self.roots.add(str(cassette_root(Path(str(item.path)), self.settings.cassette_dir)))
            self.used.update(str(path) for path in item_cassettes(item, self.settings.cassette_dir)[0])

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        payload = getattr(node, "workeroutput", {}).get(CASSETTES_KEY)
        if payload:
            self.used.update(payload.get("used") or [])
            self.roots.update(payload.get("roots") or [])

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.settings.check_orphans:
            return
        if is_worker(self.config):
            output = {"used": sorted(self.used), "roots": sorted(self.roots)}
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
        self.orphans = orphans([Path(r) for r in self.roots], [Path(u) for u in self.used], [*others, *self.partial])
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
        for line in lines:
            terminalreporter.write_line(scrub.text(line))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
