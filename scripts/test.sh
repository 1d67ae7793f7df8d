#!/usr/bin/env bash
# Runs every test: installs what is missing (Debian packages), builds, runs
# the meson test suites (unit, sql, integration, real receivers), and ends
# with one line "N passed, N failed". Exit status 0 only when none failed.
# Idempotent; run from anywhere.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }

build=build
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" >/dev/null || { echo "meson setup failed"; echo "0 passed, 1 failed"; exit 1; }
fi
if ! ninja -C "$build" >"$build/ninja.log" 2>&1; then
  tail -50 "$build/ninja.log"; echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi

meson test -C "$build" --print-errorlogs --num-processes 2 "$@"
status=$?

# Count from meson's machine-readable log, one entry per test.
read -r passed failed < <(/usr/bin/python3 scripts/meson_counts.py "$build/meson-logs/testlog.json")
if [ "$status" -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then failed=1; fi

# Hardening: libFuzzer targets (30 s each), the whole suite under
# ASan+UBSan, the integration suites under ThreadSanitizer, the SQL tests
# under valgrind. Each fuzz target, sanitized test, TSan suite and valgrind
# script counts as one test in the total. HARDENING=0 skips them
# (for a quick local run); CI runs them.
if [ "${HARDENING:-1}" = 1 ]; then
  for s in fuzz sanitize tsan valgrind; do
    VALGRIND_SKIP_BUILD=1 bash "scripts/$s.sh" 2>&1 | tee "$build/$s.log"
    read -r p f < <(tail -1 "$build/$s.log" | grep -Eo '[0-9]+' | tr '\n' ' ')
    passed=$(( ${passed:-0} + ${p:-0} )); failed=$(( ${failed:-0} + ${f:-1} ))
  done
fi
echo "${passed:-0} passed, ${failed:-1} failed"
[ "${failed:-1}" -eq 0 ]
