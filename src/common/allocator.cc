#include "common/allocator.h"

#include <malloc.h>

namespace flinkbr {

namespace {
// glibc's default for both thresholds (DEFAULT_MMAP_THRESHOLD_MIN).
constexpr int kThreshold = 128 * 1024;
}  // namespace

void tune_allocator() {
#if defined(__GLIBC__)
  // Setting either threshold turns the dynamic adjustment of both off; set both, so that an
  // adjustment made before this call does not stay.
  mallopt(M_MMAP_THRESHOLD, kThreshold);
  mallopt(M_TRIM_THRESHOLD, kThreshold);
#endif
}

void release_free_memory() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

}  // namespace flinkbr
