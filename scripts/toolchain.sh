#!/usr/bin/env bash
# Brings the project's own Node 24 and pnpm (from the npm registry) when the machine's Node is
# older, installs the workspace, then runs the given command with them first on PATH.
# The system's Node is never touched.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tc="$root/.toolchain"
need_major=24

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ ! -x "$tc/node_modules/.bin/node" ] || [ "$(node_major "$tc/node_modules/.bin/node")" -lt "$need_major" ] \
   || [ ! -x "$tc/node_modules/.bin/pnpm" ]; then
  echo "weft: installing Node $need_major and pnpm 10 into .toolchain (once)" >&2
  npm i --silent --no-audit --no-fund --prefix "$tc" "node@$need_major" pnpm@10 >&2
fi
export PATH="$tc/node_modules/.bin:$root/node_modules/.bin:$PATH"
export npm_config_update_notifier=false

stamp="$root/node_modules/.weft-install-stamp"
if [ ! -f "$stamp" ] || [ "$root/pnpm-lock.yaml" -nt "$stamp" ]; then
  (cd "$root" && pnpm install --frozen-lockfile --reporter=silent >&2)
  touch "$stamp"
fi

cd "$root"
exec "$@"
