// sync.cpp — `troupe demo sync`: tasks sharing memory, coordinated by the runtime's async
// Mutex, Semaphore, Barrier and CondVar (Node: Atomics.wait/notify built into locks by hand);
// and a deadlock, shown and then avoided.
//
//   1. deadlock  thread A: lock(checking) ─┐ both hold one ┌─ thread B: lock(savings)
//                          lock(savings)? ◀┘  and wait for └▶          lock(checking)?
//                          the other's: a cycle. A timed lock (blocking_lock_for) gives up.
//   2. Mutex     4 tasks move money both ways, each transfer locking the LOWER-numbered account
//                first whichever way the money goes: no cycle, no deadlock; an auditor task
//                locks both and checks the total between transfers
//   3. Semaphore 10 downloads, 3 permits: never more than 3 at once
//   4. Barrier   4 tasks sum their quarter ─▶ arrive_and_wait ─▶ each reads all 4 partials
//   5. CondVar   3 readers wait(guard, "config is set") ◀── main sets it, notify_all()
//
// What to notice:
//  * these primitives never block a runtime worker: a task that must wait suspends
//    (`co_await mutex.lock()`), and its thread runs other tasks meanwhile; plain threads use
//    the same objects through the blocking forms (scene 1);
//  * a task may hold the Mutex across an await (the transfers yield between the debit and the
//    credit) — which a std::mutex must never be, since the task may resume on another thread;
//    the auditor still never sees money in flight, because it takes the same locks;
//  * the deadlock needs two locks taken in opposite orders; one global order (here: by account
//    number) makes the cycle impossible — the timed lock in scene 1 only detects it;
//  * a Barrier orders phases: nothing a task wrote before arriving is missed by one that left;
//  * a CondVar wait with a predicate re-checks it under the lock, so a reader that comes after
//    the notify does not wait for one that already happened.
#include "troupe/runtime/sync.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "demos/demos.hpp"
#include "demos/support.hpp"
#include "troupe/runtime/runtime.hpp"
#include "troupe/runtime/task.hpp"
#include "troupe/runtime/time.hpp"

namespace troupe::demos {
namespace sync_impl {
namespace {

using namespace std::chrono_literals;

struct Account {
  const char* name;
  Mutex mutex;
  long balance;  // guarded by mutex
};
using Accounts = std::array<Account, 2>;

// Scene 1: two threads take the two locks in opposite orders; each gives up after `patience`.
// Returns how many of them gave up (2: the deadlock).
int opposite_orders(Accounts& accounts, std::chrono::milliseconds patience, std::ostream& out) {
  Barrier meet(2);  // reused: once both hold their first lock, once both have tried
  std::array<bool, 2> gave_up{};
  const auto take_both = [&](std::size_t first, std::size_t second, bool& failed) {
    const MutexGuard held = accounts[first].mutex.blocking_lock();
    (void)meet.blocking_arrive_and_wait();  // now each holds what the other wants
    failed = !accounts[second].mutex.blocking_lock_for(patience).has_value();
    // Neither lets go before both have tried, or the slower one would get in and hide the
    // cycle.
    (void)meet.blocking_arrive_and_wait();
  };
  std::thread a(take_both, 0, 1, std::ref(gave_up[0]));
  std::thread b(take_both, 1, 0, std::ref(gave_up[1]));
  a.join();
  b.join();
  out << "  thread A holds " << accounts[0].name << ", wants " << accounts[1].name
      << "; thread B holds " << accounts[1].name << ", wants " << accounts[0].name << '\n'
      << "  after " << patience.count() << " ms: A " << (gave_up[0] ? "gave up" : "got it")
      << ", B " << (gave_up[1] ? "gave up" : "got it")
      << " (with a plain lock both would wait forever)\n";
  return static_cast<int>(gave_up[0]) + static_cast<int>(gave_up[1]);
}

// Scene 2: `times` transfers of 1 from accounts[from] to the other, each under both locks,
// taken in account order.
Task<void> transfer(Accounts& accounts, std::size_t from, long times, std::atomic<long>& done) {
  const std::size_t to = 1 - from;
  for (long i = 0; i < times; ++i) {
    // The lower-numbered account first, whichever way the money goes: no cycle of waits.
    MutexGuard first = co_await accounts[std::min(from, to)].mutex.lock();
    MutexGuard second = co_await accounts[std::max(from, to)].mutex.lock();
    accounts[from].balance -= 1;
    co_await this_task::yield_now();  // money in flight, locks held across an await
    accounts[to].balance += 1;
    done.fetch_add(1, std::memory_order_relaxed);
  }
}

// Scene 2's auditor: until every transfer is done, locks both accounts (in the same order)
// and checks the total. Returns how many audits it made and how many found money missing.
Task<std::pair<long, long>> audit(Accounts& accounts, long total, long transfers,
                                  const std::atomic<long>& done) {
  long audits = 0;
  long wrong = 0;
  while (done.load(std::memory_order_relaxed) < transfers) {
    {
      MutexGuard first = co_await accounts[0].mutex.lock();
      MutexGuard second = co_await accounts[1].mutex.lock();
      ++audits;
      if (accounts[0].balance + accounts[1].balance != total) ++wrong;
    }
    co_await this_task::yield_now();
  }
  co_return std::pair{audits, wrong};
}

// Scene 3: a download that holds one of the semaphore's permits while it "transfers".
Task<void> download(Semaphore& slots, std::chrono::milliseconds length, std::atomic<int>& in_flight,
                    std::atomic<int>& peak) {
  const SemaphorePermit permit = co_await slots.acquire();
  const int now = in_flight.fetch_add(1) + 1;
  int seen = peak.load();
  while (now > seen && !peak.compare_exchange_weak(seen, now)) {
  }
  co_await sleep_for(length);  // stands for the transfer
  in_flight.fetch_sub(1);
}

// Scene 4: sums part `index` of `numbers` into partials[index], waits for every part, then
// returns the sum of all the partials as this task sees them.
Task<long> sum_in_phases(const std::vector<long>& numbers, std::size_t index, Barrier& phase,
                         std::vector<long>& partials, std::atomic<int>& leaders) {
  const std::size_t part = numbers.size() / partials.size();
  long sum = 0;
  for (std::size_t i = index * part; i < (index + 1) * part; ++i) sum += numbers[i];
  partials[index] = sum;  // each task writes only its own slot
  if (co_await phase.arrive_and_wait()) leaders.fetch_add(1);
  long total = 0;
  for (const long partial : partials) total += partial;  // every slot written before the barrier
  co_return total;
}

// Scene 5: waits until the config is set, then returns it.
Task<std::string> read_config(Mutex& mutex, CondVar& changed,
                              const std::optional<std::string>& config) {
  MutexGuard guard = co_await mutex.lock();
  co_await changed.wait(guard, [&config] { return config.has_value(); });
  co_return *config;
}

int run(const DemoOptions& options, std::ostream& out) {
  const long transfers_each = options.quick ? 500 : 20'000;
  const auto download_time = options.quick ? 5ms : 50ms;
  Outcome outcome(out);
  Runtime runtime;
  Accounts accounts{Account{"checking", {}, 1'000}, Account{"savings", {}, 1'000}};
  const long total = accounts[0].balance + accounts[1].balance;

  out << "1. a deadlock: two threads take the two account locks in opposite orders\n";
  const int gave_up = opposite_orders(accounts, options.quick ? 50ms : 200ms, out);
  outcome.expect(gave_up == 2, "both timed out: each held the lock the other waited for");

  out << "2. Mutex: 4 tasks transfer " << transfers_each
      << " times each, both ways, locks in account order\n";
  std::atomic<long> done{0};
  std::vector<JoinHandle<void>> movers;
  for (std::size_t i = 0; i < 4; ++i) {
    movers.push_back(runtime.spawn(transfer(accounts, i % 2, transfers_each, done)));
  }
  JoinHandle<std::pair<long, long>> auditor =
      runtime.spawn(audit(accounts, total, 4 * transfers_each, done));
  for (JoinHandle<void>& mover : movers) mover.get();
  const auto [audits, wrong] = auditor.get();
  out << "  " << done.load() << " transfers; " << accounts[0].name << ' ' << accounts[0].balance
      << ", " << accounts[1].name << ' ' << accounts[1].balance << '\n'
      << "  an auditor task made " << audits << " audits meanwhile: " << wrong
      << " found money missing\n";
  outcome.expect(done.load() == 4 * transfers_each, "every transfer completed: no deadlock");
  outcome.expect(accounts[0].balance == 1'000 && accounts[1].balance == 1'000 && wrong == 0,
                 "no money lost or made, and none seen in flight");

  out << "3. Semaphore: 10 downloads of " << download_time.count() << " ms, 3 permits\n";
  Semaphore slots(3);
  std::atomic<int> in_flight{0};
  std::atomic<int> peak{0};
  const Clock::time_point downloads_start = Clock::now();
  std::vector<JoinHandle<void>> downloads;
  for (int i = 0; i < 10; ++i) {
    downloads.push_back(runtime.spawn(download(slots, download_time, in_flight, peak)));
  }
  for (JoinHandle<void>& d : downloads) d.get();
  out << "  all 10 done in " << format_since(downloads_start) << " (4 rounds of 3 at most); "
      << "at most " << peak.load() << " at once\n";
  outcome.expect(peak.load() >= 1 && peak.load() <= 3, "never more than 3 downloads at once");

  const std::size_t numbers_count = options.quick ? 4'000 : 400'000;
  out << "4. Barrier: 4 tasks sum 1.." << numbers_count << " a quarter each, then read all 4\n";
  std::vector<long> numbers(numbers_count);
  for (std::size_t i = 0; i < numbers_count; ++i) numbers[i] = static_cast<long>(i) + 1;
  const long expected_sum = static_cast<long>(numbers_count * (numbers_count + 1) / 2);
  Barrier phase(4);
  std::vector<long> partials(4);
  std::atomic<int> leaders{0};
  std::vector<JoinHandle<long>> summers;
  for (std::size_t i = 0; i < 4; ++i) {
    summers.push_back(runtime.spawn(sum_in_phases(numbers, i, phase, partials, leaders)));
  }
  std::vector<long> seen;
  for (JoinHandle<long>& summer : summers) seen.push_back(summer.get());
  out << "  partials";
  for (const long partial : partials) out << ' ' << partial;
  out << "\n  after the barrier each task saw the total " << seen[0] << ", " << seen[1] << ", "
      << seen[2] << ", " << seen[3] << "; leaders: " << leaders.load() << '\n';
  outcome.expect(std::all_of(seen.begin(), seen.end(), [&](long s) { return s == expected_sum; }),
                 "after the barrier every task saw every partial (the full sum)");
  outcome.expect(leaders.load() == 1, "one arrival led the phase");

  out << "5. CondVar: 3 readers wait for a config that main sets once\n";
  Mutex config_mutex;
  CondVar config_changed;
  std::optional<std::string> config;  // guarded by config_mutex
  std::vector<JoinHandle<std::string>> readers;
  for (int i = 0; i < 3; ++i) {
    readers.push_back(runtime.spawn(read_config(config_mutex, config_changed, config)));
  }
  {
    MutexGuard guard = config_mutex.blocking_lock();  // main is a plain thread: it may block
    config = "workers=4";
  }
  config_changed.notify_all();
  std::vector<std::string> read;
  for (JoinHandle<std::string>& reader : readers) read.push_back(reader.get());
  out << "  the readers read \"" << read[0] << "\", \"" << read[1] << "\", \"" << read[2] << "\"\n";
  outcome.expect(
      std::all_of(read.begin(), read.end(), [](const std::string& r) { return r == "workers=4"; }),
      "every reader woke and read the config");
  return outcome.finish();
}

}  // namespace
}  // namespace sync_impl

int run_sync(const DemoOptions& options, std::ostream& out) {
  return sync_impl::run(options, out);
}

}  // namespace troupe::demos
