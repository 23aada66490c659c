// A caller's duration as steady_clock ticks, without overflow. Not API.
#pragma once

#include <chrono>
#include <cmath>

namespace troupe::detail {

// `d` in steady_clock::duration, rounded up if `round_up` (a wait never shorter than asked),
// else toward zero. A duration too long for the clock's 64-bit nanoseconds (hours::max(),
// seconds(1e13)) saturates at duration::max(), "forever", instead of wrapping around to a
// short or negative one; a hugely negative one saturates at min(); NaN becomes min() (the
// callers refuse it as negative).
template <class Rep, class Period>
std::chrono::steady_clock::duration saturating_duration(std::chrono::duration<Rep, Period> d,
                                                        bool round_up) noexcept {
  using Ticks = std::chrono::steady_clock::duration;
  using Wide = std::chrono::duration<long double, Ticks::period>;
  const Wide wide(d);
  if (std::isnan(wide.count())) return Ticks::min();
  if (wide >= Wide(Ticks::max())) return Ticks::max();
  if (wide <= Wide(Ticks::min())) return Ticks::min();
  return round_up ? std::chrono::ceil<Ticks>(d) : std::chrono::duration_cast<Ticks>(d);
}

// The deadline `after` from `now`, saturating at time_point::max() ("forever").
inline std::chrono::steady_clock::time_point saturating_deadline(
    std::chrono::steady_clock::time_point now, std::chrono::steady_clock::duration after) noexcept {
  if (after > std::chrono::steady_clock::time_point::max() - now) {
    return std::chrono::steady_clock::time_point::max();
  }
  return now + after;
}

}  // namespace troupe::detail
