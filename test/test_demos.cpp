// `troupe demo` (samples/demos), driven through troupe::cli::run: --list, usage errors, and each
// demo in its --quick form — its exit code and what its output must show a learner; the demos
// that write an image write it where --out says, and it is read back (demos/png.hpp, libpng).
// No timing is asserted: the demos print times, but this machine is too noisy to judge them.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <initializer_list>
#include <random>
#include <string>
#include <vector>

#include "cli_test_support.hpp"
#include "demos/png.hpp"

namespace {

using troupe::testing::check_usage_error;
using troupe::testing::CliRun;
using troupe::testing::contains;
using troupe::testing::lines_of;
using troupe::testing::run_cli;

constexpr const char* kDemoUsage = "usage: troupe demo <name>";

// Requires a demo's success: exit 0, nothing on stderr, and its own verdict as its last line.
void check_demo_ok(const CliRun& run) {
  INFO("stdout:\n" << run.out << "stderr:\n" << run.err);
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  const std::vector<std::string> lines = lines_of(run.out);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.back() == "outcome: ok");
  CHECK_FALSE(contains(run.out, "[FAILED]"));
}

// Runs `troupe demo <name> --quick`, requiring success.
CliRun run_quick_demo(const std::string& name) {
  CliRun run = run_cli({"demo", name, "--quick"});
  check_demo_ok(run);
  return run;
}

// A file name in the temporary directory that no other run uses.
std::filesystem::path temp_file(const std::string& stem) {
  return std::filesystem::temp_directory_path() /
         (stem + "-" + std::to_string(std::random_device()()) + ".png");
}

// Runs `troupe demo <name> --quick --out <a temp file>`, requiring success, and reads the
// image it wrote back (then removes the file).
troupe::demos::Image run_image_demo(const std::string& name) {
  const std::filesystem::path path = temp_file("troupe-test-" + name);
  const CliRun run = run_cli({"demo", name, "--quick", "--out", path.string()});
  check_demo_ok(run);
  CHECK(contains(run.out, "wrote " + path.string() + ": "));
  REQUIRE(std::filesystem::exists(path));
  troupe::demos::Image image;
  CHECK_NOTHROW(image = troupe::demos::read_png(path));
  std::filesystem::remove(path);
  return image;
}

// Every one of `parts` is in `text`.
void check_all_in(const std::string& text, std::initializer_list<std::string> parts) {
  for (const std::string& part : parts) CHECK_MESSAGE(contains(text, part), part);
}

// Each of `parts` is in `text`, after the one before it.
void check_in_order(const std::string& text, std::initializer_list<std::string> parts) {
  std::size_t previous = 0;
  for (const std::string& part : parts) {
    const std::size_t at = text.find(part, previous);
    CHECK_MESSAGE(at != std::string::npos, "missing, or not after the one before: " << part);
    if (at == std::string::npos) return;
    previous = at + part.size();
  }
}

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
                           "message-channel", "request-reply", "backpressure", "spawn-cost",
                           "pool-vs-spawn", "shared-counter", "sync", "autoscale", "limits",
                           "rolling-update", "hash-search", "health", "leak", "jobs",
                           "data-pipeline", "image-pipeline", "mandelbrot"}) {
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

TEST_CASE("demo.out for a demo that writes no file is a usage error" * doctest::timeout(10)) {
  check_usage_error(run_cli({"demo", "hello", "--out", "hello.png"}),
                    "--out hello.png: demo hello writes no file", kDemoUsage);
}

TEST_CASE("demo.out in a directory that does not exist is a usage error that names it" *
          doctest::timeout(10)) {
  const std::filesystem::path missing =
      std::filesystem::temp_directory_path() / "troupe-no-such-dir-7c1f" / "image.png";
  REQUIRE_FALSE(std::filesystem::exists(missing.parent_path()));
  check_usage_error(run_cli({"demo", "mandelbrot", "--quick", "--out", missing.string()}),
                    "no such directory '" + missing.parent_path().string() + "'", kDemoUsage);
  CHECK_FALSE(std::filesystem::exists(missing));
}

TEST_CASE("demo.out naming a directory is a usage error" * doctest::timeout(10)) {
  const std::string directory = std::filesystem::temp_directory_path().string();
  check_usage_error(run_cli({"demo", "mandelbrot", "--out", directory}),
                    "is a directory, not a file", kDemoUsage);
}

TEST_CASE("demo.hello shows online before the message, the reply, and exit last" *
          doctest::timeout(30)) {
  const CliRun run = run_quick_demo("hello");
  check_in_order(run.out, {"event: online", "received \"hello, main! (from Ada)\"",
                           "the reply is 1", "event: exit (normal)"});
}

TEST_CASE("demo.cpu-offload computes fib both ways and keeps beating while the actor works" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("cpu-offload");
  // --quick computes fib(32) = 2178309, inline and then in the actor.
  CHECK(count_of(run.out, "fib(32) = 2178309") == 2);
  const std::size_t offloaded = run.out.find("2. offloaded");
  REQUIRE(offloaded != std::string::npos);
  CHECK(run.out.find("heartbeat 1 at", offloaded) != std::string::npos);
}

TEST_CASE("demo.errors shows the constructor's exception, the handler's, and the timeout" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("errors");
  check_in_order(run.out, {"event: error: cannot open config 'settings.conf'",
                           "event: exit (start_failed)", "a tell to it now: closed",
                           "ask(Parse{\"\"}) -> failed",
                           "a std::invalid_argument: Parser: empty input", "event: exit (failed)",
                           "timeout -> timeout", "event: exit (terminated)"});
}

TEST_CASE("demo.pool runs 100 tasks and prints the pool's stats" * doctest::timeout(60)) {
  const CliRun run = run_quick_demo("pool");
  check_all_in(run.out, {"all 100 futures resolved", "completed    100 (failed 0)",
                         "workers      4 started", "  wait         p50 <= ",
                         "  run          p50 <= ", "p99 <= ", "  utilization  "});
}

TEST_CASE("demo.transfer shows the source detached and the moved data pointer unchanged" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("transfer");
  const std::string original = word_after(run.out, "a Buffer of 8.00 MiB at ");
  const std::size_t cloned_at = run.out.find("1. clone");
  const std::size_t moved_at = run.out.find("2. move");
  REQUIRE(cloned_at != std::string::npos);
  REQUIRE(moved_at != std::string::npos);
  const std::string cloned = word_after(run.out, "the worker had 8.00 MiB at ", cloned_at);
  const std::string moved = word_after(run.out, "the worker had 8.00 MiB at ", moved_at);
  REQUIRE(original.rfind("0x", 0) == 0);
  CHECK(cloned != original);
  CHECK(moved == original);
  check_all_in(run.out, {"main's Buffer now: detached yes, size 0, data null",
                         "big.bytes() throws Error(detached)",
                         "back in main: peak 1, at the address main sent: yes"});
}

TEST_CASE("demo.message-channel hands the ports over and the actors talk without main" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("message-channel");
  check_all_in(run.out, {"port1 valid no, port2 valid no", "pinger: sent Ping 3, got Pong 9",
                         "pinger reports 1000 exchanges", "ponger reports 1000 exchanges"});
}

TEST_CASE("demo.request-reply shows a reply, a refusal, a timeout and a dead actor" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("request-reply");
  check_in_order(run.out, {"-> StockLevel{apple, 5}", "-> refused: only 2 left",
                           "ms timeout -> timeout", "-> StockLevel{apple, 2}", "-> dead"});
}

TEST_CASE("demo.backpressure keeps the bounded queue within its capacity and loses nothing" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("backpressure");
  const std::size_t bounded = run.out.find("\nbounded mailbox:");
  const std::size_t unbounded = run.out.find("unbounded mailbox:");
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

TEST_CASE("demo.spawn-cost starts and finishes every actor, thread and process" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("spawn-cost");
  // --quick starts 100 of each.
  check_in_order(run.out, {"actors, mailbox of 1024: 100 started, 100 finished in ",
                           "actors, mailbox of 16:   100 started, 100 finished in ",
                           "threads:                 100 started, 100 finished in ",
                           "processes:               100 started, 100 finished in "});
  CHECK(count_of(run.out, " each)") == 4);  // a per-unit figure for each kind
}

TEST_CASE("demo.pool-vs-spawn serves every request both ways with the same answers" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("pool-vs-spawn");
  check_in_order(run.out, {"1. a pool of 4 workers", "served in ", "2. a new actor per request",
                           "served in "});
  // Collatz: 27 takes 111 steps to reach 1.
  CHECK(contains(run.out, "n = 27: the pool says 111 steps, its actor says 111"));
}

TEST_CASE("demo.shared-counter counts exactly with atomics" * doctest::timeout(60)) {
  const CliRun run = run_quick_demo("shared-counter");
  // --quick: 4 workers x 200000. Round 1 may or may not lose updates: not asserted.
  CHECK(contains(run.out, "200000 times: 800000 expected"));
  const std::size_t atomic = run.out.find("2. with atomics");
  REQUIRE(atomic != std::string::npos);
  CHECK(word_after(run.out, "the word holds ", atomic) == "800000:");
}

TEST_CASE("demo.sync shows the deadlock, then transfers, downloads, phases and a config" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("sync");
  check_in_order(run.out, {"A gave up, B gave up", "2000 transfers; checking 1000, savings 1000",
                           " 0 found money missing", "at most ", "leaders: 1",
                           "the readers read \"workers=4\", \"workers=4\", \"workers=4\""});
  const std::string peak = word_after(run.out, "; at most ");
  REQUIRE_FALSE(peak.empty());
  CHECK(std::stoi(peak) <= 3);
}

TEST_CASE("demo.autoscale grows the pool to 4, shrinks it to 1, and runs HIGH first" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("autoscale");
  check_in_order(run.out,
                 {"at the peak: workers 4 alive, 4 running, 4 queued",
                  ": workers 1 alive, 0 running, 0 queued; 4 started, 3 retired",
                  "finishing order: HIGH, low 0, low 1, low 2, low 3, low 4"});
}

TEST_CASE("demo.limits fails the actor past its quota, and its supervisor restarts it" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("limits");
  check_in_order(run.out, {"1. an unsupervised cache", "byte quota of actor",
                           "event: exit (resource_exhausted)", "exit code: resource_exhausted",
                           "2. the same cache under a supervisor", "holds 0 B",
                           "byte quota of actor", "event: restart", "event: online",
                           "restarts: the actor's 1, the supervisor's 1",
                           "event: exit (terminated)"});
}

TEST_CASE("demo.rolling-update loses no task, and the later ones run the new code" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("rolling-update");
  // --quick: 300 tasks are submitted after replace_workers returned; none may run v1.
  CHECK(contains(run.out, "300 were submitted after the update returned, 0 of them on v1"));
  CHECK(contains(run.out, "failed 0, cancelled 0; workers started 6, replaced 3; generation 1"));
  const std::string submitted = word_after(run.out, "submitted ");
  REQUIRE_FALSE(submitted.empty());
  CHECK(contains(run.out, "pool: completed " + submitted + ","));
}

TEST_CASE("demo.hash-search finds the secret and accounts for every task" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("hash-search");
  CHECK(contains(run.out, "found \"actor\" after "));
  CHECK(contains(run.out, " = 676 of 676 submitted"));  // completed + cancelled
}

TEST_CASE("demo.health replaces only the stuck worker and sheds the overload" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("health");
  check_in_order(run.out, {"heartbeat 1: w1 ok, w2 ok, w3 ok",
                           "heartbeat 2: w1 ok, w2 MISSED", ", w3 ok",
                           "w2 is stuck: terminate() -> exit (terminated)",
                           "heartbeat 3: w1 ok, w2#2 ok, w3 ok", "accepted ",
                           "heartbeat 4: w1 ok, w2#2 ok, w3 ok"});
  // --quick: a burst of 60 requests.
  const std::string accepted = word_after(run.out, "accepted ");
  const std::string shed = word_after(run.out, ", shed ");
  REQUIRE_FALSE(accepted.empty());
  REQUIRE_FALSE(shed.empty());
  CHECK(std::stoul(accepted) + std::stoul(shed) == 60);
  CHECK(std::stoul(shed) > 0);
  CHECK(contains(run.out, "served " + accepted + " of the " + accepted + " accepted"));
}

TEST_CASE("demo.leak keeps every leaked session alive and the bounded ones at most 8" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("leak");
  // --quick: 100 requests; a session holds 64 KiB.
  check_in_order(run.out, {"1. leaky", "after 100 requests: 100 live sessions, 6.25 MiB held",
                           "the table cleared at last: 0 live sessions, 0 B held",
                           "2. bounded", "100 of 100 answered right", "now 0 live, 0 B held"});
  const std::size_t bounded = run.out.find("2. bounded");
  REQUIRE(bounded != std::string::npos);
  const std::string most = word_after(run.out, "the most live at once: ", bounded);
  REQUIRE_FALSE(most.empty());
  CHECK(std::stoul(most.substr(0, most.find(';'))) <= 8);
}

TEST_CASE("demo.jobs retries the transient failures and dead-letters the rest" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("jobs");
  // --quick: jobs 0..29. Bad input: 3, 13, 23 (1 attempt); a server down for good: 7, 17, 27
  // (4 attempts); 1 or 2 transient failures: retried to success.
  check_in_order(run.out, {"job 1 (thumbnail): attempt 1 failed: upstream unavailable",
                           "job 1 (thumbnail): attempt 2 ok", "24 done, 6 dead",
                           "dead letters:", "job 3 (email): invalid input: no customer 3, "
                           "after 1 attempt"});
  CHECK(contains(run.out, "job 7 (thumbnail): upstream unavailable (connection timed out), "
                          "after 4 attempts"));
  CHECK(count_of(run.out, "after 1 attempt\n") == 3);
  CHECK(count_of(run.out, "after 4 attempts\n") == 3);
}

TEST_CASE("demo.data-pipeline filters the broken lines, aggregates the rest, and cleans up" *
          doctest::timeout(60)) {
  const CliRun run = run_quick_demo("data-pipeline");
  // --quick: 20000 lines.
  check_in_order(run.out, {" 20000 lines (", "pipeline: 20000 lines read, ", "  parse ",
                           "  normalize ", "  aggregate ", "/api/users/:id"});
  const std::string broken = word_after(run.out, "), ");
  const std::string delivered = word_after(run.out, "lines read, ");
  REQUIRE_FALSE(broken.empty());
  REQUIRE_FALSE(delivered.empty());
  CHECK(std::stoul(broken) > 0);
  CHECK(std::stoul(delivered) + std::stoul(broken) == 20000);
  // The log was written in a temp dir of its own, which the demo removed.
  std::string log = word_after(run.out, "wrote ");
  REQUIRE(log.size() > 1);
  log.pop_back();  // the ':' after the path
  CHECK(std::filesystem::path(log).filename() == "access.log");
  CHECK_FALSE(std::filesystem::exists(std::filesystem::path(log).parent_path()));
}

TEST_CASE("demo.image-pipeline writes a PNG at half the size, in 4-bit gray" *
          doctest::timeout(60)) {
  // --quick: a 320 x 240 source.
  const troupe::demos::Image image = run_image_demo("image-pipeline");
  CHECK(image.width == 160);
  CHECK(image.height == 120);
  CHECK(image.channels == 1);
  CHECK(image.bit_depth == 4);
}

TEST_CASE("demo.mandelbrot writes the tiled render as an RGB PNG" * doctest::timeout(60)) {
  // --quick: 360 x 240.
  const troupe::demos::Image image = run_image_demo("mandelbrot");
  CHECK(image.width == 360);
  CHECK(image.height == 240);
  CHECK(image.channels == 3);
  CHECK(image.bit_depth == 8);
}
