// test/fuzz/fuzz_support.hpp — what the libFuzzer targets of test/fuzz/ share: reporting a
// broken invariant, dealing an input's operations to the threads that run them, and counting
// the process's threads (none may be left running after an input).
//
// A violated invariant prints "<program>: invariant violated: <what> (a, b)" and aborts, which
// libFuzzer reports as a crash with the input (scripts/fuzz greps "violated" from the log).
// Thread-safety: every function may be called from any thread.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "troupe/thread_count.hpp"  // samples/troupe/: the soak counts threads the same way

namespace troupe::fuzz {

using troupe::cli::threads_alive;

[[noreturn]] inline void violated(const char* what, std::uint64_t a = 0, std::uint64_t b = 0) {
  std::fprintf(stderr, "%s: invariant violated: %s (%llu, %llu)\n",
               program_invocation_short_name, what, static_cast<unsigned long long>(a),
               static_cast<unsigned long long>(b));
  std::abort();
}

inline void require(bool held, const char* what, std::uint64_t a = 0, std::uint64_t b = 0) {
  if (!held) violated(what, a, b);
}

// The operations dealt to thread `which` of `threads`, each `width` bytes long: operation i of
// the input goes to thread i % threads (a partial operation at the end is dropped).
inline std::vector<std::span<const std::uint8_t>> ops_for(std::span<const std::uint8_t> ops,
                                                          std::size_t which, std::size_t threads,
                                                          std::size_t width = 1) {
  std::vector<std::span<const std::uint8_t>> mine;
  for (std::size_t i = which * width; i + width <= ops.size(); i += threads * width) {
    mine.push_back(ops.subspan(i, width));
  }
  return mine;
}

// Requires that no more threads run than `start` (threads_alive() before the input), giving
// joined threads a moment to be reaped (thread_count.hpp).
inline void require_no_thread_left(std::uint64_t start) {
  const std::uint64_t now = troupe::cli::threads_settled(start);
  require(now <= start, "threads left running", now, start);
}

}  // namespace troupe::fuzz
