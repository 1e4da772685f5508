#include "archive/names.h"

#include <gtest/gtest.h>

namespace flinkbr::archive {
namespace {

constexpr int64_t kExec = 1795581432;      // 2026-11-25T04:37:12Z
constexpr int64_t kCreation = 1767323045;  // 2026-01-02T03:04:05Z

TEST(NamesTest, SanitizeVersion) {
  EXPECT_EQ(sanitize_version("1.18.1 (MRS)"), "1.18.1--MRS-");
  EXPECT_EQ(sanitize_version("1.17.2-hw-ei-1"), "1.17.2-hw-ei-1");
  EXPECT_EQ(sanitize_version("a_b/c\\d:e"), "a-b-c-d-e");
  EXPECT_EQ(sanitize_version(""), "");
}

TEST(NamesTest, FileName) {
  EXPECT_EQ(backup_file_name("1.18.1 (MRS)", DataSource::kFlink, kExec),
            "1.18.1--MRS-_Flink_20261125043712.tar.gz");
  EXPECT_EQ(backup_file_name("1.17.2", DataSource::kFlinkServiceData, kExec),
            "1.17.2_FlinkServiceData_20261125043712.tar.gz");
}

TEST(NamesTest, DirNamePerPathType) {
  EXPECT_EQ(backup_dir_name(PathType::kLocalDir, "nightly", DataSource::kFlink, kCreation),
            "nightly_20260102030405");
  EXPECT_EQ(backup_dir_name(PathType::kLocalHDFS, "nightly", DataSource::kFlink, kCreation),
            "nightly_20260102030405");
  EXPECT_EQ(backup_dir_name(PathType::kRemoteHDFS, "nightly", DataSource::kFlink, kCreation),
            "nightly_Flink_20260102030405");
  EXPECT_EQ(backup_dir_name(PathType::kOBS, "nightly", DataSource::kFlinkServiceData, kCreation),
            "nightly_FlinkServiceData_20260102030405");
}

TEST(NamesTest, FilePathPerPathType) {
  EXPECT_EQ(backup_file_path(PathType::kLocalDir, "/var/backups", "nightly", DataSource::kFlink,
                             kCreation, "1.18.1 (MRS)", kExec),
            "/var/backups/nightly_20260102030405/1.18.1--MRS-_Flink_20261125043712.tar.gz");
  EXPECT_EQ(backup_file_path(PathType::kLocalHDFS, "/flinkbr/", "t", DataSource::kFlink, kCreation,
                             "1.18.1", kExec),
            "/flinkbr/t_20260102030405/1.18.1_Flink_20261125043712.tar.gz");
  EXPECT_EQ(backup_file_path(PathType::kRemoteHDFS, "/backup//", "t", DataSource::kFlink, kCreation,
                             "1.18.1", kExec),
            "/backup/t_Flink_20260102030405/1.18.1_Flink_20261125043712.tar.gz");
  EXPECT_EQ(backup_file_path(PathType::kOBS, "bucket/prefix", "t", DataSource::kFlinkServiceData,
                             kCreation, "1.18.1", kExec),
            "bucket/prefix/t_FlinkServiceData_20260102030405/"
            "1.18.1_FlinkServiceData_20261125043712.tar.gz");
  EXPECT_EQ(
      backup_file_path(PathType::kLocalDir, "/", "t", DataSource::kFlink, kCreation, "1", kExec),
      "/t_20260102030405/1_Flink_20261125043712.tar.gz");
}

TEST(NamesTest, ParseRoundTrip) {
  std::string name = backup_file_name("1.18.1 (MRS)", DataSource::kFlinkServiceData, kExec);
  auto p = parse_backup_file_name(name);
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->version, "1.18.1--MRS-");
  EXPECT_EQ(p->data_source, DataSource::kFlinkServiceData);
  EXPECT_EQ(p->execution_time, kExec);
}

TEST(NamesTest, ParseRefusesOtherNames) {
  for (std::string_view bad :
       {"1.18.1_Flink_20261125043712.tar", "1.18.1_Flink_20261125043712.tgz",
        "_Flink_20261125043712.tar.gz", "1.18.1_Other_20261125043712.tar.gz",
        "1.18.1_Flink_2026112504371.tar.gz", "1.18.1_Flink_2026112504371x.tar.gz",
        "1.18.1_Flink_20261325043712.tar.gz", "a_b_Flink_20261125043712.tar.gz",
        "Flink_20261125043712.tar.gz", "1.18 1_Flink_20261125043712.tar.gz", ".tar.gz", ""}) {
    auto p = parse_backup_file_name(bad);
    ASSERT_FALSE(p) << bad;
    EXPECT_EQ(p.error().code, Errc::kInvalidArgument) << bad;
    EXPECT_EQ(p.error().field, "file_name");
  }
}

}  // namespace
}  // namespace flinkbr::archive
