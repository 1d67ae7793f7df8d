#!/usr/bin/env bash
# Runs the integration suites (the extension loaded into SQLite through the C
# API, with the sender's worker threads and the in-process test receiver)
# under ThreadSanitizer: a build folder of its own, build-tsan, configured
# with -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug. The SQL
# thread hands each batch to a sender thread (src/sender.cc); this is where a
# data race between them would show.
#
#   scripts/tsan.sh
#
# Any report fails the suite that triggered it (halt_on_error). Each
# integration suite counts as one test. Ends with "tsan: N passed, N failed";
# exit status 0 only when none failed. Builds with at most
# SANITIZE_BUILD_JOBS (2) jobs.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
build="build-tsan"
summary_fail() { echo "$1"; echo "tsan: 0 passed, 1 failed"; exit 1; }
. scripts/sanitizer_build.sh

sanitizer_build "$build" thread prometheus_sink.so tests/integration/integration_test

# The suites, as tests/integration/meson.build lists them.
suites=$(awk '/^foreach suite/ { on = 1 } on { print } on && /\]/ { exit }' tests/integration/meson.build |
  grep -o "'[a-z_0-9]*'" | tr -d "'")
[ -n "$suites" ] || summary_fail "no integration suites found in tests/integration/meson.build"
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
passed=0 failed=0
for s in $suites; do
  log="$build/tsan-$s.log"
  if TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" timeout 600 \
       "$build/tests/integration/integration_test" --test-suite="$s" --no-version >"$log" 2>&1 &&
     ! grep -q "WARNING: ThreadSanitizer" "$log"; then
    passed=$((passed + 1)); echo "tsan: $s ok"
  else
    failed=$((failed + 1)); echo "tsan: $s FAILED"; grep -A30 "WARNING: ThreadSanitizer" "$log" | head -40 || tail -30 "$log"
  fi
done
echo "tsan: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
