// `troupe load soak` (samples/troupe/soak.cpp), driven through troupe::cli::run: a short soak
// with a fixed seed balances every book and injects every kind of fault; --size scales a round
// and the sheet names it; the balance check itself fails an unbalanced sheet; bad input is a
// usage error. No assertion about timings.
#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include "cli_test_support.hpp"
#include "troupe/soak.hpp"

namespace {

using troupe::cli::SoakSheet;
using troupe::cli::unbalanced;
using troupe::testing::check_usage_error;
using troupe::testing::CliRun;
using troupe::testing::contains;
using troupe::testing::json_number_after;
using troupe::testing::run_cli;

// The JSON object after `"key":` in `json` (no nested objects inside: the sheet's sections).
std::string section(const std::string& json, const std::string& key) {
  const std::size_t at = json.find("\"" + key + "\":{");
  REQUIRE_MESSAGE(at != std::string::npos, key);
  const std::size_t end = json.find('}', at);
  REQUIRE(end != std::string::npos);
  return json.substr(at, end - at + 1);
}

double number(const std::string& json, const std::string& object, const std::string& key) {
  return json_number_after(section(json, object), key);
}

// A sheet that balances: a small consistent set of books.
SoakSheet balanced_sheet() {
  SoakSheet s;
  s.rounds = 1;
  s.sent = 10;
  s.delivered = 6;
  s.returned = 3;
  s.dead_letters = 1;
  s.received = 6;
  s.rejected = 3;
  s.returned_closed = 1;
  s.parcels_launched = 4;
  s.parcels_back = 3;
  s.parcels_dead = 1;
  s.futures_submitted = 5;
  s.futures_value = 2;
  s.futures_error = 1;
  s.futures_cancelled = 2;
  s.pool_submitted = 5;
  s.pool_completed = 2;
  s.pool_failed = 1;
  s.pool_cancelled = 2;
  s.buffers_created = 4;
  s.buffers_freed = 4;
  s.threads_start = 3;
  s.threads_end = 3;
  return s;
}

}  // namespace

TEST_CASE("soak: a short run with a fixed seed balances every book and injects every fault" *
          doctest::timeout(300)) {
  const CliRun run = run_cli({"load", "soak", "--duration", "0.3s", "--seed", "7", "--json"});
  INFO(run.out);
  INFO(run.err);
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  const std::string& json = run.out;
  CHECK(contains(json, "\"balanced\":true"));
  CHECK(contains(json, "\"failures\":[]"));
  CHECK(json_number_after(json, "seed") == 7);
  CHECK(json_number_after(json, "rounds") >= 1);
  // The books, recomputed from the printed numbers.
  const double sent = number(json, "messages", "sent");
  CHECK(sent > 0);
  CHECK(sent == number(json, "messages", "delivered") + number(json, "messages", "returned") +
                    number(json, "messages", "dead_letters"));
  CHECK(number(json, "parcels", "launched") ==
        number(json, "parcels", "back") + number(json, "parcels", "dead_letters"));
  CHECK(number(json, "futures", "submitted") ==
        number(json, "futures", "value") + number(json, "futures", "error") +
            number(json, "futures", "cancelled"));
  CHECK(number(json, "pool", "submitted") ==
        number(json, "pool", "completed") + number(json, "pool", "failed") +
            number(json, "pool", "cancelled") + number(json, "pool", "timed_out") +
            number(json, "pool", "deadline_exceeded"));
  CHECK(number(json, "buffers", "created") > 0);
  CHECK(number(json, "buffers", "created") == number(json, "buffers", "freed"));
  CHECK(number(json, "buffers", "live") == 0);
  CHECK(number(json, "threads", "end") <= number(json, "threads", "start"));
  // Every kind of fault, at least once.
  for (const char* fault : {"handler_throws", "terminations", "restarts", "stalls", "pool_closes",
                            "buffer_transfers"}) {
    CHECK_MESSAGE(number(json, "faults", fault) >= 1, fault);
  }
  // Some messages were returned (full mailboxes) and some dead-lettered (terminations).
  CHECK(number(json, "messages", "returned") >= 1);
  CHECK(number(json, "messages", "dead_letters") >= 1);
}

TEST_CASE("soak: people get the sheet and a verdict; without --seed a random seed is printed" *
          doctest::timeout(300)) {
  const CliRun run = run_cli({"load", "soak", "--duration", "100ms"});
  INFO(run.out);
  CHECK(run.code == 0);
  CHECK(contains(run.out, "messages"));
  CHECK(contains(run.out, "futures"));
  CHECK(contains(run.out, "Buffers"));
  CHECK(contains(run.out, "threads"));
  CHECK(contains(run.out, "replay with --seed "));
  CHECK(contains(run.out, "verdict: every book balanced"));
}

TEST_CASE("soak: --size scales every round, and the sheet names the size" *
          doctest::timeout(300)) {
  // At size 1 a round tells at most 2 x 15 flaky + 4 stall messages and 3 parcels over 4 hops.
  const CliRun small =
      run_cli({"load", "soak", "--duration", "1ms", "--seed", "3", "--size", "1", "--json"});
  INFO(small.out);
  INFO(small.err);
  CHECK(small.code == 0);
  CHECK(contains(small.out, "\"balanced\":true"));
  CHECK(json_number_after(small.out, "size") == 1);
  const double rounds = json_number_after(small.out, "rounds");
  CHECK(rounds >= 1);
  CHECK(number(small.out, "messages", "sent") <= (2 * 15 + 4 + 3 * 4) * rounds);
  CHECK(number(small.out, "parcels", "launched") == 3 * rounds);
  // Without --size: the default, 100.
  const CliRun standard = run_cli({"load", "soak", "--duration", "1ms", "--seed", "3", "--json"});
  CHECK(standard.code == 0);
  CHECK(json_number_after(standard.out, "size") == 100);
  CHECK(number(standard.out, "parcels", "launched") ==
        300 * json_number_after(standard.out, "rounds"));
  // People see the size and its counts; a random seed's replay line carries --size.
  const CliRun human = run_cli({"load", "soak", "--duration", "1ms", "--size", "2"});
  INFO(human.out);
  CHECK(human.code == 0);
  CHECK(contains(human.out, "a round tells 2 x 30 flaky and 8 stall messages, submits 8 pool "
                            "tasks, sends 6 parcels"));
  CHECK(contains(human.out, " --size 2)"));
}

TEST_CASE("soak: the balance check fails every kind of unbalanced sheet") {
  CHECK(unbalanced(balanced_sheet()).empty());
  const auto broken = [](void (*spoil)(SoakSheet&)) {
    SoakSheet s = balanced_sheet();
    spoil(s);
    return unbalanced(s);
  };
  CHECK(broken([](SoakSheet& s) { s.sent += 1; }).size() == 1);                // a lost message
  CHECK(broken([](SoakSheet& s) { s.received += 1; }).size() == 1);            // taken, not handled
  CHECK(broken([](SoakSheet& s) { s.rejected += 1; }).size() == 1);
  CHECK(broken([](SoakSheet& s) { s.returned_closed = 2; }).size() == 1);
  CHECK(broken([](SoakSheet& s) { s.parcels_launched += 1; }).size() == 1);    // a lost parcel
  CHECK(broken([](SoakSheet& s) { s.parcels_corrupt = 1; }).size() == 1);
  CHECK(!broken([](SoakSheet& s) { s.futures_submitted += 1; }).empty());      // unresolved
  CHECK(!broken([](SoakSheet& s) { s.futures_other = 1; }).empty());
  CHECK(!broken([](SoakSheet& s) { s.pool_completed += 1; }).empty());
  CHECK(broken([](SoakSheet& s) { s.pool_rejected = 1; }).size() == 1);
  CHECK(broken([](SoakSheet& s) {
          s.buffers_created = 5;
          s.buffers_live = 1;
        }).size() == 1);                                                       // a Buffer leak
  CHECK(broken([](SoakSheet& s) { s.threads_end = 4; }).size() == 1);          // a thread left
  CHECK(broken([](SoakSheet& s) { s.hang = "pool"; }).size() == 1);
  CHECK(broken([](SoakSheet& s) { s.rounds = 0; }).size() == 1);
  // And the CLI says so: exit 1 is what run_soak returns for any of these (print shows them).
  SoakSheet leaky = balanced_sheet();
  leaky.buffers_created = 5;
  leaky.buffers_live = 1;
  std::ostringstream out;
  troupe::cli::print_soak_sheet(out, leaky, true, troupe::cli::OutputFormat::human);
  CHECK(contains(out.str(), "UNBALANCED Buffers: 1 live at the end"));
  CHECK(contains(out.str(), "verdict: 1 book(s) unbalanced"));
  std::ostringstream json;
  troupe::cli::print_soak_sheet(json, leaky, true, troupe::cli::OutputFormat::json);
  CHECK(contains(json.str(), "\"balanced\":false"));
}

TEST_CASE("soak: bad input is a usage error (exit 2, one line)") {
  check_usage_error(run_cli({"load", "soak"}), "load soak needs --duration");
  check_usage_error(run_cli({"load", "soak", "--duration", "0"}), "--duration: must be greater");
  check_usage_error(run_cli({"load", "soak", "--duration", "-1"}), "--duration");
  check_usage_error(run_cli({"load", "soak", "--duration", "abc"}), "--duration: expected");
  check_usage_error(run_cli({"load", "soak", "--duration", "25h"}), "too long (at most 24 h)");
  check_usage_error(run_cli({"load", "soak", "--duration", "86401"}), "too long");
  check_usage_error(run_cli({"load", "soak", "--duration", "1", "--seed", "x"}), "--seed");
  check_usage_error(run_cli({"load", "soak", "--duration", "1", "--seed", "-3"}), "--seed");
  check_usage_error(run_cli({"load", "soak", "--duration", "1", "--frobnicate"}), "frobnicate");
  check_usage_error(run_cli({"load", "soak", "--duration", "1", "--rate", "10"}),
                    "--rate does not apply to 'troupe load soak'");
  check_usage_error(run_cli({"load", "soak", "--duration", "1", "--n", "10"}),
                    "--n does not apply to 'troupe load soak'");
  check_usage_error(run_cli({"load", "soak", "--duration", "1", "--csv"}),
                    "--csv does not apply to 'troupe load soak'");
  check_usage_error(run_cli({"load", "soak", "--duration", "1", "--size", "0"}),
                    "--size: must be at least 1, got 0");
  check_usage_error(run_cli({"load", "soak", "--duration", "1", "--size", "10001"}),
                    "--size: 10001 is too large (at most 10,000)");
  check_usage_error(run_cli({"load", "soak", "--duration", "1", "--size", "abc"}),
                    "--size: expected an integer from 1 to 10,000, got 'abc'");
  check_usage_error(run_cli({"load", "soak", "--duration", "1", "--size", "-5"}), "'-5'");
  check_usage_error(run_cli({"load", "soak", "--duration", "1", "--size", "2.5"}), "'2.5'");
  check_usage_error(run_cli({"load", "soak", "--duration", "1", "--size", ""}), "--size");
  check_usage_error(run_cli({"load", "soak", "--duration", "1", "--size", "99999999999999999999"}),
                    "--size: 99999999999999999999 is too large");
  check_usage_error(run_cli({"load", "ring", "--seed", "1"}),
                    "--seed applies only to 'troupe load soak'");
  check_usage_error(run_cli({"load", "ring", "--size", "10"}),
                    "--size applies only to 'troupe load soak'");
  check_usage_error(run_cli({"load", "latency", "--rate", "10", "--duration", "1", "--seed", "1"}),
                    "--seed applies only to 'troupe load soak'");
}

TEST_CASE("soak: --help describes it") {
  const CliRun run = run_cli({"load", "--help"});
  CHECK(run.code == 0);
  CHECK(contains(run.out, "troupe load soak --duration D [--seed S] [--size N] [--json]"));
  CHECK(contains(run.out, "--size N (1..10,000, default 100)"));
}
