#!/usr/bin/env bash
# make demo: explains the embedded models (cfg/shapes-*) on generated images, writes demo/*.png.
#   tools/demo.sh BUILD_DIR
# Needs nothing outside the repository: the images come from tools/gen_shapes.c (the held-out
# seeds of `make models`), the weights are committed. DEMO_METHODS=a,b,.. picks the methods
# (default: every method that applies to the model, as `darknet-explain all` chooses).
set -euo pipefail
cd "$(dirname "$0")/.."
build=$1
cli=$build/darknet-explain
gen=$build/gen-shapes
out=demo
rm -rf "$out"
mkdir -p "$out"

# The classifier: one shape per image decides the class; the map should cover it.
"$gen" "$out" classifier-inputs 2 6 64 1 4   # 256 pixels wide: 64x64 shown 4x
panels=0
for image in $(cat "$out/classifier-inputs.list"); do
    stem=$(basename "$image" .png)
    "$cli" all cfg/shapes-classifier.cfg cfg/shapes-classifier.weights "$out/$image" \
        -names cfg/shapes.names -out "$out/classifier-$stem" ${DEMO_METHODS:+-methods "$DEMO_METHODS"} >/dev/null
    panels=$((panels + 1))
done
echo "classifier: $panels generated images explained with every method: $out/classifier-*_panel.png" \
     "(side by side), $out/classifier-*_<method>.png (one each); the true class is in the file name"

# The detector: one map per detected box, the boxes drawn, for a gradient, a CAM and a
# black-box method.
"$gen" "$out" detector-inputs 4 2 64 3 4
for image in $(cat "$out/detector-inputs.list"); do
    stem=$(basename "$image" .png)
    for method in ${DEMO_DETECTOR_METHODS:-gradcam lrp drise}; do
        "$cli" "$method" cfg/shapes-detector.cfg cfg/shapes-detector.weights "$out/$image" \
            -names cfg/shapes.names -boxes all -out "$out/detector-$stem-$method" >/dev/null
    done
done
echo "detector: every box of ${DEMO_DETECTOR_METHODS:-gradcam lrp drise} on generated images:" \
     "$out/detector-*_boxes.png (all boxes), $out/detector-*_boxK.png (one box each)"
