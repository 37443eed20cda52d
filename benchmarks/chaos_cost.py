"""Wall time of a chaos run vs a plain replay run on the benchmark workload (benchmarks/suites.py).

    python benchmarks/chaos_cost.py [ROUNDS]

Two suites of 300 tests: the benchmark's own (every test marked, so chaos leaves it alone) and a
copy without the marker (chaos may hit any call; the test tolerates what a two-link chain cannot
survive, so both runs go to the end). Each variant runs ROUNDS times (default 3), alternating.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import suites

rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
root = Path(tempfile.mkdtemp(prefix="hfrouter-chaos-cost-"))
captured = root / "captured"
captured.mkdir(parents=True, exist_ok=True)
(captured / "cassette.yaml").write_text("interactions: []\nversion: 1\n")  # read but unused by the hfrouter suite
marked = suites.write_suite("hfrouter", root / "marked", 300, 25, captured)
unmarked = suites.write_suite("hfrouter", root / "unmarked", 300, 25, captured)
for module in unmarked.glob("test_module_*.py"):
    text = module.read_text().replace('@pytest.mark.hfrouter_outage("novita-500", provider="novita")\n', "")
    # No marker: chaos may hit any call. The test tolerates what the two-link chain cannot survive,
    # so both variants run the same tests to the end (a failure's traceback would skew the timing).
    text = text.replace(
        '    reply = fallback_app.chat()\n    assert reply.provider == "together"\n'
        "    assert reply.failures == fallback_app.EXPECTED_FAILURES\n    assert reply.text.strip()\n",
        "    try:\n        fallback_app.chat()\n    except Exception:\n        pass\n",
    )
    module.write_text(text)

VARIANTS = {
    "marked, plain replay": (marked, []),
    "marked, --hfrouter-chaos": (marked, ["--hfrouter-chaos-seed=1"]),
    "unmarked, plain replay": (unmarked, []),
    "unmarked, --hfrouter-chaos": (unmarked, ["--hfrouter-chaos-seed=1"]),
}
times: dict[str, list[float]] = {name: [] for name in VARIANTS}
for round_ in range(rounds):
    for name, (suite, extra) in VARIANTS.items():
        started = time.perf_counter()
        command = [sys.executable, "-m", "pytest", "-q", "-p", "hfrouter", "-p", "no:cacheprovider", *extra]
        done = subprocess.run(command, cwd=suite, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        last = done.stdout.strip().splitlines()[-1]
        times[name].append(elapsed)
        print(f"round {round_ + 1} {name}: {elapsed:.2f}s  ({last})", flush=True)
for name, values in times.items():
    print(f"{name}: median {statistics.median(values):.2f}s  runs {', '.join(f'{v:.2f}' for v in values)}")
