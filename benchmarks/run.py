"""The speed benchmark: the same N outage tests answered five ways, side by side, in one run.

    bash benchmarks/setup_envs.sh                      # once: one virtualenv per peer
    python benchmarks/run.py --n 1000 --rounds 5       # the full benchmark (Markdown on stdout)
    python benchmarks/run.py --smoke                   # CI: every variant passes all its tests

Variants (each its own pytest process, plugin autoload off, only the plugins it needs):
(a) hfrouter, (b) pytest-recording + vcrpy, (b2) cassetter, (c) the floor (a MockTransport
client through ``huggingface_hub.set_client_factory``), (d) bare tests with no HTTP, and (a)
and (c) again under ``-n 2``, and (a1)/(c1): (a) and (c) in the layout many users have (all
N tests in one module, an app that leaves huggingface_hub's mapping cache alone), also under
``-n 2``, and the
lower bound of that layout: (c1m) the floor with the marker on every test, (c1h) the same with
empty hooks of the plugin's kinds. They run round-robin, the variants a ratio compares side by
side (`ROUND_GROUPS`), each round in a rotated order, so machine drift lands on every variant
alike; a variant's time is the median of its rounds.
Then: (e) the plugin's load cost under ``--collect-only``, (f) engine look-up cost in a
cassette of 10,000 interactions vs 10, (g) RSS across a 5,000-test session and, with
``--profile``, where (a)'s time goes inside pytest_hfrouter.

This script uses the standard library only: everything that needs a peer runs in that
peer's environment (see ``probes.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import suites  # noqa: E402  (a sibling module; this file runs as a script)

DEFAULT_ENVS = Path(os.environ.get("HFROUTER_BENCH_ENVS", "/work/bench-venvs"))
ENVS = ("hfrouter", "recording", "cassetter")
DISTRIBUTIONS = (
    "pytest",
    "huggingface_hub",
    "httpx2",
    "pytest-hfrouter",
    "pytest-xdist",
    "PyYAML",
    "pytest-recording",
    "vcrpy",
    "cassetter",
)
XDIST = ("-p", "xdist", "-n", "2")
MEMORY_TESTS = 5_000


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    env: str
    suite: str
    args: tuple[str, ...] = ()


#: hfrouter with the coverage records on (they are kept for the JSON report): every feature the
#: house issue names (network guard, thread ownership, unmatched-rule check, coverage data) is on
HFROUTER = ("-p", "hfrouter", "--hfrouter-report=hfrouter-report.json")

VARIANTS = (
    Variant("a", "hfrouter", "hfrouter", "hfrouter", HFROUTER),
    Variant("b", "pytest-recording + vcrpy", "recording", "recording", ("-p", "recording", "--record-mode=none")),
    Variant("b2", "cassetter", "cassetter", "cassetter", ("-p", "cassetter", "--record-mode=none")),
    Variant("c", "floor: MockTransport + dict", "hfrouter", "floor"),
    Variant("d", "bare: no HTTP", "hfrouter", "bare"),
    Variant("a -n 2", "hfrouter, xdist -n 2", "hfrouter", "hfrouter", (*HFROUTER, *XDIST)),
    Variant("c -n 2", "floor, xdist -n 2", "hfrouter", "floor", XDIST),
    Variant("a1", "hfrouter, users' layout", "hfrouter", "hfrouter-user", HFROUTER),
    Variant("c1", "floor, users' layout", "hfrouter", "floor-user"),
    Variant("a1 -n 2", "hfrouter, users' layout, xdist -n 2", "hfrouter", "hfrouter-user", (*HFROUTER, *XDIST)),
    Variant("c1 -n 2", "floor, users' layout, xdist -n 2", "hfrouter", "floor-user", XDIST),
    # What any plugin of pytest-hfrouter's shape pays before it answers a request: the floor's tests
    # each carrying the marker (registered, read by no plugin), then with empty hooks of the plugin's
    # kinds as well (suite/shape_hooks.py). ``c1h / c1`` is that lower bound; ``a1 / c1h`` is what
    # pytest-hfrouter's own work adds to it.
    Variant("c1m", "floor + the marker, users' layout", "hfrouter", "floor-marked-user"),
    Variant(
        "c1h", "floor + the marker + empty hooks, users' layout", "hfrouter", "floor-marked-user", ("-p", "shape_hooks")
    ),
)


@dataclass
class Outcome:
    seconds: float
    #: user + system CPU time of the pytest process and its children (xdist workers included)
    cpu: float
    passed: int
    failed: int
    output: str


@dataclass
class Timings:
    variant: Variant
    runs: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


class Bench:
    """Paths and the environment every child process gets."""

    def __init__(self, envs: Path, work: Path) -> None:
        self.envs = envs
        self.work = work
        self.env = child_environment(work)

    def python(self, env: str) -> str:
        return str(self.envs / env / "bin" / "python")

    def pytest(self, env: str, suite: Path, args: Sequence[str], extra_env: dict[str, str] | None = None) -> Outcome:
        command = [self.python(env), "-m", "pytest", "-q", *args]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            command, cwd=suite, env={**self.env, **(extra_env or {})}, capture_output=True, text=True, check=False
        )
        seconds = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        output = done.stdout + done.stderr
        failed = _count(output, "failed") + _count(output, "error")
        return Outcome(seconds, cpu, _count(output, "passed"), failed, output)

    def probed(self, variant: Variant, suite: Path, probe: str, variable: str) -> tuple[Outcome, Any]:
        """One run of ``variant`` with the probe plugin ``probe`` (``-p``), which writes JSON to the path
        in the environment variable ``variable``: the outcome and that JSON. Every test must pass."""
        target = self.work / f"{probe}-{variant.key.replace(' ', '')}.json"
        outcome = self.pytest(variant.env, suite, (*variant.args, "-p", probe), {variable: str(target)})
        if outcome.failed or not outcome.passed:
            raise SystemExit(f"({variant.key}) with {probe} failed:\n{outcome.output[-3000:]}")
        return outcome, json.loads(target.read_text())

    def probe(self, env: str, *args: str) -> Any:
        done = subprocess.run(
            [self.python(env), str(HERE / "probes.py"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"probes.py {args[0]} failed in {env}:\n{done.stdout}{done.stderr}")
        return json.loads(done.stdout)


def child_environment(work: Path) -> dict[str, str]:
    """The same environment for every variant (the policy the README documents).

    Autoload off; telemetry off, which also turns off huggingface_hub 2.x's agent-harness
    registry fetch, so each test makes exactly the workload's four requests; a fresh HF_HOME
    (no token, no cached registry); nothing from the caller's PYTEST_*, HF_* or PYTHON*.
    """
    dropped = ("PYTEST_", "HF_", "HUGGINGFACE_", "PYTHON", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HOME=str(work / "hf-home"),
    )
    return env


def _count(output: str, word: str) -> int:
    found = re.findall(rf"(\d+) {word}", output.strip().splitlines()[-1] if output.strip() else "")
    return int(found[-1]) if found else 0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def workspace(given: Path | None, prefix: str) -> Iterator[Path]:
    """``given`` (kept afterwards), else a temporary directory removed at the end."""
    work = given or Path(tempfile.mkdtemp(prefix=prefix))
    work.mkdir(parents=True, exist_ok=True)
    try:
        yield work.resolve()
    finally:
        if given is None:
            shutil.rmtree(work, ignore_errors=True)


# -- the variants ----------------------------------------------------------------------
def prepare(bench: Bench, n: int, per_file: int) -> dict[str, Path]:
    captured = bench.work / "captured"
    served = bench.probe("hfrouter", "capture", str(captured))
    log("captured what hfrouter serves the workload:\n  " + "\n  ".join(served["requests"]))
    paths = {kind: suites.write_suite(kind, bench.work / "suites", n, per_file, captured) for kind in suites.SUITES}
    for kind in (*suites.USER_LAYOUT, *suites.SHAPE_SUITES):
        paths[f"{kind}-user"] = suites.write_suite(kind, bench.work / "suites", n, per_file, captured, user_layout=True)
    return paths


def write_variant_suite(variant: Variant, root: Path, n: int, per_file: int, captured: Path) -> Path:
    """``variant``'s suite of ``n`` tests under ``root`` (its name says its kind and layout)."""
    user = variant.suite.endswith("-user")
    return suites.write_suite(variant.suite.removesuffix("-user"), root, n, per_file, captured, user_layout=user)


def check_variants(bench: Bench, paths: dict[str, Path], n: int) -> tuple[dict[str, Outcome], list[str]]:
    """One run of each variant (also the warm-up: byte-code and rewritten-assertion caches)."""
    outcomes: dict[str, Outcome] = {}
    problems: list[str] = []
    for variant in VARIANTS:
        outcome = bench.pytest(variant.env, paths[variant.suite], variant.args)
        outcomes[variant.key] = outcome
        log(
            f"  check ({variant.key}) {variant.label}: {outcome.passed} passed, {outcome.failed} failed, "
            f"{outcome.seconds:.2f} s"
        )
        if outcome.passed != n or outcome.failed:
            tail = "\n".join(outcome.output.splitlines()[-40:])
            problems.append(f"({variant.key}) {variant.label}: {outcome.passed}/{n} passed\n{tail}")
    return outcomes, problems


#: The variants a ratio compares, side by side in every round (so a per-round ratio compares runs a few
#: seconds apart): (a) between pytest-recording and the floor, which cassetter follows; the two -n 2; the
#: users' layout with its floor and its lower bounds; the users' layout under -n 2.
ROUND_GROUPS = (
    ("b", "a", "c", "b2"),
    ("d",),
    ("a -n 2", "c -n 2"),
    ("a1", "c1", "c1h", "c1m"),
    ("a1 -n 2", "c1 -n 2"),
)


def round_order(number: int) -> list[Variant]:
    """Round ``number``'s order: the groups rotated by one a round, each group's order reversed every
    other round, so no variant always runs first, after the same one, or in the same place."""
    by_key = {v.key: v for v in VARIANTS}
    shift = number % len(ROUND_GROUPS)
    groups = ROUND_GROUPS[shift:] + ROUND_GROUPS[:shift]
    return [by_key[key] for group in groups for key in (group[::-1] if number % 2 else group)]


def time_variants(bench: Bench, paths: dict[str, Path], n: int, rounds: int) -> dict[str, Timings]:
    timings = {v.key: Timings(v) for v in VARIANTS}
    for number in range(rounds):
        for variant in round_order(number):
            outcome = bench.pytest(variant.env, paths[variant.suite], variant.args)
            if outcome.passed != n or outcome.failed:
                raise SystemExit(f"({variant.key}) failed during the timed rounds:\n{outcome.output[-3000:]}")
            timings[variant.key].runs.append(outcome.seconds)
            timings[variant.key].cpu.append(outcome.cpu)
        log(f"  round {number + 1}/{rounds}: " + ", ".join(f"{k} {t.runs[-1]:.2f}s" for k, t in timings.items()))
    return timings


# -- (e) (f) (g) and the profile -------------------------------------------------------
def plugin_load_cost(bench: Bench, runs: int) -> dict[str, float]:
    trivial = suites.write_trivial_suite(bench.work / "suites")
    samples: dict[str, list[Outcome]] = {"without": [], "with": []}
    for _ in range(runs):
        for name, args in (("without", ["--collect-only"]), ("with", ["--collect-only", "-p", "hfrouter"])):
            outcome = bench.pytest("hfrouter", trivial, args)
            if "10 tests collected" not in outcome.output:
                raise SystemExit(f"collect-only failed:\n{outcome.output[-2000:]}")
            samples[name].append(outcome)
    wall = {name: statistics.median(o.seconds for o in runs_) * 1000 for name, runs_ in samples.items()}
    cpu = {name: statistics.median(o.cpu for o in runs_) * 1000 for name, runs_ in samples.items()}
    return {
        "without_ms": wall["without"],
        "with_ms": wall["with"],
        "added_ms": wall["with"] - wall["without"],
        "without_cpu_ms": cpu["without"],
        "with_cpu_ms": cpu["with"],
        "added_cpu_ms": cpu["with"] - cpu["without"],
    }


def memory(bench: Bench, per_file: int, tests: int) -> dict[str, Any]:
    captured = bench.work / "captured"
    results: dict[str, Any] = {}
    for key, kind, args in (("a", "hfrouter", ("-p", "hfrouter")), ("c", "floor", ())):
        suite = suites.write_suite(kind, bench.work / "memory", tests, per_file, captured)
        suites.add_probe(suite, "rss_probe")
        target = bench.work / f"rss-{kind}.json"
        outcome = bench.pytest("hfrouter", suite, (*args, "-p", "rss_probe"), {"HFROUTER_BENCH_RSS": str(target)})
        if outcome.passed != tests:
            raise SystemExit(f"memory run ({key}) failed:\n{outcome.output[-3000:]}")
        samples = json.loads(target.read_text())
        rss = dict(zip(samples["tests"], samples["rss_kib"], strict=True))
        warm = min(t for t in rss if t > 0)  # after the first 250 tests: caches and imports are in
        results[key] = {
            "after_collection_mib": rss[0] / 1024,
            f"after_{warm}_mib": rss[warm] / 1024,
            "end_mib": rss[max(rss)] / 1024,
            "growth_mib": (rss[max(rss)] - rss[warm]) / 1024,
            "kib_per_1000_tests": (rss[max(rss)] - rss[warm]) / (max(rss) - warm) * 1000,
            "samples": samples,
        }
        shutil.rmtree(suite)
    return results


def phases(bench: Bench, paths: dict[str, Path], n: int, runs: int) -> dict[str, dict[str, float]]:
    """Median per-phase time of (a) and (c), alternating: where hfrouter's extra time goes."""
    samples: dict[str, list[dict[str, float]]] = {"a": [], "c": []}
    variants = [v for v in VARIANTS if v.key in samples]  # as timed: (a) with its report on
    for _ in range(runs):
        for variant in variants:
            suites.add_probe(paths[variant.suite], "phase_probe")
            outcome, found = bench.probed(variant, paths[variant.suite], "phase_probe", "HFROUTER_BENCH_PHASES")
            if outcome.passed != n:
                raise SystemExit(f"phase run ({variant.key}): {outcome.passed} of {n} passed")
            samples[variant.key].append({**found, "wall": outcome.seconds})
    return {
        key: {name: statistics.median(sample[name] for sample in runs_) for name in runs_[0]}
        for key, runs_ in samples.items()
    }


def profile(bench: Bench, paths: dict[str, Path]) -> dict[str, Any]:
    reports: dict[str, Any] = {}
    for key, suite, args, patterns in (
        ("a", paths["hfrouter"], HFROUTER, ("pytest_hfrouter",)),
        ("c", paths["floor"], (), ("conftest.py", "httpx2/_transports/mock.py")),
    ):
        target = bench.work / f"profile-{key}.prof"
        command = [bench.python("hfrouter"), "-m", "cProfile", "-o", str(target), "-m", "pytest", "-q", *args]
        subprocess.run(command, cwd=suite, env=bench.env, capture_output=True, check=True)
        reports[key] = bench.probe("hfrouter", "profile", str(target), *patterns, "--top", "18")
    return reports


# -- the report ------------------------------------------------------------------------
def machine(bench: Bench) -> list[str]:
    cpu = "unknown"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    python = subprocess.run(
        [bench.python("hfrouter"), "-c", "import platform; print(platform.python_version())"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    lines = [
        f"- machine: `nproc` = {nproc or os.cpu_count()}, CPU: {cpu}, {platform.system()} {platform.release()}",
        f"- Python {python} (all environments), {time.strftime('%Y-%m-%d %H:%M %Z')}",
    ]
    where = bench.probe("hfrouter", "source")
    lines.append(f"- pytest-hfrouter source: `{where['path']}` at `{where['commit']}`")
    for env in ENVS:
        found = bench.probe(env, "versions", *DISTRIBUTIONS)
        listed = ", ".join(f"{name} {v}" for name, v in found.items() if v)
        lines.append(f"- env `{env}`: {listed}")
    return lines


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def report(
    args: argparse.Namespace,
    bench: Bench,
    timings: dict[str, Timings],
    extras: dict[str, Any],
) -> str:
    n = args.n
    med = {key: t.median for key, t in timings.items()}
    bare = med["d"]
    out = [f"## pytest-hfrouter speed benchmark: N = {n} tests, {args.rounds} round(s), median wall time", ""]
    out += machine(bench)
    out += [
        "",
        "| variant | what answers HTTP | median wall (s) | per test (ms) | over bare per test (ms) | "
        "median CPU (s) | wall of each round (s) |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for key, t in timings.items():
        runs = ", ".join(f"{r:.2f}" for r in t.runs)
        over = "" if key == "d" else f"{(t.median - bare) / n * 1000:.2f}"
        out.append(
            f"| ({key}) | {t.variant.label} | {t.median:.2f} | {t.median / n * 1000:.2f} | {over} | "
            f"{t.cpu_median:.2f} | {runs} |"
        )
    if args.smoke:
        out += ["", "Smoke mode: one run per variant, a correctness check only; these times mean nothing."]
    else:
        out += _ratios(timings, n)
    out += _extras(args, extras)
    return "\n".join(out)


def _ratios(timings: dict[str, Timings], n: int) -> list[str]:
    """Target verdicts on the ratio of median walls (the issue's measure); two cross-checks beside it.

    The median of per-round ratios pairs runs that sat next to each other in time, and the
    CPU-time ratio is barely moved by other processes on the machine. The per-round ratios'
    spread shows how far one run can be trusted: a target inside it is not decided by this run.
    """
    med = {key: t.median for key, t in timings.items()}
    checks: tuple[tuple[str, str, str, str, float | None], ...] = (
        ("a / c (hfrouter vs floor)", "a", "c", "≤ 1.05", 1.05),
        ("a / b (vs pytest-recording)", "a", "b", "≤ 0.40", 0.40),
        ("a / b2 (vs cassetter)", "a", "b2", "≤ 0.60", 0.60),
        ("a / c under -n 2", "a -n 2", "c -n 2", "≤ 1.05", 1.05),
        ("a1 / c1 (one module, app keeps the mapping cache)", "a1", "c1", "≤ 1.05", 1.05),
        ("a1 / c1 under -n 2", "a1 -n 2", "c1 -n 2", "≤ 1.05", 1.05),
        ("c1m / c1 (the marker alone, read by no plugin)", "c1m", "c1", "", None),
        ("c1h / c1 (the marker and empty hooks: the least a plugin of this shape adds)", "c1h", "c1", "", None),
        ("a1 / c1h (what pytest-hfrouter's own work adds to that)", "a1", "c1h", "", None),
    )
    out = [
        "",
        "| ratio | wall, medians | wall, median of per-round ratios | per-round ratios, lowest to highest "
        "| CPU, medians | target (on wall medians) | |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for name, top, bottom, target, limit in checks:
        value = med[top] / med[bottom]
        rounds = [x / y for x, y in zip(timings[top].runs, timings[bottom].runs, strict=True)]
        paired = statistics.median(rounds)
        cpu = timings[top].cpu_median / timings[bottom].cpu_median
        verdict = "" if limit is None else _verdict(value <= limit)
        if limit is not None and min(rounds) <= limit < max(rounds):
            verdict += " (the target lies within the per-round spread)"
        out.append(
            f"| {name} | {value:.3f} | {paired:.3f} | {min(rounds):.3f} to {max(rounds):.3f} | {cpu:.3f} "
            f"| {target or '—'} | {verdict} |"
        )
    out.append(
        f"\nhfrouter's own cost per test over the floor: {(med['a'] - med['c']) / n * 1000:.2f} ms "
        f"(floor over bare: {(med['c'] - med['d']) / n * 1000:.2f} ms, i.e. what 4 mocked requests cost)."
    )
    return out


def _extras(args: argparse.Namespace, extras: dict[str, Any]) -> list[str]:
    out: list[str] = []
    load = extras.get("load")
    if load:
        out += [
            "",
            "| (e) `pytest --collect-only`, trivial suite (10 tests) | median wall (ms) | median CPU (ms) |",
            "|---|---:|---:|",
            f"| without the plugin | {load['without_ms']:.0f} | {load['without_cpu_ms']:.0f} |",
            f"| with `-p hfrouter` | {load['with_ms']:.0f} | {load['with_cpu_ms']:.0f} |",
            f"| added by the plugin (target ≤ 10 ms, on wall) | {load['added_ms']:+.1f} "
            f"({_verdict(load['added_ms'] <= 10)}) | {load['added_cpu_ms']:+.1f} |",
        ]
    match = extras.get("match")
    if match:
        small, large = (match[k] for k in sorted(match, key=int))
        ratio = large["us_per_request"] / small["us_per_request"]
        out += [
            "",
            "| (f) `Engine.answer`, cassette answers | µs per request (best of runs) | cassette load (ms, once) |",
            "|---|---:|---:|",
        ]
        out += [
            f"| {m['interactions']:,} interactions | {m['us_per_request']:.1f} | {m['load_ms']:.0f} |"
            for m in (small, large)
        ]
        verdict = "" if args.smoke else f"; {_verdict(ratio <= 1.25)}"
        out.append(f"\nLarge / small look-up cost: {ratio:.2f} (target: about equal{verdict}).")
    mem = extras.get("memory")
    if mem:
        out += [
            "",
            f"| (g) RSS across {args.memory_tests:,} tests | after collection | after 250 tests | end | "
            "growth 250 → end | per 1,000 tests |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for key, label in (("a", "(a) hfrouter"), ("c", "(c) floor")):
            m = mem[key]
            out.append(
                f"| {label} | {m['after_collection_mib']:.1f} MiB | {m['after_250_mib']:.1f} MiB | "
                f"{m['end_mib']:.1f} MiB | {m['growth_mib']:+.2f} MiB | {m['kib_per_1000_tests']:+.0f} KiB |"
            )
    split = extras.get("phases")
    if split:
        a, c = split["a"], split["c"]
        out += [
            "",
            "| where the time goes (median of 3 alternating runs, s) | (a) hfrouter | (c) floor | a - c | "
            "per test (µs) |",
            "|---|---:|---:|---:|---:|",
        ]
        for name, label in (
            ("wall", "process wall (start-up included)"),
            ("session", "pytest session"),
            ("collection", "collection"),
            ("setup", "setup phases"),
            ("call", "call phases (the test bodies)"),
            ("teardown", "teardown phases"),
            ("gc", "cyclic GC (inside the above)"),
        ):
            diff = a[name] - c[name]
            out.append(f"| {label} | {a[name]:.3f} | {c[name]:.3f} | {diff:+.3f} | {diff / args.n * 1e6:+.0f} |")
    prof = extras.get("profile")
    if prof:
        out += ["", f"### cProfile, in-process, N = {args.n} (profiler overhead inflates every number)", ""]
        for key, title in (("a", "(a) hfrouter: functions in pytest_hfrouter"), ("c", "(c) floor: its handler")):
            p = prof[key]
            out += [
                f"{title} — total {p['total_s']:.2f} s, self time in these functions {p['self_time_s']:.3f} s",
                "",
                "| function | calls | self (s) | cumulative (s) | cumulative per call (µs) |",
                "|---|---:|---:|---:|---:|",
            ]
            out += [
                f"| `{r['function']}` | {r['ncalls']} | {r['tottime']:.3f} | {r['cumtime']:.3f} | "
                f"{r['cumtime'] / max(r['ncalls'], 1) * 1e6:.1f} |"
                for r in p["rows"]
            ]
            out.append("")
    return out


# -- main ------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="tests per variant (default 1000)")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds, round-robin (default 5)")
    parser.add_argument("--per-file", type=int, default=10, help="tests per generated module (default 10)")
    parser.add_argument("--smoke", action="store_true", help="N=20, one run each: check every variant passes")
    parser.add_argument("--profile", action="store_true", help="also cProfile (a) and (c) in-process")
    parser.add_argument("--memory-tests", type=int, default=MEMORY_TESTS, help="tests in the (g) session")
    parser.add_argument("--load-runs", type=int, default=21, help="collect-only runs each way for (e)")
    parser.add_argument("--envs", type=Path, default=DEFAULT_ENVS, help=f"the environments (default {DEFAULT_ENVS})")
    parser.add_argument("--work", type=Path, help="keep generated suites and profiles here (default: a temp dir)")
    parser.add_argument("--json", type=Path, help="also write every number to this file")
    args = parser.parse_args(argv)
    if args.smoke:
        args.n, args.rounds = 20, 1
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    missing = [env for env in ENVS if not (args.envs / env / "bin" / "python").exists()]
    if missing:
        log(f"missing environments {missing} under {args.envs}: run  bash benchmarks/setup_envs.sh {args.envs}")
        return 2
    with workspace(args.work, "hfrouter-bench-") as work:
        bench = Bench(args.envs.resolve(), work)
        paths = prepare(bench, args.n, args.per_file)
        log(f"checking every variant on N = {args.n} (also the warm-up run)")
        outcomes, problems = check_variants(bench, paths, args.n)
        if problems:
            log("FAILED:\n" + "\n\n".join(problems))
            return 1
        extras: dict[str, Any] = {}
        if args.smoke:
            timings = {v.key: Timings(v, [outcomes[v.key].seconds], [outcomes[v.key].cpu]) for v in VARIANTS}
            extras["match"] = bench.probe(
                "hfrouter", "match", "--sizes", "10", "100", "--requests", "500", "--repeats", "1"
            )
        else:
            log(f"timing {args.rounds} round(s) of {len(VARIANTS)} variants")
            timings = time_variants(bench, paths, args.n, args.rounds)
            log("(e) plugin load cost under --collect-only")
            extras["load"] = plugin_load_cost(bench, args.load_runs)
            log("(f) look-up cost vs cassette size")
            extras["match"] = bench.probe("hfrouter", "match")
            log(f"(g) memory across {args.memory_tests} tests")
            extras["memory"] = memory(bench, args.per_file, args.memory_tests)
            if args.profile:
                log("phases of (a) and (c), then cProfile of both in-process")
                extras["phases"] = phases(bench, paths, args.n, 3)
                extras["profile"] = profile(bench, paths)
        text = report(args, bench, timings, extras)
        print(text)
        if args.json:
            numbers = {k: {"label": t.variant.label, "runs": t.runs, "median": t.median} for k, t in timings.items()}
            args.json.write_text(json.dumps({"n": args.n, "rounds": args.rounds, "variants": numbers, **extras}))
        if args.smoke:
            log("smoke: every variant passed all its tests")
        return 0


if __name__ == "__main__":
    sys.exit(main())
