// `troupe load <workload> --compare naive` and the naive style it runs against (samples/troupe
// compare.cpp, workloads_naive.cpp), driven through troupe::cli::run and run_load. Structure
// only: which runs happened, their checks and the fields printed, never how fast they were.
#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

#include "cli_test_support.hpp"
#include "troupe/load.hpp"

namespace {

using troupe::testing::check_usage_error;
using troupe::testing::CliRun;
using troupe::testing::contains;
using troupe::testing::count_of;
using troupe::testing::json_number_after;
using troupe::testing::lines_of;
using troupe::testing::run_cli;

// A baseline that computes the wrong check: a comparison must say so and exit 1.
troupe::cli::LoadResult run_wrong(const troupe::cli::LoadParams& params) {
  troupe::cli::LoadResult result;
  result.items = params.n;
  result.seconds = 0.5;
  result.check = params.n + 1;
  result.threads = 2;
  return result;
}

// The report of `troupe load <workload> --compare naive` for people: both sides' figures, the
// speedup and the check that held in every run.
void check_compared(const CliRun& run, const std::string& troupe_style, const std::string& check) {
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  CHECK(contains(run.out, "troupe     " + troupe_style + ": "));
  CHECK(contains(run.out, "naive      naive: "));
  CHECK(contains(run.out, "x (troupe rate / naive rate)\n"));
  CHECK(contains(run.out, "check      " + check + " = expected: ok in every run\n"));
}

// `--<flag> <value>` reaches both sides of `troupe load <workload> --compare naive --n <n>`:
// each side's JSON object reports `"<flag>":<value>`.
void check_both_sides_take(const std::string& workload, const std::string& n,
                           const std::string& flag, const std::string& value) {
  const CliRun run =
      run_cli({"load", workload, "--compare", "naive", "--" + flag, value, "--n", n, "--json"});
  CHECK(run.code == 0);
  CHECK(count_of(run.out, "\"" + flag + "\":" + value + ",") == 2);
}

}  // namespace

TEST_CASE("cli.compare runs every naive workload as a style of its own and verifies its check" *
          doctest::timeout(120)) {
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"pingpong", "1000"}, {"ring", "3000"},  {"fanin", "4000"},   {"transfer", "3"},
      {"pool", "1000"},     {"pool_cpu", "3"}, {"pipeline", "5000"}};
  for (const auto& [workload, n] : runs) {
    CAPTURE(workload);
    const CliRun run = run_cli({"load", workload, "--style", "naive", "--n", n, "--json"});
    CHECK(run.code == 0);
    CHECK(run.err.empty());
    CHECK(contains(run.out, "\"style\":\"naive\""));
    CHECK(contains(run.out, "\"check_ok\":true"));
    CHECK(json_number_after(run.out, "check") == json_number_after(run.out, "expected"));
  }
}

TEST_CASE("cli.compare gives the naive ring one thread per node" *
          doctest::timeout(120)) {
  const CliRun run = run_cli({"load", "ring", "--style", "naive", "--n", "2500", "--json"});
  CHECK(run.code == 0);
  CHECK(json_number_after(run.out, "threads") == 1000);
  CHECK(json_number_after(run.out, "check") == 2500);
}

TEST_CASE("cli.compare's naive pool takes --threads and its pipeline --capacity, as troupe's do" *
          doctest::timeout(60)) {
  struct Case {
    std::string workload, flag, value, field;
    double threads;     // the run's threads with `--flag value`
    double by_default;  // `field` without the flag: the troupe workload's default
  };
  for (const Case& c : {Case{"pool", "threads", "3", "workers", 3, 2},
                        Case{"pipeline", "capacity", "8", "capacity", 3, 1024}}) {
    CAPTURE(c.workload);
    const CliRun given = run_cli(
        {"load", c.workload, "--style", "naive", "--" + c.flag, c.value, "--n", "3000", "--json"});
    CHECK(given.code == 0);
    CHECK(contains(given.out, "\"check_ok\":true"));
    CHECK(json_number_after(given.out, c.field) == std::stod(c.value));
    CHECK(json_number_after(given.out, "threads") == c.threads);
    const CliRun by_default =
        run_cli({"load", c.workload, "--style", "naive", "--n", "10", "--json"});
    CHECK(json_number_after(by_default.out, c.field) == c.by_default);
  }
}

TEST_CASE("cli.compare runs pool against a hand-written pool of std::futures" *
          doctest::timeout(60)) {
  check_compared(run_cli({"load", "pool", "--compare", "naive", "--n", "1000"}), "batch",
                 "1,001,000");
  check_both_sides_take("pool", "100", "threads", "3");  // it sizes both pools
}

TEST_CASE("cli.compare runs pool_cpu's fib(25)s on the hand-written pool too" *
          doctest::timeout(60)) {
  check_compared(run_cli({"load", "pool_cpu", "--compare", "naive", "--n", "4"}), "pool",
                 "300,100");
}

TEST_CASE("cli.compare runs pipeline against a thread per stage on bounded queues" *
          doctest::timeout(60)) {
  check_compared(run_cli({"load", "pipeline", "--compare", "naive", "--n", "5000"}), "task",
                 "37,507,500");
  check_both_sides_take("pipeline", "1000", "capacity", "16");  // it bounds both sides' stages
}

TEST_CASE("cli.compare --repeat --json holds both sides' series and the speedup" *
          doctest::timeout(60)) {
  const CliRun run =
      run_cli({"load", "pingpong", "--compare", "naive", "--repeat", "2", "--n", "2000", "--json"});
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  REQUIRE(lines_of(run.out).size() == 1);
  CHECK(run.out.rfind("{\"workload\":\"pingpong\",\"n\":2000,\"unit\":\"round trips\","
                      "\"baseline\":\"naive\",\"runs\":2,\"speedup\":",
                      0) == 0);
  CHECK(json_number_after(run.out, "speedup") > 0);
  CHECK(contains(run.out, "\"check_ok\":true,\"troupe\":{\"workload\":\"pingpong\",\"style\":"
                          "\"task\""));
  CHECK(contains(run.out, "\"naive\":{\"workload\":\"pingpong\",\"style\":\"naive\""));
  // Each side: a warm-up and two measured runs, every one verified.
  CHECK(count_of(run.out, "\"warmup\":") == 2);
  CHECK(count_of(run.out, "{\"run\":1,") == 2);
  CHECK(count_of(run.out, "{\"run\":2,") == 2);
  CHECK(count_of(run.out, "{\"run\":3,") == 0);
  CHECK(count_of(run.out, "\"check\":2000,\"check_ok\":true") == 6);
}

TEST_CASE("cli.compare prints both sides and the speedup for people" * doctest::timeout(60)) {
  const CliRun run = run_cli({"load", "fanin", "--compare", "naive", "--n", "4000"});
  CHECK(run.code == 0);
  const std::vector<std::string> lines = lines_of(run.out);
  std::vector<std::string> names;
  for (const std::string& line : lines) names.push_back(line.substr(0, line.find(' ')));
  CHECK(names == std::vector<std::string>{"workload", "n", "runs", "troupe", "naive", "speedup",
                                          "check", "allocator"});
  CHECK(contains(run.out, "runs       1 of each (troupe first), no warm-up\n"));
  CHECK(contains(run.out, "troupe     thread: "));
  CHECK(contains(run.out, "naive      naive: "));
  CHECK(contains(run.out, "x (troupe rate / naive rate)\n"));
  CHECK(contains(run.out, "check      2,002,000 = expected: ok in every run\n"));
}

TEST_CASE("cli.compare --csv prints a header and one line of both rates" * doctest::timeout(60)) {
  const CliRun run = run_cli({"load", "transfer", "--compare", "naive", "--n", "2", "--csv"});
  CHECK(run.code == 0);
  const std::vector<std::string> lines = lines_of(run.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] ==
        "workload,n,unit,runs,troupe_style,troupe_rate,troupe_rate_min,troupe_rate_max,"
        "naive_rate,naive_rate_min,naive_rate_max,speedup,check_ok");
  CHECK(lines[1].rfind("transfer,2,round trips,1,thread,", 0) == 0);
  CHECK(lines[1].ends_with(",true"));
  CHECK(count_of(lines[1], ",") == 12);
}

TEST_CASE("cli.compare exits 1 and names the run when the baseline's check is wrong" *
          doctest::timeout(120)) {
  const troupe::cli::WorkloadSpec* spec = troupe::cli::find_workload("pingpong");
  REQUIRE(spec != nullptr);
  const troupe::cli::Implementation wrong{"pingpong", "wrong", run_wrong, "ignored", {}};
  const std::vector<const troupe::cli::Implementation*> styles =
      troupe::cli::implementations_of("pingpong");
  troupe::cli::LoadPlan plan{.spec = spec,
                             .implementation = styles.front(),
                             .params = {},
                             .format = troupe::cli::OutputFormat::json,
                             .repeat = 1,
                             .metrics = {},
                             .baseline = &wrong};
  plan.params.n = 100;
  plan.params.capacity = styles.front()->default_capacity;
  std::ostringstream out;
  std::ostringstream err;
  CHECK(troupe::cli::run_load(plan, out, err) == 1);
  CHECK(contains(out.str(), "\"check_ok\":false,\"troupe\":"));
  CHECK(lines_of(err.str()) ==
        std::vector<std::string>{
            "troupe: error: pingpong: wrong warm-up failed: check 101 != expected 100",
            "troupe: error: pingpong: wrong run 1 failed: check 101 != expected 100"});
}

TEST_CASE("cli.compare refuses skynet, saying why it has no naive baseline" *
          doctest::timeout(10)) {
  check_usage_error(run_cli({"load", "skynet", "--compare", "naive"}),
                    "--compare naive: skynet has no naive baseline: its naive form, one "
                    "std::thread per actor, is 1,111,111 OS threads for the default 1,000,000 "
                    "leaves, more than a system can run;");
  check_usage_error(run_cli({"load", "skynet", "--compare", "naive", "--n", "100"}),
                    "skynet has no naive baseline");
}

TEST_CASE("cli.compare refuses --threads where the naive threads are the workload's shape" *
          doctest::timeout(10)) {
  check_usage_error(run_cli({"load", "pipeline", "--compare", "naive", "--threads", "2"}),
                    "--compare naive: the naive pipeline cannot honour --threads: its threads "
                    "are fixed by the workload (ignored; one thread per stage = 3 threads)");
  for (const char* workload : {"pingpong", "ring", "fanin", "transfer"}) {
    CAPTURE(workload);
    check_usage_error(run_cli({"load", workload, "--compare", "naive", "--threads", "1"}),
                      std::string("the naive ") + workload + " cannot honour --threads");
  }
}

TEST_CASE("cli.compare refuses --capacity where the naive queues are unbounded" *
          doctest::timeout(10)) {
  check_usage_error(run_cli({"load", "pool", "--compare", "naive", "--capacity", "8"}),
                    "--compare naive: the naive pool cannot honour --capacity: its queues are "
                    "unbounded");
  for (const char* workload : {"pool_cpu", "pingpong", "ring", "fanin", "transfer"}) {
    CAPTURE(workload);
    check_usage_error(run_cli({"load", workload, "--compare", "naive", "--capacity", "4"}),
                      std::string("the naive ") + workload + " cannot honour --capacity");
  }
}

TEST_CASE("cli.compare rejects an unknown baseline, --style naive and --metrics") {
  check_usage_error(run_cli({"load", "pingpong", "--compare", "threads"}),
                    "--compare: unknown baseline 'threads' (baselines: naive)");
  check_usage_error(run_cli({"load", "pingpong", "--compare", "naive", "--style", "naive"}),
                    "--compare naive and --style naive conflict");
  check_usage_error(run_cli({"load", "pingpong", "--compare", "naive", "--metrics", "m.json"}),
                    "--compare and --metrics conflict");
}

TEST_CASE("cli.compare refuses --metrics for the naive style, which has no troupe in it") {
  check_usage_error(run_cli({"load", "ring", "--style", "naive", "--metrics", "m.json"}),
                    "--metrics: style 'naive' runs on plain threads");
}

TEST_CASE("cli.compare is described in the load help") {
  const CliRun run = run_cli({"load", "--help"});
  CHECK(run.code == 0);
  CHECK(contains(run.out, "--compare naive: the workload in its preferred style"));
  CHECK(contains(run.out,
                 "Workloads with a naive baseline:\n"
                 "fanin, transfer, pingpong, ring, pool, pool_cpu, pipeline.\n"));
  CHECK(contains(run.out,
                 "skynet has no naive baseline: its naive form, one std::thread per "
                 "actor, is 1,111,111 OS\n"));
  CHECK(contains(run.out, "style naive: --capacity ignored"));
}

TEST_CASE("compare: --compare with --sweep or with all is a usage error") {
  check_usage_error(run_cli({"load", "pingpong", "--compare", "naive", "--sweep", "threads=1,2"}),
                    "--sweep and --compare conflict");
  check_usage_error(run_cli({"load", "all", "--compare", "naive"}),
                    "--compare does not apply to 'troupe load all'");
}

TEST_CASE("cli.compare runs the troupe side in the --style asked for: pool with a future per "
          "task" *
          doctest::timeout(120)) {
  check_compared(
      run_cli({"load", "pool", "--compare", "naive", "--style", "pool", "--n", "1000"}), "pool",
      "1,001,000");
}
