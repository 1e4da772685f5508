#!/usr/bin/env bash
# Builds flinkbr and its web console and starts it on its embedded default: 127.0.0.1:8080,
# state (SQLite database, LocalDir backups, logs) in ./flinkbr-state, and a demo cluster to back
# up and restore.
# The first start prints the administrator's password and writes it to
# ./flinkbr-state/initial-admin-password.
set -euo pipefail
cd "$(dirname "$0")/.."
# The build's progress goes to a log, not the terminal: shown only when the build fails.
mkdir -p build
log=build/run-build.log
echo "run.sh: building flinkbr and its console (the first time takes a few minutes; log: $log)" >&2
build() {
  ./scripts/build.sh &&
    # The web console (web/dist, found by the daemon above its binary); skipped when up to date.
    ./web/build.sh
}
if ! build >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "run.sh: the build failed; the whole log is in $log" >&2
  exit 1
fi
echo "run.sh: the console is at http://127.0.0.1:8080/ (unless --config or FLINKBR_LISTEN says otherwise)" >&2
exec ./build/flinkbr serve "$@"
