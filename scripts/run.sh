#!/usr/bin/env bash
# Builds flinkbr and starts it on its embedded default: 127.0.0.1:8080, state (SQLite database,
# LocalDir backups, logs) in ./flinkbr-state, and a demo cluster to back up and restore.
# The first start prints the administrator's password and writes it to
# ./flinkbr-state/initial-admin-password.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
exec ./build/flinkbr serve "$@"
