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

// The text between the end of the first `marker` at or after `from` and the next space, comma
// or closing parenthesis; empty if there is no such marker.
std::string word_after(const std::string& text, const std::string& marker, std::size_t from = 0) {
  const std::size_t at = text.find(marker, from);
  if (at == std::string::npos) return {};
  const std::size_t begin = at + marker.size();
  return text.substr(begin, text.find_first_of(" ,)\n", begin) - begin);
}

// How many times `part` occurs in `text`.
std::size_t count_of(const std::string& text, const std::string& part) {
  std::size_t count = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) {
    ++count;
  }
  return count;
}

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
  for (const char* name : {"hello", "cpu-offload", "errors", "pool", "transfer",
                           "message-channel", "request-reply", "backpressure"}) {
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

TEST_CASE("demo.cpu-offload computes fib both ways and keeps beating while the actor works" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("cpu-offload");
  // --quick computes fib(32) = 2178309, inline and then in the actor.
  CHECK(count_of(run.out, "fib(32) = 2178309") == 2);
  const std::size_t offloaded = where(run.out, "2. offloaded");
  REQUIRE(offloaded != std::string::npos);
  CHECK(run.out.find("heartbeat 1 at", offloaded) != std::string::npos);
}

TEST_CASE("demo.errors shows the constructor's exception, the handler's, and the timeout" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("errors");
  CHECK(contains(run.out, "event: error: cannot open config 'settings.conf'"));
  CHECK(contains(run.out, "event: exit (start_failed)"));
  CHECK(contains(run.out, "a tell to it now: closed"));
  CHECK(contains(run.out, "ask(Parse{\"\"}) -> failed"));
  CHECK(contains(run.out, "a std::invalid_argument: Parser: empty input"));
  CHECK(contains(run.out, "event: exit (failed)"));
  CHECK(contains(run.out, "timeout -> timeout"));
  CHECK(contains(run.out, "event: exit (terminated)"));
  CHECK(where(run.out, "exit (start_failed)") < where(run.out, "exit (failed)"));
}

TEST_CASE("demo.pool runs 100 tasks and prints the pool's stats" * doctest::timeout(60)) {
  const CliRun run = run_quick_demo("pool");
  CHECK(contains(run.out, "all 100 futures resolved"));
  CHECK(contains(run.out, "completed    100 (failed 0)"));
  CHECK(contains(run.out, "workers      4 started"));
  for (const char* line : {"  wait         p50 <= ", "  run          p50 <= ", "  utilization  "}) {
    CHECK_MESSAGE(contains(run.out, line), line);
  }
  CHECK(contains(run.out, "p99 <= "));
}

TEST_CASE("demo.transfer shows the source detached and the moved data pointer unchanged" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("transfer");
  const std::string original = word_after(run.out, "a Buffer of 8.00 MiB at ");
  const std::size_t cloned_at = where(run.out, "1. clone");
  const std::size_t moved_at = where(run.out, "2. move");
  REQUIRE(cloned_at != std::string::npos);
  REQUIRE(moved_at != std::string::npos);
  const std::string cloned = word_after(run.out, "the worker had 8.00 MiB at ", cloned_at);
  const std::string moved = word_after(run.out, "the worker had 8.00 MiB at ", moved_at);
  REQUIRE(original.rfind("0x", 0) == 0);
  CHECK(cloned != original);
  CHECK(moved == original);
  CHECK(contains(run.out, "main's Buffer now: detached yes, size 0, data null"));
  CHECK(contains(run.out, "big.bytes() throws Error(detached)"));
  CHECK(contains(run.out, "back in main: peak 1, at the address main sent: yes"));
}

TEST_CASE("demo.message-channel hands the ports over and the actors talk without main" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("message-channel");
  CHECK(contains(run.out, "port1 valid no, port2 valid no"));
  CHECK(contains(run.out, "pinger: sent Ping 3, got Pong 9"));
  CHECK(contains(run.out, "pinger reports 1000 exchanges"));
  CHECK(contains(run.out, "ponger reports 1000 exchanges"));
}

TEST_CASE("demo.request-reply shows a reply, a refusal, a timeout and a dead actor" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("request-reply");
  const std::size_t reply = where(run.out, "-> StockLevel{apple, 5}");
  const std::size_t refusal = where(run.out, "-> refused: only 2 left");
  const std::size_t timeout = where(run.out, "ms timeout -> timeout");
  const std::size_t after = where(run.out, "-> StockLevel{apple, 2}");
  const std::size_t dead = where(run.out, "-> dead");
  for (const std::size_t at : {reply, refusal, timeout, after, dead}) {
    REQUIRE(at != std::string::npos);
  }
  CHECK(reply < refusal);
  CHECK(refusal < timeout);
  CHECK(timeout < after);
  CHECK(after < dead);
}

TEST_CASE("demo.backpressure keeps the bounded queue within its capacity and loses nothing" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("backpressure");
  const std::size_t bounded = where(run.out, "bounded mailbox:");
  const std::size_t unbounded = where(run.out, "unbounded mailbox:");
  REQUIRE(bounded != std::string::npos);
  REQUIRE(unbounded != std::string::npos);
  REQUIRE(bounded < unbounded);
  const std::string peak = word_after(run.out, "peak queue depth: ", bounded);
  const std::string capacity = word_after(run.out, " messages (capacity ", bounded);
  REQUIRE_FALSE(peak.empty());
  REQUIRE_FALSE(capacity.empty());
  CHECK(std::stoul(peak) <= std::stoul(capacity));
  CHECK(run.out.find("(capacity ", unbounded) == std::string::npos);  // the bounded run's only
  CHECK(count_of(run.out, "writer: 60 chunks") == 2);
}
