"""Outage coverage: which provider x scenario pairs the suite met, which tests met them, how they ended.

Built from the report's per-test records alone (plain builtins), so the same code serves a run,
an xdist controller and ``hfrouter report merge`` of several CI shards' files.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from . import scrub
from .routes import INFERENCE_KINDS

if TYPE_CHECKING:
    from .library import Library
    from .traffic import Call, Exchange

#: the provider column of a scenario met by a call that names no single provider (a Hub look-up)
ANY = "(any)"
OUTCOMES = ("passed", "failed", "skipped", "xfailed", "xpassed")


def task_of(call: Call) -> str | None:
    """The router task of a call: from the call itself when it knows it, else read off its URL."""
    task = getattr(call, "task", None)
    if task:
        return str(task)
    if call.route not in INFERENCE_KINDS:
        return None
    path = call.url.split("?", 1)[0].rstrip("/")
    return "chat-completion" if path.endswith("chat/completions") else None


def call_record(call: Call, clean: Callable[[str], str]) -> dict[str, Any]:
    """A call for the report, its strings passed through ``clean`` (`scrub.Scrubber.once`: a query
    string may carry a key).

    Read-only: the same call in many tests is one record (a suite repeats its calls), so the
    report's memory and its JSON pay for each distinct call once."""
    task = task_of(call)
    return {
        "provider": _clean(call.provider, clean), "model": _clean(call.model, clean),
        "task": _clean(task, clean), "route": clean(call.route), "method": clean(call.method),
        "url": clean(call.url), "stream": call.stream, "status": call.status,
        "fault": _clean(call.fault, clean), "answered_by": clean(call.answered_by), "unread": call.unread,
    }  # fmt: skip


def _clean(value: str | None, clean: Callable[[str], str]) -> str | None:
    return None if value is None else clean(value)


def traffic_record(exchange: Exchange) -> dict[str, Any]:
    """A test's traffic for the report: the scenarios it met, the (provider, scenario) pairs, its
    calls (its outcome and verdicts are added when they are known).

    Scrubbed as it is made (`scrub.Scrubber.once`), and one record, made once, for every test
    that made the same calls: a suite repeats its calls, so the report's scrubbing, its memory
    and its JSON pay for each distinct traffic once (`report.write_json` writes a shared record's
    JSON once). Tuples: the run keeps them to the end, and the garbage collector stops tracking
    a tuple of strings (`_session._record`)."""
    scrubber = scrub.current()
    calls = exchange.calls
    key: tuple[Any, ...] = (scrubber, *map(_call_key, calls))
    for call in calls:  # a loop, not any() over a generator: after every test
        if call.scenarios and not call.provider:  # the rules name the provider
            key += tuple((rule.scenario.name, rule.literal_provider) for rule in exchange.rules)
            break
    record = _RECORDS.get(key)
    if record is not None:
        return record
    met: dict[tuple[str, str], None] = {}
    for call in calls:
        if call.unread:  # closed before its fault: the outage never reached the app
            continue
        for name in call.scenarios:
            provider = call.provider or call.looked_up_for  # a Hub look-up: the provider the client was calling
            if provider:
                met[(provider, name)] = None
                continue
            # A Hub look-up whose client call was not read: the rules that injected the scenario may name one.
            named = [r.literal_provider for r in exchange.rules if r.scenario.name == name and r.literal_provider]
            for provider in named or [ANY]:
                met[(provider, name)] = None
    clean = scrubber.once
    if len(_RECORDS) >= _MAX_RECORDS:  # calls with ids in their URLs (job polls): keep it bounded
        _RECORDS.clear()
        _CALLS.clear()
    shared = []
    for call_key, call in zip(key[1 : 1 + len(calls)], calls, strict=True):
        known = _CALLS.get(call_key)
        if known is None or known[0] is not scrubber:
            known = _CALLS[call_key] = (scrubber, call_record(call, clean))
        shared.append(known[1])
    record = _RECORDS[key] = {
        "scenarios": tuple(sorted({clean(name) for _, name in met})),
        "met": tuple((clean(provider), clean(name)) for provider, name in met),
        "calls": tuple(shared),
    }
    return record


#: what makes two calls the same call for the report (their scenarios too: they make ``met``)
_call_key: Callable[[Call], tuple[Any, ...]] = operator.attrgetter(
    "provider",
    "model",
    "route",
    "method",
    "url",
    "stream",
    "status",
    "fault",
    "answered_by",
    "scenarios",
    "looked_up_for",
    "unread",
)


#: traffic key → a test's traffic record; call key → (the scrubber that cleaned it, the call's record)
_RECORDS: dict[tuple[Any, ...], dict[str, Any]] = {}
_CALLS: dict[tuple[Any, ...], tuple[scrub.Scrubber, dict[str, Any]]] = {}
_MAX_RECORDS = 4096


def catalog(library: Library) -> dict[str, dict[str, Any]]:
    """What the report needs to know of each scenario to find gaps without the library at hand."""
    return {
        s.name: {"kind": "http" if s.is_http else "transport", "status": s.status,
                 "fault": s.fault.type if s.fault else None, "routes": list(s.routes), "stream": s.stream,
                 **({"providers": list(s.providers)} if s.providers else {}),
                 **({"pins_task": s.pins_task} if s.pins_task else {})}
        for s in library.scenarios.values()
    }  # fmt: skip


def loaded_catalog(run_library: Library | None = None) -> dict[str, dict[str, Any]] | None:
    """The `catalog` of the run's library (the user's scenarios with the shipped ones), else of the
    shipped library if this process has loaded it (an xdist worker that ran a test hands it to the
    controller, which then loads nothing), else None."""
    import sys

    if run_library is not None:
        return catalog(run_library)
    library = sys.modules.get(f"{__package__}.library")
    if library is None or not library.shipped_library.cache_info().currsize:
        return None
    return catalog(library.shipped_library())


#: a call's router task → the Hub mapping's task it is served under, where the two names differ
_MAPPING_TASK = {"chat-completion": "conversational"}


def _applies(entry: dict[str, Any], kind: str, stream: bool, tasks: set[str | None]) -> bool:
    """Whether the scenario could happen to calls of this kind (``tasks``: the tasks of the provider's calls)."""
    routes = entry.get("routes") or []
    if kind == "mapping":
        pinned = entry.get("pins_task")  # an entry of that task changes nothing for a call of it
        return routes == ["mapping"] and (
            pinned is None or any(task is None or _MAPPING_TASK.get(task, task) != pinned for task in tasks)
        )
    return kind in routes and entry.get("stream") in (None, stream)


def matrix(tests: Sequence[dict[str, Any]], scenarios: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per provider x scenario: the tests that met it and their outcomes; per provider: the gaps.

    A gap is a scenario that could happen to a provider's calls as the suite makes them (its
    route and request mode) but that no test meets, for that provider or for any (a Hub look-up).
    """
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    kinds: dict[str, set[tuple[str, bool]]] = {}
    tasks: dict[str, set[str | None]] = {}  # per provider, the tasks of its calls
    # A run shares one record among the tests that made the same call, and one tuple of them among
    # the tests that made the same calls (`traffic_record`): each is read once.
    read: set[int] = set()
    listed: set[tuple[str, str, str]] = set()  # (provider, scenario, test): a cell lists a test once
    for test in tests:
        calls = test.get("calls") or ()
        if id(calls) in read:
            calls = ()
        else:
            read.add(id(calls))
        for call in calls:
            if id(call) in read:
                continue
            read.add(id(call))
            provider = call.get("provider")
            if provider and call.get("route") in INFERENCE_KINDS:
                kinds.setdefault(provider, set()).add((call["route"], bool(call.get("stream"))))
                tasks.setdefault(provider, set()).add(call.get("task"))
                if call["route"] == "provider":
                    kinds[provider].add(("mapping", False))
        for provider, scenario in test.get("met") or []:
            row = cells.get(provider)
            cell = row.get(scenario) if row is not None else None
            if cell is None:
                cell = cells.setdefault(provider, {})[scenario] = {"tests": [], **dict.fromkeys(OUTCOMES, 0)}
            if (provider, scenario, test["test"]) not in listed:
                listed.add((provider, scenario, test["test"]))
                cell["tests"].append(test["test"])
                outcome = test.get("outcome") or "passed"
                cell[outcome] = cell.get(outcome, 0) + 1
    for row in cells.values():  # by node id: a serial run and one under xdist (completion order) list alike
        for cell in row.values():
            cell["tests"].sort()
    providers = sorted(set(kinds) | set(cells), key=lambda p: (p == ANY, p))
    gaps = {
        provider: [
            name for name, entry in scenarios.items()
            if not _ran(cells.get(provider, {}).get(name)) and not _ran(cells.get(ANY, {}).get(name))
            and provider in entry.get("providers", (provider,))  # an answer of some providers only
            and any(_applies(entry, k, s, tasks.get(provider, set())) for k, s in kinds.get(provider, ()))
        ]
        for provider in providers if provider != ANY
    }  # fmt: skip
    names = [name for name in scenarios if any(name in cells.get(p, {}) for p in providers)]
    names += sorted({name for row in cells.values() for name in row} - set(names))  # scenarios the catalog lacks
    return {"providers": providers, "scenarios": names, "cells": cells, "gaps": {p: g for p, g in gaps.items() if g}}


def _ran(cell: dict[str, Any] | None) -> bool:
    """A test that met the scenario ran to an outcome (not skipped): the pair is covered."""
    return cell is not None and len(cell["tests"]) > cell.get("skipped", 0)


def cell_state(cell: dict[str, Any] | None) -> str:
    """``met`` (every test that met it passed, or xpassed), ``failed`` (one failed, or xfailed: the
    app did not come through), ``skipped`` (the tests that met it were all skipped after) or ``none``."""
    if cell is None or not cell["tests"]:
        return "none"
    if not _ran(cell):
        return "skipped"
    return "failed" if cell.get("failed") or cell.get("xfailed") else "met"


_SYMBOL = {"met": "✅", "failed": "❌", "none": "—"}


def cell_text(cell: dict[str, Any] | None) -> str:
    state = cell_state(cell)
    if state == "none":
        return "—"
    assert cell is not None
    if state == "skipped":
        return f"skipped {cell['skipped']}"
    ran = len(cell["tests"]) - cell.get("skipped", 0)
    if state == "met":
        return f"✅ {ran}"
    failed, xfailed = cell.get("failed", 0), cell.get("xfailed", 0)
    return f"❌ {failed + xfailed}/{ran} failed" + (f" ({xfailed} xfail)" if xfailed else "")


def outcome_counts(tests: Iterable[dict[str, Any]]) -> dict[str, int]:
    counts = dict.fromkeys(OUTCOMES, 0)
    for test in tests:
        outcome = test.get("outcome") or "passed"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def describe_counts(counts: dict[str, int]) -> str:
    """``"6 passed, 1 failed, 2 skipped, 1 xfailed, 1 xpassed"``: every outcome, so the parts add up."""
    said = f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
    return said + "".join(f", {counts[o]} {o}" for o in ("xfailed", "xpassed") if counts.get(o))


def describe_chaos(chaos: dict[str, Any]) -> str:
    """``seed 7, rate 0.5``; for merged reports of several chaos runs, each of them."""
    runs = chaos.get("runs")
    if runs:
        each = [describe_chaos(run) if run else "no chaos" for run in runs]
        return f"{len(runs)} reports: " + "; ".join(each)
    return f"seed {chaos['seed']}, rate {chaos['rate']:g}"


def markdown(payload: dict[str, Any]) -> str:
    """The provider x scenario matrix and its gaps (for ``$GITHUB_STEP_SUMMARY``)."""
    from . import _markdown as md

    coverage = payload.get("coverage") or matrix(payload.get("tests") or [], payload.get("scenarios") or {})
    tests = payload.get("tests") or []
    met_pairs = sum(_ran(cell) for row in coverage["cells"].values() for cell in row.values())
    counts = outcome_counts(tests)
    lines = ["## pytest-hfrouter: outage coverage", ""]
    chaos = payload.get("chaos")
    if chaos:
        lines += [f"Chaos run: {describe_chaos(chaos)}.", ""]
    lines += [
        f"{len(tests)} test(s): {describe_counts(counts)}; {met_pairs} provider x scenario pair(s) met"
        + (" — **interrupted run**" if payload.get("interrupted") else ""),
        "",
    ]
    lines += incomplete_lines(payload)
    providers = coverage["providers"]
    if coverage["scenarios"]:
        lines.append("| scenario | " + " | ".join(md.text(p) for p in providers) + " |")
        lines.append("|---|" + "---|" * len(providers))
        for name in coverage["scenarios"]:
            cells = [cell_text(coverage["cells"].get(p, {}).get(name)) for p in providers]
            lines.append(f"| {md.code(name, in_table=True)} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "✅ every test that met it passed · ❌ failed/ran (an xfail counts as failed: the app did not come "
            "through) · skipped: every test that met it was skipped after · — no test met it",
            "",
        ]
    else:
        lines += ["No test met an outage scenario.", ""]
    if coverage["gaps"]:
        lines.append("Gaps:")
        lines += [
            f"- {md.text(provider)}: no test meets {md.text(', '.join(names))}"
            for provider, names in coverage["gaps"].items()
        ]
        lines.append("")
    failed = [t for t in tests if t.get("outcome") == "failed" and (t.get("met") or t.get("chaos"))]
    if failed:
        lines.append("Failed under an outage:")
        for test in failed:
            lines.append(f"- {md.code(test['test'])}: {md.text(', '.join(test.get('scenarios') or []) or '-')}")
            lines += [f"  - reproduce: {md.code(line)}" for line in test.get("reproduce") or []]
        lines.append("")
    return "\n".join(lines)


def merge(payloads: Sequence[dict[str, Any]], conflicts: list[str] | None = None) -> dict[str, Any]:
    """One report from several (CI shards): lists concatenated, tests de-duplicated, the record of the
    report that finished last winning whatever order the reports came in (a shell glob's); ``conflicts``
    gets a line for each test two reports gave different outcomes."""
    if not payloads:
        raise ValueError("nothing to merge")
    merged = dict(payloads[0])
    for key in ("calls", "probes", "drift", "verdicts", "expired", "recorded"):
        merged[key] = [entry for payload in payloads for entry in payload.get(key) or []]
    tests: dict[str, dict[str, Any]] = {}
    for payload in sorted(payloads, key=lambda p: str(p.get("finished") or "")):  # stable: equal times keep order
        for test in payload.get("tests") or []:
            earlier = tests.get(test["test"])
            if conflicts is not None and earlier is not None and earlier.get("outcome") != test.get("outcome"):
                conflicts.append(
                    f"{test['test']}: {earlier.get('outcome')} in one report, {test.get('outcome')} in one that "
                    f"finished later ({payload.get('finished') or 'unknown'}): kept the later"
                )
            tests[test["test"]] = test
    merged["tests"] = list(tests.values())
    scenarios: dict[str, Any] = {}
    for payload in payloads:
        scenarios.update(payload.get("scenarios") or {})
    merged["scenarios"] = scenarios
    merged["interrupted"] = any(p.get("interrupted") for p in payloads)
    incomplete = [note for p in payloads for note in p.get("incomplete") or []]
    if incomplete:
        merged["incomplete"] = incomplete
    starts = [p["started"] for p in payloads if p.get("started")]
    ends = [p["finished"] for p in payloads if p.get("finished")]
    merged["started"], merged["finished"] = (min(starts) if starts else None), (max(ends) if ends else None)
    merged["duration_s"] = round(sum(p.get("duration_s") or 0 for p in payloads), 3)
    merged["merged_from"] = len(payloads)
    chaos = [p.get("chaos") for p in payloads]
    seeds = {(c["seed"], c["rate"]) for c in chaos if c}
    # one chaos run in every report: that run; else each report's (a report without chaos: None)
    merged["chaos"] = (
        next((c for c in chaos if c), None)
        if len(seeds) <= 1 and (all(chaos) or not any(chaos))
        else {"seed": "several", "rate": 0.0, "runs": chaos}
    )
    merged["coverage"] = matrix(merged["tests"], scenarios)
    return merged


def incomplete_lines(payload: dict[str, Any]) -> list[str]:
    """The summaries' word on what a report lacks (`report.Report.incomplete`): Markdown lines and a blank."""
    notes = payload.get("incomplete") or []
    return [*(f"**Incomplete:** {note}" for note in notes), ""] if notes else []
