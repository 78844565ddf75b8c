#!/usr/bin/env bash
# Builds dist/weft.mjs: the weft command with the agent, bundled into one plain-JS file by esbuild
# (packages/cli/build/bundle.ts). bin/weft and the tests run it; the TypeScript sources stay the truth.
# --if-stale: do nothing when dist/weft.mjs is newer than every source it is built from.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=dist/weft.mjs
sources=(packages/*/src packages/*/package.json packages/cli/build pnpm-lock.yaml scripts/build-weft.sh)

if [ "${1:-}" = "--if-stale" ] && [ -f "$out" ] && [ -z "$(find "${sources[@]}" -newer "$out" -print -quit)" ]; then
  exit 0
fi
echo "weft: building $out" >&2
mkdir -p dist
# Written aside, then moved: agents started meanwhile never read half a file.
tmp=$(mktemp "dist/.weft.XXXXXX.mjs")
trap 'rm -f "$tmp" "$tmp.map"' EXIT
(cd packages/cli && node build/bundle.ts "$root/$tmp")
chmod 644 "$tmp"
# WEFT_SOURCEMAP=1: the bundle's source map beside it (for CPU profiles by source file); else none.
if [ -f "$tmp.map" ]; then mv "$tmp.map" "$out.map"; else rm -f "$out.map"; fi
mv "$tmp" "$out"
