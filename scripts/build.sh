#!/usr/bin/env bash
# Builds flinkbr (and its tests). Installs the Debian packages first.
#   scripts/build.sh             -> build/       (RelWithDebInfo)
#   scripts/build.sh --sanitize  -> build-asan/  (AddressSanitizer + UBSan)
# FLINKBR_WERROR=ON (scripts/test.sh sets it) makes warnings errors; a user's build keeps them
# warnings.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# ccache keys paths relative to this checkout, so that clones at other paths (CI's clean clone,
# work trees) share compiled objects.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
dir=build
werror=-DFLINKBR_WERROR="${FLINKBR_WERROR:-OFF}"
args=(-DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" "$werror")
if [ "${1:-}" = "--sanitize" ]; then
  dir=build-asan
  args=(-DCMAKE_BUILD_TYPE=Debug -DFLINKBR_SANITIZE=ON "$werror")
fi
cmake -S . -B "$dir" "${args[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
