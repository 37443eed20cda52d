"""Where a test's time goes, three ways at once: native time, instructions, and simulated misses.

    python benchmarks/segments.py                   # (a1) against (c1h), N = 200, 8 timed rounds
    python benchmarks/segments.py --pair a1/c1 --n 400 --rounds 12

Each test's run protocol is split into three segments by ``suite/segment_probe.py``: the
plugin's hooks (``pytest_runtest_*`` of pytest-hfrouter, or of ``shape_hooks`` in (c1h)), the
HTTP transport (``HTTPTransport.handle_request``, where pytest-hfrouter answers, or the floor's
``MockTransport.handle_request``), and the rest (pytest, the app, huggingface_hub and httpx
around the transport). For each segment it shows, per test after the first:

- the native time, the median over interleaved runs of each run's mean;
- the instructions callgrind counts in that segment alone (collection toggled around it);
- callgrind's simulated first-level misses (instruction and data), last-level misses (with a
  2 MiB last level: this machine's private L2) and mispredicted branches.

It answers what ``instructions.py`` cannot: whether a gap between the wall-time and the
instruction ratios sits in the plugin's own code or in the code around it. Needs ``valgrind``
and its ``valgrind/callgrind.h`` header, and a C compiler (``cc``), to build the five-line
library that lets the probe switch callgrind's collection; standard library only.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (a sibling module; this file runs as a script)
import suites  # noqa: E402

SEGMENTS = ("protocol", "hooks", "transport")
#: callgrind's summary events, in the order ``--cache-sim=yes --branch-sim=yes`` writes them
EVENTS = ("Ir", "Dr", "Dw", "I1mr", "D1mr", "D1mw", "ILmr", "DLmr", "DLmw", "Bc", "Bcm", "Bi", "Bim")
_TOGGLE_C = "#include <valgrind/callgrind.h>\nvoid hfrouter_toggle_collect(void) { CALLGRIND_TOGGLE_COLLECT; }\n"


def build_toggle(work: Path) -> Path:
    source, library = work / "toggle.c", work / "libtoggle.so"
    source.write_text(_TOGGLE_C)
    done = subprocess.run(
        ["cc", "-O2", "-shared", "-fPIC", "-o", str(library), str(source)], capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"could not build the toggle library (needs cc and valgrind's headers):\n{done.stderr}")
    return library


def native(bench: run.Bench, variants: list[run.Variant], paths: dict[str, Path], rounds: int) -> dict[str, list]:
    """Per variant, per round: the mean nanoseconds per test of protocol, hooks and transport."""
    means: dict[str, list[list[float]]] = {v.key: [] for v in variants}
    for number in range(rounds):
        for variant in variants if number % 2 == 0 else variants[::-1]:
            _, rows = bench.probed(variant, paths[variant.key], "segment_probe", "HFROUTER_BENCH_SEGMENTS")
            if not rows or not any(row[2] for row in rows):
                raise SystemExit(
                    f"({variant.key}): no request went through httpx2's HTTPTransport or MockTransport after the "
                    "first test, so there is nothing to split; segments.py splits the variants of run.py only"
                )
            means[variant.key].append([statistics.mean(row[i] for row in rows) for i in range(3)])
        run.log(f"  native round {number + 1}/{rounds}")
    return means


def counted(bench: run.Bench, variant: run.Variant, suite: Path, segment: str, library: Path) -> dict[str, int]:
    """callgrind's event totals in one segment of one run of ``variant``."""
    out = bench.work / f"callgrind-{variant.key}-{segment}.out"
    command = [
        "valgrind",
        "--tool=callgrind",
        "--collect-atstart=no",
        "--cache-sim=yes",
        "--branch-sim=yes",
        "--LL=2097152,16,64",
        f"--callgrind-out-file={out}",
        bench.python(variant.env),
        "-m",
        "pytest",
        "-q",
        *variant.args,
        "-p",
        "segment_probe",
    ]
    env = {
        **bench.env,
        "PYTHONHASHSEED": "0",
        "HFROUTER_BENCH_TOGGLE": segment,
        "HFROUTER_BENCH_TOGGLE_LIB": str(library),
    }
    done = subprocess.run(command, cwd=suite, env=env, capture_output=True, text=True, check=False)
    if done.returncode or not out.exists():
        tail = f"{done.stdout[-1000:]}{done.stderr[-1000:]}"
        raise SystemExit(f"callgrind run of ({variant.key}) {segment} failed:\n{tail}")
    # callgrind leaves out trailing events that are 0, and the whole summary when it collected nothing
    # (a variant without hooks of the plugin's kinds)
    summary = [line.split()[1:] for line in out.read_text().splitlines() if line.startswith("summary:")]
    out.unlink()
    values = [int(value) for value in (summary[0] if summary else [])]
    return dict(zip(EVENTS, values + [0] * (len(EVENTS) - len(values)), strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", default="a1/c1h", help="ours/floor (default a1/c1h)")
    parser.add_argument("--n", type=int, default=200, help="tests per suite (default 200)")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved native runs of each (default 8)")
    parser.add_argument("--envs", type=Path, default=run.DEFAULT_ENVS, help="the environments (setup_envs.sh)")
    parser.add_argument("--work", type=Path, help="keep the generated suites here (default: a temp dir)")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("cc") is None:
        run.log("needs valgrind and cc on the PATH (Debian: apt-get install valgrind gcc)")
        return 2
    known = {v.key: v for v in run.VARIANTS if "-n" not in v.args}
    keys = args.pair.split("/")
    if len(keys) != 2 or not set(keys) <= set(known):
        run.log(f"--pair is ours/floor of {', '.join(known)} (xdist variants are not split); got {args.pair}")
        return 2
    variants = [known[key] for key in keys]
    with run.workspace(args.work, "hfrouter-segments-") as work:
        bench = run.Bench(args.envs.resolve(), work)
        captured = work / "captured"
        bench.probe("hfrouter", "capture", str(captured))
        paths = {}
        for variant in variants:
            suite = run.write_variant_suite(variant, work / variant.key, args.n, 10, captured)
            suites.add_probe(suite, "segment_probe")
            paths[variant.key] = suite
        library = build_toggle(work)
        run.log(f"timing {args.rounds} interleaved rounds of ({keys[0]}) and ({keys[1]}), N = {args.n}")
        means = native(bench, variants, paths, args.rounds)  # the first round also writes byte-code
        jobs = [(variant, segment) for segment in SEGMENTS for variant in variants]
        run.log(f"counting {len(jobs)} segment runs under callgrind with cache simulation, two at a time")
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda job: counted(bench, job[0], paths[job[0].key], *job[1:], library), jobs))
        events = {(variant.key, segment): found for (variant, segment), found in zip(jobs, results, strict=True)}
        print(report(args, variants, means, events))
        return 0


def report(args: argparse.Namespace, variants: list[run.Variant], means: dict, events: dict) -> str:
    tests = args.n - 1  # the probe leaves out the first test
    out = [
        f"## Per test, by segment: ({variants[0].key}) against ({variants[1].key}), N = {args.n}",
        "",
        f"Native: median over {args.rounds} interleaved runs of each run's mean. Counted: callgrind, "
        "collection switched on around the segment only; misses simulated with a 2 MiB last level.",
        "",
        "| segment | variant | native (µs) | instructions | I1 misses | D1 misses | LL misses | "
        "mispredicted | native ns per instruction |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    table: dict[tuple[str, str], tuple[float, dict[str, float]]] = {}
    for segment in (*SEGMENTS, "rest"):
        for variant in variants:
            key = variant.key
            if segment == "rest":
                micro = _native(means, key, 0) - _native(means, key, 1) - _native(means, key, 2)
                whole, hooks, transport = (events[(key, part)] for part in SEGMENTS)
                per = {e: whole[e] - hooks[e] - transport[e] for e in EVENTS}
            else:
                micro = _native(means, key, SEGMENTS.index(segment))
                per = dict(events[(key, segment)])
            per = {e: value / tests for e, value in per.items()}
            table[(segment, key)] = (micro, per)
            data_misses = per["D1mr"] + per["D1mw"]
            last_level = per["ILmr"] + per["DLmr"] + per["DLmw"]
            out.append(
                f"| {segment} | ({key}) | {micro:,.1f} | {per['Ir'] / 1e3:,.1f} k | {per['I1mr'] / 1e3:.2f} k | "
                f"{data_misses / 1e3:.2f} k | {last_level / 1e3:.3f} k | "
                f"{(per['Bcm'] + per['Bim']) / 1e3:.2f} k | {_ratio(micro * 1e3, per['Ir'])} |"
            )
    ours, floor = (v.key for v in variants)
    out += ["", f"| segment | native, ({ours}) minus ({floor}) (µs) | instructions, difference |", "|---|---:|---:|"]
    for segment in (*SEGMENTS, "rest"):
        (mo, po), (mf, pf) = table[(segment, ours)], table[(segment, floor)]
        out.append(f"| {segment} | {mo - mf:+,.1f} | {(po['Ir'] - pf['Ir']) / 1e3:+,.1f} k |")
    (mo, po), (mf, pf) = table[("protocol", ours)], table[("protocol", floor)]
    for key in (ours, floor):
        if not events[(key, "hooks")]["Ir"]:
            out.append(f"\n({key}) has no `pytest_runtest_*` hook of pytest-hfrouter or shape_hooks: its hooks are 0.")
    out += [
        "",
        f"Per test, ({ours}) / ({floor}): native {mo / mf:.3f}, instructions {po['Ir'] / pf['Ir']:.3f}.",
    ]
    return "\n".join(out)


def _ratio(top: float, bottom: float) -> str:
    return f"{top / bottom:.2f}" if bottom else "—"


def _native(means: dict, key: str, index: int) -> float:
    return statistics.median(run_[index] for run_ in means[key]) / 1e3


if __name__ == "__main__":
    sys.exit(main())
