#!/usr/bin/env bash
# Every benchmark, each printing its own table.
set -euo pipefail
bash scripts/build-weft.sh --if-stale
# e2e/bench/podman-run.ts needs root and podman; it says so and skips without them.
for b in packages/ring/bench/main.ts packages/agent/bench/main.ts packages/agent/bench/shares.ts packages/agent/bench/mesh.ts packages/cni/bench/main.ts e2e/bench/podman-run.ts; do
  node --expose-gc "$b"
done
