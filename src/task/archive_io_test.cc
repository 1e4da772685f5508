// The read pipelines of a backup file with real files sources on real disks: verification runs
// each source kind's payload checks; a restore's one pass verifies and stages at once and keeps
// nothing staged unless the whole file checked out, refusing in verify's words.
#include "task/archive_io.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "io/layers.h"
#include "io/parallel_gzip.h"
#include "source/registry.h"
#include "source/zookeeper/codec.h"
#include "storage/open.h"
#include "support/tmpfs_mount.h"

namespace flinkbr::task {
namespace {

namespace fs = std::filesystem;

class ArchiveIoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "flinkbr-archive-io-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    fs::create_directories(dir_ / "live");
    fs::create_directories(dir_ / "staging");
    std::ofstream(dir_ / "live" / "flink-conf.yaml") << "a: 1\n";
    storage_ = std::move(*storage::open_storage({.type = PathType::kLocalDir}, nullptr));
    auto src = source::create({.name = "conf",
                               .type = "files",
                               .params = {{"uri", "file://" + (dir_ / "live").string()}}},
                              cluster_);
    ASSERT_TRUE(src) << src.error().message;
    source_ = std::move(*src);
  }
  void TearDown() override { fs::remove_all(dir_); }

  source::TaskContext ctx() const {
    return {.id = "t1", .staging_dir = (dir_ / "staging").string()};
  }

  // A backup file of the live tree as it is now.
  std::string backup(const std::string& name) {
    std::string path = (dir_ / name).string();
    archive::Header h{.system_version = "1.18.1",
                      .data_source = "Flink",
                      .cluster = "c1",
                      .execution_time = "20260101000000",
                      .tool_version = "test"};
    h.sources.push_back({source_->name(), source_->kind(), source_->location()});
    auto w = write_backup_file(*storage_, path, h, {source_.get()}, ctx(), io::Compression{}, {});
    EXPECT_TRUE(w) << w.error().message;
    return path;
  }

  // Every entry name below `dir`, recursively.
  static std::vector<std::string> names_below(const fs::path& dir) {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir))
      out.push_back(e.path().lexically_relative(dir).string());
    return out;
  }

  std::string read_live() const {
    std::ifstream in(dir_ / "live" / "flink-conf.yaml");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // Nothing staged is left beside the live tree or in the staging directory.
  void expect_nothing_staged() const {
    EXPECT_EQ(names_below(dir_ / "staging"), std::vector<std::string>{});
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string name = e.path().filename().string();
      EXPECT_TRUE(name == "live" || name == "staging" || name.ends_with(".tar.gz"))
          << "left over: " << e.path();
    }
  }

  fs::path dir_;
  config::ClusterConfig cluster_;
  std::unique_ptr<storage::Storage> storage_;
  std::unique_ptr<source::MetadataSource> source_;
};

TEST_F(ArchiveIoTest, OnePassStagesASoundFileAndLeavesTheLiveTreeAsItIs) {
  const std::string path = backup("conf.tar.gz");
  std::ofstream(dir_ / "live" / "flink-conf.yaml") << "a: 2\n";  // changed since the backup
  std::map<std::string, source::MetadataSource*> sources{{"conf", source_.get()}};
  auto v = verify_and_stage_backup_file(*storage_, path, sources, ctx(), {}, nullptr, {});
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->file.report.payload_bytes, 5u);  // "a: 1\n"
  EXPECT_EQ(v->file.file_size, fs::file_size(path));
  ASSERT_EQ(v->staged.size(), 1u);
  EXPECT_EQ(read_live(), "a: 2\n");  // staged, not applied
  ASSERT_TRUE(v->staged["conf"]->commit());
  ASSERT_TRUE(v->staged["conf"]->verify());
  EXPECT_EQ(read_live(), "a: 1\n");
}

// A file damaged after its entries were staged (here: the manifest, which ends it) is named
// damaged, and what was staged from it is gone before the call returns.
TEST_F(ArchiveIoTest, ADamagedFileIsRefusedAndWhatWasStagedFromItIsRemoved) {
  std::ofstream(dir_ / "live" / "blob") << std::string(1 << 20, 'b');
  const std::string good = backup("good.tar.gz");
  // Inflate, flip one byte of the manifest's data (the last entry), deflate again: a sound gzip
  // stream whose archive no longer matches itself.
  std::string tar;
  {
    auto in = storage_->open_read(good);
    ASSERT_TRUE(in);
    auto gz = io::gzip_reader(**in, io::DeflateEngine::kIsal, io::GzipMembers::kOne);
    std::vector<std::byte> buf(1 << 16);
    for (;;) {
      auto n = gz->read(buf);
      ASSERT_TRUE(n);
      if (*n == 0) break;
      tar.append(reinterpret_cast<const char*>(buf.data()), *n);
    }
  }
  const size_t at = tar.rfind("\"sha256\"");
  ASSERT_NE(at, std::string::npos);
  tar[at + 12] = tar[at + 12] == '0' ? '1' : '0';
  const std::string bad = (dir_ / "bad.tar.gz").string();
  {
    auto out = storage_->open_write(bad, {.overwrite = false});
    ASSERT_TRUE(out);
    io::HashingWriter sink(**out);
    auto gz = io::ParallelGzipWriter::create(sink, {});
    ASSERT_TRUE(gz);
    ASSERT_TRUE((*gz)->write(std::as_bytes(std::span(tar))));
    ASSERT_TRUE((*gz)->finish());
  }
  std::map<std::string, source::MetadataSource*> sources{{"conf", source_.get()}};
  auto v = verify_and_stage_backup_file(*storage_, bad, sources, ctx(), {}, nullptr, {});
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::kCorruption) << v.error().message;
  auto alone = verify_backup_file(*storage_, bad, {}, (dir_ / "staging").string());
  ASSERT_FALSE(alone);
  EXPECT_EQ(v.error().message, alone.error().message);
  expect_nothing_staged();
}

TEST_F(ArchiveIoTest, OnePassRefusesAPayloadInVerifysWordsAndKeepsNothing) {
  // The files source's tree under a header that calls it a zookeeper source: verify refuses it at
  // its first entry; the one pass, staging into a zookeeper source, the same way.
  config::ClusterConfig cluster;
  auto zk = source::create({.name = "conf",
                            .type = "zookeeper",
                            .params = {{"connect", "127.0.0.1:1"}, {"root", "/flink"}}},
                           cluster);
  ASSERT_TRUE(zk) << zk.error().message;
  const std::string path = (dir_ / "as-zookeeper.tar.gz").string();
  archive::Header h{.system_version = "1.18.1",
                    .data_source = "Flink",
                    .cluster = "c1",
                    .execution_time = "20260101000000",
                    .tool_version = "test"};
  h.sources.push_back({source_->name(), "zookeeper", source_->location()});
  ASSERT_TRUE(write_backup_file(*storage_, path, h, {source_.get()}, ctx(), io::Compression{}, {}));
  std::map<std::string, source::MetadataSource*> sources{{"conf", zk->get()}};
  auto v = verify_and_stage_backup_file(*storage_, path, sources, ctx(), {}, nullptr, {});
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::kCorruption);
  EXPECT_EQ(v.error().message,
            path +
                ": staging sources/conf/tree: zookeeper payload: unexpected entry "
                "'sources/conf/tree' (expected znodes/part-000001.jsonl)");
  auto alone = verify_backup_file(*storage_, path, {}, (dir_ / "staging").string());
  ASSERT_FALSE(alone);
  EXPECT_EQ(v.error().code, alone.error().code);
  EXPECT_EQ(v.error().message, alone.error().message);
  expect_nothing_staged();  // the staging's and the check's scratch files alike
}

// A limit that refuses (the free space, the cap) stops the staging at once and removes what was
// staged, then the rest of the file is still read and checked: the refusal is explained with the
// manifest's totals, and a damaged file is still named damaged first.
TEST_F(ArchiveIoTest, ALimitStopsTheStagingAndTheRefusalGetsTheManifestsTotals) {
  std::ofstream(dir_ / "live" / "blob") << std::string(1 << 20, 'b');
  const std::string path = backup("big.tar.gz");
  std::map<std::string, source::MetadataSource*> sources{{"conf", source_.get()}};
  int admitted = 0;
  std::optional<archive::ArchiveSummary> explained;
  StagingLimits limits{.admit = [&](std::string_view, const archive::Entry& e) -> Status {
                         if (e.size > 1000) return failed_precondition("too big: " + e.path);
                         ++admitted;
                         return ok();
                       },
                       .explain =
                           [&](const archive::ArchiveSummary& summary, Error running) {
                             explained = summary;
                             return running.context("explained");
                           }};
  auto v = verify_and_stage_backup_file(*storage_, path, sources, ctx(), {}, nullptr, limits);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::kFailedPrecondition);
  EXPECT_EQ(v.error().message, "explained: too big: sources/conf/tree/blob");
  // The tree's root came before the blob; nothing was admitted after it.
  EXPECT_EQ(admitted, 1);
  ASSERT_TRUE(explained);
  ASSERT_EQ(explained->sources.size(), 1u);
  EXPECT_EQ(explained->sources[0].entries, 3u);  // the root, the blob, flink-conf.yaml
  EXPECT_EQ(explained->sources[0].bytes, (1u << 20) + 5);
  expect_nothing_staged();
}

// A zookeeper source that writes given payload parts, for files no ZooKeeper needs to hold.
class PartsSource final : public source::MetadataSource {
 public:
  explicit PartsSource(std::vector<std::string> parts) : parts_(std::move(parts)) {}
  const config::SourceConfig& config() const override { return cfg_; }
  std::string location() const override { return "zookeeper://127.0.0.1:1/flink"; }
  Status check() override { return ok(); }
  Status backup(archive::SourceArchiveWriter& out, const source::TaskContext&) override {
    for (size_t i = 0; i < parts_.size(); ++i)
      TRY(out.add_bytes(source::zookeeper::part_name(i + 1), parts_[i], 0600, 0));
    return ok();
  }
  Result<std::unique_ptr<source::StagedRestore>> begin_restore(
      const source::TaskContext&) override {
    return failed_precondition("not for restores");
  }
  Status cleanup_after_crash(const std::string&) override { return ok(); }

 private:
  config::SourceConfig cfg_{.name = "zk", .type = "zookeeper"};
  std::vector<std::string> parts_;
};

// Verify's zookeeper check keeps the parts it reads in scratch files, as a restore's staging does
// after its space check; a hostile file of many large parts must not fill the state directory's
// disk: the checks keep at most half of what was free, less 64 MiB.
TEST_F(ArchiveIoTest, VerifyKeepsAtMostHalfOfTheFreeSpaceForItsChecks) {
  const fs::path small = dir_ / "small";
  testsupport::TmpfsMount mount(small.string(), "size=80m");
  if (!mount.mounted()) GTEST_SKIP() << mount.why();
  const std::string part(9 << 19, '\n');  // 4.5 MiB of empty lines: each part passes add()
  PartsSource zk({part, part});
  const std::string path = (dir_ / "parts.tar.gz").string();
  archive::Header h{.system_version = "1.18.1",
                    .data_source = "Flink",
                    .cluster = "c1",
                    .execution_time = "20260101000000",
                    .tool_version = "test"};
  h.sources.push_back({"zk", "zookeeper", zk.location()});
  ASSERT_TRUE(write_backup_file(*storage_, path, h, {&zk}, ctx(), io::Compression{}, {}));
  auto v = verify_backup_file(*storage_, path, {}, small.string());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::kFailedPrecondition);
  const std::string& m = v.error().message;
  EXPECT_TRUE(m.starts_with(path + ": not enough free space in " + small.string() + "/verify-"))
      << m;
  EXPECT_NE(m.find(" to check entry sources/zk/znodes/part-000002.jsonl (4.5 MiB (4718592 bytes)): "
                   "the checks keep 4.5 MiB (4718592 bytes) there already, of at most "),
            std::string::npos)
      << m;
  EXPECT_NE(m.find(" (half of what was free, less 64.0 MiB (67108864 bytes))"), std::string::npos)
      << m;
  // The scratch files are gone.
  EXPECT_EQ(names_below(small), std::vector<std::string>{});
}

// A verification killed with its daemon leaves its scratch directory: the next daemon removes
// it, and never one of a process still running.
TEST_F(ArchiveIoTest, ScratchDirectoriesOfVerificationsGoneAreRemoved) {
  const fs::path staging = dir_ / "staging";
  // A process that has exited: its id is free (until reused, which the check then respects).
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);
  const std::string gone = "verify-" + std::to_string(child) + "-AbC123";
  const std::string alive = "verify-" + std::to_string(::getpid()) + "-XyZ789";
  fs::create_directories(staging / gone / "sub");
  std::ofstream(staging / gone / "sub" / "part") << "x";
  fs::create_directories(staging / alive);
  fs::create_directories(staging / "r3-a1");  // a restore attempt's: not ours to remove
  remove_verify_leftovers(staging.string());
  std::vector<std::string> left = names_below(staging);
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"r3-a1", alive}));
}

}  // namespace
}  // namespace flinkbr::task
