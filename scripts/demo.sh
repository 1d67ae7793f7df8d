#!/usr/bin/env bash
# End-to-end demo: build the extension, start a throw-away Prometheus on
# 127.0.0.1, export a small table of room readings with
#   INSERT INTO metrics SELECT json_object('__name__', …, 'room', room), value, ts FROM readings
# through the stock sqlite3 shell (sql/demo.sql), then read every sample back
# from Prometheus' HTTP API and show, side by side, what was sent and what
# came back. Exits 0 only when every exported value came back.
# Idempotent: installs nothing that is already there, rebuilds only what changed,
# and everything else lives in a temporary directory removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }

say "dependencies (scripts/deps.sh)"
scripts/deps.sh
echo "ok"

say "build"
[ -f build/build.ninja ] || meson setup build
ninja -C build
ext=./build/prometheus_sink
[ -f "$ext.so" ] || { echo "demo.sh: $ext.so was not built" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/psink-demo.XXXXXX")
cleanup() { scripts/prometheus.sh stop "$tmp" || true; rm -rf "$tmp"; }
trap cleanup EXIT

say "start Prometheus (scripts/prometheus.sh)"
base=$(scripts/prometheus.sh start "$tmp")
echo "Prometheus $(curl -fsS "$base/api/v1/status/buildinfo" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["version"])') at $base, data in $tmp/data"

say "export with sqlite3 (sql/demo.sql)"
create="CREATE VIRTUAL TABLE temp.metrics USING prometheus_sink(url='$base/api/v1/write', batch_size=100)"
echo "sqlite> .load $ext"
echo "sqlite> $create;"
sqlite3 -bail "$tmp/demo.db" -cmd ".load $ext" -cmd "$create" < sql/demo.sql

say "read back from Prometheus"
query='{__name__=~"demo_room_.*"}[1h]'
now=$(date +%s.%3N)
echo "GET $base/api/v1/query?query=$query&time=$now"
curl -fsS -G "$base/api/v1/query" --data-urlencode "query=$query" --data-urlencode "time=$now" \
  -o "$tmp/result.json"

# Load Prometheus' answer into SQLite (one row per returned sample) and join it
# with what was exported. Prometheus prints values in Go's shortest round-trip
# form; CAST(... AS REAL) reads them back to the same double.
sqlite3 -bail "$tmp/demo.db" <<EOF
.headers on
.mode box
CREATE TEMP TABLE returned AS
  SELECT json_extract(s.value, '\$.metric.__name__') AS metric,
         json_extract(s.value, '\$.metric.room') AS room,
         CAST(round(json_extract(p.value, '\$[0]') * 1000) AS INTEGER) AS ts,
         json_extract(p.value, '\$[1]') AS value_text
  FROM json_each(readfile('$tmp/result.json'), '\$.data.result') AS s,
       json_each(s.value, '\$.values') AS p;
CREATE TEMP VIEW sent(metric, room, ts, value) AS
  SELECT 'demo_room_temperature_celsius', room, ts, celsius FROM readings
  UNION ALL
  SELECT 'demo_room_humidity_percent', room, ts, humidity FROM readings;
CREATE TEMP VIEW compared AS
  SELECT s.*, r.value_text,
         r.value_text IS NOT NULL AND CAST(r.value_text AS REAL) = s.value AS same
  FROM sent AS s LEFT JOIN returned AS r USING (metric, room, ts);
SELECT c.room, time(c.ts / 1000, 'unixepoch') AS "time (UTC)",
       c.value AS "°C sent", coalesce(c.value_text, 'MISSING') AS "°C in Prometheus",
       h.value AS "%RH sent", coalesce(h.value_text, 'MISSING') AS "%RH in Prometheus"
FROM compared AS c JOIN compared AS h
  ON h.room = c.room AND h.ts = c.ts AND h.metric = 'demo_room_humidity_percent'
WHERE c.metric = 'demo_room_temperature_celsius'
ORDER BY c.room, c.ts;
.headers off
.mode list
.output $tmp/verdict.txt
SELECT sum(same), count(*), (SELECT count(*) FROM returned) FROM compared;
.output stdout
EOF

IFS='|' read -r same sent returned < "$tmp/verdict.txt"
say "verdict"
if [ "$same" = "$sent" ] && [ "$returned" = "$sent" ]; then
  echo "every exported value came back: $same of $sent samples, same timestamps and values"
else
  echo "MISMATCH: $same of $sent exported samples came back unchanged ($returned samples returned)" >&2
  exit 1
fi
