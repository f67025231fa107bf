#!/usr/bin/env bash
# Issue 16, point 5, in ONE device call: every simulation method under JAX's CUDA build (the method
# tests), the benchmark grid on the GPU, and the side-by-side comparison there. README.md beside
# this file says how to call it and what to do with what comes back.
#
#   here, once:   bash benchmarks/device/fetch_wheels.sh        (.whl/, about 42 MB)
#   device call:  command "bash benchmarks/device/gpu_check.sh", carry [".whl"], timeout_s 590
#   dry run here: DPQML_DEVICE_DRY_RUN=1 PYTHON=.venv/bin/python bash benchmarks/device/gpu_check.sh
#                 (on the CPU, one short pass of every stage: checks the script, not the GPU)
#
# Each stage has its own time limit, so that a slow one cannot take the others' time; the limits
# add up to about 8.5 minutes. What lands in $OUT (six files; at most eight come back):
#   env.json          versions, the device, which optional frameworks import
#   run.log           every stage's output and exit status
#   grid-gpu.json     dpqml bench --grid full
#   compare-gpu.json  compare_frameworks.py, noiseless grid and the paper's model
#   noisy-gpu.json    compare_frameworks.py, depolarizing noise
#   tests.txt         the test run's summary lines (also in run.log)
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/dpqml-device}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
DRY=${DPQML_DEVICE_DRY_RUN:-0}
LOG="$OUT/run.log"
start=$SECONDS

log() { echo "[gpu-check +$((SECONDS - start))s] $*" | tee -a "$LOG"; }

stage() {  # stage NAME LIMIT_SECONDS COMMAND...: run under a time limit, output to run.log
  local name=$1 limit=$2 rc
  shift 2
  log "$name: start (limit ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@" >> "$LOG" 2>&1
  rc=$?
  log "$name: exit $rc$([ "$rc" = 124 ] && echo ' (time limit reached)')"
  return 0
}

export PYTHONUNBUFFERED=1
# The test workers share the GPU: none takes three quarters of its memory up front (JAX's default).
export XLA_PYTHON_CLIENT_PREALLOCATE=false

WHEELS=${DPQML_WHEELS:-.whl}  # fetch_wheels.sh's folder
SITE=${DPQML_SITE:-/tmp/site}
if compgen -G "$WHEELS/*.whl" > /dev/null; then
  log "installing $(ls "$WHEELS"/*.whl | wc -l) wheels into $SITE"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" \
    "$WHEELS"/*.whl >> "$LOG" 2>&1 || { log "wheel install failed"; exit 2; }
  export PYTHONPATH=$SITE
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"

# 1. The environment. Without a GPU (and not a dry run) nothing else is worth the device time.
"$PY" - "$DRY" > "$OUT/env.json" 2>> "$LOG" <<'PY'
import importlib, json, platform, sys

import jax

info = {"python": platform.python_version(), "jax": jax.__version__, "backend": jax.default_backend(),
        "devices": [d.device_kind for d in jax.devices()]}
for name in ("jaxlib", "numpy", "optax", "dp_accounting", "pennylane", "tensorcircuit", "dpqml"):
    try:
        mod = importlib.import_module(name)
        info[name] = getattr(mod, "__version__", "imported")
    except Exception as exc:  # reported, not fatal: the stage that needs it will say so too
        info[name] = f"missing: {exc!r}"
print(json.dumps(info, indent=1))
if info["backend"] != "gpu" and sys.argv[1] != "1":
    sys.exit(3)
PY
env_rc=$?
tee -a "$LOG" < "$OUT/env.json"
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> "$LOG" 2>&1
if [ "$env_rc" != 0 ]; then
  log "no GPU backend (exit $env_rc): stopping before the device time is spent on the CPU"
  exit 3
fi

if [ "$DRY" = 1 ]; then
  tests=(tests/quantum/test_precision.py)
  grid=(--qubits 4 --layers 2 --min-seconds 0.2)
  compare=(--qubits 4 --layers 2 --min-seconds 0.2 --timeout 120)
  noisy=(--noise depolarizing:0.01 --qubits 4 --layers 2 --min-seconds 0.2 --timeout 120)
  limits=(300 120 300 300)
else
  # Every method against PennyLane and against each other, full-precision products, per-example
  # gradients, the paper's model and its compiled bounds.
  tests=(tests/quantum/test_methods.py tests/quantum/test_against_pennylane.py tests/quantum/test_precision.py
         tests/quantum/test_heisenberg.py tests/quantum/test_tensornet.py tests/quantum/test_trajectories.py
         tests/engine tests/bounds/test_compiled.py)
  grid=(--grid full --min-seconds 0.5)
  compare=(--qubits 4 8 12 --layers 2 6 --batch 64 --models standard paper --loop-batch 8 --loop-steps 16
           --min-seconds 0.5 --timeout 60)
  noisy=(--noise depolarizing:0.01 --qubits 4 6 8 --layers 2 6 --batch 64 --loop-batch 8 --min-seconds 0.5
         --timeout 45)
  limits=(150 100 150 110)
fi

# 2. Every method under CUDA. The suite's fast-compile flags are XLA:CPU's; the GPU ignores them.
stage tests "${limits[0]}" "$PY" -m pytest -q -p no:cacheprovider -o addopts="" -n 6 --dist loadfile -ra \
  "${tests[@]}"
grep -E "^(FAILED|ERROR)|(passed|failed|error)( in|,)" "$LOG" > "$OUT/tests.txt"

# 3. The engine grid on the GPU (beside benchmarks/results-cpu-2core.json).
stage grid "${limits[1]}" "$PY" -m dpqml bench "${grid[@]}" --json "$OUT/grid-gpu.json"

# 4. Side by side. Every framework here is JAX: JAX_DEFAULT_MATMUL_PRECISION=highest puts the peers'
# products at the full float32 that dpqml's simulations always use (dpqml.quantum.precision), the
# same arithmetic for all, and their gradients within the comparison's tolerance.
export JAX_DEFAULT_MATMUL_PRECISION=highest
stage compare "${limits[2]}" "$PY" benchmarks/compare_frameworks.py "${compare[@]}" --json "$OUT/compare-gpu.json"
stage noisy "${limits[3]}" "$PY" benchmarks/compare_frameworks.py "${noisy[@]}" --json "$OUT/noisy-gpu.json"

log "done in $((SECONDS - start)) s; files: $(ls "$OUT" | tr '\n' ' ')"
