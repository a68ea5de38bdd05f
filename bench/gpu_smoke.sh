#!/usr/bin/env bash
# GPU smoke check for a lent GPU machine (not run in CI; budget: about 5 minutes once the venv exists).
#
#   bash bench/gpu_smoke.sh                 # 2-trial tiny search, bf16, two trials sharing one GPU
#   bash bench/gpu_smoke.sh MODEL_DIR       # ... then one epoch fine-tuning a real encoder, e.g. the
#                                           # dir built by shared/models/build_e5_small_ko.sh
#
# Prints nvidia-smi, the torch/CUDA build, wall time per step, samples/s (result fields named
# samples_per_second, when the trainable reports them) and peak GPU memory (nvidia-smi sampled in
# the background).  Everything lands under $OUT (default /tmp/gpu_smoke); summary.txt sums it up.
#
# Environment: OUT, VENV (default ~/.cache/sts-tune/venv-gpu), PYTHON (>= 3.11, to create the venv),
# STEP_TIMEOUT (seconds per step, default 240).  Only PyPI is needed: torch==2.13.0 from PyPI on
# Linux x86_64 is the CUDA build, so requirements.txt installs as-is.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Resolved before the cd below (relative to where the script was called from), and absolute because
# trials chdir into their trial dir.
OUT="${OUT:-/tmp/gpu_smoke}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
MODEL_DIR="${1:-}"
if [[ -n "$MODEL_DIR" ]]; then
    [[ -d "$MODEL_DIR" ]] || { echo "model dir not found: $MODEL_DIR" >&2; exit 2; }
    MODEL_DIR="$(cd "$MODEL_DIR" && pwd)"
fi
# Outside the repo: keeps GBs of CUDA wheels out of rsync/file_mounts and away from a dev .venv.
VENV="${VENV:-$HOME/.cache/sts-tune/venv-gpu}"
PYTHON="${PYTHON:-python3}"
STEP_TIMEOUT="${STEP_TIMEOUT:-240}"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"

cd "$ROOT"
say() { echo "$*" | tee -a "$SUMMARY"; }

command -v nvidia-smi >/dev/null || { echo "nvidia-smi not found: not a GPU machine?" >&2; exit 2; }
say "== nvidia-smi"
nvidia-smi | tee -a "$SUMMARY"

# --- venv: reinstall only when requirements.txt changed since the last install -----------------
req_hash="$(sha256sum requirements.txt | cut -d' ' -f1)"
stamp="$VENV/.requirements.sha256"
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || { echo "$PYTHON is older than 3.11; set PYTHON=python3.11" >&2; exit 2; }
    "$PYTHON" -m venv "$VENV"
fi
if [[ "$(cat "$stamp" 2>/dev/null || true)" != "$req_hash" ]]; then
    say "== pip install -r requirements.txt (into $VENV)"
    t0=$SECONDS
    "$VENV/bin/python" -m pip install -q --upgrade pip
    # -e . inside requirements.txt is relative to the working directory (the repo root, see cd above).
    "$VENV/bin/python" -m pip install -q -r requirements.txt
    echo "$req_hash" >"$stamp"
    say "install: $((SECONDS - t0)) s"
fi
PY="$VENV/bin/python"

say "== torch"
"$PY" - <<'EOF' | tee -a "$SUMMARY"
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if not torch.cuda.is_available():
    raise SystemExit("CUDA is not available to torch: CPU wheel installed, or driver too old")
print("device", torch.cuda.get_device_name(0), "bf16", torch.cuda.is_bf16_supported())
EOF

# --- GPU memory sampler (background; the EXIT trap stops it) -----------------------------------
MEM_LOG="$OUT/gpu_memory_mib.log"
nvidia-smi --query-gpu=index,memory.used --format=csv,noheader,nounits -lms 500 >"$MEM_LOG" 2>/dev/null &
SAMPLER_PID=$!
stop_sampler() { kill "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; }
trap stop_sampler EXIT

# Peak memory.used (MiB) per GPU over the log lines written since line $1.
peak_mem() {
    tail -n "+$(($1 + 1))" "$MEM_LOG" | awk -F', *' '
        NF == 2 && $2 + 0 > peak[$1] { peak[$1] = $2 + 0 }
        END { for (g in peak) printf "gpu%s=%d MiB ", g, peak[g]; print "" }'
}

# samples_per_second from every result.json under $1: Tune writes one JSON object per line,
# trainables/train.py one indented object.
throughput() {
    "$PY" - "$1" <<'EOF'
import json, pathlib, sys


def rows(text):
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        pass
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


found = False
for path in sorted(pathlib.Path(sys.argv[1]).rglob("result.json")):
    values = []
    for row in rows(path.read_text()):
        if isinstance(row, dict) and isinstance(row.get("samples_per_second"), (int, float)):
            values.append(float(row["samples_per_second"]))
    if values:
        found = True
        print(f"  {path.parent.name}: samples/s last={values[-1]:.1f} max={max(values):.1f}")
if not found:
    print("  no samples_per_second field in any result.json")
EOF
}

# Runs one step under a timeout, logging to $OUT/<name>.log; prints wall time and peak memory.
step() {
    local name="$1"
    shift
    local mem_from rc=0 t0=$SECONDS
    mem_from="$(wc -l <"$MEM_LOG")"
    say "== $name: $*"
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 timeout "$STEP_TIMEOUT" "$@" >"$OUT/$name.log" 2>&1 || rc=$?
    sleep 1  # let the sampler catch the last allocation
    say "$name: exit $rc, $((SECONDS - t0)) s, peak memory.used: $(peak_mem "$mem_from")"
    if [[ $rc -ne 0 ]]; then
        tail -n 40 "$OUT/$name.log"
        return "$rc"
    fi
}

step search "$PY" tune/search.py --space tiny --num-samples 2 --max-epochs 1 --gpus-per-trial 0.5 \
    --set precision=bf16-mixed --storage "$OUT/gpu" --name smoke
throughput "$OUT/gpu/smoke" | tee -a "$SUMMARY"

if [[ -n "$MODEL_DIR" ]]; then
    step e5 "$PY" trainables/train.py --space tiny --set "backbone=$MODEL_DIR" --set random_init=false \
        --set precision=bf16-mixed --set max_epochs=1 --output "$OUT/e5"
    throughput "$OUT/e5" | tee -a "$SUMMARY"
fi

say "== done; logs and results in $OUT"
