// flinkbr's Flink HA test peer: writes, churns, holds and checks a Flink ZooKeeper HA tree and its
// HA storage files the way a Flink JobManager does (README.md beside src/ says which Flink classes
// each step follows and what is left out). Commands:
//   populate      job graphs (or execution plans) and retained checkpoints, then exit
//   churn         keep checkpointing and subsuming until SIGTERM or end of stdin
//   check         a JobManager's recovery, as a JSON report; exit 0 when Flink recovers everything
//   hold          a session with leader nodes and locks, then wait (tests kill -9 it)
//   dump-pointer  the pointer bytes for one URI and size
package flinkbr.peer;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.PrintStream;
import java.io.Serializable;
import java.net.InetAddress;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.checkpoint.CompletedCheckpoint;
import org.apache.flink.runtime.jobgraph.JobGraph;
import org.apache.flink.runtime.state.RetrievableStreamStateHandle;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.Op;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Stat;

public final class FlinkHaPeer {
  // ---------------------------------------------------------------- arguments

  static final class Args {
    final Map<String, List<String>> values = new LinkedHashMap<>();

    Args(String[] argv, int from) {
      for (int i = from; i < argv.length; i++) {
        String a = argv[i];
        if (!a.startsWith("--")) throw new Usage("unexpected argument: " + a);
        String key = a.substring(2);
        String value = "true";
        int eq = key.indexOf('=');
        if (eq >= 0) {
          value = key.substring(eq + 1);
          key = key.substring(0, eq);
        } else if (i + 1 < argv.length && !argv[i + 1].startsWith("--")) {
          value = argv[++i];
        }
        values.computeIfAbsent(key, k -> new ArrayList<>()).add(value);
      }
    }

    String get(String key, String fallback) {
      List<String> v = values.get(key);
      return v == null ? fallback : v.get(v.size() - 1);
    }

    String need(String key) {
      String v = get(key, null);
      if (v == null) throw new Usage("--" + key + " is required");
      return v;
    }

    int integer(String key, int fallback) {
      String v = get(key, null);
      if (v == null) return fallback;
      try {
        return Integer.parseInt(v);
      } catch (NumberFormatException e) {
        throw new Usage("--" + key + " must be an integer, not " + v);
      }
    }

    List<String> all(String key) {
      return values.getOrDefault(key, Collections.emptyList());
    }

    boolean flag(String key) {
      return values.containsKey(key);
    }
  }

  static final class Usage extends RuntimeException {
    Usage(String m) {
      super(m);
    }
  }

  // ---------------------------------------------------------------- layouts

  // Where each Flink version keeps its records under <path.root>/<cluster-id>.
  enum Layout {
    // Flink 1.15 to 1.20: ZooKeeperUtils' jobgraphs + jobs/<id>/checkpoints, `locks` sub-node.
    V115("1.15"),
    // Before 1.15 (1.14's ZooKeeperStateHandleStore): the ephemeral lock sits right under the
    // node, checkpoints/<job>/<id>, checkpoint-counter/<job>, running_job_registry/<job>.
    LEGACY("legacy"),
    // Flink 2.0 (FLINK-36158): execution plans instead of job graphs.
    V20("2.0");

    final String name;

    Layout(String n) {
      name = n;
    }

    static Layout of(String s) {
      for (Layout l : values())
        if (l.name.equals(s)) return l;
      throw new Usage("--layout must be 1.15, legacy or 2.0, not " + s);
    }

    String graphsDir() {
      return this == V20 ? "execution-plans" : "jobgraphs";
    }

    String graphPrefix() {
      return this == V20 ? "submittedExecutionPlan" : "submittedJobGraph";
    }

    String graphWord() {
      return this == V20 ? "execution plan" : "job graph";
    }

    String checkpointsDir(String job) {
      return this == LEGACY ? "checkpoints/" + job : "jobs/" + job + "/checkpoints";
    }

    String counterPath(String job) {
      return this == LEGACY ? "checkpoint-counter/" + job : "jobs/" + job + "/checkpoint_id_counter";
    }

    // Since 1.15 a record is "marked for deletion" when it has no children (no `locks`).
    boolean hasLocksNode() {
      return this != LEGACY;
    }
  }

  // ---------------------------------------------------------------- ZooKeeper session

  // One ZooKeeper session (a JobManager's Curator client) rooted at <path.root>/<cluster-id>.
  static final class Session implements AutoCloseable {
    final ZooKeeper zk;
    final String root;
    final List<ACL> acl;
    // Curator writes its default data, the local host's address, into nodes created without
    // data (the `locks` node and the lock children).
    static final byte[] CURATOR_DEFAULT_DATA = localAddress();

    Session(Args a) throws Exception {
      root = stripSlash(a.need("root"));
      int timeout = a.integer("session-timeout-ms", 60000);
      CountDownLatch connected = new CountDownLatch(1);
      zk =
          new ZooKeeper(
              a.need("connect"),
              timeout,
              e -> {
                if (e.getState() == Watcher.Event.KeeperState.SyncConnected) connected.countDown();
              });
      if (!connected.await(30, TimeUnit.SECONDS)) {
        zk.close();
        throw new IOException("could not connect to ZooKeeper at " + a.need("connect"));
      }
      String digest = a.get("digest", null);
      if (digest != null) zk.addAuthInfo("digest", digest.getBytes(StandardCharsets.UTF_8));
      String mode = a.get("acl", digest != null ? "creator" : "open");
      if (mode.equals("creator")) {
        if (digest == null) throw new Usage("--acl creator needs --digest user:password");
        acl = ZooDefs.Ids.CREATOR_ALL_ACL;
      } else if (mode.equals("open")) {
        acl = ZooDefs.Ids.OPEN_ACL_UNSAFE;
      } else {
        throw new Usage("--acl must be creator or open, not " + mode);
      }
    }

    String path(String rel) {
      return rel.isEmpty() ? root : root + "/" + rel;
    }

    // Persistent parents, as Curator's EnsurePath creates them (empty data).
    void ensure(String abs) throws Exception {
      StringBuilder p = new StringBuilder();
      for (String part : abs.substring(1).split("/")) {
        p.append('/').append(part);
        try {
          zk.create(p.toString(), new byte[0], acl, CreateMode.PERSISTENT);
        } catch (KeeperException.NodeExistsException ignored) {
          // already there
        }
      }
    }

    Stat stat(String abs) throws Exception {
      return zk.exists(abs, false);
    }

    List<String> children(String abs) throws Exception {
      try {
        List<String> c = zk.getChildren(abs, false);
        Collections.sort(c);
        return c;
      } catch (KeeperException.NoNodeException e) {
        return Collections.emptyList();
      }
    }

    @Override
    public void close() throws InterruptedException {
      zk.close();
    }

    private static byte[] localAddress() {
      try {
        return InetAddress.getLocalHost().getHostAddress().getBytes(StandardCharsets.UTF_8);
      } catch (IOException e) {
        return new byte[0];
      }
    }
  }

  // ---------------------------------------------------------------- HA storage

  // FileSystemStateStorageHelper: {storageDir}/{cluster-id}/<prefix><12 random hex digits>,
  // written first, then its handle goes to ZooKeeper. storageDir is a Flink path string (any
  // scheme); the files themselves go to a local directory that stands for it (a WebHDFS test
  // server's namespace directory, say, for an hdfs:// storageDir).
  static final class Storage {
    final Path clusterPath;
    final String basePath;  // the storageDir's decoded path
    final File localDir;
    final Random random = new Random();

    Storage(String storageDirString, File localDir, String clusterId) {
      Path base = new Path(storageDirString);
      basePath = base.toUri().getPath();
      this.localDir = localDir;
      clusterPath = new Path(base, clusterId);
    }

    File local(Path p) throws IOException {
      String path = p.toUri().getPath();
      if (!path.startsWith(basePath)) throw new IOException(p + " is not under " + basePath);
      return new File(localDir, path.substring(basePath.length()));
    }

    RetrievableStreamStateHandle<Serializable> store(String prefix, Serializable state)
        throws Exception {
      for (int attempt = 0; attempt < 10; attempt++) {
        Path filePath = new Path(clusterPath, prefix + randomSuffix());
        File f = local(filePath);
        f.getParentFile().mkdirs();
        if (!f.createNewFile()) continue;  // Flink's NO_OVERWRITE: draw another name
        try (FileOutputStream out = new FileOutputStream(f)) {
          // Flink's local file system does not sync either: the data is in the page cache.
          out.write(serialize(state));
        }
        return new RetrievableStreamStateHandle<>(filePath, f.length());
      }
      throw new IOException("Could not open output stream for state backend");
    }

    private String randomSuffix() {
      // FileUtils.getRandomFilename: 12 draws from its alphabet, which lists '0' twice.
      final String alphabet = "01234567890abcdef";
      StringBuilder b = new StringBuilder();
      for (int i = 0; i < 12; i++) b.append(alphabet.charAt(random.nextInt(alphabet.length())));
      return b.toString();
    }
  }

  static byte[] serialize(Object o) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(o);
    }
    return bytes.toByteArray();
  }

  static Object deserialize(InputStream in) throws IOException, ClassNotFoundException {
    try (ObjectInputStream ois = new ObjectInputStream(in)) {
      return ois.readObject();
    }
  }

  // ---------------------------------------------------------------- state handle store

  // ZooKeeperStateHandleStore, one instance per store (job graphs, each job's checkpoints), each
  // with its own lock node name.
  static final class HandleStore {
    final Session s;
    final Layout layout;
    final String dir;  // absolute
    final Storage storage;  // null for a store that never removes
    final String lockNode = UUID.randomUUID().toString();

    HandleStore(Session s, Layout layout, String dir, Storage storage) throws Exception {
      this.s = s;
      this.layout = layout;
      this.dir = dir;
      this.storage = storage;
      s.ensure(dir);
    }

    String lockPath(String node) {
      return layout.hasLocksNode() ? node + "/locks/" + lockNode : node + "/" + lockNode;
    }

    // addAndLock: the node, its `locks` (since 1.15) and this instance's ephemeral lock in one
    // transaction, after the file was written.
    void addAndLock(String name, byte[] pointer) throws Exception {
      String node = dir + "/" + name;
      List<Op> ops = new ArrayList<>();
      ops.add(Op.create(node, pointer, s.acl, CreateMode.PERSISTENT));
      if (layout.hasLocksNode())
        ops.add(Op.create(node + "/locks", Session.CURATOR_DEFAULT_DATA, s.acl, CreateMode.PERSISTENT));
      ops.add(Op.create(lockPath(node), Session.CURATOR_DEFAULT_DATA, s.acl, CreateMode.EPHEMERAL));
      s.zk.multi(ops);
    }

    // getAndLock's lock half: false when Flink could not lock it (no `locks`: marked for
    // deletion, skipped).
    boolean lock(String name) throws Exception {
      try {
        s.zk.create(
            lockPath(dir + "/" + name), Session.CURATOR_DEFAULT_DATA, s.acl, CreateMode.EPHEMERAL);
        return true;
      } catch (KeeperException.NodeExistsException e) {
        return true;
      } catch (KeeperException.NoNodeException e) {
        return false;
      }
    }

    // releaseAndTryRemove. Since 1.15: release the own lock, delete `locks` (from here on the
    // node is "marked for deletion" and invisible to a recovering JobManager), discard the file,
    // then delete the node. Before 1.15: release, delete the node, then discard the file.
    boolean releaseAndTryRemove(String name) throws Exception {
      String node = dir + "/" + name;
      FileStateHandle handle = null;
      try {
        handle = fileHandle(s.zk.getData(node, false, null));
      } catch (Exception e) {
        System.err.println("Could not retrieve the state handle from node " + node + ": " + e);
      }
      deleteIfExists(lockPath(node));
      try {
        deleteIfExists(layout.hasLocksNode() ? node + "/locks" : node);
      } catch (KeeperException.NotEmptyException stillLocked) {
        return false;
      }
      if (handle != null) storage.local(handle.getFilePath()).delete();
      if (layout.hasLocksNode()) deleteIfExists(node);
      return true;
    }

    private void deleteIfExists(String p) throws Exception {
      try {
        s.zk.delete(p, -1);
      } catch (KeeperException.NoNodeException ignored) {
        // already gone
      }
    }
  }

  static FileStateHandle fileHandle(byte[] pointer) throws IOException, ClassNotFoundException {
    Object o = deserialize(new ByteArrayInputStream(pointer));
    StreamStateHandle inner = ((RetrievableStreamStateHandle<?>) o).getWrappedStreamStateHandle();
    return (FileStateHandle) inner;
  }

  // ---------------------------------------------------------------- checkpoint id counter

  // ZooKeeperCheckpointIDCounter on a Curator SharedCount: 4 bytes big-endian, the next id,
  // seeded with 1; getAndIncrement is a compare-and-set on the node's version.
  static final class Counter {
    final Session s;
    final String path;

    Counter(Session s, String path) throws Exception {
      this.s = s;
      this.path = path;
      s.ensure(path.substring(0, path.lastIndexOf('/')));
      try {
        s.zk.create(path, bytes(1), s.acl, CreateMode.PERSISTENT);
      } catch (KeeperException.NodeExistsException ignored) {
        // a counter that exists keeps its value
      }
    }

    long getAndIncrement() throws Exception {
      while (true) {
        Stat st = new Stat();
        int current = ByteBuffer.wrap(s.zk.getData(path, false, st)).getInt();
        try {
          s.zk.setData(path, bytes(current + 1), st.getVersion());
          return current;
        } catch (KeeperException.BadVersionException raced) {
          // another writer moved it: read again
        }
      }
    }

    static byte[] bytes(int v) {
      return ByteBuffer.allocate(4).putInt(v).array();
    }
  }

  // ---------------------------------------------------------------- a cluster

  static String stripSlash(String p) {
    while (p.length() > 1 && p.endsWith("/")) p = p.substring(0, p.length() - 1);
    if (!p.startsWith("/")) throw new Usage("--root must be an absolute znode path: " + p);
    return p;
  }

  static String clusterId(String root) {
    return root.substring(root.lastIndexOf('/') + 1);
  }

  static String jobId(Random r) {
    StringBuilder b = new StringBuilder();
    for (int i = 0; i < 32; i++) b.append("0123456789abcdef".charAt(r.nextInt(16)));
    return b.toString();
  }

  static String checkpointName(long id) {
    return String.format("%019d", id);  // ZooKeeperCheckpointStoreUtil.checkpointIDToName
  }

  // The HA storage directory as Flink's configuration names it (--storage-uri, default the
  // file: URI of --storage) and the local directory that holds its files (--storage).
  // --odd-path puts a space and a non-ASCII character into both, which java.net.URI encodes
  // differently (%20 / kept as is).
  static Storage storage(Args a, String clusterId) {
    final String odd = "ha storage \u00e9";
    File dir = new File(a.need("storage")).getAbsoluteFile();
    if (a.flag("odd-path")) dir = new File(dir, odd);
    String uri = a.get("storage-uri", null);
    if (uri == null) uri = "file://" + dir.getPath();
    else if (a.flag("odd-path")) uri = uri + "/" + odd;
    return new Storage(uri, dir, clusterId);
  }

  static final class Cluster implements AutoCloseable {
    final Session s;
    final Layout layout;
    final Storage storage;
    final HandleStore graphs;
    final Map<String, HandleStore> checkpointStores = new TreeMap<>();
    final Map<String, Counter> counters = new TreeMap<>();
    final byte[] payload;
    final Random random = new SecureRandom();

    Cluster(Args a) throws Exception {
      s = new Session(a);
      // Without --layout: the layout of what is there (1.15 for an empty tree).
      layout = Layout.of(a.get("layout", detectLayout(s)));
      storage = storage(a, clusterId(s.root));
      graphs = new HandleStore(s, layout, s.path(layout.graphsDir()), storage);
      payload = new byte[a.integer("payload-bytes", 512)];
      random.nextBytes(payload);
    }

    HandleStore checkpoints(String job) throws Exception {
      HandleStore h = checkpointStores.get(job);
      if (h == null) {
        h = new HandleStore(s, layout, s.path(layout.checkpointsDir(job)), storage);
        checkpointStores.put(job, h);
      }
      return h;
    }

    Counter counter(String job) throws Exception {
      Counter c = counters.get(job);
      if (c == null) {
        checkpoints(job);  // the store is created (and its path ensured) before the counter
        c = new Counter(s, s.path(layout.counterPath(job)));
        counters.put(job, c);
      }
      return c;
    }

    String submitJob() throws Exception {
      String job = jobId(random);
      byte[] pointer =
          serialize(storage.store(layout.graphPrefix(), new JobGraph(job, "job-" + job, payload)));
      graphs.addAndLock(job, pointer);
      if (layout == Layout.LEGACY) {
        // ZooKeeperRunningJobsRegistry (removed in 1.15): the job's scheduling status.
        String reg = s.path("running_job_registry/" + job);
        s.ensure(reg.substring(0, reg.lastIndexOf('/')));
        s.zk.create(reg, "RUNNING".getBytes(StandardCharsets.UTF_8), s.acl, CreateMode.PERSISTENT);
      }
      counter(job);
      return job;
    }

    // One completed checkpoint: the next id, the file, then the node.
    long checkpoint(String job) throws Exception {
      long id = counter(job).getAndIncrement();
      CompletedCheckpoint cp = new CompletedCheckpoint(job, id, System.currentTimeMillis(), payload);
      byte[] pointer = serialize(storage.store("completedCheckpoint", cp));
      checkpoints(job).addAndLock(checkpointName(id), pointer);
      return id;
    }

    List<String> jobs() throws Exception {
      return s.children(s.path(layout.graphsDir()));
    }

    @Override
    public void close() throws InterruptedException {
      s.close();
    }
  }

  // ---------------------------------------------------------------- leader nodes

  // What a leading JobManager keeps under leader/: Curator LeaderLatch's protected
  // EPHEMERAL_SEQUENTIAL node (its parent a CONTAINER, as creatingParentContainersIfNeeded
  // makes it) and one EPHEMERAL connection_info per component, holding writeUTF(address) and
  // writeObject(leader session UUID) (ZooKeeperUtils.writeLeaderInformationToZooKeeper).
  static List<String> createLeaderNodes(Session s, Layout layout, List<String> jobs)
      throws Exception {
    List<String> made = new ArrayList<>();
    String host = "127.0.0.1";
    Map<String, String> components = new LinkedHashMap<>();
    String rpc = layout == Layout.V20 ? "pekko.tcp" : "akka.tcp";
    components.put("dispatcher", rpc + "://flink@" + host + ":6123/user/rpc/dispatcher_1");
    components.put("resource_manager", rpc + "://flink@" + host + ":6123/user/rpc/resourcemanager_0");
    components.put("rest_server", "http://" + host + ":8081");
    for (String job : jobs) {
      components.put(
          layout == Layout.V20 ? "job-" + job : job,
          rpc + "://flink@" + host + ":6123/user/rpc/jobmanager_2");
    }
    UUID session = UUID.randomUUID();
    if (layout == Layout.LEGACY) {
      // 1.14: leader/<component>_lock, leader/<job>/job_manager_lock, leaderlatch/<component>_lock.
      for (Map.Entry<String, String> c : components.entrySet()) {
        boolean isJob = c.getKey().length() == 32;
        String name = isJob ? c.getKey() + "/job_manager_lock" : c.getKey() + "_lock";
        String node = s.path("leader/" + name);
        s.ensure(node.substring(0, node.lastIndexOf('/')));
        made.add(createEphemeral(s, node, leaderInfo(c.getValue(), session)));
        String latch = s.path("leaderlatch/" + name);
        ensureContainer(s, latch);
        made.add(latchNode(s, latch));
      }
      return made;
    }
    String latch = s.path("leader/latch");
    s.ensure(s.path("leader"));
    ensureContainer(s, latch);
    made.add(latchNode(s, latch));
    for (Map.Entry<String, String> c : components.entrySet()) {
      String node = s.path("leader/" + c.getKey() + "/connection_info");
      s.ensure(node.substring(0, node.lastIndexOf('/')));
      made.add(createEphemeral(s, node, leaderInfo(c.getValue(), session)));
    }
    return made;
  }

  static String latchNode(Session s, String latchDir) throws Exception {
    return s.zk.create(
        latchDir + "/_c_" + UUID.randomUUID() + "-latch-",
        new byte[0],
        s.acl,
        CreateMode.EPHEMERAL_SEQUENTIAL);
  }

  static void ensureContainer(Session s, String abs) throws Exception {
    s.ensure(abs.substring(0, abs.lastIndexOf('/')));
    try {
      s.zk.create(abs, new byte[0], s.acl, CreateMode.CONTAINER);
    } catch (KeeperException.NodeExistsException ignored) {
      // already there
    }
  }

  static String createEphemeral(Session s, String abs, byte[] data) throws Exception {
    try {
      return s.zk.create(abs, data, s.acl, CreateMode.EPHEMERAL);
    } catch (KeeperException.NodeExistsException e) {
      // Another (possibly dead) session's node: Flink deletes it and writes its own.
      s.zk.delete(abs, -1);
      return s.zk.create(abs, data, s.acl, CreateMode.EPHEMERAL);
    }
  }

  static byte[] leaderInfo(String address, UUID session) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeUTF(address);
      out.writeObject(session);
    }
    return bytes.toByteArray();
  }

  // ---------------------------------------------------------------- commands

  static int populate(Args a, PrintStream out) throws Exception {
    int jobs = a.integer("jobs", 1);
    int checkpoints = a.integer("checkpoints", 1);
    try (Cluster c = new Cluster(a)) {
      StringBuilder json = new StringBuilder();
      json.append("{\"layout\":")
          .append(q(c.layout.name))
          .append(",\"cluster_id\":")
          .append(q(clusterId(c.s.root)))
          .append(",\"storage_uri\":")
          .append(q(c.storage.clusterPath.toUri().toString()))
          .append(",\"jobs\":[");
      for (int j = 0; j < jobs; j++) {
        String job = c.submitJob();
        long last = 0;
        for (int k = 0; k < checkpoints; k++) last = c.checkpoint(job);
        json.append(j == 0 ? "" : ",")
            .append("{\"id\":")
            .append(q(job))
            .append(",\"latest_checkpoint\":")
            .append(last)
            .append(",\"counter\":")
            .append(last + 1)
            .append('}');
      }
      out.println(json.append("]}"));
    }
    return 0;
  }

  // The checkpoint coordinator of every job at once: one checkpoint per interval, round robin over
  // the jobs, each followed by DefaultCompletedCheckpointStore's subsumption of the oldest beyond
  // --retain.
  static int churn(Args a, PrintStream out) throws Exception {
    int interval = a.integer("interval-ms", 5);
    int retain = a.integer("retain", 1);
    int every = a.integer("report-every", 100);
    if (retain < 1) throw new Usage("--retain must be at least 1");
    final boolean[] stop = {false};
    final CountDownLatch finished = new CountDownLatch(1);
    // SIGTERM runs the shutdown hooks: finish the step in hand so that nothing is left half
    // done, then let the JVM go.
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  synchronized (stop) {
                    stop[0] = true;
                  }
                  try {
                    // A clean stop exits 0 (the JVM's own status after SIGTERM is 143).
                    if (finished.await(20, TimeUnit.SECONDS)) Runtime.getRuntime().halt(0);
                  } catch (InterruptedException ignored) {
                    // leave with the JVM's status
                  }
                }));
    Thread stdin =
        new Thread(
            () -> {
              try {
                while (System.in.read() >= 0) {
                  // only the end matters
                }
              } catch (IOException ignored) {
                // treat as closed
              }
              synchronized (stop) {
                stop[0] = true;
              }
            });
    stdin.setDaemon(true);
    stdin.start();

    long made = 0;
    final long started = System.nanoTime();
    long subsumed = 0;
    try (Cluster c = new Cluster(a)) {
      List<String> jobs = new ArrayList<>();
      for (String job : c.jobs()) {
        if (c.graphs.lock(job)) jobs.add(job);  // a job Flink would not recover is left alone
      }
      for (int j = jobs.size(); j < a.integer("jobs", 1); j++) jobs.add(c.submitJob());
      // Recovery: lock every retained checkpoint, oldest first.
      Map<String, Deque<Long>> retained = new TreeMap<>();
      for (String job : jobs) {
        Deque<Long> ids = new ArrayDeque<>();
        HandleStore store = c.checkpoints(job);
        TreeSet<Long> sorted = new TreeSet<>();
        for (String name : c.s.children(store.dir)) {
          try {
            long id = Long.parseLong(name);
            if (store.lock(name)) sorted.add(id);
          } catch (NumberFormatException ignored) {
            // not a checkpoint node
          }
        }
        ids.addAll(sorted);
        retained.put(job, ids);
        c.counter(job);
      }
      createLeaderNodes(c.s, c.layout, jobs);
      out.println("churning jobs=" + jobs.size() + " interval_ms=" + interval + " retain=" + retain);
      out.flush();
      int next = 0;
      while (true) {
        synchronized (stop) {
          if (stop[0]) break;
        }
        String job = jobs.get(next++ % jobs.size());
        long id = c.checkpoint(job);
        Deque<Long> ids = retained.get(job);
        ids.addLast(id);
        made++;
        while (ids.size() > retain) {
          if (c.checkpoints(job).releaseAndTryRemove(checkpointName(ids.peekFirst()))) subsumed++;
          ids.removeFirst();
        }
        if (every > 0 && made % every == 0) {
          out.println("checkpoints=" + made + " subsumed=" + subsumed + " last=" + job + "/" + id);
          out.flush();
        }
        if (interval > 0) Thread.sleep(interval);
      }
    } finally {
      out.printf(
          java.util.Locale.ROOT,
          "final checkpoints=%d subsumed=%d seconds=%.1f%n",
          made, subsumed, (System.nanoTime() - started) / 1e9);
      out.flush();
      finished.countDown();
    }
    return 0;
  }

  static int hold(Args a, PrintStream out) throws Exception {
    Cluster c = new Cluster(a);  // held until the process dies
    List<String> jobs = new ArrayList<>();
    int locks = 0;
    for (String job : c.jobs()) {
      if (c.graphs.lock(job)) {
        jobs.add(job);
        locks++;
      }
    }
    // Checkpoint stores of every job that has a checkpoint directory.
    String jobsDir = c.layout == Layout.LEGACY ? "checkpoints" : "jobs";
    for (String job : c.s.children(c.s.path(jobsDir))) {
      HandleStore store =
          new HandleStore(c.s, c.layout, c.s.path(c.layout.checkpointsDir(job)), null);
      for (String name : c.s.children(store.dir)) if (store.lock(name)) locks++;
    }
    createLeaderNodes(c.s, c.layout, jobs);
    out.println("ready");
    out.flush();
    System.err.println(
        "holding session 0x" + Long.toHexString(c.s.zk.getSessionId()) + " with " + locks + " locks");
    while (true) Thread.sleep(60_000);
  }

  static int dumpPointer(Args a, PrintStream out) throws Exception {
    long size = Long.parseLong(a.need("size"));
    Path p = a.flag("uri") ? new Path(new URI(a.need("uri"))) : new Path(a.need("path"));
    out.write(serialize(new RetrievableStreamStateHandle<Serializable>(p, size)));
    out.flush();
    return 0;
  }

  // ---------------------------------------------------------------- check

  static final class Problem {
    final String node;
    final String kind;
    final String message;

    Problem(String node, String kind, String message) {
      this.node = node;
      this.kind = kind;
      this.message = message;
    }
  }

  // What a JobManager does at start: DefaultJobGraphStore / DefaultExecutionPlanStore recover
  // every job, DefaultCompletedCheckpointStoreUtils every checkpoint, through getAllAndLock
  // (which skips nodes marked for deletion and logs corrupt ones) and retrieveState.
  static int check(Args a, PrintStream out) throws Exception {
    Map<String, String> mapping = new LinkedHashMap<>();
    for (String m : a.all("storage-map")) {
      int eq = m.indexOf('=');
      if (eq <= 0) throw new Usage("--storage-map wants URI_PREFIX=DIR, not " + m);
      mapping.put(m.substring(0, eq), m.substring(eq + 1));
    }
    List<Problem> problems = new ArrayList<>();
    StringBuilder jobsJson = new StringBuilder();
    int recoveredJobs = 0;
    int recoveredCheckpoints = 0;
    try (Session s = new Session(a)) {
      Layout layout = Layout.of(a.get("layout", detectLayout(s)));
      TreeSet<String> jobs = new TreeSet<>();
      Map<String, Boolean> graphOk = new TreeMap<>();
      String graphsDir = s.path(layout.graphsDir());
      for (String job : s.children(graphsDir)) {
        jobs.add(job);
        graphOk.put(
            job,
            recover(s, layout, mapping, graphsDir + "/" + job, problems, job, -1));
      }
      String jobsDir = s.path(layout == Layout.LEGACY ? "checkpoints" : "jobs");
      jobs.addAll(s.children(jobsDir));
      boolean firstJob = true;
      for (String job : jobs) {
        boolean graph = graphOk.getOrDefault(job, false);
        if (!graphOk.containsKey(job)) {
          problems.add(
              new Problem(
                  graphsDir + "/" + job,
                  "missing",
                  "job " + job + " has checkpoint data but no " + layout.graphWord()
                      + " node: Flink does not recover the job"));
        }
        if (graph) recoveredJobs++;
        String cpDir = s.path(layout.checkpointsDir(job));
        long newestNode = 0;
        long latest = 0;
        StringBuilder cps = new StringBuilder();
        for (String name : s.children(cpDir)) {
          long id;
          try {
            id = Long.parseLong(name);
          } catch (NumberFormatException e) {
            problems.add(
                new Problem(
                    cpDir + "/" + name,
                    "unparsable",
                    "Could not parse checkpoint id from " + name
                        + ". This indicates that the checkpoint id to path conversion has changed."));
            continue;
          }
          newestNode = Math.max(newestNode, id);
          boolean ok = recover(s, layout, mapping, cpDir + "/" + name, problems, job, id);
          if (ok) {
            recoveredCheckpoints++;
            latest = Math.max(latest, id);
            cps.append(cps.length() == 0 ? "" : ",").append(id);
          }
        }
        Long counter = null;
        String counterPath = s.path(layout.counterPath(job));
        try {
          byte[] b = s.zk.getData(counterPath, false, null);
          if (b.length == 4) {
            counter = (long) ByteBuffer.wrap(b).getInt();
          } else {
            problems.add(
                new Problem(
                    counterPath,
                    "counter",
                    "checkpoint id counter of job " + job + " holds " + b.length
                        + " bytes, not the 4 of a SharedCount"));
          }
        } catch (KeeperException.NoNodeException e) {
          // Flink seeds a missing counter with 1.
        }
        long next = counter == null ? 1 : counter;
        if (newestNode > 0 && next <= newestNode) {
          problems.add(
              new Problem(
                  counterPath,
                  "counter",
                  "checkpoint id counter of job " + job + " is " + next
                      + ", not ahead of its newest checkpoint " + newestNode
                      + ": Flink would reuse checkpoint id " + next));
        }
        jobsJson
            .append(firstJob ? "" : ",")
            .append("{\"id\":")
            .append(q(job))
            .append(",\"recovered\":")
            .append(graph)
            .append(",\"checkpoints\":[")
            .append(cps)
            .append("],\"latest_checkpoint\":")
            .append(latest == 0 ? "null" : Long.toString(latest))
            .append(",\"counter\":")
            .append(counter == null ? "null" : Long.toString(counter))
            .append('}');
        firstJob = false;
      }
      // An empty (or deleted) tree recovers "everything" too: a restore test says how many
      // jobs it expects back.
      int expected = a.integer("expect-jobs", -1);
      if (expected >= 0 && recoveredJobs != expected) {
        problems.add(
            new Problem(
                graphsDir,
                "expected",
                "Flink would recover " + recoveredJobs + " jobs, not the " + expected
                    + " expected"));
      }
      StringBuilder json = new StringBuilder();
      json.append("{\"ok\":")
          .append(problems.isEmpty())
          .append(",\"layout\":")
          .append(q(layout.name))
          .append(",\"recovered_jobs\":")
          .append(recoveredJobs)
          .append(",\"recovered_checkpoints\":")
          .append(recoveredCheckpoints)
          .append(",\"jobs\":[")
          .append(jobsJson)
          .append("],\"problems\":[");
      for (int i = 0; i < problems.size(); i++) {
        Problem p = problems.get(i);
        json.append(i == 0 ? "" : ",")
            .append("{\"node\":")
            .append(q(p.node))
            .append(",\"kind\":")
            .append(q(p.kind))
            .append(",\"message\":")
            .append(q(p.message))
            .append('}');
      }
      out.println(json.append("]}"));
    }
    return problems.isEmpty() ? 0 : 1;
  }

  static String detectLayout(Session s) throws Exception {
    if (s.stat(s.path("execution-plans")) != null) return "2.0";
    if (s.stat(s.path("checkpoints")) != null || s.stat(s.path("checkpoint-counter")) != null)
      return "legacy";
    return "1.15";
  }

  // One record as Flink recovers it; false (and a problem) when Flink would not get it back.
  // checkpointId < 0: a job graph / execution plan.
  static boolean recover(
      Session s,
      Layout layout,
      Map<String, String> mapping,
      String node,
      List<Problem> problems,
      String job,
      long checkpointId)
      throws Exception {
    String what = checkpointId < 0 ? layout.graphWord() : "checkpoint " + checkpointId;
    // Flink names a record by its path inside its store: "/<job id>", "/<%019d>".
    String name = node.substring(node.lastIndexOf('/'));
    String plan = layout == Layout.V20 ? "ExecutionPlan" : "JobGraph";
    String broken =
        checkpointId < 0
            ? "Could not retrieve submitted " + plan + " from state handle under " + name
                + ". This indicates that the retrieved state handle is broken. Try cleaning the"
                + " state handle store."
            : "Could not retrieve checkpoint " + checkpointId + " from state handle under " + name
                + ". This indicates that the retrieved state handle is broken. Try cleaning the"
                + " state handle store.";
    Stat st = new Stat();
    byte[] data;
    try {
      data = s.zk.getData(node, false, st);
    } catch (KeeperException.NoNodeException e) {
      return false;  // went away while we looked
    }
    if (layout.hasLocksNode() && st.getNumChildren() == 0) {
      problems.add(
          new Problem(
              node,
              "lost",
              "ZooKeeper node " + node + " has no children (no `locks`): Flink treats it as marked"
                  + " for deletion and skips " + what + " of job " + job + " silently"));
      return false;
    }
    if (layout.hasLocksNode() && s.stat(node + "/locks") == null) {
      problems.add(
          new Problem(
              node,
              "lost",
              "ZooKeeper node " + node + " has no `locks` child: Flink cannot lock it and skips "
                  + what + " of job " + job + " silently"));
      return false;
    }
    FileStateHandle handle;
    try {
      handle = fileHandle(data);
    } catch (Exception e) {
      // A job's graph is recovered by id (getAndLock), where this is fatal; checkpoints through
      // getAllAndLock, which only logs it and leaves the checkpoint out.
      String word = layout == Layout.V20 ? "execution plan" : "job graph";
      String message =
          checkpointId < 0
              ? "Could not retrieve the submitted " + word + " state handle for " + name
                  + " from the submitted " + word + " store."
              : "Could not get all ZooKeeper children. Node " + name + " contained corrupted"
                  + " data. Ignoring this node.";
      problems.add(new Problem(node, "corrupt", message + " (" + e + ")"));
      return false;
    }
    String uri = handle.getFilePath().toUri().toString();
    File file;
    try {
      file = localFile(uri, mapping);
    } catch (Exception e) {
      problems.add(new Problem(node, "unreachable", broken + " (" + e.getMessage() + ")"));
      return false;
    }
    if (!file.isFile()) {
      problems.add(
          new Problem(node, "dangling", broken + " (" + uri + ": no such file " + file + ")"));
      return false;
    }
    if (file.length() != handle.getStateSize()) {
      problems.add(
          new Problem(
              node,
              "size",
              broken + " (" + uri + " has " + file.length() + " bytes, the handle says "
                  + handle.getStateSize() + ")"));
      return false;
    }
    Object state;
    try (FileInputStream in = new FileInputStream(file)) {
      state = deserialize(in);
    } catch (Exception e) {
      problems.add(new Problem(node, "unreadable", broken + " (" + uri + ": " + e + ")"));
      return false;
    }
    String mismatch = null;
    if (checkpointId < 0) {
      if (!(state instanceof JobGraph) || !((JobGraph) state).jobID.equals(job))
        mismatch = "it does not hold the " + layout.graphWord() + " of job " + job;
    } else if (!(state instanceof CompletedCheckpoint)
        || !((CompletedCheckpoint) state).job.equals(job)
        || ((CompletedCheckpoint) state).checkpointID != checkpointId) {
      mismatch = "it does not hold checkpoint " + checkpointId + " of job " + job;
    }
    if (mismatch != null) {
      problems.add(new Problem(node, "mismatch", broken + " (" + uri + ": " + mismatch + ")"));
      return false;
    }
    return true;
  }

  // file: URIs directly; any URI through --storage-map PREFIX=DIR (prefix compared on the
  // encoded form, the rest percent-decoded).
  static File localFile(String uri, Map<String, String> mapping) throws Exception {
    for (Map.Entry<String, String> m : mapping.entrySet()) {
      if (uri.startsWith(m.getKey())) {
        String rest = uri.substring(m.getKey().length());
        // The rest is encoded as the URI was: let the JDK decode it as a hierarchical path.
        String decoded = new URI("x:" + (rest.startsWith("/") ? "" : "/") + rest).getPath();
        return new File(m.getValue(), decoded);
      }
    }
    URI u = new URI(uri);
    if (!"file".equals(u.getScheme())) throw new IOException("no --storage-map for " + uri);
    return new File(u);
  }

  static String q(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char ch : s.toCharArray()) {
      switch (ch) {
        case '"':
          b.append("\\\"");
          break;
        case '\\':
          b.append("\\\\");
          break;
        case '\n':
          b.append("\\n");
          break;
        default:
          if (ch < 0x20) b.append(String.format("\\u%04x", (int) ch));
          else b.append(ch);
      }
    }
    return b.append('"').toString();
  }

  public static void main(String[] argv) {
    PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
    if (argv.length == 0) {
      System.err.println("usage: FlinkHaPeer populate|churn|check|hold|dump-pointer --help");
      System.exit(2);
    }
    int rc;
    try {
      Args a = new Args(argv, 1);
      switch (argv[0]) {
        case "populate":
          rc = populate(a, out);
          break;
        case "churn":
          rc = churn(a, out);
          break;
        case "check":
          rc = check(a, out);
          break;
        case "hold":
          rc = hold(a, out);
          break;
        case "dump-pointer":
          rc = dumpPointer(a, out);
          break;
        default:
          throw new Usage("unknown command " + argv[0]);
      }
    } catch (Usage u) {
      System.err.println("flink-ha peer: " + u.getMessage());
      rc = 2;
    } catch (Exception e) {
      System.err.println("flink-ha peer: " + e);
      rc = 3;
    }
    out.flush();
    System.exit(rc);
  }
}
