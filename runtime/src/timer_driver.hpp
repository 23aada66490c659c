// TimerDriver: the runtime's timers (sleep_for, timeouts, intervals). Not API.
//
// One hierarchical timing wheel (detail/timer_wheel.hpp) per runtime, guarded by a mutex:
// arming and cancelling are O(1) under the lock. Workers fire due timers: a parked worker
// sleeps until next_deadline() and processes on waking; a busy one processes every 61 polls.
// next_deadline() is a relaxed atomic copy of the wheel's, so checking costs no lock. Firing
// collects the wakers under the lock and wakes them after releasing it. Tasks on dedicated
// threads arm timers here too (arm_timer); the workers fire them like the others.
//
// Time: milliseconds of steady_clock since the driver was created; a deadline is rounded up to
// the next tick, so a timer never fires early. A deterministic runtime's driver keeps virtual
// time instead: now() is the origin plus an offset that only advance_to() moves (the driving
// thread, when no task is runnable), and clock_now() (timer.hpp) reads it on the thread that
// drives (ClockScope).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "troupe/channels/detail/mutex.hpp"
#include "troupe/runtime/detail/timer.hpp"

namespace troupe::detail {

class TimerDriver {
 public:
  using Clock = std::chrono::steady_clock;

  explicit TimerDriver(bool virtual_time = false)
      : origin_(Clock::now()), virtual_(virtual_time) {}
  ~TimerDriver() {
    std::lock_guard lock(mutex_);
    wheel_.clear();
  }

  // True if the node is now the earliest pending timer (parked workers sleep until the
  // earliest they saw when they parked).
  bool arm(TimerNode& node, Clock::time_point deadline, Waker& waker);
  bool poll(TimerNode& node, Waker& waker);
  void disarm(TimerNode& node) noexcept;

  // The earliest time a timer may be due (a lower bound), if any timer is pending. No lock.
  [[nodiscard]] std::optional<Clock::time_point> next_deadline() const noexcept {
    const std::uint64_t ms = next_ms_.load(std::memory_order_relaxed);
    if (ms == kNone) return std::nullopt;
    return origin_ + std::chrono::milliseconds(ms);
  }
  // Fires every timer due at `now`; returns how many fired. Skips at once if none can be due,
  // or if another thread is firing.
  std::size_t process(Clock::time_point now);
  [[nodiscard]] std::size_t pending() const;

  // The driver's clock: steady_clock, or the virtual time of a deterministic runtime.
  [[nodiscard]] Clock::time_point now() const noexcept {
    if (!virtual_) return Clock::now();
    return origin_ + std::chrono::nanoseconds(virtual_ns_.load(std::memory_order_relaxed));
  }
  // Virtual time only: moves the clock forward to `t` (never back). Called by the one thread
  // that drives the runtime; relaxed, as the readers are that thread or ordered after it by
  // whatever handed them the time's effects (a wake).
  void advance_to(Clock::time_point t) noexcept {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t - origin_).count();
    if (ns > virtual_ns_.load(std::memory_order_relaxed)) {
      virtual_ns_.store(ns, std::memory_order_relaxed);
    }
  }

  // Makes clock_now() read `driver`'s clock on this thread while it lives (the deterministic
  // runtime's driving thread).
  class ClockScope {
   public:
    explicit ClockScope(const TimerDriver& driver) noexcept;
    ~ClockScope();
    ClockScope(const ClockScope&) = delete;
    ClockScope& operator=(const ClockScope&) = delete;

   private:
    const TimerDriver* previous_;
  };

 private:
  static constexpr std::uint64_t kNone = UINT64_MAX;
  [[nodiscard]] std::uint64_t ticks_ceil(Clock::time_point t) const noexcept;
  [[nodiscard]] std::uint64_t ticks_floor(Clock::time_point t) const noexcept;
  void publish_next_locked() noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const Clock::time_point origin_;
  const bool virtual_;
  std::atomic<std::int64_t> virtual_ns_{0};  // virtual time since origin_
  mutable PlainMutex mutex_;
  TimerWheel wheel_ ABSL_GUARDED_BY(mutex_);
  std::atomic<std::uint64_t> next_ms_{kNone};
  std::vector<WakerRef> due_ ABSL_GUARDED_BY(mutex_);  // reused: no allocation per firing
};

}  // namespace troupe::detail
