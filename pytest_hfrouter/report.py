"""The run's report: live calls, probes, drift; merged across xdist workers; compared with a baseline.

Plain builtins in and out (`to_payload` / `merge_payload`), so a worker's part travels to the
controller through ``workeroutput`` and the JSON file is the same data.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import functools
import gc
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from . import scrub
from .routes import INFERENCE_KINDS, OTHER

if TYPE_CHECKING:
    from .library import Library

SCHEMA = "pytest-hfrouter/report/2"
#: earlier schemas a baseline may still have (version 1 had no tests, scenarios, coverage or chaos)
READABLE_SCHEMAS = (SCHEMA, "pytest-hfrouter/report/1")
CLIENTS = ("huggingface_hub", "httpx", "httpx2", "requests", "openai", "vcrpy", "pytest-hfrouter")
#: the module of each client whose distribution name is not its import name
_MODULES = {"vcrpy": "vcr", "pytest-hfrouter": "pytest_hfrouter"}


#: a test record's outcomes (`coverage.OUTCOMES`)
_OUTCOMES = frozenset({"passed", "failed", "skipped", "xfailed", "xpassed"})


def report_problem(data: object) -> str | None:
    """What makes ``data`` no report the plugin can read (a hand-edited or damaged file), or None.

    Checks the parts that summaries, merges and baselines read, so a damaged file is named with
    its field instead of a traceback, and never read as numbers it does not hold."""
    if not isinstance(data, dict) or data.get("schema") not in READABLE_SCHEMAS:
        return f'not a pytest-hfrouter report (expected "schema": "{SCHEMA}")'
    for part in ("calls", "probes", "tests", "verdicts"):
        entries = data.get(part, [])
        if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
            return f'"{part}" must be a list of objects'
    for number, test in enumerate(data.get("tests") or []):
        where = f"tests[{number}]"
        if not isinstance(test.get("test"), str):
            return f'{where} has no "test" (the node id)'
        if test.get("outcome") not in _OUTCOMES:
            return f"{where}.outcome must be one of {', '.join(sorted(_OUTCOMES))}, got {test.get('outcome')!r}"
        met = test.get("met", [])
        if not isinstance(met, list) or not all(
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(v, str) for v in pair) for pair in met
        ):
            return f"{where}.met must be a list of [provider, scenario] pairs"
        calls = test.get("calls", [])
        if not isinstance(calls, list) or not all(isinstance(call, dict) for call in calls):
            return f"{where}.calls must be a list of objects"
        for name in ("reproduce", "scenarios"):
            value = test.get(name, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return f"{where}.{name} must be a list of strings"
        verdicts = test.get("verdicts", [])
        if not isinstance(verdicts, list) or not all(
            isinstance(v, dict) and isinstance(v.get("name"), str) and isinstance(v.get("explanation"), str)
            for v in verdicts
        ):
            return f'{where}.verdicts must be a list of objects with a "name" and an "explanation"'
    incomplete = data.get("incomplete", [])
    if not isinstance(incomplete, list) or not all(isinstance(note, str) for note in incomplete):
        return '"incomplete" must be a list of strings'
    if not isinstance(data.get("scenarios", {}), dict):
        return '"scenarios" must be an object (the scenario catalog)'
    if not _chaos_readable(data.get("chaos")):
        return '"chaos" must be null, or an object with "seed" (a whole number) and "rate" (a number), or with "runs"'
    return None


def _chaos_readable(chaos: object) -> bool:
    """A report's chaos: null, one run's seed and rate, or a merge's runs (each of those)."""
    if chaos is None:
        return True
    if not isinstance(chaos, dict):
        return False
    if "runs" in chaos:
        runs = chaos["runs"]
        return isinstance(runs, list) and all(_chaos_readable(run) for run in runs)
    rate = chaos.get("rate")
    return isinstance(chaos.get("seed"), int) and isinstance(rate, (int, float)) and not isinstance(rate, bool)


#: what a worker's (or a test's) part of the report may hold
_PARTS = frozenset({"calls", "probes", "drift", "verdicts", "expired", "outside_tests", "harvest", "tests", "recorded"})


def versions() -> dict[str, str]:
    """Python's and the HTTP clients' versions (for reports and recorded cassettes): a loaded
    module's own ``__version__``, else the installed distribution's (importlib.metadata reads
    every distribution's files: a few milliseconds each, paid only for clients the run did not load)."""
    import platform
    import sys

    found = {"python": platform.python_version()}
    for name in CLIENTS:
        module = sys.modules.get(_MODULES.get(name, name))
        version = getattr(module, "__version__", None)
        if isinstance(version, str) and version:
            found[name] = version
            continue
        import importlib.metadata

        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


class Report:
    """The run's report as it grows. A plain class, not a dataclass: defining a dataclass of these
    fields costs more at import than all of this module's other code (docs/ARCHITECTURE.md)."""

    def __init__(self, mode: str = "replay", started: float = 0.0) -> None:
        self.mode = mode
        self.started = started
        self.finished = 0.0
        self.interrupted = False
        #: what the report lacks though the run went on: a test whose xdist worker crashed, a run that
        #: stopped at its first failures (``-x``, ``--maxfail``): each a sentence the summaries show
        self.incomplete: list[str] = []
        self.versions: dict[str, str] = {}
        #: every live call: LiveCall fields plus ``test`` (the node id)
        self.calls: list[dict[str, Any]] = []
        #: every probe outcome (see probes.ProbeResult)
        self.probes: list[dict[str, Any]] = []
        #: drift findings: ``test``, ``recorded_in``, ``request``, ``differences``
        self.drift: list[dict[str, Any]] = []
        #: resilience verdicts per test
        self.verdicts: list[dict[str, Any]] = []
        #: recordings older than hfrouter_max_age, per test
        self.expired: list[dict[str, Any]] = []
        #: record modes: what each test wrote into which cassette, and what it could not
        self.recorded: list[dict[str, Any]] = []
        #: requests nothing could answer outside any test (import, collection, background threads)
        self.outside_tests: list[dict[str, Any]] = []
        #: live failures: known scenarios seen in the wild, and new shapes kept as candidates
        self.harvest: list[dict[str, Any]] = []
        #: every test: outcome, scenarios met, structured calls, verdicts (coverage.traffic_record)
        self.tests: list[dict[str, Any]] = []
        #: the scenario catalog the coverage gaps are judged against (coverage.catalog)
        self.scenarios: dict[str, dict[str, Any]] = {}
        #: a chaos run's seed, rate and scenario subset; None otherwise
        self.chaos: dict[str, Any] | None = None
        #: the tests with a record, by its ``test``: a test run again (pytest-rerunfailures) replaces it
        self._recorded_tests: set[str] = set()
        #: the entries of the lists above that were scrubbed already (the workers' parts)
        self.clean: list[dict[str, Any]] = []
        #: the tests' records scrubbed as they were made (`made_clean`), and by which scrubber
        self._made_clean: list[dict[str, Any]] = []
        self._made_clean_by: scrub.Scrubber | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "mode": self.mode,
            "started": _iso(self.started),
            "finished": _iso(self.finished),
            "duration_s": round(max(0.0, self.finished - self.started), 3),
            "interrupted": self.interrupted,
            **({"incomplete": self.incomplete} if self.incomplete else {}),
            "versions": self.versions,
            "calls": self.calls,
            "probes": self.probes,
            "drift": self.drift,
            "verdicts": self.verdicts,
            "expired": self.expired,
            "recorded": self.recorded,
            "outside_tests": self.outside_tests,
            "harvest": self.harvest,
            "chaos": self.chaos,
            "tests": self.tests,
            "scenarios": self.scenarios,
        }

    def to_file_payload(self) -> dict[str, Any]:
        """The payload with its coverage matrix (derived: computed once, for the file and summaries)."""
        from .coverage import matrix

        payload = self.to_payload()
        payload["coverage"] = matrix(self.tests, self.scenarios)
        return payload

    def merge_payload(self, payload: dict[str, Any], scrubbed: bool = False) -> None:
        """Fold a test's part into this report; ``scrubbed``: a worker's, scrubbed before it went
        to disk (its entries are not walked again when the report is written). A test's part ends with
        its record: a test run again (a rerun of pytest-rerunfailures) keeps only its last attempt's
        record and verdicts, as ``hfrouter report merge`` keeps the last record of a test."""
        for record in payload.get("tests") or ():
            if record["test"] in self._recorded_tests:
                self._supersede(record["test"])
            self._recorded_tests.add(record["test"])
        for key, entries in payload.items():
            if entries and key in _PARTS:
                getattr(self, key).extend(entries)
                if scrubbed:
                    self.clean.extend(entries)
        self.interrupted = self.interrupted or bool(payload.get("interrupted"))

    def _supersede(self, test: str) -> None:
        """Drop an earlier attempt's record and verdicts (live calls, drift and harvest stay: they
        are what the router did)."""
        self.tests = [entry for entry in self.tests if entry["test"] != test]
        self.verdicts = [entry for entry in self.verdicts if entry["test"] != test]

    def made_clean(self, entries: list[dict[str, Any]], scrubber: scrub.Scrubber) -> None:
        """``entries`` (in the lists above) were scrubbed by ``scrubber`` as they were made."""
        if self._made_clean_by is None:
            self._made_clean_by = scrubber
        if scrubber is self._made_clean_by:
            self._made_clean.extend(entries)

    def scrubbed_entries(self) -> list[dict[str, Any]]:
        """The entries no output scrubs again: the workers' parts, and the records made clean by the
        scrubber that scrubs now (a secret registered since would find them not clean)."""
        if self._made_clean and self._made_clean_by is scrub.current():
            return [*self.clean, *self._made_clean]
        return self.clean

    def write(self, path: Path, payload: dict[str, Any] | None = None) -> None:
        """Write the report (``payload``: its `to_file_payload`, when the caller has it already)."""
        self.versions = self.versions or versions()
        if payload is None:
            payload = self.to_file_payload()
        write_json(path, scrub.payload({**payload, "versions": self.versions}, self.scrubbed_entries()))


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write a report atomically (a reader never sees half a file); callers scrub it first."""
    from ._files import write_atomically

    write_atomically(path, dumps(payload) + "\n")


def dumps(payload: dict[str, Any]) -> str:
    """The report as one line of JSON, the same as ``json.dumps(payload, ensure_ascii=False)``.

    json's C encoder (indentation takes its pure-Python one, 7x slower on a large run), with no check
    for cycles (a report holds none; json keeps a set of every container it visits for it). The
    tests' records repeat: the tests that made the same calls share their traffic's tuples
    (`coverage.traffic_record`). So what follows a record's test id is encoded once per distinct
    rest, and 1,000 such tests cost 1,000 test ids, not 1,000 call logs."""
    tests = payload.get("tests")
    if not isinstance(tests, list) or len(tests) < 2:
        return _json(payload)
    mark = f"\x00hfrouter-tests-{os.urandom(8).hex()}\x00"  # no string in the report can be it
    head, found, tail = _json({**payload, "tests": mark}).partition(_json(mark))
    if not found:
        return _json(payload)
    return f"{head}[{', '.join(_test_records(tests))}]{tail}"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, check_circular=False)


def _test_records(tests: list[Any]) -> Iterator[str]:
    """Each test's record as JSON; a record's rest (all but its leading ``test``) encoded once for
    the records whose rest holds the very same objects (alive meanwhile: ``tests`` holds them)."""
    encode = json.encoder.encode_basestring  # what json.dumps uses for strings with ensure_ascii=False
    rests: dict[tuple[Any, ...], str] = {}
    for record in tests:
        if not isinstance(record, dict) or not isinstance(record.get("test"), str) or next(iter(record)) != "test":
            yield _json(record)
            continue
        values = iter(record.values())
        next(values)  # the test id
        key = (*record, *map(id, values))
        rest = rests.get(key)
        if rest is None:
            rest = rests[key] = _json({k: v for k, v in record.items() if k != "test"})[1:]
        yield '{"test": ' + encode(record["test"]) + (", " + rest if rest != "}" else "}")


def _iso(timestamp: float) -> str | None:
    if not timestamp:
        return None
    return datetime.datetime.fromtimestamp(timestamp, datetime.timezone.utc).isoformat(timespec="seconds")


# -- health of provider x model pairs, and the comparison with a baseline --------------------
class PairState(NamedTuple):
    provider: str
    model: str
    healthy: bool
    status: int | None
    error: str | None


def pair_states(payload: dict[str, Any]) -> dict[tuple[str, str], PairState]:
    """One state per provider x model: failing if any probe or live call of the pair failed."""
    states: dict[tuple[str, str], PairState] = {}
    entries = [p for p in payload.get("probes") or [] if p.get("outcome") in ("ok", "failed")]
    entries += [c for c in payload.get("calls") or [] if c.get("route") in INFERENCE_KINDS]
    for entry in entries:
        provider, model = entry.get("provider") or "auto", entry.get("model") or "?"
        status = entry.get("status")
        ok = (
            entry.get("outcome") == "ok"
            if "outcome" in entry
            else (entry.get("error") is None and status is not None and status < 400)
        )
        key = (provider, model)
        before = states.get(key)
        if before is None or (before.healthy and not ok):
            states[key] = PairState(provider, model, ok, status, entry.get("error"))
    return states


class Comparison(NamedTuple):
    regressions: list[tuple[PairState, PairState]]
    recoveries: list[tuple[PairState, PairState]]
    #: the pairs both runs hold (only they can regress or recover), and how many the baseline holds
    compared: int = 0
    in_baseline: int = 0

    def nothing_compared(self, pairs: int) -> str | None:
        """What to say when a run of ``pairs`` pairs shares none with its baseline: no regression
        could be found, and a green nightly would mean nothing."""
        if self.compared:
            return None
        if not pairs:
            return (
                "NOTHING COMPARED: this run holds no provider x model pair (no probe ran: over the budget, "
                "deselected or removed; and no test's call reached the router): no regression or recovery could be "
                "found; raise --hfrouter-probe-budget or select the probes"
            )
        held = f"it holds {self.in_baseline} other pair(s)" if self.in_baseline else "it holds none (a replay run's?)"
        return (
            f"NOTHING COMPARED: the baseline holds none of this run's {pairs} provider x model pair(s) ({held}): "
            "no regression or recovery could be found; pass the report of an earlier live run of the same tests "
            "and probes"
        )


def compare(baseline: dict[str, Any], current: dict[str, Any]) -> Comparison:
    before, now = pair_states(baseline), pair_states(current)
    shared = sorted(before.keys() & now.keys())
    return Comparison(
        regressions=[(before[k], now[k]) for k in shared if before[k].healthy and not now[k].healthy],
        recoveries=[(before[k], now[k]) for k in shared if not before[k].healthy and now[k].healthy],
        compared=len(shared),
        in_baseline=len(before),
    )


def _outcome(state: PairState | None) -> str:
    if state is None:
        return "—"
    if state.healthy:
        return f"✅ {state.status}"
    return f"❌ {state.status or 'no response'}"


def markdown(payload: dict[str, Any], baseline: dict[str, Any] | None) -> str:
    """A table a person reads in ten seconds: each pair now, before, and what went wrong."""
    from . import _markdown as md

    now = pair_states(payload)
    before = pair_states(baseline) if baseline else {}
    comparison = compare(baseline, payload) if baseline else Comparison([], [])
    lines = [
        "## pytest-hfrouter: router health",
        "",
        f"{len(now)} provider x model pair(s), {sum(s.healthy for s in now.values())} healthy; "
        f"{len(comparison.regressions)} regression(s), {len(comparison.recoveries)} recovery(ies); "
        f"{len(payload.get('drift') or [])} drifted answer(s)"
        + (" — **interrupted run**" if payload.get("interrupted") else ""),
        "",
        "| provider | model | now | before | error |",
        "|---|---|---|---|---|",
    ]
    nothing = comparison.nothing_compared(len(now)) if baseline else None
    if nothing:
        lines[3:3] = [f"**{nothing}**", ""]
    for key in sorted(now):
        state = now[key]
        mark = " ⚠️ regression" if (before.get(key) and before[key].healthy and not state.healthy) else ""
        mark = " 🎉 recovered" if (before.get(key) and not before[key].healthy and state.healthy) else mark
        error = md.text(state.error or "", limit=120)  # a provider's words: scrubbed, cut, then escaped
        lines.append(
            f"| {md.text(state.provider)} | {md.text(state.model)} | {_outcome(state)}{mark} | "
            f"{_outcome(before.get(key))} | {error} |"
        )
    skipped = sorted(
        {
            f"{p.get('provider') or 'auto'} {p.get('model')}: {p.get('error')}"
            for p in payload.get("probes") or []
            if p.get("outcome") in ("removed", "over-budget")
        }
    )
    if skipped:
        lines.append("")
        lines += [f"- not probed: {md.text(line)}" for line in skipped]
    for entry in payload.get("drift") or []:
        lines.append("")
        lines.append(
            f"- drift in {md.code(entry['recorded_in'])} ({md.text(entry['request'])}): "
            f"{md.text('; '.join(entry['differences']))}"
        )
    harvested = harvest_lines(payload.get("harvest") or [])
    if harvested:
        lines += ["", "### Failures seen live", ""] + [f"- {md.text(line)}" for line in harvested]
    return scrub.text("\n".join(lines) + "\n")


def harvest_lines(harvest: list[dict[str, Any]]) -> list[str]:
    """New failure shapes (one line each), then the known scenarios seen in the wild, with counts."""
    lines: list[str] = []
    seen: dict[str, int] = {}
    for entry in harvest:
        if entry.get("scenario"):
            seen[entry["scenario"]] = seen.get(entry["scenario"], 0) + 1
        elif entry["line"] not in lines:
            lines.append(entry["line"])
    lines = [f"failure shape {line}" for line in lines]
    if seen:
        lines.append(
            "known scenarios seen in the wild this run: "
            + ", ".join(f"{name} x{count}" for name, count in sorted(seen.items()))
        )
    return lines


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off while the outputs are built, then as it was.

    Building them makes thousands of short-lived lists and dicts (the scrubbed copy of every
    test's record) and no cycle: at the end of a long run they would trigger a full collection
    of the whole process (about 30 ms at 1,000 tests) that finds nothing to free."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _write_summary(target: Path, mode: str, text: str) -> None:
    if mode == "w":  # the run's own file: as the report is written
        from ._files import write_atomically

        write_atomically(target, text)
        return
    if not target.parent.is_dir():  # CI makes its file: a folder missing is a stale variable, not one to make
        raise FileNotFoundError(errno.ENOENT, "its folder does not exist (a GITHUB_STEP_SUMMARY left from elsewhere?)")
    with target.open(mode, encoding="utf-8") as out:  # CI's file gathers every step's: appended to
        out.write(text)


@_collector_paused()
def write_outputs(
    report: Report,
    keeps_tests: bool,
    *,
    baseline: Path | None,
    json_path: Path | None,
    summary: Path | None,
    step_summary: Path | None,
    html: Path | None,
    live: bool,
    library: Library | None = None,
    unwritten: list[tuple[str, Path, str]] | None = None,
) -> tuple[Comparison | None, dict[str, Any] | None]:
    """The controller's outputs of a finished run: the JSON report (``--hfrouter-report``), the
    markdown summary written to ``summary`` (``--hfrouter-summary``) and appended to ``step_summary``
    (CI's ``GITHUB_STEP_SUMMARY``), the HTML coverage page; returns the comparison with the baseline
    and the coverage matrix, for the terminal. The garbage collector is paused meanwhile.

    An output that cannot be written (a file the start-up check could not foresee: ``/sys``, a full
    disk) is added to ``unwritten`` as (what, path, why) and the others are still written (an audit:
    a traceback after every test had passed, and no summary line)."""
    failures: list[tuple[str, Path, str]] = [] if unwritten is None else unwritten

    def attempt(what: str, path: Path, write: Callable[[], object]) -> None:
        try:
            write()
        except OSError as exc:
            failures.append((what, path, exc.strerror or str(exc)))

    if keeps_tests and not report.scenarios:  # an xdist worker's catalog, else this run's library's
        from .coverage import catalog
        from .library import shipped_library

        report.scenarios = catalog(library if library is not None else shipped_library())
    payload = report.to_file_payload() if keeps_tests else report.to_payload()
    # a baseline compares the real router's health between live runs: a replay run holds none of it
    before = json.loads(baseline.read_text(encoding="utf-8")) if baseline and live else None
    comparison = compare(before, payload) if before is not None else None
    if json_path is not None:
        attempt("the JSON report", json_path, lambda: report.write(json_path, payload if keeps_tests else None))
    # CI's step summary is left alone by a run that made no router call; the run's own file always
    # gets the section, and is written as the report is (CI's step summary gathers every step's)
    called = keeps_tests and any(c["route"] != OTHER for t in report.tests for c in t["calls"])  # not another host
    health = live or before is not None
    targets = [
        (t, mode) for t, mode in ((step_summary, "a"), (summary, "w")) if t and (t is summary or called or health)
    ]
    text = markdown(payload, before) if targets and health else ""
    if targets and keeps_tests and (summary or called):
        from .coverage import markdown as coverage_markdown

        text += ("\n" if text else "") + scrub.text(coverage_markdown(payload))
    if text:
        for target, mode in targets:
            what = "GITHUB_STEP_SUMMARY" if target is step_summary else "the summary"
            attempt(what, target, functools.partial(_write_summary, target, mode, text))
    if html is not None:
        from .coverage_html import write_html

        attempt("the HTML page", html, lambda: write_html(html, scrub.payload(payload, report.scrubbed_entries())))
    return comparison, payload.get("coverage")
