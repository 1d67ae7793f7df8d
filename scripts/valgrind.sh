#!/usr/bin/env bash
# Runs the SQL-level tests (tests/sql/*.sql) under valgrind: each script goes
# through the stock /usr/bin/sqlite3 with the release build's module
# (build/prometheus_sink.so) loaded, exactly as tests/sql/run_sql_test.sh
# runs it, but inside
#   valgrind --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99
# A script is clean when its output still equals its .expected file and
# valgrind reports no error and no definite leak (its report goes to a log
# file, not into the compared output).
#
#   scripts/valgrind.sh                  # every tests/sql/*.sql
#   scripts/valgrind.sh rows delivery    # some of them
#
# Ends with "valgrind: N clean, N with errors"; exit status 0 only when every
# script was clean. Runs VALGRIND_JOBS (2) scripts at a time. A failing
# script's valgrind log and output are kept in build/valgrind/.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
jobs=${VALGRIND_JOBS:-2}
summary_fail() { echo "valgrind: $1"; echo "valgrind: 0 clean, 1 with errors"; exit 1; }
command -v valgrind >/dev/null || summary_fail "not installed (scripts/deps.sh installs it)"
. scripts/sanitizer_build.sh
build=$(build_dir plain)

# VALGRIND_SKIP_BUILD=1 uses build/prometheus_sink.so as it is (when the
# caller, e.g. scripts/test.sh, has just built it).
[ "${VALGRIND_SKIP_BUILD:-0}" = 1 ] || build_targets plain prometheus_sink.so
[ -f "$build/prometheus_sink.so" ] || summary_fail "no $build/prometheus_sink.so"
ext=$root/$build/prometheus_sink.so
out=$root/$build/valgrind
rm -rf "$out"; mkdir -p "$out"

scripts=()
if [ $# -gt 0 ]; then
  for n in "$@"; do scripts+=("tests/sql/${n%.sql}.sql"); done
else
  for f in tests/sql/*.sql; do [ -f "${f%.sql}.expected" ] && scripts+=("$f"); done
fi

# What legitimately differs under valgrind is masked in both outputs:
# - curl's "Failed to connect ... after N ms": valgrind runs ~20x slower;
# - the last two of 17 significant digits of a printed double: valgrind
#   emulates the x87 80-bit long double with 64 bits, and SQLite's own
#   text-to-double conversion uses long double, so the shell itself reads a
#   literal like 1e300 a few ulps off (`SELECT 1e300 = 1.0000000000000001e300`
#   is 1 natively, 0 under valgrind).
normalize() {
  sed -E -e 's/after [0-9]+ ms/after N ms/g' -e 's/([0-9]\.[0-9]{14})[0-9]{2}(e[+-][0-9]+)/\1..\2/g' "$1"
}

# One script: prints "clean <name> <seconds>" or "errors <name> <why>".
run_one() {
  local sql=$root/$1 name work rc t0 why=()
  name=$(basename "$1" .sql)
  work=$(mktemp -d)
  t0=$(date +%s)
  (cd "$work" && valgrind --quiet --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99 \
      --num-callers=30 --log-file="$work/valgrind.log" \
      /usr/bin/sqlite3 -batch -cmd ".load ${ext%.so}" :memory: <"$sql" >"$work/actual" 2>&1)
  rc=$?
  [ $rc -eq 99 ] && why+=("valgrind errors")
  [ $rc -gt 128 ] && why+=("killed by signal $((rc - 128))")
  grep -q "are definitely lost" "$work/valgrind.log" && why+=("definite leak")
  normalize "${sql%.sql}.expected" >"$work/expected.n"; normalize "$work/actual" >"$work/actual.n"
  diff -u "$work/expected.n" "$work/actual.n" >"$work/diff" || why+=("output differs from ${name}.expected")
  if [ ${#why[@]} -eq 0 ]; then
    echo "clean $name $(( $(date +%s) - t0 ))"
  else
    mkdir -p "$out/$name"; cp "$work/valgrind.log" "$work/actual" "$work/diff" "$out/$name/"
    local IFS=,; echo "errors $name ${why[*]}"
  fi
  rm -rf "$work"
}
export -f run_one normalize
export root ext out

start=$SECONDS
results=$(printf '%s\n' "${scripts[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$1"' _ {})
clean=0; dirty=0
while read -r kind name rest; do
  [ -n "$kind" ] || continue
  if [ "$kind" = clean ]; then
    echo "valgrind: $name: clean (${rest} s)"; clean=$((clean + 1))
  else
    echo "valgrind: $name: $rest"
    sed -n '1,60p' "$out/$name/valgrind.log" | sed 's/^/    /'
    head -30 "$out/$name/diff" | sed 's/^/    /'
    echo "    (kept in $out/$name/)"
    dirty=$((dirty + 1))
  fi
done <<<"$results"
echo "valgrind: ran in $((SECONDS - start)) s"
echo "valgrind: $clean clean, $dirty with errors"
[ "$dirty" -eq 0 ] && [ "$clean" -gt 0 ]
