"""``python -m pytest_hfrouter serve ...``: the router double for apps in other processes."""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import HFRouterError

OUTAGE_HELP = (
    "SCENARIO[:key=value[,key=value]] with keys provider, model, times, delay, retry_after (seconds, or none to "
    "drop the header), status (e.g. novita-500:provider=novita,times=2); repeat for several outages, the first wins"
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
        print(f"error: {exc}", file=sys.stderr)
        return 2
    problem = address_problem(args.host, args.port)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    engine = Engine(library)
    engine.begin(Exchange(rules=rules, strict=args.strict))
    try:
        double = RouterDouble(engine, args.host, args.port, log=lambda line: print(scrub.text(line), flush=True))
    except PortInUse as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # an address of another machine, say
        print(
            f"error: --host {args.host} --port {args.port}: cannot listen there ({exc.strerror or exc})",
            file=sys.stderr,
        )
        return 2
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_hfrouter", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="Serve the router double (router and Hub paths) on loopback")
    run.add_argument("--host", default="127.0.0.1", help="Address to listen on (default: 127.0.0.1)")
    run.add_argument("--port", type=int, default=8765, help="Port (default: 8765; 0: any free port)")
    run.add_argument("--outage", action="append", default=[], metavar="SPEC", help=OUTAGE_HELP)
    run.add_argument("--scenario-dir", action="append", default=[], metavar="DIR", help=SCENARIO_DIR_HELP)
    run.add_argument("--strict", action="store_true", help="No healthy library: unmatched router calls get 404")
    listing = commands.add_parser("scenarios", help="List the scenarios: the shipped ones and yours")
    listing.add_argument("--scenario-dir", action="append", default=[], metavar="DIR", help=SCENARIO_DIR_HELP)
    lint = commands.add_parser("lint", help="Find tokens and malformed cassettes (exit 1 if any)")
    lint.add_argument("paths", nargs="+", metavar="PATH", help="Cassette files or folders")
    args = parser.parse_args(argv)
    if args.command == "lint":
        from .lint import main as lint_main

        return lint_main(args.paths)
    if args.command == "scenarios":
        return list_scenarios(args)
    return serve(args)


def list_scenarios(args: argparse.Namespace) -> int:
    from .library import with_user_scenarios

    try:
        library = with_user_scenarios(tuple(Path(folder).resolve() for folder in args.scenario_dir))
    except HFRouterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for scenario in sorted(library.scenarios.values(), key=lambda s: s.name):
        origin = f"yours: {scenario.path}" + (" (shadows the shipped one)" if scenario.shadow else "")
        status = scenario.fault.type if scenario.fault and not scenario.sends_status else scenario.status
        aliases = f" (aliases: {', '.join(scenario.aliases)})" if scenario.aliases else ""
        print(f"{scenario.name}{aliases}  [{status}; {'/'.join(scenario.routes)}]  "
              f"{origin if scenario.user else 'shipped'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
