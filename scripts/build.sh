#!/usr/bin/env bash
# Compiles the TypeScript sources into dist/ (tsc -p tsconfig.build.json, incremental) when dist is
# missing or older than any source; a quick no-op otherwise. Run by scripts/setup.sh, bin/gantry and
# vitest's global set-up, so every process Gantry, its tests and benches spawn runs current JavaScript.
# Two builds at once serialise on a lock in /tmp; the second finds dist fresh and does nothing.
#   --quiet   print nothing when dist is up to date
# Log lines go to stderr: bin/gantry's stdout belongs to the command.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=lib.sh
. "$ROOT/scripts/lib.sh"
QUIET=0
[ "${1:-}" = --quiet ] && QUIET=1

# What tsconfig.build.json compiles (keep the two lists together).
SOURCE_DIRS=(lib crds controller agent api bin bench test)
STAMP=dist/.build-stamp
log() { printf '[build] %s\n' "$*" >&2; }

# Stale when the stamp is missing or a source file or directory changed after it. ctime, not mtime:
# a renamed file keeps its mtime, and a deletion changes only its directory.
stale() {
  [ -f "$STAMP" ] && [ -f dist/bin/cli.js ] || return 0
  [ tsconfig.build.json -nt "$STAMP" ] || [ tsconfig.json -nt "$STAMP" ] && return 0
  [ -n "$(find "${SOURCE_DIRS[@]}" -path test/images -prune -o \( -type d -o -name '*.ts' \) -cnewer "$STAMP" -print -quit)" ]
}

if ! stale; then
  [ "$QUIET" = 1 ] || log "dist up to date"
  exit 0
fi

repo_key=$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)
gantry_lock $GANTRY_FD_BUILD "build-$repo_key" 600
if ! stale; then
  [ "$QUIET" = 1 ] || log "dist built by a concurrent build"
  exit 0
fi
[ -x node_modules/.bin/tsc ] || gantry_die "node_modules/.bin/tsc is missing: run bash scripts/setup.sh (npm ci) first"

# Every source file's output (sources without one mean the incremental state lies: rebuild all).
outputs_missing() {
  local f
  while IFS= read -r f; do
    [ -f "dist/${f%.ts}.js" ] || return 0
  done < <(find "${SOURCE_DIRS[@]}" -path test/images -prune -o -name '*.ts' ! -name '*.test.ts' ! -name '*.d.ts' -print)
  return 1
}

t=$(gantry_now)
mkdir -p dist
# The stamp takes the time the build started: a source saved during the build makes the next run build again.
touch "$STAMP.new"
tsc() {
  local out
  if ! out=$(node_modules/.bin/tsc -p tsconfig.build.json 2>&1); then
    printf '%s\n' "$out" >&2
    rm -f "$STAMP.new"
    gantry_die "tsc -p tsconfig.build.json failed (fix the errors above; dist/ is not up to date)"
  fi
}
tsc
if outputs_missing; then
  rm -f dist/.tsbuildinfo
  tsc
fi
# Outputs whose source is gone (renamed, deleted) would otherwise linger and could still be imported.
while IFS= read -r js; do
  src=${js#dist/}
  [ -f "${src%.js}.ts" ] || rm -f "$js" "$js.map"
done < <(find dist -name '*.js' -print)
mv "$STAMP.new" "$STAMP"
log "compiled into dist/ ($(gantry_elapsed "$t"))"
