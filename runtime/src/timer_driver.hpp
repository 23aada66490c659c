// TimerDriver: the runtime's timers (sleep_for, timeouts, intervals). Not API.
#pragma once

#include <chrono>
#include <optional>

namespace troupe::detail {

class TimerDriver {
 public:
  using Clock = std::chrono::steady_clock;
  // The earliest deadline a parked worker must wake up for, if any.
  [[nodiscard]] std::optional<Clock::time_point> next_deadline() const noexcept { return {}; }
  // Fires every expired timer (wakes its task). Returns how many fired.
  std::size_t process(Clock::time_point) noexcept { return 0; }
  [[nodiscard]] bool empty() const noexcept { return true; }
};

}  // namespace troupe::detail
