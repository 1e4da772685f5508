// The read pipelines of a backup file with real files sources on real disks: verification runs
// each source kind's payload checks, and staging never writes more than the verification counted
// (a file swapped for a larger one after its verification and free-space check).
#include "task/archive_io.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

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

  fs::path dir_;
  config::ClusterConfig cluster_;
  std::unique_ptr<storage::Storage> storage_;
  std::unique_ptr<source::MetadataSource> source_;
};

TEST_F(ArchiveIoTest, StagingStopsAtThePayloadBytesItsVerificationCounted) {
  const std::string path = backup("small.tar.gz");
  auto verified = verify_backup_file(*storage_, path, {}, (dir_ / "staging").string());
  ASSERT_TRUE(verified) << verified.error().message;
  const uint64_t counted = verified->report.payload_bytes;
  EXPECT_EQ(counted, 5u);  // "a: 1\n"

  // The same bytes stage.
  std::map<std::string, source::MetadataSource*> sources{{"conf", source_.get()}};
  auto staged = stage_backup_file(*storage_, path, sources, ctx(), {}, counted);
  ASSERT_TRUE(staged) << staged.error().message;
  staged->clear();

  // The file is swapped for a larger, sound one after its verification: refused at the entry
  // header past the bound, before its 1 MiB are written beside the live tree.
  std::ofstream(dir_ / "live" / "blob") << std::string(1 << 20, 'b');
  const std::string larger = backup("larger.tar.gz");
  fs::rename(larger, path);
  auto refused = stage_backup_file(*storage_, path, sources, ctx(), {}, counted);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Errc::kCorruption);
  EXPECT_EQ(refused.error().message,
            path +
                ": the backup file changed since its verification: entry "
                "sources/conf/tree/blob ends past the 5 payload bytes verified");
  // Nothing staged is left beside the live tree or in the staging directory.
  EXPECT_EQ(names_below(dir_ / "staging"), std::vector<std::string>{});
  std::vector<std::string> top;
  for (const auto& e : fs::directory_iterator(dir_)) top.push_back(e.path().filename().string());
  std::sort(top.begin(), top.end());
  EXPECT_EQ(top, (std::vector<std::string>{"live", "small.tar.gz", "staging"}));
}

TEST_F(ArchiveIoTest, VerificationRefusesAPayloadItsKindCannotRestore) {
  // A header that lists the files source under another kind: the payload is a files tree, which
  // a zookeeper restore refuses at its first entry; verify says so in the same words.
  const std::string path = (dir_ / "as-zookeeper.tar.gz").string();
  archive::Header h{.system_version = "1.18.1",
                    .data_source = "Flink",
                    .cluster = "c1",
                    .execution_time = "20260101000000",
                    .tool_version = "test"};
  h.sources.push_back({source_->name(), "zookeeper", source_->location()});
  ASSERT_TRUE(write_backup_file(*storage_, path, h, {source_.get()}, ctx(), io::Compression{}, {}));
  auto v = verify_backup_file(*storage_, path, {}, (dir_ / "staging").string());
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, Errc::kCorruption);
  EXPECT_EQ(v.error().message,
            path +
                ": staging sources/conf/tree: zookeeper payload: unexpected entry "
                "'sources/conf/tree' (expected znodes/part-000001.jsonl)");
  // The check's scratch files are gone.
  EXPECT_EQ(names_below(dir_ / "staging"), std::vector<std::string>{});
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
