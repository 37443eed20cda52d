"""The xdist hand-off: what the controller gives each worker and what a worker gives back.

A worker re-parses the command line, so only values the controller derived travel in
``workerinput`` (the run id, the spool folder, the chaos seed); a worker's ``workeroutput``
carries what only a normally ending worker knows. The names are prefixed: other plugins
share these dicts.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# workerinput: controller -> worker
RUN_ID_KEY = "hfrouter_run_id"
SPOOL_KEY = "hfrouter_spool"
CHAOS_SEED_KEY = "hfrouter_chaos_seed"
# workeroutput: worker -> controller
WORKER_KEY = "hfrouter_report"
CASSETTES_KEY = "hfrouter_cassettes"


def is_worker(config: pytest.Config) -> bool:
    """An xdist worker's config (it has ``workerinput``); the controller and a plain run have none."""
    return hasattr(config, "workerinput")


def worker_count(config: pytest.Config) -> int:
    """How many workers share the run (1 without xdist)."""
    return max(1, int(getattr(config, "workerinput", {}).get("workercount", 1)))


class Spool:
    """The per-test parts of the report on their way from the workers to the controller.

    The controller makes a folder and names it in ``workerinput``; each worker appends one JSON
    line per finished test to its own file there; the controller reads them all when the session
    ends and removes the folder. A line on disk outlives a Ctrl-C that tears the workers down
    before their ``workeroutput`` arrives.
    """

    def __init__(self, folder: str | None = None, worker: str | None = None) -> None:
        #: the controller's folder (made when the first worker is configured)
        self.folder = folder
        #: this worker's file, or None (the controller, a run without xdist)
        self.file = Path(folder) / f"{worker}.jsonl" if folder and worker else None
        self._fd: int | None = None

    @classmethod
    def of(cls, config: pytest.Config) -> Spool:
        """The controller's (empty until `hand_to`), or this worker's (the folder it was given)."""
        if not is_worker(config):
            return cls()
        given = config.workerinput  # type: ignore[attr-defined]
        return cls(given.get(SPOOL_KEY), given.get("workerid", "gw")) if given.get(SPOOL_KEY) else cls()

    def hand_to(self, workerinput: dict[str, Any]) -> None:
        if self.folder is None:
            self.folder = tempfile.mkdtemp(prefix="hfrouter-spool-")
        workerinput[SPOOL_KEY] = self.folder

    def append(self, part: dict[str, Any]) -> None:
        """A worker: one test's part as one line (already scrubbed: it is on disk)."""
        assert self.file is not None
        line = (json.dumps(part, separators=(",", ":")) + "\n").encode("utf-8")
        # One write of one line to a file opened once for appending: a reader sees whole lines,
        # or a last one cut short; nothing is buffered in the process for a kill to lose.
        with contextlib.suppress(OSError):
            if self._fd is None:
                self._fd = os.open(self.file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            written = os.write(self._fd, line)
            while written < len(line):  # a short write (a full disk, a signal): the rest, in order
                written += os.write(self._fd, line[written:])

    def close(self) -> None:
        """A worker's session ended: the file is left for the controller."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def parts(self) -> Iterator[dict[str, Any]]:
        """The controller: every part the workers finished (a line cut by a kill is left out)."""
        if self.folder is None or self.file is not None:
            return
        for path in sorted(Path(self.folder).glob("*.jsonl")):
            with contextlib.suppress(OSError):
                for line in path.read_text(encoding="utf-8").splitlines():
                    with contextlib.suppress(ValueError):
                        yield json.loads(line)

    def remove(self) -> None:
        """The controller, once the workers are down."""
        if self.folder is not None and self.file is None:
            shutil.rmtree(self.folder, ignore_errors=True)
