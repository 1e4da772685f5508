#!/usr/bin/env bash
# Builds flinkbr and runs every test: unit tests beside each concept in src/, and end-to-end
# tests that start the real daemon and drive it with the real CLI (tests/e2e). Installs what
# the tests need first. Extra arguments go to ctest (e.g. -L unit, -R EndToEnd).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
cd build
ctest --output-on-failure -j"$(nproc)" --timeout 600 "$@"
