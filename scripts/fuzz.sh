#!/usr/bin/env bash
# Builds every libFuzzer target of fuzz/ (clang-16, ASan + UBSan; fuzz/CMakeLists.txt) and runs
# them all at the same time, so that a run takes about --seconds of wall time whatever the number
# of targets (docs/testing.md, "Fuzzing").
#   scripts/fuzz.sh [--seconds N] [--only NAME[,NAME...]] [libFuzzer args...]   default 60 s
# Each target starts from its seeds (fuzz/corpus/<name>, never written) and the corpus it grew in
# earlier runs (build-fuzz/corpus/<name>). An input that crashes a target, breaks one of its
# invariants, leaks, runs out of memory or takes longer than 10 s is copied to
# fuzz/crashes/<name>/; the script then fails naming the files. Commit them with the fix: the
# normal build replays fuzz/corpus and fuzz/crashes as ctest tests (fuzz_replay_<name>).
# Logs: build-fuzz/logs/<name>.log.
#
# Debian's default clang (14) cannot compile libstdc++ 12's std::expected, so this uses clang-16
# and its libFuzzer runtime (libclang-rt-16-dev), installed here when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60
only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    *) break ;;
  esac
done
case "$seconds" in ''|*[!0-9]*) echo "fuzz: --seconds takes a whole number" >&2; exit 2 ;; esac

pkgs=(clang-16 libclang-rt-16-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "fuzz: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

out=build-fuzz
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
CC=clang-16 CXX=clang++-16 cmake -S . -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFLINKBR_FUZZ=ON \
  >/dev/null
cmake --build "$out" -j"$(nproc)" --target fuzz_all

if [ -n "$only" ]; then
  IFS=, read -r -a targets <<<"$only"
else
  targets=()
  for f in fuzz/fuzz_*.cc; do
    n=$(basename "$f" .cc)
    targets+=("${n#fuzz_}")
  done
fi

# Per target: the longest input worth trying (a whole small backup file; one answer or request
# otherwise). The pointer reader also gets a 1 MiB allocation limit: its memory must follow the
# input, not the lengths the input declares.
max_len() {
  case "$1" in
    backup_file) echo 65536 ;;
    pointer) echo 8192 ;;
    *) echo 16384 ;;
  esac
}
pids=()
for t in "${targets[@]}"; do
  [ -x "$out/fuzz/fuzz_$t" ] || { echo "fuzz: no target $t" >&2; exit 2; }
  mkdir -p "$out/corpus/$t" "$out/artifacts/$t" "$out/logs"
  rm -f "$out/artifacts/$t"/*
  args=(-max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048
        -artifact_prefix="$out/artifacts/$t/" -print_final_stats=1)
  [ "$t" = pointer ] && args+=(-malloc_limit_mb=1)
  [ -f "fuzz/$t.dict" ] && args+=(-dict="fuzz/$t.dict")
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$out/fuzz/fuzz_$t" "${args[@]}" "$@" "$out/corpus/$t" "fuzz/corpus/$t" \
    >"$out/logs/$t.log" 2>&1 &
  pids+=($!)
done

failed=()
for i in "${!targets[@]}"; do
  t=${targets[$i]}
  status=0
  wait "${pids[$i]}" || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/logs/$t.log" | tail -1)
  found=()
  for a in "$out/artifacts/$t"/*; do
    [ -f "$a" ] || continue
    mkdir -p "fuzz/crashes/$t"
    cp "$a" "fuzz/crashes/$t/"
    found+=("fuzz/crashes/$t/$(basename "$a")")
  done
  echo "fuzz: $t: ${runs:-?} executions in ${seconds}s, exit status $status"
  if [ "$status" -ne 0 ] || [ ${#found[@]} -gt 0 ]; then
    failed+=("$t")
    for f in "${found[@]}"; do echo "fuzz: $t: new finding $f (log: $out/logs/$t.log)" >&2; done
    [ ${#found[@]} -eq 0 ] && { echo "fuzz: $t failed without an artifact:" >&2; tail -20 "$out/logs/$t.log" >&2; }
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no finding in ${#targets[@]} targets"
