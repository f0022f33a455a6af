#!/bin/sh
# Installs the npm dependencies (at the locked versions) when they are missing
# or out of date, builds the native flow receiver when its source changed, and
# compiles when a TypeScript source changed since the last compile, and builds
# the operator console (console/) when its sources changed. Used by
# `npm start` and `npm test` so that a fresh clone needs nothing else. Each step
# says what it does and how long it took (the first start takes a few minutes:
# better-sqlite3 and argon2 compile from source, then the TypeScript); when
# everything is up to date it says nothing and takes a moment.
set -eu
cd "$(dirname "$0")/.."
say() { echo "mamori: $*" >&2; }
started=$(date +%s)
took() { echo "$(( $(date +%s) - started )) s"; }

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # `npm install` rather than `npm ci`: chdb's optional per-platform packages for
  # other platforms are absent from the lock file, which `npm ci` rejects.
  say "installing npm dependencies (better-sqlite3 and argon2 compile from source: a minute or two)..."
  npm install --no-audit --no-fund --loglevel=error >&2
  say "npm dependencies installed ($(took))"
fi
# The native flow receiver (binding.gyp): rebuilt when its source changed. Without it the
# flow inlet still runs, on node:dgram, and says so in its log and status.
addon=build/Release/flow_receiver.node
if [ ! -f "$addon" ] || [ native/flow-receiver/receiver.cc -nt "$addon" ] || [ binding.gyp -nt "$addon" ]; then
  say "building the native flow receiver (node-gyp)..."
  if npx --no-install node-gyp rebuild --loglevel=error >&2; then
    say "native flow receiver built ($(took))"
  else
    say "the native flow receiver could not be built; flows will be received with node:dgram"
  fi
fi
# Compiled once per change: a stamp written after a good compile, compared with every source.
stamp=dist/.build-stamp
changed=""
if [ -f "$stamp" ]; then
  changed=$(find src test bench scripts tsconfig.json -newer "$stamp" \( -name '*.ts' -o -name tsconfig.json \) -print 2>/dev/null \
    | head -n 1)
fi
if [ ! -f "$stamp" ] || [ -n "$changed" ]; then
  say "compiling the TypeScript sources into dist/ (about a minute)..."
  npx --no-install tsc -p tsconfig.json
  mkdir -p dist
  touch "$stamp"
  say "compiled ($(took))"
fi
chmod +x dist/src/cli/main.js
# The operator console (console/: Vue, built by Vite into dist/console, served by the API server):
# built once per change of its sources or of the locked dependencies.
cstamp=dist/.console-stamp
cchanged=""
if [ -f "$cstamp" ]; then
  cchanged=$(find console package-lock.json -newer "$cstamp" -type f -print 2>/dev/null | head -n 1)
fi
# (A tree without console/ sources, such as a test's copy of this script, has nothing to build.)
if [ -d console ] && { [ ! -f "$cstamp" ] || [ ! -f dist/console/index.html ] || [ -n "$cchanged" ]; }; then
  say "type-checking (vue-tsc) and building (Vite) the operator console into dist/console..."
  npx --no-install vue-tsc --noEmit -p console/tsconfig.json
  npx --no-install vite build --config console/vite.config.mjs >&2
  mkdir -p dist
  touch "$cstamp"
  say "console built ($(took))"
fi
