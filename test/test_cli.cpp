// The `troupe` CLI (samples/troupe), driven through troupe::cli::run: the output contract of
// `troupe load` (one JSON line, verified checks) and one-line usage errors with exit code 2.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cli_test_support.hpp"
#include "troupe/cli.hpp"
#include "troupe/load.hpp"
#include "troupe/report.hpp"

namespace {

using troupe::testing::check_usage_error;
using troupe::testing::CliRun;
using troupe::testing::contains;
using troupe::testing::lines_of;
using troupe::testing::read_text;
using troupe::testing::run_cli;
using troupe::testing::TempDir;

// Exactly one line holding one JSON object: braces outside strings balance and close at the end.
void check_one_json_object(const std::string& out) {
  REQUIRE(lines_of(out).size() == 1);
  REQUIRE(out.size() > 3);
  CHECK(out.front() == '{');
  CHECK(out.substr(out.size() - 2) == "}\n");
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  std::size_t closed_at = 0;
  for (std::size_t i = 0; i + 1 < out.size(); ++i) {
    const char c = out[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (--depth == 0) closed_at = i;
    }
  }
  CHECK_FALSE(in_string);
  CHECK(depth == 0);
  CHECK(closed_at == out.size() - 2);
}

void check_standard_keys(const std::string& out) {
  for (const char* key : {"workload", "style", "n", "unit", "seconds", "rate", "check",
                          "expected", "check_ok", "threads", "allocator", "failures"}) {
    std::string quoted = "\"";
    quoted.append(key).append("\":");
    CHECK_MESSAGE(contains(out, quoted), key);
  }
}

}  // namespace

TEST_CASE("cli.load fanin --json prints one JSON object with the right sum" *
          doctest::timeout(30)) {
  const CliRun run = run_cli({"load", "fanin", "--n", "4000", "--json"});
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  check_one_json_object(run.out);
  check_standard_keys(run.out);
  // 4 producers each send 1..1000: 4 * 1000 * 1001 / 2.
  CHECK(contains(run.out, "\"workload\":\"fanin\""));
  CHECK(contains(run.out, "\"style\":\"thread\""));
  CHECK(contains(run.out, "\"n\":4000,"));
  CHECK(contains(run.out, "\"check\":2002000,"));
  CHECK(contains(run.out, "\"expected\":2002000,"));
  CHECK(contains(run.out, "\"check_ok\":true"));
  CHECK(contains(run.out, "\"allocator\":\"system\""));  // the tests do not link jemalloc
  CHECK(contains(run.out, "\"threads\":5,"));
  CHECK(contains(run.out, "\"failures\":[]"));
}

TEST_CASE("cli.load transfer --json moves the buffer and sums the counter" *
          doctest::timeout(30)) {
  const CliRun run = run_cli({"load", "transfer", "--n", "10", "--json"});
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  check_one_json_object(run.out);
  check_standard_keys(run.out);
  CHECK(contains(run.out, "\"check\":55,"));
  CHECK(contains(run.out, "\"expected\":55,"));
  CHECK(contains(run.out, "\"check_ok\":true"));
  CHECK(contains(run.out, "\"moved_not_copied\":true"));
  CHECK(contains(run.out, "\"buffer_bytes\":104857600"));
  CHECK(contains(run.out, "\"counter\":\"first 64-bit word\""));
  CHECK(contains(run.out, "\"threads\":2,"));
}

TEST_CASE("cli.load transfer counts past 255 round trips (the counter is a 64-bit word)" *
          doctest::timeout(30)) {
  const CliRun run = run_cli({"load", "transfer", "--n", "300", "--json"});
  CHECK(run.code == 0);
  CHECK(contains(run.out, "\"check\":45150,"));  // 300 * 301 / 2
  CHECK(contains(run.out, "\"check_ok\":true"));
}

TEST_CASE("cli.load fanin is right over rendezvous, bounded and unbounded channels" *
          doctest::timeout(30)) {
  for (const char* capacity : {"0", "1", "1024", "unbounded"}) {
    CAPTURE(capacity);
    const CliRun run = run_cli({"load", "fanin", "--n", "800", "--capacity", capacity, "--json"});
    CHECK(run.code == 0);
    CHECK(contains(run.out, "\"check\":80400,"));  // 4 * 200 * 201 / 2
    CHECK(contains(run.out, "\"check_ok\":true"));
    const std::string reported = std::string(capacity) == "unbounded" ? "\"unbounded\"" : capacity;
    CHECK(contains(run.out, "\"capacity\":" + reported));
  }
}

TEST_CASE("cli.load reports the threads it used, not the ones asked for" * doctest::timeout(30)) {
  const CliRun run = run_cli({"load", "fanin", "--n", "400", "--threads", "3", "--json"});
  CHECK(run.code == 0);
  CHECK(contains(run.out, "\"threads\":5,"));
  CHECK(contains(run.out, "\"threads_requested\":3,"));
}

TEST_CASE("cli.load prints an aligned human report by default" * doctest::timeout(30)) {
  const CliRun run = run_cli({"load", "fanin", "--n", "4000"});
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  const std::vector<std::string> lines = lines_of(run.out);
  REQUIRE(lines.size() >= 7);
  CHECK(lines[0].rfind("workload", 0) == 0);
  CHECK(contains(run.out, "4,000 messages"));
  CHECK(contains(run.out, "2,002,000 = expected 2,002,000: ok"));
  CHECK(contains(run.out, "messages/s"));
  const std::size_t column = lines[0].find("fanin");
  for (const std::string& line : lines) CHECK(line.find_first_not_of(' ', column - 1) == column);
}

TEST_CASE("cli.load --list lists the runnable workloads, one per line") {
  const CliRun run = run_cli({"load", "--list"});
  CHECK(run.code == 0);
  const std::vector<std::string> lines = lines_of(run.out);
  CHECK(std::find(lines.begin(), lines.end(), "fanin") != lines.end());
  CHECK(std::find(lines.begin(), lines.end(), "transfer") != lines.end());
  CHECK(std::find(lines.begin(), lines.end(), "ring") != lines.end());
  CHECK(std::find(lines.begin(), lines.end(), "pool") != lines.end());
  CHECK(std::find(lines.begin(), lines.end(), "pipeline") != lines.end());
}

TEST_CASE("cli.help describes the command, the workloads and what --threads means") {
  const CliRun top = run_cli({"--help"});
  CHECK(top.code == 0);
  CHECK(contains(top.out, "load"));
  const CliRun load = run_cli({"load", "--help"});
  CHECK(load.code == 0);
  CHECK(load.err.empty());
  for (const char* text : {"fanin", "transfer", "--threads", "--style", "--capacity", "--json",
                           "--csv", "--repeat", "--metrics", "first 64-bit word", "ring",
                           "pipeline"}) {
    CHECK_MESSAGE(contains(load.out, text), text);
  }
}

TEST_CASE("cli.load rejects n = 0 with exit code 2") {
  check_usage_error(run_cli({"load", "fanin", "--n", "0"}), "--n");
}

TEST_CASE("cli.load rejects a negative n with exit code 2") {
  check_usage_error(run_cli({"load", "fanin", "--n", "-5"}), "'-5'");
  check_usage_error(run_cli({"load", "transfer", "--n=-5"}), "'-5'");
}

TEST_CASE("cli.load rejects a non-numeric n with exit code 2") {
  check_usage_error(run_cli({"load", "fanin", "--n", "abc"}), "'abc'");
  check_usage_error(run_cli({"load", "fanin", "--n", "12x"}), "'12x'");
}

TEST_CASE("cli.load rejects an n whose check would overflow 64 bits") {
  check_usage_error(run_cli({"load", "fanin", "--n", "8589934592"}), "64 bits");
  check_usage_error(run_cli({"load", "transfer", "--n", "4294967296"}), "64 bits");
  check_usage_error(run_cli({"load", "fanin", "--n", "99999999999999999999999"}), "too large");
}

TEST_CASE("cli.load rejects a fanin n that 4 producers cannot share evenly") {
  check_usage_error(run_cli({"load", "fanin", "--n", "4001"}), "multiple of 4");
}

TEST_CASE("cli.load rejects --threads 0 with exit code 2") {
  check_usage_error(run_cli({"load", "fanin", "--threads", "0"}), "--threads");
}

TEST_CASE("cli.load rejects a bad --capacity with exit code 2") {
  check_usage_error(run_cli({"load", "fanin", "--capacity", "-1"}), "--capacity");
  check_usage_error(run_cli({"load", "fanin", "--capacity", "lots"}), "--capacity");
}

TEST_CASE("cli.load rejects a --threads that is not a count from 1 to 1024") {
  check_usage_error(run_cli({"load", "fanin", "--threads", "many"}),
                    "--threads: expected a positive integer, got 'many'");
  check_usage_error(run_cli({"load", "fanin", "--threads", "1025"}),
                    "--threads: 1025 is too large (at most 1,024)");
}

TEST_CASE("cli.load rejects more --threads than a troupe runtime can have, before running") {
  check_usage_error(run_cli({"load", "pingpong", "--style", "task", "--threads", "257"}),
                    "--threads: 257 is too large for style 'task'");
  check_usage_error(run_cli({"load", "ring", "--style", "actor", "--threads", "1024"}),
                    "--threads: 1024 is too large for style 'actor'");
}

TEST_CASE("cli.load rejects a --capacity that the style cannot honour, instead of failing the run") {
  check_usage_error(run_cli({"load", "fanin", "--capacity", "1073741825"}),
                    "--capacity: 1073741825 is too large");
  check_usage_error(run_cli({"load", "pingpong", "--style", "actor", "--capacity", "0"}),
                    "--capacity: style 'actor' has no rendezvous mailbox");
  check_usage_error(run_cli({"load", "pipeline", "--capacity", "7"}),
                    "--capacity: the pipeline's stages need at least 8");
  check_usage_error(run_cli({"load", "pipeline", "--capacity", "unbounded"}),
                    "--capacity: the pipeline's stages need at least 8");
}

TEST_CASE("cli.load rejects an unknown --placement with exit code 2") {
  check_usage_error(run_cli({"load", "transfer", "--placement", "anywhere"}), "--placement");
}

TEST_CASE("cli.load reports the thread placement it used, default or asked for" *
          doctest::timeout(30)) {
  const CliRun spread = run_cli({"load", "transfer", "--n", "10", "--json"});
  CHECK(spread.code == 0);
  CHECK(contains(spread.out, "\"placement\":\"spread\""));
  const CliRun os = run_cli({"load", "transfer", "--n", "10", "--placement", "os", "--json"});
  CHECK(os.code == 0);
  CHECK(contains(os.out, "\"placement\":\"os\""));
  const CliRun fanin = run_cli({"load", "fanin", "--n", "4000", "--placement", "spread", "--json"});
  CHECK(fanin.code == 0);
  CHECK(contains(fanin.out, "\"placement\":\"spread\""));
  CHECK(contains(fanin.out, "\"check_ok\":true"));
}

TEST_CASE("cli.load rejects an unknown workload with exit code 2") {
  check_usage_error(run_cli({"load", "nope"}), "unknown workload 'nope'");
}

TEST_CASE("cli.load rejects an unknown style, naming the styles available") {
  check_usage_error(run_cli({"load", "fanin", "--style", "pool"}),
                    "(styles: thread, task, actor, naive)");
  check_usage_error(run_cli({"load", "transfer", "--style", "task"}),
                    "(styles: thread, actor, pool, naive)");
  check_usage_error(run_cli({"load", "ring", "--style", "thread"}), "(styles: task, actor, naive)");
}

TEST_CASE("cli.load runs every task-style workload and verifies its check" *
          doctest::timeout(120)) {
  const auto check_ok = [](const CliRun& run, const char* workload) {
    CHECK_MESSAGE(run.code == 0, workload);
    check_one_json_object(run.out);
    CHECK_MESSAGE(contains(run.out, "\"style\":\"task\""), workload);
    CHECK_MESSAGE(contains(run.out, "\"check_ok\":true"), workload);
  };
  check_ok(run_cli({"load", "pingpong", "--n", "2000", "--json"}), "pingpong");
  check_ok(run_cli({"load", "pingpong", "--threads", "1", "--n", "100", "--json"}), "pingpong");
  check_ok(run_cli({"load", "ring", "--n", "5000", "--json"}), "ring");
  check_ok(run_cli({"load", "skynet", "--n", "1000", "--json"}), "skynet");
  check_ok(run_cli({"load", "fanin", "--style", "task", "--n", "4000", "--json"}), "fanin");
}

TEST_CASE("cli.load runs every actor-style workload and verifies its check" *
          doctest::timeout(120)) {
  const auto check_ok = [](const CliRun& run, const char* workload) {
    CHECK_MESSAGE(run.code == 0, workload);
    check_one_json_object(run.out);
    CHECK_MESSAGE(contains(run.out, "\"style\":\"actor\""), workload);
    CHECK_MESSAGE(contains(run.out, "\"check_ok\":true"), workload);
  };
  check_ok(run_cli({"load", "skynet", "--style", "actor", "--n", "1000", "--json"}), "skynet");
  check_ok(run_cli({"load", "transfer", "--style", "actor", "--n", "20", "--json"}), "transfer");
  for (const char* workload : {"pingpong", "ring", "fanin"}) {
    check_ok(run_cli({"load", workload, "--style", "actor", "--n", "4000", "--json"}), workload);
    check_ok(run_cli({"load", workload, "--style", "actor", "--n", "400", "--threads", "1",
                      "--capacity", "1", "--json"}),
             workload);
  }
}

TEST_CASE("cli.load runs the pipeline workload through a troupe::Pipeline" *
          doctest::timeout(60)) {
  const CliRun run = run_cli({"load", "pipeline", "--n", "100000", "--json"});
  CHECK(run.code == 0);
  check_one_json_object(run.out);
  CHECK(contains(run.out, "\"style\":\"task\""));
  CHECK(contains(run.out, "\"check\":15000150000,"));  // 3n(n+1)/2
  CHECK(contains(run.out, "\"check_ok\":true"));
  CHECK(contains(run.out, "\"capacity\":1024,"));
  CHECK(contains(run.out, "\"stages\":3,"));
  const CliRun small = run_cli({"load", "pipeline", "--n", "5000", "--capacity", "8", "--json"});
  CHECK(small.code == 0);
  CHECK(contains(small.out, "\"check_ok\":true"));
}

TEST_CASE("cli.load moves the transfer Buffer to a pool worker and back" * doctest::timeout(60)) {
  const CliRun run = run_cli({"load", "transfer", "--style", "pool", "--n", "50", "--json"});
  CHECK(run.code == 0);
  check_one_json_object(run.out);
  CHECK(contains(run.out, "\"check\":1275,"));  // n(n+1)/2
  CHECK(contains(run.out, "\"moved_not_copied\":true"));
  CHECK(contains(run.out, "\"workers\":1,"));
}

TEST_CASE("cli.load runs the pool and batch styles and verifies their checks" *
          doctest::timeout(120)) {
  const CliRun fastest = run_cli({"load", "pool", "--n", "5000", "--json"});
  CHECK(fastest.code == 0);
  CHECK(contains(fastest.out, "\"style\":\"batch\""));  // the default: the fastest
  for (const char* style : {"pool", "batch"}) {
    CAPTURE(style);
    // 5000 tasks: four full batches of 1,024 and a partial one.
    const CliRun pool = run_cli({"load", "pool", "--style", style, "--n", "5000", "--json"});
    CHECK(pool.code == 0);
    check_one_json_object(pool.out);
    CHECK(contains(pool.out, std::string("\"style\":\"") + style + "\""));
    CHECK(contains(pool.out, "\"check\":25005000,"));  // n(n+1)
    CHECK(contains(pool.out, "\"check_ok\":true"));
    CHECK(contains(pool.out, "\"completed\":5000,"));
    const CliRun cpu = run_cli(
        {"load", "pool_cpu", "--style", style, "--n", "4", "--threads", "1", "--json"});
    CHECK(cpu.code == 0);
    check_one_json_object(cpu.out);
    CHECK(contains(cpu.out, "\"check\":300100,"));  // 75025 n
    CHECK(contains(cpu.out, "\"check_ok\":true"));
    CHECK(contains(cpu.out, "\"floor_seconds\":"));
    CHECK(contains(cpu.out, "\"overhead_pct\":"));
    CHECK(contains(cpu.out, "\"threads\":1,"));
    // pool_cpu's default (spread needs two CPUs to spread over)
    if (std::thread::hardware_concurrency() >= 2) {
      CHECK(contains(cpu.out, "\"placement\":\"spread\""));
    }
  }
}

TEST_CASE("cli.load rejects a skynet n that is not a power of 10") {
  check_usage_error(run_cli({"load", "skynet", "--n", "500"}), "power of 10");
}

TEST_CASE("cli.load rejects an unknown flag with exit code 2") {
  check_usage_error(run_cli({"load", "fanin", "--bogus"}), "--bogus");
  check_usage_error(run_cli({"load", "fanin", "--n"}), "--n");
}

TEST_CASE("cli rejects a missing or unknown command with exit code 2") {
  check_usage_error(run_cli({}), "missing the command");
  check_usage_error(run_cli({"bogus"}), "bogus");
  check_usage_error(run_cli({"load"}), "missing the workload");
}

namespace {
// An implementation that computes the wrong sum and sees a broken invariant.
troupe::cli::LoadResult run_wrong(const troupe::cli::LoadParams& params) {
  troupe::cli::LoadResult result = troupe::testing::wrong_sum(params);
  result.failures = {"a \"quoted\"\nfailure"};
  return result;
}
}  // namespace

TEST_CASE("cli.load exits 1 after printing a result whose check is wrong" *
          doctest::timeout(120)) {
  const troupe::cli::WorkloadSpec* spec = troupe::cli::find_workload("transfer");
  REQUIRE(spec != nullptr);
  const troupe::cli::Implementation wrong{"transfer", "wrong", run_wrong, "ignored", {}};
  troupe::cli::LoadPlan plan{.spec = spec,
                             .implementation = &wrong,
                             .params = {},
                             .format = troupe::cli::OutputFormat::json,
                             .repeat = {},
                             .metrics = {}};
  plan.params.n = 9;  // expected 45
  std::ostringstream json;
  std::ostringstream err;
  CHECK(troupe::cli::run_load(plan, json, err) == 1);
  CHECK(err.str().empty());  // a single run's report says it all
  check_one_json_object(json.str());
  CHECK(contains(json.str(), "\"check\":41,\"expected\":45,\"check_ok\":false"));
  CHECK(contains(json.str(), "\"failures\":[\"a \\\"quoted\\\"\\nfailure\"]"));
  CHECK(contains(json.str(), "\"rate\":18,"));
  plan.format = troupe::cli::OutputFormat::human;
  std::ostringstream human;
  CHECK(troupe::cli::run_load(plan, human, err) == 1);
  CHECK(contains(human.str(), "41 != expected 45: FAILED"));
}

namespace {
// A scripted implementation: call k returns the k-th entry of `script` (seconds, check and a
// failure if not empty), so that a series' figures are known in advance. For transfer with
// n = 9 (expected 45) a run of s seconds has the rate 9 / s.
struct Scripted {
  double seconds;
  std::uint64_t check = 45;
  std::string failure = {};
  bool throws = false;
};
std::vector<Scripted> script;
std::size_t script_calls = 0;
std::vector<std::size_t> metrics_asked;  // the calls asked for a metrics snapshot (1-based)

// The snapshot call k reports: recognisable by its task count.
troupe::RuntimeMetrics scripted_metrics(std::size_t call) {
  troupe::RuntimeMetrics metrics;
  metrics.tasks_spawned = 1000 + call;
  return metrics;
}

troupe::cli::LoadResult run_scripted(const troupe::cli::LoadParams& params) {
  const Scripted& step = script.at(script_calls++);
  if (step.throws) throw std::runtime_error("scripted failure");
  troupe::cli::LoadResult result;
  result.items = params.n;
  result.seconds = step.seconds;
  result.check = step.check;
  result.threads = 1;
  result.extras = {{"call", static_cast<std::uint64_t>(script_calls)}};
  if (!step.failure.empty()) result.failures.push_back(step.failure);
  if (params.metrics) {
    metrics_asked.push_back(script_calls);
    result.metrics = scripted_metrics(script_calls);
  }
  return result;
}

constexpr auto kHuman = troupe::cli::OutputFormat::human;
constexpr auto kJson = troupe::cli::OutputFormat::json;
constexpr auto kCsv = troupe::cli::OutputFormat::csv;

const troupe::cli::Implementation kScripted{"transfer", "scripted", run_scripted, "ignored", {}};

// A plan for transfer n = 9 on the scripted implementation with `steps` (the warm-up first).
troupe::cli::LoadPlan scripted_plan(std::vector<Scripted> steps,
                                    std::optional<std::uint64_t> repeat,
                                    troupe::cli::OutputFormat format) {
  script = std::move(steps);
  script_calls = 0;
  metrics_asked.clear();
  troupe::cli::LoadPlan plan{.spec = troupe::cli::find_workload("transfer"),
                             .implementation = &kScripted,
                             .params = {},
                             .format = format,
                             .repeat = repeat,
                             .metrics = {}};
  plan.params.n = 9;
  return plan;
}

CliRun run_plan(const troupe::cli::LoadPlan& plan) {
  std::ostringstream out;
  std::ostringstream err;
  const int code = troupe::cli::run_load(plan, out, err);
  return {code, out.str(), err.str()};
}

// Runs `steps` on the scripted implementation and checks that each ran, none more.
CliRun run_script(std::vector<Scripted> steps, std::optional<std::uint64_t> repeat,
                  troupe::cli::OutputFormat format) {
  const CliRun run = run_plan(scripted_plan(std::move(steps), repeat, format));
  CHECK(script_calls == script.size());
  return run;
}
}  // namespace

TEST_CASE("cli.load without --repeat prints exactly the single-run report" *
          doctest::timeout(120)) {
  const CliRun json = run_script({{0.5}}, std::nullopt, kJson);
  CHECK(json.code == 0);
  CHECK(json.err.empty());
  CHECK(json.out ==
        "{\"workload\":\"transfer\",\"style\":\"scripted\",\"n\":9,\"unit\":\"round trips\","
        "\"threads\":1,\"threads_requested\":null,\"seconds\":0.5,\"rate\":18,\"check\":45,"
        "\"expected\":45,\"check_ok\":true,\"allocator\":\"system\",\"call\":1,\"failures\":[]}\n");
  const CliRun human = run_script({{0.5}}, std::nullopt, kHuman);
  CHECK(human.code == 0);
  CHECK(human.out ==
        "workload   transfer\n"
        "style      scripted\n"
        "n          9 round trips\n"
        "threads    1\n"
        "time       500.000 ms\n"
        "rate       18 round trips/s\n"
        "check      45 = expected 45: ok\n"
        "allocator  system\n"
        "call       1\n");
}

TEST_CASE("cli.load --repeat --json adds the warm-up, every run and the summary" *
          doctest::timeout(120)) {
  // Warm-up 1 s, then rates 18, 36 and 9: the median run is run 1.
  const CliRun run = run_script({{1.0}, {0.5}, {0.25}, {1.0}}, 3, kJson);
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  check_one_json_object(run.out);
  check_standard_keys(run.out);
  // The standard fields are the median run's (its extras too: the warm-up was call 1).
  CHECK(contains(run.out, "\"seconds\":0.5,\"rate\":18,\"check\":45,\"expected\":45,"
                          "\"check_ok\":true,"));
  CHECK(contains(run.out, "\"call\":2,\"failures\":[],"));
  CHECK(contains(run.out, "\"warmup\":{\"seconds\":1,\"rate\":9,\"check\":45,\"check_ok\":true},"));
  CHECK(contains(run.out, "\"runs\":[{\"run\":1,\"seconds\":0.5,\"rate\":18,\"check\":45,"
                          "\"check_ok\":true},{\"run\":2,\"seconds\":0.25,\"rate\":36,\"check\":45,"
                          "\"check_ok\":true},{\"run\":3,\"seconds\":1,\"rate\":9,\"check\":45,"
                          "\"check_ok\":true}],"));
  CHECK(contains(run.out, "\"summary\":{\"runs\":3,\"median_run\":1,\"rate_median\":18,"
                          "\"rate_min\":9,\"rate_max\":36,\"seconds_median\":0.5,"
                          "\"seconds_min\":0.25,\"seconds_max\":1}}\n"));
}

TEST_CASE("cli.load --repeat with an even count reports the slower middle run") {
  // Rates 36, 9, 18, 4.5: sorted 4.5, 9, 18, 36; the slower middle one is 9 (run 2).
  const CliRun run = run_script({{0.1}, {0.25}, {1.0}, {0.5}, {2.0}}, 4, kJson);
  CHECK(run.code == 0);
  CHECK(contains(run.out, "\"seconds\":1,\"rate\":9,"));
  CHECK(contains(run.out, "\"median_run\":2,\"rate_median\":9,\"rate_min\":4.5,"
                          "\"rate_max\":36,\"seconds_median\":1,\"seconds_min\":0.25,"
                          "\"seconds_max\":2}"));
}

TEST_CASE("cli.load --repeat 1 is a warm-up and one measured run") {
  const CliRun run = run_script({{1.0}, {0.5}}, 1, kJson);
  CHECK(run.code == 0);
  check_one_json_object(run.out);
  CHECK(contains(run.out, "\"runs\":[{\"run\":1,\"seconds\":0.5,"));
  CHECK(contains(run.out, "\"summary\":{\"runs\":1,\"median_run\":1,\"rate_median\":18,"
                          "\"rate_min\":18,\"rate_max\":18,"));
}

TEST_CASE("cli.load --repeat names every failed run, exits 1 and reports no success") {
  // Run 2 computes the wrong sum; run 3 sees a broken invariant; run 1 and the warm-up hold.
  const CliRun json =
      run_script({{1.0}, {0.5}, {0.25, 41}, {1.0, 45, "lost\na message"}}, 3, kJson);
  CHECK(json.code == 1);
  check_one_json_object(json.out);
  CHECK(contains(json.out, "\"check\":45,\"expected\":45,\"check_ok\":false,"));
  CHECK(contains(json.out, "\"failures\":[\"run 3: lost\\na message\"]"));
  CHECK(contains(json.out, "{\"run\":1,\"seconds\":0.5,\"rate\":18,\"check\":45,"
                           "\"check_ok\":true}"));
  CHECK(contains(json.out, "{\"run\":2,\"seconds\":0.25,\"rate\":36,\"check\":41,"
                           "\"check_ok\":false}"));
  CHECK(contains(json.out, "{\"run\":3,\"seconds\":1,\"rate\":9,\"check\":45,"
                           "\"check_ok\":false}"));
  CHECK(json.err ==
        "troupe: error: transfer: run 2 failed: check 41 != expected 45\n"
        "troupe: error: transfer: run 3 failed: lost a message\n");
  const CliRun warmup = run_script({{1.0, 7}, {0.5}}, 1, kJson);
  CHECK(warmup.code == 1);
  CHECK(contains(warmup.out, "\"check_ok\":false,"));
  CHECK(contains(warmup.out, "\"warmup\":{\"seconds\":1,\"rate\":9,\"check\":7,"
                             "\"check_ok\":false}"));
  CHECK(warmup.err == "troupe: error: transfer: warm-up failed: check 7 != expected 45\n");
}

TEST_CASE("cli.load --repeat prints the spread and every run for people") {
  const CliRun run = run_script({{1.0}, {0.5}, {0.25, 41}, {1.0}}, 3, kHuman);
  CHECK(run.code == 1);
  CHECK(run.out ==
        "workload   transfer\n"
        "style      scripted\n"
        "n          9 round trips\n"
        "threads    1\n"
        "runs       3 measured after a warm-up\n"
        "time       500.000 ms median, min 250.000 ms, max 1.000 s\n"
        "rate       18 round trips/s median, min 9 round trips/s, max 36 round trips/s\n"
        "check      FAILED in run 2 (expected 45)\n"
        "allocator  system\n"
        "call       2\n"
        "warm-up    9 round trips/s, 1.000 s (not measured)\n"
        "run 1      18 round trips/s, 500.000 ms (median)\n"
        "run 2      36 round trips/s, 250.000 ms: FAILED: check 41 != expected 45\n"
        "run 3      9 round trips/s, 1.000 s\n");
  const CliRun ok = run_script({{1.0}, {0.5}}, 1, kHuman);
  CHECK(ok.code == 0);
  CHECK(contains(ok.out, "check      45 = expected 45: ok in every run\n"));
}

TEST_CASE("cli.load --repeat runs a real workload K + 1 times and verifies each" *
          doctest::timeout(60)) {
  const CliRun json = run_cli({"load", "pingpong", "--n", "200", "--repeat", "3", "--json"});
  CHECK(json.code == 0);
  CHECK(json.err.empty());
  check_one_json_object(json.out);
  check_standard_keys(json.out);
  CHECK(contains(json.out, "\"check_ok\":true,"));
  CHECK(contains(json.out, "\"warmup\":{\"seconds\":"));
  for (const char* run : {"{\"run\":1,", "{\"run\":2,", "{\"run\":3,"}) {
    CHECK_MESSAGE(contains(json.out, run), run);
  }
  CHECK_FALSE(contains(json.out, "{\"run\":4,"));
  CHECK(contains(json.out, "\"summary\":{\"runs\":3,\"median_run\":"));
  const CliRun human = run_cli({"load", "fanin", "--n", "400", "--repeat", "2"});
  CHECK(human.code == 0);
  CHECK(contains(human.out, "2 measured after a warm-up"));
  CHECK(contains(human.out, "20,200 = expected 20,200: ok in every run"));
  CHECK(contains(human.out, "\nrun 2 "));
}

TEST_CASE("cli.load rejects a --repeat that is not a count from 1 to 1000") {
  const auto repeat = [](const char* count) {
    return run_cli({"load", "pingpong", "--repeat", count});
  };
  check_usage_error(repeat("0"), "--repeat: must be at least 1, got 0");
  check_usage_error(repeat("-1"), "--repeat: expected a positive integer, got '-1'");
  check_usage_error(run_cli({"load", "pingpong", "--repeat=-1"}), "'-1'");
  check_usage_error(repeat("abc"), "--repeat: expected a positive integer, got 'abc'");
  check_usage_error(repeat("2.5"), "got '2.5'");
  check_usage_error(repeat("1001"), "--repeat: 1001 is too large (at most 1,000)");
  check_usage_error(repeat("99999999999999999999999"), "99999999999999999999999 is too large");
  check_usage_error(run_cli({"load", "pingpong", "--repeat"}), "--repeat");
}

TEST_CASE("cli.load --csv prints a header and the single run as run 1") {
  const CliRun run = run_script({{0.5}}, std::nullopt, kCsv);
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  CHECK(run.out ==
        "workload,style,run,n,seconds,rate,check_ok,unit,threads,threads_requested,check,"
        "expected,allocator,call,failures\n"
        "transfer,scripted,1,9,0.5,18,true,round trips,1,,45,45,system,1,\n");
}

TEST_CASE("cli.load --repeat --csv prints one line per measured run, quoting what needs it") {
  const CliRun run =
      run_script({{1.0}, {0.5}, {0.25, 41}, {1.0, 45, "lost \"one\", then\nmore"}}, 3, kCsv);
  CHECK(run.code == 1);
  CHECK(run.out ==
        "workload,style,run,n,seconds,rate,check_ok,unit,threads,threads_requested,check,"
        "expected,allocator,call,failures\n"
        "transfer,scripted,1,9,0.5,18,true,round trips,1,,45,45,system,2,\n"
        "transfer,scripted,2,9,0.25,36,false,round trips,1,,41,45,system,3,\n"
        "transfer,scripted,3,9,1,9,false,round trips,1,,45,45,system,4,"
        "\"lost \"\"one\"\", then more\"\n");
  CHECK(run.err ==
        "troupe: error: transfer: run 2 failed: check 41 != expected 45\n"
        "troupe: error: transfer: run 3 failed: lost \"one\", then more\n");
  // The warm-up has no line; its failure is named on stderr.
  const CliRun warmup = run_script({{1.0, 7}, {0.5}}, 1, kCsv);
  CHECK(warmup.code == 1);
  CHECK(lines_of(warmup.out).size() == 2);
  CHECK(warmup.err == "troupe: error: transfer: warm-up failed: check 7 != expected 45\n");
}

TEST_CASE("cli.load --csv runs a real workload with its own columns" * doctest::timeout(60)) {
  const CliRun run =
      run_cli({"load", "transfer", "--n", "5", "--threads", "3", "--repeat", "2", "--csv"});
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  const std::vector<std::string> lines = lines_of(run.out);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].rfind("workload,style,run,n,seconds,rate,check_ok,unit,threads,"
                       "threads_requested,check,expected,allocator,",
                       0) == 0);
  CHECK(contains(lines[0], ",moved_not_copied,"));
  CHECK(lines[0].substr(lines[0].size() - 9) == ",failures");
  const auto cells = [](const std::string& line) {
    return std::count(line.begin(), line.end(), ',');
  };
  for (std::size_t i = 1; i < lines.size(); ++i) {
    CAPTURE(lines[i]);
    CHECK(lines[i].rfind("transfer,thread," + std::to_string(i) + ",5,", 0) == 0);
    CHECK(contains(lines[i], ",true,round trips,2,3,15,15,"));
    CHECK(cells(lines[i]) == cells(lines[0]));
  }
}

TEST_CASE("cli.load rejects --csv with --json: one output format") {
  check_usage_error(run_cli({"load", "pingpong", "--csv", "--json"}),
                    "--csv and --json conflict: choose one output format");
  check_usage_error(run_cli({"load", "pingpong", "--json", "--repeat", "2", "--csv"}),
                    "--csv and --json conflict");
}

namespace {
std::size_t count_lines_starting(const std::string& text, const std::string& prefix) {
  const std::vector<std::string> lines = lines_of(text);
  const auto starts = [&](const std::string& line) { return line.rfind(prefix, 0) == 0; };
  return static_cast<std::size_t>(std::count_if(lines.begin(), lines.end(), starts));
}
}  // namespace

TEST_CASE("cli.load --metrics FILE.json writes the run's runtime metrics as one JSON object" *
          doctest::timeout(60)) {
  const TempDir dir;
  const std::string path = dir.file("metrics.json");
  const CliRun run = run_cli({"load", "pingpong", "--n", "200", "--metrics", path});
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  CHECK(lines_of(run.out)[0].rfind("workload", 0) == 0);  // the report is unchanged
  const std::string metrics = read_text(path);
  check_one_json_object(metrics);
  CHECK(metrics.rfind("{\"active_workers\":", 0) == 0);
  CHECK(contains(metrics, "\"tasks_spawned\":2,"));  // ping and pong
  CHECK(contains(metrics, "\"tasks_completed\":2,"));
  CHECK(contains(metrics, "\"workers\":[{\"index\":0,"));
  CHECK(dir.files() == std::vector<std::string>{"metrics.json"});  // no metrics.json.tmp
}

TEST_CASE("cli.load --metrics FILE.prom writes Prometheus text with the live actors" *
          doctest::timeout(60)) {
  const TempDir dir;
  const std::string path = dir.file("metrics.prom");
  const CliRun run =
      run_cli({"load", "ring", "--style", "actor", "--n", "2000", "--json", "--metrics", path});
  CHECK(run.code == 0);
  check_one_json_object(run.out);
  const std::string metrics = read_text(path);
  CHECK(metrics.rfind("# HELP troupe_active_workers ", 0) == 0);
  CHECK(contains(metrics, "\n# TYPE troupe_tasks_spawned gauge\ntroupe_tasks_spawned 1000\n"));
  // The snapshot is taken while the ring's 1,000 relays are alive (actors of earlier tests
  // that are still exiting may be listed too).
  CHECK(count_lines_starting(metrics, "troupe_actor_received{") >= 1000);
  CHECK(metrics.back() == '\n');
  CHECK(dir.files() == std::vector<std::string>{"metrics.prom"});
}

TEST_CASE("cli.load --metrics FILE.txt of a pool series holds the last run's pool only" *
          doctest::timeout(60)) {
  const TempDir dir;
  const std::string path = dir.file("pool.txt");
  const CliRun run =
      run_cli({"load", "pool", "--n", "100", "--repeat", "2", "--csv", "--metrics", path});
  CHECK(run.code == 0);
  CHECK(lines_of(run.out).size() == 3);
  const std::string metrics = read_text(path);
  // No Runtime ran the workload: the runtime fields are zero, the pool section is there.
  CHECK(contains(metrics, "\ntroupe_active_workers 0\n"));
  CHECK(contains(metrics, "\ntroupe_tasks_spawned 0\n"));
  // The pools of the warm-up and run 1 are gone: one pool, with its 100 tasks.
  CHECK(count_lines_starting(metrics, "troupe_pool_completed{") == 1);
  CHECK(contains(metrics, ",name=\"load\"} 100\n"));
  CHECK(dir.files() == std::vector<std::string>{"pool.txt"});
}

TEST_CASE("cli.load --metrics asks only the last measured run and writes even a failed series") {
  const TempDir dir;
  troupe::cli::LoadPlan plan = scripted_plan({{1.0}, {0.5, 41}, {0.5}}, 2, kJson);
  plan.metrics = troupe::cli::MetricsFile{dir.file("m.json"), troupe::cli::MetricsFormat::json};
  const CliRun run = run_plan(plan);
  CHECK(run.code == 1);  // run 1 failed its check
  CHECK(metrics_asked == std::vector<std::size_t>{3});
  CHECK(read_text(dir.file("m.json")) == scripted_metrics(3).to_json() + "\n");
  plan = scripted_plan({{0.5}}, std::nullopt, kHuman);
  plan.metrics =
      troupe::cli::MetricsFile{dir.file("m.prom"), troupe::cli::MetricsFormat::prometheus};
  CHECK(run_plan(plan).code == 0);
  CHECK(metrics_asked == std::vector<std::size_t>{1});
  CHECK(read_text(dir.file("m.prom")) == scripted_metrics(1).to_prometheus());
  CHECK(dir.files() == std::vector<std::string>{"m.json", "m.prom"});
}

TEST_CASE("cli.load --metrics replaces an existing file whole") {
  const TempDir dir;
  const std::string path = dir.file("m.json");
  std::ofstream(path) << "an older export, longer than the new one will be......................."
                         "..............................................................\n";
  troupe::cli::LoadPlan plan = scripted_plan({{0.5}}, std::nullopt, kJson);
  plan.metrics = troupe::cli::MetricsFile{path, troupe::cli::MetricsFormat::json};
  CHECK(run_plan(plan).code == 0);
  CHECK(read_text(path) == scripted_metrics(1).to_json() + "\n");
  CHECK(dir.files() == std::vector<std::string>{"m.json"});
}

TEST_CASE("cli.load --metrics leaves no file behind when the run throws") {
  const TempDir dir;
  troupe::cli::LoadPlan plan = scripted_plan({{1.0}, {0.5, 45, {}, true}}, 1, kJson);
  plan.metrics = troupe::cli::MetricsFile{dir.file("m.json"), troupe::cli::MetricsFormat::json};
  CHECK_THROWS_WITH_AS(run_plan(plan), "scripted failure", std::runtime_error);
  CHECK(dir.files().empty());
}

TEST_CASE("cli.load rejects --metrics for the thread style, which has no troupe runtime") {
  const TempDir dir;
  check_usage_error(run_cli({"load", "fanin", "--metrics", dir.file("m.json")}),
                    "--metrics: style 'thread' runs on plain threads, with no troupe runtime or "
                    "pool to export (fanin styles with metrics: task, actor)");
  check_usage_error(
      run_cli({"load", "transfer", "--style", "thread", "--metrics", dir.file("m.json")}),
      "(transfer styles with metrics: actor, pool)");
  CHECK(dir.files().empty());
}

TEST_CASE("cli.load rejects a --metrics file that is neither .json nor .prom nor .txt") {
  const TempDir dir;
  for (const std::string name : {"m.csv", "m", "m.json.bak", "m.JSON"}) {
    check_usage_error(run_cli({"load", "pingpong", "--metrics", dir.file(name)}),
                      "--metrics: '" + dir.file(name) +
                          "' must end in .json (JSON) or in .prom or .txt (Prometheus text)");
  }
  check_usage_error(run_cli({"load", "pingpong", "--metrics", ""}), "--metrics: '' must end in");
  check_usage_error(run_cli({"load", "pingpong", "--metrics"}), "--metrics");
  CHECK(dir.files().empty());
}

TEST_CASE("cli.load rejects an unwritable --metrics path before running anything") {
  const TempDir dir;
  // check_usage_error also checks that nothing was printed on stdout: no run took place.
  const std::string missing = dir.file("no/such/dir/m.json");
  check_usage_error(run_cli({"load", "pingpong", "--metrics", missing}),
                    "--metrics: cannot write '" + missing + "': No such file or directory");
  std::filesystem::create_directory(dir.file("d.json"));
  check_usage_error(run_cli({"load", "pingpong", "--metrics", dir.file("d.json")}),
                    "--metrics: cannot write '" + dir.file("d.json") + "': it is a directory");
  CHECK(dir.files() == std::vector<std::string>{"d.json"});
  // And through run_load: the implementation is never called.
  troupe::cli::LoadPlan plan = scripted_plan({{1.0}, {0.5}}, 1, kJson);
  plan.metrics = troupe::cli::MetricsFile{missing, troupe::cli::MetricsFormat::json};
  CHECK_THROWS_AS(run_plan(plan), troupe::cli::UsageError);
  CHECK(script_calls == 0);
}

TEST_CASE("cli.load rejects a --metrics path in a directory it may not write") {
  // Root may write anywhere a mode allows nothing; sysfs refuses new files even to root.
  const TempDir dir;
  std::string path = dir.file("locked/m.json");
  if (::geteuid() == 0) {
    path = "/sys/troupe_test_cli_m.json";
    if (!std::filesystem::is_directory("/sys")) {
      MESSAGE("skipped: running as root without /sys");
      return;
    }
  } else {
    std::filesystem::create_directory(dir.file("locked"));
    std::filesystem::permissions(dir.file("locked"), std::filesystem::perms::owner_read |
                                                         std::filesystem::perms::owner_exec);
  }
  check_usage_error(run_cli({"load", "pingpong", "--metrics", path}),
                    "--metrics: cannot write '" + path + "': Permission denied");
}

TEST_CASE("cli.report formats counts, rates and JSON strings") {
  CHECK(troupe::cli::format_count(0) == "0");
  CHECK(troupe::cli::format_count(999) == "999");
  CHECK(troupe::cli::format_count(1000) == "1,000");
  CHECK(troupe::cli::format_count(18446744073709551615ULL) == "18,446,744,073,709,551,615");
  CHECK(troupe::cli::format_rate(26'143'000.0, "messages") == "26.14 M messages/s");
  CHECK(troupe::cli::format_rate(812'345.4, "round trips") == "812,345 round trips/s");
  CHECK(troupe::cli::json_string("a\"b\\c\n\x01") == "\"a\\\"b\\\\c\\n\\u0001\"");
}
