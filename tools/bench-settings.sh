#!/bin/bash
# Settings of the environment measured against each other (make bench-blas: OpenBLAS's kernel and
# threads, docs/benchmarks.md#openblas; make bench-onednn: oneDNN's convolutions,
# docs/benchmarks.md#onednn-convolutions): the forward, Grad-CAM and saliency (the gradient to the
# input) of each model under each setting, by tools/bench.c's BENCH_QUICK mode (medians of ROUNDS rounds in one process). The
# settings alternate within each of REPEATS repeats, and every ratio is the median of the
# per-repeat ratios against the first setting. Beside them the forward's rate (GFLOP/s: 2 per
# multiply-add of its gemm layers, tools/bench.c) and OpenBLAS's on a square sgemm in the same
# process, the same kernel and threads.
#   tools/bench-settings.sh BENCH RANDOM_WEIGHTS WORKDIR ROUNDS REPEATS "MODELS" "SETTINGS"
# MODELS: NAME:SIZE, one of Debian's cfgs (/usr/share/darknet/cfg) at batch 1 and SIZE x SIZE with
# random weights written by RANDOM_WEIGHTS into WORKDIR once, or a path without its extension to
# a .cfg with its .weights beside it.
# SETTINGS: NAME=VAR=VALUE[,VAR=VALUE..], the environment of each run; the first is the baseline.
set -eu
BENCH=$1 RANDOM_WEIGHTS=$2 WORK=$3 ROUNDS=$4 REPEATS=$5 MODEL_LIST=$6 SETTINGS=$7
CFGS=/usr/share/darknet/cfg
mkdir -p "$WORK"
MODELS=
for m in $MODEL_LIST; do
  case $m in
    *:*)
      name=${m%:*} size=${m#*:}
      if [ ! -s "$WORK/$name.weights" ]; then
        sed -e 's/^ *batch=.*/batch=1/' -e 's/^ *subdivisions=.*/subdivisions=1/' \
            -e "s/^width=.*/width=$size/" -e "s/^height=.*/height=$size/" "$CFGS/$name.cfg" > "$WORK/$name.cfg"
        "$RANDOM_WEIGHTS" "$WORK/$name.cfg" "$WORK/$name.weights" > /dev/null 2>&1
      fi
      MODELS="$MODELS $WORK/$name" ;;
    *) MODELS="$MODELS $m" ;;
  esac
done
OUT="$WORK/bench-settings.txt"
: > "$OUT"
for r in $(seq "$REPEATS"); do
  for m in $MODELS; do
    for s in $SETTINGS; do
      vars=${s#*=}
      line=$(env ${vars//,/ } BENCH_QUICK=1 "$BENCH" "$m.cfg" "$m.weights" "$ROUNDS")
      echo "$r ${s%%=*} $line" | tee -a "$OUT"
    done
  done
done
python3 - "$OUT" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]  # repeat setting quick cfg kernel threads fwd gradcam saliency cpu/wall fwd_gflops sgemm_gflops lrp lrp_blas
def get(model, setting, col):
    return {r[0]: float(r[col]) for r in rows if r[3] == model and r[1] == setting}
settings = list(dict.fromkeys(r[1] for r in rows))
base = settings[0]
print(f"model | setting | kernel, threads | forward ms | Grad-CAM ms | saliency ms | forward / {base} | "
      f"Grad-CAM / {base} | saliency / {base} | CPU s per s | forward GFLOP/s | sgemm GFLOP/s | LRP ms | "
      f"LRP / {base} | LRP / LRP with BLAS's engine")
for model in dict.fromkeys(r[3] for r in rows):
    base_f, base_g, base_s = get(model, base, 6), get(model, base, 7), get(model, base, 8)
    for setting in settings:
        f, g, s, c = get(model, setting, 6), get(model, setting, 7), get(model, setting, 8), get(model, setting, 9)
        rate, blas = get(model, setting, 10), get(model, setting, 11)
        lrp, lrp_blas, base_lrp = get(model, setting, 12), get(model, setting, 13), get(model, base, 12)
        k = next(f"{r[4]}, {r[5]}" for r in rows if r[3] == model and r[1] == setting)
        med = lambda d: statistics.median(d.values())
        ratio = lambda a, b: statistics.median(a[x] / b[x] for x in a if x in b)
        print(f"{model.split('/')[-1]} | {setting} | {k} | {med(f):.1f} | {med(g):.1f} | {med(s):.1f} | "
              f"{ratio(f, base_f):.2f} | {ratio(g, base_g):.2f} | {ratio(s, base_s):.2f} | {med(c):.2f} | "
              f"{med(rate):.1f} | {med(blas):.1f} | {med(lrp):.1f} | {ratio(lrp, base_lrp):.2f} | "
              f"{ratio(lrp, lrp_blas):.2f}")
PY
