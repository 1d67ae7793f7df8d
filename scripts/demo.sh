#!/usr/bin/env bash
# End-to-end demo: build the extension, start a throw-away Prometheus on
# 127.0.0.1, export a small table of room readings with
#   INSERT INTO metrics SELECT json_object('__name__', …, 'room', room), value, ts FROM readings
# through the stock sqlite3 shell (sql/demo.sql), which then reads every sample
# back in SQL with prometheus_query() and shows, side by side, what was sent and
# what came back. Exits 0 only when every exported value came back.
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

say "export and read back with sqlite3 (sql/demo.sql)"
create="CREATE VIRTUAL TABLE temp.metrics USING prometheus_sink(url='$base/api/v1/write', batch_size=100)"
echo "sqlite> .load $ext"
echo "sqlite> $create;"
sqlite3 -bail "$tmp/demo.db" -cmd ".load $ext" -cmd "$create" < sql/demo.sql | tee "$tmp/out.txt"

IFS= read -r verdict < <(grep '^verdict: ' "$tmp/out.txt" || true)
say "verdict"
case "$verdict" in
  "verdict: every exported value came back"*) echo "${verdict#verdict: }" ;;
  *) echo "${verdict:-MISMATCH: no verdict}" >&2; exit 1 ;;
esac
