#!/bin/sh
# The installation a user gets: `cmake --install` into a temporary prefix, the installed daemon
# started from there serving the installed console, then the .deb built by CPack read back with
# dpkg-deb (its files, its Depends on Debian's runtime libraries, its maintainer scripts).
# Usage: package_test.sh BUILD_DIR   (CTest: packaging)
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d /tmp/flinkbr-package-XXXXXX)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }

[ -f "$src/web/dist/index.html" ] || fail "web/dist is not built (run web/build.sh): the console cannot be installed"

# 1. cmake --install
prefix="$tmp/prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "cmake --install"; }
for f in bin/flinkbr share/flinkbr/console/index.html lib/systemd/system/flinkbr.service \
         share/doc/flinkbr/flinkbr.yaml.example share/doc/flinkbr/alerts.yaml \
         share/doc/flinkbr/operations.md; do
  [ -f "$prefix/$f" ] || fail "cmake --install did not install $f"
done
[ -x "$prefix/bin/flinkbr" ] || fail "bin/flinkbr is not executable"
# The example configuration is valid as shipped.
"$prefix/bin/flinkbr" serve --config "$prefix/share/doc/flinkbr/flinkbr.yaml.example" --check-config >/dev/null ||
  fail "the installed example configuration does not pass --check-config"

# 2. The installed daemon, from a directory with no web/dist above it, serves the installed console.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir "$tmp/run"
(cd "$tmp/run" && FLINKBR_LISTEN="127.0.0.1:$port" exec "$prefix/bin/flinkbr" serve >"$tmp/serve.log" 2>&1) &
pid=$!
i=0
until curl -fsS "http://127.0.0.1:$port/api/v1/health" >/dev/null 2>&1; do
  i=$((i + 1))
  [ $i -lt 200 ] || { cat "$tmp/serve.log"; fail "the installed daemon did not answer on port $port"; }
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/serve.log"; fail "the installed daemon exited"; }
  sleep 0.05
done
curl -fsS "http://127.0.0.1:$port/" >"$tmp/index.html" || fail "GET / of the installed daemon"
cmp -s "$tmp/index.html" "$prefix/share/flinkbr/console/index.html" ||
  fail "GET / is not the installed console's index.html"
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=""
[ -f "$tmp/run/flinkbr-state/logs/flinkbr.log" ] || fail "no log file in flinkbr-state/logs/flinkbr.log"

# 3. The .deb
mkdir "$tmp/deb"
(cd "$tmp/deb" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/deb" >"$tmp/cpack.log" 2>&1) ||
  { cat "$tmp/cpack.log"; fail "cpack -G DEB"; }
deb=$(ls "$tmp"/deb/flinkbr_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || { cat "$tmp/cpack.log"; fail "cpack made no flinkbr_*.deb"; }
dpkg-deb -I "$deb" >"$tmp/info" || fail "dpkg-deb -I"
dpkg-deb -c "$deb" >"$tmp/contents" || fail "dpkg-deb -c"
grep -q '^ Package: flinkbr$' "$tmp/info" || fail "Package is not flinkbr: $(cat "$tmp/info")"
depends=$(sed -n 's/^ Depends: //p' "$tmp/info")
for lib in adduser libc6 libsqlite3-0 libarchive13 libsodium23 libcurl4 libssl3 libpq5; do
  echo "$depends" | grep -q "\b$lib\b" || fail "Depends lacks $lib: $depends"
done
grep -qE '[[:space:]]postinst([[:space:]]|$)' "$tmp/info" || fail "no postinst (the service user): $(cat "$tmp/info")"
for f in ./usr/bin/flinkbr ./usr/share/flinkbr/console/index.html \
         ./usr/lib/systemd/system/flinkbr.service ./usr/share/doc/flinkbr/flinkbr.yaml.example \
         ./usr/share/doc/flinkbr/alerts.yaml; do
  grep -q " $f\$" "$tmp/contents" || fail "the .deb lacks $f: $(cat "$tmp/contents")"
done
! grep -q ' \./usr/include\| \./home\| \./tmp\| \./work' "$tmp/contents" || fail "the .deb holds files it should not: $(cat "$tmp/contents")"
echo "packaging: installed daemon served the console; $(basename "$deb"): $(wc -l <"$tmp/contents") entries, Depends: $depends"
