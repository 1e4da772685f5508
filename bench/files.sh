#!/usr/bin/env bash
# Backup and restore speed of a files tree: flinkbr next to tar czf, tar | pigz -p2 -6,
# tar | igzip -1 (ISA-L), igzip -dc | tar xf -,
# tar | cat and tar xzf, on a generated Flink-like tree. One command, from the repository root:
#
#   bench/files.sh            # 600 MB: 20,000 files of 1-64 KB + 50 of 2-8 MB
#   bench/files.sh --quick    # about 60 MB
#   bench/files.sh --big      # about 3 GB, flinkbr, reading and tar xzf only (memory check)
#   bench/files.sh --rounds 3 # restore pairs (tar xzf, then flinkbr) measured 3 times
#   bench/files.sh --shared-disk  # extract on the work directory's disk, not on a fresh ext4
#                               # per extraction (the default when run as root)
#
# Builds build/flinkbr when it is missing (FLINKBR_BIN picks another binary). The dataset is
# generated once, deterministically, under $FLINKBR_BENCH_DIR (default: $TMPDIR/flinkbr-bench)
# and reused. Results: docs/benchmarks.md, "Files trees".
set -euo pipefail
cd "$(dirname "$0")/.."
mode=default
rounds=2
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) mode=quick ;;
    --big) mode=big ;;
    --rounds) rounds="$2"; shift ;;
    --shared-disk) extra+=(--shared-disk) ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "bench/files.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for tool in pigz igzip python3 tar gzip cmake; do
  command -v "$tool" >/dev/null 2>&1 || { ./scripts/install-deps.sh; break; }
done
bin="${FLINKBR_BIN:-$PWD/build/flinkbr}"
if [ ! -x "$bin" ]; then
  cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc)" --target flinkbr
fi
work="${FLINKBR_BENCH_DIR:-${TMPDIR:-/tmp}/flinkbr-bench}"
mkdir -p "$work"
exec python3 bench/lib/files_bench.py --binary "$bin" --work "$work" --mode "$mode" \
  --rounds "$rounds" ${extra[@]+"${extra[@]}"}
