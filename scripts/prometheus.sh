#!/usr/bin/env bash
# Starts and stops a throw-away Prometheus 2.42 that accepts remote write, for
# the demo and the real-receiver tests. Loopback only; everything under DIR.
#
#   scripts/prometheus.sh start DIR   # prints http://127.0.0.1:PORT once /-/ready answers
#   scripts/prometheus.sh start DIR --native-histograms
#                                     # the same, with --enable-feature=native-histograms,exemplar-storage
#                                     # (native histograms and exemplars over remote write)
#   scripts/prometheus.sh stop DIR    # kills the PID in DIR/pid and waits for it to exit
#
# DIR is a directory the caller made (mktemp -d). start writes DIR/prometheus.yml,
# DIR/data/, DIR/server.log, DIR/pid, DIR/port and DIR/url. It fails (exit 1,
# with the tail of the log) when the server does not become ready within
# PROMETHEUS_START_TIMEOUT seconds (default 60). The config carries no scrape
# targets and allows out-of-order samples up to 30 days old, so exports of
# recent history in any order are accepted.
set -euo pipefail

BIN=${PROMETHEUS_BIN:-/usr/bin/prometheus}
TIMEOUT=${PROMETHEUS_START_TIMEOUT:-60}

die() { echo "prometheus.sh: $*" >&2; exit 1; }

# Prints a TCP port that is free on 127.0.0.1 right now. Another process may
# take it before the server binds it; start() retries with a new port then.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
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
  local dir=$1 features=()
  case "${2:-}" in
    "") ;;
    --native-histograms) features=(--enable-feature=native-histograms,exemplar-storage) ;;
    *) die "start: unknown option '$2' (known: --native-histograms)" ;;
  esac
  [ -d "$dir" ] || die "start: '$dir' is not a directory (make it first, e.g. with mktemp -d)"
  [ -x "$BIN" ] || die "start: $BIN not found (run scripts/deps.sh)"
  if [ -s "$dir/pid" ] && is_ours "$(cat "$dir/pid")"; then
    die "start: a server from '$dir' is already running (pid $(cat "$dir/pid")); stop it first"
  fi
  dir=$(cd "$dir" && pwd)
  mkdir -p "$dir/data"
  cat > "$dir/prometheus.yml" <<'EOF'
# Written by scripts/prometheus.sh: a receiver only, no scrape targets.
global:
  evaluation_interval: 1m
storage:
  tsdb:
    out_of_order_time_window: 30d
EOF
  local log="$dir/server.log" attempt port pid deadline
  for attempt in 1 2 3; do
    port=$(free_port)
    # setsid: the server outlives this script and ignores the caller's terminal
    # signals; its stdio goes to the log so a caller capturing our stdout is
    # not kept waiting for the server's copy of the pipe.
    setsid "$BIN" \
      --config.file="$dir/prometheus.yml" \
      --storage.tsdb.path="$dir/data" \
      --web.listen-address="127.0.0.1:$port" \
      --web.enable-remote-write-receiver \
      --storage.tsdb.retention.time=100y \
      ${features[@]+"${features[@]}"} \
      < /dev/null > "$log" 2>&1 &
    pid=$!
    echo "$pid" > "$dir/pid"
    echo "$port" > "$dir/port"
    deadline=$((SECONDS + TIMEOUT))
    while :; do
      if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$port/-/ready" 2>/dev/null; then
        echo "http://127.0.0.1:$port" > "$dir/url"
        echo "http://127.0.0.1:$port"
        return 0
      fi
      if ! is_ours "$pid"; then
        wait "$pid" 2>/dev/null || true
        if grep -q 'address already in use' "$log" && [ "$attempt" -lt 3 ]; then
          continue 2      # lost the port race: try another port
        fi
        rm -f "$dir/pid"
        show_log "$log"
        die "start: prometheus exited before becoming ready (log: $log)"
      fi
      if [ "$SECONDS" -ge "$deadline" ]; then
        show_log "$log"
        stop "$dir" || true
        die "start: prometheus not ready on 127.0.0.1:$port after ${TIMEOUT}s (log: $log)"
      fi
      sleep 0.2
    done
  done
  die "start: no free port after 3 attempts"
}

stop() {
  local dir=$1 pid
  [ -s "$dir/pid" ] || { echo "prometheus.sh: stop: no pid file in '$dir', nothing to stop" >&2; return 0; }
  pid=$(cat "$dir/pid")
  if is_ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 150); do           # up to 30 s for a clean TSDB shutdown
      is_ours "$pid" || break
      sleep 0.2
    done
    if is_ours "$pid"; then
      echo "prometheus.sh: stop: pid $pid still running after 30s, sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do is_ours "$pid" || break; sleep 0.1; done
    fi
  fi
  rm -f "$dir/pid"
}

case "${1:-}" in
  start) [ $# -eq 2 ] || [ $# -eq 3 ] || die "usage: $0 start DIR [--native-histograms]"; start "$2" "${3:-}" ;;
  stop)  [ $# -eq 2 ] || die "usage: $0 stop DIR";  stop "$2" ;;
  *) die "usage: $0 start DIR [--native-histograms] | stop DIR" ;;
esac
