#!/usr/bin/env bash
# Makes sure a Docker engine answers on the default socket.
#
#   bash scripts/docker-engine.sh [ensure]   engine answers, or install Debian's docker.io and start dockerd
#   bash scripts/docker-engine.sh status     print whether it answers (exit 1 when it does not)
#   bash scripts/docker-engine.sh stop       stop a dockerd started from its pid file (to test set-up from cold)
#
# dockerd runs detached (setsid + nohup) with the vfs storage driver and logs to
# /var/log/gantry-dockerd.log. Networking: when `iptables` works it is used as is (nft or legacy,
# whichever the alternative points at); when only `iptables-legacy` works, dockerd gets a PATH where
# `iptables` is the legacy one; when neither works, --iptables=false --ip-masq=false (port publishing
# still works through docker-proxy). If dockerd still dies at start, it is retried without iptables,
# then without the default bridge (--bridge=none: only host networking).
#
# Environment: GANTRY_DOCKERD_TIMEOUT (seconds to wait for an answer, default 90),
# GANTRY_DOCKERD_LOG, GANTRY_DOCKERD_FLAGS (extra flags, word-split),
# GANTRY_DOCKERD_IPTABLES=auto|default|legacy|none (force the iptables choice; default auto).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

LOG=${GANTRY_DOCKERD_LOG:-/var/log/gantry-dockerd.log}
TIMEOUT=${GANTRY_DOCKERD_TIMEOUT:-90}
PIDFILE=/var/run/docker.pid
SHIM_DIR=/run/gantry/iptables-legacy

server_version() { timeout 20 docker info --format '{{.ServerVersion}}' 2>/dev/null; }
engine_ok() {
  local v
  v=$(server_version) && [ -n "$v" ] && [ "$v" != "<no value>" ]
}
engine_summary() {
  timeout 20 docker info --format \
    'engine {{.ServerVersion}} ({{.Driver}}, cgroup v{{.CgroupVersion}})' 2>/dev/null || echo engine
}

running_dockerd_pid() {
  local pid
  [ -r "$PIDFILE" ] || return 1
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = dockerd ] || return 1
  echo "$pid"
}

# default | legacy | none
iptables_mode() {
  if command -v iptables >/dev/null 2>&1 &&
    iptables -w -t filter -L -n >/dev/null 2>&1 && iptables -w -t nat -L -n >/dev/null 2>&1; then
    echo default
  elif command -v iptables-legacy >/dev/null 2>&1 &&
    iptables-legacy -w -t filter -L -n >/dev/null 2>&1 && iptables-legacy -w -t nat -L -n >/dev/null 2>&1; then
    echo legacy
  else
    echo none
  fi
}

iptables_variant() {
  local v
  v=$(iptables --version 2>/dev/null) || { echo unknown; return; }
  case $v in *nf_tables*) echo nft ;; *legacy*) echo legacy ;; *) echo "$v" ;; esac
}

make_legacy_shim() {
  gantry_sudo mkdir -p "$SHIM_DIR"
  local t
  for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    if command -v "$t-legacy" >/dev/null 2>&1; then
      gantry_sudo ln -sf "$(command -v "$t-legacy")" "$SHIM_DIR/$t"
    fi
  done
}

# cgroups must be mounted for runc; a bare machine may have none (what Debian's cgroupfs-mount does).
ensure_cgroups() {
  if awk '$3 == "cgroup" || $3 == "cgroup2" { found = 1 } END { exit !found }' /proc/mounts; then return 0; fi
  gantry_log "docker: no cgroup file system mounted, mounting cgroup2 on /sys/fs/cgroup"
  gantry_sudo mkdir -p /sys/fs/cgroup
  gantry_sudo mount -t cgroup2 none /sys/fs/cgroup || gantry_die "cannot mount cgroups: dockerd cannot run here"
}

DOCKERD_PID=
start_dockerd() {
  # Keep the log bounded across many starts.
  if [ -f "$LOG" ] && [ "$(stat -c %s "$LOG")" -gt 20000000 ]; then mv -f "$LOG" "$LOG.1"; fi
  printf '==== %s gantry: dockerd %s\n' "$(date -Iseconds)" "$*" | gantry_sudo tee -a "$LOG" >/dev/null
  local path=$PATH
  case " $* " in *" --iptables=false "*) ;; *) [ "$net_mode" = legacy ] && path="$SHIM_DIR:$PATH" ;; esac
  # Not a process-group leader (no job control in a script), so setsid does not fork and $! is dockerd.
  # Lock descriptors are closed: dockerd must not hold the set-up locks.
  PATH=$path setsid nohup dockerd "$@" >>"$LOG" 2>&1 </dev/null 200>&- 201>&- 202>&- 203>&- &
  DOCKERD_PID=$!
}

# Waits until the engine answers (0), dockerd died (1) or the time is up (2).
wait_engine() {
  local deadline=$((SECONDS + TIMEOUT))
  while [ $SECONDS -lt $deadline ]; do
    if engine_ok; then return 0; fi
    if [ -n "$DOCKERD_PID" ] && ! kill -0 "$DOCKERD_PID" 2>/dev/null; then return 1; fi
    sleep 0.3
  done
  return 2
}

# The log lines of the latest start (after the last "==== ... gantry: dockerd" marker).
last_start_log() {
  awk '/^==== .* gantry: dockerd/ { n = 0 } { buf[n++] = $0 } END { for (i = 0; i < n; i++) print buf[i] }' "$LOG" 2>/dev/null |
    tail -n "${1:-30}"
}

fail_with_log() {
  echo "---- $LOG (latest start)" >&2
  last_start_log 30 >&2 || true
  gantry_die "$1"
}

cmd_ensure() {
  local t0
  t0=$(gantry_now)
  if engine_ok; then
    gantry_log "docker: $(engine_summary) running"
    return 0
  fi
  gantry_lock $GANTRY_FD_DOCKER docker $((TIMEOUT + 900))
  if engine_ok; then # another set-up started it while we waited for the lock
    gantry_log "docker: $(engine_summary) running"
    return 0
  fi

  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    gantry_log "docker: installing Debian's docker.io"
    gantry_apt_install docker.io
  fi
  [ "$(id -u)" = 0 ] || gantry_die "no Docker engine answers and starting dockerd needs root: run this as root"
  ensure_cgroups

  local pid
  if pid=$(running_dockerd_pid); then
    gantry_log "docker: dockerd (pid $pid) is running but not answering yet, waiting"
    DOCKERD_PID=$pid
    if wait_engine; then
      gantry_log "docker: $(engine_summary) running ($(gantry_elapsed "$t0"))"
      return 0
    fi
    fail_with_log "dockerd (pid $pid) does not answer; stop it (bash scripts/docker-engine.sh stop) and retry"
  fi

  net_mode=${GANTRY_DOCKERD_IPTABLES:-auto}
  case $net_mode in
    auto) net_mode=$(iptables_mode) ;;
    default | legacy | none) ;;
    *) gantry_die "GANTRY_DOCKERD_IPTABLES must be auto, default, legacy or none (not $net_mode)" ;;
  esac
  [ "$net_mode" = legacy ] && make_legacy_shim
  local base=(--storage-driver=vfs)
  # shellcheck disable=SC2206
  [ -n "${GANTRY_DOCKERD_FLAGS:-}" ] && base+=(${GANTRY_DOCKERD_FLAGS})
  local noipt=(--iptables=false --ip-masq=false)
  local attempts=() labels=()
  case $net_mode in
    default)
      attempts+=("")
      labels+=("bridge, iptables ($(iptables_variant))")
      ;;
    legacy)
      attempts+=("")
      labels+=("bridge, iptables (legacy through $SHIM_DIR)")
      ;;
  esac
  attempts+=("${noipt[*]}") && labels+=("bridge, no iptables (docker-proxy publishes ports)")
  attempts+=("${noipt[*]} --bridge=none") && labels+=("no bridge: host networking only")

  local i rc
  for i in "${!attempts[@]}"; do
    # shellcheck disable=SC2206
    local flags=("${base[@]}" ${attempts[$i]})
    start_dockerd "${flags[@]}"
    rc=0
    wait_engine || rc=$?
    if [ "$rc" = 0 ]; then
      gantry_log "docker: started $(engine_summary), ${labels[$i]}, pid $DOCKERD_PID, log $LOG ($(gantry_elapsed "$t0"))"
      return 0
    fi
    if [ "$rc" = 2 ]; then
      fail_with_log "dockerd (pid $DOCKERD_PID) did not answer within ${TIMEOUT}s"
    fi
    gantry_log "docker: dockerd exited at start with: ${flags[*]}"
    last_start_log 6 | sed 's/^/    | /' || true
    [ "$i" -lt $((${#attempts[@]} - 1)) ] && gantry_log "docker: trying a fallback: ${labels[$((i + 1))]}"
  done
  fail_with_log "dockerd does not start on this machine"
}

cmd_stop() {
  local pid i
  if ! pid=$(running_dockerd_pid); then
    gantry_log "docker: no dockerd running (from $PIDFILE)"
    return 0
  fi
  gantry_sudo kill -TERM "$pid"
  for i in $(seq 1 150); do
    [ -d "/proc/$pid" ] || { gantry_log "docker: dockerd (pid $pid) stopped"; return 0; }
    sleep 0.2
  done
  gantry_die "dockerd (pid $pid) still running after 30s"
}

cmd_status() {
  if engine_ok; then
    echo "docker: $(engine_summary) running"
  else
    echo "docker: engine not answering"
    return 1
  fi
}

case ${1:-ensure} in
  ensure) cmd_ensure ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 [ensure|status|stop]" >&2
    exit 2
    ;;
esac
