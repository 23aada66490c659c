// report.cpp — formats numbers and prints results (see report.hpp).
#include "report.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <type_traits>
#include <utility>
#include <vector>

namespace troupe::cli {
namespace {

std::string printf_string(const char* format, double value) {
  char text[64];
  const int size = std::snprintf(text, sizeof text, format, value);
  return std::string(text, static_cast<std::size_t>(std::clamp(size, 0, int{sizeof text} - 1)));
}

// Shortest round-trip form; JSON has no infinity or NaN, so those become null.
std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  char text[64];
  const auto [end, error] = std::to_chars(text, text + sizeof text, value);
  return error == std::errc{} ? std::string(text, end) : "null";
}

double rate_of(const LoadResult& result) {
  return result.seconds > 0 ? static_cast<double>(result.items) / result.seconds : 0.0;
}

// A field value as JSON.
std::string json_value(const Field& field) {
  return std::visit(
      [](const auto& value) -> std::string {
        using V = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<V, bool>) return value ? "true" : "false";
        else if constexpr (std::is_same_v<V, std::uint64_t>) return std::to_string(value);
        else if constexpr (std::is_same_v<V, double>) return json_number(value);
        else return json_string(value);
      },
      field.value);
}

// The malloc behind this process: jemalloc exports mallctl, the system (glibc) malloc does not.
std::string_view allocator_name() {
  return dlsym(RTLD_DEFAULT, "mallctl") != nullptr ? "jemalloc" : "system";
}

void print_json(std::ostream& out, const Report& report) {
  const LoadResult& result = *report.result;
  std::string line = "{";
  const auto add = [&](std::string_view key, const std::string& value) {
    if (line.size() > 1) line += ',';
    line += json_string(key);
    line += ':';
    line += value;
  };
  add("workload", json_string(report.workload));
  add("style", json_string(report.style));
  add("n", std::to_string(report.n));
  add("unit", json_string(report.unit));
  add("threads", std::to_string(result.threads));
  add("threads_requested",
      report.threads_requested ? std::to_string(*report.threads_requested) : "null");
  add("seconds", json_number(result.seconds));
  add("rate", json_number(rate_of(result)));
  add("check", std::to_string(result.check));
  add("expected", std::to_string(report.expected));
  add("check_ok", report.check_ok ? "true" : "false");
  add("allocator", json_string(allocator_name()));
  for (const Field& field : result.extras) add(field.name, json_value(field));
  std::string failures = "[";
  for (const std::string& failure : result.failures) {
    if (failures.size() > 1) failures += ',';
    failures += json_string(failure);
  }
  add("failures", failures + "]");
  out << line << "}\n";
}

void print_human(std::ostream& out, const Report& report) {
  const LoadResult& result = *report.result;
  std::string threads = format_count(result.threads);
  if (report.threads_requested && *report.threads_requested != result.threads) {
    threads += " (--threads " + format_count(*report.threads_requested) + " ignored)";
  }
  std::vector<std::pair<std::string, std::string>> rows = {
      {"workload", std::string(report.workload)},
      {"style", std::string(report.style)},
      {"n", format_count(report.n) + " " + std::string(report.unit)},
      {"threads", threads},
      {"time", format_seconds(result.seconds)},
      {"rate", format_rate(rate_of(result), report.unit)},
      {"check", format_count(result.check) +
                    (result.check == report.expected ? " = " : " != ") + "expected " +
                    format_count(report.expected) + (report.check_ok ? ": ok" : ": FAILED")},
      {"allocator", std::string(allocator_name())},
  };
  for (const Field& field : result.extras) rows.emplace_back(field.name, format_field(field));
  for (const std::string& failure : result.failures) rows.emplace_back("failure", failure);
  std::size_t width = 0;
  for (const auto& row : rows) width = std::max(width, row.first.size());
  for (const auto& [name, value] : rows) {
    out << name << std::string(width + 2 - name.size(), ' ') << value << '\n';
  }
}

}  // namespace

void print_report(std::ostream& out, const Report& report, bool json) {
  if (json) {
    print_json(out, report);
  } else {
    print_human(out, report);
  }
  out.flush();
}

std::string format_field(const Field& field) {
  return std::visit(
      [](const auto& value) -> std::string {
        using V = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<V, bool>) return value ? "true" : "false";
        else if constexpr (std::is_same_v<V, std::uint64_t>) return format_count(value);
        else if constexpr (std::is_same_v<V, double>) return printf_string("%.4g", value);
        else return value;
      },
      field.value);
}

std::string format_count(std::uint64_t value) {
  const std::string digits = std::to_string(value);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string format_rate(double per_second, std::string_view unit) {
  std::string text =
      per_second >= 1e6
          ? printf_string("%.2f M", per_second / 1e6)
          : format_count(static_cast<std::uint64_t>(std::llround(std::max(per_second, 0.0))));
  text.append(" ").append(unit).append("/s");
  return text;
}

std::string format_seconds(double seconds) {
  if (seconds >= 1) return printf_string("%.3f s", seconds);
  if (seconds >= 1e-3) return printf_string("%.3f ms", seconds * 1e3);
  return printf_string("%.1f us", seconds * 1e6);
}

std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace troupe::cli
