// The flinkbr command line. Every command but `serve` is a client of a running daemon
// (--server URL, default http://127.0.0.1:8080 or $FLINKBR_SERVER; token from `flinkbr login`
// or $FLINKBR_TOKEN). `serve` is handed to the daemon through `serve_fn` so that the client
// does not link the server.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace flinkbr::cli {

// Runs the daemon with a config file path ("" = embedded default), or with `check_only` only
// validates that configuration (serve --check-config); returns the exit status.
using ServeFn = std::function<int(const std::string& config_path, bool check_only)>;

// Parses argv and runs one command; returns the process exit status.
int run(int argc, char** argv, const ServeFn& serve_fn);

// ---- Below: the pieces of `run`, declared for the unit tests (src/cli/*_test.cc). ---------------

// Where a command reads and writes. run(argc, argv) uses the process's standard streams and
// asks isatty() for the flags.
struct Io {
  std::istream& in;
  std::ostream& out;
  std::ostream& err;
  bool stdin_is_tty = false;   // prompt for passwords without echo
  bool stderr_is_tty = false;  // --wait draws a progress bar instead of plain lines
  // Pause between two polls of --wait (the product waits 500 ms; tests shorten it).
  int poll_interval_ms = 500;
};

// As run(argc, argv), with the arguments after the program name and explicit streams.
int run(const std::vector<std::string>& args, const ServeFn& serve_fn, Io& io);

// The one line printed on standard error for a failed command: "flinkbr: <message>", with the
// field named when the message does not already name it.
std::string error_line(const Error& e);
// The flag a user types for an API field ("namenode_ip" -> "--namenode-ip", "name" -> "NAME").
std::string flag_for_field(std::string_view field);
// The daemon's error with the API field replaced by the flag wherever the message names it, so
// that the user reads what they typed.
Error with_flag_names(Error e);

// ---- Credentials ($FLINKBR_CONFIG_DIR or ~/.config/flinkbr)/credentials.json ------------------

struct Credentials {
  std::string server;
  std::string token;
  std::string user;
};

// $FLINKBR_CONFIG_DIR/credentials.json, else $HOME/.config/flinkbr/credentials.json.
Result<std::string> credentials_path();
// std::nullopt when the file does not exist; kInvalidArgument when it is not such a JSON object.
Result<std::optional<Credentials>> load_credentials(const std::string& path);
// Creates the directory (0700) when missing and replaces the file atomically (temporary file
// with mode 0600, fsync, rename, fsync of the directory).
Status save_credentials(const std::string& path, const Credentials& c);
// Removes the file; ok when it did not exist.
Status remove_credentials(const std::string& path);

// A password for `login` and `user create`: the first line of `in` when it is not a terminal,
// otherwise read from the terminal after `prompt` without echo. kInvalidArgument when empty.
Result<std::string> read_password(Io& io, const std::string& prompt);

// ---- Talking to the daemon ----------------------------------------------------------------------

// Server URL as given (--server, $FLINKBR_SERVER or the default), without a trailing slash.
std::string normalize_server(std::string url);

// One JSON call of the REST API. Not thread-safe.
class Client {
 public:
  // `server` like "http://127.0.0.1:8080" or "https://host:8443/prefix"; `token` may be "".
  // `token_hint` is appended to "not logged in" messages (how to get credentials).
  Client(std::string server, std::string token, std::string token_hint = {});
  // GET/POST/DELETE `path` (starting with "/api/v1/"); the parsed JSON answer ({} when empty) on
  // 2xx, the API's error otherwise, kUnavailable when the daemon cannot be reached.
  Result<nlohmann::json> get(const std::string& path);
  Result<nlohmann::json> post(const std::string& path,
                              const nlohmann::json& body = nlohmann::json::object());
  Result<nlohmann::json> del(const std::string& path);
  // Every item of a paged list (GET path?limit=&offset= until a short page); at most `max`.
  Result<nlohmann::json> get_all(const std::string& path, size_t max = SIZE_MAX);
  // Follows GET /api/v1/events (server-sent events): `on_event` gets each event's type and JSON
  // data, `on_tick` is called after every chunk received (the first one opens the stream;
  // keep-alives come every 15 s). Returns ok once a callback returned false; otherwise the
  // error that ended the stream (the daemon's answer when it refused it, kUnavailable when the
  // connection broke). Blocks the calling thread.
  [[nodiscard]] Status follow_events(
      const std::function<bool(const std::string& type, const nlohmann::json& data)>& on_event,
      const std::function<bool()>& on_tick);
  const std::string& server() const { return server_; }

 private:
  Result<nlohmann::json> call(const std::string& method, const std::string& path,
                              const nlohmann::json* body);
  std::string server_;
  std::string token_;
  std::string token_hint_;
};

// Builds the Error of a non-2xx answer from its body ({"error":{...}}) or, failing that, its
// HTTP status.
Error error_from_response(int status, std::string_view body);
// Percent-encodes one path segment (names go into URLs).
std::string url_segment(std::string_view s);

// ---- Output -------------------------------------------------------------------------------------

// "[#########-----]  62%  stage  restore-x": `width` characters between the brackets.
std::string render_progress_bar(int percent, std::string_view stage, std::string_view name,
                                int width = 30);
// Columns aligned on the widest cell, two spaces apart, a header row first.
std::string render_table(const std::vector<std::string>& headers,
                         const std::vector<std::vector<std::string>>& rows);
// 1536 -> "1.5 KiB".
std::string human_bytes(uint64_t n);
// A run's progress_detail for the progress line: "write 1.5 MiB/4.0 MiB 2.0 MiB/s" ("write 1.5
// MiB 2.0 MiB/s" with an unknown total, the step alone before any byte); "" when absent.
std::string render_progress_detail(const nlohmann::json& detail);
// The JSON as YAML (-o yaml): block style, strings double-quoted as JSON quotes them (a YAML
// double-quoted scalar reads them back the same), keys plain when they are simple words.
std::string render_yaml(const nlohmann::json& j);
// The closest of `candidates` to a mistyped `word` (a prefix first, else edit distance at most 2),
// "" when none is close: "did you mean ...".
std::string closest_word(std::string_view word, const std::vector<std::string>& candidates);
// The human text of a restore dry run (Engine::preview_restore's JSON).
std::string render_preview(const nlohmann::json& preview, size_t max_entries = 10);

}  // namespace flinkbr::cli
