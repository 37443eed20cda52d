"""The benchmark's variants counted in instructions (valgrind's callgrind): a measure that does not move.

    python benchmarks/instructions.py                       # the default pairs below, N = 50 and 250
    python benchmarks/instructions.py --pairs a1/c1 --sizes 100 400

Wall time on a shared machine moves by a few per cent from one run to the next, more than most
single changes to the request path are worth. The number of instructions a run executes does not
(``PYTHONHASHSEED=0``; two runs of the same suite differ by less than 0.001 %). Each variant of
`run.py` runs at two sizes; the difference is its cost per test, the rest its fixed cost
(interpreter, imports, the plugin's start-up, the report's writing). Instructions are not seconds
(memory and cache behaviour differ), so this complements `run.py`, it does not replace it.

Among `run.py`'s variants, two floors of the users' layout show what any plugin of pytest-hfrouter's
shape pays before it answers a request: (c1m) the floor's tests each carrying the ``hfrouter_outage``
marker (registered, read by no plugin), and (c1h) the same with empty hooks of the plugin's kinds
(``suite/shape_hooks.py``). ``c1h/c1`` is that lower bound; ``a1/c1h`` what pytest-hfrouter's own
work adds to it.

Every variant first runs once without valgrind (it writes byte-code and pytest's assertion caches,
which a counted run must not include), then once under ``valgrind --tool=callgrind``, two at a time.
Needs ``valgrind`` on the PATH and the environments of ``setup_envs.sh``; standard library only.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run  # noqa: E402  (a sibling module; this file runs as a script)

_COLLECTED = re.compile(r"Collected : (\d+)")
PAIRS = ["a/c", "a1/c1", "c1m/c1", "c1h/c1", "a1/c1h"]


def count(bench: run.Bench, variant: run.Variant, suite: Path) -> int:
    """Instructions of one pytest run of ``variant`` on ``suite`` (after an uncounted warm-up run)."""
    warm = bench.pytest(variant.env, suite, variant.args)
    if warm.failed or not warm.passed:
        raise SystemExit(f"({variant.key}) failed on {suite}:\n{warm.output[-2000:]}")
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        bench.python(variant.env),
        "-m",
        "pytest",
        "-q",
        *variant.args,
    ]
    done = subprocess.run(
        command, cwd=suite, env={**bench.env, "PYTHONHASHSEED": "0"}, capture_output=True, text=True, check=False
    )
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"valgrind run of ({variant.key}) failed:\n{done.stdout[-1000:]}{done.stderr[-1000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", nargs="+", default=PAIRS, help=f"ours/floor pairs (default {' '.join(PAIRS)})")
    parser.add_argument("--sizes", nargs=2, type=int, default=[50, 250], help="the two N (default 50 250)")
    parser.add_argument("--per-file", type=int, default=10, help="tests per generated module (default 10)")
    parser.add_argument("--envs", type=Path, default=run.DEFAULT_ENVS, help="the environments (setup_envs.sh)")
    parser.add_argument("--work", type=Path, help="keep the generated suites here (default: a temp dir)")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        run.log("valgrind is not on the PATH (Debian: apt-get install valgrind)")
        return 2
    variants = {v.key: v for v in run.VARIANTS if "-n" not in v.args}
    pairs = [tuple(pair.split("/")) for pair in args.pairs]
    unknown = sorted({key for pair in pairs for key in pair} - set(variants))
    if unknown or any(len(pair) != 2 for pair in pairs):
        run.log(f"pairs are ours/floor of {', '.join(variants)} (xdist variants are not counted); got {args.pairs}")
        return 2
    with run.workspace(args.work, "hfrouter-instructions-") as work:
        bench = run.Bench(args.envs.resolve(), work)
        captured = work / "captured"
        bench.probe("hfrouter", "capture", str(captured))
        jobs = []
        for n in args.sizes:
            for key in dict.fromkeys(key for pair in pairs for key in pair):
                variant = variants[key]
                suite = run.write_variant_suite(variant, work / f"n{n}", n, args.per_file, captured)
                jobs.append((key, n, variant, suite))
        run.log(f"counting {len(jobs)} runs under callgrind, two at a time (a few minutes)")
        with ThreadPoolExecutor(2) as pool:
            results = pool.map(lambda job: count(bench, job[2], job[3]), jobs)
            counted = {(key, n): total for (key, n, _, _), total in zip(jobs, results, strict=True)}
        small, large = args.sizes
        print(f"## Instructions per run (callgrind), N = {small} and {large}\n")
        print(f"| variant | at N = {small} | at N = {large} | per test | fixed |")
        print("|---|---:|---:|---:|---:|")
        slope, fixed = {}, {}
        for key in dict.fromkeys(key for pair in pairs for key in pair):
            slope[key] = (counted[(key, large)] - counted[(key, small)]) / (large - small)
            fixed[key] = counted[(key, small)] - small * slope[key]
            print(
                f"| ({key}) {variants[key].label} | {counted[(key, small)] / 1e6:,.0f} M | "
                f"{counted[(key, large)] / 1e6:,.0f} M | {slope[key] / 1e6:.3f} M | {fixed[key] / 1e6:,.0f} M |"
            )
        print("\n| pair | per test, ratio | per test, over the floor | fixed, over the floor | at N = 1000 |")
        print("|---|---:|---:|---:|---:|")
        for ours, floor in pairs:
            at = (fixed[ours] + 1000 * slope[ours]) / (fixed[floor] + 1000 * slope[floor])
            per_test = (slope[ours] - slope[floor]) / 1e6
            print(
                f"| {ours} / {floor} | {slope[ours] / slope[floor]:.3f} | {per_test:+.3f} M | "
                f"{(fixed[ours] - fixed[floor]) / 1e6:+,.0f} M | {at:.3f} |"
            )
        return 0


if __name__ == "__main__":
    sys.exit(main())
