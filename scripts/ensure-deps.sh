#!/bin/sh
# Installs the npm dependencies (at the locked versions) when they are missing
# or out of date, then compiles. Used by `npm start` and `npm test` so that a fresh clone needs
# nothing else. better-sqlite3 and argon2 compile from source (about a minute); the
# native flow receiver needs g++, make and python3 (node-gyp).
set -eu
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # `npm install` rather than `npm ci`: chdb's optional per-platform packages for
  # other platforms are absent from the lock file, which `npm ci` rejects.
  echo "mamori: installing npm dependencies..." >&2
  npm install --no-audit --no-fund --loglevel=error >&2
fi
# The native flow receiver (binding.gyp): rebuilt when its source changed. Without it the
# flow inlet still runs, on node:dgram, and says so in its log and status.
addon=build/Release/flow_receiver.node
if [ ! -f "$addon" ] || [ native/flow-receiver/receiver.cc -nt "$addon" ] || [ binding.gyp -nt "$addon" ]; then
  echo "mamori: building the native flow receiver..." >&2
  npx --no-install node-gyp rebuild --loglevel=error >&2 || echo "mamori: the native flow receiver could not be built; flows will be received with node:dgram" >&2
fi
npx --no-install tsc -p tsconfig.json
chmod +x dist/src/cli/main.js
