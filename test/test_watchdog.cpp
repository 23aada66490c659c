// The per-message run-time budget (the watchdog) and the actors' section of the runtime's
// metrics export: counters, handler-time and mailbox-wait histograms, JSON and Prometheus.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "actor_test_support.hpp"
#include "test_support.hpp"
#include "troupe/actors/registry.hpp"

using namespace std::chrono_literals;
using troupe::ActorEvent;
using troupe::ActorOptions;
using troupe::ActorRef;
using troupe::Runtime;
using troupe::testing::Hold;
using troupe::testing::two_workers;

namespace {

struct Add {
  int by;
};
struct Get {};

class Counter {
 public:
  void handle(Add m) { n_ += m.by; }
  int handle(Get) const { return n_; }
  void handle(Hold m) { m.gate->blocking_wait(); }

 private:
  int n_ = 0;
};

std::optional<troupe::ActorInfo> info_of(std::uint64_t id) {
  for (const auto& info : troupe::live_actors()) {
    if (info.id == id) return info;
  }
  return std::nullopt;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("a handler past its message budget is reported as slow, naming the message, while "
          "other actors keep running" *
          doctest::timeout(60)) {
  Runtime rt(two_workers());
  auto [events_tx, events_rx] = troupe::unbounded_channel<ActorEvent>();
  ActorOptions options;
  options.name = "sluggish";
  options.message_budget = 20ms;
  options.events = std::move(events_tx);
  ActorRef<Counter> slow = troupe::spawn_actor<Counter>(rt, std::move(options));
  ActorRef<Counter> other = troupe::spawn_actor<Counter>(rt, ActorOptions{});

  troupe::Latch gate(1);
  REQUIRE(slow.tell(Hold{&gate}));
  ActorEvent event;
  do {
    auto next = events_rx.recv_for(30s);
    REQUIRE(next);
    event = std::move(*next);
  } while (event.kind != ActorEvent::Kind::slow);
  CHECK(contains(event.what, "Hold"));
  CHECK(contains(event.what, "(budget 20 ms)"));
  CHECK(event.name == "sluggish");
  CHECK(slow.stats().slow_messages == 1);

  // Meanwhile another actor is served (a worker is stuck in Hold).
  REQUIRE(other.tell(Add{2}));
  auto got = other.blocking_ask(Get{}, 30s);
  REQUIRE(got);
  CHECK(*got == 2);

  gate.count_down();
  REQUIRE(slow.tell(Add{1}));
  auto after = slow.blocking_ask(Get{}, 30s);  // the actor went on, quick again
  REQUIRE(after);
  CHECK(*after == 1);
  CHECK(slow.stats().slow_messages == 1);  // once per message
}

TEST_CASE("timed actors export counters and handler-time histograms through the runtime's "
          "metrics, as JSON and Prometheus" *
          doctest::timeout(60)) {
  Runtime rt(two_workers());
  ActorOptions options;
  options.name = "timed \"metrics\"";
  options.timing = true;
  ActorRef<Counter> timed = troupe::spawn_actor<Counter>(rt, std::move(options));
  for (int i = 0; i < 10; ++i) REQUIRE(timed.tell(Add{1}));
  REQUIRE(timed.blocking_ask(Get{}, 30s));
  troupe::testing::spin_until([&] {  // the ask's handler is timed after it replied
    auto info = info_of(timed.id());
    return info && info->processing.count == 11;
  });
  const auto info = info_of(timed.id());
  REQUIRE(info);
  CHECK(info->timed);
  CHECK(info->received == 11);
  std::uint64_t in_buckets = 0;
  for (const std::uint64_t n : info->processing.counts) in_buckets += n;
  CHECK(in_buckets == 11);

  const troupe::RuntimeMetrics metrics = rt.metrics();
  const std::string json = metrics.to_json();
  CHECK(contains(json, "\"actors\":["));
  CHECK(contains(json, "\"name\":\"timed \\\"metrics\\\"\""));
  CHECK(contains(json, "\"processing_ns\":{\"count\":11,"));
  const std::string prom = metrics.to_prometheus();
  const std::string labels =
      "{actor=\"" + std::to_string(timed.id()) + "\",name=\"timed \\\"metrics\\\"\"";
  CHECK(contains(prom, "# TYPE troupe_actor_received gauge"));
  CHECK(contains(prom, "troupe_actor_received" + labels + "} 11\n"));
  CHECK(contains(prom, "troupe_actor_processing_ns_count" + labels + "} 11\n"));
  CHECK(contains(prom, "troupe_actor_processing_ns_bucket" + labels + ",le=\"+Inf\"} 11\n"));
  CHECK(contains(json, "\"mailbox_wait_ns\":{\"count\":11,"));
  CHECK(contains(prom, "troupe_actor_mailbox_wait_ns_count" + labels + "} 11\n"));
}

TEST_CASE("the mailbox-wait histogram holds how long each message sat queued behind a busy "
          "handler" *
          doctest::timeout(60)) {
  Runtime rt(two_workers());
  ActorOptions options;
  options.timing = true;
  ActorRef<Counter> timed = troupe::spawn_actor<Counter>(rt, std::move(options));
  troupe::Latch gate(1);
  REQUIRE(timed.tell(Hold{&gate}));
  for (int i = 0; i < 5; ++i) REQUIRE(timed.tell(Add{1}));
  const auto queued = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(30ms);  // the five wait at least this long behind the Hold
  gate.count_down();
  REQUIRE(timed.blocking_ask(Get{}, 30s).value() == 5);
  const auto held = std::chrono::steady_clock::now() - queued;
  troupe::testing::spin_until([&] {
    auto info = info_of(timed.id());
    return info && info->mailbox_wait.count == 7;  // Hold, five Adds, Get
  });
  const auto info = info_of(timed.id());
  REQUIRE(info);
  // 2^24 ns is about 16.8 ms: the five Adds waited 30 ms or more, so they sit in bucket 24 or
  // above (bucket i holds waits in [2^i, 2^(i+1)) ns); none waited longer than the whole test.
  std::uint64_t long_waits = 0;
  for (std::size_t i = 24; i < troupe::TimeHistogram::kBuckets; ++i) {
    long_waits += info->mailbox_wait.counts[i];
  }
  CHECK(long_waits >= 5);
  CHECK(info->mailbox_wait.sum_ns >= 5 * 30'000'000ull);
  CHECK(info->mailbox_wait.sum_ns <=
        7 * static_cast<std::uint64_t>(std::chrono::nanoseconds(held).count() + 1'000'000'000));
}

TEST_CASE("a negative message budget is refused" * doctest::timeout(30)) {
  Runtime rt(two_workers());
  ActorOptions options;
  options.message_budget = -1ms;
  CHECK_THROWS_WITH_AS(troupe::spawn_actor<Counter>(rt, options),
                       "spawn: ActorOptions::message_budget -1000000 ns is negative", troupe::Error);
}
