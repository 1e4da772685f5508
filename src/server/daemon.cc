#include "server/daemon.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <thread>

#include <httplib.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "auth/auth.h"
#include "common/allocator.h"
#include "common/private_file.h"
#include "config/config.h"
#include "group/notify_listener.h"
#include "group/state_dir_lock.h"
#include "notify/task_notifier.h"
#include "notify/webhook.h"
#include "server/api.h"
#include "server/demo.h"
#include "server/group_member.h"
#include "server/listen_socket.h"
#include "server/relay.h"
#include "source/registry.h"
#include "store/database.h"
#include "store/store.h"
#include "task/engine.h"
#include "task/events.h"

namespace flinkbr::server {

namespace fs = std::filesystem;

namespace {

int fail(const Error& e) {
  std::fprintf(stderr, "flinkbr: %s\n", e.message.c_str());
  return errc_exit_code(e.code);
}

void setup_logging(const std::string& state_dir) {
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  try {
    sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
        (fs::path(state_dir) / "logs" / "flinkbr.log").string(), 10 * 1024 * 1024, 5));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flinkbr: cannot open the log file: %s\n", e.what());
  }
  auto logger = std::make_shared<spdlog::logger>("flinkbr", sinks.begin(), sinks.end());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost" || host.starts_with("127.");
}

// The console's static files: configured, or web/dist found beside the binary or above it
// (a build tree inside the repository), or share/flinkbr/console of an installation.
std::string find_console_dir(const config::Config& config) {
  if (!config.server.console_dir.empty()) return config.server.console_dir;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path();
       dir = dir.parent_path()) {
    for (const char* rel : {"web/dist", "share/flinkbr/console"})
      if (fs::exists(dir / rel / "index.html", ec)) return (dir / rel).string();
  }
  return {};
}

// The webhook's secret: the file's content without its final line break, from a file that only
// the daemon's user can read (as server.database_password_file). Never logged; an error names
// the key and the file only.
Result<std::string> read_webhook_secret(const std::string& path) {
  auto secret = read_private_file(path, "server.webhook_secret_file", "the webhook secret file");
  if (!secret)
    return std::unexpected(std::move(secret.error()).context("server.webhook_secret_file"));
  return secret;
}

// Where a webhook receiver can reach this daemon, for the notices' "manager" field.
std::string manager_address(const config::ServerConfig& s) {
  std::string host = s.listen_host;
  if (host == "0.0.0.0" || host == "::") {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) == 0 && name[0]) host = name;
  } else if (host.find(':') != std::string::npos) {
    host = "[" + host + "]";
  }
  return std::string(s.tls_cert_file.empty() ? "http" : "https") + "://" + host + ":" +
         std::to_string(s.listen_port);
}

Status prepare_state_dir(const std::string& dir) {
  std::error_code ec;
  for (const char* sub : {"", "logs", "LocalBackup", "safety", "staging"}) {
    fs::create_directories(fs::path(dir) / sub, ec);
    if (ec) return errno_error("creating the state directory " + dir, ec.value());
  }
  ::chmod(dir.c_str(), 0700);
  return ok();
}

}  // namespace

// The configuration the daemon would serve: the file (or the embedded default), FLINKBR_LISTEN
// applied, every source's settings validated.
Result<config::Config> load_effective_config(const std::string& config_path) {
  auto loaded = config_path.empty() ? Result<config::Config>(config::embedded_default())
                                    : config::load_config(config_path);
  if (!loaded) return loaded;
  // FLINKBR_LISTEN=host:port overrides server.listen (lets tests and a second instance run the
  // embedded default on another port).
  if (const char* listen = std::getenv("FLINKBR_LISTEN"); listen && *listen) {
    auto over = config::parse_config(std::string("server:\n  listen: \"") + listen +
                                         "\"\nclusters: [{name: x, version: \"1\"}]\n",
                                     "FLINKBR_LISTEN");
    if (!over) return std::unexpected(over.error());
    loaded->server.listen_host = over->server.listen_host;
    loaded->server.listen_port = over->server.listen_port;
  }
  for (const auto& cluster : loaded->clusters)
    for (const auto* list : {&cluster.metadata, &cluster.service_data})
      for (const auto& src : *list) TRY(source::validate_config(src));
  if (!loaded->server.webhook_secret_file.empty())
    TRY(read_webhook_secret(loaded->server.webhook_secret_file));
  // The state database's URI and password (file mode, owner) as a start checks them, so that
  // --check-config passes exactly what serve accepts.
  TRY(store::postgres_target(loaded->server, std::getenv("FLINKBR_DATABASE_PASSWORD")));
  return loaded;
}

int check_config(const std::string& config_path) {
  auto loaded = load_effective_config(config_path);
  if (!loaded) return fail(loaded.error());
  size_t sources = 0;
  for (const auto& cluster : loaded->clusters)
    sources += cluster.metadata.size() + cluster.service_data.size();
  std::printf(
      "%s: the configuration is valid: %zu cluster%s, %zu source%s; it would serve on %s:%d "
      "with its state in %s\n",
      config_path.empty() ? "the embedded default" : config_path.c_str(), loaded->clusters.size(),
      loaded->clusters.size() == 1 ? "" : "s", sources, sources == 1 ? "" : "s",
      loaded->server.listen_host.c_str(), static_cast<int>(loaded->server.listen_port),
      loaded->server.state_dir.c_str());
  return 0;
}

int run_daemon(const std::string& config_path) {
  // Before any thread: a daemon's memory must come back after each task (common/allocator.h).
  tune_allocator();
  auto loaded = load_effective_config(config_path);
  if (!loaded) return fail(loaded.error());
  const config::Config config = std::move(*loaded);

  // SQLite mode: one daemon per state directory, checked before anything in it changes (a
  // second daemon once "recovered" a restore the first was running). In PostgreSQL mode the
  // members of a manager group share the state directory and the election decides which one
  // acts: this lock must not be taken there.
  const bool group_mode = !config.server.database.empty();
  std::optional<group::StateDirLock> state_lock;
  if (!group_mode) {
    auto acquired = group::StateDirLock::acquire(config.server.state_dir);
    if (!acquired) return fail(acquired.error());
    state_lock.emplace(std::move(*acquired));
  }

  // The listen address next, still before anything changes: one already in use is refused,
  // never shared.
  std::unique_ptr<httplib::Server> http;
  bool tls = !config.server.tls_cert_file.empty();
  if (tls)
    http = std::make_unique<httplib::SSLServer>(config.server.tls_cert_file.c_str(),
                                                config.server.tls_key_file.c_str());
  else
    http = std::make_unique<httplib::Server>();
  if (!http->is_valid())
    return fail(Error{Errc::kInvalidArgument, "cannot load the TLS certificate or key",
                      "server.tls_cert_file"});
  ListenSocket listen_socket(*http);
  const std::string& host = config.server.listen_host;
  if (!http->bind_to_port(host.c_str(), config.server.listen_port)) {
    int err = errno;
    std::string address = (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
                          std::to_string(config.server.listen_port);
    return fail(Error{Errc::kUnavailable,
                      err == EADDRINUSE
                          ? "cannot listen on " + address +
                                ": the address is already in use by another process (another "
                                "flinkbr?); it is never shared. Stop that process or set "
                                "server.listen (or FLINKBR_LISTEN) to a free address"
                          : "cannot listen on " + address + ": " + std::strerror(err) +
                                " (not an address of this machine?)",
                      "server.listen"});
  }

  if (auto st = prepare_state_dir(config.server.state_dir); !st) return fail(st.error());
  setup_logging(config.server.state_dir);
  spdlog::info("flinkbr {} starting; state in {}", FLINKBR_VERSION, config.server.state_dir);
  if (config_path.empty()) {
    spdlog::info("no --config given: serving the embedded default with its demo cluster");
    if (auto st = seed_demo(config); !st) return fail(st.error());
  }

  // Block the stop signals in every thread; one thread waits for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  auto store = store::open_store(config.server);
  if (!store) return fail(store.error());
  auth::Auth auth(**store, config.server.token_ttl_seconds);
  auto password = auth.bootstrap(config.server.state_dir);
  if (!password) return fail(password.error());
  if (*password) {
    // Printed once, on the first start; the file keeps it for scripts.
    std::fprintf(stderr,
                 "\nflinkbr: created the administrator 'admin' with the password:\n\n    %s\n\n"
                 "It is also in %s/initial-admin-password (readable only by this user).\n\n",
                 (*password)->c_str(), config.server.state_dir.c_str());
  }

  task::EventBus events;
  // A group member (server.database set) is the engine's fence: a standby starts no run and
  // writes no task state; the member that becomes active recovers the runs the dead active left
  // and starts the scheduler (server/group_member.h). Alone (SQLite), the daemon is active.
  task::Engine* engine_ptr = nullptr;  // outlives `member`, whose activation reads it
  std::unique_ptr<GroupMember> member;
  // A group's command relay and event feed (server/relay.h): a standby's calls that run work are
  // carried out by the active; every member's event stream reads the group's feed
  // (`stream_events`) instead of its own engine's.
  std::unique_ptr<group::NotifyListener> listener;
  std::unique_ptr<GroupRelay> relay;
  task::EventBus stream_events;
  std::unique_ptr<task::Engine> engine_holder;
  if (group_mode) {
    auto target = store::postgres_target(config.server, std::getenv("FLINKBR_DATABASE_PASSWORD"));
    if (!target) return fail(target.error());
    auto started =
        GroupMember::start(config.server, (*target)->conninfo, (*target)->password,
                           manager_address(config.server), **store, [&engine_ptr]() -> Status {
                             if (!engine_ptr)
                               return make_error(Errc::kCancelled, "the daemon stopped");
                             return engine_ptr->recover();
                           });
    if (!started) return fail(started.error());
    member = std::move(*started);
    listener = std::make_unique<group::NotifyListener>(
        (*target)->conninfo, std::vector<std::string>{std::string(store::kCommandsChannel),
                                                      std::string(store::kResultsChannel),
                                                      std::string(store::kEventsChannel)});
    relay = std::make_unique<GroupRelay>(
        **store, *member, listener.get(),
        RelayOptions{.wait_for_claim = std::chrono::seconds(config.server.relay_wait_seconds)});
    engine_holder = std::make_unique<task::Engine>(config, **store, events, member.get());
    engine_ptr = engine_holder.get();
    member->ready();
  } else {
    engine_holder = std::make_unique<task::Engine>(config, **store, events);
    if (auto st = engine_holder->recover(); !st) return fail(st.error());
  }
  task::Engine& engine = *engine_holder;
  // The webhook reads the event feed on its own threads: the engine does not know about it.
  std::unique_ptr<notify::WebhookSender> webhook;
  std::unique_ptr<notify::TaskNotifier> notifier;
  if (!config.server.webhook_url.empty()) {
    std::string secret;
    if (!config.server.webhook_secret_file.empty()) {
      auto read = read_webhook_secret(config.server.webhook_secret_file);
      if (!read) {
        engine.shutdown();
        return fail(read.error());
      }
      secret = std::move(*read);
    }
    webhook = std::make_unique<notify::WebhookSender>(
        notify::WebhookOptions{.url = config.server.webhook_url, .secret = std::move(secret)});
    notifier = std::make_unique<notify::TaskNotifier>(
        notify::TaskNotifierOptions{.on_success = config.server.webhook_on_success,
                                    .manager = manager_address(config.server)},
        events, **store, *webhook);
    spdlog::info("webhook: notices of {} runs go to {}{}",
                 config.server.webhook_on_success ? "ended" : "failed",
                 notify::redacted_url(config.server.webhook_url),
                 config.server.webhook_secret_file.empty() ? "" : ", signed");
  }

  Api api(config, engine, auth, **store, relay ? stream_events : events);
  if (member) api.set_health_extras([&member] { return member->health(); });
  if (relay) {
    api.set_relay(relay.get());
    relay->start([&api](const store::RelayCommand& c) { return api.execute(c); }, events,
                 stream_events);
  }
  api.mount(*http, find_console_dir(config));
  if (auto st = listen_socket.raise_backlog(); !st)
    spdlog::warn("{}; bursts of clients may wait", st.error().message);
  if (!is_loopback(host) && !tls)
    spdlog::warn(
        "!!! flinkbr listens on {} WITHOUT TLS: passwords and tokens cross the network in clear "
        "text. Set server.tls_cert_file and server.tls_key_file, or listen on 127.0.0.1. !!!",
        host);

  std::thread signal_thread([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    spdlog::info("signal {} received; stopping", sig);
    events.close();
    stream_events.close();
    http->stop();
  });
  api.set_ready(true);
  spdlog::info("listening on {}://{}:{}", tls ? "https" : "http", host, config.server.listen_port);
  http->listen_after_bind();

  // listen_after_bind returned: either a signal stopped us, or the server failed.
  // The relay first: a command it carries out uses the API and the engine.
  if (relay) relay->stop();
  events.close();
  stream_events.close();
  engine.shutdown();
  // Leaves the group (the lease goes to a standby at its next look) once no run is left.
  relay.reset();
  listener.reset();
  member.reset();
  // After the engine: the runs it ended while stopping are queued; a POST in flight finishes.
  if (notifier) notifier->stop();
  if (webhook) webhook->stop();
  if (signal_thread.joinable()) {
    pthread_kill(signal_thread.native_handle(), SIGTERM);
    signal_thread.join();
  }
  spdlog::info("stopped");
  return 0;
}

}  // namespace flinkbr::server
