// troupe/channels/error.hpp — the one error convention used throughout troupe.
//
// Two kinds of failure, never undefined behaviour:
//
//  * Outcomes a correct program meets at run time — a full or closed channel, nothing to
//    receive yet, a timeout — are *values*: `Result<T, E>` (see result.hpp). A failed send
//    always carries the message back, so nothing is lost.
//  * Misuse — a bad argument (negative capacity, zero size), an operation on a detached Buffer,
//    an out-of-range index, a moved-from or transferred handle, an allocation that cannot be
//    satisfied — throws `troupe::Error`, whose `code()` says which kind and whose `what()` names
//    the operation and the offending value.
//
// Thread-safety: Error is an immutable value type.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace troupe {

enum class ErrorCode {
  invalid_argument,    // a parameter is outside its documented range
  out_of_range,        // an index or offset lies outside the object
  detached,            // the Buffer's bytes were transferred away (moved-from)
  invalid_handle,      // a moved-from, transferred or default-constructed handle was used
  resource_exhausted,  // an allocation or quota could not be satisfied
  closed,              // the operation needs an open channel/port and it is closed
  misaligned,          // a typed view would be misaligned or cut an element in two
  cancelled,           // the task was cancelled before it produced its result
  shut_down,           // the runtime is shut down (nothing new can start on it)
  timeout,             // a time limit passed before the operation could complete
};

// Name of a code, e.g. "invalid_argument". Never allocates.
[[nodiscard]] std::string_view to_string(ErrorCode code) noexcept;

// The exception thrown for misuse. The message reads "<what>: <why>", e.g.
// "channel: capacity -1 is negative".
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}

  [[nodiscard]] ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

}  // namespace troupe
