#include "server/group_member.h"

#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include <spdlog/spdlog.h>

namespace flinkbr::server {

Result<std::unique_ptr<GroupMember>> GroupMember::start(
    const config::ServerConfig& server, const std::string& conninfo, const std::string& password,
    const std::string& address, store::Store& store, std::function<Status()> on_active) {
  // The election's session takes the password the libpq way (it never puts it in a message).
  // Set once here, before the election's thread exists.
  if (!password.empty()) ::setenv("PGPASSWORD", password.c_str(), 1);
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  group::ElectionOptions options{
      .conninfo = conninfo,
      .schema = std::string(store::kDefaultPostgresSchema),
      .holder = std::string(host) + ":" + std::to_string(::getpid()),
      .address = address,
      .lease_timeout = std::chrono::seconds(server.lease_timeout_seconds),
      .renew = std::chrono::seconds(server.lease_renew_seconds)};
  std::unique_ptr<GroupMember> member(new GroupMember(store, std::move(on_active)));
  member->address_ = address;
  GroupMember* self = member.get();
  group::Election::Callbacks callbacks{
      .became_active = [self](int64_t epoch) { self->became_active(epoch); },
      .stepped_down =
          [](int64_t epoch, const std::string& reason) {
            // No further write, no further cluster step: see the header.
            spdlog::critical(
                "stepped down from active (epoch {}): {}; exiting ({}) to rejoin the "
                "group as a standby",
                epoch, reason, kSteppedDownExitCode);
            spdlog::default_logger()->flush();
            std::_Exit(kSteppedDownExitCode);
          }};
  member->election_ = TRY(group::Election::start(std::move(options), std::move(callbacks)));
  return member;
}

void GroupMember::ready() {
  if (!readied_.exchange(true)) ready_.set_value();
}

GroupMember::~GroupMember() {
  election_.reset();
  ready();  // an activation waiting for a daemon that never got ready goes on, and fails
  if (activation_.joinable()) activation_.join();
}

void GroupMember::became_active(int64_t epoch) {
  {
    std::lock_guard g(mu_);
    fenced_ = store_.fenced(epoch);
    epoch_.store(epoch);
    writes_.store(fenced_.get());
  }
  spdlog::info("this manager is now the active one of its group (epoch {})", epoch);
  // Recovery may take a while (a safety copy put back): off the election's thread.
  activation_ = std::thread([this] {
    ready_future_.wait();
    if (auto st = on_active_(); !st)
      spdlog::error("as the new active manager: {}", st.error().message);
  });
}

Status GroupMember::check() {
  if (writes_.load() == nullptr)
    return make_error(
        Errc::kUnavailable,
        "this manager is a standby of its group; the active manager runs tasks" + [&] {
          auto info = election_ ? election_->info() : group::GroupInfo{};
          return info.active_address.empty() ? std::string() : " (" + info.active_address + ")";
        }());
  return election_->check();
}

store::Store& GroupMember::writes_to(store::Store& plain) {
  store::Store* fenced = writes_.load();
  return fenced ? *fenced : plain;
}

std::string GroupMember::interrupted_by() const {
  return "the active manager stopped (fail-over to " + address_ + ", epoch " +
         std::to_string(epoch_.load()) + ")";
}

std::string GroupMember::active_address() const {
  return election_ ? election_->info().active_address : std::string();
}

nlohmann::json GroupMember::health() const {
  const group::GroupInfo info = election_->info();
  nlohmann::json j{{"role", std::string(group::role_name(info.role))},
                   {"epoch", info.epoch},
                   {"active_address", info.active_address}};
  if (info.role == group::Role::kStandby && !info.reason.empty()) j["standby_reason"] = info.reason;
  return j;
}

}  // namespace flinkbr::server
