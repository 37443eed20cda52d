"""The report's sections of the terminal summary: live, chaos, verdicts, expired recordings, what a
recording run wrote, and requests outside any test. Plain values in (the merged report, the settings), lines out."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import scrub
from .report import Comparison, Report, harvest_lines, pair_states

if TYPE_CHECKING:
    from ._settings import Settings

Section = Callable[[str], None]


def write_summary(
    terminalreporter: Any,
    report: Report,
    settings: Settings,
    comparison: Comparison | None,
    coverage: dict[str, Any] | None,
    chaos_seed: int | None,
) -> None:
    def write(line: str) -> None:
        terminalreporter.write_line(scrub.text(line))

    def section(title: str) -> None:
        terminalreporter.write_sep("-", title)

    _live(report, settings, comparison, section, write)
    if settings.chaos:
        _chaos(report, settings, coverage, chaos_seed, section, write)
    if report.verdicts:
        section("hfrouter resilience verdicts")
        for verdict in report.verdicts:
            level = "" if verdict["level"] == "error" else f" ({verdict['level']})"
            write(f"{verdict['test']}: {verdict['name']}{level}: {verdict['explanation']}")
    if report.expired:
        from ._checks import age_text
        from .cassette_paths import record_command

        section("hfrouter expired recordings")
        for entry in report.expired:
            age = entry.get("undated") if entry["age_days"] is None else entry["age_days"]  # 0.0: a recent one
            write(f"{entry['cassette']} ({age_text(age)}), used by {entry['test']}")
            write(f"  re-record: {record_command(entry['test'], 'rewrite', terminalreporter.config)}")
    if settings.records:
        _recordings(report, settings, section, write)
    if report.outside_tests:
        section("hfrouter: requests outside any test (they fail the session)")
        write("made at import or collection time, between tests, or by a thread an earlier test left running:")
        for entry in report.outside_tests:
            write(f"{entry['request']}: {entry['problem']}")


def _live(report: Report, settings: Settings, comparison: Comparison | None, section: Section, write: Section) -> None:
    if settings.baseline is not None and settings.live is None:
        section("hfrouter live summary")
        write(
            f"--hfrouter-baseline {settings.baseline}: not compared; a baseline compares the real router's health "
            "between live runs (--live), and a replay run holds none of it"
        )
        return
    states = pair_states(report.to_payload())
    if not states and not report.drift and comparison is None and not report.harvest:
        return
    section("hfrouter live summary")
    write(f"{len(states)} provider x model pair(s), {sum(s.healthy for s in states.values())} healthy")
    for state in states.values():
        if not state.healthy:
            write(f"  failing: {state.provider} {state.model}: {state.status or 'no response'} {state.error or ''}")
    if comparison is not None:
        nothing = comparison.nothing_compared(len(states))
        if nothing:
            write(nothing)
        for before, now in comparison.regressions:
            write(
                f"REGRESSION {now.provider} {now.model}: was {before.status}, now {now.status or 'no response'}: "
                f"{now.error or ''}"
            )
        for _, now in comparison.recoveries:
            write(f"recovered {now.provider} {now.model}: {now.status}")
    for drift in report.drift:
        write(f"drift in {drift['recorded_in']} ({drift['request']}): {'; '.join(drift['differences'])}")
    if report.drift and settings.fail_on_drift:  # the exit status says it; so must the terminal
        write(f"the session fails: {len(report.drift)} drifted answer(s) and --hfrouter-fail-on-drift")
    for line in harvest_lines(report.harvest):
        write(line)
    if settings.report is not None:
        write(f"report: {settings.report}")


def _chaos(
    report: Report,
    settings: Settings,
    coverage: dict[str, Any] | None,
    seed: int | None,
    section: Section,
    write: Section,
) -> None:
    section("hfrouter chaos")
    under = [t for t in report.tests if "chaos" in t]
    injected = sum(len(t["chaos"]) for t in under)
    hit = sum(bool(t["chaos"]) for t in under)
    write(
        f"seed {seed}, rate {settings.chaos_rate:g}: {len(under)} test(s) ran under chaos, "
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
    if coverage is not None:
        from .coverage import cell_state

        met = sum(cell_state(c) in ("met", "failed") for row in coverage["cells"].values() for c in row.values())
        gaps = sum(len(names) for names in coverage["gaps"].values())
        write(
            f"outage coverage: {met} provider x scenario pair(s) met, {gaps} gap(s) "
            "(the matrix: --hfrouter-summary, --hfrouter-html or --hfrouter-report)"
        )
    write(f"replay this run: --hfrouter-chaos-seed={seed}")
    for name, path in (("report", settings.report), ("HTML", settings.html)):
        if path is not None:
            write(f"coverage {name}: {path}")


def _recordings(report: Report, settings: Settings, section: Section, write: Section) -> None:
    """What a recording run wrote, per cassette; and, when it wrote nothing, why that can be."""
    section("hfrouter recordings")
    cassettes: dict[str, list[int]] = {}
    for entry in report.recorded:
        counts = cassettes.setdefault(entry["cassette"], [0, 0, 0])
        for n, key in enumerate(("written", "failed", "lost")):
            counts[n] += entry[key]
    written = sum(counts[0] for counts in cassettes.values())
    unwritten = {entry["cassette"]: entry["error"] for entry in report.recorded if entry.get("error")}
    if written:
        write(f"{written} interaction(s) written into {sum(1 for c in cassettes.values() if c[0])} cassette(s):")
    if not written and not unwritten:
        write(
            "nothing recorded: no test the plugin acts in sent a call the router answered (a call its cassette "
            "already holds, or an outage rule answers, is not recorded again; a test that failed before its calls, "
            "on a malformed cassette say, records nothing)"
        )
    for path, (n, failed, lost) in cassettes.items():
        if path in unwritten and not n:
            continue
        notes = ([f"{failed} of them failures"] if failed else []) + (
            [f"{lost} call(s) with no complete response left out"] if lost else []
        )
        write(f"  {path}: {n} interaction(s)" + (f" ({'; '.join(notes)})" if notes else ""))
    if unwritten:
        write(f"{len(unwritten)} cassette(s) could not be written (each unchanged):")
        for path, why in unwritten.items():
            write(f"  {path}: {why}")
    if not settings.scope.every_test:
        write(f"{settings.scope.describe()}: tests without its markers or fixtures were not recorded")
