# Sourced by the fork build scripts (tools/build-alexeyab.sh, tools/build-hankai.sh):
#   apply_patches ME PATCH_DIR TREE SRC
# applies each PATCH_DIR/*.patch (a folder of the project's patches/) to the copy TREE of SRC with
# `patch -p1`, skipping one already applied; a patch that does not apply ends the script with
# exit 1 and its hunks named ("ME: patches/X/Y.patch does not apply to SRC:").
apply_patches() {
  local me=$1 dir=$2 tree=$3 src=$4 patch out_text
  for patch in "$dir"/*.patch; do
    patch -d "$tree" -p1 -R --dry-run -s -f < "$patch" >/dev/null 2>&1 && continue # applied
    if ! out_text=$(patch -d "$tree" -p1 -f < "$patch" 2>&1); then
      echo "$me: patches/$(basename "$dir")/$(basename "$patch") does not apply to $src:" >&2
      echo "$out_text" | grep -iE 'hunk|can.t find|reject' >&2 || echo "$out_text" >&2
      exit 1
    fi
  done
}
