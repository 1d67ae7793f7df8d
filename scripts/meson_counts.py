#!/usr/bin/python3
"""Prints "PASSED FAILED" counted from a meson test log (meson-logs/*.json, one
JSON object per test): OK and EXPECTEDFAIL pass, SKIP is not counted, anything
else fails. Used by scripts/test.sh and scripts/sanitize.sh."""
import json
import sys

passed = failed = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    result = json.loads(line)["result"]
    if result in ("OK", "EXPECTEDFAIL"):
        passed += 1
    elif result != "SKIP":
        failed += 1
print(passed, failed)
