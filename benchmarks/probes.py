"""Helpers that `run.py` starts inside a benchmark environment (they print JSON on stdout).

    python probes.py capture OUT_DIR          # (hfrouter env) what hfrouter serves the workload
    python probes.py match --sizes 10 10000   # (hfrouter env) engine look-up cost vs cassette size
    python probes.py profile PROF PATTERN...  # (the env that wrote PROF) its rows whose file matches
    python probes.py versions NAME...         # (any env) installed versions of these distributions
    python probes.py source                   # (hfrouter env) where pytest_hfrouter is imported from

``capture`` runs the workload once through pytest-hfrouter's engine, exactly as variant (a)
gets it, and writes the served exchange as a vcrpy cassette (``cassette.yaml``, for variants
(b) and (b2)) and as the floor's in-memory table (``floor_answers.json``, for variant (c)), so
every variant answers with the same statuses and bytes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

SUITE_FILES = Path(__file__).resolve().parent / "suite"
# Request headers a recorder would filter out of a committed cassette.
_SECRET_HEADERS = frozenset({"authorization", "cookie"})


def capture(out_dir: Path) -> dict[str, Any]:
    from pytest_hfrouter import faces
    from pytest_hfrouter.engine import Engine
    from pytest_hfrouter.library import shipped_library
    from pytest_hfrouter.markers import parse_outage
    from pytest_hfrouter.traffic import Answer, Exchange, Request

    sys.path.insert(0, str(SUITE_FILES))
    import fallback_app

    library = shipped_library()
    engine = Engine(library)
    served: list[tuple[Request, Answer]] = []
    answer = engine.answer

    def recording_answer(request: Request, background: bool = False) -> Answer:
        reply = answer(request, background)
        served.append((request, reply))
        return reply

    engine.answer = recording_answer  # type: ignore[method-assign]
    faces.install(engine)
    try:
        # The same rule as variant (a)'s marker: @pytest.mark.hfrouter_outage("novita-500", provider="novita")
        engine.begin(Exchange(rules=[parse_outage(("novita-500",), {"provider": "novita"}, library)]))
        reply = fallback_app.chat()
        engine.end()
    finally:
        faces.uninstall(engine)
    if reply.provider != "together" or reply.failures != fallback_app.EXPECTED_FAILURES:
        raise SystemExit(f"capture: expected together after novita's 500, got {reply.provider} after {reply.failures}")

    interactions = [_vcr_interaction(request, served_answer) for request, served_answer in served]
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_cassette(out_dir / "cassette.yaml", interactions)
    floor = [
        {
            "method": request.method,
            "url": request.url,
            "status": served_answer.status,
            "headers": [list(pair) for pair in served_answer.headers],
            "body": served_answer.body.decode("utf-8"),
        }
        for request, served_answer in served
    ]
    (out_dir / "floor_answers.json").write_text(json.dumps(floor, indent=1))
    return {
        "requests": [f"{r.method} {r.url} -> {a.status} ({a.source})" for r, a in served],
        "reply": {"provider": reply.provider, "failures": reply.failures},
    }


def _headers(pairs: tuple[tuple[str, str], ...]) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in pairs:
        if name.lower() not in _SECRET_HEADERS:
            headers.setdefault(name, []).append(value)
    return headers


def _vcr_interaction(request: Any, answer: Any) -> dict[str, Any]:
    """One interaction in vcrpy's cassette format (version 1), as vcrpy itself writes it."""
    return {
        "request": {
            "body": request.body.decode("utf-8") if request.body else None,
            "headers": _headers(request.headers),
            "method": request.method,
            "uri": request.url,
        },
        "response": {
            "body": {"string": answer.body.decode("utf-8")},
            "headers": _headers(answer.headers),
            "status": {"code": answer.status, "message": answer.reason},
        },
    }


def _write_cassette(path: Path, interactions: list[dict[str, Any]]) -> None:
    import yaml

    dumper = getattr(yaml, "CDumper", yaml.Dumper)
    path.write_text(yaml.dump({"interactions": interactions, "version": 1}, Dumper=dumper))


def match(sizes: list[int], requests: int, repeats: int) -> dict[str, Any]:
    """Time ``Engine.answer`` for requests a cassette answers, per cassette size."""
    from pytest_hfrouter.cassettes import parse_cassette
    from pytest_hfrouter.engine import Engine
    from pytest_hfrouter.library import shipped_library
    from pytest_hfrouter.traffic import Exchange, Request

    engine = Engine(shipped_library())
    url = "https://router.huggingface.co/together/v1/chat/completions"
    results: dict[str, Any] = {}
    for size in sizes:
        text = _synthetic_cassette(size, url)
        started = time.perf_counter()
        cassette = parse_cassette(text, Path(f"synthetic-{size}.yaml"))
        load_ms = (time.perf_counter() - started) * 1000
        # Ten targets spread over the cassette, the last interaction included (a linear scan's worst case).
        targets = sorted({round(i * (size - 1) / 9) for i in range(10)})
        batch = [
            Request("POST", url, (("Content-Type", "application/json"),), _chat_body(f"org/model-{t:05d}"))
            for t in targets
        ]
        per_request: list[float] = []
        for repeat in range(repeats + 1):  # the first pass only warms up
            engine.begin(Exchange(cassettes=[cassette]))
            started = time.perf_counter()
            for i in range(requests):
                answer = engine.answer(batch[i % len(batch)])
            if repeat:
                per_request.append((time.perf_counter() - started) / requests * 1e6)
            engine.end()
            if not answer.source.startswith("cassette:"):
                raise SystemExit(f"match: the cassette did not answer ({answer.source})")
        results[str(size)] = {
            "interactions": size,
            "load_ms": load_ms,
            "us_per_request": min(per_request),
            "us_per_request_median": statistics.median(per_request),
        }
    return results


def _chat_body(model: str) -> bytes:
    return json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode()


def _synthetic_cassette(size: int, url: str) -> str:
    """A vcrpy cassette of ``size`` chat completions, one model each (each a distinct route)."""
    parts = ["version: 1\ninteractions:\n"]
    for i in range(size):
        body = _chat_body(f"org/model-{i:05d}").decode()
        answer = json.dumps({"choices": [{"message": {"role": "assistant", "content": f"answer {i}"}}]})
        parts.append(
            f"- request:\n    method: POST\n    uri: {url}\n    body: {json.dumps(body)}\n    headers: {{}}\n"
            f"  response:\n    status: {{code: 200, message: OK}}\n"
            f"    headers: {{Content-Type: [application/json]}}\n    body: {{string: {json.dumps(answer)}}}\n"
        )
    return "".join(parts)


def profile(path: Path, patterns: list[str], top: int) -> dict[str, Any]:
    """The rows of a cProfile dump whose file name contains one of ``patterns``, by cumulative time."""
    import pstats

    # {(file, line, name): (primitive calls, calls, self time, cumulative time, callers)}
    stats: Any = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    rows = []
    for (file, line, name), (_, ncalls, tottime, cumtime, _) in stats.items():
        if any(pattern in file for pattern in patterns):
            short = file.split("site-packages/")[-1].split("/work/main/")[-1]
            rows.append(
                {"function": f"{short}:{line}({name})", "ncalls": ncalls, "tottime": tottime, "cumtime": cumtime}
            )
    rows.sort(key=lambda row: row["cumtime"], reverse=True)
    total = sum(tottime for (_, _, tottime, _, _) in stats.values())
    own = sum(row["tottime"] for row in rows)
    return {"total_s": total, "self_time_s": own, "rows": rows[:top]}


def source() -> dict[str, str]:
    """The imported pytest_hfrouter's directory and, in a git checkout, its commit."""
    import subprocess

    import pytest_hfrouter

    root = Path(pytest_hfrouter.__file__).resolve().parent.parent
    done = subprocess.run(
        ["git", "-C", str(root), "describe", "--always", "--dirty", "--exclude", "*"],
        capture_output=True,
        text=True,
        check=False,
    )
    return {"path": str(root), "commit": done.stdout.strip() if done.returncode == 0 else "not a git checkout"}


def versions(names: list[str]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    capture_cmd = commands.add_parser("capture")
    capture_cmd.add_argument("out_dir", type=Path)
    match_cmd = commands.add_parser("match")
    match_cmd.add_argument("--sizes", type=int, nargs="+", default=[10, 10_000])
    match_cmd.add_argument("--requests", type=int, default=20_000)
    match_cmd.add_argument("--repeats", type=int, default=5)
    profile_cmd = commands.add_parser("profile")
    profile_cmd.add_argument("path", type=Path)
    profile_cmd.add_argument("patterns", nargs="+")
    profile_cmd.add_argument("--top", type=int, default=15)
    commands.add_parser("source")
    versions_cmd = commands.add_parser("versions")
    versions_cmd.add_argument("names", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "capture":
        result: Any = capture(args.out_dir)
    elif args.command == "match":
        result = match(args.sizes, args.requests, args.repeats)
    elif args.command == "source":
        result = source()
    elif args.command == "profile":
        result = profile(args.path, args.patterns, args.top)
    else:
        result = versions(args.names)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
