#include "troupe/channels/error.hpp"

#include "troupe/channels/result.hpp"

namespace troupe {

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::invalid_argument:
      return "invalid_argument";
    case ErrorCode::out_of_range:
      return "out_of_range";
    case ErrorCode::detached:
      return "detached";
    case ErrorCode::invalid_handle:
      return "invalid_handle";
    case ErrorCode::resource_exhausted:
      return "resource_exhausted";
    case ErrorCode::closed:
      return "closed";
    case ErrorCode::misaligned:
      return "misaligned";
    case ErrorCode::cancelled:
      return "cancelled";
    case ErrorCode::shut_down:
      return "shut_down";
    case ErrorCode::timeout:
      return "timeout";
  }
  return "unknown";
}

}  // namespace troupe

namespace troupe::detail {

void throw_bad_result_access(bool wanted_value) {
  throw Error(ErrorCode::invalid_handle,
              wanted_value ? "Result: value() read on a Result that holds an error"
                           : "Result: error() read on a Result that holds a value");
}

}  // namespace troupe::detail
