// Pipelines: stages on a runtime, order, backpressure and bounded memory, error policies,
// cancellation, and the books.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_support.hpp"
#include "troupe/actors/pipeline.hpp"
#include "troupe/channels/buffer.hpp"

using namespace std::chrono_literals;
using troupe::DeadLetter;
using troupe::OnError;
using troupe::PipelineOptions;
using troupe::PipelineStats;
using troupe::StageOptions;

namespace {

// The books of a finished pipeline: every emitted item ended exactly once. Unless it was
// stopped, nothing was cancelled and each stage passed on or counted every item it took.
void check_books(const PipelineStats& s) {
  CHECK(s.finished);
  std::uint64_t ended = 0;
  for (const auto& stage : s.stages) {
    ended += stage.filtered + stage.skipped + stage.dead_lettered + stage.failed;
    CHECK(stage.queued == 0);
    if (!s.stopped) {
      CHECK(stage.in ==
            stage.out + stage.filtered + stage.skipped + stage.dead_lettered + stage.failed);
    }
  }
  CHECK(s.emitted + s.copied == s.delivered + ended + s.cancelled);
  if (!s.stopped) CHECK(s.cancelled == 0);
}

// Emits 1..n.
auto counting_to(std::int64_t n) {
  return [i = std::int64_t{0}, n]() mutable -> std::optional<std::int64_t> {
    if (i == n) return std::nullopt;
    return ++i;
  };
}

}  // namespace

TEST_CASE("three stages carry every item: emit, map x3, sum" * doctest::timeout(60)) {
  troupe::Runtime rt;
  std::int64_t sum = 0;  // the sink runs on one task at a time
  auto p = troupe::pipeline<std::int64_t>(rt)
               .stage([](std::int64_t x) { return 3 * x; }, {.name = "triple"})
               .sink([&sum](std::int64_t x) { sum += x; });
  p.start(counting_to(100'000));
  const PipelineStats s = p.finish();
  CHECK(sum == 3 * 100'000LL * 100'001 / 2);
  CHECK(s.emitted == 100'000);
  CHECK(s.delivered == 100'000);
  REQUIRE(s.stages.size() == 2);
  CHECK(s.stages[0].name == "triple");
  CHECK(s.stages[0].in == 100'000);
  CHECK(s.stages[0].out == 100'000);
  CHECK(s.stages[1].name == "sink");
  CHECK(s.stages[0].latency.count == 100'000);
  check_books(s);
}

TEST_CASE("ordered output is in source order whatever the parallelism" * doctest::timeout(60)) {
  troupe::Runtime rt;
  std::vector<std::int64_t> seen;
  auto p = troupe::pipeline<std::int64_t>(rt)
               .stage(
                   [](std::int64_t x) {
                     if (x % 7 == 0) std::this_thread::yield();  // uneven work
                     return x;
                   },
                   {.parallelism = 3, .capacity = 96})
               .stage([](std::int64_t x) { return x * 2; }, {.parallelism = 2, .capacity = 64})
               .sink([&seen](std::int64_t x) { seen.push_back(x); });
  p.start(counting_to(20'000));
  check_books(p.finish());
  REQUIRE(seen.size() == 20'000);
  for (std::size_t i = 0; i < seen.size(); ++i) REQUIRE(seen[i] == 2 * static_cast<std::int64_t>(i + 1));
}

TEST_CASE("unordered output is a permutation of the input" * doctest::timeout(60)) {
  troupe::Runtime rt;
  std::vector<std::int64_t> seen;
  auto p = troupe::pipeline<std::int64_t>(rt, {.ordered = false})
               .stage([](std::int64_t x) { return x; }, {.parallelism = 3, .capacity = 96})
               .sink([&seen](std::int64_t x) { seen.push_back(x); });
  p.start(counting_to(20'000));
  check_books(p.finish());
  std::sort(seen.begin(), seen.end());
  REQUIRE(seen.size() == 20'000);
  for (std::size_t i = 0; i < seen.size(); ++i) REQUIRE(seen[i] == static_cast<std::int64_t>(i + 1));
}

namespace {
// An item that counts how many of its kind are alive (moved-from ones do not count).
struct Tracked {
  static inline std::atomic<std::int64_t> live{0};
  explicit Tracked(std::int64_t v) : value(v) { live.fetch_add(1); }
  Tracked(Tracked&& other) noexcept : value(other.value), alive(std::exchange(other.alive, false)) {}
  Tracked& operator=(Tracked&& other) noexcept {
    if (alive) live.fetch_sub(1);
    value = other.value;
    alive = std::exchange(other.alive, false);
    return *this;
  }
  Tracked(const Tracked&) = delete;
  ~Tracked() {
    if (alive) live.fetch_sub(1);
  }
  std::int64_t value;
  bool alive = true;
};
}  // namespace

TEST_CASE("a slow sink keeps memory bounded: items in flight never exceed the sum of the "
          "capacities" *
          doctest::timeout(60)) {
  troupe::Runtime rt;
  Tracked::live.store(0);
  std::int64_t most_alive = 0;
  std::int64_t sum = 0;
  constexpr std::size_t kCapacity = 32;  // per step: chunks of 4 items
  auto p = troupe::pipeline<Tracked>(rt)
               .stage([](Tracked t) { return t; }, {.capacity = kCapacity})
               .stage([](Tracked t) { return t; }, {.parallelism = 2, .capacity = 2 * kCapacity})
               .sink(
                   [&](Tracked t) {
                     most_alive = std::max(most_alive, Tracked::live.load());
                     sum += t.value;
                     std::this_thread::sleep_for(20us);  // slow: everything upstream fills up
                   },
                   {.capacity = kCapacity});
  p.start([i = std::int64_t{0}]() mutable -> std::optional<Tracked> {
    if (i == 3000) return std::nullopt;
    return Tracked(++i);
  });
  check_books(p.finish());
  CHECK(sum == 3000LL * 3001 / 2);
  CHECK(most_alive > 0);
  CHECK(most_alive <= static_cast<std::int64_t>(kCapacity + 2 * kCapacity + kCapacity));
  CHECK(Tracked::live.load() == 0);
}

TEST_CASE("a stage returning nullopt filters the item, and it is counted" * doctest::timeout(30)) {
  troupe::Runtime rt;
  std::int64_t kept = 0;
  auto p = troupe::pipeline<std::int64_t>(rt)
               .stage([](std::int64_t x) -> std::optional<std::int64_t> {
                 if (x % 3 == 0) return std::nullopt;
                 return x;
               })
               .sink([&kept](std::int64_t) { ++kept; });
  p.start(counting_to(3000));
  const PipelineStats s = p.finish();
  CHECK(kept == 2000);
  CHECK(s.stages[0].filtered == 1000);
  check_books(s);
}

TEST_CASE("a coroutine stage may await" * doctest::timeout(30)) {
  troupe::Runtime rt;
  std::int64_t sum = 0;
  auto p = troupe::pipeline<std::int64_t>(rt)
               .stage([](std::int64_t x) -> troupe::Task<std::int64_t> {
                 co_await troupe::sleep_for(0ms);
                 co_return x + 1;
               })
               .sink([&sum](std::int64_t x) { sum += x; });
  p.start(counting_to(500));
  check_books(p.finish());
  CHECK(sum == 500 * 501 / 2 + 500);
}

TEST_CASE("an input port feeds the pipeline from a thread, with backpressure" *
          doctest::timeout(30)) {
  troupe::Runtime rt;
  std::int64_t sum = 0;
  auto p = troupe::pipeline<std::int64_t>(rt)
               .stage([](std::int64_t x) { return x; }, {.capacity = 16})
               .sink([&sum](std::int64_t x) { sum += x; }, {.capacity = 16});
  troupe::Sender<std::int64_t> in = p.start();
  for (std::int64_t i = 1; i <= 5000; ++i) REQUIRE(in.blocking_send(i));
  in = troupe::Sender<std::int64_t>();  // the end of the input
  check_books(p.finish());
  CHECK(sum == 5000LL * 5001 / 2);
}

TEST_CASE("under OnError::stop the first exception stops the pipeline and finish rethrows it" *
          doctest::timeout(30)) {
  troupe::Runtime rt;
  auto p = troupe::pipeline<std::int64_t>(rt)
               .stage(
                   [](std::int64_t x) {
                     if (x == 700) throw std::runtime_error("bad record 700");
                     return x;
                   },
                   {.name = "parse"})
               .sink([](std::int64_t) {});
  p.start(counting_to(1'000'000));
  CHECK_THROWS_WITH_AS(p.finish(), "bad record 700", std::runtime_error);
  const PipelineStats s = p.stats();
  CHECK(s.stopped);
  CHECK(s.failed_stage == "parse");
  CHECK(s.stages[0].failed == 1);
  CHECK(s.delivered < 1'000'000);
  check_books(s);
}

TEST_CASE("under OnError::skip failing items are dropped and counted, the rest go on" *
          doctest::timeout(30)) {
  troupe::Runtime rt;
  std::int64_t delivered = 0;
  auto p = troupe::pipeline<std::int64_t>(rt)
               .stage(
                   [](std::int64_t x) {
                     if (x % 10 == 0) throw std::runtime_error("tenth");
                     return x;
                   },
                   {.parallelism = 2, .capacity = 64, .on_error = OnError::skip})
               .sink([&delivered](std::int64_t) { ++delivered; });
  p.start(counting_to(1000));
  const PipelineStats s = p.finish();
  CHECK(delivered == 900);
  CHECK(s.stages[0].skipped == 100);
  CHECK_FALSE(s.stopped);
  check_books(s);
}

TEST_CASE("under OnError::dead_letter failing items reach the dead-letter port with their error" *
          doctest::timeout(30)) {
  troupe::Runtime rt;
  auto [dead_tx, dead_rx] = troupe::unbounded_channel<DeadLetter<std::int64_t>>();
  std::int64_t delivered = 0;
  auto p = troupe::pipeline<std::int64_t>(rt)
               .stage(
                   [](const std::int64_t& x) {  // by reference: the item stays for the port
                     if (x % 100 == 0) throw std::runtime_error("hundredth");
                     return x;
                   },
                   {.name = "check", .on_error = OnError::dead_letter}, std::move(dead_tx))
               .sink([&delivered](std::int64_t) { ++delivered; });
  p.start(counting_to(1000));
  const PipelineStats s = p.finish();
  CHECK(delivered == 990);
  CHECK(s.stages[0].dead_lettered == 10);
  check_books(s);
  std::set<std::int64_t> letters;
  while (auto letter = dead_rx.try_recv()) {
    REQUIRE(letter->item.has_value());
    letters.insert(*letter->item);
    CHECK(letter->stage == "check");
    CHECK_THROWS_WITH_AS(std::rethrow_exception(letter->error), "hundredth",
                         std::runtime_error);
  }
  CHECK(letters == std::set<std::int64_t>{100, 200, 300, 400, 500, 600, 700, 800, 900, 1000});
}

TEST_CASE("cancel mid-stream returns promptly and the books count what was dropped" *
          doctest::timeout(30)) {
  troupe::Runtime rt;
  std::atomic<std::int64_t> delivered{0};
  auto p = troupe::pipeline<std::int64_t>(rt)
               .stage([](std::int64_t x) { return x; }, {.parallelism = 2, .capacity = 64})
               .sink([&delivered](std::int64_t) { delivered.fetch_add(1); });
  p.start([i = std::int64_t{0}]() mutable -> std::optional<std::int64_t> { return ++i; });  // endless
  troupe::testing::spin_until([&] { return delivered.load() > 1000; });
  p.cancel();
  const PipelineStats s = p.finish();
  CHECK(s.stopped);
  CHECK(s.failed_stage.empty());
  CHECK(s.cancelled > 0);
  check_books(s);
}

TEST_CASE("bad pipeline options are refused at the call" * doctest::timeout(30)) {
  troupe::Runtime rt;
  const auto id = [](std::int64_t x) { return x; };
  CHECK_THROWS_WITH_AS((void)troupe::pipeline<std::int64_t>(rt).stage(id, {.parallelism = 0}),
                       doctest::Contains("parallelism must be >= 1"), troupe::Error);
  CHECK_THROWS_WITH_AS(
      (void)troupe::pipeline<std::int64_t>(rt).stage(id, {.parallelism = 4, .capacity = 16}),
      doctest::Contains("capacity 16 must be in [32 (8 x parallelism)"), troupe::Error);
  CHECK_THROWS_WITH_AS(
      (void)troupe::pipeline<std::int64_t>(rt).stage(id, {.on_error = OnError::dead_letter}),
      doctest::Contains("no dead-letter port"), troupe::Error);
  auto [tx, rx] = troupe::channel<DeadLetter<std::int64_t>>(4);
  CHECK_THROWS_WITH_AS((void)troupe::pipeline<std::int64_t>(rt).stage(id, {}, std::move(tx)),
                       doctest::Contains("on_error is not dead_letter"), troupe::Error);
  CHECK_THROWS_WITH_AS(
      (void)troupe::pipeline<std::int64_t>(rt, {.chunk = 1000}).sink([](std::int64_t) {}),
      doctest::Contains("chunk 1000 is too large: at most 128"), troupe::Error);
  auto p = troupe::pipeline<std::int64_t>(rt).sink([](std::int64_t) {});
  CHECK_THROWS_WITH_AS(p.finish(), doctest::Contains("has not started"), troupe::Error);
  auto in = p.start();
  CHECK_THROWS_WITH_AS((void)p.start(), doctest::Contains("already started"), troupe::Error);
  in = troupe::Sender<std::int64_t>();
  check_books(p.finish());
}

TEST_CASE("a stage's parallelism is capped, and more than one task needs a copyable function" *
          doctest::timeout(30)) {
  troupe::Runtime rt;
  const auto id = [](std::int64_t x) { return x; };
  CHECK(troupe::testing::error_message_of([&] {
          (void)troupe::pipeline<std::int64_t>(rt).stage(
              id, {.name = "wide", .parallelism = 5000, .capacity = 40000});
        }) == "Pipeline: stage 'wide': parallelism 5000 is too large (at most 4096)");
  auto owned = std::make_unique<std::int64_t>(1);
  auto move_only = [owned = std::move(owned)](std::int64_t x) { return x + *owned; };
  CHECK(troupe::testing::error_message_of([&] {
          (void)troupe::pipeline<std::int64_t>(rt).stage(
              std::move(move_only), {.name = "unique", .parallelism = 2, .capacity = 16});
        }) == "Pipeline: stage 'unique': parallelism > 1 needs a copyable function (each task "
              "gets a copy)");
}

TEST_CASE("drain stops the source and lets every item it took go through" *
          doctest::timeout(30)) {
  troupe::Runtime rt;
  std::atomic<std::int64_t> delivered{0};
  auto endless = troupe::pipeline<std::int64_t>(rt)
                     .stage([](std::int64_t x) { return x; }, {.parallelism = 2, .capacity = 64})
                     .sink([&delivered](std::int64_t) { delivered.fetch_add(1); });
  endless.start([i = std::int64_t{0}]() mutable -> std::optional<std::int64_t> { return ++i; });
  troupe::testing::spin_until([&] { return delivered.load() > 1000; });
  endless.drain();
  const PipelineStats s = endless.finish();
  CHECK_FALSE(s.stopped);
  CHECK(s.cancelled == 0);
  CHECK(s.delivered == s.emitted);
  check_books(s);

  std::int64_t sum = 0;
  auto fed = troupe::pipeline<std::int64_t>(rt).sink([&sum](std::int64_t x) { sum += x; });
  troupe::Sender<std::int64_t> in = fed.start();
  for (std::int64_t i = 1; i <= 100; ++i) REQUIRE(in.blocking_send(i));
  fed.drain();
  troupe::testing::spin_until([&] {  // the source closes the port as it sees the drain
    auto sent = in.try_send(0);          // (a 0 that gets in adds nothing to the sum)
    return !sent && sent.error().is_closed();
  });
  auto refused = in.try_send(101);
  REQUIRE_FALSE(refused);
  CHECK(std::move(refused.error()).into_message() == 101);  // handed back
  const PipelineStats t = fed.finish();
  CHECK(sum == 5050);  // every item sent before the drain went through
  check_books(t);
}

TEST_CASE("Buffers travel through the stages by transfer, never copied" * doctest::timeout(30)) {
  troupe::Runtime rt;
  std::vector<const std::byte*> origins;
  std::vector<troupe::Buffer> sources;
  for (int i = 0; i < 50; ++i) {
    sources.emplace_back(4096);
    origins.push_back(sources.back().data());
  }
  std::size_t next = 0;
  std::vector<const std::byte*> arrived;
  auto p = troupe::pipeline<troupe::Buffer>(rt)
               .stage([](troupe::Buffer b) {
                 b.as<std::uint64_t>()[0] += 1;
                 return b;
               })
               .stage([](troupe::Buffer b) { return b; }, {.parallelism = 2, .capacity = 64})
               .sink([&arrived](troupe::Buffer b) {
                 CHECK(b.as<std::uint64_t>()[0] == 1);
                 arrived.push_back(b.data());
               });
  p.start([&]() -> std::optional<troupe::Buffer> {
    if (next == sources.size()) return std::nullopt;
    return std::move(sources[next++]);
  });
  check_books(p.finish());
  CHECK(arrived == origins);  // the same allocations, in order
}

TEST_CASE("every live pipeline appears in the runtime's metrics export, with its stages" *
          doctest::timeout(30)) {
  troupe::Runtime rt;
  auto p = troupe::pipeline<std::int64_t>(rt, {.name = "orders"})
               .stage([](std::int64_t x) { return x; }, {.name = "parse"})
               .sink([](std::int64_t) {});
  p.start(counting_to(1000));
  (void)p.finish();
  const troupe::RuntimeMetrics metrics = rt.metrics();
  const std::string json = metrics.to_json();
  CHECK(json.find("\"pipelines\":[") != std::string::npos);
  CHECK(json.find("\"name\":\"orders\",\"emitted\":1000,\"delivered\":1000,\"stages\":[{"
                  "\"stage\":\"parse\",\"parallelism\":1,\"in\":1000,\"out\":1000,") !=
        std::string::npos);
  const std::string prom = metrics.to_prometheus();
  CHECK(prom.find("troupe_pipeline_stage_out{pipeline=\"") != std::string::npos);
  CHECK(prom.find(",name=\"orders\",stage=\"sink\"} 1000\n") != std::string::npos);
  CHECK(prom.find("troupe_pipeline_stage_latency_ns_count{") != std::string::npos);
}

TEST_CASE("a fan-out gives every item to each branch and a fan-in merges their outputs" *
          doctest::timeout(60)) {
  troupe::Runtime rt;
  std::int64_t sum = 0;
  std::int64_t count = 0;
  auto p = troupe::pipeline<std::int64_t>(rt)
               .stage([](std::int64_t x) { return x; }, {.name = "parse"})
               .fan_out(troupe::branch([](std::int64_t x) { return 2 * x; },
                                       {.name = "double", .parallelism = 2, .capacity = 64}),
                        troupe::branch([](std::int64_t x) -> std::optional<std::int64_t> {
                          if (x % 2 == 0) return std::nullopt;  // odd ones only
                          return 3 * x;
                        }, {.name = "triple odd"}))
               .sink([&](std::int64_t x) {
                 sum += x;
                 ++count;
               });
  p.start(counting_to(10'000));
  const PipelineStats s = p.finish();
  // doubles of 1..10000, plus triples of the 5000 odd ones (whose sum is 5000^2)
  CHECK(sum == 2 * (10'000LL * 10'001 / 2) + 3 * 5000LL * 5000);
  CHECK(count == 15'000);
  CHECK(s.copied == 10'000);
  REQUIRE(s.stages.size() == 4);
  CHECK(s.stages[1].name == "double");
  CHECK(s.stages[2].name == "triple odd");
  CHECK(s.stages[2].filtered == 5000);
  check_books(s);
}

TEST_CASE("an error in one branch stops the whole pipeline, and the books still balance" *
          doctest::timeout(30)) {
  troupe::Runtime rt;
  auto p = troupe::pipeline<std::int64_t>(rt)
               .fan_out(troupe::branch([](std::int64_t x) { return x; }),
                        troupe::branch(
                            [](std::int64_t x) {
                              if (x == 5000) throw std::runtime_error("branch b broke");
                              return x;
                            },
                            {.name = "b"}))
               .sink([](std::int64_t) {});
  p.start(counting_to(1'000'000));
  CHECK_THROWS_WITH_AS(p.finish(), "branch b broke", std::runtime_error);
  const PipelineStats s = p.stats();
  CHECK(s.failed_stage == "b");
  check_books(s);
}

namespace {
// An item that counts its copies.
struct Counted {
  static inline std::atomic<int> copies{0};
  std::string text;
  explicit Counted(std::string t) : text(std::move(t)) {}
  Counted(const Counted& other) : text(other.text) { copies.fetch_add(1); }
  Counted(Counted&&) noexcept = default;
  Counted& operator=(const Counted& other) {
    text = other.text;
    copies.fetch_add(1);
    return *this;
  }
  Counted& operator=(Counted&&) noexcept = default;
};
}  // namespace

TEST_CASE("a stage taking its item by value gets it moved in, never copied" *
          doctest::timeout(30)) {
  troupe::Runtime rt;
  Counted::copies.store(0);
  std::size_t length = 0;
  auto p = troupe::pipeline<Counted>(rt)
               .stage([](Counted c) { return c; })
               .stage([](const Counted& c) { return Counted(c.text + "!"); })
               .sink([&length](Counted c) { length += c.text.size(); });
  int n = 0;
  p.start([&n]() -> std::optional<Counted> {
    if (n == 100) return std::nullopt;
    ++n;
    return Counted("item");
  });
  check_books(p.finish());
  CHECK(length == 500);
  CHECK(Counted::copies.load() == 0);
}

TEST_CASE("an exception escaping the source stops the pipeline instead of hanging it" *
          doctest::timeout(30)) {
  troupe::Runtime rt;
  auto p = troupe::pipeline<std::int64_t>(rt).sink([](std::int64_t) {});
  p.start([i = std::int64_t{0}]() mutable -> std::optional<std::int64_t> {
    if (++i == 300) throw std::runtime_error("the source's file vanished");
    return i;
  });
  CHECK_THROWS_WITH_AS(p.finish(), "the source's file vanished", std::runtime_error);
  CHECK(p.stats().failed_stage == "source");
  check_books(p.stats());
}

TEST_CASE("cancel from another thread releases a finish that is waiting" * doctest::timeout(30)) {
  troupe::Runtime rt;
  auto p = troupe::pipeline<std::int64_t>(rt).sink([](std::int64_t) {});
  p.start([i = std::int64_t{0}]() mutable -> std::optional<std::int64_t> { return ++i; });
  std::thread canceller([&] {
    troupe::testing::spin_until([&] { return p.stats().delivered > 1000; });
    p.cancel();
  });
  const PipelineStats s = p.finish();  // waits: the generator never ends
  canceller.join();
  CHECK(s.stopped);
  check_books(s);
}

TEST_CASE("an ordered pipeline refuses a parallel sink" * doctest::timeout(30)) {
  troupe::Runtime rt;
  CHECK_THROWS_WITH_AS(
      (void)troupe::pipeline<std::int64_t>(rt).sink([](std::int64_t) {},
                                                    {.parallelism = 2, .capacity = 64}),
      doctest::Contains("the sink of an ordered pipeline runs on one task"), troupe::Error);
  std::atomic<std::int64_t> sum{0};
  auto p = troupe::pipeline<std::int64_t>(rt, {.ordered = false})
               .sink([&sum](std::int64_t x) { sum.fetch_add(x); },
                     {.parallelism = 2, .capacity = 64});
  p.start(counting_to(1000));
  check_books(p.finish());
  CHECK(sum.load() == 500500);
}

TEST_CASE("a pipeline cancelled before its tasks first ran still finishes" * doctest::timeout(30)) {
  // On a deterministic runtime nothing runs until finish() drives it, so every task is
  // dropped by the cancel before its first poll (the case a threaded runtime hits when cancel
  // follows start closely): each must still count its end, or finish() waits for ever.
  troupe::RuntimeOptions options;
  options.deterministic_seed = 1;
  troupe::Runtime rt(options);
  auto p = troupe::pipeline<std::int64_t>(rt)
               .stage([](std::int64_t x) { return x; }, {.parallelism = 2, .capacity = 16})
               .sink([](std::int64_t) {});
  troupe::Sender<std::int64_t> in = p.start();
  p.cancel();
  const PipelineStats s = p.finish();
  CHECK(s.stopped);
  CHECK(s.delivered == 0);
  check_books(s);
}
