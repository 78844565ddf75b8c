#!/usr/bin/env bash
# Builds the CNI plugin, bin/weft-cni: the small C forwarder in shim/, linked statically when the C
# library allows it (else against the host's libc only). The supported CNI versions it answers VERSION
# with are taken from packages/cni/src/versions.ts, so the plugin and the agent's CNI library agree.
# --if-stale: do nothing when bin/weft-cni is newer than every source it is built from.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
out=bin/weft-cni
sources=(shim packages/cni/src/versions.ts scripts/build-cni.sh)
max_bytes=$((5 * 1024 * 1024))

if [ "${1:-}" = "--if-stale" ] && [ -x "$out" ] && [ -z "$(find "${sources[@]}" -newer "$out" -print -quit)" ]; then
  exit 0
fi

cc=${CC:-cc}
command -v "$cc" >/dev/null 2>&1 || { echo "weft: no C compiler ($cc) to build $out; install gcc" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/weft-cni-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "weft: building $out" >&2
node --input-type=module -e '
  const { SUPPORTED_VERSIONS, LATEST_VERSION } = await import(process.argv[1])
  const version = JSON.stringify({ cniVersion: LATEST_VERSION, supportedVersions: SUPPORTED_VERSIONS })
  const about = `CNI weft plugin: IPAM from the weft agent'"'"'s socket\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(", ")}\n`
  // A JSON string of ASCII text is a C string literal too.
  console.log(`#define VERSION_JSON ${JSON.stringify(version)}\n#define ABOUT_TEXT ${JSON.stringify(about)}\n#define LATEST_VERSION ${JSON.stringify(LATEST_VERSION)}`)
' "$root/packages/cni/src/versions.ts" > "$work/versions.h"
flags=(-std=c11 -Os -Wall -Wextra -Werror -I"$work" -o "$work/weft-cni" shim/weft-cni.c shim/json.c)
"$cc" -static -s "${flags[@]}" 2>"$work/cc.log" || "$cc" -s "${flags[@]}" || { cat "$work/cc.log" >&2; exit 1; }
if ! CNI_COMMAND=VERSION "$work/weft-cni" </dev/null | grep -q supportedVersions; then
  echo "weft: the built $out does not answer VERSION" >&2
  exit 1
fi
size=$(stat -c %s "$work/weft-cni")
[ "$size" -le "$max_bytes" ] || { echo "weft: $out is $size bytes, more than 5 MiB" >&2; exit 1; }
mkdir -p bin
mv "$work/weft-cni" "$out"
