#!/bin/sh
# Gantry's test "game server" (busybox sh): the default command of gantry-test/gameserver:1.
# The contract is in test/images/README.md; keep the two in step.

VERSION=1
PORT=${SERVER_PORT:-25565}
MOTD=${MOTD:-A Gantry test server}
DATA=${DATA_DIR:-/data}
WWW=/tmp/www

httpd_pid=
burn_pids=
idle_pid=
delay_pid=

mkdir -p "$DATA" "$WWW" 2>/dev/null

cleanup() {
  # shellcheck disable=SC2086
  kill $httpd_pid $burn_pids $idle_pid $delay_pid 2>/dev/null
}

on_signal() {
  echo "[signal] $1 received, exiting"
  echo "$1" >"$DATA/signalled" 2>/dev/null
  cleanup
  exit 0
}
# A trapped signal interrupts a blocking `read` or `wait` at once (busybox ash), so the server
# exits promptly on SIGTERM even as PID 1 with a console attached.
trap 'on_signal TERM' TERM
trap 'on_signal INT' INT

listening() {
  hex=$(printf '%04X' "$1")
  grep -qE "^ *[0-9]+: [0-9A-F]+:$hex [0-9A-F]+:0000 0A" /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

sleep_interruptibly() {
  sleep "$1" &
  delay_pid=$!
  wait "$delay_pid"
  delay_pid=
}

# ---- boot ----------------------------------------------------------------------------------------
echo "[boot] gantry test server v$VERSION"
echo "[boot] port=$PORT motd=$MOTD"
echo "[boot] args=$*"
if [ -e "$DATA/installed" ]; then echo "[boot] installed=yes"; else echo "[boot] installed=no"; fi

if [ -n "${BOOT_DELAY:-}" ] && [ "$BOOT_DELAY" != 0 ]; then
  echo "[boot] waiting ${BOOT_DELAY}s"
  sleep_interruptibly "$BOOT_DELAY"
fi

if [ -n "${BOOT_EXIT_CODE:-}" ]; then
  echo "[boot] BOOT_EXIT_CODE=$BOOT_EXIT_CODE: exiting before ready" >&2
  exit "$BOOT_EXIT_CODE"
fi

if [ "$PORT" != none ] && [ "$PORT" != 0 ]; then
  printf 'gantry test server v%s\nmotd=%s\n' "$VERSION" "$MOTD" >"$WWW/index.html"
  httpd -f -p "$PORT" -h "$WWW" </dev/null &
  httpd_pid=$!
  i=0
  until listening "$PORT"; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$httpd_pid" 2>/dev/null; then
      echo "[boot] WARNING: TCP responder is not listening on port $PORT" >&2
      break
    fi
    sleep 0.05
  done
  echo "[boot] listening on tcp/$PORT"
fi

echo "Done! server ready"

# ---- console -------------------------------------------------------------------------------------
help() {
  echo "[help] commands: say TEXT | stop | crash | exit N | burn [N] | unburn | oom | spam N | help"
}

memory_limit() {
  v=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max 2>/dev/null)
  case $v in '' | max) echo 0 ;; *) echo "$v" ;; esac
}

handle() {
  cmd=${1%% *}
  case $1 in *' '*) arg=${1#* } ;; *) arg= ;; esac
  case $cmd in
    '') ;;
    say) printf '[say] %s\n' "$arg" ;;
    stop)
      echo "[stop] saving and stopping"
      date >"$DATA/saved"
      cleanup
      exit 0
      ;;
    crash)
      echo "[crash] simulated crash, exit code 3" >&2
      cleanup
      exit 3
      ;;
    exit)
      case $arg in
        '' | *[!0-9]*) echo "[exit] usage: exit N (0-255)" >&2 ;;
        *)
          echo "[exit] exiting with code $arg"
          cleanup
          exit "$arg"
          ;;
      esac
      ;;
    burn)
      n=${arg:-1}
      case $n in '' | *[!0-9]*) n=1 ;; esac
      i=0
      while [ $i -lt "$n" ]; do
        (while :; do :; done) &
        burn_pids="$burn_pids $!"
        i=$((i + 1))
      done
      echo "[burn] started $n busy loop(s)"
      ;;
    unburn)
      # shellcheck disable=SC2086
      [ -n "$burn_pids" ] && kill $burn_pids 2>/dev/null
      burn_pids=
      echo "[burn] stopped"
      ;;
    oom)
      limit=$(memory_limit)
      if [ "$limit" = 0 ] || [ "$limit" -gt 2147483648 ]; then
        echo "[oom] refusing: no memory limit of 2 GiB or less (limit=$limit)" >&2
      else
        echo "[oom] allocating memory until killed (limit=$limit)"
        x=$(head -c 1048576 /dev/zero | tr '\0' x)
        while :; do x="$x$x"; done
      fi
      ;;
    spam)
      n=${arg:-100}
      case $n in '' | *[!0-9]*) n=100 ;; esac
      i=1
      while [ $i -le "$n" ]; do
        echo "[spam] line $i of $n"
        i=$((i + 1))
      done
      ;;
    help) help ;;
    *) echo "[console] unknown command: $cmd" ;;
  esac
}

cr=$(printf '\r')
while IFS= read -r line || [ -n "$line" ]; do
  line=${line%"$cr"}
  echo "> $line"
  printf '%s\n' "$line" >>"$DATA/console.log" 2>/dev/null
  handle "$line"
  line=
done

# stdin closed (no console attached, or it went away): keep serving until signalled.
echo "[console] stdin closed, running until stopped"
while :; do
  sleep 86400 &
  idle_pid=$!
  wait "$idle_pid"
done
