// troupe/channels/result.hpp — Result<T, E>: a value or the reason there is none.
//
// A small subset of C++23 std::expected (troupe targets C++20): `has_value()`/`operator bool`,
// `value()`, `operator*`/`operator->`, `error()`. Result<void, E> carries only the error.
// Reading the value of a failed Result (or the error of a successful one) throws
// troupe::Error(invalid_handle) instead of being undefined.
//
// Thread-safety: a value type; like any std type, concurrent const access is safe.
#pragma once

#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "troupe/channels/error.hpp"

namespace troupe {

namespace detail {
[[noreturn]] void throw_bad_result_access(bool wanted_value);
}  // namespace detail

// Tag for constructing the error alternative: `Result<int, E>(troupe::failure, e)`.
struct FailureTag {
  explicit FailureTag() = default;
};
inline constexpr FailureTag failure{};

template <class T, class E>
class [[nodiscard]] Result {
 public:
  template <class U = T>
  // NOLINTNEXTLINE(bugprone-forwarding-reference-overload): constrained on T, not on Result
  requires std::is_constructible_v<T, U&&> Result(U&& value)
      : state_(std::in_place_index<0>, std::forward<U>(value)) {}  // NOLINT(implicit)
  template <class... Args>
  Result(FailureTag, Args&&... args)
      : state_(std::in_place_index<1>, std::forward<Args>(args)...) {}

  [[nodiscard]] bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    check(true);
    return *std::get_if<0>(&state_);
  }
  const T& value() const& {
    check(true);
    return *std::get_if<0>(&state_);
  }
  T&& value() && {
    check(true);
    return std::move(*std::get_if<0>(&state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  E& error() & {
    check(false);
    return *std::get_if<1>(&state_);
  }
  const E& error() const& {
    check(false);
    return *std::get_if<1>(&state_);
  }
  E&& error() && {
    check(false);
    return std::move(*std::get_if<1>(&state_));
  }

 private:
  void check(bool wanted_value) const {
    if (has_value() != wanted_value) detail::throw_bad_result_access(wanted_value);
  }
  std::variant<T, E> state_;
};

template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  template <class... Args>
  Result(FailureTag, Args&&... args) : error_(std::in_place, std::forward<Args>(args)...) {}

  [[nodiscard]] bool has_value() const noexcept { return !error_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const {
    if (!has_value()) detail::throw_bad_result_access(true);
  }

  E& error() & {
    check_error();
    return *error_;
  }
  const E& error() const& {
    check_error();
    return *error_;
  }
  E&& error() && {
    check_error();
    return std::move(*error_);
  }

 private:
  void check_error() const {
    if (has_value()) detail::throw_bad_result_access(false);
  }
  std::optional<E> error_;
};

}  // namespace troupe
