#!/usr/bin/env bash
# The test command: installs what is missing (Debian packages), builds, runs
# every kind of check once, where it adds coverage, and ends with one line
# "N passed, N failed". Exit status 0 only when none failed. Idempotent; run
# from anywhere.
#
# Four build folders (scripts/sanitizer_build.sh), each built only as far as
# its checks need, one after the other (BUILD_JOBS=2 compilers, at a lower
# priority than the checks); each folder's checks start as soon as it is
# built and run while the next one builds:
#   build       release (gcc)  the real receivers (Prometheus, VictoriaMetrics),
#                              the SQL scripts, the install suite and the
#                              interrupt test (meson suites real, sql,
#                              install, interrupt), then the SQL scripts
#                              under valgrind (scripts/valgrind.sh)
#   build-asan  ASan+UBSan     the unit, integration and receiver suites
#               (gcc, -O0)     (scripts/sanitize.sh), and that meson runs
#                              every suite of the integration program
#   build-tsan  TSan (gcc, -O1) the threaded integration suites (scripts/tsan.sh)
#   build-fuzz  clang, ASan+UBSan, libFuzzer: each fuzz target replays its
#                              committed inputs and fuzzes FUZZ_SECONDS (20)
#                              seconds, FUZZ_JOBS (2) targets at a time
#                              (scripts/fuzz.sh)
# Each meson test, sanitized test, TSan suite, fuzz target and valgrind
# script counts as one test in the total. Every stage's output is kept in
# build-logs/<stage>.log and shown when the stage ends; the last lines give
# each stage's time.
#
#   HARDENING=0 scripts/test.sh   # quick: the release build and every meson
#                                 # suite in it; no sanitizers, valgrind or fuzzing
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
start=$SECONDS
bash scripts/deps.sh || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }
. scripts/sanitizer_build.sh
logs=build-logs
rm -rf "$logs"; mkdir -p "$logs"
passed=0 failed=0

# Adds the counts of a stage's last line ("...: N passed, N failed", "N clean,
# N failed", ...): the first number passed, the second failed. A stage that
# printed no counts, or failed without counting a failure, counts one failure.
count() {
  local log=$1 rc=$2 p f
  read -r p f < <(tail -1 "$log" | grep -Eo '[0-9]+' | tr '\n' ' ')
  if [ -z "${f:-}" ]; then p=0 f=1; fi
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
}

if [ "${HARDENING:-1}" != 1 ]; then
  summary_fail() { echo "$1"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }
  build_targets plain meson-test-prereq   # what the tests need (not the benchmarks)
  build=$(build_dir plain)
  meson test -C "$build" --no-rebuild --print-errorlogs --num-processes 2 "$@"
  status=$?
  echo "meson: $(/usr/bin/python3 scripts/meson_counts.py "$build/meson-logs/testlog.json" | sed 's/ / passed, /') failed" \
    >"$logs/meson.log"
  count "$logs/meson.log" "$status"
  echo "(quick run, HARDENING=0: $((SECONDS - start)) s)"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
fi

# ---------------------------------------------------------------- stages
declare -A stage_pid stage_start
stage_order=()
timings=()

# Runs "$@" in the background as stage NAME, its output in build-logs/NAME.log.
start_stage() {
  local name=$1
  shift
  stage_start[$name]=$SECONDS
  ( t0=$SECONDS; "$@"; rc=$?; times >"$logs/$name.times"; echo $((SECONDS - t0)) >"$logs/$name.secs"; exit $rc ) \
    >"$logs/$name.log" 2>&1 &
  stage_pid[$name]=$!
  stage_order+=("$name")
}

# The user and system time of a stage's processes, in seconds, from the
# `times` it left (its second line: the children's, e.g. "1m2.5s 0m3.1s").
cpu_of() {
  awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } printf "%.0f", t }' \
    "$logs/$1.times" 2>/dev/null || echo "?"
}

# Shows a finished stage's output and adds its counts.
finish_stage() {
  local name=$1 rc=$2 secs cpu
  secs=$(cat "$logs/$name.secs" 2>/dev/null || echo $((SECONDS - ${stage_start[$name]})))
  cpu=$(cpu_of "$name")
  echo "---------------------------------------------------------------- $name ($secs s)"
  cat "$logs/$name.log"
  count "$logs/$name.log" "$rc"
  timings+=("$(printf '%-16s %4d s wall, %4s s CPU (from %d s)' "$name" "$secs" "$cpu" "${stage_start[$name]}")")
}

# Shows every stage that has ended since the last call (all of them with "all").
reap() {
  local name
  for name in "${stage_order[@]}"; do
    local pid=${stage_pid[$name]:-}
    [ -n "$pid" ] || continue
    if [ "${1:-}" = all ] || ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"
      finish_stage "$name" $?
      stage_pid[$name]=
    fi
  done
}

# Builds folder NAME's TARGETS as a stage of its own (a failed build counts
# one failure and skips that folder's checks). Returns 1 on failure.
build_stage() {
  local name=$1 t0=$SECONDS rc
  shift
  (
    summary_fail() { echo "$1"; echo "build-$name: 0 passed, 1 failed"; exit 1; }
    build_targets "$name" "$@"
    times >"$logs/build-$name.times"
  ) >"$logs/build-$name.log" 2>&1
  rc=$?
  timings+=("$(printf '%-16s %4d s wall, %4s s CPU (from %d s)' "build-$name" $((SECONDS - t0)) "$(cpu_of "build-$name")" "$t0")")
  if [ $rc -ne 0 ]; then
    echo "---------------------------------------------------------------- build-$name"
    cat "$logs/build-$name.log"
    count "$logs/build-$name.log" $rc
    return 1
  fi
  echo "built $(build_dir "$name") in $((SECONDS - t0)) s"
}

# The release build's checks: the meson suites, then valgrind on its module.
release_checks() {
  local build status
  build=$(build_dir plain)
  meson test -C "$build" --no-rebuild --print-errorlogs --num-processes 2 \
    --suite real --suite sql --suite install --suite interrupt
  status=$?
  read -r p f < <(/usr/bin/python3 scripts/meson_counts.py "$build/meson-logs/testlog.json")
  if [ "$status" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then f=1; fi
  VALGRIND_SKIP_BUILD=1 bash scripts/valgrind.sh >"$logs/valgrind.out" 2>&1
  local vrc=$?
  cat "$logs/valgrind.out"
  read -r vp vf < <(tail -1 "$logs/valgrind.out" | grep -Eo '[0-9]+' | tr '\n' ' ')
  if [ -z "${vf:-}" ] || { [ $vrc -ne 0 ] && [ "$vf" -eq 0 ]; }; then vf=$((${vf:-0} + 1)); fi
  echo "release: $((${p:-0} + ${vp:-0})) passed, $((${f:-1} + vf)) failed"
}

# The sanitized suites, and one more check: meson registers one test per
# suite of the integration program, by a list of its own in
# tests/integration/meson.build; a suite missing there would never run.
asan_checks() {
  local build listed registered missing
  build=$(build_dir asan)
  bash scripts/sanitize.sh >"$logs/sanitize.out" 2>&1
  local rc=$?
  cat "$logs/sanitize.out"
  read -r p f < <(tail -1 "$logs/sanitize.out" | grep -Eo '[0-9]+' | tr '\n' ' ')
  if [ -z "${f:-}" ] || { [ $rc -ne 0 ] && [ "$f" -eq 0 ]; }; then f=$((${f:-0} + 1)); fi
  listed=$("$build/tests/integration/integration_test" --list-test-suites --no-version 2>&1 |
             awk '/^====/ { n++; next } n == 1 { print }' | sort)
  registered=$(meson test -C "$build" --no-rebuild --list --suite integration 2>/dev/null |
                 sed -n 's/.* integration-//p' | sort)
  missing=$(comm -3 <(echo "$listed") <(echo "$registered"))
  if [ -n "$listed" ] && [ -z "$missing" ]; then
    p=$((p + 1)); echo "suites: meson runs every suite of the integration program ($(echo $listed | wc -w))"
  else
    f=$((f + 1)); echo "suites: the integration program's suites and tests/integration/meson.build's differ:"; echo "$missing"
  fi
  echo "asan: ${p:-0} passed, $f failed"
}

# The builds run at a lower priority than the checks, which wait for
# receivers, time retries and fuzz for a fixed time.
export BUILD_NICE=10

# Configuring is one process per folder: all four at once.
for name in plain asan tsan fuzz; do
  ( summary_fail() { echo "$1"; exit 1; }; configure_build "$name" ) >"$logs/configure-$name.log" 2>&1 &
done
wait
timings+=("$(printf '%-16s %4d s wall' "deps, configure" "$SECONDS")")

if build_stage plain prometheus_sink.so libprometheus_sink_static.a tests/install/sample_receiver \
     tests/interrupt/interrupt_test; then
  start_stage release release_checks
fi
reap
if build_stage asan prometheus_sink.so tests/unit/unit_tests tests/integration/integration_test \
     tests/receiver/receiver_test; then
  start_stage asan asan_checks
fi
reap
if build_stage tsan prometheus_sink.so tests/integration/integration_test; then
  start_stage tsan bash scripts/tsan.sh
fi
reap
if build_stage fuzz tests/fuzz/fuzz_options tests/fuzz/fuzz_labels tests/fuzz/fuzz_value_ts \
     tests/fuzz/fuzz_row_to_request tests/fuzz/fuzz_histogram tests/fuzz/fuzz_spool_batch \
     tests/fuzz/fuzz_query; then
  start_stage fuzz env FUZZ_SECONDS="${FUZZ_SECONDS:-20}" FUZZ_JOBS="${FUZZ_JOBS:-2}" bash scripts/fuzz.sh
fi
reap all

echo "---------------------------------------------------------------- times"
printf '%s\n' "${timings[@]}"
echo "total            $((SECONDS - start)) s (load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
