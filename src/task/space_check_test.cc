#include "task/space_check.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "support/tmpfs_mount.h"

namespace flinkbr::task {
namespace {

namespace fs = std::filesystem;

class SpaceCheck : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "flinkbr-space-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  uint64_t free_bytes(const fs::path& p) {
    struct statvfs v {};
    EXPECT_EQ(::statvfs(p.c_str(), &v), 0);
    return static_cast<uint64_t>(v.f_bavail) * v.f_frsize;
  }
  uint64_t free_inodes(const fs::path& p) {
    struct statvfs v {};
    EXPECT_EQ(::statvfs(p.c_str(), &v), 0);
    return v.f_favail;
  }

  fs::path dir_;
};

TEST_F(SpaceCheck, WhatFitsPasses) {
  EXPECT_TRUE(check_free_space({{"staging source 'conf'", dir_.string(), 4096}}));
  EXPECT_TRUE(check_free_space({}));
}

TEST_F(SpaceCheck, MoreThanIsFreeIsRefusedWithTheNumbers) {
  // Not yet created: its nearest existing ancestor tells the file system.
  const std::string stage = (dir_ / "not" / "yet" / "staging").string();
  const uint64_t need = free_bytes(dir_) + (uint64_t{1} << 30);
  auto st = check_free_space({{"staging source 'ha-storage'", stage, need}});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kFailedPrecondition);
  const std::string& m = st.error().message;
  EXPECT_TRUE(m.starts_with("not enough free space on the file system of " + dir_.string() +
                            ": the restore needs "))
      << m;
  EXPECT_NE(m.find("(" + std::to_string(need) + " bytes) there (staging source 'ha-storage': "),
            std::string::npos)
      << m;
  EXPECT_NE(m.find(" are free"), std::string::npos) << m;
}

TEST_F(SpaceCheck, NeedsOnOneFileSystemAddUp) {
  const uint64_t free_now = free_bytes(dir_);
  const uint64_t part = free_now / 10 * 6;  // each fits alone, not both
  ASSERT_TRUE(check_free_space({{"staging source 'conf'", dir_.string(), part}}));
  auto st = check_free_space({{"staging source 'conf'", dir_.string(), part},
                              {"the safety copy", (dir_ / "safety").string(), part}});
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("staging source 'conf': "), std::string::npos);
  EXPECT_NE(st.error().message.find(", the safety copy: "), std::string::npos);
}

TEST_F(SpaceCheck, EachFileSystemIsCheckedOnItsOwn) {
  // A small tmpfs, as a dedicated volume for a source would be.
  const fs::path small = dir_ / "small";
  testsupport::TmpfsMount mount(small.string(), "size=1m");
  if (!mount.mounted()) GTEST_SKIP() << mount.why();
  const uint64_t two_mib = 2 << 20;
  EXPECT_TRUE(check_free_space({{"the safety copy", dir_.string(), two_mib}}));
  auto st = check_free_space({{"the safety copy", dir_.string(), two_mib},
                              {"staging source 'ha'", (small / "tree").string(), two_mib}});
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("on the file system of " + small.string() +
                                    ": the restore "
                                    "needs 2.0 MiB (2097152 bytes) there (staging source 'ha': "),
            std::string::npos)
      << st.error().message;
}

// Attack review of issue 16: a backup file of a million empty files lists a few bytes and passed
// the byte check, then ran the live tree's file system out of inodes while staging.
TEST_F(SpaceCheck, MoreEntriesThanFreeInodesAreRefusedWithTheNumbers) {
  const fs::path small = dir_ / "small";
  testsupport::TmpfsMount mount(small.string(), "size=8m,nr_inodes=100");
  if (!mount.mounted()) GTEST_SKIP() << mount.why();
  const uint64_t inodes = free_inodes(small);
  ASSERT_GT(inodes, 50u);
  EXPECT_TRUE(check_free_space({{"staging source 'ha'", (small / "tree").string(), 10, 50}}));
  auto st =
      check_free_space({{"staging source 'ha'", (small / "tree").string(), 10, 60},
                        {"staging source 'conf'", (small / "conf").string(), 0, inodes - 59}});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kFailedPrecondition);
  EXPECT_EQ(st.error().message,
            "not enough free inodes on the file system of " + small.string() +
                ": the restore creates " + std::to_string(inodes + 1) +
                " files and directories there (staging source 'ha': 60, staging source 'conf': " +
                std::to_string(inodes - 59) + "), " + std::to_string(inodes) + " inodes are free");
}

// The restore's one pass counts what it stages against what was free when it started, less what
// the safety copy will need on the same file system; sources on other file systems, or staged on
// none, do not count there.
TEST_F(SpaceCheck, StagingSpaceAdmitsWhatFitsBesideTheSafetyCopyAndNoMore) {
  const fs::path small = dir_ / "small";
  testsupport::TmpfsMount mount(small.string(), "size=8m,nr_inodes=100");
  if (!mount.mounted()) GTEST_SKIP() << mount.why();
  const uint64_t free_now = free_bytes(small);
  const uint64_t safety = 2 << 20;
  auto space = StagingSpace::measure(
      {{"ha", {.what = "staging source 'ha'", .path = (small / "stage").string()}},
       {"conf", {.what = "staging source 'conf'", .path = dir_.string()}}},
      {{.what = "the safety copy", .path = (small / "safety").string(), .bytes = safety}}, 0);
  ASSERT_TRUE(space) << space.error().message;
  const uint64_t room = free_now - safety;
  ASSERT_TRUE(space->admit("ha", room - 10));
  ASSERT_TRUE(space->admit("conf", uint64_t{1} << 30));  // another file system
  ASSERT_TRUE(space->admit("zk", uint64_t{1} << 40));    // staged on no local file system
  ASSERT_TRUE(space->admit("ha", 10));                   // exactly full
  auto st = space->admit("ha", 1);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kFailedPrecondition);
  EXPECT_EQ(st.error().message, "not enough free space on the file system of " + small.string() +
                                    ": the restore needs more than " + describe_bytes(free_now) +
                                    " there, which is what was free when it started");
}

TEST_F(SpaceCheck, StagingSpaceCountsInodesAndTheCap) {
  const fs::path small = dir_ / "small";
  testsupport::TmpfsMount mount(small.string(), "size=8m,nr_inodes=100");
  if (!mount.mounted()) GTEST_SKIP() << mount.why();
  const uint64_t inodes = free_inodes(small);
  auto space = StagingSpace::measure(
      {{"ha", {.what = "staging source 'ha'", .path = (small / "stage").string()}}}, {}, 0);
  ASSERT_TRUE(space) << space.error().message;
  for (uint64_t i = 0; i < inodes; ++i) ASSERT_TRUE(space->admit("ha", 0)) << i;
  auto st = space->admit("ha", 0);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().message, "not enough free inodes on the file system of " + small.string() +
                                    ": the restore creates more than the " +
                                    std::to_string(inodes) +
                                    " files and directories there that were free when it started");

  auto capped = StagingSpace::measure({}, {}, 1000);
  ASSERT_TRUE(capped);
  ASSERT_TRUE(capped->admit("ha", 600));
  ASSERT_TRUE(capped->admit("ha", 400));
  auto over = capped->admit("ha", 1);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().message,
            "the backup file expands to more than restore.max_expanded_bytes allows (1000 bytes): "
            "its entries so far hold 1001 bytes");
}

TEST(ExpandedSize, TheCapBoundsThePayloadWhateverTheDisksHold) {
  archive::ArchiveSummary summary;
  summary.sources = {{.name = "conf", .entries = 3, .bytes = 1000},
                     {.name = "ha", .entries = 2, .bytes = uint64_t{6} << 30}};
  EXPECT_TRUE(check_expanded_size(summary, 0));
  EXPECT_TRUE(check_expanded_size(summary, (uint64_t{6} << 30) + 1000));
  auto st = check_expanded_size(summary, uint64_t{1} << 30);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code, Errc::kFailedPrecondition);
  EXPECT_EQ(st.error().message,
            "the backup file expands to 6.0 GiB (6442451944 bytes), more than "
            "restore.max_expanded_bytes allows (1.0 GiB (1073741824 bytes))");
}

TEST(DescribeBytes, HumanThenExact) {
  EXPECT_EQ(describe_bytes(0), "0 bytes");
  EXPECT_EQ(describe_bytes(1023), "1023 bytes");
  EXPECT_EQ(describe_bytes(1536), "1.5 KiB (1536 bytes)");
}

}  // namespace
}  // namespace flinkbr::task
