// report.hpp — the one place that formats numbers and prints a run's result, for every
// workload: a short aligned report for people, or exactly one JSON object line (--json).
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "load.hpp"

namespace troupe::cli {

// Everything printed about one run.
struct Report {
  std::string_view workload;
  std::string_view style;
  std::string_view unit;
  std::uint64_t n = 0;
  std::optional<std::uint64_t> threads_requested;
  std::uint64_t expected = 0;
  bool check_ok = false;
  const LoadResult* result = nullptr;
};

// Human report (aligned "name  value" lines) or, with json, one JSON object and a newline.
void print_report(std::ostream& out, const Report& report, bool json);

// A result field's value as people read it: "true", "1,024", "unbounded".
[[nodiscard]] std::string format_field(const Field& field);
// 1234567 -> "1,234,567".
[[nodiscard]] std::string format_count(std::uint64_t value);
// Items per second: "26.3 M messages/s" from a million up, else "812,345 messages/s".
[[nodiscard]] std::string format_rate(double per_second, std::string_view unit);
// A duration: "1.234 s", "12.345 ms" or "123.4 us".
[[nodiscard]] std::string format_seconds(double seconds);
// A JSON string literal, quotes included, with every character that needs it escaped.
[[nodiscard]] std::string json_string(std::string_view text);

}  // namespace troupe::cli
