/* A bare asynchronous ZooKeeper client: the practical limit of a client on this server.
 *   zk_async read   HOSTS ROOT     zoo_aget_children + zoo_aget per znode below ROOT, pipelined
 *                                  (ZKB_INFLIGHT znodes in flight, default 2000), over
 *                                  ZKB_SESSIONS sessions (default 2), znodes dealt in turn
 *   zk_async write  HOSTS ROOT N   creates the generated tree in zoo_amulti batches of at most
 *                                  ZKB_BATCH_BYTES serialized bytes (default 256 KiB, well under
 *                                  jute.maxbuffer), ZKB_BATCHES batches in flight (default 8)
 *   zk_async clear  HOSTS ROOT     deletes everything below ROOT in multi batches, children first
 *   zk_async expect ROOT N         the RESULT line a reader must print for the generated tree
 *   zk_async zkcli  ROOT N         a zkCli.sh script creating the generated tree (same data)
 * The generated tree is in Flink's HA layout ZKB_LAYOUT names: 1.15 (default) or legacy (before
 * 1.15; bench/zk/zk_bench.h).
 * A session applies requests in order, so a batch creating children always follows the batch
 * that created their parent. Prints one RESULT line (see zkb_report). */
#include "zk_bench.h"

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static size_t env_size(const char* name, size_t def) {
  const char* v = getenv(name);
  return v && *v ? (size_t)strtoull(v, NULL, 10) : def;
}

/* ---- read ---- */

typedef struct {
  char** items;
  size_t head, tail, cap;
} queue;

static void q_push(queue* q, char* s) {
  if (q->tail == q->cap) {
    if (q->head > 0) {
      memmove(q->items, q->items + q->head, (q->tail - q->head) * sizeof(char*));
      q->tail -= q->head;
      q->head = 0;
    } else {
      q->cap = q->cap ? q->cap * 2 : 1024;
      q->items = realloc(q->items, q->cap * sizeof(char*));
    }
  }
  q->items[q->tail++] = s;
}

typedef struct {
  char* path;
  int pending;
} node;

static queue todo;
static size_t inflight, count;
static unsigned long long bytes;
static uint64_t digest;
static int failed;

static void node_done(node* n) { /* under m */
  if (--n->pending > 0) return;
  free(n->path);
  free(n);
  --inflight;
  pthread_cond_signal(&cv);
}

static void on_children(int rc, const struct String_vector* sv, const void* d) {
  node* n = (node*)d;
  pthread_mutex_lock(&m);
  if (rc != ZOK) {
    fprintf(stderr, "children of %s: %s\n", n->path, zerror(rc));
    failed = 1;
  } else {
    for (int i = 0; i < sv->count; ++i) {
      size_t len = strlen(n->path) + strlen(sv->data[i]) + 2;
      char* c = malloc(len);
      snprintf(c, len, "%s/%s", n->path, sv->data[i]);
      q_push(&todo, c);
    }
  }
  node_done(n);
  pthread_mutex_unlock(&m);
}

static void on_data(int rc, const char* value, int len, const struct Stat* st, const void* d) {
  (void)st;
  node* n = (node*)d;
  pthread_mutex_lock(&m);
  if (rc != ZOK) {
    fprintf(stderr, "get %s: %s\n", n->path, zerror(rc));
    failed = 1;
  } else {
    ++count;
    if (len > 0) bytes += (unsigned long long)len;
    digest += zkb_node_digest(n->path, value, len < 0 ? 0 : len);
  }
  node_done(n);
  pthread_mutex_unlock(&m);
}

static void read_tree(zhandle_t** zhs, size_t sessions, const char* root) {
  size_t limit = env_size("ZKB_INFLIGHT", 2000);
  size_t turn = 0;
  double t0 = zkb_now();
  pthread_mutex_lock(&m);
  q_push(&todo, strdup(root));
  int first = 1;
  while (!failed && (todo.head < todo.tail || inflight > 0)) {
    while (todo.head < todo.tail && inflight < limit) {
      node* n = calloc(1, sizeof *n);
      n->path = todo.items[todo.head++];
      n->pending = first ? 1 : 2;
      ++inflight;
      /* The completion thread takes m: issue without holding it. */
      pthread_mutex_unlock(&m);
      zhandle_t* zh = zhs[turn++ % sessions];
      int rc = zoo_aget_children(zh, n->path, 0, on_children, n);
      if (rc != ZOK) zkb_die("zoo_aget_children", rc);
      if (!first) {
        rc = zoo_aget(zh, n->path, 0, on_data, n);
        if (rc != ZOK) zkb_die("zoo_aget", rc);
      }
      first = 0;
      pthread_mutex_lock(&m);
    }
    if (todo.head < todo.tail && inflight < limit) continue;
    if (inflight > 0) pthread_cond_wait(&cv, &m);
  }
  pthread_mutex_unlock(&m);
  if (failed) exit(1);
  zkb_report("read", count, bytes, zkb_now() - t0, digest);
}

/* ---- write / delete in multi batches ---- */

typedef struct {
  zoo_op_t* ops;
  zoo_op_result_t* results;
  char** paths;
  char* data;
  int n;
} batch;

static size_t batches_inflight;

static void on_multi(int rc, const void* d) {
  batch* b = (batch*)d;
  if (rc != ZOK) {
    for (int i = 0; i < b->n; ++i)
      if (b->results[i].err != ZOK && b->results[i].err != ZRUNTIMEINCONSISTENCY) {
        fprintf(stderr, "multi: %s: %s\n", b->paths[i], zerror(b->results[i].err));
        break;
      }
    fprintf(stderr, "multi of %d ops: %s\n", b->n, zerror(rc));
    exit(1);
  }
  free(b->ops);
  free(b->results);
  free(b->data);
  free(b->paths);
  free(b);
  pthread_mutex_lock(&m);
  --batches_inflight;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&m);
}

/* Sends ops [from, to) of `paths` as one multi: creates (with data) or deletes. */
static void send_batch(zhandle_t* zh, char** paths, size_t from, size_t to, int create,
                       size_t max_inflight) {
  pthread_mutex_lock(&m);
  while (batches_inflight >= max_inflight) pthread_cond_wait(&cv, &m);
  ++batches_inflight;
  pthread_mutex_unlock(&m);
  batch* b = calloc(1, sizeof *b);
  b->n = (int)(to - from);
  b->ops = calloc((size_t)b->n, sizeof(zoo_op_t));
  b->results = calloc((size_t)b->n, sizeof(zoo_op_result_t));
  b->paths = malloc((size_t)b->n * sizeof(char*));
  memcpy(b->paths, paths + from, (size_t)b->n * sizeof(char*));
  if (create) b->data = malloc((size_t)b->n * ZKB_DATA_LEN);
  for (int i = 0; i < b->n; ++i) {
    if (create) {
      zkb_data(b->paths[i], b->data + (size_t)i * ZKB_DATA_LEN);
      zoo_create_op_init(&b->ops[i], b->paths[i], b->data + (size_t)i * ZKB_DATA_LEN, ZKB_DATA_LEN,
                         &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0);
    } else {
      zoo_delete_op_init(&b->ops[i], b->paths[i], -1);
    }
  }
  int rc = zoo_amulti(zh, b->n, b->ops, b->results, on_multi, b);
  if (rc != ZOK) zkb_die("zoo_amulti", rc);
}

static void wait_batches(void) {
  pthread_mutex_lock(&m);
  while (batches_inflight > 0) pthread_cond_wait(&cv, &m);
  pthread_mutex_unlock(&m);
}

/* Batches `paths` in order, each at most max_bytes of (estimated) serialized request. */
static void run_batches(zhandle_t* zh, char** paths, size_t n, int create) {
  size_t max_bytes = env_size("ZKB_BATCH_BYTES", 256 * 1024);
  size_t max_inflight = env_size("ZKB_BATCHES", 8);
  size_t from = 0, acc = 0;
  for (size_t i = 0; i < n; ++i) {
    size_t op = 32 + strlen(paths[i]) + (create ? ZKB_DATA_LEN + 24 : 0);
    if (i > from && acc + op > max_bytes) {
      send_batch(zh, paths, from, i, create, max_inflight);
      from = i;
      acc = 0;
    }
    acc += op;
  }
  if (from < n) send_batch(zh, paths, from, n, create, max_inflight);
  wait_batches();
}

static void write_tree(zhandle_t* zh, const char* root, size_t n) {
  zkb_tree t = zkb_make_tree(root, n);
  uint64_t d = 0;
  char data[ZKB_DATA_LEN];
  for (size_t i = 0; i < t.count; ++i) { /* the expected digest, outside the timed part */
    zkb_data(t.paths[i], data);
    d += zkb_node_digest(t.paths[i], data, ZKB_DATA_LEN);
  }
  double t0 = zkb_now();
  run_batches(zh, t.paths, t.count, 1);
  zkb_report("write", t.count, (unsigned long long)t.count * ZKB_DATA_LEN, zkb_now() - t0, d);
}

/* Every path below root, parents first (breadth-first, synchronous listing: not timed). */
static void list_below(zhandle_t* zh, const char* root, queue* out) {
  queue q = {0};
  q_push(&q, strdup(root));
  while (q.head < q.tail) {
    char* p = q.items[q.head++];
    struct String_vector sv;
    int rc = zoo_get_children(zh, p, 0, &sv);
    if (rc != ZOK) zkb_die(p, rc);
    for (int i = 0; i < sv.count; ++i) {
      size_t len = strlen(p) + strlen(sv.data[i]) + 2;
      char* c = malloc(len);
      snprintf(c, len, "%s/%s", p, sv.data[i]);
      q_push(&q, c);
      q_push(out, c);
    }
    deallocate_String_vector(&sv);
  }
}

static void clear_tree(zhandle_t* zh, const char* root) {
  queue all = {0};
  list_below(zh, root, &all);
  size_t n = all.tail;
  /* Breadth-first order reversed: every child before its parent. */
  for (size_t i = 0; i < n / 2; ++i) {
    char* x = all.items[i];
    all.items[i] = all.items[n - 1 - i];
    all.items[n - 1 - i] = x;
  }
  double t0 = zkb_now();
  if (n > 0) run_batches(zh, all.items, n, 0);
  zkb_report("clear", n, 0, zkb_now() - t0, 0);
}

int main(int argc, char** argv) {
  if (argc >= 4 && strcmp(argv[1], "zkcli") == 0) {
    zkb_tree t = zkb_make_tree(argv[2], (size_t)strtoull(argv[3], NULL, 10));
    char data[ZKB_DATA_LEN];
    for (size_t i = 0; i < t.count; ++i) {
      zkb_data(t.paths[i], data);
      printf("create %s %.*s\n", t.paths[i], ZKB_DATA_LEN, data);
    }
    return 0;
  }
  if (argc >= 4 && strcmp(argv[1], "expect") == 0) {
    zkb_tree t = zkb_make_tree(argv[2], (size_t)strtoull(argv[3], NULL, 10));
    uint64_t d = 0;
    char data[ZKB_DATA_LEN];
    for (size_t i = 0; i < t.count; ++i) {
      zkb_data(t.paths[i], data);
      d += zkb_node_digest(t.paths[i], data, ZKB_DATA_LEN);
    }
    zkb_report("expect", t.count, (unsigned long long)t.count * ZKB_DATA_LEN, 0, d);
    return 0;
  }
  if (argc < 4 || (strcmp(argv[1], "write") == 0 && argc < 5)) {
    fprintf(stderr,
            "usage: zk_async read|clear HOSTS ROOT | zk_async write HOSTS ROOT N |"
            " zk_async expect|zkcli ROOT N\n");
    return 2;
  }
  if (strcmp(argv[1], "read") == 0) {
    /* Several sessions: the server orders the requests of one session; those of different
     * sessions may run on its worker threads at once. */
    size_t sessions = env_size("ZKB_SESSIONS", 2);
    if (sessions < 1) sessions = 1;
    zhandle_t** zhs = calloc(sessions, sizeof *zhs);
    for (size_t i = 0; i < sessions; ++i) zhs[i] = zkb_connect(argv[2]);
    read_tree(zhs, sessions, argv[3]);
    for (size_t i = 0; i < sessions; ++i) zookeeper_close(zhs[i]);
    free(zhs);
    return 0;
  }
  zhandle_t* zh = zkb_connect(argv[2]);
  if (strcmp(argv[1], "write") == 0)
    write_tree(zh, argv[3], (size_t)strtoull(argv[4], NULL, 10));
  else if (strcmp(argv[1], "clear") == 0)
    clear_tree(zh, argv[3]);
  else
    return 2;
  zookeeper_close(zh);
  return 0;
}
