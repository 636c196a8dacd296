#!/usr/bin/env bash
# The CPU rows of benchmarks/RESULTS.md, as `make bench` measures them (about 10 minutes on a
# 2-core CPU; run it on a quiet machine: the load before and after is recorded with each row).
# The paper model (resnet_9blocks ngf 64, basic D ndf 64), batch 1, synthetic data in memory;
# every run measures the fp32 eager baseline alternately with its candidates, and proves each
# candidate in the same run: its losses over the warm-up and timed steps are compared with fp32's
# (same seed, same batches) and a candidate that stops on a NaN or drifts past the limits
# (train_speed.TRACK_LIMITS) is marked WRONG in the timing and loss-tracking tables.
#   1. 128 px: bf16-mixed, torch.compile (fp32 and bf16), channels_last (checked, then timed);
#   2. 256 px: bf16-mixed, bf16-mixed + torch.compile;
#   3. loss tracking over the first 100 steps at 64 px: bf16-mixed, bf16-mixed + compile, and
#      fp32 + compile (same math, other kernels: how far GAN training drifts from any change);
# model.compile's own rule applies here as in training: on an AMX CPU with torch 2.14 the
# generators stay eager (cyclegan_lit.perf.compile_plan) and the rows say "compiled D_A, D_B only".
#   4. translation (G forward) at 256 and 1024 px: bf16-mixed;
#   5. where the time goes at 128 px: the top operators of fp32 and bf16-mixed steps.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
OUT="${BENCH_OUT:-$ROOT/benchmarks/RESULTS.md}"
START=$SECONDS
SPEED=("$PY" benchmarks/train_speed.py --device cpu --out "$OUT")

others() {  # the busiest processes that are not this benchmark
    ps -eo pid=,pcpu=,args= --sort=-pcpu | grep -v -e train_speed -e profile_step -e "ps -eo" -e run_cpu_bench \
        | awk '$2 > 5 {pc = $2; $1 = $2 = ""; printf "%s%% %s; ", pc, substr($0, 3, 90)}' \
        | head -c 600
}
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
OTHERS_BEFORE="$(others)"
echo "== run_cpu_bench: load $LOAD_BEFORE; other busy processes: ${OTHERS_BEFORE:-none}"

echo "== [$((SECONDS - START)) s] 1. 128 px"
"${SPEED[@]}" --size 128 --warmup 3 --iters 6 \
    --configs bf16-mixed bf16-mixed+compile 32-true+compile 32-true+cl
echo "== [$((SECONDS - START)) s] 2. 256 px"
"${SPEED[@]}" --size 256 --warmup 3 --iters 4 --configs bf16-mixed bf16-mixed+compile
echo "== [$((SECONDS - START)) s] 3. loss tracking, 64 px, the first 100 steps"
"${SPEED[@]}" --size 64 --skip-train --losses 100 \
    --configs bf16-mixed bf16-mixed+compile 32-true+compile
echo "== [$((SECONDS - START)) s] 4. translation, 256 and 1024 px"
"${SPEED[@]}" --skip-train --translate 256 1024 --translate-iters 3 --configs bf16-mixed
echo "== [$((SECONDS - START)) s] 5. where the time goes, 128 px"
"$PY" benchmarks/profile_step.py --device cpu --size 128 --configs 32-true bf16-mixed --out "$OUT"

LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
OTHERS_AFTER="$(others)"
NOTE="run_cpu_bench.sh on $(date '+%Y-%m-%d %H:%M'), $((SECONDS - START)) s: load average \
$LOAD_BEFORE before, $LOAD_AFTER after ($(nproc) CPUs); other busy processes before: \
${OTHERS_BEFORE:-none}; after: ${OTHERS_AFTER:-none}."
echo "== $NOTE"
if [ "$OUT" != "-" ]; then
    printf '\n%s\n' "Run note: $NOTE" >> "$OUT"
fi
