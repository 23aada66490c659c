// thread_count.hpp — the threads of this process, for books that require none left running:
// the soak's balance sheet (soak.cpp) and the libFuzzer targets (test/fuzz/fuzz_support.hpp).
//
// A joined thread may still be listed for a moment: pthread_join returns once the thread has
// released its stack, before the kernel has reaped it. So a count taken right after the joins
// is given up to `settle` to come down (threads_settled); a thread left running never does.
// Thread-safety: both functions may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <system_error>
#include <thread>

namespace troupe::cli {

// The threads of the process now (the entries of /proc/self/task).
inline std::uint64_t threads_alive() {
  std::error_code error;
  std::uint64_t count = 0;
  for (std::filesystem::directory_iterator it("/proc/self/task", error), end;
       !error && it != end; it.increment(error)) {
    ++count;
  }
  return count;
}

// threads_alive(), once it is at most `at_most` or `settle` has passed.
inline std::uint64_t threads_settled(std::uint64_t at_most,
                                     std::chrono::milliseconds settle = std::chrono::seconds(2)) {
  const auto deadline = std::chrono::steady_clock::now() + settle;
  std::uint64_t now = threads_alive();
  while (now > at_most && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
    now = threads_alive();
  }
  return now;
}

}  // namespace troupe::cli
