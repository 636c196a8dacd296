#!/usr/bin/env bash
# The CPU rows of benchmarks/RESULTS.md, as `make bench` measures them (about 10 minutes on a
# 2-core CPU; run it on a quiet machine: the load before and after is recorded with each row).
# The paper model (resnet_9blocks ngf 64, basic D ndf 64), batch 1, synthetic data in memory;
# every run measures the fp32 eager baseline alternately with its candidates.
#   1. 128 px: bf16-mixed, channels_last (fp32 and bf16);
#   2. 256 px: bf16-mixed, channels_last;
#   3. loss tracking over 10 steps at 128 px: bf16-mixed, channels_last;
#   4. translation (G forward) at 256 and 1024 px: bf16-mixed;
#   5. torch.compile (inductor) at 128 px, with the time left of BENCH_BUDGET seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
OUT="${BENCH_OUT:-$ROOT/benchmarks/RESULTS.md}"
BUDGET="${BENCH_BUDGET:-660}"
START=$SECONDS
SPEED=("$PY" benchmarks/train_speed.py --device cpu --out "$OUT")

others() {  # the busiest processes that are not this benchmark
    ps -eo pid=,pcpu=,args= --sort=-pcpu | grep -v -e train_speed -e "ps -eo" -e run_cpu_bench \
        | awk '$2 > 5 {pc = $2; $1 = $2 = ""; printf "%s%% %s; ", pc, substr($0, 3, 90)}' \
        | head -c 600
}
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
OTHERS_BEFORE="$(others)"
echo "== run_cpu_bench: load $LOAD_BEFORE; other busy processes: ${OTHERS_BEFORE:-none}"

echo "== [$((SECONDS - START)) s] 1. 128 px"
"${SPEED[@]}" --size 128 --warmup 2 --iters 8 --configs bf16-mixed 32-true+cl bf16-mixed+cl
echo "== [$((SECONDS - START)) s] 2. 256 px"
"${SPEED[@]}" --size 256 --warmup 2 --iters 6 --configs bf16-mixed 32-true+cl
echo "== [$((SECONDS - START)) s] 3. loss tracking, 128 px, 10 steps"
"${SPEED[@]}" --size 128 --skip-train --losses 10 --configs bf16-mixed 32-true+cl
echo "== [$((SECONDS - START)) s] 4. translation, 256 and 1024 px"
"${SPEED[@]}" --skip-train --translate 256 1024 --translate-iters 3 --configs bf16-mixed

LEFT=$((BUDGET - (SECONDS - START)))
echo "== [$((SECONDS - START)) s] 5. torch.compile at 128 px (time left: $LEFT s)"
COMPILED="skipped (not enough time left)"
if [ "$LEFT" -gt 120 ]; then
    if timeout --signal=INT "$LEFT" "${SPEED[@]}" --size 128 --warmup 2 --iters 6 \
        --configs bf16-mixed+compile; then
        COMPILED="measured"
    else
        COMPILED="did not finish within $LEFT s"
    fi
fi

LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
OTHERS_AFTER="$(others)"
NOTE="run_cpu_bench.sh on $(date '+%Y-%m-%d %H:%M'), $((SECONDS - START)) s: load average \
$LOAD_BEFORE before, $LOAD_AFTER after ($(nproc) CPUs); other busy processes before: \
${OTHERS_BEFORE:-none}; after: ${OTHERS_AFTER:-none}; compile: $COMPILED."
echo "== $NOTE"
if [ "$OUT" != "-" ]; then
    printf '\n%s\n' "Run note: $NOTE" >> "$OUT"
fi
