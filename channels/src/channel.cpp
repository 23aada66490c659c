#include "troupe/channels/channel.hpp"

#include <string>

namespace troupe {

std::string_view to_string(SendErrorKind kind) noexcept {
  switch (kind) {
  case SendErrorKind::full:
    return "full";
  case SendErrorKind::closed:
    return "closed";
  case SendErrorKind::timeout:
    return "timeout";
  }
  return "unknown";
}

std::string_view to_string(RecvError error) noexcept {
  switch (error) {
  case RecvError::empty:
    return "empty";
  case RecvError::closed:
    return "closed";
  case RecvError::timeout:
    return "timeout";
  }
  return "unknown";
}

namespace detail {

void throw_invalid_handle(const char *what) {
  throw Error(ErrorCode::invalid_handle,
              std::string(what) +
                  ": used after it was moved from (or default-constructed)");
}

void check_capacity(std::int64_t capacity, const char *what) {
  if (capacity < 0) {
    throw Error(ErrorCode::invalid_argument, std::string(what) + ": capacity " +
                                                 std::to_string(capacity) +
                                                 " is negative");
  }
  if (capacity > kMaxChannelCapacity) {
    throw Error(ErrorCode::invalid_argument,
                std::string(what) + ": capacity " + std::to_string(capacity) +
                    " exceeds the maximum of " +
                    std::to_string(kMaxChannelCapacity) +
                    " (use an unbounded channel)");
  }
}

void check_spsc_capacity(std::int64_t capacity) {
  check_capacity(capacity, "spsc_channel");
  if (capacity == 0) {
    throw Error(ErrorCode::invalid_argument,
                "spsc_channel: capacity 0 leaves no slot for a message (a single-producer "
                "channel has no rendezvous form; use channel<T>(0) for one)");
  }
}

Clock::time_point deadline_after(Clock::duration timeout, const char *what) {
  if (timeout < Clock::duration::zero()) {
    throw Error(ErrorCode::invalid_argument,
                std::string(what) + ": timeout " +
                    std::to_string(timeout.count()) + " ns is negative");
  }
  const auto now = Clock::now();
  if (timeout >= kForever - now)
    return kForever; // saturate instead of overflowing
  return now + timeout;
}

} // namespace detail
} // namespace troupe
