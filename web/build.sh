#!/bin/sh
# Builds the console into web/dist, the static files the daemon serves at /. Quick when nothing
# changed: `npm ci` only when package-lock.json is newer than the installed node_modules, and
# `vite build` only when a source is newer than dist/index.html. Needs node and npm
# (scripts/install-deps.sh). Parallel callers wait for each other.
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
cd "$dir"
command -v npm >/dev/null 2>&1 || { echo "web/build.sh: npm is not installed (scripts/install-deps.sh)" >&2; exit 1; }
exec 9>"$dir/.build.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
# npm writes node_modules/.package-lock.json after a complete install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "web/build.sh: installing the console's packages (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi
if [ ! -f dist/index.html ] ||
  [ -n "$(find src index.html vite.config.ts tsconfig.json package.json package-lock.json -newer dist/index.html -print 2>/dev/null | head -n 1)" ]; then
  echo "web/build.sh: building the console (vite build)" >&2
  npm run --silent build >&2
fi
