#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with meson in build-fuzz (clang,
# address and undefined-behaviour sanitizers, -Dfuzzing=true:
# scripts/sanitizer_build.sh, meson_options.txt), replays every committed
# corpus and regression input once, then fuzzes each target for a bounded
# time.
#
#   scripts/fuzz.sh                      # every target, 30 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh     # longer, on demand
#   scripts/fuzz.sh fuzz_options         # some targets only
#   FUZZ_SECONDS=0 scripts/fuzz.sh       # build and replay only
#   FUZZ_JOBS=2 scripts/fuzz.sh          # two targets at a time (one core each)
#
# Prints the executions per target (libFuzzer's stat::number_of_executed_units)
# and ends with "fuzz: N clean, N failed". Exit status 0 only when no target
# crashed. A crashing input is left in build-fuzz/fuzz/crashes/<target>/ (the
# path is printed); keep it in tests/fuzz/regressions/<target>/ once fixed.
# New inputs the fuzzer finds go to build-fuzz/fuzz/corpus/<target>/, never
# into the committed tests/fuzz/corpus/. Builds with BUILD_JOBS (2) compilers.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
seconds=${FUZZ_SECONDS:-30}
all_targets=(fuzz_options fuzz_labels fuzz_value_ts fuzz_row_to_request fuzz_histogram fuzz_spool_batch fuzz_query)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
summary_fail() { echo "fuzz: $1"; echo "fuzz: 0 clean, ${#targets[@]} failed"; exit 1; }
. scripts/sanitizer_build.sh
build=$(build_dir fuzz)

start=$SECONDS
programs=()
for t in "${targets[@]}"; do programs+=("tests/fuzz/$t"); done
build_targets fuzz "${programs[@]}"
echo "fuzz: built ${#targets[@]} targets in $build in $((SECONDS - start)) s"
out=$root/$build/fuzz

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# One target: replays the committed inputs, then fuzzes; prints its report
# and, last, "clean" or "failed".
fuzz_one() {
  local t=$1 bin=$root/$build/tests/fuzz/$1
  local seeds=$root/tests/fuzz/corpus/$t regressions=$root/tests/fuzz/regressions/$t
  local work=$out/corpus/$t crashes=$out/crashes/$t log=$out/logs/$t.log
  mkdir -p "$work" "$crashes" "$out/logs"
  local dict=() dirs=() n t0 rc execs cov artifact
  [ -f "$root/tests/fuzz/$t.dict" ] && dict=(-dict="$root/tests/fuzz/$t.dict")
  # A target's own libFuzzer flags, one a line, after the defaults (a later flag wins).
  local own=()
  [ -f "$root/tests/fuzz/$t.options" ] && mapfile -t own < <(grep -v '^#' "$root/tests/fuzz/$t.options")
  for d in "$seeds" "$regressions"; do [ -d "$d" ] && dirs+=("$d"); done
  n=$(find "${dirs[@]}" -type f 2>/dev/null | wc -l)

  # 1. Every committed input once: corpus and past crashes must pass.
  if [ ${#dirs[@]} -gt 0 ] && ! "$bin" -runs=0 "${dirs[@]}" >"$log.replay" 2>&1; then
    echo "fuzz: $t: FAILED replaying the committed inputs:"
    grep -E "Running:|ERROR|invariant|runtime error|SUMMARY" "$log.replay" | tail -15
    echo "  full log: $log.replay"
    echo failed; return
  fi
  if [ "$seconds" -le 0 ]; then
    echo "fuzz: $t: replayed $n inputs"; echo clean; return
  fi

  # 2. Fuzz for a bounded time, starting from the committed inputs.
  t0=$SECONDS
  "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
    -use_value_profile=1 -artifact_prefix="$crashes/" "${dict[@]}" "${own[@]}" "$work" "${dirs[@]}" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1)
  if [ $rc -ne 0 ]; then
    echo "fuzz: $t: CRASHED after $((SECONDS - t0)) s (${execs:-?} executions)"
    grep -E "ERROR|invariant|runtime error|SUMMARY|Test unit written to" "$log" | head -15
    artifact=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
    [ -n "$artifact" ] && echo "  crashing input: $artifact (replay: $bin $artifact)"
    echo "  full log: $log"
    echo failed
  else
    echo "fuzz: $t: ${execs:-?} executions in $((SECONDS - t0)) s, ${cov:-cov: ?}, corpus $(find "$work" -type f | wc -l) inputs, replayed $n"
    echo clean
  fi
}
export -f fuzz_one
export root build out seconds

clean=0 failed=0
while IFS= read -r line; do
  case "$line" in
    clean) clean=$((clean + 1)) ;;
    failed) failed=$((failed + 1)) ;;
    *) echo "$line" ;;
  esac
done < <(printf '%s\n' "${targets[@]}" |
           xargs -P "${FUZZ_JOBS:-1}" -I{} bash -c 'r=$(fuzz_one "$1"); echo "$r"' _ {})
wait $! 2>/dev/null  # the process substitution: its CPU time then counts as this script's children's
echo "fuzz: $clean clean, $failed failed"
[ "$failed" -eq 0 ] && [ $((clean + failed)) -eq ${#targets[@]} ]
