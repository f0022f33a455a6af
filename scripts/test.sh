#!/bin/sh
# `npm test`: the whole suite. Installs what it needs, compiles, checks the
# dependency rules, runs every test file with node's test runner (each file in its own process).
set -eu
cd "$(dirname "$0")/.."
sh scripts/ensure-deps.sh

# Lint and format first (eslint.config.js, .prettierrc.json: line width 140): a finding fails the run.
echo "mamori: lint (ESLint, typescript-eslint) and format check (Prettier)" >&2
npx --no-install eslint --max-warnings 0 .
npx --no-install prettier --check --log-level warn .

# Real peers (softflowd, nfdump …) from Debian, installed when missing.
missing=""
for pkg in $(grep -v '^#' test/debian-packages.txt); do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "mamori: installing test peers:$missing" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
  else
    echo "mamori: missing test peers:$missing (interop tests will be skipped)" >&2
  fi
fi

# The layering (.dependency-cruiser.cjs): a module importing across a forbidden line fails the run here.
node scripts/lint-deps.mjs

files=$(find dist/test -name '*.test.js' | sort)
exec node --test --test-reporter=spec --test-timeout=300000 $files
