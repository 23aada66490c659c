// TimerWheel: the runtime's hierarchical timing wheel (runtime/include/troupe/runtime/detail/timer_wheel.hpp), tested
// directly, without a runtime or a clock: the tests drive time by hand. The randomised cases
// compare against a reference (a sorted list, or a model of which entry is pending with which
// deadline) and check the timing contract at every fire: never before the deadline, never in a
// later advance() than the first one that reaches it, and in deadline order.
// TROUPE_TIMER_SEED overrides the seed of the randomised cases (printed on failure).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "troupe/runtime/detail/timer_wheel.hpp"

using troupe::detail::TimerEntry;
using troupe::detail::TimerWheel;

static_assert(!std::is_copy_constructible_v<TimerEntry>);
static_assert(!std::is_move_constructible_v<TimerEntry>);
static_assert(!std::is_copy_constructible_v<TimerWheel>);

namespace {

constexpr std::uint64_t kSecond = 1000;
constexpr std::uint64_t kHour = 3600 * kSecond;
constexpr std::uint64_t kDay = 24 * kHour;
constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

struct Timer : TimerEntry {
  std::size_t id = 0;
};

Timer& as_timer(TimerEntry& e) {
  return static_cast<Timer&>(e);
}

std::uint64_t seed() {
  if (const char* text = std::getenv("TROUPE_TIMER_SEED")) return std::strtoull(text, nullptr, 10);
  return 20261123;
}

// A distance with a log-uniform spread: as many below 64 ms as between one and three days.
std::uint64_t spread(std::mt19937_64& rng, unsigned max_bits) {
  const unsigned bits = std::uniform_int_distribution<unsigned>(0, max_bits)(rng);
  if (bits == 0) return 0;
  return std::uniform_int_distribution<std::uint64_t>(0, (std::uint64_t{1} << bits) - 1)(rng);
}

std::unique_ptr<Timer[]> make_timers(std::size_t n) {
  auto timers = std::make_unique<Timer[]>(n);
  for (std::size_t i = 0; i < n; ++i) timers[i].id = i;
  return timers;
}

// Collects fires with the times they happened at.
struct Fire {
  std::size_t id;
  std::uint64_t deadline;
  std::uint64_t clock;  // wheel.now() inside the callback
};

std::vector<std::size_t> fire_all_ids(TimerWheel& wheel, std::uint64_t to) {
  std::vector<std::size_t> ids;
  wheel.advance(to, [&](TimerEntry& e) { ids.push_back(as_timer(e).id); });
  return ids;
}

}  // namespace

TEST_CASE("an empty wheel has no next deadline and advancing it fires nothing") {
  TimerWheel wheel(42);
  CHECK(wheel.empty());
  CHECK(wheel.size() == 0);
  CHECK(wheel.now() == 42);
  CHECK_FALSE(wheel.next_deadline().has_value());
  CHECK(wheel.advance(10 * kDay, [](TimerEntry&) { FAIL("nothing to fire"); }) == 0);
  CHECK(wheel.now() == 10 * kDay);
  CHECK_FALSE(wheel.next_deadline().has_value());

  Timer t;
  wheel.insert(t, wheel.now() + 5);
  CHECK(wheel.next_deadline() == wheel.now() + 5);
  CHECK(wheel.advance(wheel.now() + 5, [](TimerEntry&) {}) == 1);
  CHECK(wheel.empty());
  CHECK_FALSE(wheel.next_deadline().has_value());
}

TEST_CASE("timers fire in deadline order across levels, never early and never a tick late") {
  std::mt19937_64 rng(seed());
  INFO("seed " << seed());
  constexpr std::size_t kTimers = 50'000;
  const std::uint64_t start = 1'000'000'000'007;  // non-zero high bits in every level
  TimerWheel wheel(start);
  auto timers = make_timers(kTimers);

  // Deadlines from "already past" through milliseconds to ~3 days ahead, plus a few years out.
  std::vector<std::uint64_t> due(kTimers);  // when each must fire: its deadline, or start if past
  for (std::size_t i = 0; i < kTimers; ++i) {
    std::uint64_t deadline = start + spread(rng, 28);           // up to ~3 days ahead
    if (i % 20 == 0) deadline = start - spread(rng, 20);        // in the past (or now)
    if (i % 20 == 1) deadline += 400 * kDay + spread(rng, 36);  // a year and more ahead
    wheel.insert(timers[i], deadline);
    due[i] = std::max(deadline, start);
  }
  REQUIRE(wheel.size() == kTimers);

  std::vector<std::uint64_t> reference = due;
  std::sort(reference.begin(), reference.end());

  std::vector<std::uint64_t> fired_due;
  fired_due.reserve(kTimers);
  std::vector<int> fire_count(kTimers, 0);
  std::uint64_t previous = wheel.now();
  std::size_t calls = 0;
  while (!wheel.empty()) {
    const std::optional<std::uint64_t> next = wheel.next_deadline();
    REQUIRE(next.has_value());
    CHECK(*next <= reference[fired_due.size()]);  // never later than the earliest pending
    // Steps of every size: single ticks, exactly to the next deadline, minutes, days.
    const std::uint64_t steps[] = {previous + 1, std::max(*next, previous),
                                   previous + spread(rng, 22), previous + spread(rng, 32)};
    const std::uint64_t target = steps[calls++ % 4];
    const std::size_t n = wheel.advance(target, [&](TimerEntry& e) {
      const Timer& t = as_timer(e);
      CHECK_FALSE(t.linked());
      ++fire_count[t.id];
      const std::uint64_t when = due[t.id];
      CHECK(when <= target);  // never early
      if (t.deadline_ms() > start) {
        CHECK(when > previous);  // not due at the previous advance: not late
        CHECK(wheel.now() == when);
      } else {
        CHECK(wheel.now() == start);
      }
      fired_due.push_back(when);
    });
    CHECK(wheel.now() == target);
    CHECK(n <= kTimers);
    previous = target;
  }
  CHECK(fired_due == reference);  // deadline order, every timer
  CHECK(std::all_of(fire_count.begin(), fire_count.end(), [](int c) { return c == 1; }));
  CHECK_FALSE(wheel.next_deadline().has_value());
}

TEST_CASE("next deadline is never later than the earliest real deadline under random operations") {
  // A model check: random inserts (also re-inserts of pending entries), cancels, advances and
  // next_deadline queries against a model of what is pending. The fire callbacks themselves
  // insert, re-insert and cancel at random. In each advance: the entries overdue at its start fire
  // first; then entries fire in deadline order, each at its own tick; at the end nothing due by
  // the target is left, except entries made overdue by the callbacks (they wait for the next one).
  std::mt19937_64 rng(seed() + 1);
  INFO("seed " << seed() + 1);
  constexpr std::size_t kTimers = 1'000;
  TimerWheel wheel(kMax / 3);  // arbitrary bits everywhere
  auto timers = make_timers(kTimers);
  struct Model {
    bool pending = false;
    bool overdue = false;  // inserted at or before now(): fires on the next advance
    int generation = 0;    // the advance during which it was inserted
    std::uint64_t deadline = 0;
  };
  std::vector<Model> model(kTimers);
  std::size_t model_size = 0;
  int generation = 0;

  auto insert = [&](std::size_t id, std::uint64_t deadline) {
    if (!model[id].pending) ++model_size;
    wheel.insert(timers[id], deadline);
    model[id] = {true, deadline <= wheel.now(), generation, deadline};
  };
  auto remove = [&](std::size_t id) {
    if (model[id].pending) --model_size;
    wheel.remove(timers[id]);
    model[id].pending = false;
  };
  auto random_id = [&] { return std::uniform_int_distribution<std::size_t>(0, kTimers - 1)(rng); };
  auto percent = [&] { return std::uniform_int_distribution<unsigned>(0, 99)(rng); };

  for (int op = 0; op < 50'000; ++op) {
    const unsigned kind = percent();
    const std::size_t id = random_id();
    if (kind < 45) {
      insert(id, kind < 5 ? wheel.now() - spread(rng, 10) : wheel.now() + spread(rng, 30));
    } else if (kind < 65) {
      remove(id);
    } else if (kind < 85) {
      std::optional<std::uint64_t> earliest;
      bool any_overdue = false;
      for (const Model& m : model) {
        if (!m.pending) continue;
        if (!earliest || m.deadline < *earliest) earliest = m.deadline;
        any_overdue = any_overdue || m.overdue;
      }
      const std::optional<std::uint64_t> next = wheel.next_deadline();
      REQUIRE(next.has_value() == earliest.has_value());
      if (next) {
        CHECK(*next <= *earliest);
        if (!any_overdue) CHECK(*next > wheel.now());  // a useful bound: nothing is due yet
      }
    } else {
      const std::uint64_t from = wheel.now();
      std::uint64_t target = from + spread(rng, kind < 98 ? 16 : 30);
      if (kind == 99) target = from - spread(rng, 8);  // a clock read a little behind: no move
      ++generation;
      std::vector<std::size_t> overdue_at_start;
      for (std::size_t i = 0; i < kTimers; ++i) {
        if (model[i].pending && model[i].overdue) overdue_at_start.push_back(i);
      }
      bool overdue_phase = true;
      std::uint64_t last = 0;
      wheel.advance(target, [&](TimerEntry& e) {
        const std::size_t i = as_timer(e).id;
        REQUIRE(model[i].pending);
        CHECK_FALSE(e.linked());
        if (model[i].overdue) {
          CHECK(overdue_phase);                     // overdue entries come first
          CHECK(model[i].generation < generation);  // and only those from before this advance
          CHECK(wheel.now() == from);
        } else {
          overdue_phase = false;
          CHECK(model[i].deadline <= target);       // never early
          CHECK(model[i].deadline >= last);         // in deadline order
          CHECK(wheel.now() == model[i].deadline);  // fired at its own tick
          last = model[i].deadline;
        }
        model[i].pending = false;
        --model_size;
        // Mutate the wheel from the callback.
        const unsigned action = percent();
        if (action < 30) {
          insert(i, wheel.now() + spread(rng, 12));  // re-arm (possibly for now: next advance)
        } else if (action < 45) {
          remove(random_id());  // cancel another, maybe due in this advance
        } else if (action < 60) {
          insert(random_id(), wheel.now() + spread(rng, 20));
        }
      });
      for (std::size_t i : overdue_at_start)
        CHECK((!model[i].pending || model[i].generation == generation));
      for (std::size_t i = 0; i < kTimers; ++i) {
        if (!model[i].pending || model[i].overdue) continue;
        INFO("timer " << i << " deadline " << model[i].deadline << " target " << target);
        CHECK(model[i].deadline > target);  // everything due fired in this advance
      }
      CHECK(wheel.now() == std::max(from, target));
    }
    REQUIRE(wheel.size() == model_size);
  }
  wheel.clear();
  CHECK(wheel.empty());
  for (std::size_t i = 0; i < kTimers; ++i) CHECK_FALSE(timers[i].linked());
}

TEST_CASE("a million pending timers inserted then all cancelled leave the wheel empty") {
  std::mt19937_64 rng(seed() + 2);
  constexpr std::size_t kTimers = 1'000'000;
  TimerWheel wheel(123'456);
  auto timers = make_timers(kTimers);
  for (std::size_t i = 0; i < kTimers; ++i)
    wheel.insert(timers[i], wheel.now() + 1 + spread(rng, 34));
  CHECK(wheel.size() == kTimers);
  CHECK(wheel.next_deadline().has_value());
  // Cancel in a shuffled order, so that slots empty from the middle, the head and the tail.
  std::vector<std::size_t> order(kTimers);
  for (std::size_t i = 0; i < kTimers; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  for (std::size_t i : order) wheel.remove(timers[i]);
  CHECK(wheel.empty());
  CHECK(wheel.size() == 0);
  CHECK_FALSE(wheel.next_deadline().has_value());
  CHECK(wheel.advance(kMax, [](TimerEntry&) { FAIL("a cancelled timer fired"); }) == 0);
  for (std::size_t i = 0; i < kTimers; ++i) REQUIRE_FALSE(timers[i].linked());
}

TEST_CASE("a million pending timers fire exactly once each") {
  std::mt19937_64 rng(seed() + 3);
  constexpr std::size_t kTimers = 1'000'000;
  TimerWheel wheel(0);
  auto timers = make_timers(kTimers);
  std::uint64_t latest = 0;
  for (std::size_t i = 0; i < kTimers; ++i) {
    const std::uint64_t deadline = 1 + spread(rng, 26);  // up to ~18 hours
    latest = std::max(latest, deadline);
    wheel.insert(timers[i], deadline);
  }
  std::vector<std::uint8_t> count(kTimers, 0);
  std::size_t total = 0;
  std::uint64_t last = 0;
  bool in_order = true;
  auto fire = [&](TimerEntry& e) {
    ++count[as_timer(e).id];
    in_order = in_order && e.deadline_ms() >= last;
    last = e.deadline_ms();
  };
  // A hundred advances of ~11 minutes each, then one jump to the end.
  for (int step = 1; step <= 100; ++step) total += wheel.advance(step * (latest / 200), fire);
  CHECK(total < kTimers);
  total += wheel.advance(latest, fire);
  CHECK(total == kTimers);
  CHECK(in_order);
  CHECK(wheel.empty());
  CHECK(std::all_of(count.begin(), count.end(), [](std::uint8_t c) { return c == 1; }));
}

TEST_CASE("cancelling a timer leaves the others in its slot pending") {
  TimerWheel wheel(1000);
  auto timers = make_timers(6);
  // Three in one level-0 slot, three in one slot of a higher level (different deadlines).
  for (std::size_t i = 0; i < 3; ++i) wheel.insert(timers[i], 1010);
  for (std::size_t i = 3; i < 6; ++i) wheel.insert(timers[i], 1000 + 5 * kHour + i);
  CHECK(wheel.size() == 6);

  wheel.remove(timers[1]);  // the middle of the list
  wheel.remove(timers[1]);  // twice: a no-op
  wheel.remove(timers[5]);  // the head (entries are pushed to the front)
  wheel.remove(timers[3]);  // the tail
  CHECK(wheel.size() == 3);
  CHECK(wheel.next_deadline() == 1010);

  std::vector<std::size_t> ids = fire_all_ids(wheel, 1010);
  std::sort(ids.begin(), ids.end());
  CHECK(ids == std::vector<std::size_t>{0, 2});
  CHECK(wheel.size() == 1);
  CHECK(wheel.next_deadline() <= 1000 + 5 * kHour + 4);
  CHECK(fire_all_ids(wheel, 1000 + 5 * kHour + 3).empty());  // the cancelled one does not fire
  CHECK(fire_all_ids(wheel, 1000 + 5 * kHour + 4) == std::vector<std::size_t>{4});
  CHECK(wheel.empty());

  // Cancelling the last entry of a slot clears it: the next deadline moves on.
  wheel.insert(timers[0], wheel.now() + 3);
  wheel.insert(timers[1], wheel.now() + 7);
  CHECK(wheel.next_deadline() == wheel.now() + 3);
  wheel.remove(timers[0]);
  CHECK(wheel.next_deadline() == wheel.now() + 7);
  wheel.remove(timers[1]);
  CHECK_FALSE(wheel.next_deadline().has_value());
}

TEST_CASE("inserting a pending timer again reschedules it") {
  TimerWheel wheel;
  Timer t;
  wheel.insert(t, 5 * kDay);
  wheel.insert(t, 20);
  CHECK(wheel.size() == 1);
  CHECK(t.deadline_ms() == 20);
  CHECK(wheel.next_deadline() == 20);
  CHECK(wheel.advance(19, [](TimerEntry&) {}) == 0);
  CHECK(wheel.advance(20, [](TimerEntry&) {}) == 1);
  CHECK(wheel.advance(6 * kDay, [](TimerEntry&) { FAIL("rescheduled away"); }) == 0);
}

TEST_CASE("a timer re-inserted from inside its fire callback fires again in the same advance") {
  // An interval of 10 ms re-arming itself: an advance by 1 s fires it 100 times, each at its
  // own tick, in order.
  TimerWheel wheel(5);
  Timer interval;
  wheel.insert(interval, 15);
  std::vector<std::uint64_t> ticks;
  const std::size_t n = wheel.advance(1005, [&](TimerEntry& e) {
    CHECK_FALSE(e.linked());
    CHECK(wheel.now() == e.deadline_ms());
    ticks.push_back(wheel.now());
    wheel.insert(e, e.deadline_ms() + 10);
    CHECK(e.linked());
  });
  CHECK(n == 100);
  REQUIRE(ticks.size() == 100);
  for (std::size_t i = 0; i < ticks.size(); ++i) CHECK(ticks[i] == 15 + 10 * i);
  CHECK(interval.linked());
  CHECK(wheel.next_deadline() == 1015);
  wheel.remove(interval);
}

TEST_CASE("a timer re-armed for now from inside its callback waits for the next advance") {
  TimerWheel wheel(100);
  Timer t;
  wheel.insert(t, 100);
  int fires = 0;
  auto rearm = [&](TimerEntry& e) {
    ++fires;
    wheel.insert(e, wheel.now());  // due at once: must not loop within this advance
  };
  CHECK(wheel.advance(100, rearm) == 1);
  CHECK(fires == 1);
  CHECK(t.linked());
  CHECK(wheel.next_deadline() <= wheel.now());
  CHECK(wheel.advance(100, rearm) == 1);
  CHECK(fires == 2);
  wheel.remove(t);
}

TEST_CASE("a fire callback may cancel or add other timers due in the same advance") {
  TimerWheel wheel(0);
  auto timers = make_timers(4);
  wheel.insert(timers[0], 10);
  wheel.insert(timers[1], 10);    // same slot as 0: whichever fires first cancels the other
  wheel.insert(timers[2], 5000);  // cancelled by the first fire, from another level
  std::vector<std::size_t> ids;
  wheel.advance(10 * kSecond, [&](TimerEntry& e) {
    const std::size_t id = as_timer(e).id;
    ids.push_back(id);
    if (id == 0 || id == 1) {
      wheel.remove(timers[1 - id]);
      wheel.remove(timers[2]);
      wheel.insert(timers[3], 7000);  // added during the advance, due within it
    }
  });
  REQUIRE(ids.size() == 2);
  CHECK((ids[0] == 0 || ids[0] == 1));
  CHECK(ids[1] == 3);
  CHECK(wheel.empty());
}

TEST_CASE("a fire callback that throws leaves the rest pending for the next advance") {
  // 10 is filed on level 0; 128 on level 1, due exactly at its slot's start (the cascade path).
  for (const std::uint64_t deadline : {std::uint64_t{10}, std::uint64_t{128}}) {
    CAPTURE(deadline);
    TimerWheel wheel(0);
    auto timers = make_timers(4);
    for (std::size_t i = 0; i < 3; ++i) wheel.insert(timers[i], deadline);
    wheel.insert(timers[3], deadline + kSecond);
    int calls = 0;
    CHECK_THROWS_AS(wheel.advance(kDay,
                                  [&](TimerEntry&) {
                                    if (++calls == 1) throw std::runtime_error("callback failed");
                                  }),
                    std::runtime_error);
    CHECK(calls == 1);
    CHECK(wheel.size() == 3);
    CHECK(wheel.now() == deadline);  // the tick being fired
    CHECK(wheel.next_deadline() <= deadline);
    CHECK(fire_all_ids(wheel, deadline).size() == 2);
    CHECK(fire_all_ids(wheel, kDay) == std::vector<std::size_t>{3});
    CHECK(wheel.empty());
  }
}

TEST_CASE("a deadline in the past fires on the next advance") {
  TimerWheel wheel(10 * kDay);
  auto timers = make_timers(3);
  wheel.insert(timers[0], 10 * kDay - 1);
  wheel.insert(timers[1], 0);
  wheel.insert(timers[2], 10 * kDay);  // exactly now counts as past as well
  CHECK(wheel.size() == 3);
  CHECK(wheel.next_deadline() == std::optional<std::uint64_t>(0));  // never later than the real one
  // Even an advance that does not move the clock (or is given an earlier time) fires them.
  std::vector<std::size_t> ids = fire_all_ids(wheel, 10 * kDay - 100);
  std::sort(ids.begin(), ids.end());
  CHECK(ids == std::vector<std::size_t>{0, 1, 2});
  CHECK(wheel.now() == 10 * kDay);  // the clock never goes back
  CHECK(wheel.empty());
  CHECK_FALSE(wheel.next_deadline().has_value());

  // Overdue timers fire before those due later in the same advance.
  wheel.insert(timers[0], wheel.now() + 1);
  wheel.insert(timers[1], wheel.now() - 5);
  CHECK(fire_all_ids(wheel, wheel.now() + 1) == std::vector<std::size_t>{1, 0});
}

TEST_CASE("a large jump in time fires everything due, in order, and nothing else") {
  const std::uint64_t start = 7;
  TimerWheel wheel(start);
  const std::vector<std::uint64_t> distances = {1,
                                                63,
                                                64,
                                                65,
                                                kSecond,
                                                4095,
                                                4096,
                                                kHour,
                                                kDay - 1,
                                                kDay,
                                                3 * kDay,  // due
                                                3 * kDay + 1,
                                                30 * kDay,
                                                3 * 365 * kDay,
                                                (std::uint64_t{1} << 40),
                                                kMax - start};
  auto timers = make_timers(distances.size());
  for (std::size_t i = 0; i < distances.size(); ++i) wheel.insert(timers[i], start + distances[i]);
  CHECK(wheel.next_deadline() == start + 1);

  std::vector<std::size_t> ids = fire_all_ids(wheel, start + 3 * kDay);  // one call, three days
  CHECK(ids == std::vector<std::size_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  CHECK(wheel.now() == start + 3 * kDay);
  CHECK(wheel.size() == 5);
  CHECK(wheel.next_deadline() <= start + 3 * kDay + 1);
  CHECK(wheel.next_deadline() > wheel.now());

  // Days and years in single steps; the last entry sits at the very end of the clock.
  CHECK(fire_all_ids(wheel, start + 3 * kDay + 1) == std::vector<std::size_t>{11});
  CHECK(fire_all_ids(wheel, start + 365 * kDay) == std::vector<std::size_t>{12});
  CHECK(fire_all_ids(wheel, kMax - 1) == std::vector<std::size_t>{13, 14});
  CHECK(wheel.next_deadline() == kMax);
  CHECK(fire_all_ids(wheel, kMax) == std::vector<std::size_t>{15});
  CHECK(wheel.empty());
  CHECK(wheel.now() == kMax);
}

TEST_CASE("next deadline narrows down to the exact tick as time approaches it") {
  TimerWheel wheel(0);
  Timer t;
  const std::uint64_t deadline = 2 * kDay + 3 * kHour + 17 * kSecond + 5;
  wheel.insert(t, deadline);
  int wakeups = 0;
  int fired = 0;
  // Sleep until next_deadline() each time, as a runtime would.
  while (std::optional<std::uint64_t> next = wheel.next_deadline()) {
    REQUIRE(*next <= deadline);
    REQUIRE(*next > wheel.now());
    ++wakeups;
    fired += static_cast<int>(wheel.advance(*next, [](TimerEntry&) {}));
  }
  CHECK(fired == 1);
  CHECK(wheel.now() == deadline);
  CHECK(wakeups <= static_cast<int>(TimerWheel::kLevels));  // at most one early wake-up a level
}

TEST_CASE("clearing or destroying the wheel unlinks its pending timers") {
  auto timers = make_timers(3);
  {
    TimerWheel wheel(50);
    wheel.insert(timers[0], 10);  // overdue
    wheel.insert(timers[1], 60);
    wheel.insert(timers[2], 60 + kDay);
    wheel.clear();
    CHECK(wheel.empty());
    CHECK_FALSE(wheel.next_deadline().has_value());
    for (std::size_t i = 0; i < 3; ++i) CHECK_FALSE(timers[i].linked());
    CHECK(wheel.advance(kMax, [](TimerEntry&) { FAIL("cleared"); }) == 0);
    wheel.insert(timers[1], kMax);
    wheel.insert(timers[2], 1);
  }
  CHECK_FALSE(timers[1].linked());
  CHECK_FALSE(timers[2].linked());
}
