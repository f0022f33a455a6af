#!/bin/sh
# `npm start`: run the server on embedded defaults (127.0.0.1:8470, ./data).
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-deps.sh
exec node dist/src/cli/main.js serve "$@"
