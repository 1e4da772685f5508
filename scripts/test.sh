#!/usr/bin/env bash
# Builds flinkbr and runs every test: unit tests beside each concept in src/, and end-to-end
# tests that start the real daemon and drive it with the real CLI (tests/e2e), and browser tests
# of the web console in Debian's Chromium (tests/console). Installs what the tests need first.
#   scripts/test.sh [ctest args]             the normal build (build/)
#   scripts/test.sh --sanitize [ctest args]  an AddressSanitizer/UBSan build (build-asan/)
set -euo pipefail
cd "$(dirname "$0")/.."
# Our own tests check our own code: warnings are errors here (CMake option FLINKBR_WERROR).
export FLINKBR_WERROR=ON
dir=build
if [ "${1:-}" = "--sanitize" ]; then
  shift
  dir=build-asan
  ./scripts/build.sh --sanitize
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
else
  ./scripts/build.sh
fi
# The browser tests (ctest label "console") need the built console and playwright-core.
./web/build.sh
./tests/console/install.sh
cd "$dir"
ctest --output-on-failure -j"$(nproc)" --timeout 600 "$@"
