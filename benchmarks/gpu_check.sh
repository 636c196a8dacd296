#!/usr/bin/env bash
# The speed check for one GPU, in one go (under 6 minutes on one GPU; nothing to install beyond
# the project):
#   1. seconds per training step of the paper model at 256 px, batch 1 and 8: fp32 eager (the
#      baseline, always) against bf16-mixed, 16-mixed, channels_last; peak memory per step;
#   2. how the losses of 2 steps track fp32 (same seed, same batches) for the same candidates;
#   3. translation speed (generator forward, eval, no grad) at 256 and 1024 px;
#   4. one short real `cyclegan-train trainer=gpu trainer.precision=bf16-mixed` run on the built-in
#      synthetic data;
#   5. last, with the time left: torch.compile (bf16-mixed+compile), batch 1 and 8.
# Rows are appended to benchmarks/RESULTS.md (with the command that reproduces each one).
#
#   bash benchmarks/gpu_check.sh             # on the GPU machine
#   bash benchmarks/gpu_check.sh --dry-run   # the same code paths on the CPU, tiny sizes, print only
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python)"
TRAIN_CLI="$(dirname "$PY")/cyclegan-train"
[ -x "$TRAIN_CLI" ] || TRAIN_CLI="$(command -v cyclegan-train)"
START=$SECONDS
BUDGET="${GPU_CHECK_BUDGET:-330}"  # seconds; compile gets what the rest leaves of it

case "${1:-}" in
    "" | --dry-run) ;;
    *) echo "gpu_check.sh: unknown option ${1}; use --dry-run, or nothing for the full run" >&2; exit 2 ;;
esac
if [ "${1:-}" = "--dry-run" ]; then
    MODE="dry run (CPU, tiny)"
    DEVICE=cpu TRAINER=cpu SIZE=32 WARMUP=1 ITERS=1 OUT=- CLI_THREADS=1
    # one thread: on a busy small CPU, 2-thread parallel regions stall on every tiny op
    MODEL=(--ngf 8 --ndf 8 --threads 1)
    BATCHES=(1 2)
    TRANSLATE=(32 64)
    # `eager` traces with dynamo but skips inductor's code generation (minutes on 2 cores)
    COMPILE=(--compile-backend eager)
    BUDGET=120
else
    MODE="GPU"
    DEVICE=cuda TRAINER=gpu SIZE=256 WARMUP=3 ITERS=15 OUT="$ROOT/benchmarks/RESULTS.md"
    CLI_THREADS="$(nproc)"
    MODEL=()
    BATCHES=(1 8)
    TRANSLATE=(256 1024)
    COMPILE=()
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
CANDIDATES=(bf16-mixed 16-mixed 32-true+cl bf16-mixed+cl)
SPEED=("$PY" benchmarks/train_speed.py --device "$DEVICE" "${MODEL[@]}" --out "$OUT")

echo "== gpu_check: $MODE; $("$PY" -c 'import torch; print("torch", torch.__version__)')"

echo "== [$((SECONDS - START)) s] 1-3. training steps (batch ${BATCHES[*]}), 2-step loss tracking, translation"
"${SPEED[@]}" --size "$SIZE" --batch "${BATCHES[@]}" --warmup "$WARMUP" --iters "$ITERS" \
    --configs "${CANDIDATES[@]}" --losses 2 --translate "${TRANSLATE[@]}" --translate-iters 3

echo "== [$((SECONDS - START)) s] 4. cyclegan-train trainer=$TRAINER trainer.precision=bf16-mixed (synthetic data, 8 steps)"
RUN_DIR="$(mktemp -d)"
trap 'rm -rf "$RUN_DIR"' EXIT
(
    cd "$RUN_DIR"
    WANDB_MODE=disabled OMP_NUM_THREADS="$CLI_THREADS" "$TRAIN_CLI" trainer="$TRAINER" trainer.precision=bf16-mixed \
        logger=csv '~callbacks.rich_progress_bar' paths.data_dir="$RUN_DIR/data" \
        data.synthetic_train=16 data.synthetic_test=4 data.num_workers=0 \
        trainer.max_epochs=1 trainer.limit_train_batches=8 trainer.limit_val_batches=1 \
        trainer.log_every_n_steps=1 test=false > "$RUN_DIR/train.log" 2>&1 \
        || { tail -n 30 "$RUN_DIR/train.log"; exit 1; }
    metrics="$(find "$RUN_DIR/outputs" -name metrics.csv | head -n 1)"
    echo "cyclegan-train: ok; last logged row of $metrics:"
    "$PY" - "$metrics" <<'EOF'
import csv, sys

rows = list(csv.DictReader(open(sys.argv[1])))
last = {k: v for row in rows for k, v in row.items() if v}
keys = ("train/images_per_sec", "train/loss_G", "train/loss_D_A", "val/loss_cycle")
print("  " + ", ".join(f"{k}={float(last[k]):.3g}" for k in keys if k in last))
EOF
)

LEFT=$((BUDGET - (SECONDS - START)))
echo "== [$((SECONDS - START)) s] 5. torch.compile, batch ${BATCHES[*]} (time left: ${LEFT} s)"
if [ "$LEFT" -gt 30 ]; then
    timeout --signal=INT "$LEFT" "${SPEED[@]}" --size "$SIZE" --batch "${BATCHES[@]}" \
        --warmup "$WARMUP" --iters "$ITERS" --configs bf16-mixed+compile "${COMPILE[@]}" \
        || echo "gpu_check: the compile run failed or ran out of time (exit $?)"
else
    echo "gpu_check: skipped, not enough time left"
fi
echo "== gpu_check done in $((SECONDS - START)) s"
