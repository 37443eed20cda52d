#!/usr/bin/env bash
# Creates one virtual environment per benchmark variant, so that no peer's plugin is ever
# installed beside another's: hfrouter (ours + the floor + bare), recording (pytest-recording
# + vcrpy) and cassetter. All pin the same huggingface_hub and pytest.
#
#   bash benchmarks/setup_envs.sh [ENVS_DIR]     # default: $HFROUTER_BENCH_ENVS or /work/bench-venvs
#
# Re-running it upgrades in place. PYTHON picks the interpreter (default: python3).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
envs=${1:-${HFROUTER_BENCH_ENVS:-/work/bench-venvs}}
PY=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1

HFH="huggingface_hub==2.4.0"
PYTEST="pytest==9.2.0"

make_env() {
  local name=$1
  shift
  printf '==> %s: %s\n' "$name" "$*"
  [ -x "$envs/$name/bin/python" ] || "$PY" -m venv "$envs/$name"
  "$envs/$name/bin/python" -m pip install -q -U pip
  "$envs/$name/bin/python" -m pip install -q "$HFH" "$PYTEST" "$@"
}

mkdir -p "$envs"
# Ours, the MockTransport floor and the bare tests: they load no peer plugin.
make_env hfrouter -e "$repo" "pytest-xdist==3.8.0"
# The common practice: pytest-recording over vcrpy.
make_env recording "pytest-recording==0.14.1" "vcrpy==9.4.2"
# The Rust-core replacement of pytest-recording.
make_env cassetter "cassetter==0.16.1"

for name in hfrouter recording cassetter; do
  "$envs/$name/bin/python" - "$name" <<'PY'
import sys
from importlib.metadata import distributions

names = {"huggingface_hub", "pytest", "pytest-hfrouter", "pytest-xdist", "pytest-recording", "vcrpy", "cassetter"}
found = sorted(f"{d.metadata['Name']}=={d.version}" for d in distributions() if d.metadata["Name"] in names)
print(f"    {sys.argv[1]}: {', '.join(found)}")
PY
done
