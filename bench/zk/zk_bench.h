/* Shared by the ZooKeeper benchmark clients (bench/zookeeper.sh): the deterministic Flink-like
 * tree, its data, connecting, timing and peak RSS. Header-only so that each client is one
 * `cc` command. */
#ifndef FLINKBR_BENCH_ZK_BENCH_H
#define FLINKBR_BENCH_ZK_BENCH_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <zookeeper/zookeeper.h>

#define ZKB_DATA_LEN 1024
#define ZKB_PATH_MAX 512

static void zkb_die(const char* what, int rc) {
  fprintf(stderr, "%s: %s\n", what, rc ? zerror(rc) : "failed");
  exit(1);
}

static uint64_t zkb_mix(uint64_t x) { /* splitmix64 */
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static uint64_t zkb_hash(const char* s) { /* FNV-1a */
  uint64_t h = 1469598103934665603ULL;
  for (; *s; ++s) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return h;
}

/* 1 KiB of printable data derived from the path: zkCli.sh can only pass text. */
static void zkb_data(const char* path, char out[ZKB_DATA_LEN]) {
  static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  uint64_t s = zkb_hash(path);
  for (int i = 0; i < ZKB_DATA_LEN; i += 8) {
    s = zkb_mix(s);
    for (int j = 0; j < 8; ++j) out[i + j] = a[(s >> (6 * j)) & 63];
  }
}

typedef struct {
  char** paths; /* parents before children */
  size_t count;
} zkb_tree;

static void zkb_add(zkb_tree* t, const char* fmt_root, const char* rest) {
  char buf[ZKB_PATH_MAX];
  snprintf(buf, sizeof buf, "%s%s", fmt_root, rest);
  t->paths[t->count++] = strdup(buf);
}

/* Flink's HA layouts (docs/flink-ha.md, "Layout"); ZKB_LAYOUT picks one, default 1.15. */
typedef enum { ZKB_LAYOUT_LEGACY, ZKB_LAYOUT_1_15 } zkb_layout;

static zkb_layout zkb_layout_from_env(void) {
  const char* v = getenv("ZKB_LAYOUT");
  if (!v || !*v || strcmp(v, "1.15") == 0) return ZKB_LAYOUT_1_15;
  if (strcmp(v, "legacy") == 0) return ZKB_LAYOUT_LEGACY;
  fprintf(stderr, "ZKB_LAYOUT=%s: expected legacy or 1.15\n", v);
  exit(2);
}

/* A JobID as Flink names nodes after it: 32 hexadecimal digits. */
static void zkb_job_id(size_t j, char out[33]) {
  snprintf(out, 33, "%016llx%016llx", (unsigned long long)zkb_mix(j * 2 + 1),
           (unsigned long long)zkb_mix(j * 2 + 2));
}

/* Before Flink 1.15:
 *   leader/{dispatcher,resource_manager,rest_server}, jobgraphs/<job>,
 *   checkpoints/<job>/<19-digit id>, checkpoint-counter/<job>, running_job_registry/<job>.
 * One job per 100 znodes; checkpoints fill the rest. */
static void zkb_make_legacy(zkb_tree* t, const char* root, size_t n) {
  size_t jobs = n / 100;
  size_t fixed = 8 + 4 * jobs;
  size_t rem = n - fixed, per = rem / jobs, extra = rem % jobs;
  char job[33], rest[256];
  static const char* dirs[] = {"/jobgraphs", "/checkpoints", "/checkpoint-counter",
                               "/running_job_registry"};
  zkb_add(t, root, "/leader");
  zkb_add(t, root, "/leader/dispatcher");
  zkb_add(t, root, "/leader/resource_manager");
  zkb_add(t, root, "/leader/rest_server");
  for (int d = 0; d < 4; ++d) {
    zkb_add(t, root, dirs[d]);
    for (size_t j = 0; j < jobs; ++j) {
      zkb_job_id(j, job);
      snprintf(rest, sizeof rest, "%s/%s", dirs[d], job);
      zkb_add(t, root, rest);
      if (d != 1) continue;
      size_t k = per + (j < extra ? 1 : 0);
      for (size_t c = 0; c < k; ++c) {
        snprintf(rest, sizeof rest, "%s/%s/%019zu", dirs[d], job, c + 1);
        zkb_add(t, root, rest);
      }
    }
  }
}

/* Flink 1.15 and later:
 *   leader/{dispatcher,resource_manager,rest_server}, leader/latch (only when n needs one more
 *   znode), jobgraphs/<job>/locks, jobs/<job>/checkpoint_id_counter,
 *   jobs/<job>/checkpoints/<19-digit id>/locks.
 * Every record (job graph, checkpoint) has its persistent `locks` child, without children: the
 * ephemeral lock of a live JobManager's session (locks/<uuid>) cannot outlive the session that
 * writes the tree, and a backup leaves ephemerals out anyway; this is the tree of a cluster
 * whose JobManager is gone, and what a restore brings back. One job per 100 znodes; checkpoints
 * (two znodes each) fill the rest. */
static void zkb_make_1_15(zkb_tree* t, const char* root, size_t n) {
  size_t jobs = n / 100;
  size_t fixed = 6 + 5 * jobs;
  size_t rem = n - fixed, latch = rem % 2, cps = (rem - latch) / 2;
  size_t per = cps / jobs, extra = cps % jobs;
  char job[33], rest[256];
  zkb_add(t, root, "/leader");
  zkb_add(t, root, "/leader/dispatcher");
  if (latch) zkb_add(t, root, "/leader/latch");
  zkb_add(t, root, "/leader/resource_manager");
  zkb_add(t, root, "/leader/rest_server");
  zkb_add(t, root, "/jobgraphs");
  for (size_t j = 0; j < jobs; ++j) {
    zkb_job_id(j, job);
    snprintf(rest, sizeof rest, "/jobgraphs/%s", job);
    zkb_add(t, root, rest);
    snprintf(rest, sizeof rest, "/jobgraphs/%s/locks", job);
    zkb_add(t, root, rest);
  }
  zkb_add(t, root, "/jobs");
  for (size_t j = 0; j < jobs; ++j) {
    zkb_job_id(j, job);
    snprintf(rest, sizeof rest, "/jobs/%s", job);
    zkb_add(t, root, rest);
    snprintf(rest, sizeof rest, "/jobs/%s/checkpoint_id_counter", job);
    zkb_add(t, root, rest);
    snprintf(rest, sizeof rest, "/jobs/%s/checkpoints", job);
    zkb_add(t, root, rest);
    size_t k = per + (j < extra ? 1 : 0);
    for (size_t c = 0; c < k; ++c) {
      snprintf(rest, sizeof rest, "/jobs/%s/checkpoints/%019zu", job, c + 1);
      zkb_add(t, root, rest);
      snprintf(rest, sizeof rest, "/jobs/%s/checkpoints/%019zu/locks", job, c + 1);
      zkb_add(t, root, rest);
    }
  }
}

/* The n znodes below `root` (root itself excluded), parents before children, in the layout
 * ZKB_LAYOUT names. Every znode holds 1 KiB of printable data (zkb_data), also those that
 * Flink keeps small (a counter: 4 bytes; `locks`: empty), so that both layouts move the same
 * bytes. n >= 100. */
static zkb_tree zkb_make_tree(const char* root, size_t n) {
  zkb_tree t;
  t.paths = calloc(n, sizeof(char*));
  t.count = 0;
  if (n < 100) {
    fprintf(stderr, "tree generator: %zu znodes, at least 100 needed\n", n);
    exit(1);
  }
  if (zkb_layout_from_env() == ZKB_LAYOUT_LEGACY)
    zkb_make_legacy(&t, root, n);
  else
    zkb_make_1_15(&t, root, n);
  if (t.count != n) {
    fprintf(stderr, "tree generator: %zu znodes instead of %zu\n", t.count, n);
    exit(1);
  }
  return t;
}

/* Connects and waits for the session. */
static pthread_mutex_t zkb_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t zkb_c = PTHREAD_COND_INITIALIZER;
static int zkb_state = 0;

static void zkb_watcher(zhandle_t* zh, int type, int state, const char* path, void* ctx) {
  (void)zh, (void)path, (void)ctx;
  if (type != ZOO_SESSION_EVENT) return;
  pthread_mutex_lock(&zkb_m);
  zkb_state = state;
  pthread_cond_broadcast(&zkb_c);
  pthread_mutex_unlock(&zkb_m);
}

static zhandle_t* zkb_connect(const char* hosts) {
  zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
  zhandle_t* zh = zookeeper_init(hosts, zkb_watcher, 30000, NULL, NULL, 0);
  if (!zh) zkb_die("zookeeper_init", 0);
  /* By default the C client resolves the host names every time it checks the socket: a
   * getaddrinfo (netlink socket, /etc files) per wake-up of its I/O thread, about one per
   * request when pipelining. Once a second is plenty (ZKB_RESOLVE_DELAY_MS=0: the default). */
  const char* rd = getenv("ZKB_RESOLVE_DELAY_MS");
  zoo_set_servers_resolution_delay(zh, rd && *rd ? atoi(rd) : 1000);
  struct timespec dl;
  clock_gettime(CLOCK_REALTIME, &dl);
  dl.tv_sec += 30;
  pthread_mutex_lock(&zkb_m);
  while (zkb_state != ZOO_CONNECTED_STATE)
    if (pthread_cond_timedwait(&zkb_c, &zkb_m, &dl) != 0) zkb_die("connecting", ZCONNECTIONLOSS);
  pthread_mutex_unlock(&zkb_m);
  return zh;
}

static double zkb_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long zkb_peak_rss_kib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

/* Order-independent digest of a tree: the sum over znodes of a hash of path and data, so that
 * every reader can be checked against the generator. */
static uint64_t zkb_node_digest(const char* path, const char* data, int len) {
  uint64_t h = zkb_hash(path);
  for (int i = 0; i < len; ++i) h = (h ^ (unsigned char)data[i]) * 1099511628211ULL;
  return zkb_mix(h ^ (uint64_t)len);
}

/* One result line the benchmark script parses. */
static void zkb_report(const char* op, size_t znodes, unsigned long long bytes, double seconds,
                       uint64_t digest) {
  printf("RESULT op=%s znodes=%zu bytes=%llu seconds=%.3f rss_kib=%ld digest=%016llx\n", op, znodes,
         bytes, seconds, zkb_peak_rss_kib(), (unsigned long long)digest);
}

#endif
