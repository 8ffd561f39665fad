#!/bin/sh
# Retrains the embedded models with Debian's Darknet (CPU, headless): `make models`.
#   tools/train-models.sh GEN_SHAPES WORK_DIR
# Generates the synthetic data into WORK_DIR, trains cfg/shapes-detector.cfg from scratch, then
# cfg/shapes-classifier.cfg's class-score layer on the detector's features there (Darknet writes to
# WORK_DIR/backup), copies the final weights into cfg/. Darknet seeds its augmentation from the
# clock, so a rerun gives equivalent models, not identical bytes. About 20 minutes on 2 idle cores.
set -eu
gen=$(realpath "$1")
work=$2
root=$(pwd)
rm -rf "$work"
mkdir -p "$work/backup"
# split   seed images size objects
"$gen" "$work" cls-train 1 4000 64 1
"$gen" "$work" cls-valid 2 500 64 1
"$gen" "$work" det-train 3 3000 64 3
"$gen" "$work" det-valid 4 300 64 3
cp cfg/shapes.names cfg/shapes-classifier.cfg cfg/shapes-classifier.data \
   cfg/shapes-detector.cfg cfg/shapes-detector.data "$work/"
cd "$work"
echo "training the detector (log: $work/detector.log)"
env -u DISPLAY nice darknet detector train shapes-detector.data shapes-detector.cfg >detector.log 2>&1 ||
    { echo "darknet detector train failed: see $work/detector.log" >&2; exit 1; }
# The classifier's layers 0-15 are the trained detector's; Darknet trains the two layers above
# (a classifier trained from scratch on these images stayed at chance for hundreds of batches).
darknet partial shapes-classifier.cfg backup/shapes-detector_final.weights backup/shapes-features.conv 16 \
    >/dev/null 2>&1
echo "training the classifier (log: $work/classifier.log)"
env -u DISPLAY nice darknet classifier train shapes-classifier.data shapes-classifier.cfg \
    backup/shapes-features.conv -clear >classifier.log 2>&1 ||
    { echo "darknet classifier train failed: see $work/classifier.log" >&2; exit 1; }
cp backup/shapes-classifier.weights "$root/cfg/shapes-classifier.weights"
cp backup/shapes-detector_final.weights "$root/cfg/shapes-detector.weights"
echo "wrote cfg/shapes-classifier.weights cfg/shapes-detector.weights"
