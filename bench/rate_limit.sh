#!/usr/bin/env bash
# max_samples_per_second: how long N rows (default 100,000, batch_size
# 1000, 10 series) take through the stock sqlite3 shell with the limit L
# (default 20,000 samples/s), spool=off and spool=on (into a WAL database
# file; the run includes the drain, since closing waits for it), and once
# without the limit for comparison. At L = 20,000 the expected time is
# about N / L = 5 s (the first request goes at once). Prints wall seconds
# and the effective rate; checks that every sample reached the receiver.
# Figures only: it asserts nothing about time (the bound on what the
# receiver sees per second is the integration test's, suite rate_limit).
#
#   bench/rate_limit.sh [N] [L]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
L=${2:-20000}
BUILD=${BUILD:-build}
ninja -C "$BUILD" prometheus_sink.so bench/null_receiver >/dev/null
work=$(mktemp -d)
rx_pid=""
trap '[ -n "$rx_pid" ] && kill "$rx_pid" 2>/dev/null; rm -rf "$work"' EXIT
"$BUILD/bench/null_receiver" --decode > "$work/rx.out" 2>&1 &
rx_pid=$!
for _ in $(seq 100); do grep -q '^PORT ' "$work/rx.out" && break; sleep 0.05; done
port=$(awk '/^PORT /{print $2}' "$work/rx.out")
[ -n "$port" ] || { echo "null_receiver did not start" >&2; exit 1; }
samples() { curl -s "http://127.0.0.1:$port/stats" | sed -E 's/.*"samples":([0-9]+).*/\1/'; }

run() {  # run spool(on|off) limit-option -> prints wall seconds
  local db="$work/$1-$RANDOM.db"
  sqlite3 "$db" 'PRAGMA journal_mode=WAL' >/dev/null
  local before; before=$(samples)
  /usr/bin/time -f '%e' -o "$work/time" sqlite3 "$db" <<SQL
.load $BUILD/prometheus_sink
CREATE VIRTUAL TABLE m USING prometheus_sink(url='http://127.0.0.1:$port/api/v1/write', batch_size=1000,
  spool=$1, spool_close_wait_ms=600000 $2);
INSERT INTO m SELECT json_object('__name__','bench_metric','i',CAST(value%10 AS TEXT)), value*1.0,
  1700000000000+value FROM generate_series(1,$N);
SQL
  local after; after=$(samples)
  [ $((after - before)) -eq "$N" ] || { echo "spool=$1: the receiver got $((after - before)) of $N samples" >&2; exit 1; }
  cat "$work/time"
}

echo "$(date -u +%Y-%m-%d): bench/rate_limit.sh $N $L"
echo "| max_samples_per_second | spool | wall s | samples/s |"
echo "|---:|---|---:|---:|"
for spool in off on; do
  s=$(run "$spool" ", max_samples_per_second=$L")
  printf '| %s | %s | %.2f | %.0f |\n' "$L" "$spool" "$s" "$(echo "$N / $s" | bc -l)"
done
s=$(run off "")
printf '| none | off | %.2f | %.0f |\n' "$s" "$(echo "$N / $s" | bc -l)"
