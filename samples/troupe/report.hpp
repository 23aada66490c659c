// report.hpp — the one place that formats numbers and prints a `troupe load` result, for every
// workload: a short aligned report for people, or exactly one JSON object line (--json). The
// result is one run, or with --repeat a series: a warm-up and K measured runs summarised by
// their median, min and max.
//
// JSON of a single run (field order fixed; extras are the workload's own):
//   {"workload","style","n","unit","threads","threads_requested","seconds","rate","check",
//    "expected","check_ok","allocator",<extras>…,"failures":[…]}
// JSON of a series: the same fields, those of the median run (Report::median), except that
// "check_ok" is true only if every run held, the warm-up included, and "failures" holds every
// run's failures, each prefixed with its run's name ("run 2: …"); then
//   "warmup":  {"seconds","rate","check","check_ok"}            (not in the summary)
//   "runs":    [{"run":1,"seconds","rate","check","check_ok"}, …]   (the K measured runs)
//   "summary": {"runs":K,"median_run":i,"rate_median","rate_min","rate_max",
//               "seconds_median","seconds_min","seconds_max"}
// rate is items per second (the workload's unit), seconds the measured phase; median_run is
// the 1-based index in "runs" of the median run, and rate_median / seconds_median are its
// figures (so they equal the top-level "rate" and "seconds").
//
// CSV (RFC 4180: a cell holding a comma, quote or line break is quoted): a header line, then
// one line per measured run, in order (a single run is run 1; the warm-up has no line):
//   workload,style,run,n,seconds,rate,check_ok,unit,threads,threads_requested,check,expected,
//   allocator,<extras>…,failures
// The values are JSON's (seconds and rate in full precision, booleans true/false), except
// that threads_requested is empty when not given and failures is the run's own, "; "-joined.
// The extras' columns are the first run's fields.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "load.hpp"

namespace troupe::cli {

// One run: what the implementation returned, and whether it held (check == expected and no
// failures).
struct RunOutcome {
  LoadResult result;
  bool check_ok = false;
};

// Everything printed about one `troupe load`.
struct Report {
  std::string_view workload;
  std::string_view style;
  std::string_view unit;
  std::uint64_t n = 0;
  std::optional<std::uint64_t> threads_requested;
  std::uint64_t expected = 0;
  std::vector<RunOutcome> runs;      // the measured runs, in order: at least one
  std::optional<RunOutcome> warmup;  // set exactly when --repeat was given (a series)

  // Every run held, the warm-up included.
  [[nodiscard]] bool all_ok() const noexcept;
  // The index in `runs` of the median run by rate: with an even count, the slower of the two
  // middle runs (a series is then summarised by a rate it did reach, never by an average).
  // Its fields are the ones every format reports as "the" result.
  [[nodiscard]] std::size_t median() const;
};

// Prints the report in `format` (see the header comment). A series' runs are named "warm-up"
// and "run 1" … "run K". Without `csv_header` the CSV has no header line (the reports of a
// sweep: one header, then every value's lines).
void print_report(std::ostream& out, const Report& report, OutputFormat format,
                  bool csv_header = true);
// In a series, one line per failed run: "troupe: error: <workload>: run 2 failed: check 41 !=
// expected 45; <failure>…", so that exit code 1 is explained whatever the format. Nothing for a
// single run, whose report already says it all — unless `label` is given (a report among others,
// in a table: a sweep, `load all`), which then names it instead of the workload, even for a
// single run ("troupe: error: ring threads=4: run 1 failed: …").
void print_failed_runs(std::ostream& err, const Report& report, std::string_view label = {});

// The measured runs' figures: those of the median run, and the extremes.
struct Summary {
  double rate_median = 0, rate_min = 0, rate_max = 0;
  double seconds_median = 0, seconds_min = 0, seconds_max = 0;
};
[[nodiscard]] Summary summarize(const Report& report);
// Items per second of one run (0 if it took no measurable time).
[[nodiscard]] double rate_of(const LoadResult& result);

// The result columns of a table with a report per row (a sweep, `load all`), for people: time
// and rate (the median run's), with `series` (--repeat) the min and max rate, the unit, then
// "ok" or "FAILED". result_cells gives one report's cells, in the same order.
[[nodiscard]] std::vector<std::string> result_header(bool series);
[[nodiscard]] std::vector<std::string> result_cells(const Report& report, bool series);
// Prints rows of cells as aligned columns (two spaces apart, no trailing spaces), the first row
// being the header.
void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows);
// The CSV summary of several reports (`load all --csv`): a header, then one line per report,
//   workload,style,n,unit,threads,runs,seconds,rate,check_ok,failures
// with the median run's threads, seconds and rate, check_ok of every run (the warm-up too),
// and why each failed run failed, "; "-joined (prefixed "run 2: " in a series).
void print_summary_csv(std::ostream& out, const std::vector<Report>& reports);

// A result field's value as people read it: "true", "1,024", "unbounded".
[[nodiscard]] std::string format_field(const Field& field);
// 1234567 -> "1,234,567".
[[nodiscard]] std::string format_count(std::uint64_t value);
// Items per second: "26.3 M messages/s" from a million up, else "812,345 messages/s".
[[nodiscard]] std::string format_rate(double per_second, std::string_view unit);
// The number of format_rate alone: "26.30 M", "812,345".
[[nodiscard]] std::string format_rate_number(double per_second);
// A duration: "1.234 s", "12.345 ms" or "123.4 us".
[[nodiscard]] std::string format_seconds(double seconds);
// A JSON string literal, quotes included, with every character that needs it escaped.
[[nodiscard]] std::string json_string(std::string_view text);
// A JSON number in its shortest round-trip form; infinity and NaN (not JSON) become null.
[[nodiscard]] std::string json_number(double value);
// "true" or "false".
[[nodiscard]] std::string json_bool(bool value);
// One CSV cell: as is, or quoted (quotes doubled) if it holds a comma, quote or line break.
[[nodiscard]] std::string csv_cell(std::string_view text);
// The malloc behind this process: "jemalloc" (it exports mallctl), "jemalloc+thp" (jemalloc
// backing its memory with transparent huge pages: opt.thp is "always") or "system".
[[nodiscard]] std::string_view allocator_name();

// Builds one JSON object, `"key":value` pairs in the order added (values already JSON).
class JsonObject {
 public:
  JsonObject& add(std::string_view key, const std::string& value) {
    if (text_.size() > 1) text_ += ',';
    text_ += json_string(key);
    text_ += ':';
    text_ += value;
    return *this;
  }
  [[nodiscard]] std::string close() const { return text_ + "}"; }

 private:
  std::string text_ = "{";
};

// Name/value lines, printed with the values aligned one column after the longest name.
using Rows = std::vector<std::pair<std::string, std::string>>;
void print_rows(std::ostream& out, const Rows& rows);

}  // namespace troupe::cli
