// The demo cluster of the embedded default: a small Flink-like tree (HA storage files, a conf
// directory, savepoints) under <state_dir>/demo, seeded on the first start, and its placeholder
// JobManager process, started once so that stop -> restore -> start can be tried at once.
#pragma once

#include <string>

#include "common/result.h"
#include "config/config.h"

namespace flinkbr::server {

// Creates <state_dir>/demo/flink/{ha,conf,savepoints} when missing and starts the demo service
// the first time. Does nothing when the tree exists.
[[nodiscard]] Status seed_demo(const config::Config& config);

}  // namespace flinkbr::server
