// Round trips through the writer and reader, the system tar reading our files, and archives
// built by hand (with libarchive directly) that a reader must refuse.
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "archive/archive_reader.h"
#include "archive/archive_writer.h"
#include "io/layers.h"
#include "io/parallel_gzip.h"

namespace flinkbr::archive {
namespace {

namespace fs = std::filesystem;

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// Compressed as backup files are: the parallel gzip writer at its default (isal:1), with small
// blocks so that even these archives span several.
io::ParallelGzipOptions backup_gzip() {
  return {.threads = 2, .block_size = 64 * 1024};
}

std::string gzip(std::string_view data) {
  io::StringWriter sink;
  auto gz = io::ParallelGzipWriter::create(sink, backup_gzip());
  EXPECT_TRUE(gz);
  if (!gz) return {};
  EXPECT_TRUE((*gz)->write(io::as_bytes(data)));
  EXPECT_TRUE((*gz)->finish());
  return sink.str();
}

Header sample_header() {
  Header h;
  h.system_version = "1.18.1 (MRS)";
  h.data_source = "Flink";
  h.cluster = "prod";
  h.execution_time = "20261125043712";
  h.tool_version = "0.1.0";
  // Every source the tests' entries name: an entry of an unlisted source is refused.
  h.sources = {{"conf", "files", "file:///opt/flink/conf"},
               {"zk", "zookeeper", "127.0.0.1:2181/flink"},
               {"s", "files", "file:///s"},
               {"a", "files", "file:///a"},
               {"t", "files", "file:///t"}};
  return h;
}

// What a test puts into an archive and expects back.
struct Item {
  std::string path;
  EntryType type = EntryType::kFile;
  std::string data;
  uint32_t mode = 0644;
  int64_t mtime = 1700000000;
};

std::vector<Item> sample_items() {
  return {
      {"sources/conf", EntryType::kDirectory, "", 0755, 1700000001},
      {"sources/conf/tree", EntryType::kDirectory, "", 0750, 1700000002},
      {"sources/conf/tree/flink-conf.yaml", EntryType::kFile, "jobmanager.rpc.port: 6123\n", 0644,
       1700000003},
      {"sources/conf/tree/empty.txt", EntryType::kFile, "", 0600, 1700000004},
      {"sources/conf/tree/empty-dir", EntryType::kDirectory, "", 0700, 1700000005},
      {"sources/conf/tree/lib", EntryType::kDirectory, "", 0755, 1700000006},
      {"sources/conf/tree/lib/blob.bin", EntryType::kFile, random_bytes(3 * 1024 * 1024 + 5, 1),
       0755, 1700000007},
      {"sources/conf/tree/lib/" + std::string(150, 'n') + ".txt", EntryType::kFile,
       std::string("long\0name", 9), 0644, 1700000008},
      {"sources/conf/tree/naïve — ünïcode.txt", EntryType::kFile, "utf-8 name", 0640, 1700000009},
      {"sources/zk/znodes.bin", EntryType::kFile, random_bytes(70000, 2), 0644, 1},
  };
}

// Writes items with ArchiveWriter into an uncompressed tar held in a string.
std::string write_tar(const std::vector<Item>& items) {
  io::StringWriter sink;
  auto w = ArchiveWriter::create(sink, sample_header());
  EXPECT_TRUE(w) << w.error().message;
  for (const auto& it : items) {
    if (it.type == EntryType::kDirectory) {
      EXPECT_TRUE((*w)->add_directory(it.path, it.mode, it.mtime));
    } else {
      io::StringReader r(it.data);
      auto st = (*w)->add_file(it.path, it.mode, it.mtime, it.data.size(), r);
      EXPECT_TRUE(st) << st.error().message;
    }
  }
  auto st = (*w)->finish();
  EXPECT_TRUE(st) << st.error().message;
  return sink.str();
}

// Reads a whole tar stream, collecting the entries and their data.
Result<std::vector<Item>> read_tar(io::Reader& in, Header* header = nullptr) {
  auto r = TRY(ArchiveReader::open(in));
  if (header) *header = r->header();
  std::vector<Item> out;
  for (;;) {
    auto e = TRY(r->next());
    if (!e) break;
    Item it{e->path, e->type, "", e->mode, e->mtime};
    if (e->type == EntryType::kFile) it.data = TRY(io::read_all(r->data(), size_t{1} << 30));
    EXPECT_EQ(it.data.size(), e->size);
    out.push_back(std::move(it));
  }
  EXPECT_EQ(r->summary().entries, out.size());
  return out;
}

Result<std::vector<Item>> read_tar(std::string tar) {
  io::StringReader in(std::move(tar));
  return read_tar(in);
}

void expect_same(const std::vector<Item>& got, const std::vector<Item>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].path, want[i].path);
    EXPECT_EQ(got[i].type, want[i].type) << want[i].path;
    EXPECT_TRUE(got[i].data == want[i].data) << want[i].path;
    EXPECT_EQ(got[i].mode, want[i].mode) << want[i].path;
    EXPECT_EQ(got[i].mtime, want[i].mtime) << want[i].path;
  }
}

// ---- Raw archives built with libarchive directly, to forge what our writer never writes ----

struct Raw {
  std::string path;
  unsigned type = AE_IFREG;
  std::string data;
  uint32_t mode = 0644;
  int64_t mtime = 1700000000;
  std::string link;  // symlink target (AE_IFLNK) or hard link target (hardlink = true)
  bool hardlink = false;
};

la_ssize_t append_cb(struct archive*, void* client, const void* buf, size_t n) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

std::string make_raw_tar(const std::vector<Raw>& entries) {
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_in_last_block(a, 1);
  EXPECT_EQ(archive_write_open(a, &out, nullptr, &append_cb, nullptr), ARCHIVE_OK);
  for (const auto& r : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname_utf8(e, r.path.c_str());
    archive_entry_set_filetype(e, r.type);
    archive_entry_set_perm(e, r.mode);
    archive_entry_set_mtime(e, r.mtime, 0);
    archive_entry_set_size(e, static_cast<la_int64_t>(r.data.size()));
    if (r.type == AE_IFLNK) archive_entry_set_symlink(e, r.link.c_str());
    if (r.hardlink) {
      archive_entry_set_hardlink(e, r.link.c_str());
      archive_entry_set_size(e, 0);
    }
    EXPECT_EQ(archive_write_header(a, e), ARCHIVE_OK) << archive_error_string(a);
    if (!r.data.empty() && !r.hardlink) {
      EXPECT_EQ(archive_write_data(a, r.data.data(), r.data.size()),
                static_cast<la_ssize_t>(r.data.size()));
    }
    archive_entry_free(e);
  }
  EXPECT_EQ(archive_write_close(a), ARCHIVE_OK);
  archive_write_free(a);
  return out;
}

Raw header_raw() {
  return {std::string(kHeaderEntry), AE_IFREG, sample_header().to_json()};
}

// A manifest entry describing a raw entry exactly.
ManifestEntry describe(const Raw& r) {
  ManifestEntry m{.path = r.path, .mode = r.mode, .mtime = r.mtime};
  if (r.type == AE_IFDIR) {
    m.type = EntryType::kDirectory;
  } else {
    m.size = r.data.size();
    m.sha256 = io::sha256_hex(r.data);
  }
  return m;
}

Raw manifest_raw(const std::vector<Raw>& listed) {
  Manifest m;
  for (const auto& r : listed) m.entries.push_back(describe(r));
  return {std::string(kManifestEntry), AE_IFREG, m.to_json()};
}

Raw file(std::string path, std::string data) {
  return {std::move(path), AE_IFREG, std::move(data)};
}

// Reads the raw tar through gzip and the reader; returns the error it must produce.
Error refusal(const std::string& tar) {
  std::string gz = gzip(tar);
  io::StringReader src(gz);
  auto unzip = io::gzip_reader(src);
  auto r = read_tar(*unzip);
  EXPECT_FALSE(r) << "the archive was accepted";
  if (r) return {};
  EXPECT_EQ(r.error().code, Errc::kCorruption) << r.error().message;
  return r.error();
}

// ---- Round trips ----

TEST(ArchiveTest, RoundTripThroughGzipByteForByte) {
  auto items = sample_items();
  io::StringWriter sink;
  io::HashingWriter hashed(sink);
  auto gz = io::ParallelGzipWriter::create(hashed, backup_gzip());
  ASSERT_TRUE(gz);
  {
    auto w = ArchiveWriter::create(**gz, sample_header());
    ASSERT_TRUE(w) << w.error().message;
    SourceArchiveWriter conf(**w, "conf");
    uint64_t expected_bytes = 0;
    for (const auto& it : items) {
      std::string_view rel = it.path;
      bool in_conf = rel.starts_with("sources/conf");
      if (it.type == EntryType::kDirectory) {
        if (in_conf) {
          rel.remove_prefix(std::min(rel.size(), std::string_view("sources/conf/").size()));
          ASSERT_TRUE(conf.add_directory(rel, it.mode, it.mtime));
        } else {
          ASSERT_TRUE((*w)->add_directory(it.path, it.mode, it.mtime));
        }
      } else if (in_conf) {
        rel.remove_prefix(std::string_view("sources/conf/").size());
        io::StringReader r(it.data);
        ASSERT_TRUE(conf.add_file(rel, it.mode, it.mtime, it.data.size(), r));
      } else {
        ASSERT_TRUE((*w)->add_bytes(it.path, it.data, it.mode, it.mtime));
      }
      expected_bytes += it.data.size();
      EXPECT_EQ((*w)->payload_bytes(), expected_bytes);
    }
    auto st = (*w)->finish();
    ASSERT_TRUE(st) << st.error().message;
  }
  // finish() finished the whole stack.
  EXPECT_EQ(hashed.sha256(), io::sha256_hex(sink.str()));
  EXPECT_LT(sink.str().size(), 3u * 1024 * 1024 + 200 * 1024);

  io::StringReader src(sink.str());
  auto unzip = io::gzip_reader(src);
  Header header;
  auto got = read_tar(*unzip, &header);
  ASSERT_TRUE(got) << got.error().message;
  expect_same(*got, items);
  EXPECT_EQ(header.system_version, "1.18.1 (MRS)");
  ASSERT_EQ(header.sources.size(), 5u);
  EXPECT_EQ(header.sources[0].kind, "files");
}

TEST(ArchiveTest, EmptyArchive) {
  auto got = read_tar(write_tar({}));
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_TRUE(got->empty());
}

TEST(ArchiveTest, EntrySourceAndRelativePath) {
  Entry e{.path = "sources/conf/tree/a/b.yaml"};
  EXPECT_EQ(e.source(), "conf");
  EXPECT_EQ(e.relative_path(), "tree/a/b.yaml");
  Entry top{.path = "sources/conf"};
  EXPECT_EQ(top.source(), "conf");
  EXPECT_EQ(top.relative_path(), "");
}

TEST(ArchiveTest, PartialReadsAreDrainedAndStillVerified) {
  std::string tar = write_tar(sample_items());
  io::StringReader in(tar);
  auto r = ArchiveReader::open(in);
  ASSERT_TRUE(r) << r.error().message;
  int files = 0;
  for (;;) {
    auto e = (*r)->next();
    ASSERT_TRUE(e) << e.error().message;
    if (!*e) break;
    if ((*e)->type == EntryType::kFile && (++files % 2) == 0) {
      std::byte b[10];
      ASSERT_TRUE((*r)->data().read(b));  // read a little, leave the rest
    }
  }
  EXPECT_EQ((*r)->summary().entries, sample_items().size());
  auto again = (*r)->next();
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
}

TEST(ArchiveTest, VerifyArchiveReportsHeaderManifestAndBytes) {
  std::string tar = write_tar(sample_items());
  io::StringReader in(tar);
  auto rep = verify_archive(in);
  ASSERT_TRUE(rep) << rep.error().message;
  uint64_t bytes = 0, conf_bytes = 0, conf_entries = 0;
  for (const auto& it : sample_items()) {
    bytes += it.data.size();
    if (it.path.starts_with("sources/conf")) conf_bytes += it.data.size(), ++conf_entries;
  }
  EXPECT_EQ(rep->payload_bytes, bytes);
  EXPECT_EQ(rep->summary.entries, sample_items().size());
  EXPECT_EQ(rep->header.cluster, "prod");
  // One total per source of the header, in its order.
  ASSERT_EQ(rep->summary.sources.size(), 5u);
  EXPECT_EQ(rep->summary.sources[0].name, "conf");
  EXPECT_EQ(rep->summary.sources[0].entries, conf_entries);
  EXPECT_EQ(rep->summary.sources[0].bytes, conf_bytes);

  // The digest the reader checked against the manifest is the data's.
  io::StringReader again(tar);
  auto r = ArchiveReader::open(again);
  ASSERT_TRUE(r) << r.error().message;
  for (int i = 0; i <= 2; ++i) ASSERT_TRUE((*r)->next());
  ASSERT_TRUE(io::read_all((*r)->data(), 1 << 20));
  EXPECT_EQ((*r)->data().sha256_at_end(), io::sha256_hex(sample_items()[2].data));
}

// Many entries: the manifest is spooled and merged, paths checked in bounded memory. (Memory
// itself is measured in docs/benchmarks.md, not asserted here.)
TEST(ArchiveTest, TwoHundredThousandEntriesRoundTrip) {
  constexpr int kEntries = 200000;
  io::StringWriter sink;
  {
    auto gz = io::ParallelGzipWriter::create(sink, backup_gzip());
    ASSERT_TRUE(gz);
    auto w = ArchiveWriter::create(**gz, sample_header());
    ASSERT_TRUE(w) << w.error().message;
    SourceArchiveWriter conf(**w, "conf");
    // A tree as the files source walks it: directories of sorted names, then a second source.
    for (int i = 0; i < kEntries; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "tree/d%03d/f%05d", i / 1000, i % 1000);
      if (i % 1000 == 0) {
        ASSERT_TRUE(conf.add_directory(std::string(name, 9), 0755, i));
      }
      ASSERT_TRUE(conf.add_bytes(name, std::to_string(i), 0644, i));
    }
    ASSERT_TRUE((*w)->add_bytes("sources/zk/znodes/part-000001.jsonl", "{}\n", 0644, 1));
    auto st = (*w)->finish();
    ASSERT_TRUE(st) << st.error().message;
  }
  io::StringReader src(sink.str());
  auto unzip = io::gzip_reader(src);
  auto rep = verify_archive(*unzip);
  ASSERT_TRUE(rep) << rep.error().message;
  EXPECT_EQ(rep->summary.entries, uint64_t{kEntries + kEntries / 1000 + 1});
  ASSERT_EQ(rep->summary.sources.size(), 5u);
  EXPECT_EQ(rep->summary.sources[0].entries, uint64_t{kEntries + kEntries / 1000});
  uint64_t bytes = 0;
  for (int i = 0; i < kEntries; ++i) bytes += std::to_string(i).size();
  EXPECT_EQ(rep->summary.sources[0].bytes, bytes);
  EXPECT_EQ(rep->payload_bytes, bytes + 3);
}

// ---- Writer refusals ----

TEST(ArchiveWriterTest, FileThatChangedWhileBeingRead) {
  for (std::string data : {std::string("short"), std::string("much too long")}) {
    io::StringWriter sink;
    auto w = ArchiveWriter::create(sink, sample_header());
    ASSERT_TRUE(w);
    io::StringReader r(data);
    auto st = (*w)->add_file("sources/a/f", 0644, 1, 8, r);
    ASSERT_FALSE(st);
    EXPECT_EQ(st.error().code, Errc::kIOError);
    EXPECT_EQ(st.error().message, "sources/a/f: file changed while being read (expected 8 bytes)");
    // The tar stream is cut: nothing more may be added.
    EXPECT_FALSE((*w)->add_bytes("sources/a/g", "x", 0644, 1));
    EXPECT_FALSE((*w)->finish());
  }
}

TEST(ArchiveWriterTest, BadPathsAndDuplicatesAreRefused) {
  io::StringWriter sink;
  auto w = ArchiveWriter::create(sink, sample_header());
  ASSERT_TRUE(w);
  for (std::string_view bad : {"../x", "/etc/x", "sources/a/../../x", "sources/", "sources",
                               "other/x", "flinkbr-manifest.json", "sources/a//b"}) {
    auto fresh = ArchiveWriter::create(sink, sample_header());
    ASSERT_TRUE(fresh);
    auto st = (*fresh)->add_bytes(bad, "x", 0644, 1);
    ASSERT_FALSE(st) << bad;
    EXPECT_EQ(st.error().code, Errc::kInvalidArgument) << bad;
  }
  ASSERT_TRUE((*w)->add_bytes("sources/a/x", "1", 0644, 1));
  auto st = (*w)->add_bytes("sources/a/x", "2", 0644, 1);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kInvalidArgument);

  io::StringWriter sink2;
  auto w2 = ArchiveWriter::create(sink2, sample_header());
  ASSERT_TRUE(w2);
  SourceArchiveWriter bad_name(**w2, "a/b");
  EXPECT_FALSE(bad_name.add_bytes("x", "1", 0644, 1));
  SourceArchiveWriter good(**w2, "a");
  EXPECT_FALSE(good.add_bytes("", "1", 0644, 1));
  EXPECT_TRUE(good.add_directory("", 0755, 1));
}

// A writer whose finish() records that it was called.
class RecordingWriter final : public io::Writer {
 public:
  Status write(std::span<const std::byte> data) override { return sink_.write(data); }
  Status finish() override {
    finished_ = true;
    return ok();
  }
  io::StringWriter sink_;
  bool finished_ = false;
};

TEST(ArchiveWriterTest, AbandonedWriterDoesNotEndTheStream) {
  RecordingWriter out;
  {
    auto w = ArchiveWriter::create(out, sample_header());
    ASSERT_TRUE(w);
    ASSERT_TRUE((*w)->add_bytes("sources/a/x", std::string(20000, 'x'), 0644, 1));
  }
  EXPECT_FALSE(out.finished_);
  // No manifest was written, so what reached the stream is refused.
  auto r = read_tar(out.sink_.str());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCorruption);
}

// ---- The system tar reads our files ----

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "flinkbr-archive-XXXXXX").string();
    EXPECT_NE(mkdtemp(pattern.data()), nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    // Extracted directories may have lost their write bit.
    for (auto& e : fs::recursive_directory_iterator(path_, ec))
      if (e.is_directory(ec))
        fs::permissions(e.path(), fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string run(const std::string& cmd, int* status) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    *status = -1;
    return {};
  }
  std::string out;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  *status = pclose(p);
  return out;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(ArchiveTest, SystemTarListsAndExtractsTheSameBytes) {
  auto items = sample_items();
  TempDir dir;
  fs::path file = dir.path() / "backup.tar.gz";
  {
    std::ofstream f(file, std::ios::binary);
    std::string gz = gzip(write_tar(items));
    f.write(gz.data(), static_cast<std::streamsize>(gz.size()));
  }
  int status = 0;
  std::string listing = run("LC_ALL=C.UTF-8 tar tzf '" + file.string() + "'", &status);
  ASSERT_EQ(status, 0);
  std::string expected = std::string(kHeaderEntry) + "\n";
  for (const auto& it : items)
    expected += it.path + (it.type == EntryType::kDirectory ? "/\n" : "\n");
  expected += std::string(kManifestEntry) + "\n";
  EXPECT_EQ(listing, expected);

  fs::path out = dir.path() / "x";
  fs::create_directory(out);
  run("LC_ALL=C.UTF-8 tar xzpf '" + file.string() + "' -C '" + out.string() + "'", &status);
  ASSERT_EQ(status, 0);
  for (const auto& it : items) {
    fs::path p = out / it.path;
    struct stat st {};
    ASSERT_EQ(::stat(p.c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_mode & 07777, it.mode) << it.path;
    EXPECT_EQ(st.st_mtime, it.mtime) << it.path;
    if (it.type == EntryType::kDirectory) {
      EXPECT_TRUE(S_ISDIR(st.st_mode)) << it.path;
    } else {
      EXPECT_TRUE(S_ISREG(st.st_mode)) << it.path;
      EXPECT_TRUE(slurp(p) == it.data) << it.path;
    }
  }
  auto header = Header::from_json(slurp(out / kHeaderEntry));
  ASSERT_TRUE(header) << header.error().message;
  auto manifest = Manifest::from_json(slurp(out / kManifestEntry));
  ASSERT_TRUE(manifest) << manifest.error().message;
  EXPECT_EQ(manifest->entries.size(), items.size());

  // The check by hand that docs/archive-format.md describes: sha256sum against the manifest.
  std::string sums =
      run("cd '" + out.string() +
              "' && jq -r '.entries[] | select(.type == \"file\") | "
              "\"\\(.sha256)  \\(.path)\"' flinkbr-manifest.json | sha256sum -c --quiet -",
          &status);
  if (system("command -v jq >/dev/null 2>&1") == 0) {
    EXPECT_EQ(status, 0) << sums;
  }
}

// ---- Corrupted and forged archives ----

TEST(ArchiveCorruptionTest, FlippedPayloadByte) {
  auto items = sample_items();
  items[2].data = "PAYLOAD-MARKER-" + items[2].data;
  std::string tar = write_tar(items);
  size_t pos = tar.find("PAYLOAD-MARKER-");
  ASSERT_NE(pos, std::string::npos);
  tar[pos + 3] ^= 0x01;
  Error e = refusal(tar);
  EXPECT_EQ(e.message, "checksum mismatch for " + items[2].path);
}

TEST(ArchiveCorruptionTest, TruncatedFile) {
  std::string tar = write_tar(sample_items());
  std::string gz = gzip(tar);
  for (size_t keep : {gz.size() / 3, gz.size() - 10, size_t{20}}) {
    io::StringReader src(gz.substr(0, keep));
    auto unzip = io::gzip_reader(src);
    auto r = read_tar(*unzip);
    ASSERT_FALSE(r) << keep;
    EXPECT_EQ(r.error().code, Errc::kCorruption);
    EXPECT_EQ(r.error().message, "gzip stream is truncated");
  }
  // The gzip trailer is checked although the tar stream ends before it.
  std::string bad_crc = gz;
  bad_crc[gz.size() - 6] ^= 0x01;
  io::StringReader src(bad_crc);
  auto unzip = io::gzip_reader(src);
  auto r = read_tar(*unzip);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::kCorruption);
  EXPECT_TRUE(r.error().message.starts_with("gzip stream is corrupt")) << r.error().message;

  // A tar stream cut at an entry boundary just before the manifest (and gzipped properly).
  size_t manifest_at = tar.rfind(std::string(kManifestEntry));
  ASSERT_NE(manifest_at, std::string::npos);
  size_t cut = manifest_at / 512 * 512;
  // pax_restricted may precede the entry with an extended header; cut before either.
  Error e = refusal(tar.substr(0, cut));
  EXPECT_EQ(e.message, "the file ends before its manifest (truncated?)");
  // Cut in the middle of a record.
  e = refusal(tar.substr(0, cut + 100));
  EXPECT_NE(e.message.find("runcated"), std::string::npos) << e.message;
}

TEST(ArchiveCorruptionTest, EntryNotInManifest) {
  Raw a = file("sources/s/a", "a"), extra = file("sources/s/extra", "x");
  Error e = refusal(make_raw_tar({header_raw(), a, extra, manifest_raw({a})}));
  EXPECT_EQ(e.message, "entry sources/s/extra is not listed in the manifest");
}

// What a restore cannot stage, verify refuses too (issue 16): one reader decides for both.
TEST(ArchiveCorruptionTest, EntryOfASourceTheHeaderDoesNotList) {
  Raw a = file("sources/s/a", "a"), other = file("sources/other/x", "x");
  Error e = refusal(make_raw_tar({header_raw(), a, other, manifest_raw({a, other})}));
  EXPECT_EQ(e.message, "entry sources/other/x belongs to no source listed in the file's header");
}

TEST(ArchiveCorruptionTest, FileUnderAFileInOrder) {
  Raw dir{"sources/s/d", AE_IFDIR}, f = file("sources/s/d/f", "f"),
                                    under = file("sources/s/d/f/g", "g");
  Error e = refusal(make_raw_tar({header_raw(), dir, f, under, manifest_raw({dir, f, under})}));
  EXPECT_EQ(e.message, "entry sources/s/d/f/g is under sources/s/d/f, which is a file");
  // The source's prefix itself as a file.
  Raw top = file("sources/s", "x"), below = file("sources/s/a", "a");
  e = refusal(make_raw_tar({header_raw(), top, below, manifest_raw({top, below})}));
  EXPECT_EQ(e.message, "entry sources/s/a is under sources/s, which is a file");
}

TEST(ArchiveCorruptionTest, FileUnderAFileOutOfOrder) {
  // Out of component-wise order ("z" before "f/g"), and after another source came back.
  Raw f = file("sources/s/f", "f"), z = file("sources/s/z", "z"),
      under = file("sources/s/f/g", "g");
  Error e = refusal(make_raw_tar({header_raw(), f, z, under, manifest_raw({f, z, under})}));
  EXPECT_EQ(e.message, "entry sources/s/f/g is under sources/s/f, which is a file");
  Raw t = file("sources/t/x", "x"), deep = file("sources/s/f/h/i", "i");
  e = refusal(make_raw_tar({header_raw(), f, t, deep, manifest_raw({f, t, deep})}));
  EXPECT_EQ(e.message, "entry sources/s/f/h/i is under sources/s/f, which is a file");
}

TEST(ArchiveTest, SiblingsOfAFileInAnyOrderAreAccepted) {
  // "f" a file, then names that share its prefix but are not below it ("f-x", "f.y", "fz/g").
  Raw f = file("sources/s/f", "f"), dash = file("sources/s/f-x", "1"),
      dot = file("sources/s/f.y", "2"), dir{"sources/s/fz", AE_IFDIR},
      g = file("sources/s/fz/g", "3"), back = file("sources/s/a", "4");
  std::string tar = make_raw_tar(
      {header_raw(), f, dash, dot, dir, g, back, manifest_raw({f, dash, dot, dir, g, back})});
  io::StringReader src(gzip(tar));
  auto unzip = io::gzip_reader(src);
  auto r = read_tar(*unzip);
  EXPECT_TRUE(r) << r.error().message;
}

TEST(ArchiveCorruptionTest, ManifestEntryMissingFromFile) {
  Raw a = file("sources/s/a", "a"), gone = file("sources/s/gone", "g");
  Error e = refusal(make_raw_tar({header_raw(), a, manifest_raw({a, gone})}));
  EXPECT_EQ(e.message, "the manifest lists sources/s/gone but the file does not contain it");
}

TEST(ArchiveCorruptionTest, EntryAfterManifest) {
  Raw a = file("sources/s/a", "a"), late = file("sources/s/late", "l");
  Error e = refusal(make_raw_tar({header_raw(), a, manifest_raw({a, late}), late}));
  EXPECT_EQ(e.message, "entry sources/s/late follows the manifest");
}

TEST(ArchiveCorruptionTest, AttributeMismatches) {
  Raw a = file("sources/s/a", "abc");
  Raw listed = a;
  listed.mode = 0600;
  EXPECT_EQ(refusal(make_raw_tar({header_raw(), a, manifest_raw({listed})})).message,
            "mode mismatch for sources/s/a: the manifest says 0600, the file has 0644");
  listed = a;
  listed.mtime = 5;
  EXPECT_EQ(refusal(make_raw_tar({header_raw(), a, manifest_raw({listed})})).message,
            "mtime mismatch for sources/s/a: the manifest says 5, the file has 1700000000");
  listed = a;
  listed.data = "abcd";
  EXPECT_EQ(refusal(make_raw_tar({header_raw(), a, manifest_raw({listed})})).message,
            "size mismatch for sources/s/a: the manifest says 4 bytes, the file holds 3");
  listed = a;
  listed.data = "abd";
  EXPECT_EQ(refusal(make_raw_tar({header_raw(), a, manifest_raw({listed})})).message,
            "checksum mismatch for sources/s/a");
  listed = a;
  listed.type = AE_IFDIR;
  EXPECT_EQ(refusal(make_raw_tar({header_raw(), a, manifest_raw({listed})})).message,
            "entry sources/s/a is a file but the manifest lists a directory");
}

TEST(ArchiveCorruptionTest, SetuidSetgidAndStickyBitsAreRefused) {
  for (uint32_t mode : {04755u, 02755u, 01777u, 04777u}) {
    Raw a = file("sources/s/a", "abc");
    a.mode = mode;
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", mode);
    EXPECT_EQ(refusal(make_raw_tar({header_raw(), a, manifest_raw({a})})).message,
              "entry sources/s/a has mode " + std::string(octal) +
                  ": a backup file carries permission bits only (at most 0777); setuid, setgid "
                  "and sticky bits are refused");
  }
  Raw dir{"sources/s/tmp", AE_IFDIR, "", 01777};
  EXPECT_NE(refusal(make_raw_tar({header_raw(), dir, manifest_raw({dir})}))
                .message.find("entry sources/s/tmp has mode 1777"),
            std::string::npos);
}

TEST(ArchiveCorruptionTest, AManifestListingMoreThanPermissionBitsIsInvalid) {
  Raw a = file("sources/s/a", "abc");
  a.mode = 0755;
  Raw listed = a;
  listed.mode = 04755;
  Error e = refusal(make_raw_tar({header_raw(), a, manifest_raw({listed})}));
  EXPECT_NE(e.message.find("field 'mode' is not permission bits only (at most 0777; setuid, "
                           "setgid and sticky bits are refused)"),
            std::string::npos)
      << e.message;
}

TEST(ArchiveWriterTest, ModesAreRecordedAsPermissionBitsOnly) {
  std::vector<Item> items = {{"sources/s", EntryType::kDirectory, "", 01777, 1},
                             {"sources/s/suid", EntryType::kFile, "x", 04755, 2},
                             {"sources/s/sgid", EntryType::kFile, "y", 02750, 3}};
  auto back = read_tar(write_tar(items));
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->size(), 3u);
  EXPECT_EQ((*back)[0].mode, 0777u);
  EXPECT_EQ((*back)[1].mode, 0755u);
  EXPECT_EQ((*back)[2].mode, 0750u);
}

TEST(ArchiveCorruptionTest, DotDotPath) {
  for (std::string path : {"../x", "sources/s/../../x", "sources/.."}) {
    Raw bad = file(path, "x");
    Error e = refusal(make_raw_tar({header_raw(), bad, manifest_raw({bad})}));
    EXPECT_NE(e.message.find(path), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("'..'"), std::string::npos) << e.message;
  }
}

TEST(ArchiveCorruptionTest, AbsolutePath) {
  Raw bad = file("/etc/x", "x");
  Error e = refusal(make_raw_tar({header_raw(), bad, manifest_raw({bad})}));
  EXPECT_EQ(e.message, "invalid entry path \"/etc/x\": absolute");
}

TEST(ArchiveCorruptionTest, PathOutsideSources) {
  Raw bad = file("etc/x", "x");
  Error e = refusal(make_raw_tar({header_raw(), bad, manifest_raw({bad})}));
  EXPECT_EQ(e.message, "entry etc/x is not under sources/<source>/");
  Raw second_header = header_raw();
  e = refusal(make_raw_tar({header_raw(), second_header, manifest_raw({})}));
  EXPECT_EQ(e.message, "entry flinkbr-header.json is not under sources/<source>/");
}

TEST(ArchiveCorruptionTest, SymlinkEntry) {
  Raw link{"sources/s/link", AE_IFLNK, "", 0777, 1700000000, "/etc/passwd"};
  Error e = refusal(make_raw_tar({header_raw(), link, manifest_raw({})}));
  EXPECT_EQ(e.message, "entry sources/s/link is a symbolic link");
}

TEST(ArchiveCorruptionTest, HardlinkEntry) {
  Raw a = file("sources/s/a", "a");
  Raw link{"sources/s/b", AE_IFREG, "", 0644, 1700000000, "sources/s/a", true};
  Error e = refusal(make_raw_tar({header_raw(), a, link, manifest_raw({a})}));
  EXPECT_EQ(e.message, "entry sources/s/b is a hard link");
  // A hard link to a file outside the tree.
  Raw out{"sources/s/c", AE_IFREG, "", 0644, 1700000000, "/etc/shadow", true};
  e = refusal(make_raw_tar({header_raw(), out, manifest_raw({})}));
  EXPECT_EQ(e.message, "entry sources/s/c is a hard link");
}

TEST(ArchiveCorruptionTest, DevicesAndFifos) {
  Raw fifo{"sources/s/fifo", AE_IFIFO, "", 0644};
  EXPECT_EQ(refusal(make_raw_tar({header_raw(), fifo, manifest_raw({})})).message,
            "entry sources/s/fifo is a FIFO");
  Raw dev{"sources/s/dev", AE_IFCHR, "", 0644};
  EXPECT_EQ(refusal(make_raw_tar({header_raw(), dev, manifest_raw({})})).message,
            "entry sources/s/dev is a device");
}

TEST(ArchiveCorruptionTest, DuplicateEntry) {
  Raw a = file("sources/s/a", "a");
  Error e = refusal(make_raw_tar({header_raw(), a, a, manifest_raw({a})}));
  EXPECT_EQ(e.message, "entry sources/s/a appears twice");
}

TEST(ArchiveCorruptionTest, DuplicateEntryOutOfOrderOrInAnotherSourceRun) {
  // Not next to each other, in no sorted order, and after another source: still refused when
  // the second one arrives, whatever the manifest says.
  Raw a = file("sources/s/a", "a"), c = file("sources/s/c", "c"), b = file("sources/s/b", "b");
  Raw t = file("sources/t/x", "x");
  EXPECT_EQ(refusal(make_raw_tar({header_raw(), c, a, b, a, manifest_raw({c, a, b, a})})).message,
            "entry sources/s/a appears twice");
  EXPECT_EQ(refusal(make_raw_tar({header_raw(), a, b, t, a, manifest_raw({a, b, t, a})})).message,
            "entry sources/s/a appears twice");
}

TEST(ArchiveCorruptionTest, ManifestInAnotherOrder) {
  Raw a = file("sources/s/a", "a"), b = file("sources/s/b", "b"), c = file("sources/s/c", "c");
  EXPECT_EQ(refusal(make_raw_tar({header_raw(), a, b, c, manifest_raw({a, c, b})})).message,
            "entry sources/s/b is listed out of order in the manifest (the file holds it before "
            "sources/s/c)");
  // The same faults as before, found by the merge wherever they are.
  EXPECT_EQ(refusal(make_raw_tar({header_raw(), a, b, c, manifest_raw({a, c})})).message,
            "entry sources/s/b is not listed in the manifest");
  EXPECT_EQ(refusal(make_raw_tar({header_raw(), a, c, manifest_raw({a, b, c})})).message,
            "the manifest lists sources/s/b but the file does not contain it");
  EXPECT_EQ(refusal(make_raw_tar({header_raw(), a, b, manifest_raw({a, a, b})})).message,
            "the manifest lists sources/s/a twice");
  EXPECT_EQ(refusal(make_raw_tar({header_raw(), a, b, manifest_raw({a, b, a})})).message,
            "the manifest lists sources/s/a twice");
}

TEST(ArchiveCorruptionTest, MissingHeader) {
  Raw a = file("sources/s/a", "a");
  Error e = refusal(make_raw_tar({a, manifest_raw({a})}));
  EXPECT_EQ(e.message, "not a flinkbr backup file: first entry is sources/s/a");
  e = refusal(make_raw_tar({}));
  EXPECT_EQ(e.message, "not a flinkbr backup file: it holds no entries");
}

TEST(ArchiveCorruptionTest, HeaderOfAnotherFormatVersion) {
  Raw h = header_raw();
  h.data = R"({"format_version": 2})";
  Error e = refusal(make_raw_tar({h, manifest_raw({})}));
  EXPECT_NE(e.message.find("format_version 2"), std::string::npos) << e.message;
}

TEST(ArchiveCorruptionTest, NotATarAtAll) {
  Error e = refusal(random_bytes(10000, 3));
  EXPECT_NE(e.message.find("not a flinkbr backup file"), std::string::npos) << e.message;
}

TEST(ArchiveCorruptionTest, FlippedByteInATarHeader) {
  std::string tar = write_tar(sample_items());
  size_t pos = tar.find("flink-conf.yaml");
  ASSERT_NE(pos, std::string::npos);
  tar[pos] ^= 0x20;  // breaks the header checksum
  refusal(tar);
}

TEST(ArchiveCorruptionTest, ErrorsAreSticky) {
  Raw a = file("sources/s/a", "a"), extra = file("sources/s/extra", "x");
  std::string tar = make_raw_tar({header_raw(), a, extra, manifest_raw({a})});
  io::StringReader in(tar);
  auto r = ArchiveReader::open(in);
  ASSERT_TRUE(r);
  Result<std::optional<Entry>> e;
  do e = (*r)->next();
  while (e && *e);
  ASSERT_FALSE(e);
  EXPECT_FALSE((*r)->next());
}

}  // namespace
}  // namespace flinkbr::archive
