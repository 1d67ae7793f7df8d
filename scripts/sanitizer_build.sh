# Sourced by scripts/sanitize.sh and scripts/tsan.sh: sets up (once) and
# builds a build folder of their own with sanitizers.
#
#   sanitizer_build DIR SANITIZERS [TARGET...]   # e.g. build-tsan thread
#
# Configures DIR with -Db_sanitize=SANITIZERS -Db_lundef=false (meson needs
# it to link a shared module with sanitizers) -Dbuildtype=debug, then builds
# TARGETs (everything when none) with at most SANITIZE_BUILD_JOBS (2) jobs.
# On failure shows the log and calls the caller's summary_fail.
sanitizer_build() {
  local build=$1 sanitizers=$2 log
  shift 2
  if [ ! -f "$build/build.ninja" ]; then
    log=$(mktemp)
    if ! meson setup "$build" -Db_sanitize="$sanitizers" -Db_lundef=false -Dbuildtype=debug >"$log" 2>&1; then
      cat "$log"; rm -f "$log"; summary_fail "meson setup $build failed"
    fi
    rm -f "$log"
  fi
  if ! ninja -C "$build" -j "${SANITIZE_BUILD_JOBS:-2}" "$@" >"$build/ninja.log" 2>&1; then
    tail -50 "$build/ninja.log"; summary_fail "build of $build failed"
  fi
}
