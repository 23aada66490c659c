// Parker: a futex-based thread parker. The state machine is the well-known one used by
// Rust's std (library/std/src/sys/sync/thread_parking/futex.rs): a single word that is
// EMPTY, NOTIFIED or PARKED; wake() swaps in NOTIFIED and issues a futex wake only if the
// owner was PARKED, so an unparked wake costs one atomic exchange.
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "troupe/channels/detail/config.hpp"
#include "troupe/channels/waker.hpp"

namespace troupe {
namespace {

constexpr std::uint32_t kEmpty = 0;
constexpr std::uint32_t kNotified = 1;
constexpr std::uint32_t kParked = 2;

// Blocks while *word == expected, at most `timeout` (nullptr: forever). Spurious returns happen.
void futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected,
                const timespec* timeout) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT_PRIVATE, expected, timeout,
          nullptr, 0);
}

void futex_wake_one(std::atomic<std::uint32_t>* word) noexcept {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE_PRIVATE, 1, nullptr,
          nullptr, 0);
}

}  // namespace

struct ParkerAccess {
  static Parker* make() { return new Parker(); }
};

namespace {
// Holds the thread's reference; channels holding a registered Parker keep their own.
struct ThreadParkerHolder {
  Parker* parker = ParkerAccess::make();
  ~ThreadParkerHolder() { parker->release(); }
};
}  // namespace

Parker& Parker::current() {
  thread_local ThreadParkerHolder holder;
  return *holder.parker;
}

void Parker::park() noexcept {
  // acquire: a consumed NOTIFIED token makes the waker's earlier writes visible.
  if (state_.exchange(kParked, std::memory_order_acquire) == kNotified) {
    state_.store(kEmpty, std::memory_order_relaxed);
    return;
  }
  for (;;) {
    futex_wait(&state_, kParked, nullptr);
    std::uint32_t notified = kNotified;
    // acquire: pairs with the release exchange in wake().
    if (state_.compare_exchange_strong(notified, kEmpty, std::memory_order_acquire,
                                       std::memory_order_relaxed)) {
      return;
    }
  }
}

bool Parker::park_until(std::chrono::steady_clock::time_point deadline) noexcept {
  if (state_.exchange(kParked, std::memory_order_acquire) == kNotified) {
    state_.store(kEmpty, std::memory_order_relaxed);
    return true;
  }
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (now < deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now);
      timespec ts{};
      ts.tv_sec = static_cast<time_t>(left.count() / 1'000'000'000);
      ts.tv_nsec = static_cast<long>(left.count() % 1'000'000'000);
      futex_wait(&state_, kParked, &ts);
    }
    // acquire: pairs with the release exchange in wake().
    if (state_.exchange(kEmpty, std::memory_order_acquire) == kNotified) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    // Spurious return before the deadline: park again (a wake arriving now is not lost: the
    // exchange below sees it).
    if (state_.exchange(kParked, std::memory_order_acquire) == kNotified) {
      state_.store(kEmpty, std::memory_order_relaxed);
      return true;
    }
  }
}

void Parker::wake() noexcept {
  // release: publishes the waker's writes to the thread that consumes this token.
  if (state_.exchange(kNotified, std::memory_order_release) == kParked) futex_wake_one(&state_);
}

bool SpinWait::spin() noexcept {
  if (step_ < kSpinSteps) {
    // One pause a step (~25 ns on this project's machines): the caller re-checks its condition
    // every few tens of nanoseconds, so a message is noticed almost as soon as it lands.
    detail::cpu_relax();
    ++step_;
    return true;
  }
  if (step_ < kSpinSteps + kYieldSteps) {
    // Then give the core away: if the thread we wait for shares this core, it runs now instead
    // of after our time slice; if it does not, sched_yield returns at once and we re-check.
    sched_yield();
    ++step_;
    return true;
  }
  return false;
}

}  // namespace troupe
