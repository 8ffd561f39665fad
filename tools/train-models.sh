#!/bin/sh
# Retrains the embedded models (CPU, headless, nice 19), from scratch:
#   tools/train-models.sh GEN_SHAPES WORK_DIR           `make models`: Debian's Darknet trains
#       cfg/shapes-detector.cfg, then cfg/shapes-classifier.cfg's class-score layer on its features
#   tools/train-models.sh GEN_SHAPES WORK_DIR DARKNET   `make models BACKEND=alexeyab`: DARKNET, the
#       AlexeyAB fork's own executable with its CPU training fixed (patches/alexeyab-train, built
#       into build-alexeyab/darknet-train/bin/darknet), trains cfg/shapes-detector-v4tiny.cfg
# Generates the synthetic data into WORK_DIR (Darknet writes to WORK_DIR/backup), copies the final
# weights into cfg/ and prints each training's time. Darknet seeds its augmentation from the clock,
# so a rerun gives equivalent models, not identical bytes. On 2 idle cores: about 20 minutes for
# Debian's two; the fork's detector took 31 minutes at nice 19 on 2 cores shared with other work.
set -eu
gen=$(realpath "$1")
work=$2
fork=${3:+$(realpath "$3")}
root=$(pwd)
rm -rf "$work"
mkdir -p "$work/backup"
# split   seed images size objects (the detectors share theirs)
if [ -z "$fork" ]; then
    "$gen" "$work" cls-train 1 4000 64 1
    "$gen" "$work" cls-valid 2 500 64 1
fi
"$gen" "$work" det-train 3 3000 64 3
"$gen" "$work" det-valid 4 300 64 3
cp cfg/shapes.names cfg/shapes-*.cfg cfg/shapes-*.data "$work/"
cd "$work"

# train WHAT LOG COMMAND...: COMMAND without a display at nice 19, its output in LOG; prints its time
train() {
    what=$1 log=$2
    shift 2
    echo "training the $what (log: $work/$log)"
    start=$(date +%s)
    env -u DISPLAY nice -n 19 "$@" >"$log" 2>&1 || { echo "$1 $2 $3 failed: see $work/$log" >&2; exit 1; }
    echo "trained the $what in $(($(date +%s) - start)) s"
}

if [ -n "$fork" ]; then
    # -dont_show: no loss chart window (the fork's build here has no OpenCV to draw one anyway)
    train "YOLOv4-tiny-style detector" detector-v4tiny.log \
        "$fork" detector train shapes-detector-v4tiny.data shapes-detector-v4tiny.cfg -dont_show
    cp backup/shapes-detector-v4tiny_final.weights "$root/cfg/shapes-detector-v4tiny.weights"
    echo "wrote cfg/shapes-detector-v4tiny.weights"
    exit 0
fi
train detector detector.log darknet detector train shapes-detector.data shapes-detector.cfg
# The classifier's layers 0-15 are the trained detector's; Darknet trains the two layers above
# (a classifier trained from scratch on these images stayed at chance for hundreds of batches).
darknet partial shapes-classifier.cfg backup/shapes-detector_final.weights backup/shapes-features.conv 16 \
    >/dev/null 2>&1
train classifier classifier.log darknet classifier train shapes-classifier.data shapes-classifier.cfg \
    backup/shapes-features.conv -clear
cp backup/shapes-classifier.weights "$root/cfg/shapes-classifier.weights"
cp backup/shapes-detector_final.weights "$root/cfg/shapes-detector.weights"
echo "wrote cfg/shapes-classifier.weights cfg/shapes-detector.weights"
