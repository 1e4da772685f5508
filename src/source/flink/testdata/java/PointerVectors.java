// Writes and reads Flink HA pointers with real Java serialization, for pointer_test.cc (which
// compiles this directory with javac and runs it at test time; nothing generated is committed).
//
//   java PointerVectors pointers OUT   stdin: lines "name<TAB>parent<TAB>child<TAB>stateSize"
//       (UTF-8); writes OUT/name.ser, the handle Flink's FileSystemStateStorageHelper would put
//       in ZooKeeper for file child under directory parent, and OUT/name.expect: three lines,
//       the URI string, Flink's Path.toString() (the decoded path) and the state size.
//   java PointerVectors others OUT     writes OUT/<name>.ser for streams that are Java
//       serialization but not pointers.
//   java PointerVectors read RESULT FILE...   deserializes each file (or each file named in
//       @LIST, one per line) as a JobManager does and
//       writes to RESULT one line per file: "uri<TAB>stateSize", or "error<TAB>exception" when
//       Java refuses it.
import java.io.*;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.*;
import java.util.concurrent.TimeUnit;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.state.RetrievableStreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;

public class PointerVectors {
  static byte[] serialize(Object o) throws IOException {
    // InstantiationUtil.serializeObject: one ObjectOutputStream, one writeObject.
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(o);
    }
    return bytes.toByteArray();
  }

  static void write(File dir, String name, Object o) throws IOException {
    Files.write(new File(dir, name + ".ser").toPath(), serialize(o));
  }

  static RetrievableStreamStateHandle<?> pointer(Path path, long size) {
    return new RetrievableStreamStateHandle<>(new FileStateHandle(path, size));
  }

  public static void main(String[] args) throws Exception {
    switch (args[0]) {
      case "pointers": {
        File dir = new File(args[1]);
        BufferedReader in =
            new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null; ) {
          if (line.isEmpty()) continue;
          String[] f = line.split("\t", -1);
          Path path = new Path(new Path(f[1]), f[2]);
          long size = Long.parseLong(f[3]);
          write(dir, f[0], pointer(path, size));
          String expect = path.toUri().toString() + "\n" + path + "\n" + size + "\n";
          Files.write(
              new File(dir, f[0] + ".expect").toPath(), expect.getBytes(StandardCharsets.UTF_8));
        }
        break;
      }
      case "others": {
        File dir = new File(args[1]);
        Path p = new Path(new Path("file:///data/ha"), "completedCheckpoint0a1b2c3d4e5f");
        write(dir, "integer", Integer.valueOf(42));
        write(dir, "string", "file:/data/ha/completedCheckpoint0a1b2c3d4e5f");
        write(dir, "uri", p.toUri());
        write(dir, "path", p);
        write(dir, "file_state_handle", new FileStateHandle(p, 10));
        write(dir, "null_wrapped", new RetrievableStreamStateHandle<>(null));
        write(dir, "enum", TimeUnit.SECONDS);
        write(dir, "long_array", new long[] {1, 2, 3});
        write(dir, "string_array", new String[] {"a", "b", "a"});
        Map<String, Object> map = new HashMap<>();
        map.put("pointer", pointer(p, 10));
        map.put("size", 10L);
        write(dir, "map", map);
        List<Object> list = new ArrayList<>();
        list.add(pointer(p, 10));
        list.add(pointer(p, 10));  // the second is a back-reference to the first
        write(dir, "list", list);
        List<Object> nested = new ArrayList<>();
        List<Object> inner = nested;
        for (int i = 0; i < 200; ++i) {
          List<Object> next = new ArrayList<>();
          inner.add(next);
          inner = next;
        }
        write(dir, "nested_lists", nested);
        break;
      }
      case "read": {
        StringBuilder result = new StringBuilder();
        List<String> files = new ArrayList<>();
        for (int i = 2; i < args.length; ++i) {
          if (args[i].startsWith("@")) {  // a file naming one file per line
            files.addAll(Files.readAllLines(new File(args[i].substring(1)).toPath()));
          } else {
            files.add(args[i]);
          }
        }
        for (String file : files) {
          try (ObjectInputStream in = new ObjectInputStream(new FileInputStream(file))) {
            RetrievableStreamStateHandle<?> h = (RetrievableStreamStateHandle<?>) in.readObject();
            FileStateHandle f = (FileStateHandle) h.wrapped();
            result.append(f.getFilePath().toUri().toString()).append('\t');
            result.append(f.getStateSize()).append('\n');
          } catch (Exception e) {
            result.append("error\t").append(e.toString().replace('\n', ' ')).append('\n');
          }
        }
        Files.write(new File(args[1]).toPath(), result.toString().getBytes(StandardCharsets.UTF_8));
        break;
      }
      default:
        throw new IllegalArgumentException("unknown mode " + args[0]);
    }
  }
}
