#!/usr/bin/env bash
# Runs the threaded integration suites under ThreadSanitizer: the extension
# loaded into SQLite through the C API, in build-tsan (gcc,
# -Db_sanitize=thread, -O1 -g; scripts/sanitizer_build.sh), which builds
# only the module and the integration test program.
#
#   scripts/tsan.sh                          # the threaded suites (below)
#   scripts/tsan.sh concurrency faults       # some suites
#   TSAN_SUITES=all scripts/tsan.sh          # every suite of the program
#
# Every sink hands its batches to a worker thread per shard, so every suite
# runs threads; the threaded suites are those whose point is threads running
# at once: the shards of concurrent delivery and the 2.0 probe with
# concurrent shards (concurrency, protocol), ROLLBACK and a failure while
# requests are in flight (rollback, faults), several sinks and their
# workers in one transaction (multi_sink), and the spools' drain threads and
# processes, the concurrent drain and its refusals (spool_concurrency,
# spool_background, spool_drain, spool_rejected). The suite names come from
# the program itself (doctest's --list-test-suites); a name here that it
# does not list fails the run, so that a renamed suite is not skipped
# silently.
#
# Any report fails the suite that triggered it (halt_on_error). Each suite
# counts as one test. Ends with "tsan: N passed, N failed"; exit status 0
# only when none failed. Runs TEST_JOBS (2) suites at a time.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
summary_fail() { echo "$1"; echo "tsan: 0 passed, 1 failed"; exit 1; }
. scripts/sanitizer_build.sh
build=$(build_dir tsan)
threaded=(concurrency protocol rollback faults multi_sink spool_concurrency spool_background spool_drain spool_rejected)

start=$SECONDS
build_targets tsan prometheus_sink.so tests/integration/integration_test
echo "tsan: built $build in $((SECONDS - start)) s"
program=$build/tests/integration/integration_test

# The program's suites, as doctest lists them (between its two rulers).
listed=$("$program" --list-test-suites --no-version 2>&1 | awk '/^====/ { n++; next } n == 1 { print }')
[ -n "$listed" ] || summary_fail "$program --list-test-suites listed no suite"
if [ $# -gt 0 ]; then
  suites=("$@")
elif [ "${TSAN_SUITES:-}" = all ]; then
  mapfile -t suites <<<"$listed"
else
  suites=("${threaded[@]}")
fi
for s in "${suites[@]}"; do
  grep -qx "$s" <<<"$listed" || summary_fail "no suite '$s' in $program (it lists: $(echo $listed))"
done

# Tests that run the stock sqlite3 shell (the spool's two-process tests) load
# the instrumented module into it: the shell gets the TSan runtime preloaded.
tsan_lib=$(gcc -print-file-name=libtsan.so)
[ -f "$tsan_lib" ] || summary_fail "libtsan.so not found (gcc -print-file-name=libtsan.so gave '$tsan_lib')"
wrap="$PWD/$build/tsan-bin"
mkdir -p "$wrap"
cat >"$wrap/sqlite3" <<EOF
#!/bin/sh
# Written by scripts/tsan.sh: the stock sqlite3 shell with the TSan runtime preloaded.
LD_PRELOAD="$tsan_lib" exec /usr/bin/sqlite3 "\$@"
EOF
chmod +x "$wrap/sqlite3"
export PATH="$wrap:$PATH"

# One suite: prints "ok <suite> <seconds>" or "FAILED <suite> <seconds>".
run_suite() {
  local s=$1 log="$build/tsan-$1.log" t0=$SECONDS
  if TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" timeout 600 \
       "$program" --test-suite="$s" --no-version >"$log" 2>&1 &&
     ! grep -q "WARNING: ThreadSanitizer" "$log"; then
    echo "ok $s $((SECONDS - t0))"
  else
    echo "FAILED $s $((SECONDS - t0))"
  fi
}
export -f run_suite
export build program

start=$SECONDS
results=$(printf '%s\n' "${suites[@]}" | xargs -P "${TEST_JOBS:-2}" -I{} bash -c 'run_suite "$1"' _ {})
passed=0 failed=0
while read -r kind s secs; do
  [ -n "$kind" ] || continue
  if [ "$kind" = ok ]; then
    passed=$((passed + 1)); echo "tsan: $s ok ($secs s)"
  else
    failed=$((failed + 1)); echo "tsan: $s FAILED ($secs s)"
    log="$build/tsan-$s.log"
    if grep -q "WARNING: ThreadSanitizer" "$log"; then grep -A30 "WARNING: ThreadSanitizer" "$log" | head -40; else tail -30 "$log"; fi
  fi
done <<<"$results"
echo "tsan: suites ran in $((SECONDS - start)) s"
echo "tsan: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
