#!/usr/bin/env bash
# Submits a darknet-explain evaluation run to Slurm: a job array with one task per shard
# (eval-array.sbatch: `eval ... -shard i/N -out OUT/shard-i -resume`, requeued tasks resume) and
# a merge job that starts once every task succeeded (eval-merge.sbatch, afterok) and writes
# OUT/results.csv, summary.json, report.html, maps/ exactly as one `eval -out OUT` would.
# See docs/cluster.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

usage() {
  cat >&2 <<EOF
usage: $0 [-n SHARDS] [-o OUT] [-p PARTITION] [-t TIME] [-c CPUS] [--wait] [--] CFG WEIGHTS -list FILE [eval options]
  -n SHARDS     array tasks, one shard each (default \$DX_SHARDS or 4)
  -o OUT        output folder, on a filesystem every node sees (default \$DX_OUT or eval-out)
  -p PARTITION  partition of both jobs (default \$DX_PARTITION, else the cluster's default)
  -t TIME       time limit of each job, e.g. 2:00:00 (default \$DX_TIME, else the partition's)
  -c CPUS       CPUs per task (default \$DX_CPUS or 1)
  --wait        return when the merge job has ended: status 0 only if it completed
Without CFG ..., the eval arguments are \$DX_CFG \$DX_WEIGHTS -list \$DX_LIST [-methods \$DX_METHODS]
[-metrics \$DX_METRICS] \$DX_EVAL_ARGS. \$DX_SBATCH_ARGS: more sbatch options for both jobs
(e.g. "--account=lab --qos=low"). \$DX_BIN: the darknet-explain binary (default: the one on
PATH, else this checkout's build/darknet-explain).
EOF
  exit 2
}
die() { echo "$0: $*" >&2; exit 1; }

shards=${DX_SHARDS:-4} out=${DX_OUT:-eval-out} partition=${DX_PARTITION:-} time=${DX_TIME:-}
cpus=${DX_CPUS:-1} wait=0
while [ $# -gt 0 ]; do
  case $1 in
    -n) [ $# -ge 2 ] || usage; shards=$2; shift 2 ;;
    -o) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    -p) [ $# -ge 2 ] || usage; partition=$2; shift 2 ;;
    -t) [ $# -ge 2 ] || usage; time=$2; shift 2 ;;
    -c) [ $# -ge 2 ] || usage; cpus=$2; shift 2 ;;
    --wait) wait=1; shift ;;
    -h | --help) usage ;;
    --) shift; break ;;
    *) break ;;
  esac
done
if [ $# -eq 0 ]; then
  if [ -z "${DX_CFG:-}" ] || [ -z "${DX_WEIGHTS:-}" ] || [ -z "${DX_LIST:-}" ]; then usage; fi
  set -- "$DX_CFG" "$DX_WEIGHTS" -list "$DX_LIST"
  [ -z "${DX_METHODS:-}" ] || set -- "$@" -methods "$DX_METHODS"
  [ -z "${DX_METRICS:-}" ] || set -- "$@" -metrics "$DX_METRICS"
  # shellcheck disable=SC2086 # DX_EVAL_ARGS is a list of options
  set -- "$@" ${DX_EVAL_ARGS:-}
fi
[ $# -ge 2 ] || usage

[[ $shards =~ ^[1-9][0-9]*$ ]] || die "-n: '$shards' is not a number of shards (1 or more)"
[[ $cpus =~ ^[1-9][0-9]*$ ]] || die "-c: '$cpus' is not a number of CPUs (1 or more)"
for f in "$1" "$2"; do [ -r "$f" ] || die "$f: cannot read"; done
list=
for ((k = 3; k <= $#; ++k)); do
  case ${!k} in
    -out | -shard | -resume) die "${!k}: set by the scripts (each shard writes OUT/shard-i); use -o OUT" ;;
    -list) k1=$((k + 1)); list=${!k1:-} ;;
  esac
done
[ -n "$list" ] || die "needs -list FILE (the images)"
[ -r "$list" ] || die "$list: cannot read"
if [ -n "${DX_BIN:-}" ]; then
  bin=$DX_BIN
elif command -v darknet-explain >/dev/null; then
  bin=$(command -v darknet-explain)
else
  bin=$here/../../build/darknet-explain
fi
[ -x "$bin" ] || die "$bin: no darknet-explain binary (build it with make, or set DX_BIN)"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
command -v sbatch >/dev/null || die "sbatch: not found (is this a Slurm login node?)"

mkdir -p "$out/logs" || die "$out/logs: cannot create"
out=$(cd "$out" && pwd)
common=(--export="ALL,DX_BIN=$bin" --cpus-per-task="$cpus")
[ -z "$partition" ] || common+=(--partition="$partition")
[ -z "$time" ] || common+=(--time="$time")
# shellcheck disable=SC2206 # DX_SBATCH_ARGS is a list of options
common+=(${DX_SBATCH_ARGS:-})

array=$(sbatch --parsable "${common[@]}" --array="0-$((shards - 1))" --output="$out/logs/shard-%a.log" \
  "$here/eval-array.sbatch" "$shards" "$out" "$@")
array=${array%%;*} # --parsable: "id" or "id;cluster"
echo "eval array job $array: $shards shards into $out/shard-0 .. shard-$((shards - 1)) (logs: $out/logs)"
id=$(sbatch --parsable "${common[@]}" --dependency="afterok:$array" --kill-on-invalid-dep=yes \
  --output="$out/logs/merge.log" "$here/eval-merge.sbatch" "$shards" "$out")
id=${id%%;*}
echo "merge job $id (after $array succeeds) writes $out/results.csv, summary.json, report.html"
[ "$wait" = 1 ] || exit 0

# The merge job's state once it has ended (polled every 1, 2, .. 10 s; sbatch --wait polls
# every 2, 8, 32 s and exits 0 for a job cancelled before it ran). A job the controller no
# longer shows (purged MinJobAge after it ended; or the controller is unreachable for a minute)
# is UNKNOWN.
final_state() {
  local delay=1 seen=$SECONDS state
  while :; do
    state=$(scontrol -o show job "$1" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -n 1 || true)
    state=${state#JobState=}
    case $state in
      COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE)
        echo "$state"; return ;;
      '') [ $((SECONDS - seen)) -lt 60 ] || { echo UNKNOWN; return; } ;;
      *) seen=$SECONDS ;;
    esac
    sleep "$delay"
    [ "$delay" -ge 10 ] || delay=$((delay + 1))
  done
}
echo "waiting for job $id"
state=$(final_state "$id")
if [ "$state" != COMPLETED ]; then
  failed=$(scontrol -o show job "$array" 2>/dev/null | grep -vE 'JobState=(COMPLETED|PENDING|RUNNING)' |
    grep -o 'ArrayTaskId=[0-9]*' | cut -d= -f2 | sort -n | tr '\n' ' ' || true)
  die "the merge job $id ended $state${failed:+; shards that failed: ${failed% }}: see $out/logs"
fi
echo "done: $out/results.csv"
