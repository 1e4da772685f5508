// `flinkbr <command>`: the command tree (CLI11), one function per command. Commands print the
// API's JSON with --json and readable text otherwise; a failure is one line "flinkbr: ..." on
// standard error and the exit status of its error code (common/result.h). docs/cli.md is the
// reference for users.
#include "cli/cli.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
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

// Only the items named (velero's `get NAME...`); every name must be there.
Result<json> only_named(json items, const std::vector<std::string>& names, const char* what) {
  if (names.empty()) return items;
  json out = json::array();
  for (const auto& n : names) {
    bool found = false;
    for (const auto& it : items)
      if (str(it, "name") == n) {
        out.push_back(it);
        found = true;
      }
    if (!found) return not_found("no " + std::string(what) + " '" + n + "'");
  }
  return out;
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
  std::string output;  // -o: "json", "yaml", "wide" or "" (tables)
};

class Command {
 public:
  Command(Io& io, Globals& g) : io_(io), g_(g) {}

  Io& io() { return io_; }
  // The data as the API gives it (--json, -o json, -o yaml) rather than tables.
  bool json_out() const { return g_.json || g_.output == "json" || g_.output == "yaml"; }
  // -o wide: tables with more columns.
  bool wide() const { return g_.output == "wide"; }
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

  void print_json(const json& j) {
    if (g_.output == "yaml" && !g_.json)
      io_.out << render_yaml(j);
    else
      io_.out << dump_pretty(j) << "\n";
  }
  void note(const std::string& s) { io_.err << s << "\n"; }

 private:
  Io& io_;
  Globals& g_;
};

// Draws --wait progress on standard error: a bar redrawn in place on a terminal, a line per
// change otherwise, and with --json one JSON object per change ({"kind", "name", "progress",
// "stage", "progress_detail"}) for scripts. The stage shows the step, bytes done/total and
// throughput of the run's progress_detail when it has one.
class ProgressView {
 public:
  ProgressView(Io& io, std::string kind, std::string name, bool json_lines = false)
      : io_(io), kind_(std::move(kind)), name_(std::move(name)), json_lines_(json_lines) {}
  ~ProgressView() { finish(); }

  void update(int percent, const std::string& step, const json& detail = nullptr) {
    const std::string bytes = render_progress_detail(detail);
    // The detail names the step itself; a stage without detail (an older daemon) stays.
    const std::string stage = bytes.empty() ? step : bytes;
    if (json_lines_) {
      if (percent == last_percent_ && stage == last_stage_) return;
      last_percent_ = percent;
      last_stage_ = stage;
      json line = {{"kind", kind_}, {"name", name_}, {"progress", percent}, {"stage", step}};
      if (detail.is_object()) line["progress_detail"] = detail;
      io_.err << line.dump() << "\n" << std::flush;
      return;
    }
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
  bool json_lines_ = false;
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

// Waits until a task ends. The event stream (GET /api/v1/events) tells at once; `check` GETs
// the task (drawing its progress) and says whether it has ended, `ended` looks at one event
// (drawing its progress) and says whether it ends the task, which `check` then confirms with
// the whole answer. `check` runs when the stream opens (what ended before it opened) and at most
// every two seconds after. Without a stream (an older daemon, a proxy that buffers, too many
// streams) it polls every Io::poll_interval_ms.
Status wait_for_end(Command& cmd, Client& c, const std::function<Result<bool>()>& check,
                    const std::function<bool(const std::string& type, const json& data)>& ended) {
  using Clock = std::chrono::steady_clock;
  std::optional<Error> failure;
  bool done = false;
  auto check_once = [&]() -> bool {  // false: stop following
    auto r = check();
    if (!r) {
      failure = r.error();
      return false;
    }
    done = *r;
    return !done;
  };
  for (int streams = 0; streams < 5 && !done && !failure; ++streams) {
    bool opened = false;
    auto last_check = Clock::now();
    auto st =
        c.follow_events([&](const std::string& type,
                            const json& data) { return ended(type, data) ? check_once() : true; },
                        [&] {
                          if (opened && Clock::now() - last_check < std::chrono::seconds(2))
                            return true;
                          opened = true;
                          last_check = Clock::now();
                          return check_once();
                        });
    if (failure) return std::unexpected(*failure);
    if (done) return ok();
    if (!opened) break;  // no stream to be had: poll
    (void)st;            // a stream that broke after opening is opened again
  }
  for (;;) {
    if (!check_once()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(cmd.io().poll_interval_ms));
  }
  if (failure) return std::unexpected(*failure);
  return ok();
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
  const int64_t id = num(record, "id");
  const std::string path = "/api/v1/backup-records/" + std::to_string(id);
  {
    ProgressView view(cmd.io(), "backup", task, cmd.json_out());
    view.update(static_cast<int>(num(record, "progress")), "",
                record.value("progress_detail", json()));
    if (str(record, "status") == "Running")
      TRY(wait_for_end(
          cmd, c,
          [&]() -> Result<bool> {
            record = TRY(poll(c, path, cmd.io()));
            view.update(static_cast<int>(num(record, "progress")), "",
                        record.value("progress_detail", json()));
            return str(record, "status") != "Running";
          },
          [&](const std::string& type, const json& e) {
            if (type != "backup" || num(e, "id") != id) return false;
            view.update(static_cast<int>(num(e, "progress")), "",
                        e.value("progress_detail", json()));
            return str(e, "status") != "Running";
          }));
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

Result<int> cmd_backup_list(Command& cmd, const std::vector<std::string>& names) {
  Client c = TRY(cmd.client());
  json all = TRY(c.get_all("/api/v1/backup-tasks"));
  json items = TRY(only_named(std::move(all), names, "backup task"));
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
    if (cmd.wide()) rows.back().push_back(str(t, "path"));
  }
  std::vector<std::string> headers = {"NAME", "CLUSTER",  "DATA SOURCE", "PATH TYPE",
                                      "MODE", "NEXT RUN", "KEEP"};
  if (cmd.wide()) headers.push_back("PATH");
  cmd.io().out << render_table(headers, rows);
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
    ProgressView view(cmd.io(), "restore", name, cmd.json_out());
    TRY(wait_for_end(
        cmd, c,
        [&]() -> Result<bool> {
          task = TRY(poll(c, path, cmd.io()));
          // An answer from before the start took effect would show the previous attempt's end.
          const bool current = num(task, "attempts") >= min_attempts;
          view.update(static_cast<int>(num(task, "progress")), current_stage(task),
                      task.value("progress_detail", json()));
          return current && str(task, "state") != "Running";
        },
        [&](const std::string& type, const json& e) {
          if (type != "restore" || str(e, "name") != name) return false;
          std::string stage = str(e, "phase", "");
          for (const auto& s : e.value("steps", json::array()))
            if (str(s, "status", "") == "running") stage = str(s, "name", "");
          view.update(static_cast<int>(num(e, "progress")), stage,
                      e.value("progress_detail", json()));
          return num(e, "attempt") >= min_attempts && str(e, "state") != "Running";
        }));
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

Result<int> cmd_restore_list(Command& cmd, const std::vector<std::string>& names) {
  Client c = TRY(cmd.client());
  json all = TRY(c.get_all("/api/v1/restore-tasks"));
  json items = TRY(only_named(std::move(all), names, "restoration task"));
  if (cmd.json_out()) {
    cmd.print_json(items);
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& t : items)
    rows.push_back({str(t, "name"), str(t, "cluster"), str(t, "data_source"), str(t, "path_type"),
                    str(t, "state"), str(t, "progress") + "%", str(t, "attempts"),
                    str(t, "updated_at"), str(t, "error")});
  std::vector<std::string> headers = {"NAME",     "CLUSTER",  "DATA SOURCE", "PATH TYPE", "STATE",
                                      "PROGRESS", "ATTEMPTS", "UPDATED",     "ERROR"};
  if (cmd.wide()) {
    headers.insert(headers.begin() + 4, "SOURCE PATH");
    for (size_t i = 0; i < rows.size(); ++i)
      rows[i].insert(rows[i].begin() + 4, str(items[i], "source_path"));
  }
  cmd.io().out << render_table(headers, rows);
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

// A password the user chooses for someone or for themselves: with --password-stdin (or when
// standard input is not a terminal) the next line of standard input; otherwise a prompt without
// echo, asked twice. Never an argument: argv is readable by every user of the machine (ps).
Result<std::string> read_chosen_password(Command& cmd, const std::string& prompt,
                                         bool password_stdin) {
  if (password_stdin) {
    std::string line;
    if (!std::getline(cmd.io().in, line))
      return invalid_argument("--password-stdin", "no password on standard input");
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) return invalid_argument("--password-stdin", "the password is empty");
    return line;
  }
  std::string password = TRY(read_password(cmd.io(), prompt));
  if (cmd.io().stdin_is_tty) {
    std::string again = TRY(read_password(cmd.io(), "Repeat the password: "));
    if (again != password) return invalid_argument("password", "the passwords differ");
  }
  return password;
}

Result<int> cmd_user_set_role(Command& cmd, const std::string& name, const std::string& role) {
  Client c = TRY(cmd.client());
  json u = TRY(c.post("/api/v1/users/" + url_segment(name) + "/role", {{"role", role}}));
  if (cmd.json_out())
    cmd.print_json(u);
  else
    cmd.io().out << "User " << str(u, "name") << " is now " << str(u, "role") << ".\n";
  return 0;
}

Result<int> cmd_user_reset_password(Command& cmd, const std::string& name, bool password_stdin) {
  Client c = TRY(cmd.client());
  const std::string password =
      TRY(read_chosen_password(cmd, "New password for " + name + ": ", password_stdin));
  json u =
      TRY(c.post("/api/v1/users/" + url_segment(name) + "/password", {{"password", password}}));
  if (cmd.json_out())
    cmd.print_json(u);
  else
    cmd.io().out << "Reset the password of " << str(u, "name") << "; their sessions have ended.\n";
  return 0;
}

Result<int> cmd_user_delete(Command& cmd, const std::string& name) {
  Client c = TRY(cmd.client());
  json r = TRY(c.del("/api/v1/users/" + url_segment(name)));
  if (cmd.json_out())
    cmd.print_json(r);
  else
    cmd.io().out << "Deleted user " << name << "; their sessions have ended.\n";
  return 0;
}

// The logged-in user's own password: the current one first, then the new one (two lines of
// standard input with --password-stdin or without a terminal). This session stays; the others
// end.
Result<int> cmd_change_password(Command& cmd, bool password_stdin) {
  Client c = TRY(cmd.client());
  auto current = password_stdin ? read_chosen_password(cmd, "", true)
                                : read_password(cmd.io(), "Current password: ");
  if (!current && password_stdin)
    return invalid_argument("--password-stdin",
                            "expected the current password, then the new one, on two lines of "
                            "standard input");
  if (!current) return std::unexpected(std::move(current.error()));
  const std::string chosen = TRY(read_chosen_password(cmd, "New password: ", password_stdin));
  auto answer =
      c.post("/api/v1/auth/password", {{"current_password", *current}, {"new_password", chosen}});
  if (!answer) {
    // The API names its fields; here both passwords came from prompts or standard input, so the
    // error names which one in words (flag_for_field leaves these fields as they are).
    Error e = std::move(answer.error());
    if (e.field == "current_password" || e.field == "new_password") {
      const std::string words =
          e.field == "current_password" ? "the current password" : "the new password";
      if (e.message.starts_with(e.field + ": ")) e.message.erase(0, e.field.size() + 2);
      if (e.message.find(words.substr(4)) == std::string::npos)
        e.message = words + ": " + e.message;
      e.field.clear();
    }
    return std::unexpected(std::move(e));
  }
  if (cmd.json_out())
    cmd.print_json(*answer);
  else
    cmd.io().out << "Changed the password of " << str(*answer, "name")
                 << "; your other sessions have ended.\n";
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

// -- version, completion

Result<int> cmd_version(Command& cmd, bool client_only) {
  json out = {{"client", {{"version", FLINKBR_VERSION}}}};
  std::optional<Error> server_error;
  if (!client_only) {
    // Health needs no credentials: the version of a daemon one is not logged in to is useful.
    Client c(cmd.server(), "");
    auto h = c.get("/api/v1/health");
    if (h)
      out["server"] = {{"version", h->value("version", "")}, {"url", cmd.server()}};
    else
      server_error = h.error();
  }
  if (cmd.json_out()) {
    cmd.print_json(out);
  } else {
    cmd.io().out << "Client version: " << FLINKBR_VERSION << "\n";
    if (out.contains("server"))
      cmd.io().out << "Server version: " << str(out["server"], "version") << " (" << cmd.server()
                   << ")\n";
  }
  if (server_error)
    return std::unexpected(std::move(*server_error).context("the server's version"));
  return 0;
}

// Completion words of the tree: the values of the options that take a fixed set.
const std::map<std::string, std::string>& option_values() {
  static const std::map<std::string, std::string> values = {
      {"--path-type", "LocalDir LocalHDFS RemoteHDFS OBS"},
      {"--data-source", "Flink FlinkServiceData"},
      {"--ip-mode", "auto IPv4 IPv6"},
      {"--role", "viewer operator administrator"},
      {"-o", "json yaml wide"},
      {"--output", "json yaml wide"},
  };
  return values;
}

std::string words_of(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// The names (and aliases) of `app`'s subcommands, its long and short flags.
std::vector<std::string> completion_words(CLI::App* app) {
  std::vector<std::string> out;
  for (CLI::App* sub : app->get_subcommands([](CLI::App*) { return true; })) {
    out.push_back(sub->get_name());
    for (const auto& a : sub->get_aliases()) out.push_back(a);
  }
  for (const CLI::Option* o : app->get_options()) {
    for (const auto& l : o->get_lnames()) out.push_back("--" + l);
    for (const auto& sn : o->get_snames()) out.push_back("-" + sn);
  }
  return out;
}

// A bash completion function generated from the command tree: the first two command words pick
// the node, options that take a value skip the word after them, and a few options complete
// their values.
std::string bash_completion(CLI::App& app) {
  std::set<std::string> takes_value;
  std::string cases;
  auto collect = [&](CLI::App* a) {
    for (const CLI::Option* o : a->get_options())
      if (o->nonpositional() && o->get_type_size() != 0) {
        for (const auto& l : o->get_lnames()) takes_value.insert("--" + l);
        for (const auto& sn : o->get_snames()) takes_value.insert("-" + sn);
      }
  };
  collect(&app);
  cases += "    '') words='" + words_of(completion_words(&app)) + "' ;;\n";
  for (CLI::App* top : app.get_subcommands([](CLI::App*) { return true; })) {
    collect(top);
    std::vector<std::string> names = {top->get_name()};
    for (const auto& a : top->get_aliases()) names.push_back(a);
    std::string inner = "        '') words='" + words_of(completion_words(top)) + "' ;;\n";
    for (CLI::App* sub : top->get_subcommands([](CLI::App*) { return true; })) {
      collect(sub);
      std::string label = sub->get_name();
      for (const auto& a : sub->get_aliases()) label += "|" + a;
      inner += "        " + label + ") words='" + words_of(completion_words(sub)) + "' ;;\n";
    }
    std::string label = names[0];
    for (size_t i = 1; i < names.size(); ++i) label += "|" + names[i];
    if (top->get_subcommands([](CLI::App*) { return true; }).empty())
      cases += "    " + label + ") words='" + words_of(completion_words(top)) + "' ;;\n";
    else
      cases += "    " + label + ")\n      case \"$c2\" in\n" + inner + "      esac ;;\n";
  }
  std::string values;
  for (const auto& [opt, v] : option_values()) values += "    " + opt + ") words='" + v + "' ;;\n";
  std::string skip;
  for (const auto& o : takes_value) skip += (skip.empty() ? "" : "|") + o;
  return "# bash completion for flinkbr; load it with: source <(flinkbr completion bash)\n"
         "_flinkbr() {\n"
         "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
         "  local c1='' c2='' skip='' w words='' i\n"
         "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
         "    w=\"${COMP_WORDS[i]}\"\n"
         "    if [[ -n $skip ]]; then skip=''; continue; fi\n"
         "    case \"$w\" in\n"
         "      " +
         skip +
         ") skip=1; continue ;;\n"
         "      -*) continue ;;\n"
         "    esac\n"
         "    if [[ -z $c1 ]]; then c1=$w; elif [[ -z $c2 ]]; then c2=$w; fi\n"
         "  done\n"
         "  case \"$prev\" in\n" +
         values +
         "  esac\n"
         "  if [[ -z $words ]]; then\n"
         "  case \"$c1\" in\n" +
         cases +
         "  esac\n"
         "  fi\n"
         "  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
         "}\n"
         "complete -F _flinkbr flinkbr\n";
}

Result<int> cmd_completion(Command& cmd, const std::string& shell, CLI::App& app) {
  if (shell == "bash") {
    cmd.io().out << bash_completion(app);
  } else {
    // zsh runs the bash function through its bash compatibility layer.
    cmd.io().out << "#compdef flinkbr\n"
                    "# zsh completion for flinkbr; load it with: source <(flinkbr completion zsh)\n"
                    "autoload -U +X compinit && compinit\n"
                    "autoload -U +X bashcompinit && bashcompinit\n"
                 << bash_completion(app);
  }
  return 0;
}

// -- logs

Result<int> cmd_restore_logs(Command& cmd, const std::string& name) {
  Client c = TRY(cmd.client());
  json t = TRY(c.get("/api/v1/restore-tasks/" + url_segment(name)));
  const json log = t.value("log", json::array());
  if (cmd.json_out()) {
    cmd.print_json(log);
    return 0;
  }
  for (const auto& l : log)
    cmd.io().out << str(l, "at") << "  " << str(l, "level") << "  " << str(l, "text", "") << "\n";
  return 0;
}

// ---- The command tree --------------------------------------------------------------------------

// Everything the leaves of the tree bind their arguments to.
struct Args {
  std::string name, cluster, user, role, config, shell;
  std::vector<std::string> names;  // `list`/`get` NAME...
  bool client_only = false;
  bool check_config = false;
  bool password_stdin = false;
  BackupCreateArgs backup;
  RestoreCreateArgs restore;
  FileArgs file;
  bool dry_run = false;
  bool allow_dangling = false;
  int limit = 0;
  int audit_limit = 100;
  int64_t offset = 0;
};

// The names a user may type for the subcommands of `app`.
std::vector<std::string> command_names(CLI::App* app) {
  std::vector<std::string> out;
  for (CLI::App* sub : app->get_subcommands([](CLI::App*) { return true; })) {
    out.push_back(sub->get_name());
    for (const auto& a : sub->get_aliases()) out.push_back(a);
  }
  return out;
}

// The command words checked before CLI11 parses, which would only say "A subcommand is required"
// or "The following argument was not expected": an unknown command named with the closest
// known one, a group without its subcommand with the list of them.
std::optional<std::string> command_word_error(CLI::App& app, const std::vector<std::string>& argv) {
  for (const auto& t : argv)
    if (t == "-h" || t == "--help" || t == "--version") return std::nullopt;
  CLI::App* node = &app;
  std::string path = "flinkbr";
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& t = argv[i];
    if (t == "--server") {
      ++i;
      continue;
    }
    if (t.starts_with("-")) continue;
    const auto names = command_names(node);
    if (names.empty()) return std::nullopt;  // a leaf: the rest are its arguments
    if (std::find(names.begin(), names.end(), t) == names.end()) {
      std::string msg =
          "unknown command '" + t + "'" + (node == &app ? std::string() : " for '" + path + "'");
      if (auto near = closest_word(t, names); !near.empty())
        msg += " (did you mean '" + near + "'?)";
      return msg + "; see " + path + " --help";
    }
    for (CLI::App* sub : node->get_subcommands([](CLI::App*) { return true; }))
      if (sub->check_name(t)) node = sub;
    path += " " + node->get_name();
  }
  if (node != &app && !command_names(node).empty()) {
    std::string list;
    for (CLI::App* sub : node->get_subcommands([](CLI::App*) { return true; }))
      list += (list.empty() ? "" : ", ") + sub->get_name();
    return "'" + path + "' needs a command: " + list + " (see " + path + " --help)";
  }
  return std::nullopt;
}

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
  app.footer(
      "Examples:\n"
      "  flinkbr login --user admin < flinkbr-state/initial-admin-password\n"
      "  flinkbr backup create nightly --cluster flink-prod --data-source Flink --path-type "
      "LocalDir --period 1d\n"
      "  flinkbr backup run nightly --wait\n"
      "  flinkbr restore create undo --from-backup nightly\n"
      "  flinkbr restore start undo --dry-run\n"
      "  flinkbr restore get -o wide\n"
      "Aliases as in velero: get = list, describe = show; restore logs NAME.");

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
    s->add_option("-o,--output", g.output, "Output format: json, yaml or wide (more columns)")
        ->check(CLI::IsMember({"json", "yaml", "wide"}));
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
    s->add_flag("--check-config", a.check_config,
                "Validate the configuration and exit (0 when valid) without starting");
    s->footer(
        "Examples:\n  flinkbr serve --config /etc/flinkbr/flinkbr.yaml\n"
        "  flinkbr serve --config /etc/flinkbr/flinkbr.yaml --check-config");
    leaves.push_back({s, [&]() -> Result<int> { return serve_fn(a.config, a.check_config); }});
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
    s->footer(
        "Examples:\n"
        "  flinkbr backup create nightly --cluster flink-prod --data-source Flink --path-type "
        "LocalDir --period 1d --max-copies 7\n"
        "  flinkbr backup create offsite --cluster flink-prod --data-source Flink --path-type OBS "
        "--path flink-backups/prod");
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
    leaf(grp, "list", "List backup tasks (all, or those named)",
         [&] { return cmd_backup_list(cmd, a.names); })
        ->alias("get")
        ->add_option("NAME", a.names, "Task names");
    s = leaf(grp, "history", "List the records of a backup task, newest first",
             [&] { return cmd_backup_history(cmd, a.name, a.limit); });
    s->add_option("NAME", a.name, "Task name")->required();
    s->add_option("--limit", a.limit, "Show only the newest N records")->check(CLI::PositiveNumber);
    leaf(grp, "show-record", "Show one backup record",
         [&] { return cmd_backup_show_record(cmd, a.name); })
        ->alias("describe")
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
    s->footer(
        "Examples:\n"
        "  flinkbr restore create undo --from-backup nightly\n"
        "  flinkbr restore create undo-3 --from-record 3 --cluster flink-dr\n"
        "  flinkbr restore create r1 --cluster flink-prod --data-source Flink --path-type "
        "LocalDir --source-path /var/lib/flinkbr/LocalBackup/nightly_20260101000000/"
        "1.18.1_Flink_20260102000000.tar.gz");
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
    s->footer(
        "Examples:\n"
        "  flinkbr restore start undo --dry-run      # works while Flink runs\n"
        "  flinkbr service stop flink-prod && flinkbr restore start undo --wait");
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
    leaf(grp, "list", "List restoration tasks (all, or those named)",
         [&] { return cmd_restore_list(cmd, a.names); })
        ->alias("get")
        ->add_option("NAME", a.names, "Task names");
    leaf(grp, "show", "Show a restoration task with its attempts, steps and log",
         [&] { return cmd_restore_show(cmd, a.name); })
        ->alias("describe")
        ->add_option("NAME", a.name, "Task name")
        ->required();
    leaf(grp, "logs", "Print the log of the latest attempt of a restoration",
         [&] { return cmd_restore_logs(cmd, a.name); })
        ->add_option("NAME", a.name, "Task name")
        ->required();
    leaf(grp, "delete", "Delete a restoration task",
         [&] { return cmd_restore_delete(cmd, a.name); })
        ->add_option("NAME", a.name, "Task name")
        ->required();
  }

  // user
  {
    const auto kRoles = CLI::IsMember({"viewer", "operator", "administrator"});
    CLI::App* grp = group("user", "Users (administrators; change-password: every user)");
    CLI::App* s = leaf(grp, "create", "Create a user (password on stdin)",
                       [&] { return cmd_user_create(cmd, a.name, a.role); });
    s->add_option("NAME", a.name, "User name")->required();
    s->add_option("--role", a.role, "viewer, operator or administrator")->required()->check(kRoles);
    leaf(grp, "list", "List users", [&] { return cmd_user_list(cmd); })->alias("get");
    s = leaf(grp, "set-role", "Change the role of another user (it applies to their open sessions)",
             [&] { return cmd_user_set_role(cmd, a.name, a.role); });
    s->footer("Examples:\n  flinkbr user set-role bob --role operator");
    s->add_option("NAME", a.name, "User name")->required();
    s->add_option("--role", a.role, "viewer, operator or administrator")->required()->check(kRoles);
    s = leaf(grp, "reset-password",
             "Set another user's password (prompted twice, or --password-stdin); their sessions "
             "end",
             [&] { return cmd_user_reset_password(cmd, a.name, a.password_stdin); });
    s->footer(
        "Examples:\n  flinkbr user reset-password bob\n"
        "  pwgen -s 20 1 | tee bob.txt | flinkbr user reset-password bob --password-stdin");
    s->add_option("NAME", a.name, "User name")->required();
    s->add_flag("--password-stdin", a.password_stdin,
                "Read the new password from standard input (one line) instead of a prompt");
    s = leaf(grp, "delete", "Delete another user; their sessions end",
             [&] { return cmd_user_delete(cmd, a.name); });
    s->footer("Examples:\n  flinkbr user delete bob");
    s->add_option("NAME", a.name, "User name")->required();
    s = leaf(grp, "change-password",
             "Change your own password (the current one, then the new one); your other sessions "
             "end",
             [&] { return cmd_change_password(cmd, a.password_stdin); });
    s->alias("passwd");
    s->footer(
        "Examples:\n  flinkbr user change-password\n"
        "  printf '%s\\n%s\\n' \"$OLD\" \"$NEW\" | flinkbr user change-password --password-stdin");
    s->add_flag("--password-stdin", a.password_stdin,
                "Read the current and the new password from standard input (two lines)");
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

  // version, completion
  leaf(&app, "version", "Print the client's and the daemon's version", [&] {
    return cmd_version(cmd, a.client_only);
  })->add_flag("--client", a.client_only, "Only the client's version (no daemon asked)");
  leaf(&app, "completion", "Print a shell completion script (bash or zsh)",
       [&] { return cmd_completion(cmd, a.shell, app); })
      ->footer(
          "Examples:\n  source <(flinkbr completion bash)\n"
          "  flinkbr completion zsh > \"${fpath[1]}/_flinkbr\"")
      ->add_option("SHELL", a.shell, "bash or zsh")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh"}));

  if (auto e = command_word_error(app, argv)) {
    io.err << error_line({Errc::kInvalidArgument, *e}) << "\n";
    return errc_exit_code(Errc::kInvalidArgument);
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
