// report.cpp — formats numbers and prints results (see report.hpp).
#include "report.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <type_traits>
#include <utility>
#include <vector>

namespace troupe::cli {
namespace report_impl {
namespace {

std::string printf_string(const char* format, double value) {
  char text[64];
  const int size = std::snprintf(text, sizeof text, format, value);
  return std::string(text, static_cast<std::size_t>(std::clamp(size, 0, int{sizeof text} - 1)));
}

// A field value as JSON.
std::string json_value(const Field& field) {
  return std::visit(
      [](const auto& value) -> std::string {
        using V = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<V, bool>) return json_bool(value);
        else if constexpr (std::is_same_v<V, std::uint64_t>) return std::to_string(value);
        else if constexpr (std::is_same_v<V, double>) return json_number(value);
        else return json_string(value);
      },
      field.value);
}

// A JSON array of values already in JSON.
std::string json_array(const std::vector<std::string>& values) {
  std::string array = "[";
  for (const std::string& value : values) {
    if (array.size() > 1) array += ',';
    array += value;
  }
  return array + "]";
}

// "warm-up", or "run 3" for runs[2]: how reports and errors name a run of a series.
std::string run_name(std::optional<std::size_t> index) {
  return index ? "run " + std::to_string(*index + 1) : "warm-up";
}

// A run's failures on one line (line breaks folded), "; "-joined after `first` if not empty.
std::string failures_line(const LoadResult& result, std::string first = {}) {
  for (const std::string& failure : result.failures) {
    first += (first.empty() ? "" : "; ") + failure;
  }
  std::replace(first.begin(), first.end(), '\n', ' ');
  return first;
}

// Why a run failed, on one line: "check 41 != expected 45; <failure>; …" (empty if it held).
std::string why_failed(const RunOutcome& run, std::uint64_t expected) {
  return failures_line(run.result, run.result.check == expected
                                       ? std::string()
                                       : "check " + format_count(run.result.check) +
                                             " != expected " + format_count(expected));
}

// Every run with its name: the warm-up first, then the measured runs (index into runs).
template <class F>
void for_each_run(const Report& report, F&& visit) {
  if (report.warmup) visit(*report.warmup, std::optional<std::size_t>{});
  for (std::size_t i = 0; i < report.runs.size(); ++i) {
    visit(report.runs[i], std::optional<std::size_t>{i});
  }
}

// The failures of every run; in a series each is prefixed with its run's name ("run 2: …").
std::vector<std::string> named_failures(const Report& report) {
  std::vector<std::string> named;
  for_each_run(report, [&](const RunOutcome& run, std::optional<std::size_t> index) {
    for (const std::string& failure : run.result.failures) {
      named.push_back(report.warmup ? run_name(index) + ": " + failure : failure);
    }
  });
  return named;
}

// One run of a series as JSON: {"run":2,"seconds":…,"rate":…,"check":…,"check_ok":…}; the
// warm-up has no "run".
std::string run_json(const RunOutcome& run, std::optional<std::size_t> index) {
  JsonObject object;
  if (index) object.add("run", std::to_string(*index + 1));
  return object.add("seconds", json_number(run.result.seconds))
      .add("rate", json_number(rate_of(run.result)))
      .add("check", std::to_string(run.result.check))
      .add("check_ok", json_bool(run.check_ok))
      .close();
}

void print_json(std::ostream& out, const Report& report) {
  const std::size_t median = report.median();
  const LoadResult& result = report.runs[median].result;
  JsonObject object;
  object.add("workload", json_string(report.workload))
      .add("style", json_string(report.style))
      .add("n", std::to_string(report.n))
      .add("unit", json_string(report.unit))
      .add("threads", std::to_string(result.threads))
      .add("threads_requested",
           report.threads_requested ? std::to_string(*report.threads_requested) : "null")
      .add("seconds", json_number(result.seconds))
      .add("rate", json_number(rate_of(result)))
      .add("check", std::to_string(result.check))
      .add("expected", std::to_string(report.expected))
      .add("check_ok", json_bool(report.all_ok()))
      .add("allocator", json_string(allocator_name()));
  for (const Field& field : result.extras) object.add(field.name, json_value(field));
  std::vector<std::string> failures = named_failures(report);
  for (std::string& failure : failures) failure = json_string(failure);
  object.add("failures", json_array(failures));
  if (report.warmup) {
    object.add("warmup", run_json(*report.warmup, std::nullopt));
    std::vector<std::string> runs;
    for (std::size_t i = 0; i < report.runs.size(); ++i) {
      runs.push_back(run_json(report.runs[i], i));
    }
    object.add("runs", json_array(runs));
    const Summary spread = summarize(report);
    object.add("summary", JsonObject()
                              .add("runs", std::to_string(report.runs.size()))
                              .add("median_run", std::to_string(median + 1))
                              .add("rate_median", json_number(rate_of(result)))
                              .add("rate_min", json_number(spread.rate_min))
                              .add("rate_max", json_number(spread.rate_max))
                              .add("seconds_median", json_number(result.seconds))
                              .add("seconds_min", json_number(spread.seconds_min))
                              .add("seconds_max", json_number(spread.seconds_max))
                              .close());
  }
  out << object.close() << '\n';
}

// A field's value as a CSV cell: its JSON form, except that text is quoted only if CSV needs it.
std::string csv_value(const Field& field) {
  if (const auto* text = std::get_if<std::string>(&field.value)) return csv_cell(*text);
  return json_value(field);
}

// A cell joined to a CSV line.
void add_cell(std::string& line, std::string_view cell) {
  if (!line.empty()) line += ',';
  line += cell;
}

void print_csv(std::ostream& out, const Report& report, bool with_header) {
  const std::vector<Field>& first_extras = report.runs.front().result.extras;
  std::string header =
      "workload,style,run,n,seconds,rate,check_ok,unit,threads,threads_requested,check,"
      "expected,allocator";
  for (const Field& field : first_extras) add_cell(header, csv_cell(field.name));
  add_cell(header, "failures");
  if (with_header) out << header << '\n';
  for (std::size_t i = 0; i < report.runs.size(); ++i) {
    const RunOutcome& run = report.runs[i];
    const LoadResult& result = run.result;
    std::string line;
    for (const std::string& cell :
         {csv_cell(report.workload), csv_cell(report.style), std::to_string(i + 1),
          std::to_string(report.n), json_number(result.seconds), json_number(rate_of(result)),
          json_bool(run.check_ok), csv_cell(report.unit), std::to_string(result.threads),
          report.threads_requested ? std::to_string(*report.threads_requested) : "",
          std::to_string(result.check), std::to_string(report.expected),
          std::string(allocator_name())}) {
      add_cell(line, cell);
    }
    for (const Field& column : first_extras) {
      const auto same_name = [&](const Field& field) { return field.name == column.name; };
      const auto found = std::find_if(result.extras.begin(), result.extras.end(), same_name);
      add_cell(line, found == result.extras.end() ? "" : csv_value(*found));
    }
    add_cell(line, csv_cell(failures_line(result)));  // one line per run
    out << line << '\n';
  }
}

// "8.22 M round trips/s, 121.6 us", and why it failed if it did: one run of a series.
std::string run_line(const Report& report, const RunOutcome& run) {
  std::string line =
      format_rate(rate_of(run.result), report.unit) + ", " + format_seconds(run.result.seconds);
  if (!run.check_ok) line += ": FAILED: " + why_failed(run, report.expected);
  return line;
}

void print_human(std::ostream& out, const Report& report) {
  const std::size_t median = report.median();
  const LoadResult& result = report.runs[median].result;
  std::string threads = format_count(result.threads);
  if (report.threads_requested && *report.threads_requested != result.threads) {
    threads += " (--threads " + format_count(*report.threads_requested) + " ignored)";
  }
  Rows rows = {
      {"workload", std::string(report.workload)},
      {"style", std::string(report.style)},
      {"n", format_count(report.n) + " " + std::string(report.unit)},
      {"threads", threads},
  };
  if (!report.warmup) {
    const bool ok = report.all_ok();
    rows.emplace_back("time", format_seconds(result.seconds));
    rows.emplace_back("rate", format_rate(rate_of(result), report.unit));
    rows.emplace_back("check", format_count(result.check) +
                                   (result.check == report.expected ? " = " : " != ") +
                                   "expected " + format_count(report.expected) +
                                   (ok ? ": ok" : ": FAILED"));
  } else {
    const Summary spread = summarize(report);
    rows.emplace_back("runs", format_count(report.runs.size()) + " measured after a warm-up");
    rows.emplace_back("time", format_seconds(result.seconds) + " median, min " +
                                  format_seconds(spread.seconds_min) + ", max " +
                                  format_seconds(spread.seconds_max));
    rows.emplace_back("rate", format_rate(rate_of(result), report.unit) + " median, min " +
                                  format_rate(spread.rate_min, report.unit) + ", max " +
                                  format_rate(spread.rate_max, report.unit));
    std::string failed;
    for_each_run(report, [&](const RunOutcome& run, std::optional<std::size_t> index) {
      if (!run.check_ok) failed += (failed.empty() ? "" : ", ") + run_name(index);
    });
    rows.emplace_back("check", failed.empty()
                                   ? format_count(report.expected) + " = expected " +
                                         format_count(report.expected) + ": ok in every run"
                                   : "FAILED in " + failed + " (expected " +
                                         format_count(report.expected) + ")");
  }
  rows.emplace_back("allocator", std::string(allocator_name()));
  for (const Field& field : result.extras) rows.emplace_back(field.name, format_field(field));
  if (!report.warmup) {
    for (const std::string& failure : result.failures) rows.emplace_back("failure", failure);
  } else {
    // A failed run's line says why, its failures included.
    for_each_run(report, [&](const RunOutcome& run, std::optional<std::size_t> index) {
      std::string line = run_line(report, run);
      if (!index) line += " (not measured)";
      if (index == median) line += " (median)";
      rows.emplace_back(run_name(index), line);
    });
  }
  print_rows(out, rows);
}

}  // namespace
}  // namespace report_impl

bool Report::all_ok() const noexcept {
  bool ok = !warmup || warmup->check_ok;
  for (const RunOutcome& run : runs) ok = ok && run.check_ok;
  return ok;
}

std::size_t Report::median() const {
  std::vector<std::size_t> order(runs.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return rate_of(runs[a].result) < rate_of(runs[b].result);
  });
  return order.at((order.size() - 1) / 2);
}

void print_report(std::ostream& out, const Report& report, OutputFormat format,
                  bool csv_header) {
  switch (format) {
    case OutputFormat::human: report_impl::print_human(out, report); break;
    case OutputFormat::json: report_impl::print_json(out, report); break;
    case OutputFormat::csv: report_impl::print_csv(out, report, csv_header); break;
  }
  out.flush();
}

void print_failed_runs(std::ostream& err, const Report& report, std::string_view label) {
  if (!report.warmup && label.empty()) return;
  report_impl::for_each_run(report, [&](const RunOutcome& run, std::optional<std::size_t> index) {
    if (run.check_ok) return;
    err << "troupe: error: " << (label.empty() ? report.workload : label) << ": "
        << report_impl::run_name(index)
        << " failed: " << report_impl::why_failed(run, report.expected) << '\n';
  });
  err.flush();
}

double rate_of(const LoadResult& result) {
  return result.seconds > 0 ? static_cast<double>(result.items) / result.seconds : 0.0;
}

Summary summarize(const Report& report) {
  const LoadResult& median = report.runs.at(report.median()).result;
  Summary summary{.rate_median = rate_of(median),
                  .rate_min = rate_of(median),
                  .rate_max = rate_of(median),
                  .seconds_median = median.seconds,
                  .seconds_min = median.seconds,
                  .seconds_max = median.seconds};
  for (const RunOutcome& run : report.runs) {
    summary.rate_min = std::min(summary.rate_min, rate_of(run.result));
    summary.rate_max = std::max(summary.rate_max, rate_of(run.result));
    summary.seconds_min = std::min(summary.seconds_min, run.result.seconds);
    summary.seconds_max = std::max(summary.seconds_max, run.result.seconds);
  }
  return summary;
}

std::vector<std::string> result_header(bool series) {
  if (series) return {"time", "rate", "min", "max", "unit", "check"};
  return {"time", "rate", "unit", "check"};
}

std::vector<std::string> result_cells(const Report& report, bool series) {
  const Summary summary = summarize(report);
  std::vector<std::string> cells = {format_seconds(summary.seconds_median),
                                    format_rate_number(summary.rate_median)};
  if (series) {
    cells.push_back(format_rate_number(summary.rate_min));
    cells.push_back(format_rate_number(summary.rate_max));
  }
  cells.push_back(std::string(report.unit) + "/s");
  cells.push_back(report.all_ok() ? "ok" : "FAILED");
  return cells;
}

void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths;
  for (const std::vector<std::string>& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const std::vector<std::string>& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] + 2 - row[i].size(), ' ');
    }
    out << line << '\n';
  }
  out.flush();
}

void print_summary_csv(std::ostream& out, const std::vector<Report>& reports) {
  out << "workload,style,n,unit,threads,runs,seconds,rate,check_ok,failures\n";
  for (const Report& report : reports) {
    const LoadResult& median = report.runs.at(report.median()).result;
    std::string failures;
    report_impl::for_each_run(report, [&](const RunOutcome& run, std::optional<std::size_t> index) {
      const std::string why = report_impl::why_failed(run, report.expected);
      if (why.empty()) return;
      failures += (failures.empty() ? "" : "; ") +
                  (report.warmup ? report_impl::run_name(index) + ": " + why : why);
    });
    std::string line;
    for (const std::string& cell :
         {csv_cell(report.workload), csv_cell(report.style), std::to_string(report.n),
          csv_cell(report.unit), std::to_string(median.threads),
          std::to_string(report.runs.size()), json_number(median.seconds),
          json_number(rate_of(median)), json_bool(report.all_ok()), csv_cell(failures)}) {
      report_impl::add_cell(line, cell);
    }
    out << line << '\n';
  }
  out.flush();
}

std::string format_field(const Field& field) {
  return std::visit(
      [](const auto& value) -> std::string {
        using V = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<V, bool>) return value ? "true" : "false";
        else if constexpr (std::is_same_v<V, std::uint64_t>) return format_count(value);
        else if constexpr (std::is_same_v<V, double>)
          return report_impl::printf_string("%.4g", value);
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
  std::string text = format_rate_number(per_second);
  text.append(" ").append(unit).append("/s");
  return text;
}

std::string format_rate_number(double per_second) {
  return per_second >= 1e6
             ? report_impl::printf_string("%.2f M", per_second / 1e6)
             : format_count(static_cast<std::uint64_t>(std::llround(std::max(per_second, 0.0))));
}

std::string format_seconds(double seconds) {
  if (seconds >= 1) return report_impl::printf_string("%.3f s", seconds);
  if (seconds >= 1e-3) return report_impl::printf_string("%.3f ms", seconds * 1e3);
  return report_impl::printf_string("%.1f us", seconds * 1e6);
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

std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  char text[64];
  const auto [end, error] = std::to_chars(text, text + sizeof text, value);
  return error == std::errc{} ? std::string(text, end) : "null";
}

std::string json_bool(bool value) { return value ? "true" : "false"; }

std::string_view allocator_name() {
  using Mallctl = int (*)(const char*, void*, std::size_t*, void*, std::size_t);
  void* symbol = dlsym(RTLD_DEFAULT, "mallctl");
  if (symbol == nullptr) return "system";
  const char* thp = nullptr;
  std::size_t size = sizeof thp;
  // NOLINTNEXTLINE(cppcoreguidelines-pro-type-reinterpret-cast): dlsym's answer
  const auto mallctl = reinterpret_cast<Mallctl>(symbol);
  const bool huge = mallctl("opt.thp", static_cast<void*>(&thp), &size, nullptr, 0) == 0 &&
                    thp != nullptr && std::string_view(thp) == "always";
  return huge ? "jemalloc+thp" : "jemalloc";
}

std::string csv_cell(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string quoted = "\"";
  for (const char c : text) {
    quoted += c;
    if (c == '"') quoted += '"';
  }
  return quoted + "\"";
}


void print_rows(std::ostream& out, const Rows& rows) {
  std::size_t width = 0;
  for (const auto& row : rows) width = std::max(width, row.first.size());
  for (const auto& [name, value] : rows) {
    out << name << std::string(width + 2 - name.size(), ' ') << value << '\n';
  }
}

}  // namespace troupe::cli
