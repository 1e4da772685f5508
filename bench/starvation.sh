#!/usr/bin/env bash
# The campaign of issue 16 against the daemon, repeated: health and API latency (p50, p99, worst)
# alone, with 16 event streams and 8 FIFO `backup verify` calls held, and with 48 clients at once;
# wrong passwords for one user during a minute (how many are looked at before and between the
# 429 answers) and the Retry-After each wait gives. One command, from the repository root:
#
#   bench/starvation.sh                   # 200 requests per series, a minute of wrong logins
#   bench/starvation.sh --quick           # 50 requests per series, 30 s of wrong logins
#   bench/starvation.sh --json out.json   # the figures as JSON too
#
# Starts its own daemon (the embedded default configuration with its demo cluster) on a free
# loopback port in a temporary directory, and stops it at the end. Builds build/flinkbr when it
# is missing (FLINKBR_BIN picks another binary). Results: docs/benchmarks.md, "A busy daemon".
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
requests=200
login_seconds=60
json=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) requests=50; login_seconds=30 ;;
    --json) json=(--json "$(realpath -m "$2")"); shift ;;
    -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "bench/starvation.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
bin="${FLINKBR_BIN:-$repo/build/flinkbr}"
if [ ! -x "$bin" ]; then
  ./scripts/install-deps.sh >&2
  [ -f build/CMakeCache.txt ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc)" --target flinkbr >/dev/null
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/flinkbr-starvation-XXXXXX")
daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then
    kill "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$work" && FLINKBR_LISTEN="127.0.0.1:$port" exec "$bin" serve >"$work/daemon.log" 2>&1) &
daemon_pid=$!
for _ in $(seq 1 300); do
  if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/api/v1/health', timeout=1)" 2>/dev/null; then
    break
  fi
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/daemon.log" >&2; exit 1; }
  sleep 0.2
done
echo "flinkbr $(git rev-parse --short HEAD 2>/dev/null || echo "?") on $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 bench/lib/starvation_bench.py --port "$port" --state-dir "$work/flinkbr-state" \
  --requests "$requests" --login-seconds "$login_seconds" "${json[@]}"
