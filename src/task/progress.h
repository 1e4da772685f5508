// ProgressMeter: turns a run's steps and byte counts into the ProgressDetail a user sees (step,
// bytes done of total, throughput). Shared by backup runs and restoration attempts, which
// persist what it says at most once a second.
//
// Not thread-safe: one run's thread owns it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "store/model.h"

namespace flinkbr::task {

class ProgressMeter {
 public:
  using Clock = std::chrono::steady_clock;
  // `now` is the clock (tests give their own).
  explicit ProgressMeter(std::function<Clock::time_point()> now = Clock::now);

  // A new step: bytes start again from 0; `bytes_total` 0 when unknown. Throughput counts from
  // here.
  void begin_step(std::string name, uint64_t bytes_total = 0);
  // Bytes done in the current step. A total of 0 keeps the one known; bytes beyond the total (an
  // estimate that was low) raise the total, so that done never exceeds total.
  void bytes(uint64_t done, uint64_t total = 0);
  // The run has ended well: step "done", bytes_done = bytes_total = the largest total (or count)
  // seen, at the throughput of the step that moved the most bytes.
  void finish();

  const store::ProgressDetail& detail() const { return detail_; }
  // Fraction of the current step's bytes done, in [0, 1]; 0 when the total is unknown.
  double fraction() const;

 private:
  void update_rate();
  std::function<Clock::time_point()> now_;
  store::ProgressDetail detail_;
  Clock::time_point step_started_;
  uint64_t largest_total_ = 0;
  uint64_t largest_done_ = 0;
  uint64_t rate_of_largest_ = 0;
};

}  // namespace flinkbr::task
