#!/usr/bin/env bash
# Installs every Debian package the build, the demo and the tests need.
# Idempotent: does nothing when all are present. Needs root (or sudo).
# Also fetches a newer SQLite's amalgamation for the interrupt tests.
set -euo pipefail
pkgs=(meson ninja-build pkg-config g++ clang libclang-rt-14-dev valgrind
      sqlite3 libsqlite3-dev libcurl4-openssl-dev libprotobuf-dev protobuf-compiler
      libsnappy-dev libssl-dev doctest-dev nlohmann-json3-dev
      prometheus victoria-metrics curl python3)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# A newer SQLite's amalgamation, for the interrupt tests (scripts/newer_sqlite.sh).
bash "$(dirname "$0")/newer_sqlite.sh"
