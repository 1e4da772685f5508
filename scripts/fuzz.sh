#!/usr/bin/env bash
# Fuzzes the Flink HA pointer reader (src/source/flink/pointer.cc) with libFuzzer under
# AddressSanitizer and UndefinedBehaviorSanitizer (docs/testing.md, "Fuzzing").
#   scripts/fuzz.sh [seconds] [libFuzzer args...]   default 300 seconds
# Debian's default clang (14) cannot compile libstdc++ 12's std::expected, so this uses clang-16
# and its libFuzzer runtime (libclang-rt-16-dev), installed here when missing rather than by
# install-deps.sh: only fuzzing needs them. The seed corpus is written by real Java
# serialization (src/source/flink/testdata/java, as the unit tests do) into build-fuzz/, where
# the corpus the fuzzer grows stays between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
shift || true
pkgs=(clang-16 libclang-rt-16-dev default-jdk-headless)
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
mkdir -p "$out/classes" "$out/seeds" "$out/corpus" "$out/crashes"
# libstdc++ 12 offers std::expected only when __cpp_concepts >= 202002L. clang 16 implements what
# it needs (P0848, conditionally trivial special members) but still reports 201907L, so the
# macro is raised by hand.
clang++-16 -std=gnu++2b -O1 -g -fno-omit-frame-pointer \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Wno-builtin-macro-redefined -U__cpp_concepts -D__cpp_concepts=202002L \
  -Isrc fuzz/fuzz_pointer.cc src/source/flink/pointer.cc src/source/flink/java_stream.cc \
  src/common/text.cc src/common/result.cc \
  -o "$out/fuzz_pointer"

# Seeds: pointers with local, HDFS and S3 URIs, escapes and non-ASCII characters, and streams of
# other classes.
(cd src/source/flink/testdata/java && javac -d "../../../../../$out/classes" $(find . -name '*.java'))
printf '%s\t%s\t%s\t%s\n' \
  file "file:///data/ha/prod" completedCheckpoint1a2b3c4d5e6f 1234 \
  hdfs "hdfs://ns1/flink/ha/prod" submittedJobGraph0a1b2c3d4e5f 56789 \
  s3 "s3://bucket/ha" submittedExecutionPlan9f8e7d6c5b4a 77 \
  escaped "file:///data/ha dir/100%" "completedCheckpoint é😀#?" -1 \
  | java -cp "$out/classes" PointerVectors pointers "$out/seeds"
java -cp "$out/classes" PointerVectors others "$out/seeds"
rm -f "$out"/seeds/*.expect

# No single allocation above 1 MiB for inputs of at most 8 KiB: the parser's memory follows the
# input, not the lengths it declares.
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  "$out/fuzz_pointer" -max_total_time="$seconds" -max_len=8192 -malloc_limit_mb=1 \
  -rss_limit_mb=1024 -dict=fuzz/pointer.dict -artifact_prefix="$out/crashes/" -print_final_stats=1 \
  "$@" "$out/corpus" "$out/seeds"
