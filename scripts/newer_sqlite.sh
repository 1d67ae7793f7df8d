#!/usr/bin/env bash
# Fetches the SQLite 3.53.2 amalgamation (sqlite3.c, sqlite3.h, sqlite3ext.h)
# into third_party/sqlite-3.53/, for the test host program that checks
# interrupts (sqlite3_is_interrupted exists from SQLite 3.41; Debian bookworm
# has 3.40). It comes from the npm registry, inside the better-sqlite3 12.11.1
# package tarball (deps/sqlite3/), checked against a pinned SHA-256.
# Idempotent: does nothing when the files are there.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=third_party/sqlite-3.53
[ -f "$dest/sqlite3.c" ] && [ -f "$dest/sqlite3.h" ] && [ -f "$dest/sqlite3ext.h" ] && exit 0
url=https://registry.npmjs.org/better-sqlite3/-/better-sqlite3-12.11.1.tgz
sha=ebf0ed75a7a59dbcb3b24bbd014ef49d9f15bc328e4adcbf516f2a8fadfa2835
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
curl -fsSL --retry 3 -o "$tmp/pkg.tgz" "$url"
echo "$sha  $tmp/pkg.tgz" | sha256sum -c --quiet -
tar -xzf "$tmp/pkg.tgz" -C "$tmp" package/deps/sqlite3/sqlite3.c package/deps/sqlite3/sqlite3.h \
    package/deps/sqlite3/sqlite3ext.h
mkdir -p "$dest"
mv "$tmp"/package/deps/sqlite3/sqlite3{.c,.h,ext.h} "$dest/"
echo "fetched the SQLite 3.53.2 amalgamation into $dest" >&2
