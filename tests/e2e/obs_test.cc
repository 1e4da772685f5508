// End-to-end: the OBS path type and a `files` source kept in a bucket, through the real daemon
// and CLI, against @20minutes/s3rver (which checks Signature V4) started by the test process.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <random>

#include "harness.h"
#include "io/layers.h"
#include "storage/s3/s3rver_fixture.h"

namespace flinkbr::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using storage::testing::S3rver;

std::string random_name(std::string_view prefix) {
  std::random_device rd;
  return std::string(prefix) + std::to_string(rd() % 1000000000);
}

class ObsEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(S3rver::instance().error(), "") << "the tests need @20minutes/s3rver";
    creds_dir_ = make_temp_dir();
    write_credentials("S3RVER");
    prefix_ = random_name("e2e-");
    auto d = storage::make_s3_driver(S3rver::instance().options());
    ASSERT_TRUE(d) << d.error().message;
    bucket_ = std::make_unique<storage::Storage>(std::move(*d));
  }
  void TearDown() override { fs::remove_all(creds_dir_); }

  void write_credentials(const std::string& secret) {
    std::string path = creds_dir_ + "/obs.cred";
    write_file(path,
               "[default]\naws_access_key_id = S3RVER\naws_secret_access_key = " + secret + "\n");
    ::chmod(path.c_str(), 0600);
  }

  // "prod" with the OBS store of the test server and a files source "ha-bucket" in it.
  Daemon::Options options() const {
    Daemon::Options o;
    o.cluster_settings = {"obs: { endpoint: \"" + S3rver::instance().endpoint() +
                          "\", region: us-east-1, addressing: path, credentials_file: \"" +
                          creds_dir_ + "/obs.cred\", part_size: 5MiB }"};
    o.extra_metadata = {"{ name: ha-bucket, type: files, uri: \"s3://" + bucket_ha() + "\" }"};
    return o;
  }
  std::string bucket_ha() const { return std::string(S3rver::kBucket) + "/" + prefix_ + "/ha"; }
  std::string backup_base() const {
    return std::string(S3rver::kBucket) + "/" + prefix_ + "/backups";
  }

  void put(const std::string& path, const std::string& data) {
    auto w = bucket_->open_write(path, {.overwrite = true});
    ASSERT_TRUE(w) << w.error().message;
    ASSERT_TRUE((*w)->write(io::as_bytes(data)));
    ASSERT_TRUE((*w)->finish());
  }

  // Every object under a prefix: key below it -> size and digest.
  std::map<std::string, std::string> objects(const std::string& prefix) {
    std::map<std::string, std::string> out;
    auto l = bucket_->list_recursive(prefix);
    if (!l) return out;
    for (const auto& f : *l) {
      auto r = bucket_->open_read(f.path);
      EXPECT_TRUE(r) << r.error().message;
      std::string data = r ? io::read_all(**r, size_t{1} << 30).value_or("?") : "?";
      out[f.path.substr(prefix.size() + 1)] =
          std::to_string(data.size()) + ":" + io::sha256_hex(data).substr(0, 16);
    }
    return out;
  }

  std::string creds_dir_;
  std::string prefix_;
  std::unique_ptr<storage::Storage> bucket_;
};

TEST_F(ObsEndToEnd, BackupToObsThenRestoreFromItBringsBackFilesAndObjectsExactly) {
  Daemon d(options());
  d.seed_cluster();
  put(bucket_ha() + "/default/submittedJobGraph7a1c", std::string("\xac\xed\0\x05graph", 9));
  // Incompressible, so that the backup file itself needs a multipart upload of 5 MiB parts.
  std::mt19937 rng(7);
  std::string blob(6 << 20, '\0');
  for (auto& ch : blob) ch = static_cast<char>(rng() & 0xff);
  put(bucket_ha() + "/default/blob/job_7a1c/blob_p-1", blob);
  Tree files_before = cluster_tree(d);
  auto objects_before = objects(bucket_ha());

  auto c = d.cli({"backup", "create", "to-obs", "--cluster", "prod", "--data-source", "Flink",
                  "--path-type", "OBS", "--path", backup_base()});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  auto r = d.cli({"backup", "run", "to-obs", "--wait"});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  auto record = json::parse(d.cli({"backup", "history", "to-obs", "--json"}).out).at(0);
  std::string path = record["backup_path"];
  // <BackupPath>/<TaskName>_<DataSource>_<CreationTime>/<Version>_<DataSource>_<ExecutionTime>
  EXPECT_TRUE(path.starts_with(backup_base() + "/to-obs_Flink_")) << path;
  EXPECT_TRUE(path.ends_with(".tar.gz")) << path;
  EXPECT_NE(path.find("/1.18.1_Flink_"), std::string::npos) << path;
  auto info = bucket_->stat(path);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_GT(info->size, 5u << 20) << "a multipart upload of 5 MiB parts";
  auto v = d.cli({"backup", "verify", "--record", std::to_string(record["id"].get<int64_t>())});
  EXPECT_EQ(v.exit_code, 0) << v.err;

  // Damage the local trees and the bucket.
  write_file(d.ha_dir() + "/default/completedCheckpoint7a1c-1", "changed");
  ASSERT_TRUE(bucket_->remove(bucket_ha() + "/default/blob/job_7a1c/blob_p-1"));
  put(bucket_ha() + "/default/submittedJobGraph7a1c", "changed");
  put(bucket_ha() + "/default/added-since", "x");
  d.set_service_state("stopped");
  c = d.cli({"restore", "create", "from-obs", "--cluster", "prod", "--data-source", "Flink",
             "--path-type", "OBS", "--source-path", path});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  auto s = d.cli({"restore", "start", "from-obs", "--wait"});
  ASSERT_EQ(s.exit_code, 0) << s.err << s.out;
  EXPECT_EQ(describe_difference(files_before, cluster_tree(d)), "");
  EXPECT_EQ(objects(bucket_ha()), objects_before);
}

TEST_F(ObsEndToEnd, AWrongSecretIsRefusedWithTheReasonAndLeavesNoObjectAndNoChange) {
  Daemon d(options());
  d.seed_cluster();
  put(bucket_ha() + "/default/submittedJobGraph7a1c", "graph");
  auto c = d.cli({"backup", "create", "to-obs", "--cluster", "prod", "--data-source", "Flink",
                  "--path-type", "OBS", "--path", backup_base()});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  ASSERT_EQ(d.cli({"backup", "run", "to-obs", "--wait"}).exit_code, 0);
  std::string path =
      json::parse(d.cli({"backup", "history", "to-obs", "--json"}).out).at(0)["backup_path"];
  auto backups_before = objects(backup_base());
  ASSERT_EQ(backups_before.size(), 1u);

  write_credentials("not-the-secret");
  // A backup run: refused, and no object under a final name.
  auto r = d.cli({"backup", "run", "to-obs", "--wait"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE((r.err + r.out).find("signature"), std::string::npos) << r.err << r.out;
  EXPECT_EQ((r.err + r.out).find("not-the-secret"), std::string::npos);
  EXPECT_EQ(objects(backup_base()), backups_before);

  // A restoration: refused at creation, which reads the file's header; created while the
  // secret was right, refused at the check step. Nothing changed either way.
  put(bucket_ha() + "/default/added-since", "x");
  write_file(d.conf_dir() + "/added-since", "x");
  Tree files_before = cluster_tree(d);
  auto objects_before = objects(bucket_ha());
  d.set_service_state("stopped");
  const std::vector<std::string> create = {"restore", "create",        "from-obs", "--cluster",
                                           "prod",    "--data-source", "Flink",    "--path-type",
                                           "OBS",     "--source-path", path};
  c = d.cli(create);
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_NE(c.err.find("signature"), std::string::npos) << c.err;
  EXPECT_NE(c.err.find(path), std::string::npos) << c.err;
  EXPECT_EQ(c.err.find("not-the-secret"), std::string::npos);
  write_credentials("S3RVER");
  c = d.cli(create);
  ASSERT_EQ(c.exit_code, 0) << c.err;
  write_credentials("not-the-secret");
  auto s = d.cli({"restore", "start", "from-obs", "--wait"});
  EXPECT_NE(s.exit_code, 0);
  EXPECT_NE(s.err.find("signature"), std::string::npos) << s.err;
  EXPECT_EQ(describe_difference(files_before, cluster_tree(d)), "");
  EXPECT_EQ(objects(bucket_ha()), objects_before);
  auto task = json::parse(d.cli({"restore", "show", "from-obs", "--json"}).out);
  EXPECT_EQ(task["state"], "Failed");
  EXPECT_EQ(task.dump().find("not-the-secret"), std::string::npos) << "no secret in records";
}

}  // namespace
}  // namespace flinkbr::e2e
