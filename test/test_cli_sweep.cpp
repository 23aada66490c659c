// `troupe load <workload> --sweep PARAM=v1,v2,… [--plot FILE.svg]` (samples/troupe/sweep.hpp):
// one run (or series) per value, a table across the values, an SVG chart; every bad value or
// conflicting flag is a usage error found before any run.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "cli_test_support.hpp"
#include "troupe/load.hpp"
#include "troupe/sweep.hpp"

namespace {

using troupe::testing::check_usage_error;
using troupe::testing::CliRun;
using troupe::testing::contains;
using troupe::testing::lines_of;
using troupe::testing::read_text;
using troupe::testing::run_cli;
using troupe::testing::TempDir;

CliRun sweep(std::initializer_list<std::string> arguments) {
  return run_cli(arguments);
}

// The implementation the scripted tests swap in: transfer's check n(n+1)/2, except for n = 9
// (41, not 45); the run takes 0.5 s, so its rate is 2n.
troupe::cli::LoadResult run_scripted(const troupe::cli::LoadParams& params) {
  troupe::cli::LoadResult result;
  result.items = params.n;
  result.seconds = 0.5;
  result.check = params.n == 9 ? 41 : params.n * (params.n + 1) / 2;
  result.threads = params.threads.value_or(1);
  return result;
}
const troupe::cli::Implementation kScripted{"transfer", "scripted", run_scripted, "ignored", {}};

CliRun run_sweep_plan(troupe::cli::SweepPlan plan) {
  for (troupe::cli::LoadPlan& run : plan.plans) run.implementation = &kScripted;
  std::ostringstream out;
  std::ostringstream err;
  const int code = troupe::cli::run_sweep(plan, out, err);
  return {code, out.str(), err.str()};
}

troupe::cli::LoadRequest request(const std::string& workload, const std::string& sweep) {
  troupe::cli::LoadRequest request;
  request.workload = workload;
  request.sweep = sweep;
  return request;
}

}  // namespace

TEST_CASE("sweep.threads runs the workload once per value and prints a table" *
          doctest::timeout(60)) {
  const CliRun run = sweep({"load", "pingpong", "--n", "200", "--sweep", "threads=1,2"});
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  const std::vector<std::string> lines = lines_of(run.out);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == "pingpong (style task), n 200 round trips, sweep of threads:");
  CHECK(lines[1].rfind("threads  threads used  time", 0) == 0);
  CHECK(lines[1].substr(lines[1].size() - 20) == "unit           check");
  CHECK(lines[2].rfind("1        1             ", 0) == 0);
  CHECK(lines[3].rfind("2        2             ", 0) == 0);
  for (std::size_t i = 2; i < 4; ++i) {
    CHECK(contains(lines[i], "  round trips/s  ok"));
    CHECK(lines[i].substr(lines[i].size() - 2) == "ok");
  }
}

TEST_CASE("sweep.--json prints one load --json object per value, in the order given" *
          doctest::timeout(60)) {
  const CliRun run = sweep({"load", "fanin", "--sweep", "n=800,400", "--json"});
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  const std::vector<std::string> lines = lines_of(run.out);
  REQUIRE(lines.size() == 2);
  CHECK(contains(lines[0], "\"workload\":\"fanin\",\"style\":\"thread\",\"n\":800,"));
  CHECK(contains(lines[0], "\"check\":80400,"));
  CHECK(contains(lines[1], "\"n\":400,"));
  CHECK(contains(lines[1], "\"check\":20200,"));
  for (const std::string& line : lines) {
    CHECK(line.front() == '{');
    CHECK(line.back() == '}');
    CHECK(contains(line, "\"check_ok\":true"));
  }
}

TEST_CASE("sweep.capacity takes bounds and 'unbounded', as --capacity does" *
          doctest::timeout(60)) {
  const CliRun run =
      sweep({"load", "fanin", "--n", "400", "--sweep", "capacity=0,16,unbounded", "--json"});
  CHECK(run.code == 0);
  const std::vector<std::string> lines = lines_of(run.out);
  REQUIRE(lines.size() == 3);
  CHECK(contains(lines[0], "\"capacity\":0,"));
  CHECK(contains(lines[1], "\"capacity\":16,"));
  CHECK(contains(lines[2], "\"capacity\":\"unbounded\","));
  const CliRun human = sweep({"load", "fanin", "--n", "400", "--sweep", "capacity=1024,unbounded"});
  CHECK(human.code == 0);
  const std::vector<std::string> rows = lines_of(human.out);
  REQUIRE(rows.size() == 4);
  CHECK(rows[0] == "fanin (style thread), n 400 messages, sweep of capacity:");
  CHECK(rows[2].rfind("1,024      5  ", 0) == 0);
  CHECK(rows[3].rfind("unbounded  5  ", 0) == 0);
}

TEST_CASE("sweep.--csv prints one header, then every value's runs" * doctest::timeout(60)) {
  const CliRun run =
      sweep({"load", "transfer", "--n", "5", "--sweep", "threads=3,1", "--repeat", "2", "--csv"});
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  const std::vector<std::string> lines = lines_of(run.out);
  REQUIRE(lines.size() == 5);
  // The header of `load --csv` for the same workload, once.
  const CliRun single = sweep({"load", "transfer", "--n", "5", "--csv"});
  CHECK(lines[0] == lines_of(single.out).at(0));
  CHECK(lines[1].rfind("transfer,thread,1,5,", 0) == 0);
  CHECK(lines[2].rfind("transfer,thread,2,5,", 0) == 0);
  CHECK(lines[3].rfind("transfer,thread,1,5,", 0) == 0);
  CHECK(contains(lines[1], ",true,round trips,2,3,15,15,"));
  CHECK(contains(lines[3], ",true,round trips,2,1,15,15,"));
}

TEST_CASE("sweep.--repeat reports each value's median with the min and max rate" *
          doctest::timeout(60)) {
  const CliRun run =
      sweep({"load", "pingpong", "--n", "100", "--sweep", "threads=1,2", "--repeat", "2"});
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  const std::vector<std::string> lines = lines_of(run.out);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] ==
        "pingpong (style task), n 100 round trips, sweep of threads, median of 2 runs after a "
        "warm-up:");
  CHECK(lines[1].rfind("threads  threads used  time", 0) == 0);
  CHECK(contains(lines[1], "  rate  "));
  CHECK(contains(lines[1], "  min  "));
  CHECK(contains(lines[1], "  max  "));
}

TEST_CASE("sweep.a failed value exits 1 after the whole table and is named on stderr") {
  const CliRun run = run_sweep_plan(troupe::cli::plan_sweep(request("transfer", "n=4,9,8")));
  CHECK(run.code == 1);
  CHECK(run.out ==
        "transfer (style scripted), sweep of n:\n"
        "n  threads  time        rate  unit           check\n"
        "4  1        500.000 ms  8     round trips/s  ok\n"
        "9  1        500.000 ms  18    round trips/s  FAILED\n"
        "8  1        500.000 ms  16    round trips/s  ok\n");
  CHECK(run.err == "troupe: error: transfer n=9: run 1 failed: check 41 != expected 45\n");
}

TEST_CASE("sweep.--plot writes an SVG chart of the rate against the swept value") {
  const TempDir dir;
  troupe::cli::LoadRequest sweep_request = request("transfer", "n=8,4,9");
  sweep_request.plot = dir.file("rate.svg");
  const CliRun run = run_sweep_plan(troupe::cli::plan_sweep(sweep_request));
  CHECK(run.code == 1);  // n = 9 failed: the chart is written all the same
  CHECK(dir.files() == std::vector<std::string>{"rate.svg"});
  const std::string svg = read_text(dir.file("rate.svg"));
  CHECK(svg.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ", 0) == 0);
  CHECK(contains(svg, "<title>transfer (style scripted): rate against n</title>"));
  CHECK(contains(svg, ">n (round trips)</text>"));
  CHECK(contains(svg, ">round trips/s</text>"));
  // The points, joined in increasing n whatever the order given: rate 2n.
  const std::size_t four = svg.find("<title>rate: 4, 8</title>");
  const std::size_t eight = svg.find("<title>rate: 8, 16</title>");
  const std::size_t nine = svg.find("<title>rate: 9, 18</title>");
  CHECK(four != std::string::npos);
  CHECK(eight != std::string::npos);
  CHECK(nine != std::string::npos);
  CHECK(four < eight);
  CHECK(eight < nine);
  CHECK(svg.substr(svg.size() - 7) == "</svg>\n");
}

TEST_CASE("sweep.--plot with --repeat draws the median, min and max rate" * doctest::timeout(60)) {
  const TempDir dir;
  const CliRun run = sweep({"load", "pingpong", "--n", "100", "--sweep", "threads=1,2", "--repeat",
                            "2", "--json", "--plot", dir.file("p.svg")});
  CHECK(run.code == 0);
  CHECK(lines_of(run.out).size() == 2);
  const std::string svg = read_text(dir.file("p.svg"));
  CHECK(contains(svg, "<title>pingpong (style task): rate against threads, n 100</title>"));
  for (const char* series : {">median</text>", ">min</text>", ">max</text>"}) {
    CHECK_MESSAGE(contains(svg, series), series);
  }
  CHECK(dir.files() == std::vector<std::string>{"p.svg"});
}

TEST_CASE("sweep.a malformed --sweep is a usage error") {
  const std::string syntax = "(PARAM: threads, capacity or n)";
  check_usage_error(sweep({"load", "pingpong", "--sweep", "threads"}),
                    "--sweep: expected PARAM=v1,v2,... " + syntax + ", got 'threads'");
  check_usage_error(sweep({"load", "pingpong", "--sweep", "style=task,actor"}),
                    "--sweep: cannot sweep 'style' (expected PARAM=v1,v2,... " + syntax + ")");
  check_usage_error(sweep({"load", "pingpong", "--sweep", "=1,2"}), "cannot sweep ''");
  for (const std::string values : {"threads=", "threads=1,,2", "threads=1,", "threads=,1"}) {
    check_usage_error(sweep({"load", "pingpong", "--sweep", values}),
                      "--sweep: an empty value in '" + values + "'");
  }
  check_usage_error(sweep({"load", "pingpong", "--sweep", "threads=1,2,1"}),
                    "--sweep: threads=1 is given twice");
  check_usage_error(sweep({"load", "pingpong", "--sweep", "threads=2,02"}),
                    "--sweep: threads=02 is given twice");
  check_usage_error(sweep({"load", "fanin", "--sweep", "capacity=unbounded,8,unbounded"}),
                    "--sweep: capacity=unbounded is given twice");
  std::string many = "n=";
  for (int i = 1; i <= 65; ++i) many += std::to_string(i) + (i < 65 ? "," : "");
  check_usage_error(sweep({"load", "pingpong", "--sweep", many}), "--sweep: 65 values, at most 64");
  check_usage_error(sweep({"load", "pingpong", "--sweep"}), "--sweep");
}

TEST_CASE("sweep.every value is validated as its own flag would be") {
  check_usage_error(sweep({"load", "pingpong", "--sweep", "threads=1,0"}),
                    "--sweep threads=0: --threads: must be at least 1, got 0");
  check_usage_error(sweep({"load", "pingpong", "--sweep", "threads=2,abc"}),
                    "--sweep threads=abc: --threads: expected a positive integer, got 'abc'");
  check_usage_error(sweep({"load", "pingpong", "--sweep", "threads=1025"}),
                    "--sweep threads=1025: --threads: 1025 is too large (at most 1,024)");
  check_usage_error(sweep({"load", "fanin", "--sweep", "n=400,4001"}),
                    "--sweep n=4001: --n: fanin needs a multiple of 4, got 4001");
  check_usage_error(sweep({"load", "skynet", "--sweep", "n=10,500"}),
                    "--sweep n=500: --n: skynet needs a power of 10, got 500");
  check_usage_error(sweep({"load", "transfer", "--sweep", "n=-5"}),
                    "--sweep n=-5: --n: expected a positive integer, got '-5'");
  check_usage_error(sweep({"load", "fanin", "--sweep", "capacity=16,lots"}),
                    "--sweep capacity=lots: --capacity: expected 'unbounded' or an integer >= 0, "
                    "got 'lots'");
}

TEST_CASE("sweep.the other arguments' mistakes are not blamed on a value") {
  check_usage_error(sweep({"load", "nope", "--sweep", "threads=1,2"}), "unknown workload 'nope'");
  check_usage_error(sweep({"load", "fanin", "--style", "pool", "--sweep", "threads=1"}),
                    "workload 'fanin' has no style 'pool'");
  const CliRun run = sweep({"load", "fanin", "--repeat", "0", "--sweep", "threads=1"});
  check_usage_error(run, "--repeat: must be at least 1, got 0");
  CHECK_FALSE(contains(run.err, "--sweep threads=1:"));
}

TEST_CASE("sweep.conflicting flags are usage errors") {
  check_usage_error(sweep({"load", "pingpong", "--sweep", "threads=1,2", "--threads", "4"}),
                    "--sweep threads=... and --threads conflict: give the values in --sweep only");
  check_usage_error(sweep({"load", "fanin", "--n", "400", "--sweep", "n=800"}),
                    "--sweep n=... and --n conflict");
  check_usage_error(sweep({"load", "fanin", "--capacity", "1", "--sweep", "capacity=2"}),
                    "--sweep capacity=... and --capacity conflict");
  const TempDir dir;
  check_usage_error(
      sweep({"load", "pingpong", "--sweep", "threads=1", "--metrics", dir.file("m.json")}),
      "--sweep and --metrics conflict");
  check_usage_error(sweep({"load", "pool", "--sweep", "capacity=1,2"}),
                    "--sweep capacity: style 'batch' of pool has no channels (it ignores "
                    "--capacity)");
  check_usage_error(sweep({"load", "pingpong", "--sweep", "threads=1", "--json", "--csv"}),
                    "--csv and --json conflict");
  CHECK(dir.files().empty());
}

TEST_CASE("sweep.--plot without --sweep or to a file it cannot write is a usage error") {
  const TempDir dir;
  check_usage_error(sweep({"load", "pingpong", "--plot", dir.file("p.svg")}),
                    "--plot needs --sweep (the rate against the swept values) or 'troupe load "
                    "latency'");
  check_usage_error(
      sweep({"load", "pingpong", "--sweep", "threads=1", "--plot", dir.file("p.png")}),
      "--plot: '" + dir.file("p.png") + "' must end in .svg");
  check_usage_error(sweep({"load", "pingpong", "--sweep", "threads=1", "--plot", ""}),
                    "--plot: '' must end in .svg");
  const std::string missing = dir.file("no/such/dir/p.svg");
  check_usage_error(sweep({"load", "pingpong", "--sweep", "threads=1", "--plot", missing}),
                    "--plot: cannot write '" + missing + "': No such file or directory");
  std::filesystem::create_directory(dir.file("d.svg"));
  check_usage_error(
      sweep({"load", "pingpong", "--sweep", "threads=1", "--plot", dir.file("d.svg")}),
      "--plot: cannot write '" + dir.file("d.svg") + "': it is a directory");
  check_usage_error(
      sweep({"load", "fanin", "--sweep", "capacity=1,unbounded", "--plot", dir.file("c.svg")}),
      "--plot: capacity 'unbounded' has no place on the chart's numeric axis");
  CHECK(dir.files() == std::vector<std::string>{"d.svg"});
}
