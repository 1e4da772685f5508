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

// Where a run stands in bytes, for progress bars (REST "progress_detail", events): the step it is
// on, the payload bytes that step has moved, the total it expects (0 when unknown) and its
// throughput since the step began. Persisted as JSON text at most once a second.
struct ProgressDetail {
  std::string step;  // the step's name, as in the run's steps ("write", "stage", ...)
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;  // 0: unknown
  uint64_t bytes_per_second = 0;
  bool operator==(const ProgressDetail&) const = default;
};
nlohmann::json to_json(const ProgressDetail& p);
// Empty text (rows written before the column existed) gives an empty detail.
Result<ProgressDetail> parse_progress_detail(std::string_view text);
std::string progress_detail_text(const ProgressDetail& p);

// Where a restoration attempt stands with respect to the live cluster: the one fact crash
// recovery needs (put the safety copy back or not). Persisted as its name.
enum class AttemptPhase {
  kChecking,    // "checking": check, verify, safety copy, stage; nothing live has changed
  kApplying,    // "applying": committing sources; live sources may have changed, and a crash
                // here means the safety copy must be put back
  kRolledBack,  // "rolled-back": a failure after changes; the safety copy was put back (or
                // nothing had changed), the cluster is as before
  kDamaged,     // "damaged": putting the safety copy back failed; the cluster needs an operator
  kDone,        // "done": every source applied and verified
};
std::string_view to_string(AttemptPhase p);
Result<AttemptPhase> parse_attempt_phase(std::string_view s, std::string_view field = "phase");

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
  ProgressDetail progress_detail;
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
  AttemptPhase phase = AttemptPhase::kChecking;
  std::string error;
  std::string safety_copy;  // path of the safety copy archive, once complete
  std::vector<Step> steps;
  nlohmann::json report = nlohmann::json::object();  // per-source added/changed/removed
  int64_t started_at = 0;
  int64_t ended_at = 0;
  ProgressDetail progress_detail;
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

// A call that a standby of a manager group hands to the active through the database (the command
// relay, server/relay.h; docs/design.md, "The command relay"). Carries no secret: the user's
// name, never a token; the request's body only for calls whose bodies hold none.
enum class CommandState {
  kPending,  // "pending": written by a standby; the active has not taken it
  kClaimed,  // "claimed": taken by the active of `epoch`, which carries it out once
  kDone,     // "done": answered (`http_status`, `body`), by its active or, after a fail-over,
             // by the new active saying that it was not carried out to the end
  kExpired,  // "expired": the standby gave up before any active took it; never carried out
};
std::string_view to_string(CommandState s);
Result<CommandState> parse_command_state(std::string_view s, std::string_view field = "state");

struct RelayCommand {
  int64_t id = 0;
  std::string operation;  // the API's audit action: "backup.run", "restore.start", ...
  std::string target;     // the {name} of the call's path
  std::string args;       // the request's JSON body as received ("" when none)
  std::string user;       // who asked; the active reads their role again
  std::string origin;     // the standby's address, for the audit trail
  int64_t created_at = 0;
  int64_t deadline = 0;  // unix seconds: no active takes it after this
  CommandState state = CommandState::kPending;
  int64_t epoch = 0;    // the epoch of the active that took it
  int http_status = 0;  // once done: the answer's status,
  std::string body;     // its JSON body,
  int retry_after = 0;  // and its Retry-After (0: none)
  int64_t finished_at = 0;
};

// One task event of the active manager, kept for the event streams of every member (GET
// /api/v1/events). `id` grows for the whole group, across fail-overs: it is the stream's event id.
struct GroupEvent {
  int64_t id = 0;
  std::string type;  // "backup", "restore", "service"
  std::string data;  // JSON text, as the active published it
  int64_t at = 0;
};

}  // namespace flinkbr::store
