#!/usr/bin/env bash
# Runs one .sql file through the stock sqlite3 shell with the extension
# loaded and compares everything it prints (stdout and stderr) with the
# .expected file beside it. UPDATE_EXPECTED=1 rewrites the .expected file
# instead (review the diff before committing it).
set -euo pipefail
ext="$1"; sql="$2"
expected="${sql%.sql}.expected"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
cd "$work"
actual="$work/actual"
sqlite3 -batch -cmd ".load ${ext%.so}" :memory: < "$sql" 2>&1 |
  # curl says how long a refused connection took: not part of the contract.
  sed -E 's/ after [0-9]+ ms: / after N ms: /' > "$actual" || true
if [ "${UPDATE_EXPECTED:-}" = 1 ]; then cp "$actual" "$expected"; echo "updated $expected"; exit 0; fi
if diff -u "$expected" "$actual"; then echo "ok: $(basename "$sql")"; else echo "FAILED: $(basename "$sql") (diff above: - expected, + actual)"; exit 1; fi
