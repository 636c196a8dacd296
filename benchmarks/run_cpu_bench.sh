#!/usr/bin/env bash
# The CPU rows of benchmarks/RESULTS.md, as `make bench` measures them (about 10 minutes on a
# 2-core CPU; run it on a quiet machine: the load before and after is recorded with each row).
# The paper model (resnet_9blocks ngf 64, basic D ndf 64), batch 1, synthetic data in memory;
# every run measures the fp32 eager baseline alternately with its candidates, and proves each
# candidate in the same run: its losses over the warm-up and timed steps are compared with fp32's
# (same seed, same batches) and a candidate that stops on a NaN or drifts past the limits
# (train_speed.TRACK_LIMITS) is marked WRONG in the timing and loss-tracking tables.
# The candidates are those trainer=fast can choose on this CPU (cyclegan_lit.perf.fast_precision):
# with bf16 instructions (AVX-512 BF16, AMX)
#   1. 128 px: bf16-mixed, torch.compile (fp32 and bf16), channels_last (checked, then timed);
#   2. 256 px: bf16-mixed, bf16-mixed + torch.compile;
#   3. loss tracking over the first 100 steps at 64 px: bf16-mixed, bf16-mixed + compile, and
#      fp32 + compile (same math, other kernels: how far GAN training drifts from any change);
#   4. translation (G forward) at 256 and 1024 px: bf16-mixed;
#   5. where the time goes at 128 px: the top operators of fp32 and bf16-mixed steps.
# without them (AVX2 only) bf16 is emulated, about 50x slower than fp32 (a 64 px step: 55 s
# against 1.1 s), so trainer=fast stays fp32 and the bf16 rows would take hours: the same
# sections time fp32 + compile and channels_last instead, and profile fp32 alone.
# model.compile's own rule applies here as in training: on an AMX CPU with torch 2.14 the
# generators stay eager (cyclegan_lit.perf.compile_plan) and the rows say "compiled D_A, D_B only".
#
#   bash benchmarks/run_cpu_bench.sh             # make bench
#   bash benchmarks/run_cpu_bench.sh --dry-run   # the same code paths, tiny sizes, print only
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
START=$SECONDS
case "${1:-}" in
    "" | --dry-run) ;;
    *) echo "run_cpu_bench.sh: unknown option ${1}; use --dry-run, or nothing for the full run" >&2; exit 2 ;;
esac
if [ "${1:-}" = "--dry-run" ]; then
    OUT=-
    # `eager` traces with dynamo but skips inductor's code generation (minutes on 2 cores)
    TINY=(--ngf 8 --ndf 8 --threads 1)
    SIZES=(32 32 32) WARMUP=1 ITERS=(1 1) LOSSES=2 TRANSLATE=(32 64) PROFILE_STEPS=1
    COMPILE=(--compile-backend eager)
else
    OUT="${BENCH_OUT:-$ROOT/benchmarks/RESULTS.md}"
    TINY=()
    SIZES=(128 256 64) WARMUP=3 ITERS=(6 4) LOSSES=100 TRANSLATE=(256 1024) PROFILE_STEPS=3
    COMPILE=()
fi
SPEED=("$PY" benchmarks/train_speed.py --device cpu "${TINY[@]}" --out "$OUT")

others() {  # the busiest processes that are not this benchmark
    ps -eo pid=,pcpu=,args= --sort=-pcpu | grep -v -e train_speed -e profile_step -e "ps -eo" -e run_cpu_bench \
        | awk '$2 > 5 {pc = $2; $1 = $2 = ""; printf "%s%% %s; ", pc, substr($0, 3, 90)}' \
        | head -c 600
}
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
OTHERS_BEFORE="$(others)"
echo "== run_cpu_bench: load $LOAD_BEFORE; other busy processes: ${OTHERS_BEFORE:-none}"

# what trainer=fast picks here decides what is worth timing
FAST="$("$PY" -c "from cyclegan_lit import perf; print(perf.fast_precision('cpu'))")"
echo "== $("$PY" -c "from cyclegan_lit import perf; print(perf.describe('cpu'))")"
if [ "$FAST" = "bf16-mixed" ]; then
    SECTION1=(bf16-mixed bf16-mixed+compile 32-true+compile 32-true+cl)
    SECTION2=(bf16-mixed bf16-mixed+compile)
    SECTION3=(bf16-mixed bf16-mixed+compile 32-true+compile)
    PROFILED=(32-true bf16-mixed)
else
    echo "== bf16 rows skipped: this CPU emulates bf16 (about 50x slower than fp32)"
    SECTION1=(32-true+compile 32-true+cl)
    SECTION2=(32-true+compile)
    SECTION3=(32-true+compile)
    PROFILED=(32-true)
fi

echo "== [$((SECONDS - START)) s] 1. ${SIZES[0]} px"
"${SPEED[@]}" --size "${SIZES[0]}" --warmup "$WARMUP" --iters "${ITERS[0]}" "${COMPILE[@]}" \
    --configs "${SECTION1[@]}"
echo "== [$((SECONDS - START)) s] 2. ${SIZES[1]} px"
"${SPEED[@]}" --size "${SIZES[1]}" --warmup "$WARMUP" --iters "${ITERS[1]}" "${COMPILE[@]}" \
    --configs "${SECTION2[@]}"
echo "== [$((SECONDS - START)) s] 3. loss tracking, ${SIZES[2]} px, the first $LOSSES steps"
"${SPEED[@]}" --size "${SIZES[2]}" --skip-train --losses "$LOSSES" "${COMPILE[@]}" \
    --configs "${SECTION3[@]}"
if [ "$FAST" = "bf16-mixed" ]; then
    echo "== [$((SECONDS - START)) s] 4. translation, ${TRANSLATE[*]} px"
    "${SPEED[@]}" --skip-train --translate "${TRANSLATE[@]}" --translate-iters 3 --configs bf16-mixed
else
    echo "== 4. translation: skipped (fp32, the baseline, is the fastest translation here)"
fi
echo "== [$((SECONDS - START)) s] 5. where the time goes, ${SIZES[0]} px"
"$PY" benchmarks/profile_step.py --device cpu "${TINY[@]}" --size "${SIZES[0]}" \
    --steps "$PROFILE_STEPS" --configs "${PROFILED[@]}" --out "$OUT"

LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
OTHERS_AFTER="$(others)"
NOTE="run_cpu_bench.sh on $(date '+%Y-%m-%d %H:%M'), $((SECONDS - START)) s: load average \
$LOAD_BEFORE before, $LOAD_AFTER after ($(nproc) CPUs); other busy processes before: \
${OTHERS_BEFORE:-none}; after: ${OTHERS_AFTER:-none}."
echo "== $NOTE"
if [ "$OUT" != "-" ]; then
    printf '\n%s\n' "Run note: $NOTE" >> "$OUT"
fi
