#!/bin/sh
# Installs playwright-core for the browser tests into tests/console/node_modules (npm ci, from
# the committed package-lock.json), once. playwright-core never downloads a browser: the tests
# drive Debian's /usr/bin/chromium (scripts/install-deps.sh installs it).
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
cd "$dir"
[ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ] && exit 0
command -v npm >/dev/null 2>&1 || { echo "tests/console/install.sh: npm is not installed (scripts/install-deps.sh)" >&2; exit 1; }
exec 9>"$dir/.install.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
[ -f node_modules/.package-lock.json ] && [ ! package-lock.json -nt node_modules/.package-lock.json ] && exit 0
npm ci --no-audit --no-fund >&2
