#!/bin/sh
# Installs the S3 server of the integration tests, @20minutes/s3rver (a fork of s3rver that
# checks Signature V4), into tests/servers/node_modules, once. The storage tests call it when the
# package is missing and then start the server themselves:
#   node --openssl-legacy-provider tests/servers/s3rver.js \
#     -d DIR -a 127.0.0.1 -p PORT --configure-bucket BUCKET
# Usage: s3rver.sh [install]   (exit status non-zero, with the reason, when it cannot)
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
cli="$dir/node_modules/@20minutes/s3rver/lib/cli.js"
[ -f "$cli" ] && exit 0
command -v node >/dev/null 2>&1 || { echo "s3rver.sh: node is not installed (apt-get install nodejs npm)" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "s3rver.sh: npm is not installed (apt-get install npm)" >&2; exit 1; }
# Parallel test processes may get here together: one installs, the others wait.
exec 9>"$dir/.install.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
[ -f "$cli" ] && exit 0
cd "$dir"
npm install --no-audit --no-fund >&2
[ -f "$cli" ] || { echo "s3rver.sh: npm install did not provide $cli" >&2; exit 1; }
