// `flinkbr <command>`: the command tree (CLI11), one function per command. Commands print the
// API's JSON with --json and readable text otherwise; a failure is one line "flinkbr: ..." on
// standard error and the exit status of its error code (common/result.h). docs/cli.md is the
// reference for users.
#include "cli/cli.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

namespace flinkbr::cli {

using nlohmann::json;

namespace {

constexpr const char* kDefaultServer = "http://127.0.0.1:8080";
constexpr const char* kLoginHint = "run 'flinkbr login --user NAME' or set FLINKBR_TOKEN";
// Consecutive failed polls (daemon restarting, network blip) tolerated by --wait.
constexpr int kMaxPollFailures = 20;

// ---- Small helpers -----------------------------------------------------------------------------

std::string dump_pretty(const json& j) {
  return j.dump(2, ' ', false, json::error_handler_t::replace);
}

// A JSON value as text for tables: strings as they are, null as "-", numbers and booleans.
std::string str(const json& obj, const char* key, const char* none = "-") {
  if (!obj.is_object()) return none;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return none;
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    return s.empty() ? none : s;
  }
  if (it->is_boolean()) return it->get<bool>() ? "yes" : "no";
  return it->dump(-1, ' ', false, json::error_handler_t::replace);
}

int64_t num(const json& obj, const char* key) {
  if (!obj.is_object()) return 0;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number()) return 0;
  return it->get<int64_t>();
}

json items_of(const json& answer) {
  if (answer.is_object() && answer.contains("items") && answer["items"].is_array())
    return answer["items"];
  return json::array();
}

// "key:   value" lines, values aligned.
std::string render_fields(const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t w = 0;
  for (const auto& [k, v] : fields) w = std::max(w, k.size());
  std::string out;
  for (const auto& [k, v] : fields) out += k + ":" + std::string(w - k.size() + 2, ' ') + v + "\n";
  return out;
}

std::string period_text(int64_t seconds) {
  if (seconds <= 0) return "manual";
  for (auto [unit, n] : {std::pair{"d", 86400}, {"h", 3600}, {"m", 60}})
    if (seconds % n == 0) return "every " + std::to_string(seconds / n) + unit;
  return "every " + std::to_string(seconds) + "s";
}

// The step a restoration is in: the running step of its latest attempt, else its phase.
std::string current_stage(const json& task) {
  if (!task.contains("attempt_history") || !task["attempt_history"].is_array() ||
      task["attempt_history"].empty())
    return "";
  const json& a = task["attempt_history"].back();
  if (a.contains("steps") && a["steps"].is_array()) {
    for (const auto& s : a["steps"])
      if (str(s, "status", "") == "running") return str(s, "name", "");
  }
  return str(a, "phase", "");
}

// ---- Shared state of one invocation -------------------------------------------------------------

struct Globals {
  std::string server_flag;
  bool json = false;
  bool wait = false;
};

class Command {
 public:
  Command(Io& io, Globals& g) : io_(io), g_(g) {}

  Io& io() { return io_; }
  bool json_out() const { return g_.json; }
  bool wait() const { return g_.wait; }

  std::string server() const {
    if (!g_.server_flag.empty()) return normalize_server(g_.server_flag);
    if (const char* s = std::getenv("FLINKBR_SERVER"); s && *s) return normalize_server(s);
    return kDefaultServer;
  }

  // A client with the token from $FLINKBR_TOKEN or from the saved login for this server.
  Result<Client> client() {
    const std::string srv = server();
    if (const char* t = std::getenv("FLINKBR_TOKEN"); t && *t) return Client(srv, t, kLoginHint);
    const std::string path = TRY(credentials_path());
    auto creds = TRY(load_credentials(path));
    if (creds && normalize_server(creds->server) == srv)
      return Client(srv, creds->token, kLoginHint);
    std::string hint = kLoginHint;
    if (creds) hint += " (the saved login is for " + creds->server + ")";
    return Client(srv, "", hint);
  }

  void print_json(const json& j) { io_.out << dump_pretty(j) << "\n"; }
  void note(const std::string& s) { io_.err << s << "\n"; }

 private:
  Io& io_;
  Globals& g_;
};

// Draws --wait progress: a bar redrawn in place on a terminal, a line per change otherwise.
class ProgressView {
 public:
  ProgressView(Io& io, std::string kind, std::string name)
      : io_(io), kind_(std::move(kind)), name_(std::move(name)) {}
  ~ProgressView() { finish(); }

  void update(int percent, const std::string& stage) {
    if (io_.stderr_is_tty) {
      std::string bar = render_progress_bar(percent, stage, name_);
      const size_t len = bar.size();
      if (len < drawn_) bar.append(drawn_ - len, ' ');  // wipe what a longer line left
      io_.err << "\r" << bar << std::flush;
      drawn_ = len;
      return;
    }
    if (percent == last_percent_ && stage == last_stage_) return;
    last_percent_ = percent;
    last_stage_ = stage;
    io_.err << kind_ << " " << name_ << ": " << percent << "%" << (stage.empty() ? "" : " ")
            << stage << "\n"
            << std::flush;
  }

  void finish() {
    if (drawn_ > 0) io_.err << "\n" << std::flush;
    drawn_ = 0;
  }

 private:
  Io& io_;
  std::string kind_;
  std::string name_;
  size_t drawn_ = 0;
  int last_percent_ = -1;
  std::string last_stage_;
};

// GET that rides out a daemon restart during --wait.
Result<json> poll(Client& c, const std::string& path, Io& io) {
  for (int failures = 0;; ++failures) {
    auto r = c.get(path);
    if (r || r.error().code != Errc::kUnavailable || failures >= kMaxPollFailures) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(io.poll_interval_ms));
  }
}

// ---- Commands
// ------------------------------------------------------------------------------------

Result<int> cmd_login(Command& cmd, const std::string& user) {
  if (user.empty()) return invalid_argument("user", "--user: required");
  const std::string password = TRY(read_password(cmd.io(), "Password for " + user + ": "));
  Client c(cmd.server(), "");
  json answer = TRY(c.post("/api/v1/auth/login", {{"user", user}, {"password", password}}));
  if (!answer.contains("token") || !answer["token"].is_string())
    return internal_error("unexpected answer from " + cmd.server() + ": no token");
  const std::string path = TRY(credentials_path());
  TRY_CTX(save_credentials(path, {cmd.server(), answer["token"].get<std::string>(), user}),
          "saving the login");
  const json& u = answer.contains("user") ? answer["user"] : json::object();
  if (cmd.json_out()) {
    // The token stays in the credentials file; it is not printed.
    cmd.print_json({{"server", cmd.server()},
                    {"user", u},
                    {"expires_at", answer.value("expires_at", json())},
                    {"credentials_file", path}});
  } else {
    cmd.io().out << "Logged in to " << cmd.server() << " as " << str(u, "name") << " ("
                 << str(u, "role") << "); the login expires at " << str(answer, "expires_at")
                 << ".\n";
  }
  return 0;
}

Result<int> cmd_logout(Command& cmd) {
  const std::string path = TRY(credentials_path());
  auto loaded = load_credentials(path);
  // A damaged file is forgotten like a good one.
  const bool damaged = !loaded;
  const std::optional<Credentials> creds = loaded ? *loaded : std::nullopt;
  std::string token;
  std::string server = cmd.server();
  bool from_file = false;
  if (const char* t = std::getenv("FLINKBR_TOKEN"); t && *t) {
    token = t;  // the saved login, if any, stays
  } else if (creds) {
    token = creds->token;
    server = normalize_server(creds->server);
    from_file = true;
  }
  if (damaged) TRY(remove_credentials(path));
  if (token.empty()) {
    if (!cmd.json_out())
      cmd.io().out << "Not logged in.\n";
    else
      cmd.print_json({{"logged_out", false}});
    return 0;
  }
  Client c(server, token);
  auto r = c.post("/api/v1/auth/logout");
  // An expired token is as good as logged out; anything else is worth saying.
  if (!r && r.error().code != Errc::kUnauthenticated)
    cmd.note("flinkbr: warning: the daemon did not end the session: " + r.error().message);
  if (from_file) TRY(remove_credentials(path));
  if (cmd.json_out())
    cmd.print_json({{"logged_out", true}, {"server", server}});
  else
    cmd.io().out << "Logged out of " << server << ".\n";
  return 0;
}

Result<int> cmd_cluster_list(Command& cmd) {
  Client c = TRY(cmd.client());
  json items = items_of(TRY(c.get("/api/v1/clusters")));
  if (cmd.json_out()) {
    cmd.print_json(items);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& cl : items) {
    auto names = [](const json& list) {
      std::string s;
      if (list.is_array())
        for (const auto& src : list) s += (s.empty() ? "" : ",") + str(src, "name", "?");
      return s.empty() ? std::string("-") : s;
    };
    std::string version = str(cl, "version");
    if (cl.contains("version_error")) version = "? (" + str(cl, "version_error") + ")";
    rows.push_back({str(cl, "name"), version, str(cl.value("service", json::object()), "state"),
                    names(cl.value("metadata", json::array())),
                    names(cl.value("service_data", json::array())), str(cl, "restore_running")});
  }
  cmd.io().out << render_table(
      {"NAME", "VERSION", "SERVICE", "METADATA", "SERVICE DATA", "RESTORING"}, rows);
  return 0;
}

void print_service(Command& cmd, const json& st) {
  if (cmd.json_out()) {
    cmd.print_json(st);
    return;
  }
  cmd.io().out << str(st, "cluster") << ": " << str(st, "state");
  if (auto d = str(st, "detail", ""); !d.empty()) cmd.io().out << " (" << d << ")";
  cmd.io().out << "\n";
}

Result<int> cmd_service(Command& cmd, const std::string& action, const std::string& cluster) {
  Client c = TRY(cmd.client());
  const std::string base = "/api/v1/clusters/" + url_segment(cluster) + "/service";
  if (action == "status") {
    print_service(cmd, TRY(c.get(base)));
    return 0;
  }
  if (cmd.io().stderr_is_tty)
    cmd.note(std::string(action == "stop" ? "Stopping" : "Starting") + " the Flink service of " +
             cluster + " and waiting for it...");
  json st = TRY(c.post(base + "/" + action));
  print_service(cmd, st);
  const std::string want = action == "stop" ? "stopped" : "running";
  if (cmd.wait() && str(st, "state") != want) {
    cmd.note(error_line({Errc::kFailedPrecondition, "the service of " + cluster + " is " +
                                                        str(st, "state") + ", not " + want}));
    return errc_exit_code(Errc::kFailedPrecondition);
  }
  return 0;
}

// -- Backups

struct BackupCreateArgs {
  std::string name, cluster, data_source, path_type, path, nameservice, namenode_ip, period,
      start_time;
  std::optional<int> max_copies;
  bool verify = false;
};

Result<int> cmd_backup_create(Command& cmd, const BackupCreateArgs& a) {
  Client c = TRY(cmd.client());
  json body = {{"name", a.name},
               {"cluster", a.cluster},
               {"data_source", a.data_source},
               {"path_type", a.path_type}};
  for (auto [key, value] : {std::pair{"path", &a.path},
                            {"nameservice", &a.nameservice},
                            {"namenode_ip", &a.namenode_ip},
                            {"period", &a.period},
                            {"start_time", &a.start_time}})
    if (!value->empty()) body[key] = *value;
  if (a.max_copies) body["max_copies"] = *a.max_copies;
  if (a.verify) body["verify"] = true;
  json t = TRY(c.post("/api/v1/backup-tasks", body));
  if (cmd.json_out()) {
    cmd.print_json(t);
    return 0;
  }
  cmd.io().out << "Created backup task " << str(t, "name") << " ("
               << period_text(num(t, "period_seconds"));
  if (str(t, "mode") == "periodic") cmd.io().out << ", next run " << str(t, "next_run");
  cmd.io().out << ").\n";
  return 0;
}

std::string record_summary(const json& r) {
  return "record " + str(r, "id") + ": " + str(r, "backup_path") + " (" +
         human_bytes(static_cast<uint64_t>(num(r, "size"))) + ", " + str(r, "checksum") + ")";
}

Result<int> wait_backup(Command& cmd, Client& c, json record, const std::string& task) {
  const std::string path = "/api/v1/backup-records/" + std::to_string(num(record, "id"));
  {
    ProgressView view(cmd.io(), "backup", task);
    for (;;) {
      view.update(static_cast<int>(num(record, "progress")), "");
      if (str(record, "status") != "Running") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(cmd.io().poll_interval_ms));
      record = TRY(poll(c, path, cmd.io()));
    }
  }
  const std::string status = str(record, "status");
  if (cmd.json_out()) cmd.print_json(record);
  if (status == "Succeeded") {
    if (!cmd.json_out()) cmd.io().out << "Backup succeeded: " << record_summary(record) << "\n";
    return 0;
  }
  cmd.note(error_line({Errc::kInternal, "backup " + task + " " +
                                            (status == "Failed" ? "failed" : "ended " + status) +
                                            ": " + str(record, "error", "no reason given")}));
  return 1;
}

Result<int> cmd_backup_run(Command& cmd, const std::string& name) {
  Client c = TRY(cmd.client());
  json rec = TRY(c.post("/api/v1/backup-tasks/" + url_segment(name) + "/run"));
  if (cmd.wait()) return wait_backup(cmd, c, rec, name);
  if (cmd.json_out())
    cmd.print_json(rec);
  else
    cmd.io().out << "Backup of " << name << " started (record " << str(rec, "id")
                 << "). Follow it with: flinkbr backup show-record " << str(rec, "id") << "\n";
  return 0;
}

Result<int> cmd_backup_list(Command& cmd) {
  Client c = TRY(cmd.client());
  json items = TRY(c.get_all("/api/v1/backup-tasks"));
  if (cmd.json_out()) {
    cmd.print_json(items);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : items) {
    std::string mode = period_text(num(t, "period_seconds"));
    if (str(t, "suspended") == "yes") mode += " (suspended)";
    rows.push_back({str(t, "name"), str(t, "cluster"), str(t, "data_source"), str(t, "path_type"),
                    mode, str(t, "next_run"),
                    num(t, "max_copies") > 0 ? str(t, "max_copies") : "all"});
  }
  cmd.io().out << render_table(
      {"NAME", "CLUSTER", "DATA SOURCE", "PATH TYPE", "MODE", "NEXT RUN", "KEEP"}, rows);
  return 0;
}

Result<int> cmd_backup_history(Command& cmd, const std::string& name, int limit) {
  Client c = TRY(cmd.client());
  json items = TRY(c.get_all("/api/v1/backup-tasks/" + url_segment(name) + "/records",
                             limit > 0 ? static_cast<size_t>(limit) : SIZE_MAX));
  if (cmd.json_out()) {
    cmd.print_json(items);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : items)
    rows.push_back({str(r, "id"), str(r, "status"), str(r, "started_at"), str(r, "ended_at"),
                    num(r, "size") > 0 ? human_bytes(static_cast<uint64_t>(num(r, "size"))) : "-",
                    str(r, "backup_object"), str(r, "backup_path")});
  cmd.io().out << render_table(
      {"ID", "STATUS", "STARTED", "ENDED", "SIZE", "BACKUP OBJECT", "BACKUP PATH"}, rows);
  return 0;
}

Result<int> cmd_backup_show_record(Command& cmd, const std::string& id) {
  Client c = TRY(cmd.client());
  json r = TRY(c.get("/api/v1/backup-records/" + url_segment(id)));
  if (cmd.wait() && str(r, "status") == "Running") return wait_backup(cmd, c, r, str(r, "task"));
  if (cmd.json_out()) {
    cmd.print_json(r);
    return 0;
  }
  cmd.io().out << render_fields({{"Record", str(r, "id")},
                                 {"Task", str(r, "task")},
                                 {"Status", str(r, "status")},
                                 {"Progress", str(r, "progress") + "%"},
                                 {"Started", str(r, "started_at")},
                                 {"Ended", str(r, "ended_at")},
                                 {"Size", human_bytes(static_cast<uint64_t>(num(r, "size")))},
                                 {"Checksum", str(r, "checksum")},
                                 {"System version", str(r, "system_version")},
                                 {"Backup object", str(r, "backup_object")},
                                 {"Backup path", str(r, "backup_path")},
                                 {"Error", str(r, "error")}});
  return 0;
}

Result<int> cmd_backup_delete(Command& cmd, const std::string& name) {
  Client c = TRY(cmd.client());
  json r = TRY(c.del("/api/v1/backup-tasks/" + url_segment(name)));
  if (cmd.json_out())
    cmd.print_json(r);
  else
    cmd.io().out << "Deleted backup task " << name << ".\n";
  return 0;
}

Result<int> cmd_backup_suspend(Command& cmd, const std::string& name, bool suspend) {
  Client c = TRY(cmd.client());
  json t =
      TRY(c.post("/api/v1/backup-tasks/" + url_segment(name) + (suspend ? "/suspend" : "/resume")));
  if (cmd.json_out())
    cmd.print_json(t);
  else
    cmd.io().out << (suspend ? "Suspended" : "Resumed") << " backup task " << name
                 << (suspend ? "" : "; next run " + str(t, "next_run")) << ".\n";
  return 0;
}

struct FileArgs {
  std::string cluster, path_type, source_path, nameservice, ip_mode, namenode_ip;
  std::string record;  // verify the file of this backup record instead
};

Result<int> print_verify(Command& cmd, const json& v);

Result<int> cmd_backup_verify(Command& cmd, const FileArgs& a) {
  Client c = TRY(cmd.client());
  json v;
  if (!a.record.empty()) {
    if (!a.path_type.empty() || !a.source_path.empty())
      return invalid_argument("record", "--record replaces --path-type and --source-path");
    if (cmd.io().stderr_is_tty) cmd.note("Verifying the file of record " + a.record + "...");
    v = TRY(c.post("/api/v1/backup-records/" + url_segment(a.record) + "/verify", json::object()));
    return print_verify(cmd, v);
  }
  if (a.path_type.empty()) return invalid_argument("path_type", "--path-type is required");
  if (a.source_path.empty()) return invalid_argument("source_path", "--source-path is required");
  json body = {{"path_type", a.path_type}, {"source_path", a.source_path}};
  for (auto [key, value] : {std::pair{"cluster", &a.cluster},
                            {"nameservice", &a.nameservice},
                            {"ip_mode", &a.ip_mode},
                            {"namenode_ip", &a.namenode_ip}})
    if (!value->empty()) body[key] = *value;
  if (cmd.io().stderr_is_tty) cmd.note("Verifying " + a.source_path + "...");
  v = TRY(c.post("/api/v1/backup-verify", body));
  return print_verify(cmd, v);
}

Result<int> print_verify(Command& cmd, const json& v) {
  if (cmd.json_out()) {
    cmd.print_json(v);
    return 0;
  }
  cmd.io().out << "OK: every checksum of " << str(v, "path") << " matches its manifest.\n"
               << render_fields({{"Size", human_bytes(static_cast<uint64_t>(num(v, "file_size")))},
                                 {"Checksum", str(v, "checksum")},
                                 {"System version", str(v, "system_version")},
                                 {"Data source", str(v, "data_source")},
                                 {"Cluster", str(v, "cluster")},
                                 {"Execution time", str(v, "execution_time")}});
  std::vector<std::vector<std::string>> rows;
  for (const auto& s : v.value("sources", json::array()))
    rows.push_back({str(s, "name"), str(s, "kind"), str(s, "entries"),
                    human_bytes(static_cast<uint64_t>(num(s, "bytes")))});
  cmd.io().out << "\n" << render_table({"SOURCE", "KIND", "ENTRIES", "BYTES"}, rows);
  return 0;
}

// -- Restorations

struct RestoreCreateArgs {
  std::string name, cluster, data_source, path_type, source_path, nameservice, ip_mode, namenode_ip,
      queue;
  int64_t from_record = 0;  // --from-record: fill the file's fields from this backup record
  std::string from_backup;  // --from-backup: ... from the newest Succeeded record of this task
};

// Without --from-record/--from-backup the four fields are required; with one, the daemon fills
// them from the record and refuses them if given too (the record is the one truth).
Status check_restore_create_args(const RestoreCreateArgs& a) {
  const bool from = a.from_record > 0 || !a.from_backup.empty();
  if (a.from_record > 0 && !a.from_backup.empty())
    return invalid_argument("from_backup", "--from-record and --from-backup exclude each other");
  if (from) {
    for (auto [flag, value] : {std::pair{"--data-source", &a.data_source},
                               {"--path-type", &a.path_type},
                               {"--source-path", &a.source_path},
                               {"--nameservice", &a.nameservice},
                               {"--namenode-ip", &a.namenode_ip}})
      if (!value->empty())
        return invalid_argument(flag, std::string(flag) + " comes from the backup record; give " +
                                          (a.from_record > 0 ? "--from-record" : "--from-backup") +
                                          " or " + flag + ", not both");
    return ok();
  }
  for (auto [flag, value] : {std::pair{"--cluster", &a.cluster},
                             {"--data-source", &a.data_source},
                             {"--path-type", &a.path_type},
                             {"--source-path", &a.source_path}})
    if (value->empty())
      return invalid_argument(flag, std::string(flag) +
                                        " is required (or take everything from a backup with "
                                        "--from-record ID or --from-backup TASK)");
  return ok();
}

Result<int> cmd_restore_create(Command& cmd, const RestoreCreateArgs& a) {
  TRY(check_restore_create_args(a));
  Client c = TRY(cmd.client());
  json body = {{"name", a.name}};
  for (auto [key, value] : {std::pair{"cluster", &a.cluster},
                            {"data_source", &a.data_source},
                            {"path_type", &a.path_type},
                            {"source_path", &a.source_path},
                            {"nameservice", &a.nameservice},
                            {"ip_mode", &a.ip_mode},
                            {"namenode_ip", &a.namenode_ip},
                            {"queue", &a.queue},
                            {"from_backup", &a.from_backup}})
    if (!value->empty()) body[key] = *value;
  if (a.from_record > 0) body["from_record"] = a.from_record;
  json t = TRY(c.post("/api/v1/restore-tasks", body));
  if (cmd.json_out())
    cmd.print_json(t);
  else
    cmd.io().out << "Created restoration task " << str(t, "name") << " (" << str(t, "state") << ", "
                 << str(t, "path_type") << " " << str(t, "source_path")
                 << "). Start it with: flinkbr restore start " << str(t, "name") << "\n";
  return 0;
}

void print_start_hint(Command& cmd, const json& task) {
  const std::string line =
      "Restoration succeeded. Start the Flink service with: flinkbr service "
      "start " +
      str(task, "cluster");
  if (cmd.json_out())
    cmd.note(line);
  else
    cmd.io().out << line << "\n";
}

Result<int> wait_restore(Command& cmd, Client& c, const std::string& name, int min_attempts) {
  const std::string path = "/api/v1/restore-tasks/" + url_segment(name);
  json task;
  {
    ProgressView view(cmd.io(), "restore", name);
    for (;;) {
      task = TRY(poll(c, path, cmd.io()));
      // An answer from before the start took effect would show the previous attempt's end.
      const bool current = num(task, "attempts") >= min_attempts;
      view.update(static_cast<int>(num(task, "progress")), current_stage(task));
      if (current && str(task, "state") != "Running") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(cmd.io().poll_interval_ms));
    }
  }
  if (cmd.json_out()) cmd.print_json(task);
  const std::string state = str(task, "state");
  if (state == "Succeeded") {
    print_start_hint(cmd, task);
    return 0;
  }
  cmd.note(error_line({Errc::kInternal, "restoration " + name + " " +
                                            (state == "Failed" ? "failed" : "ended " + state) +
                                            ": " + str(task, "error", "no reason given")}));
  return 1;
}

Result<int> cmd_restore_start(Command& cmd, const std::string& name, bool dry_run, bool retry,
                              bool allow_dangling) {
  Client c = TRY(cmd.client());
  const std::string base = "/api/v1/restore-tasks/" + url_segment(name);
  json body = json::object();
  if (allow_dangling) body["allow_dangling"] = true;
  if (dry_run) {
    if (cmd.io().stderr_is_tty) cmd.note("Checking and comparing (nothing will be changed)...");
    body["dry_run"] = true;
    json preview = TRY(c.post(base + "/start", body));
    if (cmd.json_out())
      cmd.print_json(preview);
    else
      cmd.io().out << render_preview(preview);
    return 0;
  }
  json t = TRY(c.post(base + (retry ? "/retry" : "/start"), body));
  if (cmd.wait()) return wait_restore(cmd, c, name, static_cast<int>(num(t, "attempts")));
  if (cmd.json_out())
    cmd.print_json(t);
  else
    cmd.io().out << "Restoration " << name << " " << (retry ? "retried" : "started") << " (attempt "
                 << str(t, "attempts") << ", " << str(t, "state")
                 << "). Follow it with: flinkbr restore show " << name << "\n";
  return 0;
}

Result<int> cmd_restore_list(Command& cmd) {
  Client c = TRY(cmd.client());
  json items = TRY(c.get_all("/api/v1/restore-tasks"));
  if (cmd.json_out()) {
    cmd.print_json(items);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : items)
    rows.push_back({str(t, "name"), str(t, "cluster"), str(t, "data_source"), str(t, "path_type"),
                    str(t, "state"), str(t, "progress") + "%", str(t, "attempts"),
                    str(t, "updated_at"), str(t, "error")});
  cmd.io().out << render_table({"NAME", "CLUSTER", "DATA SOURCE", "PATH TYPE", "STATE", "PROGRESS",
                                "ATTEMPTS", "UPDATED", "ERROR"},
                               rows);
  return 0;
}

Result<int> cmd_restore_show(Command& cmd, const std::string& name) {
  Client c = TRY(cmd.client());
  json t = TRY(c.get("/api/v1/restore-tasks/" + url_segment(name)));
  if (cmd.wait() && str(t, "state") == "Running")
    return wait_restore(cmd, c, name, static_cast<int>(num(t, "attempts")));
  if (cmd.json_out()) {
    cmd.print_json(t);
    return 0;
  }
  std::vector<std::pair<std::string, std::string>> f = {{"Name", str(t, "name")},
                                                        {"Cluster", str(t, "cluster")},
                                                        {"Data source", str(t, "data_source")},
                                                        {"Path type", str(t, "path_type")},
                                                        {"Source path", str(t, "source_path")}};
  for (auto [label, key] : {std::pair{"NameService", "nameservice"},
                            {"IP mode", "ip_mode"},
                            {"NameNode IP", "namenode_ip"},
                            {"Queue", "queue"}})
    if (auto v = str(t, key, ""); !v.empty()) f.push_back({label, v});
  f.push_back({"State", str(t, "state")});
  f.push_back({"Progress", str(t, "progress") + "%"});
  if (t.contains("error")) f.push_back({"Error", str(t, "error")});
  f.push_back({"Attempts", str(t, "attempts")});
  f.push_back({"Created", str(t, "created_at")});
  f.push_back({"Updated", str(t, "updated_at")});
  std::string out = render_fields(f);
  for (const auto& a : t.value("attempt_history", json::array())) {
    out += "\nAttempt " + str(a, "number") + ": " + str(a, "state") + ", " + str(a, "progress") +
           "%, started " + str(a, "started_at") + ", ended " + str(a, "ended_at") + "\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& s : a.value("steps", json::array()))
      rows.push_back({"  " + str(s, "name"), str(s, "status"), str(s, "started_at"),
                      str(s, "ended_at"), str(s, "detail", "")});
    if (!rows.empty())
      out += render_table({"  STEP", "STATUS", "STARTED", "ENDED", "DETAIL"}, rows);
    if (auto e = str(a, "error", ""); !e.empty()) out += "  Error: " + e + "\n";
    if (auto s = str(a, "safety_copy", ""); !s.empty()) out += "  Safety copy: " + s + "\n";
    const json report = a.value("report", json::object());
    for (const auto& s : report.value("sources", json::array())) {
      const json counts = s.value("counts", json::object());
      out += "  Source " + str(s, "name") + ": " + std::to_string(counts.value("added", 0)) +
             " added, " + std::to_string(counts.value("changed", 0)) + " changed, " +
             std::to_string(counts.value("removed", 0)) + " removed\n";
    }
  }
  const json log = t.value("log", json::array());
  if (!log.empty()) {
    out += "\nLog of the latest attempt:\n";
    for (const auto& l : log)
      out += "  " + str(l, "at") + "  " + str(l, "level") + "  " + str(l, "text", "") + "\n";
  }
  if (str(t, "state") == "Succeeded")
    out += "\nStart the Flink service with: flinkbr service start " + str(t, "cluster") + "\n";
  cmd.io().out << out;
  return 0;
}

Result<int> cmd_restore_delete(Command& cmd, const std::string& name) {
  Client c = TRY(cmd.client());
  json r = TRY(c.del("/api/v1/restore-tasks/" + url_segment(name)));
  if (cmd.json_out())
    cmd.print_json(r);
  else
    cmd.io().out << "Deleted restoration task " << name << ".\n";
  return 0;
}

// -- Users and audit

Result<int> cmd_user_create(Command& cmd, const std::string& name, const std::string& role) {
  Client c = TRY(cmd.client());
  std::string password = TRY(read_password(cmd.io(), "Password for the new user " + name + ": "));
  if (cmd.io().stdin_is_tty) {
    std::string again = TRY(read_password(cmd.io(), "Repeat the password: "));
    if (again != password) return invalid_argument("password", "the passwords differ");
  }
  json u = TRY(c.post("/api/v1/users", {{"name", name}, {"role", role}, {"password", password}}));
  if (cmd.json_out())
    cmd.print_json(u);
  else
    cmd.io().out << "Created user " << str(u, "name") << " (" << str(u, "role") << ").\n";
  return 0;
}

Result<int> cmd_user_list(Command& cmd) {
  Client c = TRY(cmd.client());
  json items = items_of(TRY(c.get("/api/v1/users")));
  if (cmd.json_out()) {
    cmd.print_json(items);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& u : items)
    rows.push_back({str(u, "name"), str(u, "role"), str(u, "created_at")});
  cmd.io().out << render_table({"NAME", "ROLE", "CREATED"}, rows);
  return 0;
}

Result<int> cmd_audit_list(Command& cmd, int limit, int64_t offset) {
  Client c = TRY(cmd.client());
  json items = items_of(TRY(
      c.get("/api/v1/audit?limit=" + std::to_string(limit) + "&offset=" + std::to_string(offset))));
  if (cmd.json_out()) {
    cmd.print_json(items);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : items)
    rows.push_back({str(e, "at"), str(e, "user"), str(e, "action"), str(e, "target"),
                    str(e, "outcome"), str(e, "detail", "")});
  cmd.io().out << render_table({"AT", "USER", "ACTION", "TARGET", "OUTCOME", "DETAIL"}, rows);
  return 0;
}

// ---- The command tree --------------------------------------------------------------------------

// Everything the leaves of the tree bind their arguments to.
struct Args {
  std::string name, cluster, user, role, config;
  BackupCreateArgs backup;
  RestoreCreateArgs restore;
  FileArgs file;
  bool dry_run = false;
  bool allow_dangling = false;
  int limit = 0;
  int audit_limit = 100;
  int64_t offset = 0;
};

}  // namespace

int run(const std::vector<std::string>& argv, const ServeFn& serve_fn, Io& io) {
  Globals g;
  Args a;
  Command cmd(io, g);

  CLI::App app{
      "flinkbr: backup and restoration of Apache Flink metadata.\n"
      "Every command but 'serve' talks to a running daemon (see docs/cli.md).",
      "flinkbr"};
  app.require_subcommand(1);
  app.fallthrough();  // --server may also come after the command words
  app.add_option("--server", g.server_flag,
                 "URL of the flinkbr daemon (default: $FLINKBR_SERVER or " +
                     std::string(kDefaultServer) + ")");
  app.set_version_flag("--version", FLINKBR_VERSION);

  struct Leaf {
    CLI::App* app;
    std::function<Result<int>()> fn;
  };
  std::vector<Leaf> leaves;
  // Every leaf accepts --json and --wait wherever they stand after the command words.
  auto leaf = [&](CLI::App* parent, const std::string& name, const std::string& desc,
                  std::function<Result<int>()> fn) {
    CLI::App* s = parent->add_subcommand(name, desc);
    s->add_flag("--json", g.json, "Print the API's JSON");
    s->add_flag("--wait", g.wait,
                "Wait until the task ends (progress on standard error); exit 0 only on success");
    leaves.push_back({s, std::move(fn)});
    return s;
  };
  auto group = [&](const std::string& name, const std::string& desc) {
    CLI::App* s = app.add_subcommand(name, desc);
    s->require_subcommand(1);
    return s;
  };
  const auto kPathTypes = CLI::IsMember({"LocalDir", "LocalHDFS", "RemoteHDFS", "OBS"});
  const auto kDataSources = CLI::IsMember({"Flink", "FlinkServiceData"});

  // serve
  {
    CLI::App* s = app.add_subcommand("serve", "Run the flinkbr daemon");
    s->add_option("--config", a.config,
                  "YAML configuration file (default: the embedded demo configuration)");
    leaves.push_back({s, [&]() -> Result<int> { return serve_fn(a.config); }});
  }

  // login / logout
  leaf(&app, "login", "Log in and keep the token for later commands (password on stdin)",
       [&] { return cmd_login(cmd, a.user); })
      ->add_option("--user", a.user, "User name")
      ->required();
  leaf(&app, "logout", "End the session and forget the saved token",
       [&] { return cmd_logout(cmd); });

  // cluster
  {
    CLI::App* grp = group("cluster", "Managed clusters");
    leaf(grp, "list", "List clusters with version, service state and sources",
         [&] { return cmd_cluster_list(cmd); });
  }

  // service
  {
    CLI::App* grp = group("service", "The Flink service of a cluster");
    for (std::string action : {"status", "stop", "start"}) {
      const std::string desc = action == "status" ? "Show whether the Flink service runs"
                               : action == "stop"
                                   ? "Stop the Flink service and wait until it is stopped"
                                   : "Start the Flink service and wait until it runs";
      leaf(grp, action, desc, [&, action] { return cmd_service(cmd, action, a.cluster); })
          ->add_option("CLUSTER", a.cluster, "Cluster name")
          ->required();
    }
  }

  // backup
  {
    CLI::App* grp = group("backup", "Backup tasks and their records");
    CLI::App* s = leaf(grp, "create", "Create a backup task",
                       [&] { return cmd_backup_create(cmd, a.backup); });
    s->add_option("NAME", a.backup.name, "Task name")->required();
    s->add_option("--cluster", a.backup.cluster, "Cluster to back up")->required();
    s->add_option("--data-source", a.backup.data_source, "Flink or FlinkServiceData")
        ->required()
        ->check(kDataSources);
    s->add_option("--path-type", a.backup.path_type, "LocalDir, LocalHDFS, RemoteHDFS or OBS")
        ->required()
        ->check(kPathTypes);
    s->add_option("--path", a.backup.path,
                  "Base directory of the backup files (OBS: bucket/prefix); default per path type");
    s->add_option("--nameservice", a.backup.nameservice,
                  "HDFS NameService (LocalHDFS default: hacluster; RemoteHDFS)");
    s->add_option("--namenode-ip", a.backup.namenode_ip,
                  "RemoteHDFS: NameNode IP address, optionally with :port");
    s->add_option("--max-copies", a.backup.max_copies,
                  "Backup files kept; older ones are removed (default: all)");
    s->add_option("--period", a.backup.period, "Periodic mode: N followed by s, m, h or d (1d)");
    s->add_option("--start-time", a.backup.start_time,
                  "Periodic mode: first run, ISO 8601 (default: now)");
    s->add_flag("--verify", a.backup.verify,
                "Read each new backup file back and check every checksum after writing it");

    leaf(grp, "run", "Run a backup task now", [&] { return cmd_backup_run(cmd, a.name); })
        ->add_option("NAME", a.name, "Task name")
        ->required();
    leaf(grp, "list", "List backup tasks", [&] { return cmd_backup_list(cmd); });
    s = leaf(grp, "history", "List the records of a backup task, newest first",
             [&] { return cmd_backup_history(cmd, a.name, a.limit); });
    s->add_option("NAME", a.name, "Task name")->required();
    s->add_option("--limit", a.limit, "Show only the newest N records")->check(CLI::PositiveNumber);
    leaf(grp, "show-record", "Show one backup record",
         [&] { return cmd_backup_show_record(cmd, a.name); })
        ->add_option("ID", a.name, "Record id")
        ->required();
    leaf(grp, "delete", "Delete a backup task", [&] { return cmd_backup_delete(cmd, a.name); })
        ->add_option("NAME", a.name, "Task name")
        ->required();
    leaf(grp, "suspend", "Stop the periodic runs of a task",
         [&] { return cmd_backup_suspend(cmd, a.name, true); })
        ->add_option("NAME", a.name, "Task name")
        ->required();
    leaf(grp, "resume", "Resume the periodic runs of a task",
         [&] { return cmd_backup_suspend(cmd, a.name, false); })
        ->add_option("NAME", a.name, "Task name")
        ->required();
    s = leaf(grp, "verify", "Check the integrity of one backup file (no restore)",
             [&] { return cmd_backup_verify(cmd, a.file); });
    s->add_option("--path-type", a.file.path_type, "LocalDir, LocalHDFS, RemoteHDFS or OBS")
        ->check(kPathTypes);
    s->add_option("--source-path", a.file.source_path, "Full path of the backup file");
    s->add_option("--record", a.file.record,
                  "Verify the file of this backup record (see backup history) instead");
    s->add_option("--cluster", a.file.cluster, "Cluster whose storage settings to use");
    s->add_option("--nameservice", a.file.nameservice, "HDFS NameService");
    s->add_option("--ip-mode", a.file.ip_mode, "RemoteHDFS: auto, IPv4 or IPv6")
        ->check(CLI::IsMember({"auto", "IPv4", "IPv6"}));
    s->add_option("--namenode-ip", a.file.namenode_ip, "RemoteHDFS: NameNode IP address");
  }

  // restore
  {
    CLI::App* grp = group("restore", "Restoration tasks");
    CLI::App* s = leaf(grp, "create", "Create a restoration task",
                       [&] { return cmd_restore_create(cmd, a.restore); });
    s->add_option("NAME", a.restore.name, "Task name")->required();
    s->add_option("--from-record", a.restore.from_record,
                  "Restore the file of this backup record (see backup history): cluster, data "
                  "source, path type and path come from it")
        ->check(CLI::PositiveNumber);
    s->add_option("--from-backup", a.restore.from_backup,
                  "Restore the newest Succeeded record of this backup task");
    s->add_option("--cluster", a.restore.cluster,
                  "Cluster to restore into (with --from-*: default the backup's cluster)");
    s->add_option("--data-source", a.restore.data_source, "Flink or FlinkServiceData")
        ->check(kDataSources);
    s->add_option("--path-type", a.restore.path_type, "LocalDir, LocalHDFS, RemoteHDFS or OBS")
        ->check(kPathTypes);
    s->add_option("--source-path", a.restore.source_path,
                  "The backup file (a record's backup path)");
    s->add_option("--nameservice", a.restore.nameservice, "HDFS NameService");
    s->add_option("--ip-mode", a.restore.ip_mode, "RemoteHDFS: auto, IPv4 or IPv6")
        ->check(CLI::IsMember({"auto", "IPv4", "IPv6"}));
    s->add_option("--namenode-ip", a.restore.namenode_ip, "RemoteHDFS: NameNode IP address");
    s->add_option("--queue", a.restore.queue, "RemoteHDFS: YARN queue used for the copy");

    s = leaf(grp, "start", "Start a restoration (or preview it with --dry-run)",
             [&] { return cmd_restore_start(cmd, a.name, a.dry_run, false, a.allow_dangling); });
    s->add_option("NAME", a.name, "Task name")->required();
    s->add_flag("--dry-run", a.dry_run,
                "Run the checks and show what would be added, changed and removed");
    s->add_flag("--allow-dangling", a.allow_dangling,
                "Restore even if Flink's HA pointers in the backup dangle (Flink may not recover)");
    s = leaf(grp, "retry", "Run a failed restoration again",
             [&] { return cmd_restore_start(cmd, a.name, false, true, a.allow_dangling); });
    s->add_option("NAME", a.name, "Task name")->required();
    s->add_flag("--allow-dangling", a.allow_dangling,
                "Restore even if Flink's HA pointers in the backup dangle (Flink may not recover)");
    leaf(grp, "list", "List restoration tasks", [&] { return cmd_restore_list(cmd); });
    leaf(grp, "show", "Show a restoration task with its attempts, steps and log",
         [&] { return cmd_restore_show(cmd, a.name); })
        ->add_option("NAME", a.name, "Task name")
        ->required();
    leaf(grp, "delete", "Delete a restoration task",
         [&] { return cmd_restore_delete(cmd, a.name); })
        ->add_option("NAME", a.name, "Task name")
        ->required();
  }

  // user
  {
    CLI::App* grp = group("user", "Users (administrator)");
    CLI::App* s = leaf(grp, "create", "Create a user (password on stdin)",
                       [&] { return cmd_user_create(cmd, a.name, a.role); });
    s->add_option("NAME", a.name, "User name")->required();
    s->add_option("--role", a.role, "viewer, operator or administrator")
        ->required()
        ->check(CLI::IsMember({"viewer", "operator", "administrator"}));
    leaf(grp, "list", "List users", [&] { return cmd_user_list(cmd); });
  }

  // audit
  {
    CLI::App* grp = group("audit", "The audit log (administrator)");
    CLI::App* s = leaf(grp, "list", "List audit entries, newest first",
                       [&] { return cmd_audit_list(cmd, a.audit_limit, a.offset); });
    s->add_option("--limit", a.audit_limit, "At most N entries (1-1000, default 100)")
        ->check(CLI::Range(1, 1000));
    s->add_option("--offset", a.offset, "Skip the newest N entries")->check(CLI::NonNegativeNumber);
  }

  try {
    std::vector<std::string> reversed(argv.rbegin(), argv.rend());
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, io.out, io.err);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, io.out, io.err);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e, io.out, io.err);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    if (argv.empty()) msg = "a command is required";
    io.err << error_line({Errc::kInvalidArgument, msg + " (see flinkbr --help)"}) << "\n";
    return errc_exit_code(Errc::kInvalidArgument);
  }

  for (const auto& l : leaves) {
    if (!l.app->parsed()) continue;
    Result<int> r = [&]() -> Result<int> {
      try {
        return l.fn();
      } catch (const std::exception& e) {
        return internal_error(std::string("unexpected error: ") + e.what());
      }
    }();
    io.out.flush();
    if (!r) {
      io.err << error_line(with_flag_names(r.error())) << "\n";
      return errc_exit_code(r.error().code);
    }
    return *r;
  }
  io.err << error_line({Errc::kInvalidArgument, "a command is required (see flinkbr --help)"})
         << "\n";
  return errc_exit_code(Errc::kInvalidArgument);
}

int run(int argc, char** argv, const ServeFn& serve_fn) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  Io io{.in = std::cin,
        .out = std::cout,
        .err = std::cerr,
        .stdin_is_tty = ::isatty(STDIN_FILENO) == 1,
        .stderr_is_tty = ::isatty(STDERR_FILENO) == 1};
  return run(args, serve_fn, io);
}

}  // namespace flinkbr::cli
