// The `troupe` CLI (samples/troupe), driven through troupe::cli::run: the output contract of
// `troupe load` (one JSON line, verified checks) and one-line usage errors with exit code 2.
#include <doctest/doctest.h>

#include <algorithm>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "troupe/cli.hpp"
#include "troupe/load.hpp"
#include "troupe/report.hpp"

namespace {

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
};

CliRun run_cli(std::initializer_list<std::string> arguments) {
  std::vector<std::string> words{"troupe"};
  words.insert(words.end(), arguments);
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);
  std::ostringstream out;
  std::ostringstream err;
  const int code = troupe::cli::run(static_cast<int>(words.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}

// Exit code 2, nothing on stdout, and on stderr exactly: one error line, then the usage line.
void check_usage_error(const CliRun& run, const std::string& message) {
  CHECK(run.code == 2);
  CHECK(run.out.empty());
  const std::vector<std::string> lines = lines_of(run.err);
  REQUIRE(lines.size() == 2);
  CHECK(run.err.back() == '\n');
  CHECK(lines[0].rfind("troupe: error: ", 0) == 0);
  CHECK_MESSAGE(contains(lines[0], message), lines[0]);
  CHECK(lines[1].rfind("usage: troupe load <workload>", 0) == 0);
}

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
  CHECK(std::find(lines.begin(), lines.end(), "pipeline") == lines.end());
}

TEST_CASE("cli.help describes the command, the workloads and what --threads means") {
  const CliRun top = run_cli({"--help"});
  CHECK(top.code == 0);
  CHECK(contains(top.out, "load"));
  const CliRun load = run_cli({"load", "--help"});
  CHECK(load.code == 0);
  CHECK(load.err.empty());
  for (const char* text : {"fanin", "transfer", "--threads", "--style", "--capacity", "--json",
                           "first 64-bit word", "ring", "coming with later issues"}) {
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

TEST_CASE("cli.load rejects a workload without implementations, naming no styles") {
  check_usage_error(run_cli({"load", "pipeline"}),
                    "workload 'pipeline' has no implementation yet (styles: none)");
}

TEST_CASE("cli.load rejects an unknown style, naming the styles available") {
  check_usage_error(run_cli({"load", "fanin", "--style", "pool"}),
                    "(styles: thread, task, actor)");
  check_usage_error(run_cli({"load", "transfer", "--style", "task"}), "(styles: thread, actor)");
  check_usage_error(run_cli({"load", "ring", "--style", "thread"}), "(styles: task, actor)");
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

TEST_CASE("cli.load runs the pool-style workloads and verifies their checks" *
          doctest::timeout(120)) {
  const CliRun pool = run_cli({"load", "pool", "--n", "5000", "--json"});
  CHECK(pool.code == 0);
  check_one_json_object(pool.out);
  CHECK(contains(pool.out, "\"style\":\"pool\""));
  CHECK(contains(pool.out, "\"check\":25005000,"));  // n(n+1)
  CHECK(contains(pool.out, "\"check_ok\":true"));
  const CliRun cpu = run_cli({"load", "pool_cpu", "--n", "4", "--threads", "1", "--json"});
  CHECK(cpu.code == 0);
  check_one_json_object(cpu.out);
  CHECK(contains(cpu.out, "\"check\":300100,"));  // 75025 n
  CHECK(contains(cpu.out, "\"check_ok\":true"));
  CHECK(contains(cpu.out, "\"floor_seconds\":"));
  CHECK(contains(cpu.out, "\"overhead_pct\":"));
  CHECK(contains(cpu.out, "\"threads\":1,"));
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
  troupe::cli::LoadResult result;
  result.items = params.n;
  result.seconds = 0.5;
  result.check = 41;
  result.threads = 1;
  result.failures = {"a \"quoted\"\nfailure"};
  return result;
}
}  // namespace

TEST_CASE("cli.load exits 1 after printing a result whose check is wrong") {
  const troupe::cli::WorkloadSpec* spec = troupe::cli::find_workload("transfer");
  REQUIRE(spec != nullptr);
  const troupe::cli::Implementation wrong{"transfer", "wrong", run_wrong, "ignored", {}};
  troupe::cli::LoadPlan plan{.spec = spec, .implementation = &wrong, .params = {}, .json = true};
  plan.params.n = 9;  // expected 45
  std::ostringstream json;
  CHECK(troupe::cli::run_load(plan, json) == 1);
  check_one_json_object(json.str());
  CHECK(contains(json.str(), "\"check\":41,\"expected\":45,\"check_ok\":false"));
  CHECK(contains(json.str(), "\"failures\":[\"a \\\"quoted\\\"\\nfailure\"]"));
  CHECK(contains(json.str(), "\"rate\":18,"));
  plan.json = false;
  std::ostringstream human;
  CHECK(troupe::cli::run_load(plan, human) == 1);
  CHECK(contains(human.str(), "41 != expected 45: FAILED"));
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
