// The runtime's timer node, as the public time API (time.hpp) sees it. Not API.
#pragma once

#include <chrono>

#include "troupe/channels/waker.hpp"
#include "troupe/runtime/detail/timer_wheel.hpp"

namespace troupe::detail {

class TimerDriver;

// One armed timer: an entry of the runtime's wheel and the waker to wake when it fires. Every
// field but the driver pointer is guarded by the driver's lock.
struct TimerNode : TimerEntry {
  TimerDriver* driver = nullptr;
  WakerRef waker;
  bool fired = false;
};

// The runtime's clock on this thread: the virtual time of the deterministic runtime this
// thread drives (see Runtime), otherwise steady_clock::now().
std::chrono::steady_clock::time_point clock_now() noexcept;

// Arms `node` to fire at `deadline` on the calling task's runtime, waking `waker` then.
// Throws Error(invalid_argument) when not called by a task on a runtime worker or on a
// dedicated thread.
void arm_timer(TimerNode& node, std::chrono::steady_clock::time_point deadline, Waker& waker);
// True once the armed node fired; otherwise re-registers `waker` (replacing the previous one).
bool poll_timer(TimerNode& node, Waker& waker);
// Cancels an armed node (no effect once fired). Safe to call on a node never armed.
void disarm_timer(TimerNode& node) noexcept;

}  // namespace troupe::detail
