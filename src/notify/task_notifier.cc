#include "notify/task_notifier.h"

#include <spdlog/spdlog.h>

#include "common/domain.h"

namespace flinkbr::notify {

namespace {

constexpr size_t kRemember = 4096;  // notified runs remembered, to notify each once

nlohmann::json time_or_null(int64_t t) {
  if (t <= 0) return nullptr;
  return format_iso_time(t);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

TaskNotifier::TaskNotifier(TaskNotifierOptions options, task::EventBus& events, store::Store& store,
                           WebhookSender& sender)
    : options_(std::move(options)), events_(events), store_(store), sender_(sender) {
  int64_t after = events_.last_seq();
  thread_ = std::thread([this, after] { run(after); });
}

TaskNotifier::~TaskNotifier() {
  stop();
}

void TaskNotifier::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

bool TaskNotifier::first_time(const std::string& key) {
  if (seen_.contains(key)) return false;
  seen_.insert(key);
  seen_order_.push_back(key);
  if (seen_order_.size() > kRemember) {
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
  }
  return true;
}

void TaskNotifier::run(int64_t after) {
  while (!stopping_) {
    auto start = std::chrono::steady_clock::now();
    auto batch = events_.wait_after(after, std::chrono::milliseconds(200));
    if (batch.empty() && std::chrono::steady_clock::now() - start < std::chrono::milliseconds(50))
      std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the bus was closed
    for (const auto& e : batch) {
      after = std::max(after, e.seq);
      nlohmann::json notice;
      try {
        notice = notice_for(e);
      } catch (const std::exception& ex) {  // a malformed event must not end the thread
        spdlog::error("webhook: cannot read a {} event: {}", e.type, ex.what());
        continue;
      }
      if (notice.is_null()) continue;
      std::string event = notice["event"].get<std::string>();
      sender_.post(std::move(event), std::move(notice));
    }
  }
}

nlohmann::json TaskNotifier::notice_for(const task::Event& e) {
  nlohmann::json n;
  if (e.type == "backup") {
    const std::string status = e.data.value("status", "");
    if (status != "Failed" && !(status == "Succeeded" && options_.on_success)) return nullptr;
    const int64_t id = e.data.value("id", int64_t{0});
    // The database has the whole record (the event has a summary) and is final once the event
    // says so: the engine records the result before it publishes it.
    auto rec = store_.get_backup_record(id);
    if (!rec) {
      spdlog::error("webhook: backup record {}: {}", id, rec.error().message);
      return nullptr;
    }
    if (rec->status != BackupStatus::kFailed && rec->status != BackupStatus::kSucceeded)
      return nullptr;
    if (!first_time("b" + std::to_string(id))) return nullptr;
    std::string cluster;
    if (auto task = store_.get_backup_task(rec->task_name)) cluster = task->cluster;
    const std::string st(to_string(rec->status));
    n = {{"event", "backup." + lower(st)},
         {"kind", "backup"},
         {"task", rec->task_name},
         {"status", st},
         {"error", rec->error},
         {"started_at", time_or_null(rec->started_at)},
         {"ended_at", time_or_null(rec->ended_at)},
         {"record_id", rec->id},
         {"attempt", nullptr},
         {"path", rec->backup_path},
         {"cluster", cluster},
         {"data_source", rec->backup_object}};
  } else if (e.type == "restore") {
    const std::string state = e.data.value("state", "");
    if (state != "Failed" && !(state == "Succeeded" && options_.on_success)) return nullptr;
    const std::string name = e.data.value("name", "");
    const int number = e.data.value("attempt", 0);
    auto task = store_.get_restore_task(name);
    if (!task) {
      spdlog::error("webhook: restoration task {}: {}", name, task.error().message);
      return nullptr;
    }
    auto attempts = store_.list_attempts(task->id);
    if (!attempts) {
      spdlog::error("webhook: restoration task {}: {}", name, attempts.error().message);
      return nullptr;
    }
    const store::RestoreAttempt* a = nullptr;
    for (const auto& x : *attempts)
      if (x.number == number) a = &x;
    // Only an attempt that has ended: the first event of a retry still shows the task's old
    // state.
    if (!a || a->ended_at == 0 ||
        (a->state != RestoreState::kFailed && a->state != RestoreState::kSucceeded))
      return nullptr;
    if (a->state == RestoreState::kSucceeded && !options_.on_success) return nullptr;
    if (!first_time("r" + std::to_string(task->id) + "-" + std::to_string(number))) return nullptr;
    const std::string st(to_string(a->state));
    n = {{"event", "restore." + lower(st)},
         {"kind", "restore"},
         {"task", task->name},
         {"status", st},
         {"error", a->error},
         {"started_at", time_or_null(a->started_at)},
         {"ended_at", time_or_null(a->ended_at)},
         {"record_id", nullptr},
         {"attempt", a->number},
         {"path", task->params.path},
         {"cluster", task->cluster},
         {"data_source", std::string(to_string(task->data_source))}};
  } else {
    return nullptr;
  }
  n["manager"] = options_.manager;
  return n;
}

}  // namespace flinkbr::notify
