#!/bin/sh
# Renders an evaluation report (report.html of `darknet-explain eval`) with headless Chromium
# (Debian's `chromium` package, not part of `make deps`) and writes a PNG screenshot.
#   tools/report-screenshot.sh DIR/report.html [OUT.png] [WIDTHxHEIGHT]
# The page is static: Chromium runs with networking in the background switched off, and the
# page refers only to files beside it.
set -eu
report=${1:?usage: tools/report-screenshot.sh DIR/report.html [OUT.png] [WIDTHxHEIGHT]}
out=${2:-${report%.html}.png}
size=${3:-1280x1600}
[ -f "$report" ] || { echo "report-screenshot: $report: no such file" >&2; exit 1; }
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "report-screenshot: chromium is not installed (apt-get install chromium)" >&2; exit 1; }
abs_report=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")
case $out in /*) abs_out=$out ;; *) abs_out=$(pwd)/$out ;; esac
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
rm -f "$abs_out"
"$browser" --headless --no-sandbox --disable-gpu --disable-background-networking --no-first-run \
  --user-data-dir="$profile" --hide-scrollbars --window-size="$(echo "$size" | tr x ,)" \
  --screenshot="$abs_out" "file://$abs_report" >/dev/null 2>&1 || true
[ -s "$abs_out" ] || { echo "report-screenshot: chromium wrote no screenshot of $report" >&2; exit 1; }
echo "wrote $out"
