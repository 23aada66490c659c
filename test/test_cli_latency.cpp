// `troupe load latency` (samples/troupe/latency.cpp) and its LatencyHistogram, driven through
// troupe::cli::run. The runs are small (2,000 requests/s for 0.2 s: 400 requests) and the
// assertions structural — counts, monotone percentiles, fields — never about timings.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "cli_test_support.hpp"
#include "troupe/latency_histogram.hpp"

namespace {

using troupe::cli::LatencyHistogram;
using troupe::testing::check_usage_error;
using troupe::testing::CliRun;
using troupe::testing::contains;
using troupe::testing::count_of;
using troupe::testing::json_number_after;
using troupe::testing::lines_of;
using troupe::testing::run_cli;

constexpr const char* kQuantileKeys[] = {"min", "p50", "p90", "p99", "p99_9", "max"};

// The sum of every "count" of the JSON histogram.
double histogram_total(const std::string& json) {
  double total = 0;
  for (std::size_t at = json.find("\"count\":"); at != std::string::npos;
       at = json.find("\"count\":", at + 1)) {
    total += std::stod(json.substr(at + 8));
  }
  return total;
}

// A 400-request run of `workload` as JSON: every request completed and verified, percentiles
// in order, the histogram holding every request.
void check_json_run(const std::string& workload) {
  CAPTURE(workload);
  const CliRun run = run_cli(
      {"load", "latency", "--rate", "2000", "--duration", "0.2", "--workload", workload, "--json"});
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  REQUIRE(lines_of(run.out).size() == 1);
  CHECK(run.out.rfind("{\"workload\":\"latency\",\"request\":\"" + workload +
                          "\",\"rate_requested\":2000,\"duration\":0.2,\"requests\":400,"
                          "\"completed\":400,",
                      0) == 0);
  CHECK(contains(run.out, "\"check\":80200,\"expected\":80200,"));  // 1 + … + 400
  CHECK(contains(run.out, "\"check_ok\":true"));
  CHECK(contains(run.out, "\"failures\":[]}"));
  for (const char* key : {"\"rate_achieved\":", "\"generator_lag_max_ns\":", "\"threads\":",
                          "\"mean\":", "\"allocator\":", "\"latency_ns\":", "\"histogram\":"}) {
    CHECK_MESSAGE(contains(run.out, key), key);
  }
  std::vector<double> quantiles;
  for (const char* key : kQuantileKeys) quantiles.push_back(json_number_after(run.out, key));
  CHECK(std::is_sorted(quantiles.begin(), quantiles.end()));
  CHECK(json_number_after(run.out, "rate_achieved") > 0);
  CHECK(histogram_total(run.out) == 400);
}

}  // namespace

TEST_CASE("latency: an actor run completes rate x duration requests with ordered percentiles" *
          doctest::timeout(60)) {
  check_json_run("actor");
}

TEST_CASE("latency: a task run completes rate x duration requests with ordered percentiles" *
          doctest::timeout(60)) {
  check_json_run("task");
}

TEST_CASE("latency: a pool run completes rate x duration requests with ordered percentiles" *
          doctest::timeout(60)) {
  check_json_run("pool");
}

TEST_CASE("latency: the request count is rate x duration rounded, in every unit of duration" *
          doctest::timeout(60)) {
  for (const auto& [rate, duration, requests] :
       std::vector<std::tuple<std::string, std::string, double>>{
           {"1000", "150ms", 150}, {"333", "0.1", 33}, {"2.5e3", "0.1s", 250}}) {
    CAPTURE(rate);
    const CliRun run = run_cli({"load", "latency", "--rate", rate, "--duration", duration,
                                "--workload", "task", "--json"});
    CHECK(run.code == 0);
    CHECK(json_number_after(run.out, "requests") == requests);
    CHECK(json_number_after(run.out, "completed") == requests);
  }
}

TEST_CASE("latency: the default request is an actor ask, and people get a histogram" *
          doctest::timeout(60)) {
  const CliRun run = run_cli({"load", "latency", "--rate", "2000", "--duration", "0.2"});
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  CHECK(contains(run.out, "request    actor: an ask to a handler actor"));
  CHECK(contains(run.out, "completed  400 of 400\n"));
  CHECK(contains(run.out, "check      80,200 = expected 80,200: ok\n"));
  const std::vector<std::string> lines = lines_of(run.out);
  const auto latency = std::find_if(lines.begin(), lines.end(), [](const std::string& line) {
    return line.rfind("latency ", 0) == 0;
  });
  REQUIRE(latency != lines.end());
  for (const char* label : {"p50 ", "p90 ", "p99 ", "p99.9 ", "max "}) {
    CHECK_MESSAGE(contains(*latency, label), label);
  }
  // The histogram's rows follow its heading: a range, a count, a share and a bar (if not
  // empty); the counts add up to the requests.
  const auto heading = std::find_if(lines.begin(), lines.end(), [](const std::string& line) {
    return line.rfind("histogram ", 0) == 0;
  });
  REQUIRE(heading != lines.end());
  double total = 0;
  for (auto row = heading + 1; row != lines.end(); ++row) {
    CHECK(row->rfind("  ", 0) == 0);
    CHECK(contains(*row, " - "));
    // The count is the word before the share ("12.50%").
    std::istringstream words(*row);
    std::vector<std::string> tokens{std::istream_iterator<std::string>(words), {}};
    const auto share = std::find_if(tokens.begin(), tokens.end(),
                                    [](const std::string& token) { return token.ends_with('%'); });
    REQUIRE(share != tokens.end());
    REQUIRE(share != tokens.begin());
    std::string count = *(share - 1);
    count.erase(std::remove(count.begin(), count.end(), ','), count.end());
    const double value = std::stod(count);
    CHECK(contains(*row, "%  #") == (value > 0));  // a bar for every non-empty range
    total += value;
  }
  CHECK(total == 400);
}

TEST_CASE("latency: --csv prints a header and one line with the same columns" *
          doctest::timeout(60)) {
  const CliRun run = run_cli(
      {"load", "latency", "--rate", "2000", "--duration", "0.2", "--workload", "pool", "--csv"});
  CHECK(run.code == 0);
  const std::vector<std::string> lines = lines_of(run.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] ==
        "workload,request,rate_requested,duration,requests,completed,rate_achieved,"
        "generator_lag_max_ns,threads,check,expected,min_ns,mean_ns,p50_ns,p90_ns,p99_ns,"
        "p99_9_ns,max_ns,check_ok,allocator,failures");
  CHECK(lines[1].rfind("latency,pool,2000,0.2,400,400,", 0) == 0);
  CHECK(count_of(lines[1], ",") == count_of(lines[0], ","));
  CHECK(contains(lines[1], ",80200,80200,"));
  CHECK(contains(lines[1], ",true,"));
}

TEST_CASE("latency: --threads sets the workers that serve the requests" * doctest::timeout(60)) {
  const CliRun run = run_cli({"load", "latency", "--rate", "1000", "--duration", "0.05",
                              "--workload", "pool", "--threads", "3", "--json"});
  CHECK(run.code == 0);
  CHECK(json_number_after(run.out, "threads") == 3);
}

TEST_CASE("latency: bad rates, durations and workloads are usage errors") {
  struct Bad {
    std::string rate;
    std::string duration;
    std::string message;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"0", "1", "--rate: must be greater than 0, got 0"},
           {"-5", "1", "--rate: must be greater than 0, got -5"},
           {"fast", "1", "--rate: expected requests per second, a number, got 'fast'"},
           {"1e3x", "1", "--rate: expected requests per second"},
           {"nan", "1", "--rate: expected requests per second"},
           {"2000001", "1", "--rate: 2000001 is beyond what the generator can schedule"},
           {"100", "0", "--duration: must be greater than 0, got 0"},
           {"100", "soon", "--duration: expected seconds"},
           {"100", "3601", "--duration: 3601 is too long (at most 3600 s)"},
           {"1", "0.4", "less than one request"},
           {"1000000", "3600", "too many requests"},
       }) {
    CAPTURE(bad.rate);
    CAPTURE(bad.duration);
    check_usage_error(run_cli({"load", "latency", "--rate", bad.rate, "--duration", bad.duration}),
                      bad.message);
  }
  check_usage_error(run_cli({"load", "latency", "--duration", "1"}), "needs --rate");
  check_usage_error(run_cli({"load", "latency", "--rate", "100"}), "needs --duration");
  check_usage_error(
      run_cli({"load", "latency", "--rate", "100", "--duration", "1", "--workload", "ring"}),
      "--workload: unknown request kind 'ring' (latency workloads: actor, task, pool)");
}

TEST_CASE("latency: flags of the other workloads are refused, and its own elsewhere") {
  check_usage_error(run_cli({"load", "latency", "--rate", "100", "--duration", "1", "--n", "5"}),
                    "--n does not apply to 'troupe load latency'");
  check_usage_error(
      run_cli({"load", "latency", "--rate", "100", "--duration", "1", "--repeat", "3"}),
      "--repeat does not apply");
  check_usage_error(
      run_cli({"load", "latency", "--rate", "100", "--duration", "1", "--json", "--csv"}),
      "--csv and --json conflict");
  check_usage_error(run_cli({"load", "pingpong", "--rate", "100"}),
                    "--rate applies only to 'troupe load latency', not to 'pingpong'");
  check_usage_error(run_cli({"load", "fanin", "--workload", "actor"}),
                    "--workload applies only to 'troupe load latency'");
}

TEST_CASE("latency: the load help describes the mode and its workloads") {
  const CliRun run = run_cli({"load", "--help"});
  CHECK(run.code == 0);
  CHECK(contains(run.out, "troupe load latency --rate R --duration D"));
  CHECK(contains(run.out, "no coordinated\n  omission"));
  for (const char* workload : {"    actor  ", "    task   ", "    pool   "}) {
    CHECK_MESSAGE(contains(run.out, workload), workload);
  }
}

TEST_CASE("latency histogram: every value lies in its bucket, buckets within 1/128 of it") {
  std::vector<std::uint64_t> values;
  for (std::uint64_t v = 0; v < 5000; ++v) values.push_back(v);
  for (std::uint64_t v = 5000; v < (std::uint64_t{1} << 42); v = v * 3 / 2 + 7) {
    values.push_back(v);
    values.push_back(v - 1);
  }
  std::size_t previous_bucket = 0;
  std::uint64_t previous_value = 0;
  for (const std::uint64_t v : values) {
    CAPTURE(v);
    const std::size_t bucket = LatencyHistogram::bucket_of(v);
    REQUIRE(bucket < LatencyHistogram::kBuckets);
    if (v >= previous_value) CHECK(bucket >= previous_bucket);  // monotone
    previous_bucket = bucket;
    previous_value = v;
    if (bucket + 1 == LatencyHistogram::kBuckets) continue;  // the open last bucket
    const std::uint64_t low = LatencyHistogram::lowest_of(bucket);
    const std::uint64_t high = LatencyHistogram::highest_of(bucket);
    CHECK(low <= v);
    CHECK(v <= high);
    CHECK(static_cast<double>(high - low) <= static_cast<double>(low) / 128.0);
  }
  CHECK(LatencyHistogram::bucket_of(255) == 255);                     // exact below 256
  CHECK(LatencyHistogram::lowest_of(LatencyHistogram::bucket_of(256)) == 256);
  CHECK(LatencyHistogram::highest_of(LatencyHistogram::bucket_of(511)) == 511);
}

TEST_CASE("latency histogram: quantiles are within 1% of the exact ones and monotone") {
  LatencyHistogram histogram;
  std::vector<std::uint64_t> values;
  for (std::uint64_t i = 1; i <= 100'000; ++i) {
    const auto v = static_cast<std::uint64_t>(1000.0 * std::pow(1.0001, static_cast<double>(i)));
    values.push_back(v);
    histogram.record(v);
  }
  std::sort(values.begin(), values.end());
  CHECK(histogram.count() == values.size());
  CHECK(histogram.min() == values.front());
  CHECK(histogram.max() == values.back());
  std::uint64_t previous = 0;
  for (const double q : {0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0}) {
    CAPTURE(q);
    const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size())));
    const std::uint64_t exact = values[rank - 1];
    const std::uint64_t reported = histogram.quantile(q);
    CHECK(reported >= exact);
    CHECK(static_cast<double>(reported) <= static_cast<double>(exact) * 1.01);
    CHECK(reported >= previous);
    previous = reported;
  }
  CHECK(histogram.quantile(1.0) == histogram.max());
}

TEST_CASE("latency histogram: the power-of-two ranges hold every value, empty ones included") {
  LatencyHistogram histogram;
  CHECK(histogram.quantile(0.5) == 0);
  CHECK(histogram.log2_ranges().empty());
  for (const std::uint64_t v : {0, 1, 3, 3000, 3100, 70'000}) histogram.record(v);
  const std::vector<LatencyHistogram::Range> ranges = histogram.log2_ranges();
  REQUIRE(ranges.size() == 17);  // [0, 2) … [65536, 131072)
  CHECK(ranges.front().from_ns == 0);
  CHECK(ranges.front().to_ns == 2);
  CHECK(ranges.front().count == 2);
  CHECK(ranges[1].count == 1);                          // 3 in [2, 4)
  CHECK(ranges[11].from_ns == 2048);
  CHECK(ranges[11].count == 2);                         // 3000 and 3100 in [2048, 4096)
  CHECK(ranges.back().count == 1);                      // 70,000
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    total += ranges[i].count;
    if (i > 0) CHECK(ranges[i].from_ns == ranges[i - 1].to_ns);
  }
  CHECK(total == 6);
}

TEST_CASE("latency: --plot writes the histogram as one SVG document, and no temporary file" *
          doctest::timeout(60)) {
  const troupe::testing::TempDir dir;
  const std::string path = dir.file("latency.svg");
  const CliRun run = run_cli({"load", "latency", "--rate", "2000", "--duration", "0.2",
                              "--workload", "task", "--json", "--plot", path});
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  CHECK(json_number_after(run.out, "completed") == 400);
  CHECK(dir.files() == std::vector<std::string>{"latency.svg"});
  const std::string svg = troupe::testing::read_text(path);
  CHECK(svg.rfind("<?xml", 0) == 0);
  CHECK(count_of(svg, "<svg") == 1);
  CHECK(svg.ends_with("</svg>\n"));
  CHECK(contains(svg, "troupe load latency: task"));
  CHECK(contains(svg, "latency from the intended send time"));
  // One bar per range of the report's histogram.
  const std::size_t ranges = count_of(run.out, "\"from_ns\":");
  CHECK(ranges >= 1);
  CHECK(count_of(svg, "</title></rect>") == ranges);
}

TEST_CASE("latency: --plot to a path it cannot write, or not .svg, is refused before the run") {
  const troupe::testing::TempDir dir;
  const std::string missing = dir.file("no/such/dir/h.svg");
  check_usage_error(
      run_cli({"load", "latency", "--rate", "100", "--duration", "1", "--plot", missing}),
      "--plot: cannot write '" + missing + "': No such file or directory");
  check_usage_error(run_cli({"load", "latency", "--rate", "100", "--duration", "1", "--plot",
                             dir.file("h.png")}),
                    "--plot: '" + dir.file("h.png") + "' must end in .svg");
  CHECK(dir.files().empty());
  check_usage_error(run_cli({"load", "ring", "--plot", dir.file("h.svg")}),
                    "--plot needs --sweep (the rate against the swept values) or 'troupe load "
                    "latency'");
}

TEST_CASE("latency: --sweep and --quick are refused: they belong to other commands") {
  check_usage_error(run_cli({"load", "latency", "--rate", "100", "--duration", "1", "--sweep",
                             "threads=1,2"}),
                    "--sweep does not apply to 'troupe load latency'");
  check_usage_error(
      run_cli({"load", "latency", "--rate", "100", "--duration", "1", "--quick"}),
      "--quick does not apply to 'troupe load latency'");
}
