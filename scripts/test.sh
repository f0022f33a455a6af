#!/bin/sh
# `npm test`: the whole suite. Installs what it needs, compiles, runs every
# test file with node's test runner (each file in its own process).
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-deps.sh
files=$(find dist/test -name '*.test.js' | sort)
exec node --test --test-reporter=spec --test-timeout=300000 $files
