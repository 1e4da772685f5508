// How the daemon gives the memory of ended tasks back to the system.
//
// A daemon runs for months and its tasks come and go: each backup, restore or verify starts
// threads (the task's own, the ZooKeeper client's, the compression workers), allocates tens of
// MiB and frees them when it ends. With glibc's defaults that freed memory stayed resident and
// grew from task to task (a 100,000-znode backup repeated in one daemon: 20, 38.5, 42, 43.5 MB
// resident after each, each one's peak 48, 58, 62, 75 MB) although less than 2 MB stayed in use.
// Two things in glibc kept it:
//
//  - The dynamic mmap threshold. A freed mmap'ed block (a 4 MiB payload part, say) raises the
//    threshold to its size and the trim threshold to twice that, so later blocks of that size
//    come from the per-thread arenas (up to 8 per core), whose free tops are then given back
//    only above 8 MiB: every arena that ever served a task kept up to ~15 MiB.
//  - Free chunks inside an arena, below a chunk still in use, are never given back by free():
//    only malloc_trim() does.
//
// Thread-safety: both functions may be called from any thread. Under a sanitizer's allocator
// they do nothing useful (and no harm).
#pragma once

namespace flinkbr {

// Fixes glibc's mmap and trim thresholds at their default (128 KiB), which turns off their
// growth: a large block is then always mapped and unmapped on its own, and an arena's free top
// is given back above 128 KiB. Call once, early, before the daemon starts its threads.
void tune_allocator();

// Gives the free pages of every arena back to the system (malloc_trim). Call when a task ends:
// it walks the arenas under their locks, which is cheap next to a task and needless per request.
void release_free_memory();

}  // namespace flinkbr
