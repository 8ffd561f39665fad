#!/bin/sh
# make deb: darknet-explain_<version>_<arch>.deb in OUT (default the project's root), with Debian's own tools and
# no debian/ folder in the tree. The tree is built in BUILD with dpkg-buildflags' flags (Debian's
# hardening), installed by `make install` into BUILD/deb/debian/darknet-explain (debhelper's
# layout, so that dpkg-shlibdeps reads it as a package's files), stripped and compressed as
# debhelper does, its Depends computed by dpkg-shlibdeps plus Darknet (whose libdarknet.so has no
# soname and no shlibs file, so that dpkg-shlibdeps cannot see it), its control file filled in
# from tools/deb/control.in, and packed by dpkg-deb.
# tools/deb/changelog is the package's history: its last entry must carry explain.h's version,
# and its date and maintainer are the package's (SOURCE_DATE_EPOCH: the same tree gives the same
# bytes).
# usage (from the project's root): MAKE=make tools/deb/build.sh BUILD VERSION [OUT]
set -eu
build=$1
version=$2
out=${3:-.}
deb=tools/deb
package=darknet-explain
die() {
    echo "make deb: $*" >&2
    exit 1
}
for tool in dpkg-deb dpkg-shlibdeps dpkg-buildflags dpkg-parsechangelog dpkg-architecture; do
    command -v $tool >/dev/null || die "needs $tool (apt install dpkg-dev)"
done

changelog_version=$(dpkg-parsechangelog -l $deb/changelog -S Version)
[ "$changelog_version" = "$version" ] ||
    die "$deb/changelog's last entry is $changelog_version but plugin/explain.h's DX_VERSION is $version"
SOURCE_DATE_EPOCH=$(dpkg-parsechangelog -l $deb/changelog -S Timestamp)
export SOURCE_DATE_EPOCH
maintainer=$(dpkg-parsechangelog -l $deb/changelog -S Maintainer)
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
darknet=$(dpkg-query -W -f '${Version}' darknet 2>/dev/null) || die "needs Debian's darknet package (make deps)"
stb=$(dpkg-query -W -f '${source:Package} (= ${source:Version})' libstb-dev 2>/dev/null) ||
    die "needs libstb-dev (make deps)"

work=$build/deb
root=$work/debian/$package
[ -d "$out" ] || die "$out: no such folder"
deb_file=$out/${package}_${version}_$arch.deb
rm -rf "$work" "$deb_file"
trap 'rm -f "$deb_file"' EXIT # a failed build leaves no package behind

DEB_BUILD_MAINT_OPTIONS=hardening=+all # bookworm's default lacks only bindnow
export DEB_BUILD_MAINT_OPTIONS
CFLAGS=$(dpkg-buildflags --get CFLAGS)
CPPFLAGS=$(dpkg-buildflags --get CPPFLAGS)
LDFLAGS=$(dpkg-buildflags --get LDFLAGS)
export CFLAGS CPPFLAGS LDFLAGS
# make cannot see a change of flags: a build made with other flags starts over
flags="$CFLAGS $CPPFLAGS $LDFLAGS"
[ "$(cat "$build/flags" 2>/dev/null)" = "$flags" ] || rm -rf "$build"
mkdir -p "$root/DEBIAN"
echo "$flags" >"$build/flags"
${MAKE:-make} BUILD="$build" SANITIZE=0 install DESTDIR="$(pwd)/$root" PREFIX=/usr LIBDIR=/usr/lib/$multiarch

# debhelper's dh_strip, dh_compress, dh_installdocs, dh_installchangelogs, dh_lintian, dh_makeshlibs,
# dh_md5sums
lib=$root/usr/lib/$multiarch
strip --remove-section=.comment --remove-section=.note "$root/usr/bin/$package"
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$lib/lib$package.so.$version"
strip --strip-debug --remove-section=.comment --remove-section=.note --enable-deterministic-archives \
    "$lib/lib$package.a"
doc=$root/usr/share/doc/$package
gzip -9n "$root/usr/share/man/man1/$package.1" "$doc/README.md"
gzip -9n <$deb/changelog >"$doc/changelog.gz"
install -m 644 $deb/copyright "$doc/copyright"
install -D -m 644 $deb/lintian-overrides "$root/usr/share/lintian/overrides/$package"
echo "lib$package ${version%%.*} $package (>= $version)" >"$root/DEBIAN/shlibs"
echo "activate-noawait ldconfig" >"$root/DEBIAN/triggers"
(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) \
    >"$root/DEBIAN/md5sums"

# Depends: what the binaries link (dpkg-shlibdeps), and Darknet of the upstream snapshot built
# against: the plugin reads Darknet's structs through the darknet.h it was compiled with.
# Recommends (control.in): oneDNN, loaded at run time for the convolutions (without it they run
# Darknet's own forward, slower).
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' $package $package >"$work/debian/control"
shlibs=$(cd "$work" && dpkg-shlibdeps -O "debian/$package/usr/bin/$package" \
    "debian/$package/usr/lib/$multiarch/lib$package.so.$version" | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || die "dpkg-shlibdeps found no dependencies"
upstream=${darknet%-*}
depends="$shlibs, darknet (>= $upstream), darknet (<< $upstream+)"

find "$root" -path "$root/DEBIAN" -prune -o -type d -exec chmod 755 {} +
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$maintainer|" \
    -e "s|@SIZE@|$size|" -e "s|@DEPENDS@|$depends|" -e "s|@BUILT_USING@|$stb|" \
    $deb/control.in >"$root/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb_file"
trap - EXIT
