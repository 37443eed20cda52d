"""The outage coverage report as one self-contained HTML page: no network, no script.

The provider x scenario matrix is a heat map (green: every test that met the pair passed, red
by the share that failed, grey: no test met it); each cell links to the list of its tests, and
each test to its call log. Links are in-page anchors; ``:target`` highlights where one lands.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from .coverage import cell_state, cell_text, describe_chaos, describe_counts, matrix, outcome_counts

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de}
.meta{color:#59636e;margin:0 0 16px}
table{border-collapse:collapse}
table.matrix td,table.matrix th{border:1px solid #d0d7de;padding:4px 8px;text-align:center;white-space:nowrap}
table.matrix th.scenario{text-align:left;font-family:ui-monospace,Menlo,monospace;font-weight:normal}
table.matrix thead th{background:#f6f8fa}
td.none{background:#eef0f2;color:#8c959f}
td a{color:inherit;text-decoration:none;display:block}
.legend span{display:inline-block;padding:2px 8px;margin-right:6px;border:1px solid #d0d7de}
.cell,.test{border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;margin:8px 0}
.cell:target,.test:target{outline:3px solid #0969da}
.passed{color:#1a7f37}.failed{color:#cf222e}.skipped,.xfailed{color:#59636e}
table.calls td,table.calls th{border-bottom:1px solid #eef0f2;padding:2px 8px;text-align:left;font-size:13px}
code,.mono{font-family:ui-monospace,Menlo,monospace;font-size:12.5px}
ul.gaps li{margin:2px 0}
"""


def _id(*parts: str) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9_-]+", "_", part) for part in parts)


def _text(cell: dict[str, Any] | None) -> str:
    """The Markdown cell's text with plain check marks (emoji fonts are not everywhere)."""
    return cell_text(cell).replace("✅", "✓").replace("❌", "✗")


def _colour(cell: dict[str, Any] | None) -> str:
    """Green for pairs met without a failure, deeper red the larger the share that failed."""
    state = cell_state(cell)
    if state in ("none", "skipped") or cell is None:
        return "background:#eef0f2"  # grey, as the legend says: not met, or all that met it were skipped
    ran = max(1, len(cell["tests"]) - cell.get("skipped", 0))
    if state == "met":
        return "background:#a7e3b5"
    share = (cell["failed"] + cell.get("xfailed", 0)) / ran
    light = round(85 - 35 * share)
    return f"background:hsl(0,75%,{light}%)"


def render(payload: dict[str, Any]) -> str:
    esc = html.escape
    tests = payload.get("tests") or []
    coverage = payload.get("coverage") or matrix(tests, payload.get("scenarios") or {})
    providers: list[str] = coverage["providers"]
    counts = outcome_counts(tests)
    number = {test["test"]: n for n, test in enumerate(tests, 1)}
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>pytest-hfrouter: outage coverage</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>pytest-hfrouter: outage coverage</h1>",
    ]
    chaos = payload.get("chaos")
    meta = f"{len(tests)} test(s): {describe_counts(counts)}"
    meta += f" · mode {payload.get('mode', '?')}"
    if chaos:
        meta += f" · chaos {describe_chaos(chaos)}"
    if payload.get("merged_from"):
        meta += f" · merged from {payload['merged_from']} reports"
    stop = " · <strong>interrupted run</strong>" if payload.get("interrupted") else ""
    out.append(f'<p class="meta">{esc(meta)}{stop}</p>')
    out.extend(
        f'<p class="meta"><strong>Incomplete:</strong> {esc(note)}</p>' for note in payload.get("incomplete") or []
    )
    out.append(
        '<p class="legend"><span style="background:#a7e3b5">every test passed</span>'
        '<span style="background:hsl(0,75%,60%)">some failed or xfailed (deeper: more)</span>'
        '<span class="none" style="background:#eef0f2">no test met it, or all that did were skipped</span></p>'
    )
    out.append("<h2>Provider x scenario</h2>")
    if coverage["scenarios"]:
        out.append('<table class="matrix"><thead><tr><th>scenario</th>')
        out += [f"<th>{esc(p)}</th>" for p in providers]
        out.append("</tr></thead><tbody>")
        for name in coverage["scenarios"]:
            out.append(f'<tr><th class="scenario">{esc(name)}</th>')
            for provider in providers:
                cell = coverage["cells"].get(provider, {}).get(name)
                if cell_state(cell) == "none" and not (cell and cell["tests"]):
                    out.append('<td class="none">—</td>')
                    continue
                target = _id("cell", provider, name)
                title = f"{provider} x {name}: {len(cell['tests']) if cell else 0} test(s)"
                out.append(
                    f'<td style="{_colour(cell)}" title="{esc(title)}"><a href="#{target}">{esc(_text(cell))}</a></td>'
                )
            out.append("</tr>")
        out.append("</tbody></table>")
    else:
        out.append("<p>No test met an outage scenario.</p>")
    if coverage["gaps"]:
        out.append('<h2>Gaps</h2><ul class="gaps">')
        out += [
            f"<li><strong>{esc(p)}</strong>: no test meets {', '.join(f'<code>{esc(n)}</code>' for n in names)}</li>"
            for p, names in coverage["gaps"].items()
        ]
        out.append("</ul>")
    out.append("<h2>Pairs and their tests</h2>")
    # each test's record by its id, found once (an audit: a scan of every test for each of a cell's tests made
    # the page of 32,000 tests take 20 s); the first record of an id, as the scan found
    by_id: dict[str, dict[str, Any]] = {}
    for test in tests:
        by_id.setdefault(test["test"], test)
    for provider in providers:
        for name, cell in coverage["cells"].get(provider, {}).items():
            out.append(f'<div class="cell" id="{_id("cell", provider, name)}">')
            out.append(f"<strong>{esc(provider)}</strong> x <code>{esc(name)}</code>: {esc(_text(cell))}<ul>")
            for nodeid in cell["tests"]:
                test = by_id.get(nodeid, _UNKNOWN)
                outcome = test.get("outcome") or "passed"
                out.append(
                    f'<li><a href="#test-{number.get(nodeid, 0)}" class="mono">{esc(nodeid)}</a> '
                    f'<span class="{esc(outcome)}">{esc(outcome)}</span></li>'
                )
            out.append("</ul></div>")
    out.append("<h2>Tests and their call logs</h2>")
    for test in tests:
        out.append(_test_block(test, number[test["test"]]))
    out.append("</body></html>")
    return "\n".join(out) + "\n"


_UNKNOWN: dict[str, Any] = {"outcome": "?"}


def _test_block(test: dict[str, Any], number: int) -> str:
    esc = html.escape
    outcome = test.get("outcome") or "passed"
    parts = [
        f'<div class="test" id="test-{number}"><span class="mono">{esc(test["test"])}</span> '
        f'<span class="{esc(outcome)}">{esc(outcome)}</span>'
    ]
    if test.get("scenarios"):
        parts.append(" · met " + ", ".join(f"<code>{esc(s)}</code>" for s in test["scenarios"]))
    for injection in test.get("chaos") or []:
        from .chaos import describe

        parts.append(f"<br>chaos: {esc(describe(injection))}")
    for line in test.get("reproduce") or [] if outcome == "failed" else []:
        parts.append(f"<br>reproduce: <code>{esc(line)}</code>")
    for verdict in test.get("verdicts") or []:
        parts.append(f"<br>verdict <strong>{esc(verdict['name'])}</strong>: {esc(verdict['explanation'])}")
    calls = test.get("calls") or []
    if calls:
        parts.append(
            '<table class="calls"><tr><th>#</th><th>route</th><th>provider</th><th>model</th><th>task</th>'
            "<th>request</th><th>status / fault</th><th>answered by</th></tr>"
        )
        for n, call in enumerate(calls, 1):
            outcome_text = call.get("fault") or (str(call["status"]) if call.get("status") is not None else "-")
            stream = " (stream)" if call.get("stream") else ""
            parts.append(
                f"<tr><td>{n}</td><td>{esc(call.get('route') or '')}</td><td>{esc(call.get('provider') or '-')}</td>"
                f"<td>{esc(call.get('model') or '-')}</td><td>{esc(call.get('task') or '-')}</td>"
                f'<td class="mono">{esc(call.get("method") or "")} {esc(call.get("url") or "")}{stream}</td>'
                f"<td>{esc(outcome_text)}</td><td>{esc(call.get('answered_by') or '')}"
                f"{', the app stopped reading before its fault' if call.get('unread') else ''}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<br><em>no router or Hub calls</em>")
    parts.append("</div>")
    return "".join(parts)


def write_html(path: Path, payload: dict[str, Any]) -> None:
    from ._files import write_atomically

    write_atomically(path, render(payload))
