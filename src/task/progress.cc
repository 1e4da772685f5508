#include "task/progress.h"

#include <algorithm>

namespace flinkbr::task {

ProgressMeter::ProgressMeter(std::function<Clock::time_point()> now) : now_(std::move(now)) {
  step_started_ = now_();
}

void ProgressMeter::begin_step(std::string name, uint64_t bytes_total) {
  detail_ = {.step = std::move(name), .bytes_total = bytes_total};
  largest_total_ = std::max(largest_total_, bytes_total);
  step_started_ = now_();
}

void ProgressMeter::bytes(uint64_t done, uint64_t total) {
  if (total > 0) detail_.bytes_total = total;
  detail_.bytes_done = std::max(detail_.bytes_done, done);  // never backwards
  if (detail_.bytes_total > 0 && detail_.bytes_done > detail_.bytes_total)
    detail_.bytes_total = detail_.bytes_done;
  largest_total_ = std::max(largest_total_, detail_.bytes_total);
  largest_done_ = std::max(largest_done_, detail_.bytes_done);
  update_rate();
}

void ProgressMeter::finish() {
  const uint64_t total = std::max(largest_total_, largest_done_);
  detail_ = {.step = "done",
             .bytes_done = total,
             .bytes_total = total,
             .bytes_per_second = rate_of_largest_};
}

double ProgressMeter::fraction() const {
  if (detail_.bytes_total == 0) return 0;
  return std::min(
      1.0, static_cast<double>(detail_.bytes_done) / static_cast<double>(detail_.bytes_total));
}

void ProgressMeter::update_rate() {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now_() - step_started_).count();
  // Below 100 ms a rate is noise (a tiny step would show absurd figures); keep the last one.
  if (ms < 100) return;
  detail_.bytes_per_second = detail_.bytes_done * 1000 / static_cast<uint64_t>(ms);
  if (detail_.bytes_done >= largest_done_) rate_of_largest_ = detail_.bytes_per_second;
}

}  // namespace flinkbr::task
