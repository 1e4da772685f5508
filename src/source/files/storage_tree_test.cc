// The files source on object storage (s3:// and obs://), against a real @20minutes/s3rver that
// checks Signature V4. The HDFS tests of the same source live with the HDFS driver.
#include "source/files/storage_tree.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "io/layers.h"
#include "source/registry.h"
#include "source/testing/capturing_writer.h"
#include "storage/s3/s3rver_fixture.h"

namespace flinkbr::source {
namespace {

namespace fs = std::filesystem;
using namespace std::string_literals;
using testing::Captured;
using testing::CapturingWriter;
using testing::entry_of;

std::string random_name(std::string_view prefix) {
  std::random_device rd;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
  return std::string(prefix) + buf;
}

std::string pattern(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::string digest(std::string_view data) {
  return std::to_string(data.size()) + ":" + io::sha256_hex(data).substr(0, 16);
}

class StorageTreeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& server = storage::testing::S3rver::instance();
    ASSERT_EQ(server.error(), "");
    std::string tmpl = (fs::temp_directory_path() / "flinkbr-tree-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    tmp_ = tmpl;
    fs::create_directories(tmp_ / "staging");
    write_credentials("S3RVER");
    cluster_.name = "prod";
    cluster_.obs.endpoint = server.endpoint();
    cluster_.obs.region = "us-east-1";
    cluster_.obs.addressing = "path";
    cluster_.obs.credentials_file = (tmp_ / "obs.cred").string();
    cluster_.obs.part_size = uint64_t{5} << 20;
    auto d = storage::make_s3_driver(server.options());
    ASSERT_TRUE(d) << d.error().message;
    bucket_ = std::make_unique<storage::Storage>(std::move(*d));
    prefix_ = std::string(storage::testing::S3rver::kBucket) + "/" + random_name("t-") + "/ha";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }

  void write_credentials(std::string_view secret) {
    std::string path = (tmp_ / "obs.cred").string();
    std::ofstream(path, std::ios::trunc) << "[default]\naws_access_key_id = S3RVER\n"
                                         << "aws_secret_access_key = " << secret << "\n";
    ::chmod(path.c_str(), 0600);
  }

  config::SourceConfig cfg(const std::string& uri) const {
    config::SourceConfig c;
    c.name = "ha-storage";
    c.type = "files";
    c.params = {{"uri", uri}};
    c.key_path = "clusters[0].metadata[1]";
    return c;
  }

  std::unique_ptr<MetadataSource> source(std::string scheme = "s3") {
    auto s = create(cfg(scheme + "://" + prefix_), cluster_);
    EXPECT_TRUE(s) << s.error().message;
    return s ? std::move(*s) : nullptr;
  }

  TaskContext ctx(std::string id = "r1-a1") {
    return TaskContext{.id = std::move(id),
                       .staging_dir = (tmp_ / "staging").string(),
                       .log = [this](const std::string& l) { log_.push_back(l); }};
  }

  void put(const std::string& rel, std::string_view data) {
    auto w = bucket_->open_write(prefix_ + "/" + rel, {.overwrite = true});
    ASSERT_TRUE(w) << w.error().message;
    auto st = (*w)->write(io::as_bytes(data));
    ASSERT_TRUE(st) << st.error().message;
    st = (*w)->finish();
    ASSERT_TRUE(st) << st.error().message;
  }

  // Every object below the prefix: relative key -> size and digest.
  std::map<std::string, std::string> objects() {
    std::map<std::string, std::string> out;
    auto l = bucket_->list_recursive(prefix_);
    if (!l) {
      EXPECT_EQ(l.error().code, Errc::kNotFound) << l.error().message;
      return out;
    }
    for (const auto& f : *l) {
      auto r = bucket_->open_read(f.path);
      EXPECT_TRUE(r) << r.error().message;
      // Size and digest rather than the content: a failure prints something readable.
      std::string data = r ? io::read_all(**r, size_t{1} << 30).value_or("?") : "?";
      out[f.path.substr(prefix_.size() + 1)] = digest(data);
    }
    return out;
  }

  // The Flink-like HA storage: job graphs, checkpoint metadata, an empty file, binary data
  // with zero bytes, and a file large enough for a multipart upload of 5 MiB parts.
  std::map<std::string, std::string> populate() {
    std::map<std::string, std::string> want{
        {"default/submittedJobGraph8f3c", pattern(70000, 1)},
        {"default/completedCheckpoint1a2b", "\xac\xed\0\x05sr\0"s + "ckpt"},
        {"default/blob/job_1/blob_p-1", pattern(6 << 20, 2)},
        {"default/empty", ""},
        {"conf/flink-conf.yaml", "high-availability: zookeeper\n"},
    };
    for (const auto& [k, v] : want) put(k, v);
    for (auto& [k, v] : want) v = digest(v);
    return want;
  }

  std::vector<Captured> backup(MetadataSource& src) {
    CapturingWriter w;
    archive::SourceArchiveWriter out(w, src.name());
    auto st = src.backup(out, ctx());
    EXPECT_TRUE(st) << st.error().message;
    return w.entries;
  }

  std::unique_ptr<StagedRestore> stage(MetadataSource& src, const std::vector<Captured>& entries) {
    auto staged = src.begin_restore(ctx());
    EXPECT_TRUE(staged) << staged.error().message;
    if (!staged) return nullptr;
    for (const auto& c : entries) {
      io::StringReader data(c.data);
      auto st = (*staged)->add(entry_of(c), data);
      EXPECT_TRUE(st) << c.path << ": " << st.error().message;
    }
    EXPECT_TRUE((*staged)->finish_staging());
    return std::move(*staged);
  }

  fs::path tmp_;
  config::ClusterConfig cluster_;
  std::unique_ptr<storage::Storage> bucket_;
  std::string prefix_;
  std::vector<std::string> log_;
};

TEST_F(StorageTreeTest, ConfigAcceptsRemoteUrisAndNamesTheFieldOtherwise) {
  for (std::string uri :
       {"s3://bucket/flink/ha", "obs://bucket", "hdfs://hacluster/flink/ha", "S3://bucket/a%20b"}) {
    auto st = validate_config(cfg(uri));
    EXPECT_TRUE(st) << uri << ": " << st.error().message;
  }
  for (std::string uri : {"s3:///no-bucket", "hdfs:///flink/ha", "hdfs://ns", "s3://b/a/../c",
                          "s3://b/a/", "ftp://host/x", "s3://b/a?x=1"}) {
    auto st = validate_config(cfg(uri));
    ASSERT_FALSE(st) << uri;
    EXPECT_EQ(st.error().code, Errc::kInvalidArgument) << uri;
    EXPECT_EQ(st.error().field, "clusters[0].metadata[1].uri") << uri;
  }
}

// The order the local files source writes and restores in bounded memory: each directory
// followed at once by everything below it ("a/b" before "a-c", unlike plain byte order).
TEST_F(StorageTreeTest, BackupWritesTreeOrder) {
  for (const char* key : {"a-c", "a/b", "a.d", "B"}) put(key, key);
  auto src = source();
  ASSERT_TRUE(src);
  std::vector<std::string> paths;
  for (const auto& e : backup(*src)) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{
                       "sources/ha-storage/tree", "sources/ha-storage/tree/B",
                       "sources/ha-storage/tree/a", "sources/ha-storage/tree/a/b",
                       "sources/ha-storage/tree/a-c", "sources/ha-storage/tree/a.d"}));
}

TEST_F(StorageTreeTest, RoundTripRestoresDeletedChangedAndAddedObjectsExactly) {
  auto want = populate();
  auto src = source();
  ASSERT_TRUE(src);
  EXPECT_EQ(src->location(), "s3://" + prefix_);
  ASSERT_TRUE(src->check());
  EXPECT_EQ(src->estimate_bytes(), 70000u + 11 + (6u << 20) + 0 + 29);
  auto entries = backup(*src);
  ASSERT_FALSE(entries.empty());
  EXPECT_EQ(entries.front().path, "sources/ha-storage/tree");

  // Damage: two objects deleted (the large one comes back in a multipart upload of 5 MiB
  // parts), one changed (same size), one added.
  ASSERT_TRUE(bucket_->remove(prefix_ + "/default/completedCheckpoint1a2b"));
  ASSERT_TRUE(bucket_->remove(prefix_ + "/default/blob/job_1/blob_p-1"));
  std::string changed = pattern(70000, 1);
  changed[100] ^= 0x20;
  put("default/submittedJobGraph8f3c", changed);
  put("default/submittedJobGraph-new", "added after the backup");

  auto staged = stage(*src, entries);
  ASSERT_TRUE(staged);
  auto diff = staged->diff();
  ASSERT_TRUE(diff) << diff.error().message;
  EXPECT_EQ(diff->added.items, (std::vector<std::string>{"default/blob/job_1/blob_p-1",
                                                         "default/completedCheckpoint1a2b"}));
  EXPECT_EQ(diff->changed.items, std::vector<std::string>{"default/submittedJobGraph8f3c"});
  EXPECT_EQ(diff->removed.items, std::vector<std::string>{"default/submittedJobGraph-new"});
  // Staging changed nothing live.
  EXPECT_EQ(objects().count("default/submittedJobGraph-new"), 1u);

  ASSERT_TRUE(staged->commit());
  auto v = staged->verify();
  EXPECT_TRUE(v) << v.error().message;
  EXPECT_EQ(objects(), want);
}

TEST_F(StorageTreeTest, ObsSchemeAndAnEmptyPrefixRoundTrip) {
  auto src = source("obs");
  ASSERT_TRUE(src);
  ASSERT_TRUE(src->check()) << "an empty prefix is an empty tree";
  auto empty = backup(*src);
  ASSERT_EQ(empty.size(), 1u);  // the root only
  put("late/object", "written after the backup");
  auto staged = stage(*src, empty);
  ASSERT_TRUE(staged);
  ASSERT_TRUE(staged->commit());
  EXPECT_TRUE(staged->verify());
  EXPECT_TRUE(objects().empty());
}

TEST_F(StorageTreeTest, VerifyNamesAnObjectChangedAfterTheCommit) {
  populate();
  auto src = source();
  ASSERT_TRUE(src);
  auto entries = backup(*src);
  auto staged = stage(*src, entries);
  ASSERT_TRUE(staged);
  ASSERT_TRUE(staged->commit());
  put("conf/flink-conf.yaml", "high-availability: NONE\n  ");
  auto v = staged->verify();
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::kCorruption);
  EXPECT_NE(v.error().message.find("conf/flink-conf.yaml"), std::string::npos) << v.error().message;
}

TEST_F(StorageTreeTest, AbandonedRestoreChangesNothing) {
  auto want = populate();
  auto src = source();
  ASSERT_TRUE(src);
  auto entries = backup(*src);
  put("default/extra", "x");
  want["default/extra"] = digest("x");
  {
    auto staged = stage(*src, entries);
    ASSERT_TRUE(staged);
  }  // destroyed before commit
  EXPECT_EQ(objects(), want);
  EXPECT_TRUE(fs::is_empty(tmp_ / "staging")) << "the local staging is removed";
}

TEST_F(StorageTreeTest, AHostileEntryIsRefusedBeforeAnythingChanges) {
  auto want = populate();
  auto src = source();
  ASSERT_TRUE(src);
  auto staged = src->begin_restore(ctx());
  ASSERT_TRUE(staged) << staged.error().message;
  Captured root{"sources/ha-storage/tree", archive::EntryType::kDirectory, 0755, 0, ""};
  io::StringReader none("");
  ASSERT_TRUE((*staged)->add(entry_of(root), none));
  Captured evil{"sources/ha-storage/tree/../../escape", archive::EntryType::kFile, 0644, 0, "x"};
  io::StringReader data(evil.data);
  auto st = (*staged)->add(entry_of(evil), data);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kCorruption) << st.error().message;
  Captured short_file{"sources/ha-storage/tree/f", archive::EntryType::kFile, 0644, 0, "abc"};
  auto e = entry_of(short_file);
  e.size = 10;  // announces more than it holds
  io::StringReader three(short_file.data);
  st = (*staged)->add(e, three);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("3 of the 10 bytes"), std::string::npos) << st.error().message;
  staged->reset();
  EXPECT_EQ(objects(), want);
}

TEST_F(StorageTreeTest, AWrongSecretIsRefusedAtCheckWithTheReasonAndNothingChanges) {
  auto want = populate();
  write_credentials("not-the-secret");
  auto src = source();
  ASSERT_TRUE(src);
  auto st = src->check();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("signature"), std::string::npos) << st.error().message;
  EXPECT_EQ(st.error().message.find("not-the-secret"), std::string::npos) << "no secret in errors";
  auto staged = src->begin_restore(ctx());
  EXPECT_FALSE(staged);
  EXPECT_EQ(objects(), want);
}

TEST_F(StorageTreeTest, AMissingBucketOrEndpointIsRefusedAtCheck) {
  prefix_ = "no-such-bucket-" + random_name("") + "/ha";
  auto src = source();
  ASSERT_TRUE(src);
  auto st = src->check();
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kNotFound) << st.error().message;
  EXPECT_NE(st.error().message.find("no-such-bucket"), std::string::npos) << st.error().message;

  cluster_.obs.endpoint.clear();
  auto no_endpoint = source();
  ASSERT_TRUE(no_endpoint);
  st = no_endpoint->check();
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("no OBS endpoint (obs.endpoint)"), std::string::npos)
      << st.error().message;
}

}  // namespace
}  // namespace flinkbr::source
