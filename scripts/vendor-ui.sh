#!/usr/bin/env bash
# Re-fetches the one third-party library of the admin web UI, uPlot (MIT, https://github.com/leeoniya/uPlot), from
# the npm registry with `npm pack`, checks the tarball against the sha256 pinned here, and copies its minified
# script, its stylesheet and its licence into crates/server/ui/vendor/ (committed; ui.rs compiles them into the
# binary, so nothing is fetched at run time and no page loads from a CDN).
#
#   scripts/vendor-ui.sh           # fetch, verify, copy (then `git diff --stat crates/server/ui/vendor` shows nothing
#                                  # unless the pinned version changed)
#   scripts/vendor-ui.sh --check   # only verify the committed copies against the pinned file hashes (no network)
#
# To move to another version: change VERSION and TARBALL_SHA256 (from `npm view uplot@X dist.integrity` or the
# fetched tarball), run it, update the FILES hashes it prints, and check the pages (scripts/ui-tests.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=1.6.32
TARBALL_SHA256=4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d
dest=crates/server/ui/vendor
# file in the package → committed name, and the committed file's sha256.
FILES=(
  "package/dist/uPlot.iife.min.js uPlot.iife.min.js 19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f"
  "package/dist/uPlot.min.css uPlot.min.css df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04"
  "package/LICENSE uPlot.LICENSE 8f989229699b4fe2f1a0432d0e9edc338a8a911e250e2d1b01ecd770a5f5b1bd"
)

check() {
  local bad=0 entry from name sum
  for entry in "${FILES[@]}"; do
    read -r from name sum <<<"$entry"
    if ! echo "$sum  $dest/$name" | sha256sum --quiet -c - 2>/dev/null; then
      echo "$dest/$name does not match its pinned sha256 $sum" >&2
      bad=1
    fi
  done
  return "$bad"
}

if [ "${1:-}" = --check ]; then
  check && echo "vendor files match the pinned hashes (uPlot $VERSION)"
  exit
fi

command -v npm >/dev/null || { echo "npm is needed to fetch uPlot" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "uplot@$VERSION" --silent >/dev/null)
tarball="$tmp/uplot-$VERSION.tgz"
echo "$TARBALL_SHA256  $tarball" | sha256sum --quiet -c - ||
  { echo "uplot-$VERSION.tgz from the registry is not the pinned one ($TARBALL_SHA256)" >&2; exit 1; }
tar -xzf "$tarball" -C "$tmp"
mkdir -p "$dest"
for entry in "${FILES[@]}"; do
  read -r from name _ <<<"$entry"
  cp "$tmp/$from" "$dest/$name"
  echo "$(sha256sum "$dest/$name" | cut -d' ' -f1)  $dest/$name"
done
check
echo "uPlot $VERSION vendored into $dest"
