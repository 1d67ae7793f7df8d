# Sourced by scripts/test.sh, sanitize.sh, tsan.sh, fuzz.sh and valgrind.sh:
# the build folders of the checks, each configured once and built only as
# far as its checks need.
#
#   configure_build NAME          # meson setup of build folder NAME (below), once
#   build_targets NAME [TARGET…]  # ninja in it: the TARGETs, or everything
#   build_dir NAME                # its path (BUILD_<NAME> overrides, e.g. BUILD_ASAN=/tmp/a)
#
# The folders (what runs in them: scripts/test.sh):
#   plain  build       the release build (meson's defaults, gcc)
#   asan   build-asan  gcc, -Db_sanitize=address,undefined, -O0 -g
#   tsan   build-tsan  gcc, -Db_sanitize=thread, -O1 -g
#   fuzz   build-fuzz  clang, address,undefined, -O1 -g, -Dfuzzing=true with the
#                      units instrumented for coverage (-fsanitize=fuzzer-no-link)
# b_lundef=false: with sanitizers, meson needs it to link a shared module.
# ninja runs BUILD_JOBS (2) compilers at a time, niced by BUILD_NICE (0); its
# output goes to <folder>/ninja.log. On failure the callers' summary_fail(message) is called.

build_dir() {
  case "$1" in
    plain) echo "${BUILD_PLAIN:-build}" ;;
    asan) echo "${BUILD_ASAN:-build-asan}" ;;
    tsan) echo "${BUILD_TSAN:-build-tsan}" ;;
    fuzz) echo "${BUILD_FUZZ:-build-fuzz}" ;;
    *) echo "unknown build folder '$1'" >&2; return 1 ;;
  esac
}

configure_build() {
  local name=$1 dir log
  dir=$(build_dir "$name") || return 1
  [ -f "$dir/build.ninja" ] && return 0
  local args=()
  case "$name" in
    plain) ;;
    asan) args=(-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug) ;;
    tsan) args=(-Db_sanitize=thread -Db_lundef=false -Dbuildtype=debug -Doptimization=1) ;;
    fuzz) args=(-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug -Doptimization=1
                -Dfuzzing=true -Dcpp_args=-fsanitize=fuzzer-no-link) ;;
  esac
  log=$(mktemp)
  if [ "$name" = fuzz ]; then
    command -v clang++ >/dev/null || { rm -f "$log"; summary_fail "clang++ not found (scripts/deps.sh installs clang)"; }
    CC=clang CXX=clang++ meson setup "$dir" "${args[@]}" >"$log" 2>&1
  else
    meson setup "$dir" "${args[@]}" >"$log" 2>&1
  fi
  if [ $? -ne 0 ]; then
    cat "$log"; rm -f "$log"; rm -rf "$dir"; summary_fail "meson setup $dir failed"
  fi
  rm -f "$log"
}

build_targets() {
  local name=$1 dir
  shift
  configure_build "$name"
  dir=$(build_dir "$name") || return 1
  if ! nice -n "${BUILD_NICE:-0}" ninja -C "$dir" -j "${BUILD_JOBS:-2}" "$@" >"$dir/ninja.log" 2>&1; then
    tail -50 "$dir/ninja.log"; summary_fail "build of $dir failed"
  fi
}
