// `troupe load all [--quick]` (samples/troupe/all.hpp): every runnable workload at its default
// (or quick) size in its preferred style, one summary table; --json and --csv; exit code 1 after
// the whole table if any check failed.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_test_support.hpp"
#include "troupe/all.hpp"
#include "troupe/load.hpp"

namespace {

using troupe::cli::LoadPlan;
using troupe::cli::LoadRequest;
using troupe::testing::check_usage_error;
using troupe::testing::CliRun;
using troupe::testing::contains;
using troupe::testing::lines_of;
using troupe::testing::run_cli;

LoadRequest all_request() {
  LoadRequest request;
  request.workload = "all";
  return request;
}

// The plans of `load all` with every workload at n = 100 (valid for each: a multiple of 4 and a
// power of 10), so that the whole suite runs in a test.
std::vector<LoadPlan> small_plans(LoadRequest request) {
  std::vector<LoadPlan> plans = troupe::cli::plan_all(request);
  for (LoadPlan& plan : plans) {
    LoadRequest single = request;
    single.workload = std::string(plan.spec->name);
    single.n = "100";
    plan = troupe::cli::plan_load(single);
  }
  return plans;
}

CliRun run_plans(const std::vector<LoadPlan>& plans) {
  std::ostringstream out;
  std::ostringstream err;
  const int code = troupe::cli::run_all(plans, out, err);
  return {code, out.str(), err.str()};
}

}  // namespace

TEST_CASE("all.plans every runnable workload at its default size in its preferred style") {
  const std::vector<LoadPlan> plans = troupe::cli::plan_all(all_request());
  const std::vector<std::string_view> names = troupe::cli::runnable_workloads();
  REQUIRE(plans.size() == names.size());
  REQUIRE(plans.size() >= 8);
  for (std::size_t i = 0; i < plans.size(); ++i) {
    CAPTURE(names[i]);
    CHECK(plans[i].spec->name == names[i]);
    CHECK(plans[i].implementation->style == plans[i].spec->preferred_style);
    CHECK(plans[i].params.n == plans[i].spec->default_n);
    CHECK_FALSE(plans[i].repeat.has_value());
  }
}

TEST_CASE("all.--quick plans each workload at its quick size, a valid n below the default") {
  LoadRequest request = all_request();
  request.quick = true;
  request.repeat = "2";
  request.threads = "2";
  // plan_all validates each quick_n as --n would be (max_n, multiple of, power of).
  const std::vector<LoadPlan> plans = troupe::cli::plan_all(request);
  for (const LoadPlan& plan : plans) {
    CAPTURE(plan.spec->name);
    CHECK(plan.params.n == plan.spec->quick_n);
    CHECK(plan.spec->quick_n > 0);
    CHECK(plan.spec->quick_n < plan.spec->default_n);
    CHECK(plan.repeat == std::optional<std::uint64_t>{2});
    CHECK(plan.params.threads == std::optional<std::uint64_t>{2});
  }
}

TEST_CASE("all.runs every workload and prints one table, a row each, every check ok" *
          doctest::timeout(300)) {
  const std::vector<LoadPlan> plans = small_plans(all_request());
  const CliRun run = run_plans(plans);
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  const std::vector<std::string> lines = lines_of(run.out);
  REQUIRE(lines.size() == plans.size() + 1);
  CHECK(lines[0].rfind("workload  style   n    time", 0) == 0);
  CHECK(lines[0].substr(lines[0].size() - 5) == "check");
  for (std::size_t i = 0; i < plans.size(); ++i) {
    CAPTURE(lines[i + 1]);
    CHECK(lines[i + 1].rfind(std::string(plans[i].spec->name) + " ", 0) == 0);
    CHECK(contains(lines[i + 1], " " + std::string(plans[i].implementation->style) + " "));
    CHECK(contains(lines[i + 1], " 100 "));
    CHECK(contains(lines[i + 1], " " + std::string(plans[i].spec->unit) + "/s "));
    CHECK(lines[i + 1].substr(lines[i + 1].size() - 4) == "  ok");
  }
}

TEST_CASE("all.--json prints one load --json line per workload" * doctest::timeout(300)) {
  LoadRequest request = all_request();
  request.json = true;
  const std::vector<LoadPlan> plans = small_plans(request);
  const CliRun run = run_plans(plans);
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  const std::vector<std::string> lines = lines_of(run.out);
  REQUIRE(lines.size() == plans.size());
  for (std::size_t i = 0; i < plans.size(); ++i) {
    CAPTURE(lines[i]);
    CHECK(lines[i].rfind("{\"workload\":\"" + std::string(plans[i].spec->name) + "\",", 0) == 0);
    CHECK(lines[i].back() == '}');
    CHECK(contains(lines[i], ",\"n\":100,"));
    CHECK(contains(lines[i], "\"check_ok\":true"));
  }
}

TEST_CASE("all.--csv prints the summary: a header and one line per workload" *
          doctest::timeout(300)) {
  LoadRequest request = all_request();
  request.csv = true;
  request.repeat = "1";
  const std::vector<LoadPlan> plans = small_plans(request);
  const CliRun run = run_plans(plans);
  CHECK(run.code == 0);
  const std::vector<std::string> lines = lines_of(run.out);
  REQUIRE(lines.size() == plans.size() + 1);
  CHECK(lines[0] == "workload,style,n,unit,threads,runs,seconds,rate,check_ok,failures");
  for (std::size_t i = 0; i < plans.size(); ++i) {
    CAPTURE(lines[i + 1]);
    CHECK(lines[i + 1].rfind(std::string(plans[i].spec->name) + "," +
                                 std::string(plans[i].implementation->style) + ",100," +
                                 std::string(plans[i].spec->unit) + ",",
                             0) == 0);
    CHECK(lines[i + 1].substr(lines[i + 1].size() - 6) == ",true,");
    CHECK(std::count(lines[i + 1].begin(), lines[i + 1].end(), ',') == 9);
  }
}

namespace {
// An implementation that throws.
troupe::cli::LoadResult run_throwing(const troupe::cli::LoadParams&) {
  throw std::runtime_error("out of \"luck\"");
}
// check 41 for every n.
const troupe::cli::Implementation kWrong{"transfer", "wrong", troupe::testing::wrong_sum,
                                         "ignored", {}};
const troupe::cli::Implementation kThrowing{"fanin", "throwing", run_throwing, "ignored", {}};
}  // namespace

TEST_CASE("all.a failed check or a throwing run exits 1 after the whole table" *
          doctest::timeout(300)) {
  for (const auto format : {troupe::cli::OutputFormat::human, troupe::cli::OutputFormat::csv,
                            troupe::cli::OutputFormat::json}) {
    CAPTURE(static_cast<int>(format));
    LoadRequest request = all_request();
    request.json = format == troupe::cli::OutputFormat::json;
    request.csv = format == troupe::cli::OutputFormat::csv;
    std::vector<LoadPlan> plans = small_plans(request);
    std::size_t swapped = 0;
    for (LoadPlan& plan : plans) {
      if (plan.spec->name == "transfer") plan.implementation = &kWrong, ++swapped;
      if (plan.spec->name == "fanin") plan.implementation = &kThrowing, ++swapped;
    }
    REQUIRE(swapped == 2);
    const CliRun run = run_plans(plans);
    CHECK(run.code == 1);
    const std::size_t header = format == troupe::cli::OutputFormat::json ? 0 : 1;
    const std::vector<std::string> lines = lines_of(run.out);
    REQUIRE(lines.size() == plans.size() + header);  // every workload is still reported
    CHECK(run.err ==
          "troupe: error: fanin: out of \"luck\"\n"
          "troupe: error: transfer: run 1 failed: check 41 != expected 5,050\n");
    std::size_t failed = 0;
    for (const std::string& line : lines) {
      if (contains(line, "FAILED") || contains(line, ",false,") ||
          contains(line, "\"check_ok\":false")) {
        ++failed;
      }
    }
    CHECK(failed == 2);
    if (format == troupe::cli::OutputFormat::csv) {
      CHECK(contains(run.out,
                     "\nfanin,throwing,100,messages,0,1,0,0,false,"
                     "\"check 0 != expected 1,300; the run threw: out of \"\"luck\"\"\"\n"));
    }
  }
}

TEST_CASE("all.flags that do not apply to every workload are usage errors") {
  check_usage_error(run_cli({"load", "all", "--n", "100"}),
                    "--n does not apply to 'troupe load all': each workload runs at its own "
                    "default (or --quick) size");
  check_usage_error(run_cli({"load", "all", "--style", "task"}),
                    "--style does not apply to 'troupe load all'");
  check_usage_error(run_cli({"load", "all", "--capacity", "1"}),
                    "--capacity does not apply to 'troupe load all'");
  check_usage_error(run_cli({"load", "all", "--metrics", "m.json"}),
                    "--metrics does not apply to 'troupe load all'");
  check_usage_error(run_cli({"load", "all", "--sweep", "threads=1,2"}),
                    "--sweep does not apply to 'troupe load all'");
  check_usage_error(run_cli({"load", "all", "--plot", "p.svg"}),
                    "--plot does not apply to 'troupe load all'");
}

TEST_CASE("all.bad values and conflicts are usage errors found before any run") {
  check_usage_error(run_cli({"load", "all", "--quick", "--threads", "0"}),
                    "--threads: must be at least 1, got 0");
  check_usage_error(run_cli({"load", "all", "--repeat", "abc"}),
                    "--repeat: expected a positive integer, got 'abc'");
  check_usage_error(run_cli({"load", "all", "--placement", "near"}),
                    "--placement: expected 'spread' or 'os', got 'near'");
  check_usage_error(run_cli({"load", "all", "--json", "--csv"}), "--csv and --json conflict");
  check_usage_error(run_cli({"load", "all", "--quick", "--bogus"}), "--bogus");
  check_usage_error(run_cli({"load", "fanin", "--quick"}),
                    "--quick applies to 'troupe load all' only");
}

TEST_CASE("all.help and usage name the command and its flags") {
  const CliRun help = run_cli({"load", "--help"});
  CHECK(help.code == 0);
  for (const char* text : {"--quick", "--sweep", "--plot", "troupe load all"}) {
    CHECK_MESSAGE(contains(help.out, text), std::string(text));
  }
  const CliRun bad = run_cli({"load", "all", "--n", "1"});
  CHECK(contains(bad.err, "troupe load all [--quick]"));
}
