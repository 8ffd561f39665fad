#!/bin/bash
# oneDNN's convolutions against Darknet's own forward, measured (make bench-onednn;
# docs/benchmarks.md#onednn-convolutions): the forward and Grad-CAM of each model under each
# setting below, by tools/bench.c's BENCH_QUICK mode (medians of ROUNDS rounds in one process);
# the settings alternate within each of REPEATS repeats, and every ratio is the median of the
# per-repeat ratios.
#   tools/bench-onednn.sh BENCH RANDOM_WEIGHTS WORKDIR [ROUNDS [REPEATS]]
# Models: Debian's resnet18 and darknet19 at 224 and yolov3-tiny at 416 (batch 1, random weights
# written by RANDOM_WEIGHTS into WORKDIR once).
set -eu
BENCH=$1 RANDOM_WEIGHTS=$2 WORK=$3 ROUNDS=${4:-5} REPEATS=${5:-5}
CFGS=/usr/share/darknet/cfg
mkdir -p "$WORK"
for m in resnet18:224 darknet19:224 yolov3-tiny:416; do
  name=${m%:*} size=${m#*:}
  if [ ! -s "$WORK/$name.weights" ]; then
    sed -e 's/^ *batch=.*/batch=1/' -e 's/^ *subdivisions=.*/subdivisions=1/' \
        -e "s/^width=.*/width=$size/" -e "s/^height=.*/height=$size/" "$CFGS/$name.cfg" > "$WORK/$name.cfg"
    "$RANDOM_WEIGHTS" "$WORK/$name.cfg" "$WORK/$name.weights" > /dev/null 2>&1
  fi
done
MODELS="$WORK/resnet18 $WORK/darknet19 $WORK/yolov3-tiny"
# name=environment: Darknet's own forward (with OpenBLAS), oneDNN on its default one thread, oneDNN
# on OMP_NUM_THREADS=2 (one per core here)
SETTINGS="darknet=DX_ONEDNN=0 onednn=DX_ONEDNN=1 onednn_omp2=OMP_NUM_THREADS=2"
OUT="$WORK/bench-onednn.txt"
: > "$OUT"
for r in $(seq "$REPEATS"); do
  for m in $MODELS; do
    for s in $SETTINGS; do
      line=$(env DX_ONEDNN=1 "${s#*=}" BENCH_QUICK=1 "$BENCH" "$m.cfg" "$m.weights" "$ROUNDS")
      echo "$r ${s%%=*} $line" | tee -a "$OUT"
    done
  done
done
python3 - "$OUT" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]  # repeat setting quick cfg kernel threads fwd gradcam cpu/wall
def get(model, setting, col):
    return {r[0]: float(r[col]) for r in rows if r[3] == model and r[1] == setting}
print("model | setting | forward ms | Grad-CAM ms | forward / darknet | Grad-CAM / darknet | CPU s per s")
for model in dict.fromkeys(r[3] for r in rows):
    base_f, base_g = get(model, "darknet", 6), get(model, "darknet", 7)
    for setting in dict.fromkeys(r[1] for r in rows):
        f, g, c = get(model, setting, 6), get(model, setting, 7), get(model, setting, 8)
        med = lambda d: statistics.median(d.values())
        ratio = lambda a, b: statistics.median(a[x] / b[x] for x in a if x in b)
        print(f"{model.split('/')[-1]} | {setting} | {med(f):.1f} | {med(g):.1f} | {ratio(f, base_f):.2f} | "
              f"{ratio(g, base_g):.2f} | {med(c):.2f}")
PY
