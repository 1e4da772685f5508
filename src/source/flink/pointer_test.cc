#include "source/flink/pointer.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "common/process.h"
#include "common/text.h"
#include "source/testing/capturing_writer.h"

// Every pointer these tests read was written by real Java serialization: the JDK compiles
// stand-ins of Flink's classes (testdata/java: Flink's class names, serialVersionUIDs, fields
// and constructors' URI building) and serializes them at test time, and reads back what
// rewrite_pointer writes. Without a JDK the tests that need one are skipped with the reason.

namespace flinkbr::source::flink {
namespace {

using namespace std::literals;
using testing::TempDir;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The JDK, with testdata/java compiled once per process.
class Java {
 public:
  static Java& get() {
    static Java java;
    return java;
  }
  const std::string& skip_reason() const { return skip_reason_; }

  // Runs PointerVectors with `args` (shell words, already safe); the output on failure.
  void run(const std::string& args) {
    auto r = run_command("java -cp " + dir_.path() + "/classes PointerVectors " + args,
                         std::chrono::minutes(2));
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->exit_code, 0) << r->output;
  }
  std::string scratch(std::string_view name) const { return dir_ / name; }

 private:
  Java() {
    if (std::system("command -v javac >/dev/null 2>&1 && command -v java >/dev/null 2>&1") != 0) {
      skip_reason_ = "no JDK (javac and java) on PATH: Debian's default-jdk-headless provides it";
      return;
    }
    auto r = run_command("cd " FLINKBR_FLINK_TESTDATA_DIR "/java && javac -d " + dir_.path() +
                             "/classes $(find . -name '*.java')",
                         std::chrono::minutes(2));
    if (!r || r->exit_code != 0)
      skip_reason_ = "javac failed: " + (r ? r->output : r.error().message);
  }
  TempDir dir_;
  std::string skip_reason_;
};

// A pointer as Flink's FileSystemStateStorageHelper writes it: file `child` in directory
// `parent` (high-availability.storageDir/cluster-id), and what Java says about it.
struct Case {
  std::string name, parent, child;
  int64_t size = 0;
};
struct Vector {
  Case c;
  std::string bytes;
  std::string uri, path;  // java.net.URI.toString() and Flink's Path.toString()
  int64_t size = 0;
};

const std::string kLongChild = "completedCheckpoint" + std::string(70000, 'a');

std::vector<Case> cases() {
  return {
      {"file_checkpoint", "file:///data/ha/prod", "completedCheckpoint1a2b3c4d5e6f", 1234},
      {"file_jobgraph", "file:///data/ha/prod", "submittedJobGraph0a1b2c3d4e5f", 56789},
      {"file_execution_plan", "file:///data/ha/prod", "submittedExecutionPlan9f8e7d6c5b4a", 4242},
      {"hdfs", "hdfs://ns1/flink/ha/prod", "completedCheckpointfedcba987654", 4096},
      {"s3", "s3://bucket/flink-ha/prod", "completedCheckpoint00112233aabb", 77},
      {"obs", "obs://bucket/ha/prod", "submittedJobGraph445566778899", 1},
      {"spaces", "file:///data/ha dir/prod 1", "completedCheckpoint 1a2b", 10},
      {"non_ascii",
       "hdfs://ns1/donn\xC3\xA9"
       "es/prod",
       "completedCheckpoint\xE2\x98\x83\xF0\x9F\x98\x80", 0},
      {"reserved", "hdfs://ns1/ha/100%", "completedCheckpoint#?[]{}\"<>|^`;=+$,@&!~*'()", 5},
      {"unicode_space",
       "file:///data/a\xC2\xA0"
       "b",
       "completedCheckpoint\xE2\x80\xA8\xE3\x80\x80x", 3},
      {"big_size", "file:///data/ha", "completedCheckpointffffffffffff", 1099511627781},
      {"minus_one", "file:///data/ha", "completedCheckpoint000000000000", -1},
      {"long", "file:///data/ha", kLongChild, 70019},
  };
}

// The files source's location for the case's directory: a URI, so percent-encoded
// ("file:///data/ha%20dir"), where Flink's configuration holds the plain path.
std::string location_of(const Case& c) {
  return percent_encode(c.parent, ":/");
}

// The ASCII vectors whose every byte the flipping and truncating tests try.
bool ascii_case(const std::string& name) {
  return name == "file_checkpoint" || name == "hdfs" || name == "s3" || name == "spaces" ||
         name == "reserved" || name == "minus_one";
}

class PointerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Java& java = Java::get();
    if (!java.skip_reason().empty()) return;
    std::string in;
    for (const Case& c : cases())
      in += c.name + "\t" + c.parent + "\t" + c.child + "\t" + std::to_string(c.size) + "\n";
    write_file(java.scratch("cases.txt"), in);
    std::string out = java.scratch("vectors");
    std::filesystem::create_directories(out);
    java.run("pointers " + out + " < " + java.scratch("cases.txt"));
    java.run("others " + out);
    for (const Case& c : cases()) {
      Vector v{.c = c, .bytes = read_file(out + "/" + c.name + ".ser")};
      std::vector<std::string> expect = lines(read_file(out + "/" + c.name + ".expect"));
      ASSERT_EQ(expect.size(), 3u) << c.name;
      v.uri = expect[0];
      v.path = expect[1];
      v.size = std::stoll(expect[2]);
      vectors_->push_back(std::move(v));
    }
    for (const auto& e : std::filesystem::directory_iterator(out)) {
      std::string name = e.path().filename().string();
      if (!name.ends_with(".ser")) continue;
      std::string stem = name.substr(0, name.size() - 4);
      bool pointer = false;
      for (const Case& c : cases()) pointer = pointer || c.name == stem;
      if (!pointer) (*others_)[stem] = read_file(e.path().string());
    }
  }
  void SetUp() override {
    if (!Java::get().skip_reason().empty()) GTEST_SKIP() << Java::get().skip_reason();
  }

  static inline auto vectors_ = new std::vector<Vector>;  // leaked: outlives every test
  static inline auto others_ = new std::map<std::string, std::string>;
};

TEST_F(PointerTest, ReadsWhatJavaWrote) {
  ASSERT_EQ(vectors_->size(), cases().size());
  for (const Vector& v : *vectors_) {
    auto p = parse_pointer(v.bytes);
    ASSERT_TRUE(p) << v.c.name << ": " << p.error().message;
    ASSERT_TRUE(p->has_value()) << v.c.name;
    EXPECT_EQ((*p)->uri, v.uri) << v.c.name;
    EXPECT_EQ((*p)->path, v.path) << v.c.name;
    EXPECT_EQ((*p)->state_size, v.size) << v.c.name;
  }
  // Java wrote the 70,000-character URI as a TC_LONGSTRING (0x7C, 8-byte length).
  const Vector& lng = vectors_->back();
  ASSERT_EQ(lng.c.name, "long");
  EXPECT_NE(lng.bytes.find(std::string("\x7C\0\0\0\0\0\x01\x11\x91", 9)), std::string::npos);
  // Flink's local form: file:/ without the empty authority of the configured file:///.
  EXPECT_EQ(vectors_->front().uri, "file:/data/ha/prod/completedCheckpoint1a2b3c4d5e6f");
}

TEST_F(PointerTest, RelativeToAndUriForGiveBackWhatJavaQuoted) {
  for (const Vector& v : *vectors_) {
    std::string location = location_of(v.c);
    auto rel = relative_to(v.path, location);
    ASSERT_TRUE(rel) << v.c.name << ": " << v.path << " not under " << location;
    EXPECT_EQ(*rel, v.c.child) << v.c.name;
    EXPECT_EQ(uri_for(location, *rel), v.uri) << v.c.name;
  }
}

TEST_F(PointerTest, RewritesAndJavaReadsTheRewrittenBytes) {
  TempDir dir;
  std::vector<std::string> files;
  std::vector<std::pair<std::string, int64_t>> expected;
  auto add = [&](const Vector& v, const std::string& new_uri) {
    auto r = rewrite_pointer(v.bytes, new_uri);
    ASSERT_TRUE(r) << v.c.name << ": " << r.error().message;
    auto p = parse_pointer(*r);
    ASSERT_TRUE(p && p->has_value()) << v.c.name;
    EXPECT_EQ((*p)->uri, new_uri) << v.c.name;
    EXPECT_EQ((*p)->state_size, v.size) << v.c.name;
    files.push_back(dir / (v.c.name + "-" + std::to_string(files.size()) + ".ser"));
    write_file(files.back(), *r);
    expected.emplace_back(new_uri, v.size);
  };
  const std::string long_uri = "hdfs://dr/flink/ha/" + kLongChild;
  for (const Vector& v : *vectors_) {
    // Unchanged, byte for byte, when the URI stays.
    auto same = rewrite_pointer(v.bytes, v.uri);
    ASSERT_TRUE(same) << v.c.name;
    EXPECT_EQ(*same, v.bytes) << v.c.name;
    // Migrated to another cluster's storage, as the restore will do it.
    auto rel = relative_to(v.path, location_of(v.c));
    ASSERT_TRUE(rel) << v.c.name;
    add(v, uri_for("hdfs://dr-ns/flink/ha/dr", *rel));
    add(v, uri_for("file:///srv/flink%20ha", *rel));
    add(v, uri_for("s3://dr-bucket/ha", *rel));
    add(v, long_uri);  // TC_STRING to TC_LONGSTRING (and long to long)
  }
  const Vector& lng = vectors_->back();
  add(lng, "file:/x");  // TC_LONGSTRING to TC_STRING
  // Exactly 65535 bytes of modified UTF-8 is the longest TC_STRING, one more is long.
  add(lng, "file:/" + std::string(65535 - 6, 'b'));
  add(lng, "file:/" + std::string(65536 - 6, 'b'));
  // NUL never appears in a URI, but U+0800 and supplementary characters take 3 and 2x3 bytes.
  add(lng, "file:/\xE0\xA0\x80/\xF0\x9F\x98\x80");

  std::string args = "read " + (dir / "result.txt");
  for (const std::string& f : files) args += " " + f;
  Java::get().run(args);
  std::vector<std::string> got = lines(read_file(dir / "result.txt"));
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_EQ(got[i], expected[i].first + "\t" + std::to_string(expected[i].second)) << files[i];
}

TEST_F(PointerTest, RefusesANewUriJavaCouldNotRead) {
  const Vector& v = vectors_->front();
  for (std::string bad : {std::string(), std::string("file:/a b"), std::string("file:/a\nb"),
                          std::string("file:/\xFF"), std::string("file:/\xC0\x80"),
                          std::string("file:/%zz"), std::string("file:/%4"),
                          std::string("file:/a\xC2\xA0"
                                      "b"),
                          std::string("file:/a\"b"), std::string("file:/\xED\xA0\x80")}) {
    auto r = rewrite_pointer(v.bytes, bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, Errc::kInvalidArgument) << bad;
    EXPECT_EQ(r.error().field, "new_uri") << bad;
  }
  auto r = rewrite_pointer("\x00\x00\x00\x07", "file:/x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCorruption);
}

// A URI may carry credentials (s3a://key:secret@bucket/...): errors name the problem and the
// offset, never the URI.
TEST_F(PointerTest, ErrorsDoNotRepeatTheUri) {
  const Vector& v = vectors_->front();
  const std::string bad = "s3a://key:secret@bucket/a b";
  auto r = rewrite_pointer(v.bytes, bad);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message.find("secret"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("U+0020"), std::string::npos) << r.error().message;

  std::string element = "\x74"s + char(v.uri.size() >> 8) + char(v.uri.size() & 0xFF) + v.uri;
  std::string stream = v.bytes;
  stream.replace(stream.find(element), element.size(), "\x74\x00"s + char(bad.size()) + bad);
  auto p = parse_pointer(stream);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().message.find("secret"), std::string::npos) << p.error().message;
  EXPECT_NE(p.error().message.find("is no URI: it holds U+0020"), std::string::npos)
      << p.error().message;
}

// Java may write the URI's string as a back-reference to an equal string written before it.
// Such a pointer reads, but replacing the shared string would change the other one too (and
// inserting a new string would renumber every later handle): the rewrite refuses it.
TEST_F(PointerTest, AUriStringThatIsABackReferenceReadsButIsNotRewritten) {
  const Vector& v = vectors_->front();
  std::string element = "\x74"s + char(v.uri.size() >> 8) + char(v.uri.size() & 0xFF) + v.uri;
  std::string shared = v.bytes;
  size_t at = shared.find(element);
  ASSERT_NE(at, std::string::npos);
  // Handle 1 is the type string of RetrievableStreamStateHandle's field.
  shared.replace(at, element.size(), "\x71\x00\x7E\x00\x01"sv);
  auto p = parse_pointer(shared);
  ASSERT_TRUE(p && p->has_value()) << (p ? "" : p.error().message);
  EXPECT_EQ((*p)->uri, "Lorg/apache/flink/runtime/state/StreamStateHandle;");
  auto r = rewrite_pointer(shared, "file:/x");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCorruption);
  EXPECT_NE(r.error().message.find("back-reference"), std::string::npos) << r.error().message;
}

TEST(PointerParse, DataThatIsNotJavaSerializationIsNoPointer) {
  for (std::string data : {std::string(), std::string("\x00\x00\x00\x07", 4),
                           std::string("{\"address\":\"x\"}"), std::string("\xAB\xCD\xEF"),
                           std::string("\xAC"
                                       "E")}) {
    auto p = parse_pointer(data);
    ASSERT_TRUE(p) << p.error().message;
    EXPECT_FALSE(p->has_value());
  }
}

TEST(PointerParse, ATruncatedStreamHeaderOrAnotherVersionIsCorrupt) {
  for (std::string data :
       {std::string("\xAC"), std::string("\xAC\xED"), std::string("\xAC\xED\x00", 3),
        std::string("\xAC\xED\x00\x04\x70", 5), std::string("\xAC\xED\x00\x05", 4)}) {
    auto p = parse_pointer(data);
    ASSERT_FALSE(p) << hex_lower(data);
    EXPECT_EQ(p.error().code, Errc::kCorruption);
    EXPECT_NE(p.error().message.find("at byte"), std::string::npos) << p.error().message;
  }
}

TEST_F(PointerTest, OtherClassesAreRefusedNamingTheOffset) {
  ASSERT_GE(others_->size(), 12u);
  for (const auto& [name, bytes] : *others_) {
    auto p = parse_pointer(bytes);
    ASSERT_FALSE(p) << name;
    EXPECT_EQ(p.error().code, Errc::kCorruption) << name;
    EXPECT_NE(p.error().message.find("Java serialization at byte "), std::string::npos)
        << name << ": " << p.error().message;
  }
  EXPECT_NE(
      parse_pointer(others_->at("nested_lists")).error().message.find("nesting deeper than 64"),
      std::string::npos);
  EXPECT_NE(parse_pointer(others_->at("uri")).error().message.find("class 'java.net.URI'"),
            std::string::npos);
  EXPECT_NE(parse_pointer(others_->at("null_wrapped")).error().message.find("null"),
            std::string::npos);
}

TEST_F(PointerTest, EveryTruncationIsCorrupt) {
  for (const Vector& v : *vectors_) {
    std::vector<size_t> lengths;
    for (size_t n = 1; n < v.bytes.size(); ++n)
      // The 70 kB vector: its structure and a sample of its string (quadratic otherwise).
      if (v.bytes.size() < 4096 || n < 600 || v.bytes.size() - n < 600 || n % 997 == 0)
        lengths.push_back(n);
    for (size_t n : lengths) {
      auto p = parse_pointer(std::string_view(v.bytes).substr(0, n));
      ASSERT_FALSE(p) << v.c.name << " cut at " << n;
      EXPECT_EQ(p.error().code, Errc::kCorruption);
      EXPECT_NE(p.error().message.find("at byte "), std::string::npos) << p.error().message;
    }
    // Java reads one object and leaves what follows unread; so does the reader, and a
    // rewrite keeps those bytes.
    auto longer = parse_pointer(v.bytes + "xyz");
    ASSERT_TRUE(longer && longer->has_value()) << v.c.name;
    EXPECT_EQ((*longer)->uri, v.uri);
    auto rewritten = rewrite_pointer(v.bytes + "xyz", "file:/x");
    ASSERT_TRUE(rewritten);
    // The new string, the URI's end of annotation (0x78, 'x'), the extra bytes.
    EXPECT_TRUE(
        rewritten->ends_with("file:/x"
                             "x"
                             "xyz"))
        << v.c.name;
  }
}

// The reader against Java itself: every flipped byte of the pointers, read by both. Where Java
// reads a pointer, the reader must read the same URI and size (it must not call corrupt what a
// JobManager can use); where the reader accepts one, Java must read the same.
TEST_F(PointerTest, AgreesWithJavaOnEveryFlippedByte) {
  TempDir dir;
  std::string list;
  std::vector<std::string> inputs;
  for (const Vector& v : *vectors_) {
    if (!ascii_case(v.c.name)) continue;
    for (size_t i = 0; i < v.bytes.size(); ++i) {
      for (uint8_t mask : {0x01, 0x20, 0x80, 0xFF}) {
        std::string flipped = v.bytes;
        flipped[i] = static_cast<char>(flipped[i] ^ mask);
        std::string file = dir / (std::to_string(inputs.size()) + ".ser");
        write_file(file, flipped);
        list += file + "\n";
        inputs.push_back(std::move(flipped));
      }
    }
  }
  write_file(dir / "list.txt", list);
  Java::get().run("read " + (dir / "result.txt") + " @" + (dir / "list.txt"));
  std::vector<std::string> java = lines(read_file(dir / "result.txt"));
  ASSERT_EQ(java.size(), inputs.size());
  size_t both_read = 0, both_refused = 0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    auto p = parse_pointer(inputs[k]);
    bool ours = p && p->has_value();
    bool theirs = !java[k].starts_with("error\t");
    std::string what = "input " + std::to_string(k) + ": ours " +
                       (p ? (ours ? (*p)->uri : std::string("not a pointer")) : p.error().message) +
                       ", Java " + java[k];
    EXPECT_EQ(ours, theirs) << what;
    if (ours && theirs) {
      ++both_read;
      EXPECT_EQ((*p)->uri + "\t" + std::to_string((*p)->state_size), java[k]) << what;
    } else if (!ours && !theirs) {
      ++both_refused;
    }
  }
  EXPECT_GT(both_read, 100u);
  EXPECT_GT(both_refused, 1000u);
}

// Hand-made hostile streams: declared lengths far beyond the input, references to nothing,
// cycles, nesting. Each is refused quickly, without a large allocation (the fuzzer checks
// allocations: scripts/fuzz.sh).
TEST(PointerParse, HostileStreamsAreRefused) {
  const std::string magic("\xAC\xED\x00\x05", 4);
  const std::string uid("\x00\x00\x00\x00\x00\x00\x00\x01", 8);
  // A class descriptor "A" (serializable, no fields, no annotation) with superclass `super`.
  auto desc = [&](const std::string& super) {
    return std::string(
               "\x72\x00\x01"
               "A",
               4) +
           uid + std::string("\x02\x00\x00\x78", 4) + super;
  };
  std::string deep_supers = "\x70";
  for (int i = 0; i < 200; ++i) deep_supers = desc(deep_supers);
  std::string deep_arrays;  // Object[] in Object[] in ... 10,000 deep
  std::string array_desc = std::string("\x72\x00\x13[Ljava.lang.Object;", 22) + uid +
                           std::string("\x02\x00\x00\x78\x70", 5);
  for (int i = 0; i < 10000; ++i)
    deep_arrays += "\x75" + (i == 0 ? array_desc : std::string("\x71\x00\x7E\x00\x00", 5)) +
                   std::string("\x00\x00\x00\x01", 4);
  struct Hostile {
    std::string name, bytes, reason;
  };
  std::vector<Hostile> all = {
      {"long string of 2^64-1 bytes", magic + std::string("\x7C") + std::string(8, '\xFF'),
       "runs past the end"},
      {"string of 65535 bytes in 3",
       magic + "\x74\xFF\xFF"
               "abc",
       "runs past the end"},
      {"long[] of 2^31-1",
       magic + "\x75" + std::string("\x72\x00\x02[J", 5) + uid +
           std::string("\x02\x00\x00\x78\x70\x7F\xFF\xFF\xFF", 9),
       "runs past the end"},
      {"Object[] of 2^31-1", magic + "\x75" + array_desc + "\x7F\xFF\xFF\xFF", "objects in"},
      {"array of negative size", magic + "\x75" + array_desc + std::string("\x80\x00\x00\x00", 4),
       "negative"},
      {"65535 fields in a few bytes",
       magic + "\x73" +
           std::string("\x72\x00\x01"
                       "A",
                       4) +
           uid + "\x02\xFF\xFF" + std::string("J\x00\x01x", 4),
       "truncated"},
      {"reference to nothing", magic + std::string("\x71\x00\x7E\x00\x05", 5), "does not exist"},
      {"reference below the handle base", magic + std::string("\x71\x00\x00\x00\x00", 5),
       "does not exist"},
      {"its own superclass", magic + "\x73" + desc(std::string("\x71\x00\x7E\x00\x00", 5)),
       "its own superclass"},
      {"200 nested superclasses", magic + "\x73" + deep_supers, "nesting deeper than 64"},
      {"10,000 nested arrays", magic + deep_arrays, "nesting deeper than 64"},
      {"reset", magic + "\x79", "TC_RESET"},
      {"exception", magic + "\x7B", "TC_EXCEPTION"},
      {"block data", magic + std::string("\x77\x01\x00", 3), "block data"},
      {"unknown type code", magic + "\x42", "unknown type code 0x42"},
      {"proxy interface count 2^31-1", magic + "\x73\x7D" + std::string("\x7F\xFF\xFF\xFF", 4),
       "truncated"},
      {"object of a null class", magic + "\x73\x70", "without a class"},
  };
  for (const Hostile& h : all) {
    auto p = parse_pointer(h.bytes);
    ASSERT_FALSE(p) << h.name;
    EXPECT_EQ(p.error().code, Errc::kCorruption) << h.name;
    EXPECT_NE(p.error().message.find(h.reason), std::string::npos)
        << h.name << ": " << p.error().message;
  }
}

TEST_F(PointerTest, WrongSerialVersionUidOrPrimitiveFieldTypeIsRefused) {
  const Vector& v = vectors_->front();
  std::string wrong_uid = v.bytes;
  size_t at = wrong_uid.find("RetrievableStreamStateHandle") + 28;
  wrong_uid[at + 7] ^= 1;
  auto p = parse_pointer(wrong_uid);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("serialVersionUID"), std::string::npos) << p.error().message;

  std::string double_size = v.bytes;  // stateSize declared a double: Java refuses the types
  double_size[double_size.find("\x4A\x00\x09stateSize"sv)] = 'D';
  p = parse_pointer(double_size);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("FileStateHandle.stateSize of type 'D', not 'J'"),
            std::string::npos)
      << p.error().message;
}

TEST(PointerPaths, RelativeToComparesComponents) {
  struct C {
    const char* path;
    const char* location;
    std::optional<std::string> want;
  };
  for (const C& c : std::vector<C>{
           {"file:/data/ha/prod/x", "file:///data/ha", "prod/x"},
           {"file:///data/ha/prod/x", "file:///data/ha/", "prod/x"},
           {"file:/data//ha/x", "file:///data/ha", "x"},
           {"file:/data/ha2/x", "file:///data/ha", std::nullopt},
           {"file:/data/h/x", "file:///data/ha", std::nullopt},
           {"file:/data/ha", "file:///data/ha", std::nullopt},
           {"file:/data", "file:///data/ha", std::nullopt},
           {"file:/data/ha/../etc/passwd", "file:///data/ha", std::nullopt},
           {"file:/data/ha/./x", "file:///data/ha", std::nullopt},
           {"file:/data/h a/x y", "file:///data/h%20a", "x y"},
           {"FILE:/data/ha/x", "file:///data/ha", "x"},
           {"/data/ha/x", "file:///data/ha", std::nullopt},
           {"hdfs://ns1/ha/x", "hdfs://ns1/ha", "x"},
           {"hdfs://ns1/ha/x", "hdfs://ns2/ha", std::nullopt},
           {"hdfs:/ha/x", "hdfs://ns1/ha", std::nullopt},
           {"s3a://b/p/x", "s3://b/p", "x"},
           {"s3p://b/p/x", "s3://b/p", "x"},
           {"s3://b/p/x", "obs://b/p", std::nullopt},
           {"obs://b/p/q/x", "obs://b/p", "q/x"},
           {"obs://b2/p/x", "obs://b/p", std::nullopt},
       }) {
    EXPECT_EQ(relative_to(c.path, c.location), c.want) << c.path << " in " << c.location;
  }
}

TEST(PointerPaths, UriForQuotesAsJavaNetUri) {
  EXPECT_EQ(uri_for("file:///data/ha", "prod/x y"), "file:/data/ha/prod/x%20y");
  EXPECT_EQ(uri_for("file:///data/ha%20x/", "a"), "file:/data/ha%20x/a");
  EXPECT_EQ(uri_for("hdfs://ns/ha/", "a//b/"), "hdfs://ns/ha/a/b");
  EXPECT_EQ(uri_for("s3://b/p", "\xC3\xA9%"), "s3://b/p/\xC3\xA9%25");
  EXPECT_EQ(uri_for("obs://b/p", "\xFF"), "obs://b/p/%FF");  // not UTF-8: the byte, escaped
}

}  // namespace
}  // namespace flinkbr::source::flink
