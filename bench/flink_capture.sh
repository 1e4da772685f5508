#!/usr/bin/env bash
# Flink-aware capture benchmark (docs/benchmarks.md, "Flink HA capture"; docs/flink-ha.md): a
# cluster that checkpoints every few milliseconds (the Flink HA test peer, tests/peers/flink-ha)
# is backed up N times with the capture and N times without it (FLINKBR_FLINK_CAPTURE=off, the
# plain tree read followed by the walk of the HA storage), through the real daemon and CLI.
# Prints, per mode, how many backups were consistent and the median and mean time of a backup.
#
#   bench/flink_capture.sh [--backups N] [--jobs J] [--interval-ms MS] [--keep]
#
# Defaults: 20 backups, 4 jobs, 5 ms. Installs its packages with scripts/install-deps.sh and
# builds flinkbr (build/) when needed.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

backups=20
jobs=4
interval=5
keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --backups) backups=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    --interval-ms) interval=$2; shift ;;
    --keep) keep=1 ;;
    -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

./scripts/install-deps.sh >&2
[ -f build/CMakeCache.txt ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target flinkbr >/dev/null
flinkbr=${FLINKBR_BIN:-$repo/build/flinkbr}

# shellcheck source=bench/lib/zk.sh
. bench/lib/zk.sh

work=$(mktemp -d "${TMPDIR:-/tmp}/flinkbr-capturebench-XXXXXX")
daemon_pid=
churn_pid=
cleanup() {
  for p in "$churn_pid" "$daemon_pid"; do
    if [ -n "$p" ]; then kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; fi
  done
  zkb_stop_server
  if [ "$keep" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

cp=/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-nop.jar
mkdir -p "$work/peer"
# shellcheck disable=SC2046
javac -encoding UTF-8 -nowarn -d "$work/peer" -cp "$cp" $(find tests/peers/flink-ha/src -name '*.java')
peer() { java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$work/peer:$cp" flinkbr.peer.FlinkHaPeer "$@"; }

zkb_start_server "$work/zk" 1g
hosts=127.0.0.1:$ZK_PORT
root=/flink/bench
ha=$work/ha
mkdir -p "$ha" "$work/conf"
echo "taskmanager.numberOfTaskSlots: 1" >"$work/conf/flink-conf.yaml"
peer populate --connect "$hosts" --root "$root" --storage "$ha" --jobs "$jobs" --checkpoints 1 >/dev/null
# churn runs until its standard input ends: a FIFO this script holds open.
mkfifo "$work/churn.in"
peer churn --connect "$hosts" --root "$root" --storage "$ha" --interval-ms "$interval" \
  --jobs "$jobs" --report-every 1000 >"$work/churn.out" 2>&1 <"$work/churn.in" &
churn_pid=$!
exec 3>"$work/churn.in"

fb=$work/flinkbr
mkdir -p "$fb/state" "$fb/cli" "$fb/backups"
echo running >"$fb/service-state"
fb_port=$(zkb_free_port)
cat >"$fb/flinkbr.yaml" <<EOF
server:
  listen: 127.0.0.1:$fb_port
  state_dir: $fb/state
clusters:
  - name: bench
    version: "1.18.1"
    service:
      status: "case \$(cat '$fb/service-state') in running) exit 0;; stopped) exit 3;; *) exit 1;; esac"
      stop: "echo stopped > '$fb/service-state'"
      start: "echo running > '$fb/service-state'"
    metadata:
      - { name: zk, type: zookeeper, connect: "$hosts", root: "$root" }
      - { name: ha, type: files, uri: "file://$ha" }
      - { name: conf, type: files, uri: "file://$work/conf" }
EOF
export FLINKBR_SERVER=http://127.0.0.1:$fb_port FLINKBR_CONFIG_DIR=$fb/cli

run_mode() {  # run_mode on|off: prints "<consistent> <seconds per backup...>"
  local mode=$1
  FLINKBR_FLINK_CAPTURE=$mode "$flinkbr" serve --config "$fb/flinkbr.yaml" >>"$fb/daemon-$mode.log" 2>&1 &
  daemon_pid=$!
  for _ in $(seq 1 300); do
    curl -sf "$FLINKBR_SERVER/api/v1/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  [ -f "$fb/cli/token" ] || "$flinkbr" login --user admin <"$fb/state/initial-admin-password" >/dev/null
  local consistent=0 times=() i t0 t1 task state
  for i in $(seq 1 "$backups"); do
    task=$mode$i
    "$flinkbr" backup create "$task" --cluster bench --data-source Flink --path-type LocalDir \
      --path "$fb/backups" >/dev/null
    t0=$(date +%s.%N)
    "$flinkbr" backup run "$task" --wait >/dev/null 2>&1
    t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc)")
    state=$("$flinkbr" backup history "$task" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["consistency"]["state"])')
    [ "$state" = consistent ] && consistent=$((consistent + 1))
  done
  kill "$daemon_pid"; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=
  echo "$consistent ${times[*]}"
}

# The zookeeper source's own part of each backup (its log line "... in 0.123 s"), whose capture
# is what differs between the modes; the whole command also waits for the files and the CLI's
# polling.
zk_seconds() {
  grep -o "zookeeper source 'zk': backed up .* in [0-9.]* s" "$fb/daemon-$1.log" |
    sed 's/.* in \([0-9.]*\) s$/\1/' | tr '\n' ' '
}

summary() {  # summary LABEL "<consistent> <times...>" "<zk part times...>"
  python3 - "$1" "$backups" "$3" $2 <<'PY'
import statistics, sys
label, n, zk = sys.argv[1], int(sys.argv[2]), [float(t) for t in sys.argv[3].split()]
consistent, times = int(sys.argv[4]), [float(t) for t in sys.argv[5:]]
print(f"{label:<22} consistent {consistent:>2}/{n}   whole command median {statistics.median(times):.3f} s"
      f"   zookeeper part median {statistics.median(zk)*1000:.1f} ms, max {max(zk)*1000:.1f} ms")
PY
}

echo "cluster: $jobs jobs checkpointing every $interval ms, $backups backups per mode" >&2
with=$(run_mode on)
without=$(run_mode off)
kill -0 "$churn_pid" 2>/dev/null || echo "the churn ended early: $(cat "$work/churn.out")" >&2
exec 3>&-  # the end of its input stops the churn
wait "$churn_pid" 2>/dev/null || true; churn_pid=
summary "with the capture" "$with" "$(zk_seconds on)"
summary "plain (capture off)" "$without" "$(zk_seconds off)"
tail -1 "$work/churn.out"
