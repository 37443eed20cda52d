"""The tables the README and cassettes/SCENARIOS.md keep by hand, against the data they describe: a
contributor who adds a scenario, a truncating one, a verdict or a fault type learns here which table
to add it to (a contributor's audit: each could go stale with every test green)."""

from __future__ import annotations

import re
from pathlib import Path

from pytest_hfrouter.faults import FAULTS
from pytest_hfrouter.library import shipped_library
from pytest_hfrouter.verdicts import NAMES

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The text under ``heading`` (a Markdown heading line) up to the next heading of its level or above."""
    level = heading.split(" ", 1)[0]
    start = text.index(f"\n{heading}\n") + len(heading) + 2
    following = re.search(rf"^#{{1,{len(level)}}} ", text[start:], re.M)
    return text[start : start + following.start()] if following else text[start:]


def first_column(table: str) -> list[str]:
    return re.findall(r"^\| `([a-z0-9-]+)` \|", table, re.M)


def rows(table: str) -> dict[str, list[str]]:
    found = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        match = re.fullmatch(r"`([a-z0-9-]+)`", cells[0]) if cells else None
        if match:
            found[match.group(1)] = cells[1:]
    return found


def test_every_shipped_scenario_has_a_row_in_both_scenario_tables() -> None:
    library = shipped_library()
    for where, table in (
        ("README.md, Scenario library", section(README, "## Scenario library").split("\n### ", 1)[0]),
        ("cassettes/SCENARIOS.md", (ROOT / "cassettes" / "SCENARIOS.md").read_text(encoding="utf-8")),
    ):
        listed = rows(table)
        assert sorted(listed) == sorted(library.scenarios), where
        for name, cells in listed.items():
            scenario = library.scenarios[name]
            aliases = re.findall(r"`([a-z0-9-]+)`", cells[0])
            assert sorted(aliases) == sorted(scenario.aliases), (where, name)
            assert cells[1] == ("—" if scenario.status is None else str(scenario.status)), (where, name, cells[1])


def test_the_verdicts_table_names_every_verdict() -> None:
    assert first_column(section(README, "## Resilience verdicts")) == list(NAMES)


def test_the_truncated_stream_verdict_names_every_shipped_truncating_scenario() -> None:
    row = next(line for line in README.splitlines() if line.startswith("| `truncated-stream-accepted` |"))
    shipped = row.split("(shipped: ", 1)[1].split("; yours too", 1)[0]
    library = shipped_library()
    named = [name for name in re.findall(r"`([a-z0-9-]+)`", shipped) if name in library.scenarios]
    assert sorted(named) == sorted(s.name for s in library.scenarios.values() if s.truncates_stream)


def test_the_transport_faults_table_has_every_fault_type() -> None:
    listed = first_column(section(README, "### Transport faults and broken streams"))
    assert set(FAULTS) <= set(listed), sorted(set(FAULTS) - set(listed))


def test_the_resilient_marker_help_names_every_verdict() -> None:
    from pytest_hfrouter._names import MARKER_HELP, RESILIENT

    said = MARKER_HELP[RESILIENT].split("allow` (", 1)[1].split(")", 1)[0]
    assert said.split(", ") == list(NAMES)
