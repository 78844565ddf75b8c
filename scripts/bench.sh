#!/usr/bin/env bash
# Every benchmark, each printing its own table.
set -euo pipefail
for b in packages/ring/bench/main.ts packages/agent/bench/main.ts packages/cni/bench/main.ts; do
  node --expose-gc "$b"
done
