# shellcheck shell=bash
# ZooKeeper helpers for the benchmarks (sourced). A standalone server from Debian's `zookeeper`
# package on a free loopback port with a fresh data directory (see docs/benchmarks.md).

# A TCP port free on 127.0.0.1 right now.
zkb_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Sends a four-letter word to 127.0.0.1:$1; prints the answer ("" when nothing listens).
zkb_four_letter() {
  python3 - "$1" "$2" <<'PY' 2>/dev/null || true
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
    s.sendall(sys.argv[2].encode())
    out = b""
    while True:
        b = s.recv(4096)
        if not b:
            break
        out += b
    print(out.decode(errors="replace"))
except OSError:
    pass
PY
}

# zkb_start_server DIR HEAP: starts ZooKeeper with its data in DIR/data, log in DIR/server.log.
# Sets ZK_PORT and ZK_PID. Ready when `srvr` reports "Mode: standalone" (`ruok` answers earlier,
# while the first sessions still get dropped).
zkb_start_server() {
  local dir=$1 heap=${2:-2g}
  mkdir -p "$dir/data"
  ZK_PORT=$(zkb_free_port)
  cat >"$dir/zoo.cfg" <<CFG
tickTime=2000
dataDir=$dir/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok,mntr
maxClientCnxns=0
autopurge.snapRetainCount=3
autopurge.purgeInterval=1
CFG
  java "-Xmx$heap" -Dzookeeper.jmx.log4j.disable=true -cp /usr/share/java/zookeeper.jar \
    org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zoo.cfg" >"$dir/server.log" 2>&1 &
  ZK_PID=$!
  local _
  for _ in $(seq 1 300); do
    if zkb_four_letter "$ZK_PORT" srvr | grep -q 'Mode: standalone'; then return 0; fi
    if ! kill -0 "$ZK_PID" 2>/dev/null; then
      echo "ZooKeeper exited at start; see $dir/server.log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "ZooKeeper did not report Mode: standalone within 30 s; see $dir/server.log" >&2
  return 1
}

zkb_stop_server() {
  if [ -n "${ZK_PID:-}" ]; then
    kill "$ZK_PID" 2>/dev/null || true
    wait "$ZK_PID" 2>/dev/null || true
    ZK_PID=
  fi
}
