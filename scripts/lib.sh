# Shared helpers for Gantry's set-up scripts. Source it from bash: `. scripts/lib.sh`.
# Everything here is idempotent and safe when two set-ups run at the same time (flock).

# Fixed descriptor numbers for the locks, so a long-lived child (dockerd) can be started with
# all of them closed: an inherited flock descriptor would keep the lock held for ever.
GANTRY_FD_DOCKER=200
GANTRY_FD_APT=201
GANTRY_FD_IMAGE=202
GANTRY_FD_NPM=203
GANTRY_FD_BUILD=204
GANTRY_LOCK_DIR=${GANTRY_LOCK_DIR:-/tmp}

gantry_log() { printf '[setup] %s\n' "$*"; }
gantry_die() {
  printf '[setup] ERROR: %s\n' "$*" >&2
  exit 1
}

# Seconds (with tenths) since $1, where $1 came from gantry_now.
gantry_now() { date +%s%N; }
gantry_elapsed() {
  local ns=$(($(date +%s%N) - $1))
  printf '%d.%ds' $((ns / 1000000000)) $((ns / 100000000 % 10))
}

# gantry_lock FD NAME [TIMEOUT]: take an exclusive lock on $GANTRY_LOCK_DIR/gantry-NAME.lock on FD.
# The lock is released when the process exits (or with gantry_unlock FD).
gantry_lock() {
  local fd=$1 name=$2 timeout=${3:-900}
  local file="$GANTRY_LOCK_DIR/gantry-$name.lock"
  eval "exec $fd>>\"\$file\"" || gantry_die "cannot open lock file $file"
  if ! flock -w "$timeout" "$fd"; then
    gantry_die "timed out after ${timeout}s waiting for $file (another set-up still running?)"
  fi
}
gantry_unlock() { eval "exec $1>&-"; }

# Commands that need root: run them directly as root, through sudo otherwise.
gantry_sudo() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    gantry_die "need root for: $* (run as root or install sudo)"
  fi
}

# True when $1 is a statically linked executable (what a FROM-scratch image needs).
gantry_is_static() {
  [ -x "$1" ] || return 1
  local out
  out=$(LC_ALL=C ldd "$1" 2>&1) || true
  case $out in
    *"not a dynamic executable"* | *"statically linked"*) return 0 ;;
  esac
  return 1
}

gantry_busybox_ok() { gantry_is_static /bin/busybox; }

# gantry_apt_install PKG...: install Debian packages non-interactively.
# `apt-get update` runs only when a package has no install candidate or the first install fails
# (stale lists), and at most once per process. Services are never started by the package scripts.
GANTRY_APT_LOG=${GANTRY_APT_LOG:-/var/log/gantry-apt.log}
gantry_apt_updated=0
gantry_apt_update() {
  [ "$gantry_apt_updated" = 1 ] && return 0
  gantry_log "apt: apt-get update"
  gantry_sudo env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 update \
    >>"$GANTRY_APT_LOG" 2>&1 </dev/null || {
    tail -n 20 "$GANTRY_APT_LOG" >&2
    gantry_die "apt-get update failed (log: $GANTRY_APT_LOG)"
  }
  gantry_apt_updated=1
}
gantry_apt_install() {
  command -v apt-get >/dev/null 2>&1 || gantry_die "apt-get not found: install $* by hand"
  gantry_lock $GANTRY_FD_APT apt
  local pkg need_update=0 policy_created=0 rc=0
  for pkg in "$@"; do
    if ! LC_ALL=C apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [^(]'; then need_update=1; fi
  done
  [ "$need_update" = 1 ] && gantry_apt_update
  # No policy-rc.d yet: add one for the duration, so docker.io's postinst does not start a
  # dockerd of its own (with other flags) through the init script.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | gantry_sudo tee /usr/sbin/policy-rc.d >/dev/null
    gantry_sudo chmod 755 /usr/sbin/policy-rc.d
    policy_created=1
  fi
  local install=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends
    -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@")
  if ! gantry_sudo "${install[@]}" >>"$GANTRY_APT_LOG" 2>&1 </dev/null; then
    if [ "$gantry_apt_updated" = 0 ]; then
      gantry_apt_update
      gantry_sudo "${install[@]}" >>"$GANTRY_APT_LOG" 2>&1 </dev/null || rc=$?
    else
      rc=1
    fi
  fi
  [ "$policy_created" = 1 ] && gantry_sudo rm -f /usr/sbin/policy-rc.d
  gantry_unlock $GANTRY_FD_APT
  if [ "$rc" != 0 ]; then
    tail -n 20 "$GANTRY_APT_LOG" >&2
    gantry_die "apt-get install $* failed (log: $GANTRY_APT_LOG)"
  fi
}

# Installs busybox-static when /bin/busybox is missing or dynamically linked.
gantry_ensure_busybox() {
  gantry_busybox_ok && return 0
  gantry_apt_install busybox-static
  gantry_busybox_ok || gantry_die "/bin/busybox is still not a static binary after installing busybox-static"
}
