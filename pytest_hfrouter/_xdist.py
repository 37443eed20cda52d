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
SHARED_KEY = "hfrouter_shared_cassettes"
LEFT_KEY = "hfrouter_left_behind"
# in a spool's lines: a record's rest, and the name a record gives it
_REST = "hfrouter_rest"
#: a spool line's JSON: compact, and with no check for cycles (a part holds none); one encoder for all
_line = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
#: how many rests a worker remembers having written (each kept alive; a suite's tests make few distinct
#: traffics): beyond, it writes them again
_KEPT_RESTS = 1024


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

    The tests that made the same calls share their record's rest (all but the test id: the
    outcome and the traffic, `coverage.traffic_record`). A worker writes a rest once, as a line of
    its own (``{"hfrouter_rest": [name, rest]}``) before the first record that names it
    (``{"test": id, "hfrouter_rest": name}``), so it encodes 1,000 such tests as 1,000 test ids; the
    controller reads each rest once and its records share it again, as they did on the worker (so
    the report encodes and reads it once: `report.dumps`, `coverage.matrix`).
    """

    def __init__(self, folder: str | None = None, worker: str | None = None) -> None:
        #: the controller's folder (made when the first worker is configured)
        self.folder = folder
        #: this worker's file, or None (the controller, a run without xdist)
        self.file = Path(folder) / f"{worker}.jsonl" if folder and worker else None
        self._fd: int | None = None
        #: whether the file may end in a line cut short
        self._cut = False
        #: a worker: a written rest's key (its keys and its values' ids) → (its values, kept alive so that
        #: no id is reused meanwhile, and its name)
        self._rests: dict[tuple[Any, ...], tuple[tuple[Any, ...], str]] = {}
        self._count = 0
        #: this process's prefix of its rests' names: xdist's replacement for a crashed worker writes to
        #: the same file, and a record of one must never name a rest of the other
        self._tag = os.urandom(4).hex()

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
        """A worker: one test's part as one line, after the lines of the rests it names first
        (already scrubbed: it is on disk)."""
        assert self.file is not None
        lines: list[str] = []
        defined: list[tuple[Any, ...]] = []
        tests = part.get("tests")
        if tests:
            part = {**part, "tests": [self._named_rest(record, lines, defined) for record in tests]}
        lines.append(_line(part))
        line = ("\n".join(lines) + "\n").encode("utf-8")
        # One write to a file opened once for appending: a reader sees whole lines, or a last one cut
        # short (a rest's line always before the line that names it); nothing is buffered in the
        # process for a kill to lose.
        try:
            if self._fd is None:
                self._fd = os.open(self.file, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
                end = os.fstat(self._fd).st_size
                self._cut = bool(end) and os.pread(self._fd, 1, end - 1) != b"\n"  # a killed worker's last line
            if self._cut:
                line = b"\n" + line  # our first line must not continue a line cut short
            written = os.write(self._fd, line)
            while written < len(line):  # a short write (a full disk, a signal): the rest, in order
                written += os.write(self._fd, line[written:])
            self._cut = False
        except OSError:  # the part is lost; a rest it defined is written again with the next that names it
            self._cut = True  # it may have written part of a line
            for key in defined:
                self._rests.pop(key, None)

    def _named_rest(self, record: Any, lines: list[str], defined: list[tuple[Any, ...]]) -> Any:
        """``record`` with its rest replaced by the rest's name; a rest not written yet goes to
        ``lines``, its key to ``defined``."""
        if not isinstance(record, dict) or next(iter(record), None) != "test":
            return record
        values = tuple(record.values())[1:]
        key = (*record, *map(id, values))
        known = self._rests.get(key)
        if known is None:
            if len(self._rests) >= _KEPT_RESTS:
                self._rests.clear()
            self._count += 1
            known = self._rests[key] = (values, f"{self._tag}.{self._count}")
            defined.append(key)
            rest = {name: value for name, value in record.items() if name != "test"}
            lines.append(_line({_REST: [known[1], rest]}))
        return {"test": record["test"], _REST: known[1]}

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
            rests: dict[str, dict[str, Any]] = {}
            with contextlib.suppress(OSError):
                for line in path.read_text(encoding="utf-8").splitlines():
                    try:
                        part = json.loads(line)
                    except ValueError:
                        continue
                    if not isinstance(part, dict):
                        continue
                    defined = part.get(_REST)
                    if defined is not None:
                        if isinstance(defined, list) and len(defined) == 2 and isinstance(defined[1], dict):
                            rests[str(defined[0])] = defined[1]
                        continue
                    tests = part.get("tests")
                    if tests:
                        part["tests"] = [whole for record in tests if (whole := _with_rest(record, rests)) is not None]
                    yield part

    def remove(self) -> None:
        """The controller, once the workers are down."""
        if self.folder is not None and self.file is None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _with_rest(record: Any, rests: dict[str, dict[str, Any]]) -> Any:
    """A spooled record made whole: its test id, then its rest (the same objects for every record
    that names it); None if the rest's line was lost (a worker killed as it wrote)."""
    if not isinstance(record, dict) or _REST not in record:
        return record
    rest = rests.get(str(record[_REST]))
    return None if rest is None else {"test": record["test"], **rest}
