#!/usr/bin/env bash
# The whole suite: system packages for the network tests (as root), type check, then every test.
# Ends with one line "tests: N passed, N failed, N skipped".
set -uo pipefail
bash scripts/system-deps.sh
bash scripts/build-cni.sh --if-stale
bash scripts/build-weft.sh --if-stale || exit 1
mkdir -p .tmp
echo "== typecheck"
tsc -p tsconfig.json || exit 1
echo "== tests"
vitest run --reporter=default --reporter=json --outputFile=.tmp/vitest.json "$@"
rc=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(".tmp/vitest.json", "utf8"))
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`)
' || true
exit $rc
