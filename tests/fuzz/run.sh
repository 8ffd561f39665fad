#!/bin/sh
# make fuzz: tests/fuzz/run.sh BUILD TARGET SECONDS
# Runs afl-fuzz on one target for SECONDS at nice 19 (one process: the machine is shared), from
# the target's seeds and regression inputs (the cfg seeds link the project's cfg/*.cfg), resuming
# BUILD/out/TARGET when a previous run left it; then prints the totals and replays each crash and
# hang with the harness, which names what broke (the sanitizer's or the harness's own line).
set -eu
build=$1 target=$2 seconds=$3
root=$(pwd)
harness=$root/$build/dx-fuzz
out=$root/$build/out/$target
in=$root/$build/in/$target
[ -x "$harness" ] || { echo "fuzz: $harness is missing (make fuzz-build)"; exit 1; }
[ -d "tests/fuzz/$target/seeds" ] || { echo "fuzz: no target '$target' (cfg weights image options lists)"; exit 2; }

# the private directories the harness makes (targets.c: dx_fuzz_init), out of the repository; one
# per target, so that several targets can run at once
export TMPDIR=$root/$build/tmp/$target
rm -rf "$TMPDIR" && mkdir -p "$TMPDIR"
export DX_ROOT=$root OPENBLAS_NUM_THREADS=1 DX_BLAS=1
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1 AFL_NO_UI=1
# AFL needs abort_on_error and no symbolizer; leaks are LSan's in `make test SANITIZE=1`
export ASAN_OPTIONS=abort_on_error=1:symbolize=0:detect_leaks=0:hard_rss_limit_mb=2048:allocator_may_return_null=0
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1

if [ -f "$out/default/fuzzer_stats" ]; then
    input=-   # resume
else
    rm -rf "$in" && mkdir -p "$in"
    cp -L tests/fuzz/$target/seeds/* "$in"/
    for f in tests/fuzz/$target/regressions/*; do [ -f "$f" ] && cp -L "$f" "$in"/; done
    input=$in
fi
echo "fuzz: $target for ${seconds}s (afl-fuzz log: $out/afl.log)"
mkdir -p "$out"
dict=
[ -f "tests/fuzz/$target/dict" ] && dict="-x tests/fuzz/$target/dict"
nice -n 19 afl-fuzz -V "$seconds" -t 2000 -m none $dict -i "$input" -o "$out" -- "$harness" "$target" \
    >"$out/afl.log" 2>&1 || { tail -20 "$out/afl.log"; exit 1; }

stats=$out/default/fuzzer_stats
get() { sed -n "s/^$1 *: *//p" "$stats"; }
echo "fuzz: $target: $(get execs_done) executions in $(get run_time)s (total over runs of this out dir)," \
     "$(get execs_per_sec)/s, corpus $(get corpus_count), crashes $(get saved_crashes), hangs $(get saved_hangs)"
export ASAN_OPTIONS=detect_leaks=0:symbolize=1 UBSAN_OPTIONS=print_stacktrace=1
for kind in crashes hangs; do
    for f in "$out"/default/$kind/id*; do
        [ -f "$f" ] || continue
        echo "--- $kind/$(basename "$f")"
        timeout 20 "$harness" "$target" "$f" 2>&1 | grep -E "^(SUMMARY|$target: |fuzz: )|ERROR: |runtime error" | head -3 || true
    done
done
