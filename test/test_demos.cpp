// `troupe demo` (samples/demos), driven through troupe::cli::run: --list, usage errors, and each
// demo in its --quick form — its exit code and what its output must show a learner.
// No timing is asserted: the demos print times, but this machine is too noisy to judge them.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "cli_test_support.hpp"

namespace {

using troupe::testing::check_usage_error;
using troupe::testing::CliRun;
using troupe::testing::contains;
using troupe::testing::lines_of;
using troupe::testing::run_cli;

constexpr const char* kDemoUsage = "usage: troupe demo <name>";

// Runs `troupe demo <name> --quick`, requiring success: exit 0, nothing on stderr, and the
// demo's own verdict as its last line.
CliRun run_quick_demo(const std::string& name) {
  CliRun run = run_cli({"demo", name, "--quick"});
  INFO("stdout:\n" << run.out << "stderr:\n" << run.err);
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  const std::vector<std::string> lines = lines_of(run.out);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.back() == "outcome: ok");
  CHECK_FALSE(contains(run.out, "[FAILED]"));
  return run;
}

// The position of `part` in `text`, or npos: for "this is printed before that".
std::size_t where(const std::string& text, const std::string& part) { return text.find(part); }

}  // namespace

TEST_CASE("demo.list prints one line per demo, its name, two spaces and a summary" *
          doctest::timeout(10)) {
  const CliRun run = run_cli({"demo", "--list"});
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  const std::vector<std::string> lines = lines_of(run.out);
  std::vector<std::string> names;
  for (const std::string& line : lines) {
    const std::size_t gap = line.find("  ");
    REQUIRE_MESSAGE(gap != std::string::npos, line);
    CHECK(gap > 0);
    CHECK(line.find_first_not_of(' ', gap) > gap + 1);  // a summary follows the gap
    CHECK(line.substr(0, gap).find(' ') == std::string::npos);
    names.push_back(line.substr(0, gap));
  }
  for (const char* name : {"hello"}) {
    CHECK_MESSAGE(std::find(names.begin(), names.end(), name) != names.end(), name);
  }
}

TEST_CASE("demo.an unknown demo is a usage error that names it" * doctest::timeout(10)) {
  check_usage_error(run_cli({"demo", "no-such-demo"}), "unknown demo 'no-such-demo'", kDemoUsage);
}

TEST_CASE("demo.a missing demo name is a usage error" * doctest::timeout(10)) {
  check_usage_error(run_cli({"demo"}), "missing the demo to run", kDemoUsage);
}

TEST_CASE("demo.an unknown option is a usage error that names it" * doctest::timeout(10)) {
  check_usage_error(run_cli({"demo", "hello", "--bogus"}), "--bogus", kDemoUsage);
}

TEST_CASE("demo.list with a demo name is a usage error" * doctest::timeout(10)) {
  check_usage_error(run_cli({"demo", "hello", "--list"}), "--list takes no demo name", kDemoUsage);
}

TEST_CASE("demo.hello shows online before the message, the reply, and exit last" *
          doctest::timeout(30)) {
  const CliRun run = run_quick_demo("hello");
  const std::size_t online = where(run.out, "event: online");
  const std::size_t received = where(run.out, "received \"hello, main! (from Ada)\"");
  const std::size_t reply = where(run.out, "the reply is 1");
  const std::size_t exit = where(run.out, "event: exit (normal)");
  REQUIRE(online != std::string::npos);
  REQUIRE(received != std::string::npos);
  REQUIRE(reply != std::string::npos);
  REQUIRE(exit != std::string::npos);
  CHECK(online < received);
  CHECK(received < reply);
  CHECK(reply < exit);
}
