#!/usr/bin/env bash
# Builds AlexeyAB's Darknet (libdarknet.so and its own ./darknet) with the fork's own Makefile,
# for the plugin's AlexeyAB backend (make BACKEND=alexeyab DARKNET_SRC=...).
#   tools/build-alexeyab.sh SRC OUT [make arguments for the fork, e.g. GPU=1 CUDNN=1, AVX=0]
# SRC is a checkout of github.com/AlexeyAB/darknet, or a .tar.gz snapshot of one (one top
# folder, as ../shared/darknet-forks/alexeyab-*.tar.gz). The build runs in OUT/src, a copy of
# SRC's Makefile, src/, include/ and 3rdparty/ (or the unpacked snapshot), so the user's checkout
# is never written to. Afterwards:
#   OUT/lib/libdarknet.so    the fork's shared library (no soname: link -LOUT/lib -ldarknet)
#   OUT/include/darknet.h    its public header, as the library was compiled against it
#   OUT/bin/darknet          the fork's own executable (parity checks against its detector)
# With --explain (make darknet BACKEND=alexeyab), OUT/src gets patches/alexeyab/ and only the fork's
# ./darknet is built, with `darknet explain` in it (the plugin's sources compiled in): OUT/bin/darknet.
# With --train (make models BACKEND=alexeyab), OUT/src gets patches/alexeyab-train/ (the fork's CPU
# training fixed) and only its ./darknet is built: OUT/bin/darknet, the embedded model's trainer.
# Make arguments: LIBSO=1 OPENCV=0 AVX=1 OPENMP=1, then the caller's (the last one wins).
# A rebuild with the same arguments is incremental; with other arguments it starts clean, since
# the fork's Makefile does not track its flags.
# Exit status: 0 built, 1 SRC is not an AlexeyAB tree or the build failed, 2 usage.
set -euo pipefail
me=build-alexeyab
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tools/patches.sh"
explain=0 patches=
case ${1:-} in
  --explain) explain=1 patches=alexeyab; shift ;;
  --train) patches=alexeyab-train; shift ;;
esac
if [ $# -lt 2 ] || [ -z "$1" ] || [ -z "$2" ]; then
  echo "usage: tools/build-alexeyab.sh SRC OUT [make arguments]   (SRC: an AlexeyAB/darknet checkout or .tar.gz)" >&2
  exit 2
fi
src=$1 out=$2
shift 2

# An AlexeyAB tree has its Makefile with the LIBSO switch, src/network.c and a darknet.h that
# passes network_state to the layers (pjreddie's passes network; hank-ai's has no include/darknet.h
# at the top and builds with CMake).
is_alexeyab_header() { local h; h=$(cat); grep -q 'struct network_state' <<<"$h" && grep -q 'load_network_custom' <<<"$h"; }
case $src in
  *.tar.gz|*.tgz)
    [ -f "$src" ] || { echo "$me: $src: no such file" >&2; exit 1; }
    listing=$(tar tzf "$src" 2>/dev/null) || { echo "$me: $src: not a readable .tar.gz" >&2; exit 1; }
    top=$(printf '%s\n' "$listing" | sed -n 's|^\./||; s|/.*||p' | sort -u)
    if [ "$(printf '%s\n' "$top" | wc -l)" != 1 ] || ! printf '%s\n' "$listing" | grep -qx "\(\./\)\?$top/Makefile" ||
       ! printf '%s\n' "$listing" | grep -qx "\(\./\)\?$top/src/network.c" ||
       ! tar xzf "$src" -O --wildcards "*$top/include/darknet.h" 2>/dev/null | is_alexeyab_header; then
      echo "$me: $src is not a snapshot of AlexeyAB's Darknet (one top folder with Makefile, src/network.c and an include/darknet.h that has struct network_state)" >&2
      exit 1
    fi ;;
  *)
    if [ ! -f "$src/Makefile" ] || [ ! -f "$src/src/network.c" ] || [ ! -f "$src/include/darknet.h" ] ||
       ! is_alexeyab_header < "$src/include/darknet.h"; then
      echo "$me: $src is not an AlexeyAB Darknet tree (expected Makefile, src/network.c and an include/darknet.h that has struct network_state)" >&2
      exit 1
    fi ;;
esac

mkdir -p "$out"
out=$(cd "$out" && pwd)
tree=$out/src
# The copy is refreshed on every run with the files' own times (cp -p), so the fork's make
# rebuilds exactly what changed in SRC since the last build; obj/ is kept.
case $src in
  *.tar.gz|*.tgz)
    # the unpacked tree is kept while the snapshot and the patches applied to it are the same
    stamp=$(stat -c '%s %Y' "$src")
    if [ -n "$patches" ]; then stamp="$stamp $(cat "$root/patches/$patches"/*.patch | sha1sum | cut -c1-16)"; fi
    if [ "$(cat "$out/.snapshot" 2>/dev/null)" != "$src $stamp" ]; then
      rm -rf "$tree" "$out/.snapshot"
      mkdir -p "$tree"
      tar xzf "$src" -C "$tree" --strip-components=1
      echo "$src $stamp" > "$out/.snapshot"
    fi ;;
  *)
    rm -rf "$tree/Makefile" "$tree/src" "$tree/include" "$tree/3rdparty" "$out/.snapshot"
    mkdir -p "$tree"
    cp -pR "$src/Makefile" "$src/src" "$src/include" "$tree/"
    if [ -d "$src/3rdparty" ]; then cp -pR "$src/3rdparty" "$tree/"; fi ;;
esac

targets=(libdarknet.so darknet)
if [ -n "$patches" ]; then
  apply_patches "$me" "$root/patches/$patches" "$tree" "$src"
  targets=(darknet)
fi
if [ $explain = 1 ]; then set -- EXPLAIN_DIR="$root/plugin" "$@"; fi
args=(LIBSO=1 OPENCV=0 AVX=1 OPENMP=1 "$@")
margs=$out/.make-args
if [ -d "$tree/obj" ] && [ "$(cat "$margs" 2>/dev/null)" != "${args[*]}" ]; then
  make -C "$tree" "${args[@]}" clean >/dev/null 2>&1 || true
  rm -rf "$tree/obj"
fi
# obj/ first: the fork's object rules do not depend on it, so make -j would race its mkdir
mkdir -p "$tree/obj"
log=$out/build.log
echo "$me: building in $tree with ${args[*]} (log: $log)..."
if ! make -C "$tree" -j"$(nproc)" "${args[@]}" "${targets[@]}" >"$log" 2>&1; then
  echo "$me: building AlexeyAB's Darknet failed; the last lines of $log:" >&2
  tail -15 "$log" >&2
  exit 1
fi
echo "${args[*]}" > "$margs"

# Copied only when changed, so what links against OUT/lib does not relink for nothing.
publish() { mkdir -p "$(dirname "$2")"; cmp -s "$1" "$2" || cp -p "$1" "$2"; }
publish "$tree/darknet" "$out/bin/darknet"
if [ -n "$patches" ]; then
  echo "$me: built $out/bin/darknet (AlexeyAB's darknet with patches/$patches)"
  exit 0
fi
publish "$tree/libdarknet.so" "$out/lib/libdarknet.so"
publish "$tree/include/darknet.h" "$out/include/darknet.h"
echo "$me: built $out/lib/libdarknet.so, $out/include/darknet.h, $out/bin/darknet"
