#!/usr/bin/env bash
# Regenerates docs/gradcam-dog.png, the README's picture: Grad-CAM of the real Tiny Darknet
# (../shared/models/imagenet) on Darknet's dog.jpg, drawn 480 pixels wide.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=../shared/models/imagenet
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
build/darknet-explain gradcam "$shared/tiny.cfg" "$shared/tiny.weights" /usr/share/darknet/data/dog.jpg \
    -names "$shared/imagenet.shortnames.list" -png_width 480 -out "$out/dog"
mkdir -p docs
cp "$out/dog.png" docs/gradcam-dog.png
echo "wrote docs/gradcam-dog.png"
