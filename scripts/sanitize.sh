#!/usr/bin/env bash
# Runs meson test suites against the AddressSanitizer + UndefinedBehaviorSanitizer
# build (gcc, -O0 -g): build-asan (scripts/sanitizer_build.sh).
#
#   scripts/sanitize.sh                  # the unit, integration and receiver suites
#   scripts/sanitize.sh --suite install  # arguments go to `meson test` (everything is built then)
#
# With no arguments only what those suites need is built: the module, the
# unit, integration and receiver test programs. (The SQL scripts run under
# valgrind, the fuzz targets' inputs through libFuzzer in build-fuzz, and the
# real receivers, install and interrupt suites in the release build: see
# scripts/test.sh.)
#
# Any sanitizer report fails the test that triggered it (halt_on_error).
# Programs that are not instrumented but load the instrumented module — the
# stock sqlite3 shell (the spool's two-process tests, and the sql and real
# suites) and python3 (the real and install suites) — get the ASan runtime
# preloaded (see the wrappers below).
# Ends with "sanitizers: N passed, N failed"; exit status 0 only when none
# failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
summary_fail() { echo "$1"; echo "sanitizers: 0 passed, 1 failed"; exit 1; }
. scripts/sanitizer_build.sh
build=$(build_dir asan)

start=$SECONDS
if [ $# -eq 0 ]; then
  build_targets asan prometheus_sink.so tests/unit/unit_tests tests/integration/integration_test \
    tests/receiver/receiver_test
  set -- --suite unit --suite integration --suite receiver
else
  build_targets asan
fi
echo "sanitizers: built $build in $((SECONDS - start)) s"

# Reports fail at once, with a stack; meson's own defaults are replaced.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:print_summary=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:print_summary=1"

# Uninstrumented programs that load the instrumented module need the ASan
# runtime as the first library of their process, so it is preloaded into them:
# - the stock sqlite3 shell, through a `sqlite3` wrapper put first in PATH.
#   Leak detection stays on there: LeakSanitizer runs at the shell's exit and
#   sees every allocation of the process, the extension's included, and the
#   shell frees what it allocates, so a clean run reports nothing;
# - python3 (real tests that drive libsqlite3 in-process through ctypes,
#   the install suite), through meson's --wrapper. Leak detection is off
#   there: CPython does not free its objects at exit, and LSan would report
#   them. sitecustomize.py takes the preload back out of python's
#   environment, so that the programs it starts (server scripts, Prometheus
#   and VictoriaMetrics, which are Go) run without it; the install suite
#   gives it back, without leak detection, to the python3 that runs the
#   README's Python example.
# libubsan (GCC's libasan does not carry the UBSan handlers) comes in with the
# module as its dependency, and reports and halts from there as usual.
# (Checked: a module with a signed overflow halts the preloaded shell with a
# UBSan report; a module that leaks 77 bytes fails it with an LSan report.)
asan_lib=$(gcc -print-file-name=libasan.so)
[ -f "$asan_lib" ] || summary_fail "libasan.so not found (gcc -print-file-name=libasan.so gave '$asan_lib')"
wrap="$PWD/$build/sanitize-bin"
mkdir -p "$wrap/py"
cat >"$wrap/sqlite3" <<EOF
#!/bin/sh
# Written by scripts/sanitize.sh: the stock sqlite3 shell with the ASan runtime
# preloaded, and leak detection on.
LD_PRELOAD="$asan_lib" ASAN_OPTIONS="$ASAN_OPTIONS" exec /usr/bin/sqlite3 "\$@"
EOF
cat >"$wrap/run-test" <<EOF
#!/bin/sh
# Written by scripts/sanitize.sh: meson's test wrapper. python3 gets the ASan
# runtime (without leak detection); everything else runs as it is.
case "\$(basename "\$1")" in
  python3*)
    PSINK_SAVED_ASAN_OPTIONS="\$ASAN_OPTIONS" PYTHONPATH="$wrap/py\${PYTHONPATH:+:\$PYTHONPATH}" \\
      LD_PRELOAD="$asan_lib" ASAN_OPTIONS="\$ASAN_OPTIONS:detect_leaks=0" exec "\$@" ;;
  *) exec "\$@" ;;
esac
EOF
cat >"$wrap/py/sitecustomize.py" <<'EOF'
# Written by scripts/sanitize.sh: the ASan runtime is preloaded into this
# python only; the programs it starts run without it.
import os
os.environ.pop("LD_PRELOAD", None)
if "PSINK_SAVED_ASAN_OPTIONS" in os.environ:
    os.environ["ASAN_OPTIONS"] = os.environ.pop("PSINK_SAVED_ASAN_OPTIONS")
EOF
chmod +x "$wrap/sqlite3" "$wrap/run-test"
export PATH="$wrap:$PATH"

# Check once that the preloaded shell loads the module and reports nothing.
probe=$(printf '.load %s\nSELECT prometheus_sink_version();\n' "$PWD/$build/prometheus_sink" | sqlite3 -batch :memory: 2>&1)
if ! [[ "$probe" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "$probe" | head -20; summary_fail "the preloaded sqlite3 shell cannot load $build/prometheus_sink.so"
fi

start=$SECONDS
rm -f "$build"/meson-logs/sanitize*.json
# Sanitized code runs several times slower: allow three times the timeouts.
meson test -C "$build" --no-rebuild --print-errorlogs --num-processes "${TEST_JOBS:-2}" --timeout-multiplier 3 \
  --wrapper "$wrap/run-test" --logbase sanitize "$@"   # log: meson-logs/sanitize-run-test.json (meson appends the wrapper name)
status=$?
echo "sanitizers: tests ran in $((SECONDS - start)) s"

read -r passed failed < <(/usr/bin/python3 scripts/meson_counts.py "$build/meson-logs/sanitize-run-test.json")
if [ "$status" -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then failed=1; fi
echo "sanitizers: ${passed:-0} passed, ${failed:-1} failed"
[ "${failed:-1}" -eq 0 ]
