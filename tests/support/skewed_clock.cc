// A library preloaded into a daemon under test (LD_PRELOAD) to put its wall clock off by
// FLINKBR_TEST_CLOCK_OFFSET seconds: a manager group's member whose clock is wrong. Only
// CLOCK_REALTIME moves (std::chrono::system_clock reads it); the monotonic clock, which the
// election's deadlines use, stays as it is, as on a machine whose time was set wrong.
#include <dlfcn.h>
#include <time.h>

#include <cstdlib>

extern "C" int clock_gettime(clockid_t id, struct timespec* ts) {
  using Fn = int (*)(clockid_t, struct timespec*);
  static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "clock_gettime"));
  static const long offset = [] {
    const char* s = std::getenv("FLINKBR_TEST_CLOCK_OFFSET");
    return s ? std::atol(s) : 0L;
  }();
  const int r = real(id, ts);
  if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) ts->tv_sec += offset;
  return r;
}
