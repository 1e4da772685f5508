#!/usr/bin/env bash
# Manager group fail-over benchmark (docs/benchmarks.md, "Manager group fail-over"; issue 15's
# closing measurement): two real `flinkbr serve` on one throwaway PostgreSQL 15, ten kill -9 of
# the active, each with a backup in flight (paused by the fault injection). Prints, per kill, the
# seconds from the kill to the other member's health saying "active" and what the run in flight
# ended as; then the median and the worst. The default lease (server.lease_timeout 10 s,
# server.lease_renew 2 s).
#
#   bench/group_failover.sh [--repeat N]
#
#   --repeat N   the whole measurement N times (default 1)
#
# It is the gtest GroupEndToEnd.BenchTenKillNinesOfTheActiveWithABackupInFlight of
# tests/e2e/group_test.cc: ctest does not list it, and it skips itself without FLINKBR_BENCH=1,
# because it measures and takes a minute.
# Installs its packages with scripts/install-deps.sh and builds build/ (flinkbr, e2e_tests).
set -euo pipefail
cd "$(dirname "$0")/.."

repeat=1
while [ $# -gt 0 ]; do
  case $1 in
    --repeat) repeat=$2; shift ;;
    -h | --help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

./scripts/install-deps.sh >&2
# Up to date, this is a no-op; an existing build/ keeps its build type.
[ -f build/CMakeCache.txt ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target flinkbr e2e_tests >/dev/null

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), load $(cut -d' ' -f1-3 /proc/loadavg)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if FLINKBR_BENCH=1 build/e2e_tests \
  --gtest_filter='GroupEndToEnd.BenchTenKillNinesOfTheActiveWithABackupInFlight' \
  --gtest_repeat="$repeat" >"$out" 2>&1; then
  grep -E '^(round|take-over)' "$out"
else
  cat "$out"
  exit 1
fi
