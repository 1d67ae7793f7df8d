#!/usr/bin/env bash
# Starts and stops a throw-away VictoriaMetrics 1.79 that accepts remote write
# (at /api/v1/write), for the real-receiver tests. Loopback only; everything
# under DIR.
#
#   scripts/victoria.sh start DIR   # prints http://127.0.0.1:PORT once /health answers
#   scripts/victoria.sh stop DIR    # kills the PID in DIR/pid and waits for it to exit
#   VICTORIA_PORT=NNNN scripts/victoria.sh start DIR
#                                   # listens on that port (no retry with another
#                                   # port): stop and start again with the same
#                                   # DIR and port to restart a receiver in place
#
# DIR is a directory the caller made (mktemp -d). start writes DIR/data/,
# DIR/server.log, DIR/pid, DIR/port and DIR/url. It fails (exit 1, with the
# tail of the log) when the server does not become ready within
# VICTORIA_START_TIMEOUT seconds (default 60). Retention is 100 years (VM drops
# samples outside it silently); queries see the newest samples at once
# (-search.latencyOffset=0s, no cache). Call /internal/force_flush before
# reading back with /api/v1/export.
set -euo pipefail

BIN=${VICTORIA_BIN:-/usr/bin/victoria-metrics}
TIMEOUT=${VICTORIA_START_TIMEOUT:-60}
FIXED_PORT=${VICTORIA_PORT:-}

die() { echo "victoria.sh: $*" >&2; exit 1; }

# Prints a TCP port that is free on 127.0.0.1 right now. Another process may
# take it before the server binds it; start() retries with a new port then.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# True when nothing listens on 127.0.0.1:$1 (SO_REUSEADDR: connections left in
# TIME_WAIT by a server stopped a moment ago do not count).
port_is_free() {
  python3 -c 'import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try: s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError: sys.exit(1)' "$1"
}

# True while PID is a live (not zombie) process running BIN; guards against
# killing an unrelated process that reused a stale PID.
is_ours() {
  local pid=$1 state
  [ -r "/proc/$pid/stat" ] || return 1
  state=$(sed -E 's/^[0-9]+ \(.*\) (.).*/\1/' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ "$state" != Z ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$(basename "$BIN")"
}

show_log() {
  echo "---- last lines of $1 ----" >&2
  tail -n 25 "$1" >&2 || true
  echo "----" >&2
}

start() {
  local dir=$1
  [ -d "$dir" ] || die "start: '$dir' is not a directory (make it first, e.g. with mktemp -d)"
  [ -x "$BIN" ] || die "start: $BIN not found (run scripts/deps.sh)"
  if [ -s "$dir/pid" ] && is_ours "$(cat "$dir/pid")"; then
    die "start: a server from '$dir' is already running (pid $(cat "$dir/pid")); stop it first"
  fi
  if [ -n "$FIXED_PORT" ]; then
    [[ "$FIXED_PORT" =~ ^[0-9]+$ ]] && [ "$FIXED_PORT" -ge 1 ] && [ "$FIXED_PORT" -le 65535 ] ||
      die "start: VICTORIA_PORT='$FIXED_PORT' is not a port number"
    # Else /health could be answered by whatever holds the port.
    port_is_free "$FIXED_PORT" || die "start: VICTORIA_PORT=$FIXED_PORT: 127.0.0.1:$FIXED_PORT is in use"
  fi
  dir=$(cd "$dir" && pwd)
  mkdir -p "$dir/data"
  local log="$dir/server.log" attempt port pid deadline attempts=3
  [ -z "$FIXED_PORT" ] || attempts=1
  for attempt in $(seq 1 "$attempts"); do
    if [ -n "$FIXED_PORT" ]; then port=$FIXED_PORT; else port=$(free_port); fi
    # setsid: the server outlives this script and ignores the caller's terminal
    # signals; its stdio goes to the log so a caller capturing our stdout is
    # not kept waiting for the server's copy of the pipe.
    setsid "$BIN" \
      -httpListenAddr="127.0.0.1:$port" \
      -storageDataPath="$dir/data" \
      -retentionPeriod=100y \
      -search.latencyOffset=0s \
      -search.disableCache \
      < /dev/null > "$log" 2>&1 &
    pid=$!
    echo "$pid" > "$dir/pid"
    echo "$port" > "$dir/port"
    deadline=$((SECONDS + TIMEOUT))
    while :; do
      if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/health" 2>/dev/null; then
        echo "http://127.0.0.1:$port" > "$dir/url"
        echo "http://127.0.0.1:$port"
        return 0
      fi
      if ! is_ours "$pid"; then
        wait "$pid" 2>/dev/null || true
        if grep -q 'address already in use' "$log" && [ "$attempt" -lt "$attempts" ]; then
          continue 2      # lost the port race: try another port
        fi
        rm -f "$dir/pid"
        show_log "$log"
        die "start: victoria-metrics exited before becoming ready (log: $log)"
      fi
      if [ "$SECONDS" -ge "$deadline" ]; then
        show_log "$log"
        stop "$dir" || true
        die "start: victoria-metrics not ready on 127.0.0.1:$port after ${TIMEOUT}s (log: $log)"
      fi
      sleep 0.2
    done
  done
  die "start: no free port after 3 attempts"
}

stop() {
  local dir=$1 pid
  [ -s "$dir/pid" ] || { echo "victoria.sh: stop: no pid file in '$dir', nothing to stop" >&2; return 0; }
  pid=$(cat "$dir/pid")
  if is_ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do           # up to 30 s for a clean storage shutdown
      is_ours "$pid" || break
      sleep 0.2
    done
    if is_ours "$pid"; then
      echo "victoria.sh: stop: pid $pid still running after 30s, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do is_ours "$pid" || break; sleep 0.1; done
    fi
  fi
  rm -f "$dir/pid"
}

case "${1:-}" in
  start) [ $# -eq 2 ] || die "usage: $0 start DIR"; start "$2" ;;
  stop)  [ $# -eq 2 ] || die "usage: $0 stop DIR";  stop "$2" ;;
  *) die "usage: $0 start DIR | stop DIR" ;;
esac
