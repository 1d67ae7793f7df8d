#!/usr/bin/env bash
# The durable spool's cost: the same export of N rows (default 1,000,000,
# batch_size 10000, 700 series of JSON labels) through the stock sqlite3
# shell into a WAL database file, with spool=off and with spool=on, against
# bench/null_receiver --decode; R repetitions (default 3), alternating. A
# run is the whole sqlite3 process: for spool=on that includes writing the
# batches, committing, and the background drain sending them and emptying
# the spool before the process ends (closing waits for it). Prints wall
# seconds, samples/s and peak RSS per run, the median of the paired
# spool/plain ratios, and checks that every sample reached the receiver and
# the spool ended empty. Figures only: it asserts nothing about speed.
#
#   bench/spool.sh [N] [R]
#
# With --latency, the drain on a slow link instead: N rows (default
# 200,000, batch_size 1024, the same 700 series) to a receiver that answers
# every request after D ms (default 50), in one run each: spool=off,
# spool=on (the default max_in_flight) and spool=on with max_in_flight=1,
# each until the receiver has every sample; prints the figures and the
# ratios spool=on / spool=off and (max_in_flight=1) / spool=on.
#
#   bench/spool.sh --latency [N] [D]
set -euo pipefail
cd "$(dirname "$0")/.."
latency=0
if [ "${1:-}" = --latency ]; then
  latency=1
  shift
  N=${1:-200000}
  D=${2:-50}
  R=1
  BATCH=1024
else
  N=${1:-1000000}
  R=${2:-3}
  D=0
  BATCH=10000
fi
BUILD=${BUILD:-build}
ninja -C "$BUILD" prometheus_sink.so bench/null_receiver >/dev/null
work=$(mktemp -d)
rx_pid=""
trap '[ -n "$rx_pid" ] && kill "$rx_pid" 2>/dev/null; rm -rf "$work"' EXIT
"$BUILD/bench/null_receiver" --decode --delay-ms "$D" > "$work/rx.out" 2>&1 &
rx_pid=$!
for _ in $(seq 100); do grep -q '^PORT ' "$work/rx.out" && break; sleep 0.05; done
port=$(awk '/^PORT /{print $2}' "$work/rx.out")
[ -n "$port" ] || { echo "null_receiver did not start" >&2; exit 1; }
samples() { curl -s "http://127.0.0.1:$port/stats" | sed -E 's/.*"samples":([0-9]+).*/\1/'; }

run() {  # run spool(on|off) rep [extra options] -> prints "wall rss"
  local db="$work/$1-$2.db" extra=${3:-}
  sqlite3 "$db" 'PRAGMA journal_mode=WAL' >/dev/null
  local before; before=$(samples)
  /usr/bin/time -f '%e %M' -o "$work/time" sqlite3 "$db" <<SQL
.load $BUILD/prometheus_sink
CREATE VIRTUAL TABLE m USING prometheus_sink(url='http://127.0.0.1:$port/api/v1/write', batch_size=$BATCH,
  spool=$1, spool_close_wait_ms=600000$extra);
INSERT INTO m SELECT json_object('__name__','bench_metric','host','h'||(value%100),'region','r'||(value%7)),
  value*1.0, 1700000000000+(value/100)*1000 FROM generate_series(1,$N);
SQL
  local after; after=$(samples)
  [ $((after - before)) -eq "$N" ] || { echo "spool=$1: the receiver got $((after - before)) of $N samples" >&2; exit 1; }
  if [ "$1" = on ]; then
    local left; left=$(sqlite3 "$db" 'SELECT coalesce(sum(rows),0) FROM m_spool')
    [ "$left" = 0 ] || { echo "spool=on: $left rows left in the spool" >&2; exit 1; }
  fi
  cat "$work/time"
}

if [ "$latency" = 1 ]; then
  echo "$N rows, batch_size $BATCH, 700 series, receiver answering after $D ms; wall s until it has every sample"
  read -r off_s _ < <(run off 1)
  read -r on_s _ < <(run on 1)
  read -r one_s _ < <(run on 2 ", max_in_flight=1")
  echo "| export | wall s | samples/s |"
  echo "|---|---:|---:|"
  for x in "spool=off $off_s" "spool=on $on_s" "spool=on,max_in_flight=1 $one_s"; do
    set -- $x
    printf '| %s | %.2f | %.0f |\n' "$1" "$2" "$(echo "$N / $2" | bc -l)"
  done
  printf 'spool=on / spool=off: %.2f (target: at most 1.5)\n' "$(echo "$on_s / $off_s" | bc -l)"
  printf 'spool=on,max_in_flight=1 / spool=on: %.2f (target: at least 4)\n' "$(echo "$one_s / $on_s" | bc -l)"
  echo "every run: all $N samples reached the receiver; every spool=on run ended with an empty spool"
  exit 0
fi

echo "| run | spool | wall s | samples/s | peak RSS MB |"
echo "|---:|---|---:|---:|---:|"
ratios=()
for rep in $(seq "$R"); do
  read -r off_s off_kb < <(run off "$rep")
  read -r on_s on_kb < <(run on "$rep")
  for x in "off $off_s $off_kb" "on $on_s $on_kb"; do
    set -- $x
    printf '| %d | %s | %.2f | %.2fM | %.1f |\n' "$rep" "$1" "$2" "$(echo "$N / $2 / 1000000" | bc -l)" \
      "$(echo "$3 / 1024" | bc -l)"
  done
  ratios+=("$(echo "$on_s / $off_s" | bc -l)")
done
median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}')
printf 'spool=on / spool=off, median of %d paired runs: %.2f (each: %s)\n' "$R" "$median" \
  "$(printf '%.2f ' "${ratios[@]}")"
echo "every run: all $N samples reached the receiver; every spool=on run ended with an empty spool"
