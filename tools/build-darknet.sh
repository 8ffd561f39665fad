#!/usr/bin/env bash
# Builds ./darknet with `darknet explain` (make darknet): Debian's darknet source package
# (pjreddie's Darknet plus Debian's five fixes), or a Darknet tree of your own
# (make darknet DARKNET_SRC=/path), with patches/ applied and plugin/ compiled in.
#   tools/build-darknet.sh [DARKNET_SRC] [make arguments for Darknet, e.g. GPU=1 CUDNN=1, OPENCV=0]
# Built with OpenCV (OPENCV=1), as Debian builds its package, so that photos decode to the
# pixels Debian's darknet and libdarknet.so (hence darknet-explain) see; for Debian's source
# libopencv-dev is installed if missing (make deps-darknet), for your own tree OpenCV is used
# when pkg-config finds it. An OPENCV= argument decides instead.
# Exit status: 0 built, 1 failed, 3 the source package or libopencv-dev could not be fetched.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src=${1:-}
shift || true
version=0.0.0+git20180914.61c9d02e-2
say() { echo "build-darknet: $*"; }
opencv_found() { command -v pkg-config >/dev/null && { pkg-config --exists opencv4 || pkg-config --exists opencv; }; }

mkdir -p "$root/darknet-src"
own_tree=$src
# Debian's source package, into darknet-src/ (a private deb-src list for the mirror and suite this
# machine already uses, so that the machine's own apt configuration is left as it is).
fetch_source() {
    say "fetching Debian's source package darknet=$version through apt..."
    apt_dir=$root/darknet-src/apt
    mkdir -p "$apt_dir/lists/partial"
    uri_suite=$( (grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2, $3}';
                  awk '/^URIs:/{u=$2} /^Suites:/{print u, $2}' /etc/apt/sources.list.d/*.sources 2>/dev/null) | head -1)
    [ -n "$uri_suite" ] || { echo "build-darknet: no Debian archive in this machine's apt sources" >&2; exit 3; }
    echo "deb-src $uri_suite main" > "$apt_dir/sources.list"
    apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o "Dir::State::Lists=$apt_dir/lists" -o Debug::NoLocking=1)
    if ! apt-get "${apt_opts[@]}" -qq update >/dev/null 2>&1 ||
       ! (cd "$root/darknet-src" && apt-get "${apt_opts[@]}" -qq source "darknet=$version" >/dev/null 2>&1); then
      echo "build-darknet: could not fetch Debian's source package darknet=$version through apt" >&2
      rm -rf "$src"
      exit 3
    fi
}
if [ -z "$src" ]; then
  src=$root/darknet-src/darknet-0.0.0+git20180914.61c9d02e
  [ -d "$src" ] || fetch_source
fi
[ -f "$src/examples/darknet.c" ] || { echo "build-darknet: $src is not a Darknet source tree" >&2; exit 1; }

# OpenCV: the last OPENCV= argument (as make reads them), else Debian's choice for its source,
# else whether this machine has OpenCV's headers.
opencv=
for arg in "$@"; do case $arg in OPENCV=*) opencv=${arg#OPENCV=} ;; esac; done
if [ -z "$opencv" ]; then
  if [ -z "$own_tree" ] || opencv_found; then opencv=1; else opencv=0; fi
fi
if [ "$opencv" = 1 ] && ! opencv_found; then
  say "installing libopencv-dev (make deps-darknet)..."
  make -s -C "$root" deps-darknet || {
    echo "build-darknet: could not install libopencv-dev, which OPENCV=1 needs (make deps-darknet)" >&2
    exit 3
  }
fi

# The copy fetched into darknet-src/ may carry an older version of patches/ (neither applied as
# they are now nor applicable): a fresh copy takes them.
if [ -z "$own_tree" ]; then
  for patch in "$root"/patches/*.patch; do
    if ! patch -d "$src" -p1 -R --dry-run -s -f < "$patch" >/dev/null 2>&1 &&
       ! patch -d "$src" -p1 --dry-run -s -f < "$patch" >/dev/null 2>&1; then
      say "darknet-src/ holds an older version of patches/: fetching a fresh copy..."
      rm -rf "$src"
      fetch_source
      break
    fi
  done
fi
applied=0
for patch in "$root"/patches/*.patch; do
  name=patches/$(basename "$patch")
  if patch -d "$src" -p1 -R --dry-run -s -f < "$patch" >/dev/null 2>&1; then
    continue # already applied
  fi
  if ! out=$(patch -d "$src" -p1 --dry-run -f < "$patch" 2>&1); then
    echo "build-darknet: $name does not apply to $src:" >&2
    echo "$out" | grep -iE 'hunk|can.t find|reject' >&2 || echo "$out" >&2
    exit 1
  fi
  [ $applied = 1 ] || say "applying patches/ to $src..."
  applied=1
  patch -d "$src" -p1 -s -f < "$patch"
done

# Darknet's Makefile rebuilds on source changes, not on changed flags: a tree last built with
# other arguments (or by an earlier version of this script, without OpenCV) starts clean.
args=(EXPLAIN_DIR="$root/plugin" OPENCV="$opencv" "$@")
stamp=$src/.darknet-explain-make-args
if [ -d "$src/obj" ] && [ "$(cat "$stamp" 2>/dev/null)" != "${args[*]}" ]; then
  make -C "$src" "${args[@]}" clean >/dev/null
fi
echo "${args[*]}" > "$stamp"
log=$root/darknet-src/build.log
say "building with OPENCV=$opencv (log: ${log#"$root"/})..."
make -C "$src" -j"$(nproc)" "${args[@]}" obj darknet >"$log" 2>&1 || {
  echo "build-darknet: building Darknet failed; the last lines of ${log#"$root"/}:" >&2
  tail -15 "$log" >&2
  exit 1
}
ln -sf "$src/darknet" "$root/darknet"
echo "built ./darknet (from $src)"
