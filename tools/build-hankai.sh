#!/usr/bin/env bash
# Builds hank-ai's Darknet/YOLO (github.com/hank-ai/darknet, C++17) with its own CMake, for the
# plugin's hank-ai backend (make BACKEND=hankai DARKNET_SRC=...).
#   tools/build-hankai.sh SRC OUT [cmake arguments, e.g. -DDARKNET_TRY_CUDA=ON]
# SRC is a checkout of hank-ai/darknet (with its .git: its CMake reads the version from `git
# describe`), or a .tar.gz snapshot of one (one top folder, as
# ../shared/darknet-forks/hankai-*.tar.gz). The build runs on OUT/src, a copy (its CMake writes
# src-lib/darknet_version.h into the source tree and renames stray files in its root, so the user's
# checkout is never configured in place), in OUT/src/build (cmake runs from the copy: its `git describe`
# runs in cmake's working directory, which must be in the copy's repository). Afterwards:
#   OUT/lib/libdarknet.so    the fork's shared library
#   OUT/include/             its C header darknet.h (with darknet_version.h), as compiled
#   OUT/src/src-lib/         all its headers (darknet_internal.hpp: the C++ adapter's), as compiled
#   OUT/bin/darknet          the fork's own CLI (parity checks against its `detector test`)
# With --explain (make darknet BACKEND=hankai), OUT/src gets patches/hankai/ and only the fork's
# darknet CLI is built, with `darknet explain` in it (the plugin's sources compiled in), linked
# against the fork's libdarknet.so given as -DDARKNET_EXPLAIN_LIB=PATH (the one darknet-explain
# uses: the library is not compiled again): OUT/bin/darknet.
# CMake arguments: -DCMAKE_BUILD_TYPE=Release -DDARKNET_TRY_CUDA=OFF -DDARKNET_TRY_ROCM=OFF
# -DDARKNET_TRY_ONNX=OFF, then the caller's (the last one wins). A rebuild is incremental.
# Exit status: 0 built, 1 SRC is not a hank-ai tree or the build failed, 2 usage.
set -euo pipefail
me=build-hankai
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/tools/patches.sh"
explain=0
if [ "${1:-}" = --explain ]; then explain=1; shift; fi
if [ $# -lt 2 ] || [ -z "$1" ] || [ -z "$2" ]; then
  echo "usage: tools/build-hankai.sh [--explain] SRC OUT [cmake arguments]   (SRC: a hank-ai/darknet checkout or .tar.gz)" >&2
  exit 2
fi
src=$1 out=$2
shift 2
command -v cmake >/dev/null || { echo "$me: cmake is missing (make deps BACKEND=hankai installs it)" >&2; exit 1; }

# A hank-ai tree has CMakeLists.txt, src-lib/darknet_internal.hpp and src-cli/darknet_cli.cpp.
case $src in
  *.tar.gz|*.tgz)
    [ -f "$src" ] || { echo "$me: $src: no such file" >&2; exit 1; }
    listing=$(tar tzf "$src" 2>/dev/null) || { echo "$me: $src: not a readable .tar.gz" >&2; exit 1; }
    top=$(printf '%s\n' "$listing" | sed -n 's|^\./||; s|/.*||p' | sort -u)
    if [ "$(printf '%s\n' "$top" | wc -l)" != 1 ] || ! printf '%s\n' "$listing" | grep -qx "\(\./\)\?$top/CMakeLists.txt" ||
       ! printf '%s\n' "$listing" | grep -qx "\(\./\)\?$top/src-lib/darknet_internal.hpp"; then
      echo "$me: $src is not a snapshot of hank-ai's Darknet (one top folder with CMakeLists.txt and src-lib/darknet_internal.hpp)" >&2
      exit 1
    fi ;;
  *)
    if [ ! -f "$src/CMakeLists.txt" ] || [ ! -f "$src/src-lib/darknet_internal.hpp" ] || [ ! -d "$src/.git" ]; then
      echo "$me: $src is not a hank-ai Darknet checkout (expected CMakeLists.txt, src-lib/darknet_internal.hpp and .git)" >&2
      exit 1
    fi ;;
esac

mkdir -p "$out"
out=$(cd "$out" && pwd)
tree=$out/src
case $src in
  *.tar.gz|*.tgz)
    # the unpacked tree (and the CMake build on it) is kept while the snapshot and the patches
    # applied to it are the same
    stamp="$src $(stat -c '%s %Y' "$src")"
    if [ $explain = 1 ]; then stamp="$stamp $(cat "$root"/patches/hankai/*.patch | sha1sum | cut -c1-16)"; fi
    if [ "$(cat "$out/.snapshot" 2>/dev/null)" != "$stamp" ]; then
      rm -rf "$tree" "$out/.snapshot"
      mkdir -p "$tree"
      tar xzf "$src" -C "$tree" --strip-components=1
      echo "$stamp" > "$out/.snapshot"
    fi ;;
  *)
    # with the files' own times, so CMake's make rebuilds what changed in SRC since the last
    # build; not the checkout's own build/ (its cache names the checkout)
    rm -f "$out/.snapshot"
    mkdir -p "$tree"
    (cd "$src" && tar cf - --exclude=./build .) | (cd "$tree" && tar xpf -) ;;
esac

targets=(darknet darknetcli)
if [ $explain = 1 ]; then
  apply_patches "$me" "$root/patches/hankai" "$tree" "$src"
  case " $* " in
    *" -DDARKNET_EXPLAIN_LIB="*) ;;
    *) echo "$me: --explain needs -DDARKNET_EXPLAIN_LIB=/path/to/libdarknet.so (the fork's library darknet-explain is built against)" >&2; exit 2 ;;
  esac
  targets=(darknetcli)
  set -- -DDARKNET_EXPLAIN_DIR="$root/plugin" "$@"
fi
args=(-DCMAKE_BUILD_TYPE=Release -DDARKNET_TRY_CUDA=OFF -DDARKNET_TRY_ROCM=OFF -DDARKNET_TRY_ONNX=OFF "$@")
log=$out/build.log
jobs=${DX_BUILD_JOBS:-$(nproc)}
echo "$me: configuring and building in $tree/build with ${args[*]} (log: $log)..."
start=$(date +%s)
if ! { (cd "$tree" && cmake -S . -B build "${args[@]}") && make -C "$tree/build" -j"$jobs" "${targets[@]}"; } >"$log" 2>&1; then
  echo "$me: building hank-ai's Darknet failed; the last lines of $log:" >&2
  tail -15 "$log" >&2
  exit 1
fi

# Copied only when changed, so what links against OUT/lib does not relink for nothing.
publish() { mkdir -p "$(dirname "$2")"; cmp -s "$1" "$2" || cp -p "$1" "$2"; }
publish "$tree/build/src-cli/darknet" "$out/bin/darknet"
if [ $explain = 1 ]; then
  echo "$me: built $out/bin/darknet (hank-ai's darknet with patches/hankai) in $(( $(date +%s) - start )) s"
  exit 0
fi
lib=$(find "$tree/build/src-lib" -maxdepth 1 -name 'libdarknet.so*' -type f | head -1)
mkdir -p "$out/lib"
publish "$lib" "$out/lib/libdarknet.so"
# what the runtime linker looks for, when the library names itself otherwise
soname=$(objdump -p "$lib" | sed -n 's/^ *SONAME *//p')
if [ -n "$soname" ] && [ "$soname" != libdarknet.so ]; then ln -sf libdarknet.so "$out/lib/$soname"; fi
publish "$tree/src-lib/darknet.h" "$out/include/darknet.h"
publish "$tree/src-lib/darknet_version.h" "$out/include/darknet_version.h"
echo "$me: built $out/lib/libdarknet.so in $(( $(date +%s) - start )) s (headers: $out/include, $tree/src-lib)"
