// Helpers shared by the test files (one doctest executable per test_<feature>.cpp).
#pragma once

#include <doctest/doctest.h>

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <string>
#include <thread>
#include <utility>

#include "troupe/channels/awaitable.hpp"
#include "troupe/channels/error.hpp"
#include "troupe/channels/waker.hpp"

namespace troupe::testing {

// Built with a sanitizer (asan or tsan), where every memory access costs several times more.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

// The message count of a volume-driven stress test: `release` in an uninstrumented build, a
// quarter of it under a sanitizer. ThreadSanitizer finds a race through the happens-before
// order of the accesses it sees, not through repetition, and a quarter of a million messages
// per producer still crosses every wrap, park and wake path thousands of times.
inline std::int64_t stress_volume(std::int64_t release) noexcept {
  return kSanitized ? release / 4 : release;
}

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

// A waker whose reference count the test can read: every registration takes one, and whoever
// ends the registration (a wake, a withdrawal) gives it back. Lives on the test's stack:
// destroy() only records that the count reached zero.
class RefWaker final : public Waker {
 public:
  void wake() noexcept override { wakes.fetch_add(1, std::memory_order_release); }
  [[nodiscard]] std::uint64_t refs() const noexcept {
    return word_.load(std::memory_order_acquire) >> kRefShift;
  }
  std::atomic<int> wakes{0};
  std::atomic<bool> destroyed{false};

 protected:
  void destroy() noexcept override { destroyed.store(true); }
};

// A coroutine for awaiting troupe operations in tests without a runtime. It starts at once and
// runs to its first suspension; step() re-polls the operation it is suspended on and, if that
// completes, resumes it up to the next suspension. `wakes()` counts the wakes it received, so a
// test can check that a wake came before it steps. Single-threaded use only.
//   ManualTask t = [&]() -> ManualTask { auto m = co_await rx.recv(); got = *m; }();
class ManualTask {
 public:
  struct promise_type {
    detail::AwaitContext context;
    CountingWaker waker;
    std::exception_ptr error;
    promise_type() { context.waker = &waker; }
    detail::AwaitContext& await_context() noexcept { return context; }
    ManualTask get_return_object() {
      return ManualTask(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_always final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { error = std::current_exception(); }
  };

  ManualTask(ManualTask&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  ManualTask& operator=(ManualTask&&) = delete;
  ~ManualTask() {
    if (!handle_) return;
    detail::AwaitContext& context = handle_.promise().context;
    if (context.pending != nullptr) context.pending->cancel(*context.waker);
    handle_.destroy();
  }

  [[nodiscard]] bool done() const noexcept { return handle_.done(); }
  [[nodiscard]] int wakes() const noexcept { return handle_.promise().waker.wakes.load(); }
  void forget_wakes() noexcept { handle_.promise().waker.wakes.store(0); }
  // Rethrows what the coroutine threw, if anything.
  void rethrow_if_failed() const {
    if (handle_.promise().error) std::rethrow_exception(handle_.promise().error);
  }

  // Re-polls; resumes if the pending operation completed. Returns done().
  bool step() {
    if (handle_.done()) return true;
    detail::AwaitContext& context = handle_.promise().context;
    context.yield_requested = false;
    if (context.pending != nullptr) {
      if (!context.pending->poll(*context.waker)) return false;
      context.pending = nullptr;
    }
    context.leaf.resume();
    return handle_.done();
  }

 private:
  explicit ManualTask(std::coroutine_handle<promise_type> handle) : handle_(handle) {}
  std::coroutine_handle<promise_type> handle_;
};

// Spins (yielding the core) until `done()` holds; the test's timeout catches a hang.
template <class F>
void spin_until(F&& done) {
  while (!done()) std::this_thread::yield();
}

// Runs `a` and `b` on two threads, released at the same instant (both spin on one flag: a
// futex wake would let one side start long before the other), and joins both.
template <class A, class B>
void race(A&& a, B&& b) {
  std::atomic<int> arrived{0};
  auto arrive_and_spin = [&arrived] {
    arrived.fetch_add(1);
    while (arrived.load() < 2) std::this_thread::yield();
  };
  std::thread other([&] {
    arrive_and_spin();
    b();
  });
  arrive_and_spin();
  a();
  other.join();
}

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
