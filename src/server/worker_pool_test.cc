#include "server/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>

namespace flinkbr::server {
namespace {

using namespace std::chrono_literals;

// Waits up to 5 s for `pred`.
template <class F>
bool eventually(F pred) {
  for (int i = 0; i < 500; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

TEST(WorkerPool, HeldThreadsAreReplacedAndRetireAfterwards) {
  WorkerPool pool(2, 3);
  EXPECT_EQ(pool.threads(), 2u);
  // Two jobs hold their threads (as two event streams would).
  std::promise<void> go;
  std::shared_future<void> released = go.get_future().share();
  std::atomic<int> holding{0};
  for (int i = 0; i < 2; ++i)
    pool.enqueue([&] {
      auto hold = pool.try_hold();
      ASSERT_TRUE(hold);
      ++holding;
      released.wait();
    });
  ASSERT_TRUE(eventually([&] { return holding == 2; }));
  EXPECT_EQ(pool.threads(), 4u);
  // Ordinary jobs still run on the two request threads.
  std::atomic<int> ran{0};
  for (int i = 0; i < 10; ++i) pool.enqueue([&] { ++ran; });
  EXPECT_TRUE(eventually([&] { return ran == 10; }));
  // The bound: one more hold, then none.
  auto third = pool.try_hold();
  EXPECT_TRUE(third);
  EXPECT_FALSE(pool.try_hold());
  third.release();
  go.set_value();
  // The holds end; the pool shrinks back to its request threads.
  EXPECT_TRUE(eventually([&] { return pool.holds() == 0 && pool.threads() == 2; }))
      << pool.threads() << " threads, " << pool.holds() << " holds";
  for (int i = 0; i < 10; ++i) pool.enqueue([&] { ++ran; });
  EXPECT_TRUE(eventually([&] { return ran == 20; }));
}

TEST(WorkerPool, ShutdownRunsWhatIsQueued) {
  std::atomic<int> ran{0};
  {
    WorkerPool pool(1, 1);
    for (int i = 0; i < 5; ++i) pool.enqueue([&] { ++ran; });
    pool.shutdown();
  }
  EXPECT_EQ(ran, 5);
}

}  // namespace
}  // namespace flinkbr::server
