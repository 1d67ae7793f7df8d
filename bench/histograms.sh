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
# (medians of wall and CPU time are shown; each run is a fresh sqlite3
# process).
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

# "wall cpu" seconds of one sqlite3 run of $1 on $2 (a database file or
# :memory:); cpu is user + system of the sqlite3 process (its sender threads
# included), steadier than the wall time on a shared machine.
run_once() {
  if ! /usr/bin/time -f "%e %U %S" -o "$work/time" sqlite3 -batch -bail "$2" <<<".load $EXT
$1" >/dev/null 2>"$work/err"; then
    echo "bench: a run failed: $(cat "$work/err")" >&2
    echo FAILED
    return
  fi
  awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' "$work/time"
}
median_of() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{ a[NR] = $1 } END { v = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.3f", v }'; }
# measure SQL DB -> "wall cpu", each the median of REPS runs
measure() {
  local walls="" cpus="" r
  for _ in $(seq 1 "$REPS"); do
    r=$(run_once "$1" "$2")
    [ "$r" != FAILED ] || { kill -TERM $$; exit 1; }
    walls+=" ${r% *}"; cpus+=" ${r#* }"
  done
  echo "$(echo "$walls" | median_of) $(echo "$cpus" | median_of)"
}
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t }' | commas; }
commas() { sed -E ':a; s/^([0-9]+)([0-9]{3})/\1,\2/; ta'; }
# row: LABEL ROWS "wall cpu"
row() { local wall=${3% *} cpu=${3#* }; echo "| $1 | $(echo "$2" | commas) | $wall | $(rate "$2" "$wall") | $cpu | $(rate "$2" "$cpu") |"; }

# Latencies over three orders of magnitude, 60 groups (routes x minutes).
SRC="SELECT value % 60 AS g, 0.001 * (1 + ((value * 2654435761) % 1000003) / 1000.0) AS x FROM generate_series(1, $N)"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); sqlite3 $(sqlite3 --version | cut -d' ' -f1); load $(cut -d' ' -f1 /proc/loadavg)"
echo
echo "| what | rows | wall s | rows/s (wall) | CPU s | rows/s (CPU) |"
echo "|---|---:|---:|---:|---:|---:|"
row "bare source (observations computed)" "$N" "$(measure "SELECT count(*) FROM ($SRC LIMIT -1);" :memory:)"
row "sum(x) GROUP BY 60 groups (SQLite's own aggregate)" "$N" "$(measure "SELECT count(*) FROM (SELECT sum(x) FROM ($SRC) GROUP BY g);" :memory:)"
for schema in 3 8 0; do
  row "prometheus_histogram(x, $schema) GROUP BY 60 groups" "$N" "$(measure "SELECT count(*) FROM (SELECT prometheus_histogram(x, $schema) FROM ($SRC) GROUP BY g);" :memory:)"
done
NW=$((N / 10))
SRCW="SELECT value % 60 AS g, value AS ts, 0.001 * (1 + ((value * 2654435761) % 1000003) / 1000.0) AS x FROM generate_series(1, $NW)"
row "prometheus_histogram(x) OVER (PARTITION BY g ORDER BY ts): running totals, a JSON per row" "$NW" \
  "$(measure "SELECT count(h) FROM (SELECT prometheus_histogram(x) OVER (PARTITION BY g ORDER BY ts) AS h FROM ($SRCW));" :memory:)"
row "the same over a sliding frame of 100 rows (xInverse)" "$NW" \
  "$(measure "SELECT count(h) FROM (SELECT prometheus_histogram(x) OVER (PARTITION BY g ORDER BY ts ROWS 99 PRECEDING) AS h FROM ($SRCW));" :memory:)"

# Histogram rows through a sink: 1,000 distinct histograms (from the same
# observations, 1,000 groups), repeated over M rows of 10 series.
db=$work/h.db
sqlite3 -batch -bail "$db" <<<".load $EXT
CREATE TABLE hs(id INTEGER PRIMARY KEY, json TEXT);
INSERT INTO hs SELECT g, prometheus_histogram(x) FROM (SELECT value % 1000 AS g, 0.001 * (1 + ((value * 2654435761) % 1000003) / 1000.0) AS x FROM generate_series(1, 200000)) GROUP BY g;" >/dev/null
buckets=$(sqlite3 "$db" "SELECT avg((SELECT count(*) FROM json_each(hs.json, '\$.positive'))) FROM hs" | awk '{ printf "%.0f", $1 }')
bytes=$(sqlite3 "$db" "SELECT avg(length(json)) FROM hs" | awk '{ printf "%.0f", $1 }')
SINK="CREATE VIRTUAL TABLE temp.s USING prometheus_sink(url='$URL', batch_size=10000);"
ROWS="FROM generate_series(1, $M) JOIN hs ON hs.id = value % 1000"
for protocol in 1.0 2.0; do
  P="CREATE VIRTUAL TABLE temp.s USING prometheus_sink(url='$URL', batch_size=10000, protocol='$protocol');"
  row "sink, protocol $protocol: float rows (same labels and join)" "$M" \
    "$(measure "$P INSERT INTO s(labels, value, timestamp) SELECT json_object('__name__', 'lat', 'route', 'r' || (value % 10)), value * 0.5, 1700000000000 + value * 1000 $ROWS;" "$db")"
  row "sink, protocol $protocol: histogram rows ($buckets buckets, $bytes bytes of JSON each)" "$M" \
    "$(measure "$P INSERT INTO s(labels, histogram, timestamp) SELECT json_object('__name__', 'lat', 'route', 'r' || (value % 10)), json, 1700000000000 + value * 1000 $ROWS;" "$db")"
done
row "aggregate straight into the sink: observations -> $(echo $((N / 100)) | commas) histograms (10 routes x $((N / 1000)) windows)" "$N" \
  "$(measure "$SINK INSERT INTO s(labels, histogram, timestamp) SELECT json_object('__name__', 'lat', 'route', 'r' || r), prometheus_histogram(x), max(ts) FROM (SELECT value % 10 AS r, value / 1000 AS w, value AS ts, 0.001 * (1 + ((value * 2654435761) % 1000003) / 1000.0) AS x FROM generate_series(1, $N)) GROUP BY r, w ORDER BY 3;" :memory:)"
stats=$(curl -fsS "http://127.0.0.1:$port/stats")
echo
echo "null_receiver totals: $stats"
