#include "service/service_controller.h"

#include <httplib.h>

#include <mutex>
#include <thread>
#include <utility>

#include "common/process.h"

namespace flinkbr::service {

std::string_view to_string(ServiceState s) {
  switch (s) {
    case ServiceState::kRunning:
      return "running";
    case ServiceState::kStopped:
      return "stopped";
    case ServiceState::kUnknown:
      break;
  }
  return "unknown";
}

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kStatusCommandTimeout = 30s;
constexpr auto kRestConnectTimeout = 3s;
constexpr auto kRestReadTimeout = 5s;
constexpr auto kPollInterval = 200ms;

std::string first_line(std::string_view text) {
  auto start = text.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return {};
  text.remove_prefix(start);
  text = text.substr(0, text.find_first_of("\r\n"));
  if (text.size() > 200) return std::string(text.substr(0, 200)) + "...";
  return std::string(text);
}

// "exited 3: some output" or "exited 3 (no output)".
std::string describe_exit(const CommandResult& r) {
  std::string s = r.exit_code >= 0 ? "exited " + std::to_string(r.exit_code) : "was killed";
  std::string line = first_line(r.output);
  return line.empty() ? s + " (no output)" : s + ": " + line;
}

// Splits "http://host:8081/prefix/" into "http://host:8081" (what httplib::Client takes) and the
// path prefix "/prefix" (without a trailing slash).
std::pair<std::string, std::string> split_url(std::string_view url) {
  auto scheme_end = url.find("://");
  size_t host_start = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  auto path_start = url.find('/', host_start);
  if (path_start == std::string_view::npos) return {std::string(url), ""};
  std::string path(url.substr(path_start));
  while (!path.empty() && path.back() == '/') path.pop_back();
  return {std::string(url.substr(0, path_start)), path};
}

struct RestProbe {
  bool running = false;
  std::string detail;
};

RestProbe probe_rest(const std::string& rest_url) {
  auto [base, prefix] = split_url(rest_url);
  std::string target = prefix + "/overview";
  try {
    httplib::Client client(base);
    if (!client.is_valid()) return {false, "REST probe: invalid rest_url '" + rest_url + "'"};
    client.set_connection_timeout(kRestConnectTimeout);
    client.set_read_timeout(kRestReadTimeout);
    client.set_follow_location(false);
    auto res = client.Get(target);
    if (!res)
      return {false, "REST probe: GET " + base + target + " failed (" +
                         httplib::to_string(res.error()) + ")"};
    if (res->status == 200) return {true, "REST probe: GET " + base + target + " answered 200"};
    return {false, "REST probe: GET " + base + target + " answered " + std::to_string(res->status)};
  } catch (const std::exception& e) {
    return {false, std::string("REST probe: ") + e.what()};
  }
}

class CommandController final : public ServiceController {
 public:
  explicit CommandController(config::ServiceConfig cfg) : cfg_(std::move(cfg)) {}

  // Not serialized: run_command and the per-call HTTP client share nothing.
  ServiceStatus status() override {
    std::string rest_detail;
    if (!cfg_.rest_url.empty()) {
      RestProbe probe = probe_rest(cfg_.rest_url);
      if (probe.running) return {ServiceState::kRunning, probe.detail};
      rest_detail = probe.detail;
    }
    if (cfg_.status.empty()) {
      if (!rest_detail.empty())
        return {ServiceState::kUnknown, rest_detail + "; no status command configured"};
      return {ServiceState::kUnknown, "no status command or rest_url configured"};
    }
    auto with_rest = [&](std::string detail) {
      return rest_detail.empty() ? detail : detail + "; " + rest_detail;
    };
    auto r = run_command(cfg_.status, kStatusCommandTimeout);
    if (!r)
      return {ServiceState::kUnknown,
              with_rest("status command could not run: " + r.error().message)};
    if (r->timed_out)
      return {ServiceState::kUnknown,
              with_rest("status command timed out after " +
                        std::to_string(kStatusCommandTimeout.count()) + " s")};
    if (r->exit_code == 0) return {ServiceState::kRunning, with_rest("status command exited 0")};
    if (r->exit_code == 3) return {ServiceState::kStopped, with_rest("status command exited 3")};
    return {ServiceState::kUnknown, with_rest("status command " + describe_exit(*r))};
  }

  Status stop(std::chrono::seconds timeout) override {
    return change("stop", cfg_.stop, ServiceState::kStopped, timeout);
  }
  Status start(std::chrono::seconds timeout) override {
    return change("start", cfg_.start, ServiceState::kRunning, timeout);
  }

 private:
  Status change(std::string_view verb, const std::string& command, ServiceState wanted,
                std::chrono::seconds timeout) {
    std::lock_guard lock(mu_);
    const auto deadline = Clock::now() + timeout;
    if (command.empty())
      return failed_precondition("no " + std::string(verb) +
                                 " command configured for this cluster");
    // Already there: do not run the command (`kill $(cat pidfile)` on a stopped service fails).
    if (status().state == wanted) return ok();

    auto command_timeout = cfg_.timeout_seconds > 0 ? std::chrono::seconds(cfg_.timeout_seconds)
                                                    : std::max(timeout, std::chrono::seconds(1));
    auto r = TRY_CTX(run_command(command, command_timeout), std::string(verb) + " command");
    if (r.timed_out)
      return make_error(Errc::kTimeout,
                        std::string(verb) + " command did not finish within " +
                            std::to_string(command_timeout.count()) + " s",
                        {}, true);
    if (r.exit_code != 0)
      return failed_precondition(std::string(verb) + " command " + describe_exit(r));

    // Poll at least once, even when the command used up the time.
    for (;;) {
      ServiceStatus s = status();
      if (s.state == wanted) return ok();
      if (Clock::now() >= deadline)
        return make_error(Errc::kTimeout,
                          "the service is still " + std::string(to_string(s.state)) + " after " +
                              std::to_string(timeout.count()) + " s (" + s.detail + ")",
                          {}, true);
      std::this_thread::sleep_for(
          std::min<Clock::duration>(kPollInterval, deadline - Clock::now()));
    }
  }

  const config::ServiceConfig cfg_;
  std::mutex mu_;  // serializes stop() and start()
};

}  // namespace

std::unique_ptr<ServiceController> make_controller(const config::ServiceConfig& cfg) {
  return std::make_unique<CommandController>(cfg);
}

}  // namespace flinkbr::service
