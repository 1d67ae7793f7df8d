#!/usr/bin/env bash
# Native-histogram figures (not a test: it prints numbers and asserts no
# timing): observations per second through prometheus_histogram() (GROUP BY
# and window forms, against the bare source and SQLite's own sum() over the
# same rows), and histogram rows per second through a sink posting to
# bench/null_receiver (against float rows with the same labels).
#
#   bench/histograms.sh [-n OBSERVATIONS] [-m HISTOGRAM_ROWS] [-r REPS]
#
# Defaults: 1,000,000 observations, 100,000 histogram rows, 3 repetitions
# (the median wall time is shown; each run is a fresh sqlite3 process).
# Builds what it needs into build/ first.
set -euo pipefail
cd "$(dirname "$0")/.."
N=1000000 M=100000 REPS=3
while [ $# -gt 0 ]; do
  case "$1" in
    -n) N=$2; shift 2 ;;
    -m) M=$2; shift 2 ;;
    -r) REPS=$2; shift 2 ;;
    *) echo "usage: $0 [-n OBSERVATIONS] [-m HISTOGRAM_ROWS] [-r REPS]" >&2; exit 2 ;;
  esac
done
BUILD=build
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" >/dev/null
ninja -C "$BUILD" prometheus_sink.so bench/null_receiver >/dev/null
EXT=$PWD/$BUILD/prometheus_sink
work=$(mktemp -d)
rpid=
cleanup() { [ -n "$rpid" ] && kill "$rpid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$BUILD/bench/null_receiver" > "$work/receiver.out" 2>&1 &
rpid=$!
port=
for _ in $(seq 1 100); do
  port=$(awk '/^PORT /{ print $2 }' "$work/receiver.out")
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { echo "null_receiver did not start" >&2; exit 1; }
URL="http://127.0.0.1:$port/api/v1/write"

# Seconds (wall) of one sqlite3 run of $1 on $2 (a database file or :memory:).
run_once() {
  local t0 t1
  t0=$(date +%s.%N)
  sqlite3 -batch -bail "$2" <<<".load $EXT
$1" >/dev/null
  t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}
median_of() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
measure() {  # measure SQL DB -> median seconds
  local all=""
  for _ in $(seq 1 "$REPS"); do all+=" $(run_once "$1" "$2")"; done
  echo "$all" | median_of
}
rate() { echo "$1 / $2" | bc -l | awk '{ printf "%\047.0f", $1 }'; }
commas() { printf "%'d" "$1"; }

# Latencies over three orders of magnitude, 60 groups (routes x minutes).
SRC="SELECT value % 60 AS g, 0.001 * (1 + ((value * 2654435761) % 1000003) / 1000.0) AS x FROM generate_series(1, $N)"
export LC_NUMERIC=en_US.UTF-8 2>/dev/null || true

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); sqlite3 $(sqlite3 --version | cut -d' ' -f1); load $(cut -d' ' -f1 /proc/loadavg)"
echo
echo "| what | rows | wall s (median of $REPS) | per second |"
echo "|---|---:|---:|---:|"
bare=$(measure "SELECT count(*) FROM ($SRC LIMIT -1);" :memory:)
echo "| bare source (observations computed) | $(commas "$N") | $bare | $(rate "$N" "$bare") |"
t=$(measure "SELECT count(*) FROM (SELECT sum(x) FROM ($SRC) GROUP BY g);" :memory:)
echo "| sum(x) GROUP BY 60 groups (SQLite's own aggregate) | $(commas "$N") | $t | $(rate "$N" "$t") |"
for schema in 3 8 0; do
  t=$(measure "SELECT count(*) FROM (SELECT prometheus_histogram(x, $schema) FROM ($SRC) GROUP BY g);" :memory:)
  echo "| prometheus_histogram(x, $schema) GROUP BY 60 groups | $(commas "$N") | $t | $(rate "$N" "$t") |"
done
NW=$((N / 10))
SRCW="SELECT value % 60 AS g, value AS ts, 0.001 * (1 + ((value * 2654435761) % 1000003) / 1000.0) AS x FROM generate_series(1, $NW)"
t=$(measure "SELECT count(h) FROM (SELECT prometheus_histogram(x) OVER (PARTITION BY g ORDER BY ts) AS h FROM ($SRCW));" :memory:)
echo "| prometheus_histogram(x) OVER (PARTITION BY g ORDER BY ts): running totals, a JSON per row | $(commas "$NW") | $t | $(rate "$NW" "$t") |"
t=$(measure "SELECT count(h) FROM (SELECT prometheus_histogram(x) OVER (PARTITION BY g ORDER BY ts ROWS 99 PRECEDING) AS h FROM ($SRCW));" :memory:)
echo "| the same over a sliding frame of 100 rows (xInverse) | $(commas "$NW") | $t | $(rate "$NW" "$t") |"

# Histogram rows through a sink: 1,000 distinct histograms (from the same
# observations, 1,000 groups), repeated over M rows of 10 series.
db=$work/h.db
sqlite3 -batch -bail "$db" <<<".load $EXT
CREATE TABLE hs(id INTEGER PRIMARY KEY, json TEXT);
INSERT INTO hs SELECT g, prometheus_histogram(x) FROM (SELECT value % 1000 AS g, 0.001 * (1 + ((value * 2654435761) % 1000003) / 1000.0) AS x FROM generate_series(1, 200000)) GROUP BY g;" >/dev/null
buckets=$(sqlite3 "$db" "SELECT avg((SELECT count(*) FROM json_each(json, '\$.positive'))) FROM hs" | awk '{ printf "%.1f", $1 }')
bytes=$(sqlite3 "$db" "SELECT avg(length(json)) FROM hs" | awk '{ printf "%.0f", $1 }')
SINK="CREATE VIRTUAL TABLE temp.s USING prometheus_sink(url='$URL', batch_size=10000);"
ROWS="FROM generate_series(1, $M) JOIN hs ON hs.id = value % 1000"
for protocol in 1.0 2.0; do
  P="CREATE VIRTUAL TABLE temp.s USING prometheus_sink(url='$URL', batch_size=10000, protocol='$protocol');"
  t=$(measure "$P INSERT INTO s(labels, value, timestamp) SELECT json_object('__name__', 'lat', 'route', 'r' || (value % 10)), value * 0.5, 1700000000000 + value * 1000 $ROWS;" "$db")
  echo "| sink, protocol $protocol: float rows (same labels and join) | $(commas "$M") | $t | $(rate "$M" "$t") |"
  t=$(measure "$P INSERT INTO s(labels, histogram, timestamp) SELECT json_object('__name__', 'lat', 'route', 'r' || (value % 10)), json, 1700000000000 + value * 1000 $ROWS;" "$db")
  echo "| sink, protocol $protocol: histogram rows ($buckets buckets, $bytes bytes of JSON each) | $(commas "$M") | $t | $(rate "$M" "$t") |"
done
t=$(measure "$SINK INSERT INTO s(labels, histogram, timestamp) SELECT json_object('__name__', 'lat', 'route', 'r' || (value % 10)), prometheus_histogram(x), max(ts) FROM (SELECT value % 10 AS r, value / 1000 AS w, value AS ts, 0.001 * (1 + ((value * 2654435761) % 1000003) / 1000.0) AS x FROM generate_series(1, $N)) GROUP BY r, w ORDER BY 3;" :memory:)
echo "| aggregate straight into the sink: $(commas "$N") observations -> $(commas $((N / 100))) histograms | $(commas "$N") | $t | $(rate "$N" "$t") |"
stats=$(curl -fsS "http://127.0.0.1:$port/stats")
echo
echo "null_receiver totals: $stats"
