#!/usr/bin/env bash
# Builds the CNI plugin as one self-contained executable, bin/weft-cni: the plugin bundled by esbuild
# into one CommonJS file, wrapped as a Node single executable application (the project's Node binary
# with the bundle and its V8 code cache injected by postject). The host needs no Node to run it.
# --if-stale: do nothing when bin/weft-cni is newer than every source it is built from.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=bin/weft-cni
sources=(packages/cni/src packages/protocol/src scripts/build-cni.sh)

if [ "${1:-}" = "--if-stale" ] && [ -x "$out" ] && [ -z "$(find "${sources[@]}" -newer "$out" -print -quit)" ]; then
  exit 0
fi

bin=packages/cni/node_modules/.bin
work=$(mktemp -d "${TMPDIR:-/tmp}/weft-cni-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "weft: building $out" >&2
"$bin/esbuild" packages/cni/src/main.ts --bundle --platform=node --format=cjs --target=node24 \
  --outfile="$work/weft-cni.cjs" --log-level=warning
cat > "$work/sea.json" <<JSON
{ "main": "$work/weft-cni.cjs", "output": "$work/weft-cni.blob",
  "disableExperimentalSEAWarning": true, "useCodeCache": true }
JSON
node --experimental-sea-config "$work/sea.json" >"$work/sea.log" 2>&1 || { cat "$work/sea.log" >&2; exit 1; }
cp "$(command -v node)" "$work/weft-cni"
# postject warns about ELF note sections it does not know; the injection itself is checked below.
"$bin/postject" "$work/weft-cni" NODE_SEA_BLOB "$work/weft-cni.blob" \
  --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >/dev/null 2>&1
if ! CNI_COMMAND=VERSION "$work/weft-cni" </dev/null | grep -q supportedVersions; then
  echo "weft: the built $out does not answer VERSION" >&2
  exit 1
fi
mkdir -p bin
mv "$work/weft-cni" "$out"
