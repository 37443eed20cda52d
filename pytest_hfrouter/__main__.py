"""The ``hfrouter`` command (also ``python -m pytest_hfrouter``): everything outside pytest.

``scenarios`` lists the outage library and shows what a client sees; ``serve`` runs the router
double for apps in other processes; ``lint`` checks cassettes; ``report`` merges and shows the
JSON reports of several runs (CI shards) as Markdown or HTML.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from .errors import HFRouterError

OUTAGE_HELP = (
    "SCENARIO[:key=value[,key=value]] with keys provider, model, times, delay, step (submit, poll, download), "
    "retry_after (seconds, or none to drop the header), status (e.g. novita-500:provider=novita,times=2); repeat for "
    "several outages, the first wins"
)

SCENARIO_DIR_HELP = "A folder of your own scenario files (as ini hfrouter_scenario_dirs); repeatable"


def parse_outage_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"novita-500:provider=novita,times=2"`` → ``("novita-500", {"provider": "novita", "times": 2})``."""
    name, _, rest = spec.partition(":")
    kwargs: dict[str, Any] = {}
    for pair in filter(None, rest.split(",")):
        key, sep, value = pair.partition("=")
        if not sep:
            raise HFRouterError(f"--outage {spec!r}: {pair!r} is not key=value ({OUTAGE_HELP})")
        if key in kwargs:  # an audit: the last of the two was kept, in silence
            raise HFRouterError(f"--outage {spec!r}: {key} is given twice; give each key once ({OUTAGE_HELP})")
        if key in ("times", "status"):
            kwargs[key] = int(value) if value.isdigit() else value
        elif key == "retry_after" and value.lower() == "none":
            kwargs[key] = None
        elif key in ("delay", "retry_after"):
            try:
                kwargs[key] = float(value)
            except ValueError:
                kwargs[key] = value
        else:
            kwargs[key] = value
    return name, kwargs


def address_problem(host: str, port: int) -> str | None:
    """What is wrong with ``--host`` / ``--port``, in one line, or None."""
    if not 0 <= port <= 65535:
        return f"--port {port}: a port is 0-65535 (0: any free port)"
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return f"--host {host}: not an address to listen on ({reason}); use 127.0.0.1 (the default) or localhost"
    return None


def serve(args: argparse.Namespace) -> int:
    import os

    from . import scrub
    from .double import PortInUse, RouterDouble
    from .engine import Engine
    from .library import with_user_scenarios
    from .markers import SERVE_API, MarkerError, parse_outage
    from .traffic import Exchange

    scrub.register(scrub.environment_secrets(os.environ))
    try:
        library = with_user_scenarios(tuple(Path(folder).resolve() for folder in args.scenario_dir))
        specs = [parse_outage_spec(spec) for spec in args.outage]
        rules = [parse_outage((name,), kwargs, library, api=SERVE_API) for name, kwargs in specs]
    except (MarkerError, HFRouterError) as exc:
        return _fail(str(exc))
    problem = address_problem(args.host, args.port)
    if problem:
        return _fail(problem)
    engine = Engine(library)
    engine.begin(Exchange(rules=rules, strict=args.strict))
    try:
        double = RouterDouble(engine, args.host, args.port, log=_log_line)
    except PortInUse as exc:
        return _fail(str(exc))
    except OSError as exc:  # an address of another machine, say
        return _fail(f"--host {args.host} --port {args.port}: cannot listen there ({exc.strerror or exc})")
    stop = threading.Event()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C, also where SIGINT was ignored
        signal.signal(stop_signal, lambda *_: stop.set())
    with double:
        print(f"pytest-hfrouter router double on {double.base_url}", flush=True)
        print(f"  router base: {double.base_url}   Hub (HF_ENDPOINT): {double.base_url}", flush=True)
        print(f"  openai SDK base_url: {double.base_url}/v1", flush=True)
        for rule in rules:
            print(f"  outage: {rule.describe()}", flush=True)
        print("  Ctrl-C stops it.", flush=True)
        while not stop.wait(0.5):
            pass
    for rule in rules:  # an outage that never happened tested nothing: say so
        if rule.hits == 0:
            print(f"  note: {rule.describe()} answered no request", flush=True)
    print("stopped", flush=True)
    return 0


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _log_line(line: str) -> None:
    """One request's line, in one write: ``print`` writes the line and its end apart, and the double's threads
    glued two requests on one line (an audit)."""
    from . import scrub

    text = scrub.text(line) + "\n"
    with _LOG_LOCK:
        sys.stdout.write(text)
        sys.stdout.flush()


_LOG_LOCK = threading.Lock()


def _fail(message: str) -> int:
    print(f"hfrouter: error: {message}", file=sys.stderr)
    return 2


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("pytest-hfrouter")
    except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
        return "unknown"


def scenarios(args: argparse.Namespace) -> int:
    from .errors import ScenarioError
    from .library import with_user_scenarios
    from .scenario_info import show, table

    try:
        library = with_user_scenarios(tuple(Path(folder).resolve() for folder in args.scenario_dir))
    except HFRouterError as exc:
        return _fail(str(exc))
    if args.scenarios_command == "show":
        try:
            print(show(library, args.name))
        except ScenarioError as exc:
            return _fail(str(exc))
        return 0
    if args.scenarios_command in ("promote", "diff"):
        return _harvested(args, library)
    seen = None
    if args.report:
        from .scenario_info import seen_in_the_wild

        try:
            seen = seen_in_the_wild(_read_report(args.report))
        except HFRouterError as exc:
            return _fail(str(exc))
    print(table(library, seen))
    return 0


def _harvested(args: argparse.Namespace, library: Any) -> int:
    """``scenarios promote`` and ``scenarios diff``: a harvested candidate, made usable or compared."""
    from .errors import CassetteError
    from .harvest import PromoteError, nearest, promote

    candidate = Path(args.file)
    if not candidate.is_file():
        return _fail(f"{candidate}: no such candidate file (they are kept in hfrouter_harvest_dir)")
    if args.scenarios_command == "diff":
        try:
            name, differences = nearest(candidate, library)
        except (CassetteError, HFRouterError, IndexError) as exc:
            return _fail(f"{candidate}: not a scenario file ({exc})")
        print(f"nearest known scenario: {name}")
        print("\n".join(f"  {line}" for line in differences) if differences else "  the same shape")
        return 0
    into = Path(args.into)
    try:
        target = promote(candidate, args.name, into, library)
    except PromoteError as exc:
        return _fail(str(exc))
    print(f"promoted {candidate} -> {target}")
    print(f"use it after adding the folder to your ini: hfrouter_scenario_dirs = {into}")
    print(f'    @pytest.mark.hfrouter_outage("{args.name}", provider=...)')
    return 0


def _read_report(path: str) -> dict[str, Any]:
    import json

    from .report import report_problem

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HFRouterError(f"{path}: no such file (a report written by --hfrouter-report)") from None
    except (OSError, ValueError) as exc:
        raise HFRouterError(f"{path}: not a JSON report ({exc})") from None
    except RecursionError:  # arrays nested deeper than Python reads (an audit: a traceback)
        raise HFRouterError(f"{path}: not a report: its JSON is nested too deep to read") from None
    problem = report_problem(data)
    if problem is not None:
        raise HFRouterError(f"{path}: {problem}")
    return data  # type: ignore[no-any-return]


def report(args: argparse.Namespace) -> int:
    from . import scrub
    from .coverage import markdown, matrix, merge
    from .coverage_html import write_html
    from .report import SCHEMA, write_json

    # each output a file of its own, none of them a report read (an audit: --html onto the report read
    # replaced it, and --html X --markdown X kept only the Markdown)
    outputs = [(name, value) for name, value in (("--output", getattr(args, "output", None)),
               ("--html", args.html), ("--markdown", args.markdown)) if value]  # fmt: skip
    seen: dict[Path, str] = {Path(path).resolve(): "a report it reads" for path in args.reports}
    for name, value in outputs:
        other = seen.get(Path(value).resolve())
        if other is not None:
            return _fail(f"{name} {value} is {other} too; write each to a file of its own")
        seen[Path(value).resolve()] = name
    try:
        payloads = [_read_report(path) for path in args.reports]
    except HFRouterError as exc:
        return _fail(str(exc))
    # Reports are scrubbed when written; an older or hand-edited one is scrubbed again on the way out.
    scrub.register(scrub.environment_secrets(os.environ))
    payloads = [scrub.payload(p) for p in payloads]
    try:
        if args.report_command == "merge":
            conflicts: list[str] = []
            payload = merge(payloads, conflicts)
            for conflict in conflicts:
                print(f"hfrouter report merge: {conflict}", file=sys.stderr)
            payload["schema"] = SCHEMA
            write_json(Path(args.output), payload)
            tests = len(payload["tests"])
            print(f"merged {len(payloads)} report(s), {tests} test(s), into {args.output}")
        else:
            payload = payloads[0]
            payload["coverage"] = matrix(payload.get("tests") or [], payload.get("scenarios") or {})
        if args.html:
            write_html(Path(args.html), payload)
            print(f"HTML: {args.html}")
        if args.markdown:
            Path(args.markdown).write_text(scrub.text(markdown(payload)), encoding="utf-8")
            print(f"Markdown: {args.markdown}")
    except OSError as exc:  # a folder, a path under a file, a place one may not write
        return _fail(f"cannot write {exc.filename}: {exc.strerror}; name a file in a folder you can write to")
    if args.report_command == "show" and not args.html and not args.markdown:
        print(scrub.text(markdown(payload)), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hfrouter", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s (pytest-hfrouter) {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    # each command names the function that runs it (``run``): a command is its parser and that function
    listing = commands.add_parser("scenarios", help="List the scenarios, the shipped ones and yours (or show one)")
    listing.set_defaults(run=scenarios)
    listing.add_argument("--scenario-dir", action="append", default=[], metavar="DIR", help=SCENARIO_DIR_HELP)
    listing.add_argument(
        "--report",
        metavar="REPORT",
        help="A live run's --hfrouter-report: show when each scenario was last seen in the wild",
    )
    shows = listing.add_subparsers(dest="scenarios_command", metavar="show|promote|diff", parser_class=_Parser)
    one = shows.add_parser("show", help="What the client sees: status, headers, body or fault, and the exceptions")
    one.add_argument("name", metavar="NAME", help="A scenario name or alias (see: hfrouter scenarios)")
    lift = shows.add_parser("promote", help="Turn a harvested candidate into a scenario your tests can use")
    lift.add_argument("file", metavar="FILE", help="A candidate from the harvest folder (hfrouter_harvest_dir)")
    lift.add_argument("--name", required=True, help="The scenario's name (lower-case letters, digits and dashes)")
    lift.add_argument("--into", default="scenarios", metavar="DIR", help="Your scenario folder (default: scenarios)")
    compare = shows.add_parser("diff", help="How a harvested candidate differs from the nearest known scenario")
    compare.add_argument("file", metavar="FILE", help="A candidate from the harvest folder")
    run = commands.add_parser("serve", help="Serve the router double (router and Hub paths) on loopback")
    run.set_defaults(run=serve)
    run.add_argument("--host", default="127.0.0.1", help="Address to listen on (default: 127.0.0.1)")
    run.add_argument("--port", type=int, default=8765, help="Port (default: 8765; 0: any free port)")
    run.add_argument("--outage", action="append", default=[], metavar="SPEC", help=OUTAGE_HELP)
    run.add_argument("--scenario-dir", action="append", default=[], metavar="DIR", help=SCENARIO_DIR_HELP)
    run.add_argument("--strict", action="store_true", help="No healthy library: unmatched router calls get 404")
    lint = commands.add_parser("lint", help="Find tokens and malformed cassettes (exit 1 if any)")
    lint.set_defaults(run=lint_cassettes)
    lint.add_argument("paths", nargs="+", metavar="PATH", help="Cassette files or folders")
    reports = commands.add_parser("report", help="Merge and show --hfrouter-report files (outage coverage)")
    reports.set_defaults(run=report)
    actions = reports.add_subparsers(dest="report_command", required=True, metavar="merge|show", parser_class=_Parser)
    merging = actions.add_parser("merge", help="One report from several (CI shards, xdist-less runs)")
    merging.add_argument("reports", nargs="+", metavar="REPORT", help="JSON reports written by --hfrouter-report")
    merging.add_argument("-o", "--output", required=True, metavar="PATH", help="Where to write the merged report")
    showing = actions.add_parser("show", help="Print a report's outage coverage as Markdown (or write HTML)")
    showing.add_argument("reports", nargs=1, metavar="REPORT", help="A JSON report (e.g. a merged one)")
    for sub in (merging, showing):
        sub.add_argument("--markdown", metavar="PATH", help="Write the Markdown summary here")
        sub.add_argument("--html", metavar="PATH", help="Write the self-contained HTML page here")
    return parser


def _printable_output() -> None:
    """The command prints ✅ and §: where stdout cannot encode them (``PYTHONIOENCODING=ascii``, a C locale,
    a Windows runner's redirected stdout) it crashed with ``UnicodeEncodeError`` (an audit). Written to a
    file or a pipe (``>> $GITHUB_STEP_SUMMARY``), the Markdown goes out as UTF-8, which its readers expect;
    on a terminal that cannot show a character, a ``?`` stands for it. A file name the file system's encoding
    could not decode (a C locale: ``项目/``) is printed as its bytes (it crashed the command, an audit)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None:
            continue
        encoding = getattr(stream, "encoding", None) or "ascii"
        try:
            "✅§—".encode(encoding)
        except (UnicodeEncodeError, LookupError):
            if stream.isatty():
                reconfigure(errors="replace")
            else:
                reconfigure(encoding="utf-8", errors="surrogateescape")
        else:
            if getattr(stream, "errors", None) == "strict":
                reconfigure(errors="surrogateescape")


def lint_cassettes(args: argparse.Namespace) -> int:
    from .lint import main as lint_main

    missing = [path for path in args.paths if not Path(path).exists()]
    if missing:  # a typo, not a finding about a cassette
        return _fail(f"{missing[0]}: no such file or folder (lint takes cassette files or folders of them)")
    return lint_main(args.paths)


def main(argv: Sequence[str] | None = None) -> int:
    _printable_output()
    args = build_parser().parse_args(argv)
    return int(args.run(args))


def run() -> int:
    """The console script: ``main`` with a closed pipe (``hfrouter scenarios | head``) ending quietly."""
    try:
        return main()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(run())
