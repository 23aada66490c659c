// Helpers shared by the test files (one doctest executable per test_<feature>.cpp).
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <string>

#include "troupe/channels/error.hpp"
#include "troupe/channels/waker.hpp"

namespace troupe::testing {

// Counts live instances, so tests can see that nothing is leaked or destroyed early.
struct Tracked {
  static inline std::atomic<int> live{0};
  int value = 0;
  explicit Tracked(int v) : value(v) { live.fetch_add(1); }
  Tracked(Tracked&& other) noexcept : value(other.value) { live.fetch_add(1); }
  Tracked& operator=(Tracked&&) = default;
  ~Tracked() { live.fetch_sub(1); }
};

// A waker that only counts: it stands for "make this task runnable again" (a coroutine, an
// actor). Lives on the test's stack, so destroy() does nothing.
class CountingWaker final : public Waker {
 public:
  void wake() noexcept override { wakes.fetch_add(1, std::memory_order_release); }
  std::atomic<int> wakes{0};

 protected:
  void destroy() noexcept override {}
};

// The code of the troupe::Error that `f` throws (fails the test if it throws none).
template <class F>
ErrorCode error_code_of(F&& f) {
  try {
    f();
  } catch (const Error& error) {
    return error.code();
  }
  FAIL("no troupe::Error was thrown");
  return ErrorCode::invalid_argument;
}

// The message of the troupe::Error that `f` throws (fails the test if it throws none).
template <class F>
std::string error_message_of(F&& f) {
  try {
    f();
  } catch (const Error& error) {
    return error.what();
  }
  FAIL("no troupe::Error was thrown");
  return {};
}

}  // namespace troupe::testing
