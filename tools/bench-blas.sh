#!/bin/bash
# OpenBLAS's kernel and threads, measured (make bench-blas; docs/benchmarks.md#openblas): the
# forward and Grad-CAM of each model under each setting below, by tools/bench.c's BENCH_QUICK
# mode (medians of ROUNDS rounds in one process); the settings alternate within each of REPEATS
# repeats, and every ratio is the median of the per-repeat ratios. Beside them the forward's rate
# (GFLOP/s: 2 per multiply-add of its gemm layers, tools/bench.c) and OpenBLAS's on a square sgemm
# in the same process, the same kernel and threads.
#   tools/bench-blas.sh BENCH RANDOM_WEIGHTS WORKDIR [ROUNDS [REPEATS]]
# Models: Tiny Darknet (../shared), darknet19 at 224 and yolov3-tiny at 416 (Debian's cfgs, batch
# 1, random weights written by RANDOM_WEIGHTS into WORKDIR once).
set -eu
BENCH=$1 RANDOM_WEIGHTS=$2 WORK=$3 ROUNDS=${4:-5} REPEATS=${5:-5}
SHARED=${SHARED:-../shared}
CFGS=/usr/share/darknet/cfg
mkdir -p "$WORK"
for m in darknet19:224 yolov3-tiny:416; do
  name=${m%:*} size=${m#*:}
  if [ ! -s "$WORK/$name.weights" ]; then
    sed -e 's/^ *batch=.*/batch=1/' -e 's/^ *subdivisions=.*/subdivisions=1/' \
        -e "s/^width=.*/width=$size/" -e "s/^height=.*/height=$size/" "$CFGS/$name.cfg" > "$WORK/$name.cfg"
    "$RANDOM_WEIGHTS" "$WORK/$name.cfg" "$WORK/$name.weights" > /dev/null 2>&1
  fi
done
MODELS="$SHARED/models/imagenet/tiny $WORK/darknet19 $WORK/yolov3-tiny"
# name=environment; "old" is what Debian's OpenBLAS picks by itself on a CPU it does not know
SETTINGS="old=OPENBLAS_CORETYPE=Prescott new=BENCH_DEFAULT=1 new_1thread=OPENBLAS_NUM_THREADS=1 new_timeout4=OPENBLAS_THREAD_TIMEOUT=4"
OUT="$WORK/bench-blas.txt"
: > "$OUT"
for r in $(seq "$REPEATS"); do
  for m in $MODELS; do
    for s in $SETTINGS; do
      line=$(env "${s#*=}" BENCH_QUICK=1 "$BENCH" "$m.cfg" "$m.weights" "$ROUNDS")
      echo "$r ${s%%=*} $line" | tee -a "$OUT"
    done
  done
done
python3 - "$OUT" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]  # repeat setting quick cfg kernel threads fwd gradcam cpu/wall fwd_gflops sgemm_gflops
def get(model, setting, col):
    return {r[0]: float(r[col]) for r in rows if r[3] == model and r[1] == setting}
print("model | setting | kernel, threads | forward ms | Grad-CAM ms | forward / old | Grad-CAM / old | forward / new | CPU s per s | forward GFLOP/s | sgemm GFLOP/s")
for model in dict.fromkeys(r[3] for r in rows):
    old_f, old_g, new_f = get(model, "old", 6), get(model, "old", 7), get(model, "new", 6)
    for setting in dict.fromkeys(r[1] for r in rows):
        f, g, c = get(model, setting, 6), get(model, setting, 7), get(model, setting, 8)
        rate, blas = get(model, setting, 9), get(model, setting, 10)
        k = next(f"{r[4]}, {r[5]}" for r in rows if r[3] == model and r[1] == setting)
        med = lambda d: statistics.median(d.values())
        ratio = lambda a, b: statistics.median(a[x] / b[x] for x in a if x in b)
        print(f"{model.split('/')[-1]} | {setting} | {k} | {med(f):.1f} | {med(g):.1f} | {ratio(f, old_f):.2f} | "
              f"{ratio(g, old_g):.2f} | {ratio(f, new_f):.2f} | {med(c):.2f} | {med(rate):.1f} | {med(blas):.1f}")
PY
