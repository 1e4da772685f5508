// The records flinkbr keeps in its state database (store/store.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/domain.h"

namespace flinkbr::store {

enum class Role { kViewer, kOperator, kAdministrator };
std::string_view to_string(Role r);  // "viewer", "operator", "administrator"
Result<Role> parse_role(std::string_view s, std::string_view field = "role");

struct User {
  int64_t id = 0;
  std::string name;
  Role role = Role::kViewer;
  std::string password_hash;  // libsodium crypto_pwhash_str (Argon2id); never leaves the store
  int64_t created_at = 0;
};

struct Token {
  std::string token_hash;  // SHA-256 hex of the token; the token itself is never stored
  int64_t user_id = 0;
  int64_t created_at = 0;
  int64_t expires_at = 0;
};

// Path-type parameters shared by backup tasks, restoration tasks and verify requests.
struct PathParams {
  PathType path_type = PathType::kLocalDir;
  std::string path;         // backup: base directory; restore/verify: full path of the file
  std::string nameservice;  // LocalHDFS / RemoteHDFS
  std::string ip_mode;      // RemoteHDFS: "auto", "IPv4", "IPv6"
  std::string namenode_ip;  // RemoteHDFS
  std::string queue;        // RemoteHDFS restore
};

struct BackupTask {
  int64_t id = 0;
  std::string name;
  std::string cluster;
  DataSource data_source = DataSource::kFlink;
  PathParams params;
  int max_copies = 0;             // 0: keep all
  bool verify_after_run = false;  // read back and check each new file after writing it
  int64_t period_seconds = 0;     // 0: manual
  int64_t start_time = 0;         // first periodic run
  bool suspended = false;
  int64_t next_run = 0;    // periodic: when the scheduler runs it next
  int64_t created_at = 0;  // CreationTime in the backup directory name
};

struct BackupRecord {
  int64_t id = 0;
  int64_t task_id = 0;
  std::string task_name;
  BackupStatus status = BackupStatus::kRunning;
  int64_t started_at = 0;
  int64_t ended_at = 0;       // 0 while running
  uint64_t size = 0;          // bytes of the backup file
  std::string checksum;       // "sha256:<hex>" of the whole file
  std::string backup_object;  // data source ("Flink")
  std::string backup_path;    // full path of the file, ready for a restoration task
  std::string system_version;
  std::string error;
  int progress = 0;
  // Whether Flink's HA pointers and the files they name were captured as one unit
  // (docs/flink-ha.md): {"state": "consistent"|"inconsistent"|"unchecked", "pointers": N,
  // "dangling": [...], "jobs": J, "checkpoints": C}. Null for runs not finished or older records.
  nlohmann::json consistency;
};

struct RestoreTask {
  int64_t id = 0;
  std::string name;
  std::string cluster;
  DataSource data_source = DataSource::kFlink;
  PathParams params;
  RestoreState state = RestoreState::kCreated;
  int progress = 0;   // 0..100, of the latest attempt
  std::string error;  // reason of the latest failure
  int attempts = 0;
  int64_t created_at = 0;
  int64_t updated_at = 0;
};

struct Step {
  std::string name;    // "check", "verify", "safety-copy", "stage", "apply", "verify-result"
  std::string status;  // "pending", "running", "done", "failed", "skipped"
  int64_t started_at = 0;
  int64_t ended_at = 0;
  std::string detail;
};

struct RestoreAttempt {
  int64_t id = 0;
  int64_t task_id = 0;
  int number = 0;  // 1, 2, ...
  RestoreState state = RestoreState::kRunning;
  int progress = 0;
  std::string phase;  // engine-defined; "applying" means live sources may have changed
  std::string error;
  std::string safety_copy;  // path of the safety copy archive, once complete
  std::vector<Step> steps;
  nlohmann::json report = nlohmann::json::object();  // per-source added/changed/removed
  int64_t started_at = 0;
  int64_t ended_at = 0;
};

struct LogLine {
  int64_t at = 0;
  std::string level;  // "info", "warn", "error"
  std::string text;
};

struct AuditEntry {
  int64_t id = 0;
  int64_t at = 0;
  std::string user;
  std::string action;   // "restore.start", "backup.create", ...
  std::string target;   // task or cluster name
  std::string outcome;  // "ok" or the error code
  std::string detail;
};

}  // namespace flinkbr::store
