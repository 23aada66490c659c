#include "timer_driver.hpp"

#include <utility>

#include "scheduler.hpp"

namespace troupe::detail {
namespace {
thread_local const TimerDriver* tls_clock = nullptr;  // see ClockScope
}  // namespace

TimerDriver::ClockScope::ClockScope(const TimerDriver& driver) noexcept
    : previous_(std::exchange(tls_clock, &driver)) {}
TimerDriver::ClockScope::~ClockScope() { tls_clock = previous_; }

std::chrono::steady_clock::time_point clock_now() noexcept {
  if (const TimerDriver* driver = tls_clock) return driver->now();
  return std::chrono::steady_clock::now();
}

std::uint64_t TimerDriver::ticks_ceil(Clock::time_point t) const noexcept {
  if (t <= origin_) return 0;
  return static_cast<std::uint64_t>(
      std::chrono::ceil<std::chrono::milliseconds>(t - origin_).count());
}

std::uint64_t TimerDriver::ticks_floor(Clock::time_point t) const noexcept {
  if (t <= origin_) return 0;
  return static_cast<std::uint64_t>(
      std::chrono::floor<std::chrono::milliseconds>(t - origin_).count());
}

void TimerDriver::publish_next_locked() noexcept {
  const auto next = wheel_.next_deadline();
  next_ms_.store(next ? *next : kNone, std::memory_order_relaxed);
}

bool TimerDriver::arm(TimerNode& node, Clock::time_point deadline, Waker& waker) {
  detail::MutexLock lock(mutex_);
  node.driver = this;
  node.waker = WakerRef::share(&waker);
  node.fired = false;
  const std::uint64_t before = next_ms_.load(std::memory_order_relaxed);
  wheel_.insert(node, ticks_ceil(deadline));
  publish_next_locked();
  return next_ms_.load(std::memory_order_relaxed) < before;
}

bool TimerDriver::poll(TimerNode& node, Waker& waker) {
  detail::MutexLock lock(mutex_);
  if (node.fired) return true;
  if (node.waker.get() != &waker) node.waker = WakerRef::share(&waker);
  return false;
}

void TimerDriver::disarm(TimerNode& node) noexcept {
  detail::MutexLock lock(mutex_);
  wheel_.remove(node);
  node.waker = WakerRef();
  publish_next_locked();
}

std::size_t TimerDriver::process(Clock::time_point now) {
  const std::uint64_t next = next_ms_.load(std::memory_order_relaxed);
  const std::uint64_t now_ms = ticks_floor(now);
  if (next == kNone || next > now_ms) return 0;
  if (!mutex_.try_lock()) return 0;  // someone else is firing (or arming); it will be seen soon
  UniqueLock lock(mutex_, std::adopt_lock);
  const std::size_t fired = wheel_.advance(now_ms, [&](TimerEntry& entry) {
    mutex_.assert_held();  // called by advance, under the lock above
    auto& node = static_cast<TimerNode&>(entry);
    node.fired = true;
    due_.push_back(std::move(node.waker));
  });
  publish_next_locked();
  std::vector<WakerRef> wake;
  wake.swap(due_);
  lock.unlock();
  for (WakerRef& waker : wake) waker.wake_and_reset();
  wake.clear();
  lock.lock();
  if (due_.empty()) due_.swap(wake);  // keep the capacity for the next firing
  return fired;
}

std::size_t TimerDriver::pending() const {
  detail::MutexLock lock(mutex_);
  return wheel_.size();
}

void arm_timer(TimerNode& node, std::chrono::steady_clock::time_point deadline, Waker& waker) {
  if (Worker* worker = current_worker()) {
    worker->scheduler().timers().arm(node, deadline, waker);  // it fires what it arms
    return;
  }
  // A task on a dedicated thread (SpawnOptions::dedicated_thread) uses its runtime's wheel;
  // the workers fire it. A parked worker sleeps until the earliest timer it saw: wake one to
  // look again if this one comes first (the monitor would notice only at its next tick).
  const RawTask* task = current_task();
  Scheduler* scheduler = current_blocking_scheduler();
  if (task == nullptr || task->home == nullptr || scheduler == nullptr) {
    throw Error(ErrorCode::invalid_argument,
                "troupe timers (sleep_for, timeout, Interval) can only be awaited by a task on "
                "a runtime worker or a dedicated thread");
  }
  if (scheduler->timers().arm(node, deadline, waker)) scheduler->notify_parked();
}

bool poll_timer(TimerNode& node, Waker& waker) { return node.driver->poll(node, waker); }

void disarm_timer(TimerNode& node) noexcept {
  if (node.driver != nullptr) node.driver->disarm(node);
}

}  // namespace troupe::detail
