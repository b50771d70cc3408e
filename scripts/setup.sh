#!/usr/bin/env bash
# Gantry's one set-up step (run by `npm test`, `npm run up`, `npm run bench` and .ci/run).
# Idempotent: a second run is a quick no-op; two runs at once serialise on locks in /tmp.
# On a fresh Debian machine with Node 20 it installs what is missing:
#   node modules   `npm ci` when node_modules is missing or package-lock.json is newer than it
#                  (runs in the background while the rest proceeds; log in /tmp)
#   packages       Debian's docker.io (dockerd), busybox-static, openssh-client, sshpass, kubernetes-client
#                  (kubectl) and chromium, in one apt transaction; Debian's kubectl 1.20 unpacked beside a newer one
#   docker         a running engine: scripts/docker-engine.sh
#   test image     gantry-test/gameserver:1: test/images/build.sh (skipped when up to date)
#   web panel      web/dist: scripts/build-web.sh (skipped when up to date), after node modules
#   dist/          the compiled JavaScript every process runs: scripts/build.sh (skipped when up to date)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=lib.sh
. "$ROOT/scripts/lib.sh"
T0=$(gantry_now)

# ---- node modules --------------------------------------------------------------------------
repo_key=$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)
NPM_LOG="$GANTRY_LOCK_DIR/gantry-npm-ci-$repo_key.log"
npm_needed() {
  [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] ||
    [ package-lock.json -nt node_modules/.package-lock.json ]
}
npm_pid=
if npm_needed; then
  gantry_log "node modules: npm ci (in the background, log $NPM_LOG)"
  (
    gantry_lock $GANTRY_FD_NPM "npm-$repo_key" 1800
    if npm_needed; then
      t=$(gantry_now)
      if ! npm ci --no-audit --no-fund --loglevel=error >"$NPM_LOG" 2>&1 </dev/null; then
        tail -n 40 "$NPM_LOG" >&2
        gantry_die "npm ci failed (log: $NPM_LOG)"
      fi
      gantry_log "node modules: npm ci done ($(gantry_elapsed "$t"))"
    else
      gantry_log "node modules: installed by a concurrent set-up"
    fi
  ) &
  npm_pid=$!
else
  gantry_log "node modules: up to date"
fi

# ---- Debian packages ------------------------------------------------------------------------
pkgs=()
if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
  # An engine may answer without a local dockerd binary (DOCKER_HOST): then nothing to install.
  timeout 20 docker info --format '{{.ServerVersion}}' >/dev/null 2>&1 || pkgs+=(docker.io)
fi
gantry_busybox_ok || pkgs+=(busybox-static)
# The SFTP tests drive the real OpenSSH client; sshpass feeds it a password in batch mode.
command -v sftp >/dev/null 2>&1 || pkgs+=(openssh-client)
command -v sshpass >/dev/null 2>&1 || pkgs+=(sshpass)
# The kubectl tests drive the real kubectl: Debian's kubernetes-client when none is installed.
command -v kubectl >/dev/null 2>&1 || pkgs+=(kubernetes-client)
# Server databases are tested against a real MariaDB the tests start themselves (loopback, temp datadir).
command -v mariadb-install-db >/dev/null 2>&1 || pkgs+=(mariadb-server)
# The web panel's browser tests drive Debian's chromium through playwright-core (no browser download).
command -v chromium >/dev/null 2>&1 || pkgs+=(chromium)
# ... and it draws text with whatever fonts exist: without any, screenshots show boxes (installed without recommends).
[ -n "$(find /usr/share/fonts -name '*.ttf' -print -quit 2>/dev/null)" ] || pkgs+=(fonts-dejavu-core)
# Cluster mode's shared database: the tests start their own PostgreSQL (initdb + pg_ctl in a temp dir).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || pkgs+=(postgresql)
if [ ${#pkgs[@]} -gt 0 ]; then
  t=$(gantry_now)
  gantry_log "packages: installing ${pkgs[*]}"
  gantry_apt_install "${pkgs[@]}"
  gantry_log "packages: installed ${pkgs[*]} ($(gantry_elapsed "$t"))"
else
  gantry_log "packages: docker.io, busybox-static, openssh-client, sshpass, kubectl, chromium and postgresql present"
fi

# ---- kubectl 1.20 beside the installed one ------------------------------------------------------
# The kubectl suites also run with Debian's 1.20 (it validates and explains from OpenAPI v2 in
# protobuf, newer ones from v3): unpacked, never installed, so the machine's kubectl stays.
KUBECTL_120="$GANTRY_LOCK_DIR/gantry-kubectl-1.20"
if ! kubectl version --client 2>/dev/null | grep -q 'v1\.20\.' && [ ! -x "$KUBECTL_120/usr/bin/kubectl" ]; then
  t=$(gantry_now)
  dl=$(mktemp -d)
  if ! (cd "$dl" && apt-get download kubernetes-client >>"$GANTRY_APT_LOG" 2>&1 </dev/null); then
    gantry_apt_update
    (cd "$dl" && apt-get download kubernetes-client >>"$GANTRY_APT_LOG" 2>&1 </dev/null) || gantry_die "apt-get download kubernetes-client failed (log: $GANTRY_APT_LOG)"
  fi
  dpkg -x "$dl"/kubernetes-client_*.deb "$dl/root" && mkdir -p "$KUBECTL_120" && cp -r "$dl/root/usr" "$KUBECTL_120/" && rm -rf "$dl"
  gantry_log "kubectl 1.20: unpacked in $KUBECTL_120 ($(gantry_elapsed "$t"))"
fi

# ---- Docker engine and the test image --------------------------------------------------------
bash "$ROOT/scripts/docker-engine.sh" ensure
bash "$ROOT/test/images/build.sh"

if [ -n "$npm_pid" ]; then
  wait "$npm_pid" || gantry_die "node modules could not be installed"
fi
bash "$ROOT/scripts/build-web.sh"

# ---- the build (needs node modules: tsc) --------------------------------------------------------
bash "$ROOT/scripts/build.sh" 2>&1
gantry_log "ready ($(gantry_elapsed "$T0"))"
