// What the daemon relies on to give a task's memory back (common/allocator.h), checked on
// glibc's allocator itself: the counts are the allocator's and the kernel's, not timings.
#include "common/allocator.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace flinkbr {
namespace {

#if defined(__SANITIZE_ADDRESS__) || !defined(__GLIBC__)
constexpr bool kGlibcMalloc = false;  // the sanitizer's allocator answers malloc
#else
constexpr bool kGlibcMalloc = true;
#endif

// An allocation the compiler must make, written through so that its pages are resident.
char* allocate(size_t n) {
  auto* p = static_cast<char*>(std::malloc(n));
  if (p) std::memset(p, 1, n);
  asm volatile("" : : "r"(p) : "memory");
  return p;
}

// This process's resident anonymous memory (KiB).
long rss_anon_kib() {
  std::ifstream in("/proc/self/status");
  std::string key;
  long value = -1;
  while (in >> key) {
    if (key == "RssAnon:") {
      in >> value;
      return value;
    }
    in.ignore(1 << 10, '\n');
  }
  return value;
}

TEST(Allocator, AFreedLargeBlockDoesNotPullLaterOnesIntoTheArenas) {
  if (!kGlibcMalloc) GTEST_SKIP() << "not glibc's allocator";
  tune_allocator();
  constexpr size_t kBig = 4 << 20;  // a ZooKeeper payload part
  // Left to itself, glibc raises its mmap threshold to the size of this block when it is freed,
  // and the next blocks of that size then stay in an arena after their free.
  std::free(allocate(kBig));
  const size_t mapped = mallinfo2().hblks;
  char* again = allocate(kBig);
  EXPECT_EQ(mallinfo2().hblks, mapped + 1) << "a 4 MiB block did not get its own mapping";
  std::free(again);
  EXPECT_EQ(mallinfo2().hblks, mapped);
}

TEST(Allocator, ReleaseGivesBackFreeMemoryBelowAChunkInUse) {
  if (!kGlibcMalloc) GTEST_SKIP() << "not glibc's allocator";
  tune_allocator();
  // On its own thread, so in an arena of its own, as a task's threads are.
  std::thread([] {
    constexpr size_t kChunk = 16 << 10;  // below the mmap threshold: from the arena
    constexpr size_t kTotal = 32 << 20;
    std::vector<char*> chunks;
    chunks.reserve(kTotal / kChunk);
    for (size_t n = 0; n < kTotal; n += kChunk) chunks.push_back(allocate(kChunk));
    // In use above them (nothing is free yet, so it comes from the top): free() cannot give
    // the heap's top back below it.
    char* pin = allocate(kChunk);
    for (char* c : chunks) std::free(c);
    const long before = rss_anon_kib();
    release_free_memory();
    const long after = rss_anon_kib();
    ASSERT_GT(before, 0);
    EXPECT_GT(before - after, 24 << 10) << "RssAnon " << before << " -> " << after << " KiB";
    std::free(pin);
  }).join();
}

}  // namespace
}  // namespace flinkbr
