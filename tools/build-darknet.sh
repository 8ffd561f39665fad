#!/usr/bin/env bash
# Builds ./darknet with `darknet explain` (make darknet): Debian's darknet source package
# (pjreddie's Darknet plus Debian's five fixes), or a Darknet tree of your own
# (make darknet DARKNET_SRC=/path), with patches/ applied and plugin/ compiled in.
#   tools/build-darknet.sh [DARKNET_SRC] [make arguments for Darknet, e.g. GPU=1 CUDNN=1]
# Exit status: 0 built, 1 failed, 3 the source package could not be fetched.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
src=${1:-}
shift || true
version=0.0.0+git20180914.61c9d02e-2

if [ -z "$src" ]; then
  src=$root/darknet-src/darknet-0.0.0+git20180914.61c9d02e
  if [ ! -d "$src" ]; then
    # A private deb-src list for the mirror and suite this machine already uses, so that the
    # machine's own apt configuration is left as it is.
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
  fi
fi
[ -f "$src/examples/darknet.c" ] || { echo "build-darknet: $src is not a Darknet source tree" >&2; exit 1; }

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
  patch -d "$src" -p1 -s -f < "$patch"
done

make -C "$src" -j"$(nproc)" EXPLAIN_DIR="$root/plugin" "$@" obj darknet >"$root/darknet-src/build.log" 2>&1 || {
  echo "build-darknet: building Darknet failed; the last lines of darknet-src/build.log:" >&2
  tail -15 "$root/darknet-src/build.log" >&2
  exit 1
}
ln -sf "$src/darknet" "$root/darknet"
echo "built ./darknet (from $src)"
