#!/usr/bin/env bash
# Installs the Debian packages flinkbr needs to build and test. Idempotent: packages that
# are already installed are skipped, so a warm machine pays only for the dpkg query.
set -euo pipefail
pkgs=(
  build-essential cmake pkg-config clang-format
  libarchive-dev libsqlite3-dev libsodium-dev nlohmann-json3-dev libyaml-cpp-dev
  libcli11-dev libspdlog-dev libfmt-dev libcpp-httplib-dev libcurl4-openssl-dev libssl-dev
  zlib1g-dev libisal-dev libgtest-dev libgmock-dev
  libzookeeper-mt-dev libpq-dev libpugixml-dev
  zookeeper default-jre-headless default-jdk-headless postgresql
  tar gzip pigz curl procps ccache python3 time
  # igzip (ISA-L's command-line gzip): the benchmarks' fastest scripted peer (bench/files.sh).
  isal
  chromium fonts-dejavu-core util-linux
  clang-16 libclang-rt-16-dev
  # promtool checks the metrics exposition and the example alert rules (docs/alerts.yaml); Debian
  # has it only in the prometheus package (19 MB download, 96 MB installed; the server it also
  # brings is not started). python3-yaml reads YAML back in the end-to-end tests.
  prometheus python3-yaml
  # The packaging test builds a .deb with CPack and reads it with dpkg-deb.
  dpkg-dev
)
sudo_cmd=""
[ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Node.js for the web console's build, its browser tests and the S3 test server: the machine's
# own when it has one. The browser tests use Debian's chromium above; no tool downloads a browser.
if ! command -v npm >/dev/null 2>&1; then
  $sudo_cmd apt-get install -y -qq --no-install-recommends nodejs npm
fi
sh "$(dirname "$0")/../tests/servers/s3rver.sh"  # S3 test server (@20minutes/s3rver, npm)
