/* A plain synchronous ZooKeeper client, the way an operator's script would do it: one round
 * trip at a time.
 *   zk_sync read  HOSTS ROOT      zoo_get_children + zoo_get per znode below ROOT
 *   zk_sync write HOSTS ROOT N    zoo_create per znode of the generated tree (bench/zk/zk_bench.h)
 *   zk_sync mkroot HOSTS ROOT     creates ROOT and its ancestors (empty data) when missing
 * The generated tree is in Flink's HA layout ZKB_LAYOUT names: 1.15 (default) or legacy.
 * Prints one RESULT line (see zkb_report). */
#include "zk_bench.h"

static void read_tree(zhandle_t* zh, const char* root) {
  size_t cap = 1024, top = 0, count = 0;
  unsigned long long bytes = 0;
  uint64_t digest = 0;
  char** stack = malloc(cap * sizeof(char*));
  char* buf = malloc(1 << 20);
  stack[top++] = strdup(root);
  double t0 = zkb_now();
  while (top > 0) {
    char* path = stack[--top];
    struct String_vector sv;
    int rc = zoo_get_children(zh, path, 0, &sv);
    if (rc != ZOK) zkb_die(path, rc);
    if (strcmp(path, root) != 0) {
      int len = 1 << 20;
      struct Stat st;
      rc = zoo_get(zh, path, 0, buf, &len, &st);
      if (rc != ZOK) zkb_die(path, rc);
      ++count;
      if (len > 0) bytes += (unsigned long long)len;
      digest += zkb_node_digest(path, buf, len < 0 ? 0 : len);
    }
    for (int i = 0; i < sv.count; ++i) {
      if (top == cap) stack = realloc(stack, (cap *= 2) * sizeof(char*));
      size_t n = strlen(path) + strlen(sv.data[i]) + 2;
      stack[top] = malloc(n);
      snprintf(stack[top++], n, "%s/%s", path, sv.data[i]);
    }
    deallocate_String_vector(&sv);
    free(path);
  }
  zkb_report("read", count, bytes, zkb_now() - t0, digest);
}

static void write_tree(zhandle_t* zh, const char* root, size_t n) {
  zkb_tree t = zkb_make_tree(root, n);
  char data[ZKB_DATA_LEN];
  uint64_t digest = 0;
  double t0 = zkb_now();
  for (size_t i = 0; i < t.count; ++i) {
    zkb_data(t.paths[i], data);
    int rc = zoo_create(zh, t.paths[i], data, ZKB_DATA_LEN, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT,
                        NULL, 0);
    if (rc != ZOK) zkb_die(t.paths[i], rc);
    digest += zkb_node_digest(t.paths[i], data, ZKB_DATA_LEN);
  }
  zkb_report("write", t.count, (unsigned long long)t.count * ZKB_DATA_LEN, zkb_now() - t0, digest);
}

int main(int argc, char** argv) {
  if (argc < 4 || (strcmp(argv[1], "write") == 0 && argc < 5)) {
    fprintf(stderr, "usage: zk_sync read|mkroot HOSTS ROOT | zk_sync write HOSTS ROOT N\n");
    return 2;
  }
  zhandle_t* zh = zkb_connect(argv[2]);
  if (strcmp(argv[1], "mkroot") == 0) {
    char path[ZKB_PATH_MAX];
    const char* p = argv[3];
    for (const char* s = strchr(p + 1, '/');; s = strchr(s + 1, '/')) {
      size_t len = s ? (size_t)(s - p) : strlen(p);
      snprintf(path, sizeof path, "%.*s", (int)len, p);
      int rc = zoo_create(zh, path, "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_PERSISTENT, NULL, 0);
      if (rc != ZOK && rc != ZNODEEXISTS) zkb_die(path, rc);
      if (!s) break;
    }
  } else if (strcmp(argv[1], "read") == 0)
    read_tree(zh, argv[3]);
  else
    write_tree(zh, argv[3], (size_t)strtoull(argv[4], NULL, 10));
  zookeeper_close(zh);
  return 0;
}
