"""How long ``python -m pytest_hfrouter lint`` takes on a large cassette, and how much memory.

    python benchmarks/lint_large_cassette.py [--mb 87] [--path /tmp/hfrouter-large.yaml]

Writes a cassette of about ``--mb`` megabytes — chat completions (JSON text), event streams,
gzip-compressed answers and binary images (``!!binary``), the mix a long recording session
leaves — with one token planted in the last gzip body, then runs lint on it in a child
process and prints its wall time, its peak resident memory and what it found (the planted
token, and nothing else). Not a test: the figure depends on the machine.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

import yaml

URI = "https://router.huggingface.co/novita/v3/openai/chat/completions"
HEADERS = {"Content-Type": ["application/json"], "x-request-id": ["Root=1-688b8386-259e81a24556b80a163e3d17"]}


def interaction(body: str | bytes, headers: dict[str, list[str]], n: int) -> dict[str, object]:
    return {
        "request": {
            "body": json.dumps({"model": "org/m", "n": n}),
            "headers": {"Content-Type": ["application/json"]},
            "method": "POST",
            "uri": URI,
        },
        "response": {"body": {"string": body}, "headers": headers, "status": {"code": 200, "message": "OK"}},
    }


def generate(path: Path, megabytes: int, planted: str) -> None:
    rng = random.Random(0)
    words = ["the", "router", "answered", "with", "a", "long", "completion", "about", "outages", "and", "retries"]
    target = megabytes * 1_000_000 * 0.905  # YAML indents the folded lines of long strings: about 10% more
    interactions: list[dict[str, object]] = []
    size, n = 0, 0
    while size < target:
        n += 1
        kind = n % 50
        if kind == 0:  # an image: 1 MB of bytes, base64 in the file
            body: str | bytes = rng.randbytes(1_000_000)
            headers = {"Content-Type": ["image/png"]}
            size += 1_350_000
        elif kind < 6:  # a gzip-compressed JSON answer
            text = json.dumps({"choices": [{"message": {"content": " ".join(rng.choices(words, k=600))}}]})
            body = gzip.compress(text.encode(), mtime=0)
            headers = {**HEADERS, "Content-Encoding": ["gzip"]}
            size += len(body) * 4 // 3 + 400
        elif kind < 16:  # an event stream
            events = [json.dumps({"choices": [{"delta": {"content": w}}]}) for w in rng.choices(words, k=120)]
            body = "".join(f"data: {e}\n\n" for e in events) + "data: [DONE]\n\n"
            headers = {"Content-Type": ["text/event-stream"]}
            size += len(body) + 500
        else:  # a chat completion
            content = " ".join(rng.choices(words, k=500))
            body = json.dumps(
                {
                    "id": f"c-{n}",
                    "choices": [{"message": {"content": content}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 500},
                }
            )
            headers = HEADERS
            size += len(body) + 700
        interactions.append(interaction(body, headers, n))
    last = json.dumps({"choices": [{"message": {"content": f"the key is {planted}"}}]})
    interactions.append(interaction(gzip.compress(last.encode()), {**HEADERS, "Content-Encoding": ["gzip"]}, n + 1))
    with path.open("w", encoding="utf-8") as out:
        yaml.dump({"interactions": interactions, "version": 1}, out, Dumper=yaml.CSafeDumper)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=87, help="Approximate size of the cassette in MB (default 87)")
    parser.add_argument("--path", type=Path, default=Path("/tmp/hfrouter-large-cassette.yaml"))
    args = parser.parse_args()
    planted = "hf_" + "Large" * 6 + "Cassette1"  # built at run time: no literal looks like a token
    started = time.perf_counter()
    generate(args.path, args.mb, planted)
    print(f"wrote {args.path}: {args.path.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "pytest_hfrouter", "lint", str(args.path)], capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak = after.ru_maxrss / 1024  # KiB on Linux
    print(run.stdout.strip())
    if run.stderr:
        print(run.stderr.strip())
    print(
        f"lint: {elapsed:.1f} s wall ({cpu:.1f} s CPU), {peak:.0f} MiB peak resident memory, "
        f"exit status {run.returncode}"
    )
    return 0 if run.returncode == 1 and run.stdout.count("\n") == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
