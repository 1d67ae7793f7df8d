#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with clang (address and
# undefined-behaviour sanitizers), replays every committed corpus and
# regression input once, then fuzzes each target for a bounded time.
#
#   scripts/fuzz.sh                      # every target, 30 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh     # longer, on demand
#   scripts/fuzz.sh fuzz_options         # some targets only
#   FUZZ_SECONDS=0 scripts/fuzz.sh       # build and replay only
#
# Prints the executions per target (libFuzzer's stat::number_of_executed_units)
# and ends with "fuzz: N clean, N failed". Exit status 0 only when no target
# crashed. A crashing input is left in build-fuzz/crashes/<target>/ (the path
# is printed); keep it in tests/fuzz/regressions/<target>/ once fixed.
# New inputs the fuzzer finds go to build-fuzz/corpus/<target>/, never into
# the committed tests/fuzz/corpus/. Builds with at most FUZZ_BUILD_JOBS (2)
# compiler processes; the targets run one after the other.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
out=$root/build-fuzz
seconds=${FUZZ_SECONDS:-30}
jobs=${FUZZ_BUILD_JOBS:-2}
all_targets=(fuzz_options fuzz_labels fuzz_value_ts fuzz_row_to_request fuzz_histogram)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

CXX=${FUZZ_CXX:-clang++}
command -v "$CXX" >/dev/null || { echo "fuzz: $CXX not found (scripts/deps.sh installs clang)"; echo "fuzz: 0 clean, 1 failed"; exit 1; }

# The core: every unit of src/ but the SQLite glue, in an archive, so that a
# target links only what it uses (none needs libcurl today; -lcurl is there
# for when one does).
core=()
for f in src/*.cc; do
  case "$(basename "$f")" in vtab.cc|stats_vtab.cc) ;; *) core+=("$(basename "$f" .cc)") ;; esac
done

mkdir -p "$out/gen" "$out/obj" "$out/bin"
# A generated ninja file: incremental, header dependencies tracked, -j bounded.
{
  cat <<EOF
builddir = $out
cxx = $CXX
san = -fsanitize=address,undefined -fno-sanitize-recover=all
cxxflags = -std=c++20 -g -O1 -fno-omit-frame-pointer \$san -fsanitize=fuzzer-no-link -Wall -Wextra -Wno-unused-parameter -DPROMETHEUS_SINK_VERSION=\"fuzz\" -I$root/src -I$out/gen -I$root/tests/fuzz
libs = -lprotobuf -lsnappy -lcurl -lpthread

rule protoc
  command = protoc --proto_path=$root/proto --cpp_out=$out/gen \$in
  description = protoc \$in
rule cxx
  command = \$cxx -MMD -MF \$out.d \$cxxflags \$extra -c \$in -o \$out
  depfile = \$out.d
  deps = gcc
  description = cxx \$out
rule ar
  command = rm -f \$out && ar crs \$out \$in
  description = ar \$out
rule link
  command = \$cxx \$san -fsanitize=fuzzer \$in -o \$out \$libs
  description = link \$out

EOF
  protos=""; headers=""
  for f in proto/*.proto; do
    p=$(basename "$f" .proto)
    echo "build $out/gen/$p.pb.cc $out/gen/$p.pb.h: protoc $root/proto/$p.proto"
    echo "build $out/obj/$p.pb.o: cxx $out/gen/$p.pb.cc"
    echo "  extra = -w"
    protos+=" $out/obj/$p.pb.o"; headers+=" $out/gen/$p.pb.h"
  done
  objs=""
  for u in "${core[@]}"; do
    echo "build $out/obj/$u.o: cxx $root/src/$u.cc"
    objs+=" $out/obj/$u.o"
  done
  echo "build $out/obj/libcore.a: ar$objs"
  for t in "${all_targets[@]}"; do
    echo "build $out/obj/$t.o: cxx $root/tests/fuzz/$t.cc ||$headers"
    echo "build $out/bin/$t: link $out/obj/$t.o $out/obj/libcore.a$protos"
  done
} > "$out/build.ninja.new"
# Rewrite only on change, so that ninja does not rebuild for nothing.
if cmp -s "$out/build.ninja.new" "$out/build.ninja"; then rm "$out/build.ninja.new"; else mv "$out/build.ninja.new" "$out/build.ninja"; fi

start=$SECONDS
bins=()
for t in "${targets[@]}"; do bins+=("$out/bin/$t"); done
if ! ninja -f "$out/build.ninja" -j "$jobs" "${bins[@]}" >"$out/ninja.log" 2>&1; then
  tail -40 "$out/ninja.log"
  echo "fuzz: build failed"; echo "fuzz: 0 clean, ${#targets[@]} failed"; exit 1
fi
echo "fuzz: built ${#targets[@]} targets in $((SECONDS - start)) s"

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

clean=0; failed=0
for t in "${targets[@]}"; do
  bin=$out/bin/$t
  seeds=$root/tests/fuzz/corpus/$t
  regressions=$root/tests/fuzz/regressions/$t
  work=$out/corpus/$t
  crashes=$out/crashes/$t
  mkdir -p "$work" "$crashes" "$out/logs"
  log=$out/logs/$t.log
  dict=(); [ -f "$root/tests/fuzz/$t.dict" ] && dict=(-dict="$root/tests/fuzz/$t.dict")

  # 1. Every committed input once: corpus and past crashes must pass.
  replay=()
  for d in "$seeds" "$regressions"; do
    [ -d "$d" ] && while IFS= read -r -d '' f; do replay+=("$f"); done < <(find "$d" -type f -print0 | sort -z)
  done
  if [ ${#replay[@]} -gt 0 ] && ! "$bin" -runs=1 "${replay[@]}" >"$log.replay" 2>&1; then
    echo "fuzz: $t: FAILED replaying the committed inputs:"
    grep -E "Running:|ERROR|invariant|runtime error|SUMMARY" "$log.replay" | tail -15
    echo "  full log: $log.replay"
    failed=$((failed + 1)); continue
  fi

  if [ "$seconds" -le 0 ]; then
    echo "fuzz: $t: replayed ${#replay[@]} inputs"
    clean=$((clean + 1)); continue
  fi

  # 2. Fuzz for a bounded time, starting from the committed inputs.
  dirs=("$work")
  [ -d "$seeds" ] && dirs+=("$seeds")
  [ -d "$regressions" ] && dirs+=("$regressions")
  t0=$SECONDS
  "$bin" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
    -use_value_profile=1 -artifact_prefix="$crashes/" "${dict[@]}" "${dirs[@]}" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1)
  if [ $rc -ne 0 ]; then
    echo "fuzz: $t: CRASHED after $((SECONDS - t0)) s (${execs:-?} executions)"
    grep -E "ERROR|invariant|runtime error|SUMMARY|Test unit written to" "$log" | head -15
    artifact=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
    [ -n "$artifact" ] && echo "  crashing input: $artifact (replay: $bin $artifact)"
    echo "  full log: $log"
    failed=$((failed + 1))
  else
    echo "fuzz: $t: ${execs:-?} executions in $((SECONDS - t0)) s, ${cov:-cov: ?}, corpus $(find "$work" -type f | wc -l) inputs, replayed ${#replay[@]}"
    clean=$((clean + 1))
  fi
done
echo "fuzz: $clean clean, $failed failed"
[ "$failed" -eq 0 ]
