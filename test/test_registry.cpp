// The actor registry: names and look-up, the live list with state and mailbox depth, the dump.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "actor_test_support.hpp"
#include "troupe/actors/registry.hpp"
#include "troupe/channels/detail/mutex.hpp"

using namespace std::chrono_literals;
using troupe::ActorOptions;
using troupe::ActorRef;
using troupe::ActorState;
using troupe::ExitCode;
using troupe::Runtime;
using troupe::RuntimeOptions;
using troupe::testing::Hold;
using troupe::testing::two_workers;

namespace {

struct Get {};

class Counter {
 public:
  explicit Counter(int n) : n_(n) {}
  int handle(Get) const { return n_; }
  void handle(Hold m) { m.gate->blocking_wait(); }

 private:
  int n_;
};
class Other {
 public:
  void handle(Get) {}
};

ActorOptions registered(std::string name) {
  ActorOptions options;
  options.name = std::move(name);
  options.register_name = true;
  return options;
}

std::optional<troupe::ActorInfo> info_of(std::uint64_t id) {
  for (const auto& info : troupe::live_actors()) {
    if (info.id == id) return info;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("a registered actor is found by name and type; its name is free once it exits" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  ActorRef<Counter> counter = troupe::spawn_actor<Counter>(rt, registered("registry-counter"), 42);
  auto found = troupe::lookup<Counter>("registry-counter");
  REQUIRE(found);
  CHECK(found->id() == counter.id());
  auto reply = found->blocking_ask(Get{}, 10s);
  REQUIRE(reply);
  CHECK(*reply == 42);
  CHECK_FALSE(troupe::lookup<Counter>("no such actor"));
  CHECK_THROWS_WITH_AS(troupe::lookup<Other>("registry-counter"),
                       doctest::Contains("'registry-counter' is actor"), troupe::Error);
  const std::string holder = "is registered to actor " + std::to_string(counter.id());
  CHECK_THROWS_WITH_AS(troupe::spawn_actor<Counter>(rt, registered("registry-counter"), 1),
                       doctest::Contains(holder.c_str()), troupe::Error);

  // Registered, it outlives its ActorRefs; it ends by terminate, and the name is free.
  found.reset();
  CHECK(counter.blocking_terminate() == ExitCode::terminated);
  CHECK_FALSE(troupe::lookup<Counter>("registry-counter"));
  ActorRef<Counter> again = troupe::spawn_actor<Counter>(rt, registered("registry-counter"), 7);
  auto second = troupe::lookup<Counter>("registry-counter");
  REQUIRE(second);
  CHECK(second->id() == again.id());
}

TEST_CASE("the live list shows each actor's state and mailbox depth, and the dump names them" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  ActorOptions options;
  options.name = "held";
  ActorRef<Counter> held = troupe::spawn_actor<Counter>(rt, std::move(options), 0);
  troupe::Latch gate(1);
  REQUIRE(held.tell(Hold{&gate}));
  while (held.stats().received == 0) std::this_thread::yield();
  for (int i = 0; i < 3; ++i) REQUIRE(held.tell(Get{}));

  auto info = info_of(held.id());
  REQUIRE(info);
  CHECK(info->name == "held");
  CHECK(info->state == ActorState::handling);
  CHECK(info->mailbox_depth == 3);
  CHECK(info->received == 1);
  CHECK_FALSE(info->registered);
  const std::string dump = troupe::dump_actors();
  CHECK(dump.find("actor " + std::to_string(held.id()) + " 'held': handling, mailbox 3") !=
        std::string::npos);

  gate.count_down();
  (void)held.blocking_ask(Get{}, 10s);
  for (;;) {  // back to idle: nothing left to take
    info = info_of(held.id());
    REQUIRE(info);
    if (info->state == ActorState::idle) break;
    std::this_thread::yield();
  }
  CHECK(info->mailbox_depth == 0);
  CHECK(held.blocking_terminate() == ExitCode::terminated);
  info = info_of(held.id());
  REQUIRE(info);  // still referenced by `held`
  CHECK(info->state == ActorState::exited);
  CHECK(troupe::dump_actors().find("'held'") == std::string::npos);
}

TEST_CASE("registering needs a name" * doctest::timeout(30)) {
  Runtime rt(two_workers());
  ActorOptions nameless;
  nameless.register_name = true;
  CHECK_THROWS_WITH_AS(troupe::spawn_actor<Counter>(rt, nameless, 1),
                       doctest::Contains("register_name needs a non-empty name"), troupe::Error);
}

TEST_CASE("the registry's spin lock lets one thread at a time in, and none is lost" *
          doctest::timeout(60)) {
  // The lock of the live lists (detail::SpinMutex): four threads add to a plain counter under
  // it. A lost update or a torn critical section shows in the total (and to tsan).
  troupe::detail::SpinMutex mutex;
  std::uint64_t counter = 0;
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  constexpr int kThreads = 4;
  constexpr int kEach = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach; ++i) {
        if (i % 2 == 0) {
          troupe::detail::MutexLock lock(mutex);
          if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
          ++counter;
          inside.fetch_sub(1);
        } else {
          while (!mutex.try_lock()) std::this_thread::yield();
          if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
          ++counter;
          inside.fetch_sub(1);
          mutex.unlock();
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(overlaps.load() == 0);
  CHECK(counter == std::uint64_t{kThreads} * kEach);
}

TEST_CASE("actors spawned and ended on several threads while one lists them all leave the list" *
          doctest::timeout(120)) {
  Runtime rt(two_workers());
  const std::uint64_t live_before = troupe::detail::ActorCell::live();
  constexpr int kSpawners = 3;
  constexpr int kEach = 2000;
  std::vector<std::vector<std::uint64_t>> ids(kSpawners);
  std::atomic<int> spawners_left{kSpawners};
  std::atomic<std::uint64_t> listings{0};
  std::atomic<std::uint64_t> duplicates{0};
  std::thread lister([&] {
    // Each snapshot lists an actor at most once, whatever is linked or unlinked meanwhile.
    while (spawners_left.load() > 0) {
      std::set<std::uint64_t> seen;
      for (const auto& info : troupe::live_actors()) {
        if (!seen.insert(info.id).second) duplicates.fetch_add(1);
      }
      listings.fetch_add(1);
    }
  });
  std::vector<std::thread> spawners;
  for (int t = 0; t < kSpawners; ++t) {
    spawners.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        ActorRef<Counter> ref = troupe::spawn_actor<Counter>(rt, ActorOptions{}, i);
        ids[t].push_back(ref.id());
        if (i % 2 == 0) (void)ref.blocking_terminate();  // the others end when `ref` goes
      }
      spawners_left.fetch_sub(1);
    });
  }
  for (auto& spawner : spawners) spawner.join();
  lister.join();
  // Every actor ends (terminated, or its only ActorRef dropped) and leaves the list.
  while (troupe::detail::ActorCell::live() > live_before) std::this_thread::yield();
  std::set<std::uint64_t> all;
  for (const auto& list : ids) all.insert(list.begin(), list.end());
  CHECK(all.size() == std::size_t{kSpawners} * kEach);  // ids are unique across threads
  for (const auto& info : troupe::live_actors()) CHECK(all.count(info.id) == 0);
  CHECK(duplicates.load() == 0);
  CHECK(listings.load() > 0);
}
