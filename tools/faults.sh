#!/usr/bin/env bash
# The fault table (docs/faults.md): each bad input or hostile condition from issue #14 run against
# the command line, with what the program did — exit status, lines on stderr, files left behind.
#   tools/faults.sh [BUILD_DIR]      (make faults)
# Prints a Markdown table; exits 1 when a row breaks the promise (one line on stderr, the expected
# non-zero exit status, nothing left in the output folder). The Criterion suite holds the same
# cases as tests; this script is the readable summary, run on the embedded models only (plus
# Yolo-Fastest-XL from ../shared for the memory row when it is there).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd) || exit 1
cli=$build/darknet-explain
gen=$build/gen-shapes
[ -x "$cli" ] && [ -x "$gen" ] || { echo "faults: build $cli and $gen first (make all $gen)" >&2; exit 1; }
work=$(mktemp -d)
trap 'umount -q "$work/small" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"

cls_cfg=$root/cfg/shapes-classifier.cfg cls_w=$root/cfg/shapes-classifier.weights
det_cfg=$root/cfg/shapes-detector.cfg det_w=$root/cfg/shapes-detector.weights
"$gen" "$work" in 1 1 64 2 1 >/dev/null
photo=$work/$(head -1 "$work/in.list")
python3 - "$work" "$det_w" "$cls_w" <<'EOF'
import struct, sys, zlib
work, det_w, cls_w = sys.argv[1], sys.argv[2], sys.argv[3]
def png(path, w, h):
    raw = b''.join(b'\0' + bytes(3 * w) for _ in range(h))
    def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    open(path, 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0))
                           + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b''))
png(f'{work}/huge.png', 12000, 12000)
png(f'{work}/banner.png', 2000, 9)
# a critical chunk of unknown type, the type's first byte a line break (as fuzzing found)
def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
open(f'{work}/chunk.png', 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 2, 2, 8, 2, 0, 0, 0))
                                      + chunk(b'\nxyz', b'') + chunk(b'IDAT', zlib.compress(bytes(14)))
                                      + chunk(b'IEND', b''))
open(f'{work}/x.gif', 'wb').write(b'GIF89a\x02\x00\x02\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff,\x00\x00\x00\x00\x02\x00\x02\x00\x00\x02\x02D\x01\x00;')
open(f'{work}/x.tga', 'wb').write(bytes([0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0, 24, 0]) + bytes(12))
open(f'{work}/x.pgm', 'wb').write(b'P5\n64 64\n65535\n' + bytes(1000))
# the detector's last layer: a 1x1 convolution to 3 anchors x (x, y, w, h, obj, 4 classes), 27
# biases then 27 x 64 weights at the end of the file; anchor a's h bias is bias 9a + 3
big = bytearray(open(det_w, 'rb').read())
for a in range(3):
    at = len(big) - 4 * 27 * 65 + 4 * (9 * a + 3)
    big[at:at + 4] = struct.pack('<f', 2.4e17)
open(f'{work}/big.weights', 'wb').write(big)
data = open(cls_w, 'rb').read()
major, minor = struct.unpack('<ii', data[:8])
header = 20 if major * 10 + minor >= 2 and major < 1000 else 16
nan = data[:header] + struct.pack('<f', float('nan')) * ((len(data) - header) // 4)
open(f'{work}/nan.weights', 'wb').write(nan)
EOF

failed=0
echo "| what was tried | exit | stderr | files left | first line on stderr |"
echo "|---|---|---|---|---|"
# row DESCRIPTION EXPECTED_EXIT COMMAND...: runs in a fresh folder out/, counts what is left there.
# Lines on stderr are counted without `all`'s progress lines ("[2/4] cam 0.1 s"); want_lines (1
# unless set for the row) is what the design prints: a load warning can precede the error.
want_lines=1
row() {
    local what=$1 want=$2; shift 2
    rm -rf "$work/out" && mkdir "$work/out"
    (cd "$work/out" && "$@" >/dev/null 2>"$work/stderr")
    local rc=$? lines left first verdict=""
    lines=$(grep -cvE '^\[[0-9]+/[0-9]+\] ' "$work/stderr")
    left=$(find "$work/out" -mindepth 1 | wc -l)
    first=$(grep -vE '^\[[0-9]+/[0-9]+\] ' "$work/stderr" | head -1 | sed "s|$work/||g; s|$root/||g; s/|/\\\\|/g" | cut -c1-110)
    { [ "$rc" = "$want" ] && [ "$lines" -le "$want_lines" ] && [ "$left" = 0 ]; } || { verdict=" **broken**"; failed=1; }
    echo "| $what | $rc (want $want)$verdict | $lines line(s) | $left | $first |"
    want_lines=1
}
limit=120   # seconds a row may take; a row cut off by it exits 124
explain() { timeout $limit "$cli" "$@"; }
run() { explain "$@" -out "$work/out/x"; }

row "\`-png_width 1\`" 2 run gradcam "$cls_cfg" "$cls_w" "$photo" -png_width 1
row "\`-region nan,nan,5,5\` on a detector" 2 run gradcam "$det_cfg" "$det_w" "$photo" -region nan,nan,5,5
row "\`-region 0,0,inf,inf\` on a detector" 2 run gradcam "$det_cfg" "$det_w" "$photo" -region 0,0,inf,inf
row "the detector's h biases 2.4e17 (boxes at y = -inf, h = inf)" 1 run gradcam "$det_cfg" "$work/big.weights" "$photo" -boxes all
want_lines=2 # the load warning naming the layer, then the error
row "weights of the right size, all NaN" 1 run gradcam "$cls_cfg" "$work/nan.weights" "$photo"
row "GIF photo" 1 run gradcam "$cls_cfg" "$cls_w" "$work/x.gif"
row "TGA photo" 1 run gradcam "$cls_cfg" "$cls_w" "$work/x.tga"
row "truncated 16-bit PGM photo" 1 run gradcam "$cls_cfg" "$cls_w" "$work/x.pgm"
# found by fuzzing (docs/fuzzing.md): the inputs are the regression corpus's
fuzzed=$root/tests/fuzz/image/regressions
row "a JPEG stb decodes and libjpeg (OpenCV's, Darknet's) refuses" 1 run gradcam "$cls_cfg" "$cls_w" "$fuzzed/stb-decodes-libjpeg-refuses.jpg"
row "a PNG with a critical chunk whose type holds a line break" 1 run gradcam "$cls_cfg" "$cls_w" "$work/chunk.png"
row "a 2000×9 banner (letterboxed to 64×0 pixels)" 1 run gradcam "$cls_cfg" "$cls_w" "$work/banner.png"
row "12000×12000 PNG under a 3 GB address-space limit" 1 \
    bash -c 'ulimit -v 3000000; exec timeout '$limit' "$0" "$@"' "$cli" gradcam "$cls_cfg" "$cls_w" "$work/huge.png" -out "$work/out/x"
if [ -f "$root/../shared/models/coco/yolo-fastest-1.1-xl.weights" ]; then
    row "Yolo-Fastest-XL under a 500 MB address-space limit" 1 \
        bash -c 'ulimit -v 500000; exec timeout '$limit' "$0" "$@"' "$cli" gradcam "$root/../shared/models/coco/yolo-fastest-1.1-xl.cfg" \
        "$root/../shared/models/coco/yolo-fastest-1.1-xl.weights" "$photo" -out "$work/out/x"
fi
row "arguments in the wrong order (photo, cfg, weights)" 2 run gradcam "$photo" "$cls_cfg" "$cls_w"
row "a photo given as the weights" 2 run gradcam "$cls_cfg" "$photo" "$cls_w"
row "\`-out ''\`" 2 explain gradcam "$cls_cfg" "$cls_w" "$photo" -out ''
row "\`-out\` into a missing folder" 1 explain gradcam "$cls_cfg" "$cls_w" "$photo" -out "$work/out/missing/x"
row "\`-steps 100000\`" 2 run ig "$cls_cfg" "$cls_w" "$photo" -steps 100000
row "\`-segments 10000\`" 2 run lime "$cls_cfg" "$cls_w" "$photo" -segments 10000
# Eval: a label file with a NaN width beside the photo, checked before the first image.
mkdir -p "$work/labels" && cp "$photo" "$work/labels/a.png" && echo "0 0.5 0.5 nan 0.2" > "$work/labels/a.txt"
echo "$work/labels/a.png" > "$work/labels.list"
row "\`eval\` with a label whose width is NaN" 1 \
    explain eval "$det_cfg" "$det_w" -list "$work/labels.list" -methods gradcam -metrics pointing -out "$work/out/eval"

# Files left behind are counted in $leftover_dir too (printed to stderr, so they count as lines).
leftovers() { "$@"; local rc=$?; find "$leftover_dir" -mindepth 1 | sed "s/^/left: /" >&2; return $rc; }
if mkdir -p "$work/small" && mount -t tmpfs -o size=200k tmpfs "$work/small" 2>/dev/null; then
    leftover_dir=$work/small
    row "\`all\` on a file system that fills up part-way (200 KB tmpfs)" 1 \
        leftovers explain all "$cls_cfg" "$cls_w" "$photo" -methods gradcam,cam,lrp,saliency -out "$work/small/x"
    umount -q "$work/small"
fi
# SIGTERM once the first part file exists (a 4096-px PNG takes a moment to encode); the exit
# status is the signal's (128 + 15).
term_while_writing() {
    "$cli" gradcam "$cls_cfg" "$cls_w" "$photo" -png_width 4096 -out "$work/out/x" & local pid=$!
    for _ in $(seq 600); do
        compgen -G "$work/out/*.part" >/dev/null && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.01
    done
    kill -TERM $pid 2>/dev/null
    wait $pid
}
row "SIGTERM while the outputs are written" 143 term_while_writing
# Two evals on one folder: the second is refused while the first holds the folder's lock (the
# first one's own files are removed before counting: the row is about the second).
second_eval() {
    mkdir -p "$work/two"
    "$cli" eval "$cls_cfg" "$cls_w" -list "$work/in.list.abs" -methods gradcam,occlusion -metrics deletion,insertion \
        -out "$work/two/run" >/dev/null 2>&1 & local first=$!
    for _ in $(seq 600); do [ -e "$work/two/run/.eval.lock" ] && break; sleep 0.05; done
    explain eval "$cls_cfg" "$cls_w" -list "$work/in.list.abs" -methods gradcam -metrics deletion -resume \
        -out "$work/two/run"
    local rc=$?
    wait $first
    rm -rf "$work/two"
    return $rc
}
"$gen" "$work" many 3 6 64 1 1 >/dev/null && sed "s|^|$work/|" "$work/many.list" > "$work/in.list.abs"
row "a second \`eval -resume\` on a folder another eval is writing" 1 second_eval
exit $failed
