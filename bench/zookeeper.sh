#!/usr/bin/env bash
# ZooKeeper benchmark (docs/benchmarks.md, "ZooKeeper"): backs up (reads) and restores (creates)
# a generated Flink-like tree of 1 KiB znodes with zkCli.sh, a synchronous C client, a bare
# asynchronous C client and flinkbr itself (real daemon and CLI), on one ZooKeeper, in one run.
#
#   bench/zookeeper.sh [--quick] [--znodes N] [--layout 1.15|legacy] [--keep] [--fast]
#                      [--rounds N]
#
#   --quick      10,000 znodes instead of 100,000
#   --znodes N   any tree size >= 100
#   --layout L   Flink's HA layout of the tree (docs/flink-ha.md), one job per 100 znodes:
#                1.15 (default): jobgraphs/<job>/locks, jobs/<job>/checkpoint_id_counter,
#                  jobs/<job>/checkpoints/<id>/locks, every `locks` without children (a live
#                  JobManager's ephemeral lock dies with the session that writes the tree);
#                  the flinkbr config says version 1.18.1
#                legacy: the layout before 1.15 (jobgraphs/<job>, checkpoints/<job>/<id>,
#                  checkpoint-counter/<job>, running_job_registry/<job>), the tree of the
#                  numbers before --layout existed; the flinkbr config says version 1.14.6
#                Both: leader/{dispatcher,resource_manager,rest_server} (1.15: and leader/latch
#                when N needs one more znode); every znode 1 KiB of text, also the counters and
#                `locks`, which Flink keeps at 4 bytes and empty
#   --keep       keep the work directory (server and daemon logs, backup file)
#   --fast       only the bare asynchronous client and flinkbr (skips zkCli.sh and the
#                synchronous client, which take minutes): for tuning, not for the record
#   --rounds N   runs the bare asynchronous client and flinkbr N times each, alternating (backup:
#                bare read, flinkbr backup; restore: bare creates, flinkbr restore), and keeps
#                the best time of each (peak RSS: the highest): one run of each on a 2-core
#                machine varies by 10 % and more from one run to the next
#
# FLINKBR_BIN=path measures that flinkbr binary instead of build/flinkbr (before/after runs).
# ZKB_COMPRESSION=zlib:1 (say) compresses flinkbr's backup file otherwise than its default,
# isal:1, which a user gets (the bench's zlib:1 of the first round predates that default).
#
# Installs its packages with scripts/install-deps.sh and builds flinkbr (build/) when needed.
# Every restore is checked: the tree read back must hold exactly the generated paths and data.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

znodes=100000
keep=0
fast=0
rounds=1
layout=1.15
while [ $# -gt 0 ]; do
  case $1 in
    --quick) znodes=10000 ;;
    --znodes) znodes=$2; shift ;;
    --keep) keep=1 ;;
    --fast) fast=1 ;;
    --rounds) rounds=$2; shift ;;
    --layout) layout=$2; shift ;;
    -h | --help) sed -n '2,35p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
case $layout in
  1.15) flink_version=1.18.1 layout_name="Flink 1.15+ layout" ;;
  legacy) flink_version=1.14.6 layout_name="Flink layout before 1.15" ;;
  *) echo "--layout: expected 1.15 or legacy, not $layout" >&2; exit 2 ;;
esac
[ "$znodes" -ge 100 ] 2>/dev/null || { echo "--znodes: at least 100, not $znodes" >&2; exit 2; }
# The C clients generate (and check against) the tree of this layout (bench/zk/zk_bench.h).
export ZKB_LAYOUT=$layout

./scripts/install-deps.sh >&2
# Up to date, this is a no-op; an existing build/ keeps its build type. FLINKBR_BIN names a
# binary built elsewhere: build/ is left alone then.
if [ -z "${FLINKBR_BIN:-}" ]; then
  [ -f build/CMakeCache.txt ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc)" --target flinkbr >/dev/null
fi
bin=build/bench-zk
mkdir -p "$bin"
for c in zk_sync zk_async; do
  if [ ! -x "$bin/$c" ] || [ "bench/zk/$c.c" -nt "$bin/$c" ] || [ bench/zk/zk_bench.h -nt "$bin/$c" ]; then
    cc -O2 -Wall -Wextra -Werror -DTHREADED -o "$bin/$c" "bench/zk/$c.c" -lzookeeper_mt
  fi
done
# FLINKBR_BIN: another build of flinkbr to measure (e.g. a copy of an earlier commit's binary).
flinkbr=${FLINKBR_BIN:-$repo/build/flinkbr}
compression=${ZKB_COMPRESSION:-isal:1}
zk_sync=$repo/$bin/zk_sync
zk_async=$repo/$bin/zk_async
zkcli=/usr/share/zookeeper/bin/zkCli.sh

# shellcheck source=bench/lib/zk.sh
. bench/lib/zk.sh

work=$(mktemp -d "${TMPDIR:-/tmp}/flinkbr-zkbench-XXXXXX")
daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  zkb_stop_server
  if [ "$keep" = 1 ]; then echo "work directory kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

root=/flink/bench
zkb_start_server "$work/zk" 2g
hosts=127.0.0.1:$ZK_PORT
echo "ZooKeeper on $hosts (pid $ZK_PID); tree of $znodes znodes of 1 KiB under $root, $layout_name" >&2
"$zk_sync" mkroot "$hosts" "$root"

expected=$("$zk_async" expect "$root" "$znodes" | sed -n 's/.*digest=\([0-9a-f]*\).*/\1/p')
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p"; }  # a field of a RESULT line on stdin
declare -A secs rss

# The tree read back must be the generated one (paths and data); else the run is worthless.
check_tree() {
  local got
  got=$("$zk_async" read "$hosts" "$root")
  if [ "$(field digest <<<"$got")" != "$expected" ] || [ "$(field znodes <<<"$got")" != "$znodes" ]; then
    echo "$1: the tree read back is not the generated one: $got (expected digest $expected)" >&2
    exit 1
  fi
}
clear_tree() { "$zk_async" clear "$hosts" "$root" >/dev/null; }

# Records a run's seconds ($2) and peak RSS in KiB ($3) under key $1; a key run again (--rounds)
# keeps its lowest time and its highest peak.
record() {
  local key=$1 s=$2 r=${3:-}
  if [ -z "${secs[$key]:-}" ] || awk "BEGIN { exit !($s < ${secs[$key]}) }"; then secs[$key]=$s; fi
  if [ -n "$r" ] && { [ -z "${rss[$key]:-}" ] || [ "$r" -gt "${rss[$key]}" ]; }; then rss[$key]=$r; fi
}

# Runs a C client; records its seconds and peak RSS under key $1.
run_client() {
  local key=$1
  shift
  local out
  out=$("$@")
  record "$key" "$(field seconds <<<"$out")" "$(field rss_kib <<<"$out")"
  echo "  $key: $(field seconds <<<"$out") s" >&2
}

# Runs a command (an exported function) under GNU time; records wall seconds and peak RSS (KiB) under key $1.
run_timed() {
  local key=$1
  shift
  local t0 t1
  t0=$(now)
  /usr/bin/time -f %M -o "$work/time.$key" bash -c "$*"
  t1=$(now)
  secs[$key]=$(calc "$t1 - $t0")
  rss[$key]=$(tail -1 "$work/time.$key")
  printf '  %s: %.3f s\n' "$key" "${secs[$key]}" >&2
}

# ---- restore of the bare async client (it also creates the tree the readers read) ----
echo "restore (create the tree into the empty root):" >&2
run_client write.async "$zk_async" write "$hosts" "$root" "$znodes"
check_tree async

# ---- flinkbr: real daemon and CLI ----
fb=$work/flinkbr
mkdir -p "$fb/state" "$fb/cli" "$fb/backups"
echo running >"$fb/service-state"
fb_port=$(zkb_free_port)
cat >"$fb/flinkbr.yaml" <<EOF
server:
  listen: 127.0.0.1:$fb_port
  state_dir: $fb/state
  compression: $compression
clusters:
  - name: bench
    version: "$flink_version"
    service:
      status: "case \$(cat '$fb/service-state') in running) exit 0;; stopped) exit 3;; *) exit 1;; esac"
      stop: "echo stopped > '$fb/service-state'"
      start: "echo running > '$fb/service-state'"
      timeout: 10s
    metadata:
      - { name: ha, type: zookeeper, connect: "$hosts", root: "$root", session_timeout: 30s }
EOF
export FLINKBR_SERVER=http://127.0.0.1:$fb_port FLINKBR_CONFIG_DIR=$fb/cli
start_daemon() {
  "$flinkbr" serve --config "$fb/flinkbr.yaml" >>"$fb/daemon.log" 2>&1 &
  daemon_pid=$!
  for _ in $(seq 1 300); do
    curl -sf "$FLINKBR_SERVER/api/v1/health" >/dev/null 2>&1 && return 0
    kill -0 "$daemon_pid" 2>/dev/null || { echo "the daemon exited; see $fb/daemon.log" >&2; exit 1; }
    sleep 0.1
  done
  echo "the daemon did not become healthy; see $fb/daemon.log" >&2
  exit 1
}
stop_daemon() {
  kill "$daemon_pid"
  wait "$daemon_pid" 2>/dev/null || true
  daemon_pid=
}
peak_rss_kib() { sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$daemon_pid/status"; }
# Resets the daemon's peak RSS (Linux >= 4.0), so that it covers the task alone: a login hashes
# the password with Argon2id, which takes 64 MiB for a moment.
reset_peak_rss() { echo 5 >"/proc/$daemon_pid/clear_refs"; }
# The zookeeper source logs how long its own part took: "... in 1.234 s".
zk_part_seconds() { { grep -o "$1.* in [0-9.]* s" || true; } | tail -1 | sed 's/.* in \([0-9.]*\) s$/\1/'; }

# ---- backup (read the tree) ----
echo "backup (read the tree):" >&2
# zkCli.sh: one session lists the tree (ls -R), a second gets every znode.
zkcli_read() {
  "$zkcli" -server "$hosts" ls -R "$root" >"$work/zkcli-ls.out" 2>"$work/zkcli-ls.err"
  grep "^$root/" "$work/zkcli-ls.out" | sed 's/^/get /' >"$work/zkcli-get.txt"
  "$zkcli" -server "$hosts" <"$work/zkcli-get.txt" >"$work/zkcli-get.out" 2>"$work/zkcli-get.err"
}
# The same with getAcl per znode too: the content flinkbr backs up (a restore that is exact needs
# the ACLs), while `get` alone gives only the data.
zkcli_read_acl() {
  "$zkcli" -server "$hosts" ls -R "$root" >"$work/zkcli-ls.out" 2>"$work/zkcli-ls.err"
  grep "^$root/" "$work/zkcli-ls.out" | sed 's/.*/get &\ngetAcl &/' >"$work/zkcli-getacl.txt"
  "$zkcli" -server "$hosts" <"$work/zkcli-getacl.txt" >"$work/zkcli-getacl.out" 2>"$work/zkcli-getacl.err"
}
export work zkcli hosts root
export -f zkcli_read zkcli_read_acl
if [ "$fast" = 0 ]; then
  run_timed read.zkcli zkcli_read
  got=$(grep -c '^[A-Za-z0-9+/]\{1024\}$' "$work/zkcli-get.out" || true)
  [ "$got" = "$znodes" ] || { echo "zkCli.sh printed $got values of 1 KiB, expected $znodes" >&2; exit 1; }
  run_timed read.zkcliacl zkcli_read_acl
  got=$(grep -c '^[A-Za-z0-9+/]\{1024\}$' "$work/zkcli-getacl.out" || true)
  acls=$(grep -c "^: cdrwa$" "$work/zkcli-getacl.out" || true)
  [ "$got" = "$znodes" ] && [ "$acls" = "$znodes" ] || {
    echo "zkCli.sh printed $got values of 1 KiB and $acls ACLs, expected $znodes each" >&2
    exit 1
  }
  run_client read.sync "$zk_sync" read "$hosts" "$root"
fi
# The bare asynchronous client's read and flinkbr's backup, alternating (--rounds).
backup_round() {
  run_client read.async "$zk_async" read "$hosts" "$root"
  start_daemon
  reset_peak_rss
  local t0 t1 zk_part
  t0=$(now)
  "$flinkbr" backup run zk --wait --json >"$fb/backup.json" 2>/dev/null
  t1=$(now)
  record read.flinkbr "$(calc "$t1 - $t0")" "$(peak_rss_kib)"
  zk_part=$(zk_part_seconds "backed up" <"$fb/daemon.log")
  record read.flinkbr.zk "$zk_part"
  backup_path=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["backup_path"])' <"$fb/backup.json")
  printf '  read.flinkbr: %.3f s (zookeeper part %s s), %s\n' "$(calc "$t1 - $t0")" "$zk_part" \
    "$(du -h "$backup_path" | cut -f1)" >&2
  # Whether flinkbr took the tree for Flink's: its capture counts the records it recognised.
  capture=$({ grep -o 'Flink HA capture: [0-9].*' "$fb/daemon.log" || true; } | tail -1)
  echo "  flinkbr ${capture:-Flink HA capture: no summary in the daemon log}" >&2
  stop_daemon
}
start_daemon
"$flinkbr" login --user admin <"$fb/state/initial-admin-password" >/dev/null
"$flinkbr" backup create zk --cluster bench --data-source Flink --path-type LocalDir \
  --path "$fb/backups" >/dev/null
stop_daemon
for round in $(seq 1 "$rounds"); do
  [ "$rounds" = 1 ] || echo " round $round of $rounds" >&2
  backup_round
done

# ---- restores into the emptied root ----
echo "restore (create the tree into the empty root):" >&2
clear_tree
[ "$fast" = 1 ] || "$zk_async" zkcli "$root" "$znodes" >"$work/zkcli-create.txt"  # untimed
zkcli_write() {
  "$zkcli" -server "$hosts" <"$work/zkcli-create.txt" >"$work/zkcli-create.out" 2>"$work/zkcli-create.err"
}
export -f zkcli_write
if [ "$fast" = 0 ]; then
  run_timed write.zkcli zkcli_write
  check_tree zkCli.sh
  clear_tree
  run_client write.sync "$zk_sync" write "$hosts" "$root" "$znodes"
  check_tree "synchronous client"
  clear_tree
fi

# flinkbr's restore of the backup into the empty root, as task r<round>.
restore_round() {
  local task=r$1 t0 t1 zk_part steps
  start_daemon
  "$flinkbr" service stop bench >/dev/null
  "$flinkbr" restore create "$task" --cluster bench --data-source Flink --path-type LocalDir \
    --source-path "$backup_path" >/dev/null
  reset_peak_rss
  t0=$(now)
  "$flinkbr" restore start "$task" --wait >/dev/null 2>"$fb/restore.err" || {
    cat "$fb/restore.err" >&2
    exit 1
  }
  t1=$(now)
  record write.flinkbr "$(calc "$t1 - $t0")" "$(peak_rss_kib)"
  "$flinkbr" restore show "$task" --json >"$fb/restore.json"
  zk_part=$(python3 -c '
import json, sys
for line in json.load(sys.stdin)["log"]:
    print(line["text"] if isinstance(line, dict) else line)' <"$fb/restore.json" | zk_part_seconds "created")
  record write.flinkbr.zk "$zk_part"
  printf '  write.flinkbr: %.3f s (zookeeper part %s s)\n' "$(calc "$t1 - $t0")" "$zk_part" >&2
  # Where the restore's time goes: the daemon log's step lines (millisecond timestamps).
  steps=$(python3 - "$fb/daemon.log" "$task" <<'PY'
import re, sys
from datetime import datetime
marks = []
for line in open(sys.argv[1]):
    m = re.match(r"(\S+)Z info restore " + sys.argv[2] + r": (step (\S+)|restoration succeeded)", line)
    if m:
        marks.append((datetime.fromisoformat(m.group(1)), m.group(3) or "end"))
print(", ".join(f"{name} {(b[0] - a[0]).total_seconds():.2f} s"
                for a, b in zip(marks, marks[1:]) for name in [a[1]]))
PY
)
  echo "  flinkbr restore steps: $steps" >&2
  # The steps of the fastest round are the ones printed under the table.
  [ "${secs[write.flinkbr]}" != "$(calc "$t1 - $t0")" ] || restore_steps=$steps
  stop_daemon
  check_tree flinkbr
}
# Round 1's bare creates are those that made the tree the backups read, at the start.
for round in $(seq 1 "$rounds"); do
  [ "$rounds" = 1 ] || echo " round $round of $rounds" >&2
  if [ "$round" -gt 1 ]; then
    clear_tree
    run_client write.async "$zk_async" write "$hosts" "$root" "$znodes"
    check_tree async
  fi
  clear_tree
  restore_round "$round"
done

# The bare client's whole restore as a peer of flinkbr's (which verifies what it wrote by
# reading the tree back): its multi-batch creates, then its pipelined read of the whole tree.
secs[write.asyncrb]=$(calc "${secs[write.async]} + ${secs[read.async]}")
rss[write.asyncrb]=${rss[write.async]}

# ---- the table ----
echo
echo "ZooKeeper, $znodes znodes of 1 KiB under $root, $layout_name, loopback; $(date -u +%Y-%m-%dT%H:%MZ)"
echo
printf '| %-9s | %-32s | %9s | %10s | %8s | %13s | %9s | %13s | %13s |\n' operation client seconds \
  znodes/s "× zkCli" "× zkCli+acl" "× async" "× async+read" "peak RSS MiB"
echo '|---|---|---:|---:|---:|---:|---:|---:|---:|'
row() {
  local op=$1 key=$2 name=$3 s=${secs[$2]:-} base=${secs[$1.zkcli]:-0} lim=${secs[$1.async]}
  local base_acl=${secs[$1.zkcliacl]:-0}
  [ -n "$s" ] || return 0
  local lim_rb=-
  [ "$op" = read ] || lim_rb=$(printf '%.2f' "$(calc "${secs[write.asyncrb]} / $s")")
  local r=${rss[$key]:-}
  local vs_zkcli=- vs_acl=-  # --fast runs no zkCli.sh; restores have no getAcl variant
  [ "$base" = 0 ] || vs_zkcli=$(printf '%.1f' "$(calc "$base / $s")")
  [ "$base_acl" = 0 ] || vs_acl=$(printf '%.1f' "$(calc "$base_acl / $s")")
  printf '| %-9s | %-32s | %9.2f | %10.0f | %8s | %13s | %9.2f | %13s | %13s |\n' \
    "$([ "$op" = read ] && echo backup || echo restore)" "$name" "$s" \
    "$(calc "$znodes / $s")" "$vs_zkcli" "$vs_acl" "$(calc "$lim / $s")" "$lim_rb" \
    "$([ -n "$r" ] && echo $((r / 1024)) || echo -)"
}
for op in read write; do
  row $op $op.zkcli "zkCli.sh"
  row $op $op.zkcliacl "zkCli.sh, get + getAcl"
  row $op $op.sync "synchronous C client"
  row $op $op.async "bare asynchronous C client"
  [ "$op" = read ] || row $op write.asyncrb "bare async: multi creates + read-back"
  row $op $op.flinkbr "flinkbr (whole task, CLI --wait)"
  row $op $op.flinkbr.zk "flinkbr (zookeeper part)"
done
echo
echo "peak RSS: zkCli.sh is the JVM; flinkbr is the daemon's VmHWM over the task alone (daemon"
echo "restarted for each task, peak reset just before it)."
[ "$rounds" = 1 ] || echo "best of $rounds rounds each for the bare asynchronous client and flinkbr (alternating); peak RSS: the highest."
echo "flinkbr restore steps: $restore_steps (since issue 18 verify stages as it reads; safety-copy includes the comparison with the live tree that follows it)."
echo "targets (issue 18): backup whole task >= 1.00x the bare async read (× async);"
echo "restore whole task >= 1.00x the bare async multi creates + read-back (× async+read)."
echo "flinkbr ${capture:-Flink HA capture: no summary in the daemon log} (last backup)."
echo "flinkbr compression: $compression; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
