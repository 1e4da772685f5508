// Flink's HA layout: each kind of node recognised whichever root the source was given.
#include "source/flink/layout.h"

#include <string>

#include <gtest/gtest.h>

namespace flinkbr::source::flink {
namespace {

const std::string kJob = "a1b2c3d4e5f60718293a4b5c6d7e8f90";
const std::string kCp = "0000000000000000042";

NodeInfo info(NodeKind k, std::string job = {}, int64_t cp = -1, bool locks = false) {
  return NodeInfo{k, std::move(job), cp, locks};
}

TEST(FlinkLayout, RecordsAndTheirLocksUnderAnyRoot) {
  // The same tree seen from a root at the cluster (/flink/c1), at /flink and at /.
  for (std::string prefix : {"", "/c1", "/flink/c1"}) {
    SCOPED_TRACE("prefix " + prefix);
    EXPECT_EQ(classify(prefix + "/jobgraphs/" + kJob), info(NodeKind::kJobGraph, kJob, -1, true));
    EXPECT_EQ(classify(prefix + "/execution-plans/" + kJob),
              info(NodeKind::kExecutionPlan, kJob, -1, true));
    EXPECT_EQ(classify(prefix + "/jobgraphs/" + kJob + "/locks"), info(NodeKind::kLocks, kJob));
    EXPECT_EQ(classify(prefix + "/jobgraphs/" + kJob + "/locks/3f1c-uuid"),
              info(NodeKind::kLock, kJob));
    EXPECT_EQ(classify(prefix + "/jobs/" + kJob + "/checkpoints/" + kCp),
              info(NodeKind::kCheckpoint, kJob, 42, true));
    EXPECT_EQ(classify(prefix + "/jobs/" + kJob + "/checkpoints/" + kCp + "/locks"),
              info(NodeKind::kLocks, kJob, 42));
    EXPECT_EQ(classify(prefix + "/jobs/" + kJob + "/checkpoints/" + kCp + "/locks/x"),
              info(NodeKind::kLock, kJob, 42));
    EXPECT_EQ(classify(prefix + "/jobs/" + kJob + "/checkpoint_id_counter"),
              info(NodeKind::kCheckpointCounter, kJob));
    EXPECT_EQ(classify(prefix + "/checkpoints/" + kJob + "/" + kCp),
              info(NodeKind::kLegacyCheckpoint, kJob, 42));
    EXPECT_EQ(classify(prefix + "/checkpoint-counter/" + kJob),
              info(NodeKind::kLegacyCheckpointCounter, kJob));
    EXPECT_EQ(classify(prefix + "/leader/dispatcher/connection_info"), info(NodeKind::kLeader));
    EXPECT_EQ(classify(prefix + "/leader/latch/_c_0a-latch-0000000001"), info(NodeKind::kLeader));
    EXPECT_EQ(classify(prefix + "/jobs/" + kJob + "/leader/connection_info"),
              info(NodeKind::kLeader, kJob));
    EXPECT_EQ(classify(prefix + "/leaderlatch/dispatcher_lock/x"), info(NodeKind::kLeader));
  }
}

TEST(FlinkLayout, WhatIsNotARecordIsOther) {
  for (const std::string& p :
       {std::string("/"), std::string(""), std::string("/jobgraphs"), std::string("/jobs/") + kJob,
        std::string("/jobs/") + kJob + "/checkpoints", std::string("/jobgraphs/job1"),
        std::string("/jobgraphs/") + kJob + "0", std::string("/jobgraphs/") + kJob + "/other",
        std::string("/jobs/") + kJob + "/checkpoints/checkpoint-1",
        std::string("/jobs/") + kJob + "/checkpoints/99999999999999999999",
        std::string("/jobs/nojob/checkpoints/") + kCp, std::string("/running_job_registry/") + kJob,
        std::string("/locks"), std::string("/checkpoints/") + kJob})
    EXPECT_EQ(classify(p), NodeInfo{}) << p;
  // Upper-case hex is a JobID too (JobID.fromHexString reads it).
  EXPECT_TRUE(is_job_id("A1B2C3D4E5F60718293A4B5C6D7E8F90"));
  EXPECT_FALSE(is_job_id("g1b2c3d4e5f60718293a4b5c6d7e8f90"));
}

TEST(FlinkLayout, CounterIsFourBytesBigEndian) {
  EXPECT_EQ(parse_counter(std::string("\0\0\0\x05", 4)), 5);
  EXPECT_EQ(parse_counter(std::string("\x01\x02\x03\x04", 4)), 0x01020304);
  EXPECT_EQ(parse_counter(std::string("\xff\xff\xff\xff", 4)), -1);
  EXPECT_EQ(parse_counter(""), std::nullopt);
  EXPECT_EQ(parse_counter(std::string("\0\0\0\0\x05", 5)), std::nullopt);
  EXPECT_EQ(kind_name(NodeKind::kCheckpointCounter), "checkpoint-counter");
}

}  // namespace
}  // namespace flinkbr::source::flink
