#include "server/demo.h"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "common/process.h"

namespace flinkbr::server {

namespace fs = std::filesystem;

namespace {

Status write_file(const fs::path& path, const std::string& data, mode_t mode = 0644) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return errno_error("creating " + path.parent_path().string(), ec.value());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) return io_error("writing " + path.string() + " failed");
  ::chmod(path.c_str(), mode);
  return ok();
}

// Deterministic bytes shaped like a Java-serialized state handle (magic AC ED, zeros inside).
std::string handle_bytes(const std::string& seed, size_t size) {
  std::string out = "\xAC\xED\x00\x05sr\x00";
  uint32_t x = 2166136261u;
  for (char c : seed) x = (x ^ static_cast<unsigned char>(c)) * 16777619u;
  while (out.size() < size) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out.push_back(static_cast<char>((x % 7 == 0) ? 0 : ("flink-handle-"[x % 13])));
  }
  return out;
}

}  // namespace

Status seed_demo(const config::Config& config) {
  fs::path root = fs::path(config.server.state_dir) / "demo" / "flink";
  if (fs::exists(root)) return ok();
  spdlog::info("seeding the demo cluster under {}", root.string());
  fs::path ha = root / "ha", conf = root / "conf", sp = root / "savepoints";
  const char* jobs[] = {"a1b2c3d4e5f60718293a4b5c6d7e8f90", "0f9e8d7c6b5a49382716f5e4d3c2b1a0"};
  for (const char* job : jobs) {
    std::string j = job;
    TRY(write_file(ha / "default" / ("submittedJobGraph" + j.substr(0, 12)),
                   handle_bytes("graph" + j, 6000)));
    for (int cp = 1; cp <= 3; ++cp)
      TRY(write_file(
          ha / "default" / ("completedCheckpoint" + j.substr(0, 8) + "-" + std::to_string(cp)),
          handle_bytes("cp" + j + std::to_string(cp), 1500 + 300 * cp)));
    TRY(write_file(ha / "default" / "blob" / ("job_" + j) / "blob_p-5f1c0de7",
                   handle_bytes(j, 20000)));
  }
  std::error_code ec;
  fs::create_directories(ha / "default" / "jobresults", ec);  // empty directory, kept too
  TRY(write_file(conf / "flink-conf.yaml",
                 "jobmanager.rpc.address: localhost\n"
                 "jobmanager.memory.process.size: 1600m\n"
                 "taskmanager.numberOfTaskSlots: 4\n"
                 "high-availability.type: zookeeper\n"
                 "high-availability.storageDir: file://" +
                     ha.string() +
                     "\n"
                     "state.savepoints.dir: file://" +
                     sp.string() + "\n"));
  TRY(write_file(conf / "log4j.properties",
                 "rootLogger.level = INFO\nrootLogger.appenderRef.file.ref = MainAppender\n"));
  TRY(write_file(conf / "masters", "localhost:8081\n"));
  TRY(write_file(conf / "workers", "localhost\n"));
  TRY(write_file(conf / "security" / "flink.keytab.placeholder", "demo\n", 0600));
  TRY(write_file(sp / "savepoint-a1b2c3-5e6f7a8b9c0d" / "_metadata",
                 handle_bytes("savepoint", 12000)));

  // Start the placeholder JobManager so the demo begins as a running cluster.
  for (const auto& cluster : config.clusters) {
    if (cluster.service.start.empty()) continue;
    auto r = run_command(cluster.service.start, std::chrono::seconds(10));
    if (!r || r->exit_code != 0)
      spdlog::warn("could not start the demo service of cluster {}", cluster.name);
  }
  return ok();
}

}  // namespace flinkbr::server
