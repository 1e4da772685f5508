// The fixture the Flink end-to-end tests share (flink_test.cc, flink_attack_test.cc): one real
// ZooKeeper per suite, a fresh HA root per test, the Flink HA test peer (tests/peers/flink-ha)
// and the CLI calls the tests make on a daemon whose cluster "prod" has that root as source "zk".
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.h"
#include "support/flink_peer.h"
#include "support/zookeeper_server.h"

namespace flinkbr::e2e {

class FlinkFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { zk_ = new testsupport::ZkServer(); }
  static void TearDownTestSuite() {
    delete zk_;
    zk_ = nullptr;
  }

  void SetUp() override {
    ASSERT_EQ(zk_->error(), "") << "the tests need ZooKeeper";
    ASSERT_EQ(testsupport::FlinkPeer::get().error(), "") << "the tests need the Flink HA peer";
    std::random_device rd;
    suffix_ = std::to_string(rd() % 1000000000);
    root_ = "/flink/prod" + suffix_;
  }

  static testsupport::ZkServer& zk_server() { return *zk_; }
  std::string zk_source(const std::string& root) const {
    return "{ name: zk, type: zookeeper, connect: \"" + zk_->connect() + "\", root: " + root + " }";
  }
  Daemon::Options options() const {
    Daemon::Options o;
    o.extra_metadata = {zk_source(root_)};
    return o;
  }
  // The peer writes `jobs` jobs with `checkpoints` checkpoints each under the root, their files
  // in the cluster's HA storage, in Flink's `layout` (tests/peers/flink-ha/README.md).
  void populate(Daemon& d, int jobs, int checkpoints, const std::string& layout = "1.15") {
    auto r = testsupport::FlinkPeer::get().run({"populate", "--connect", zk_->connect(), "--root",
                                                root_, "--storage", d.ha_dir(), "--jobs",
                                                std::to_string(jobs), "--checkpoints",
                                                std::to_string(checkpoints), "--layout", layout});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
  }
  nlohmann::json last_record(Daemon& d, const std::string& task) {
    auto h = d.cli({"backup", "history", task, "--json"});
    EXPECT_EQ(h.exit_code, 0) << h.err;
    return nlohmann::json::parse(h.out).at(0);
  }

  std::string suffix_, root_;

 private:
  static inline testsupport::ZkServer* zk_ = nullptr;
};

}  // namespace flinkbr::e2e
