#!/usr/bin/env bash
# Builds the web panel (web/ → web/dist, Vite) when web/dist is missing or older than its sources.
# Called by scripts/setup.sh (so `npm run up`, `npm test` and `npm run bench` build it), or by hand.
# "Older" is by content: web/dist/.source-hash holds the sha256 of every file under web/ (but dist),
# package-lock.json and this script; a build whose hash matches is skipped. The new build is written
# beside the old one and swapped in with a rename, so a running `gantry up` never serves half a build.
# `--force` rebuilds anyway.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=lib.sh
. "$ROOT/scripts/lib.sh"
GANTRY_FD_WEB=204
FORCE=0
[ "${1:-}" = --force ] && FORCE=1
t0=$(gantry_now)

source_hash() {
  {
    echo "gantry-web/1"
    find web -path web/dist -prune -o -path 'web/dist.*' -prune -o -type f -print | LC_ALL=C sort | xargs -r sha256sum
    sha256sum package-lock.json "${BASH_SOURCE[0]}"
  } | sha256sum | cut -c1-32
}
up_to_date() { [ -f web/dist/index.html ] && [ "$(cat web/dist/.source-hash 2>/dev/null)" = "$1" ]; }

hash=$(source_hash)
if [ "$FORCE" = 0 ] && up_to_date "$hash"; then
  gantry_log "web panel: web/dist up to date (hash ${hash:0:12})"
  exit 0
fi
repo_key=$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)
gantry_lock $GANTRY_FD_WEB "web-$repo_key" 600
if [ "$FORCE" = 0 ] && up_to_date "$hash"; then
  gantry_log "web panel: built by a concurrent set-up"
  exit 0
fi
[ -x node_modules/.bin/vite ] || gantry_die "web panel: node_modules/.bin/vite missing (run: npm ci)"
out="web/dist.new.$$"
old="web/dist.old.$$"
trap 'rm -rf "$out" "$old"' EXIT
log="$GANTRY_LOCK_DIR/gantry-web-build-$repo_key.log"
if ! node_modules/.bin/vite build web --outDir "$ROOT/$out" --emptyOutDir --logLevel warn >"$log" 2>&1 </dev/null; then
  tail -n 40 "$log" >&2
  gantry_die "web panel: vite build failed (log: $log)"
fi
printf '%s\n' "$hash" >"$out/.source-hash"
[ -e web/dist ] && mv web/dist "$old"
mv "$out" web/dist
gantry_log "web panel: built web/dist ($(du -sk web/dist | cut -f1) KiB, $(gantry_elapsed "$t0"))"
