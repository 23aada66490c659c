// The `troupe` command: load experiments for the troupe actor framework (see cli.hpp).
#include <iostream>

#include "troupe/cli.hpp"

// The command's jemalloc settings (samples/troupe/CMakeLists.txt links jemalloc into this
// binary only). jemalloc reads this documented symbol at start-up; MALLOC_CONF in the
// environment overrides it; under the system malloc it is an unused string.
// thp:always backs jemalloc's memory with transparent huge pages (the kernel's "madvise"
// mode needs the request). Every `load` run starts a new Runtime whose threads fault in fresh
// pages: on this project's 2-core VM a 4 KiB page fault costs several microseconds, and load
// skynet (a million tasks or actors) takes ~100,000 of them, a third of its time
// (samples/bench/BENCHMARKS.md). The report's "allocator" says "jemalloc+thp" while it holds.
// tcache_nslots_small_min:64 lets each thread cache keep at least 64 objects of every small
// size (jemalloc's default is 20, and a bin holds about twice its slab's object count, so the
// 512- and 768-byte bins of actor cells and mailboxes kept 20). Spawning actors in bursts
// emptied and refilled those caches from the arena every few dozen actors: about 7% of
// load skynet --style actor's instructions went to the refills and flushes (callgrind).
extern "C" {
// NOLINTNEXTLINE(cppcoreguidelines-avoid-non-const-global-variables): jemalloc's interface
const char* malloc_conf = "thp:always,tcache_nslots_small_min:64";
}

int main(int argc, char** argv) { return troupe::cli::run(argc, argv, std::cout, std::cerr); }
