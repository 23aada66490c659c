// Synchronization primitives (runtime/sync.hpp): Mutex, Semaphore, Latch, Barrier, Notify,
// CondVar — their blocking forms across threads, their awaitable forms in ManualTasks, mixed
// thread + task use, cancellation (alone and racing a completion), and bad input.
//
// Cross-thread cancellation races are driven on the poll operations directly, with a
// heap-allocated, reference-counted waker (as the runtime's task waker is): a completion on
// another thread may wake the waker after the waiting side is gone, which a ManualTask's
// in-frame CountingWaker cannot survive. Destroying the operation is what destroying a
// suspended task does to it.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <latch>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "test_support.hpp"
#include "troupe/runtime/sync.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::Barrier;
using troupe::CondVar;
using troupe::ErrorCode;
using troupe::Latch;
using troupe::Mutex;
using troupe::MutexGuard;
using troupe::Notify;
using troupe::Semaphore;
using troupe::SemaphorePermit;
using troupe::testing::error_code_of;
using troupe::testing::error_message_of;
using troupe::testing::ManualTask;
using troupe::testing::race;
using troupe::testing::spin_until;

// --- compile-time properties ------------------------------------------------------------------

static_assert(!std::is_copy_constructible_v<Mutex> && !std::is_move_constructible_v<Mutex>);
static_assert(!std::is_copy_constructible_v<MutexGuard>);
static_assert(std::is_nothrow_move_constructible_v<MutexGuard>);
static_assert(std::is_nothrow_move_assignable_v<MutexGuard>);
static_assert(!std::is_copy_constructible_v<SemaphorePermit>);
static_assert(std::is_nothrow_move_constructible_v<SemaphorePermit>);
static_assert(!std::is_move_constructible_v<Semaphore>);
static_assert(!std::is_move_constructible_v<Latch> && !std::is_move_constructible_v<Barrier>);
static_assert(!std::is_move_constructible_v<Notify> && !std::is_move_constructible_v<CondVar>);
static_assert(troupe::PollOp<Mutex::LockOp>);
static_assert(troupe::PollOp<Semaphore::AcquireOp>);
static_assert(troupe::PollOp<Latch::WaitOp>);
static_assert(troupe::PollOp<Barrier::WaitOp>);
static_assert(troupe::PollOp<troupe::NotifiedOp>);
static_assert(troupe::PollOp<CondVar::WaitOp<troupe::detail::NoPredicate>>);

// --- helpers ----------------------------------------------------------------------------------

// A waker on the heap, reference counted like a runtime task's: a late wake from another thread
// is safe after the waiting side let go of it.
class HeapWaker final : public troupe::Waker {
 public:
  static troupe::WakerRef make() { return troupe::WakerRef::adopt(new HeapWaker()); }
  void wake() noexcept override { wakes.fetch_add(1, std::memory_order_release); }
  std::atomic<int> wakes{0};

 private:
  HeapWaker() = default;
};

int wakes_of(const troupe::WakerRef& waker) {
  return static_cast<HeapWaker*>(waker.get())->wakes.load(std::memory_order_acquire);
}

// Waits for `op` as a task polled again before its wake would (a spurious wake, or one shared
// with another operation): polls it with `waker`, looking at it lock-free (ready_now) in
// between, and returns op.take(). It sees a completion as soon as the completing thread marks
// it, maybe while that thread is still inside the primitive. (A blocking form, once parked, sees
// it only after its wake, which comes after the completing thread released the primitive's
// lock.)
template <class Op>
decltype(auto) poll_until_ready(Op& op, troupe::Waker& waker) {
  while (!op.poll(waker)) {
    for (int look = 0; look < 64; ++look) {
      if (op.ready_now()) return op.take();
      std::this_thread::yield();
    }
  }
  return op.take();
}

// The destroy-after-wait races: a waiter thread runs `wait_and_delete` on a new primitive
// (from `make`), which waits, then deletes it; once the wait has queued, this thread runs
// `complete` on it, its last touch of the primitive.
template <class Make, class WaitAndDelete, class Complete>
void complete_after_queueing(Make make, WaitAndDelete wait_and_delete, Complete complete) {
  auto* target = make();
  std::thread waiter(wait_and_delete, target);
  spin_until([&] { return target->waiter_count() == 1; });  // it has queued
  complete(*target);
  waiter.join();
}

ManualTask lock_into(Mutex& mutex, std::optional<MutexGuard>& out) {
  out = co_await mutex.lock();
}

ManualTask lock_and_record(Mutex& mutex, std::vector<int>& order, int id) {
  MutexGuard guard = co_await mutex.lock();
  order.push_back(id);
}

ManualTask acquire_into(Semaphore& semaphore, std::int64_t n, std::optional<SemaphorePermit>& out) {
  out = co_await semaphore.acquire(n);
}

ManualTask wait_latch(Latch& latch, bool& released) {
  co_await latch.wait();
  released = true;
}

ManualTask arrive_at(Barrier& barrier, std::optional<bool>& leader) {
  leader = co_await barrier.arrive_and_wait();
}

ManualTask wait_notified(Notify& notify, int& woken) {
  co_await notify.notified();
  ++woken;
}

// Locks, waits on `condvar` until `ready`, records whether the guard owns the mutex after.
ManualTask wait_until_ready(Mutex& mutex, CondVar& condvar, const bool& ready, bool& owned) {
  MutexGuard guard = co_await mutex.lock();
  co_await condvar.wait(guard, [&ready] { return ready; });
  owned = guard.owns_lock();
}

// Locks, waits on `condvar` once, records whether the guard owns the mutex after.
ManualTask wait_once(Mutex& mutex, CondVar& condvar, bool& owned) {
  MutexGuard guard = co_await mutex.lock();
  co_await condvar.wait(guard);
  owned = guard.owns_lock();
}

}  // namespace

// === Mutex =====================================================================================

TEST_CASE("sync.an uncontended mutex locks at once and its guard unlocks on destruction") {
  Mutex mutex;
  CHECK_FALSE(mutex.is_locked());
  {
    std::optional<MutexGuard> guard = mutex.try_lock();
    REQUIRE(guard);
    CHECK(guard->owns_lock());
    CHECK(guard->mutex() == &mutex);
    CHECK(mutex.is_locked());
    CHECK_FALSE(mutex.try_lock());
    MutexGuard moved = std::move(*guard);
    CHECK_FALSE(guard->owns_lock());
    CHECK(moved.owns_lock());
    CHECK(mutex.is_locked());
  }
  CHECK_FALSE(mutex.is_locked());
  MutexGuard early = mutex.blocking_lock();
  early.unlock();
  CHECK_FALSE(early.owns_lock());
  CHECK_FALSE(mutex.is_locked());
  early.unlock();  // a second unlock is a no-op
  CHECK_FALSE(mutex.is_locked());
}

TEST_CASE("sync.a mutex counter incremented by four threads is exact" * doctest::timeout(30)) {
  constexpr int kThreads = 4;
  constexpr int kIncrements = 100'000;
  Mutex mutex;
  std::int64_t counter = 0;  // plain: only the mutex orders the increments
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; i < kIncrements; ++i) {
        MutexGuard guard = mutex.blocking_lock();
        ++counter;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(counter == std::int64_t{kThreads} * kIncrements);
  CHECK_FALSE(mutex.is_locked());
  CHECK(mutex.waiter_count() == 0);
}

TEST_CASE("sync.a task suspends on a held mutex and gets it when the holder unlocks") {
  Mutex mutex;
  std::optional<MutexGuard> held = mutex.try_lock();
  std::optional<MutexGuard> got;
  ManualTask task = lock_into(mutex, got);
  CHECK_FALSE(task.done());
  CHECK(mutex.waiter_count() == 1);
  CHECK_FALSE(task.step());  // re-polling replaces the registration, never adds one
  CHECK(mutex.waiter_count() == 1);
  CHECK(task.wakes() == 0);

  held.reset();
  CHECK(task.wakes() == 1);
  CHECK(mutex.is_locked());  // handed over, not freed
  CHECK(task.step());
  REQUIRE(got);
  CHECK(got->owns_lock());
  got.reset();
  CHECK_FALSE(mutex.is_locked());
}

TEST_CASE("sync.unlocking hands the mutex to waiting tasks in arrival order") {
  Mutex mutex;
  std::optional<MutexGuard> held = mutex.try_lock();
  std::vector<int> order;
  ManualTask first = lock_and_record(mutex, order, 1);
  ManualTask second = lock_and_record(mutex, order, 2);
  ManualTask third = lock_and_record(mutex, order, 3);
  CHECK(mutex.waiter_count() == 3);
  held.reset();
  // Only the oldest is woken; stepping the others first gets them nothing.
  CHECK(first.wakes() == 1);
  CHECK(second.wakes() == 0);
  CHECK_FALSE(third.step());
  CHECK_FALSE(second.step());
  CHECK(first.step());  // records 1 and unlocks, which hands the mutex to second
  CHECK(second.wakes() == 1);
  CHECK(third.wakes() == 0);
  CHECK(second.step());
  CHECK(third.step());
  CHECK(order == std::vector<int>{1, 2, 3});
  CHECK_FALSE(mutex.is_locked());
}

TEST_CASE("sync.try_lock and a new lock never overtake a queued waiter") {
  Mutex mutex;
  std::optional<MutexGuard> held = mutex.try_lock();
  std::optional<MutexGuard> got;
  ManualTask waiting = lock_into(mutex, got);
  held.reset();
  CHECK_FALSE(mutex.try_lock());  // the lock went straight to the waiter
  std::optional<MutexGuard> late;
  ManualTask latecomer = lock_into(mutex, late);
  CHECK_FALSE(latecomer.done());
  CHECK(waiting.step());
  got.reset();
  CHECK(latecomer.wakes() == 1);
  CHECK(latecomer.step());
  CHECK(late);
}

TEST_CASE("sync.a mutex waiter destroyed while queued leaves the lock to the next one") {
  Mutex mutex;
  std::optional<MutexGuard> held = mutex.try_lock();
  std::optional<MutexGuard> lost;
  std::optional<MutexGuard> got;
  auto cancelled = std::make_optional<ManualTask>(lock_into(mutex, lost));
  ManualTask next = lock_into(mutex, got);
  cancelled.reset();  // cancel + destroy the suspended task
  CHECK(mutex.waiter_count() == 1);
  held.reset();
  CHECK(next.wakes() == 1);
  CHECK(next.step());
  CHECK(got);
  CHECK_FALSE(lost);
}

TEST_CASE("sync.a mutex handed to a task that is then destroyed is not lost") {
  Mutex mutex;
  SUBCASE("it passes to the next waiter") {
    std::optional<MutexGuard> held = mutex.try_lock();
    std::optional<MutexGuard> lost;
    std::optional<MutexGuard> got;
    auto chosen = std::make_optional<ManualTask>(lock_into(mutex, lost));
    ManualTask next = lock_into(mutex, got);
    held.reset();  // hands the lock to `chosen`...
    REQUIRE(chosen->wakes() == 1);
    chosen.reset();  // ...which is destroyed before it runs again
    CHECK(next.wakes() == 1);
    CHECK(next.step());
    CHECK(got);
  }
  SUBCASE("it becomes free when nobody else waits") {
    std::optional<MutexGuard> held = mutex.try_lock();
    std::optional<MutexGuard> lost;
    auto chosen = std::make_optional<ManualTask>(lock_into(mutex, lost));
    held.reset();
    REQUIRE(mutex.is_locked());
    chosen.reset();
    CHECK_FALSE(mutex.is_locked());
    CHECK(mutex.try_lock());
  }
}

TEST_CASE("sync.cancelling a mutex waiter while the holder unlocks never loses the lock" *
          doctest::timeout(30)) {
  for (int round = 0; round < 2000; ++round) {
    Mutex mutex;
    std::optional<MutexGuard> held = mutex.try_lock();
    troupe::WakerRef cancelled_waker = HeapWaker::make();
    troupe::WakerRef next_waker = HeapWaker::make();
    auto cancelled = std::make_optional<Mutex::LockOp>(mutex);
    Mutex::LockOp next(mutex);
    REQUIRE_FALSE(cancelled->poll(*cancelled_waker.get()));
    const bool with_next = round % 2 == 0;  // half the rounds with a second waiter
    if (with_next) REQUIRE_FALSE(next.poll(*next_waker.get()));
    race([&] { cancelled.reset(); }, [&] { held.reset(); });
    if (with_next) {
      // The lock went to `next`, directly or through the cancelled waiter.
      CHECK(wakes_of(next_waker) == 1);
      REQUIRE(next.poll(*next_waker.get()));
      MutexGuard guard = next.take();
      CHECK(mutex.is_locked());
    }
    CHECK(mutex.waiter_count() == 0);
    CHECK(mutex.try_lock());
  }
}

TEST_CASE("sync.a thread and a task hand a mutex back and forth" * doctest::timeout(30)) {
  Mutex mutex;
  SUBCASE("a thread's unlock wakes the task") {
    std::optional<MutexGuard> held = mutex.try_lock();
    std::optional<MutexGuard> got;
    ManualTask task = lock_into(mutex, got);
    std::thread holder([held = std::move(held)]() mutable { held.reset(); });
    holder.join();
    CHECK(task.wakes() == 1);
    CHECK(task.step());
    CHECK(got);
  }
  SUBCASE("a task's unlock unparks a thread in blocking_lock") {
    std::optional<MutexGuard> got;
    ManualTask task = lock_into(mutex, got);
    REQUIRE(got);
    std::atomic<bool> locked{false};
    std::thread waiter([&] {
      MutexGuard guard = mutex.blocking_lock();
      locked.store(true);
    });
    spin_until([&] { return mutex.waiter_count() == 1; });
    CHECK_FALSE(locked.load());
    got.reset();
    waiter.join();
    CHECK(locked.load());
    CHECK_FALSE(mutex.is_locked());
  }
}

TEST_CASE("sync.blocking_lock_for gives up while the mutex is held and leaves no waiter" *
          doctest::timeout(30)) {
  Mutex mutex;
  std::optional<MutexGuard> held = mutex.try_lock();
  CHECK_FALSE(mutex.blocking_lock_for(20ms));
  CHECK_FALSE(mutex.blocking_lock_for(0ms));
  CHECK(mutex.waiter_count() == 0);
  held.reset();
  std::optional<MutexGuard> got = mutex.blocking_lock_for(20ms);
  CHECK(got);
  CHECK(error_code_of([&] { (void)mutex.blocking_lock_for(-1ms); }) == ErrorCode::invalid_argument);
  CHECK(error_message_of([&] { (void)mutex.blocking_lock_for(-1ms); }) ==
        "Mutex::blocking_lock_for: timeout is negative (or not a number)");
}

// The idiom of a mutex on the waiter's side: lock, unlock, then destroy it at once, while the
// holder whose unlock handed it over may still be returning. Under a sanitizer, an unlock
// touching the mutex after the lock it handed over could return is a use after free. Raced: a
// queued blocking_lock (the unlock hands it over), one racing the unlock (spinning before it
// queues, or queueing as the unlock runs), and a queued lock polled again lock-free.
TEST_CASE("sync.a waiter may destroy a mutex as soon as the lock handed to it is unlocked" *
          doctest::timeout(120)) {
  const int rounds = troupe::testing::kSanitized ? 500 : 2000;
  const auto lock_unlock_destroy = [](Mutex* mutex) {
    MutexGuard guard = mutex->blocking_lock();
    guard.unlock();
    delete mutex;
  };
  for (int round = 0; round < rounds; ++round) {
    auto* queued = new Mutex();
    MutexGuard held = queued->blocking_lock();
    std::thread waiter(lock_unlock_destroy, queued);
    spin_until([&] { return queued->waiter_count() == 1; });  // it has queued
    held.unlock();  // hands the lock over: this thread's last touch of the mutex
    waiter.join();

    auto* raced = new Mutex();
    MutexGuard first = raced->blocking_lock();
    std::thread racer(lock_unlock_destroy, raced);
    first.unlock();
    racer.join();

    auto* polled = new Mutex();
    MutexGuard holder = polled->blocking_lock();
    std::thread poller([polled] {
      {
        const troupe::WakerRef waker = HeapWaker::make();
        Mutex::LockOp op(*polled);
        MutexGuard guard = poll_until_ready(op, *waker.get());
        guard.unlock();
      }
      delete polled;
    });
    spin_until([&] { return polled->waiter_count() == 1; });  // it has queued
    holder.unlock();
    poller.join();
  }
}

// === Semaphore =================================================================================

TEST_CASE("sync.a semaphore never admits more holders than it has permits" * doctest::timeout(30)) {
  constexpr int kThreads = 6;
  constexpr int kRounds = 5'000;
  Semaphore semaphore(3);
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::latch start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; i < kRounds; ++i) {
        SemaphorePermit permit = semaphore.blocking_acquire();
        const int now = inside.fetch_add(1) + 1;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        inside.fetch_sub(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(most.load() <= 3);
  CHECK(most.load() >= 1);
  CHECK(semaphore.available() == 3);
}

TEST_CASE("sync.semaphore permits are RAII and release adds permits") {
  Semaphore semaphore(2);
  {
    std::optional<SemaphorePermit> two = semaphore.try_acquire(2);
    REQUIRE(two);
    CHECK(two->count() == 2);
    CHECK(two->semaphore() == &semaphore);
    CHECK(semaphore.available() == 0);
    CHECK_FALSE(semaphore.try_acquire());
  }
  CHECK(semaphore.available() == 2);
  SemaphorePermit kept = semaphore.blocking_acquire();
  CHECK(kept.forget() == 1);
  CHECK(semaphore.available() == 1);  // forgotten: not given back
  semaphore.release(3);
  CHECK(semaphore.available() == 4);
  std::optional<SemaphorePermit> none = semaphore.try_acquire(0);
  REQUIRE(none);
  CHECK(none->count() == 0);
  SemaphorePermit early = semaphore.blocking_acquire(4);
  early.release();
  CHECK(early.count() == 0);
  CHECK(semaphore.available() == 4);
}

TEST_CASE("sync.a big semaphore request at the head is not overtaken by small ones") {
  Semaphore semaphore(0);
  std::optional<SemaphorePermit> big;
  std::optional<SemaphorePermit> small;
  ManualTask wants_three = acquire_into(semaphore, 3, big);
  ManualTask wants_one = acquire_into(semaphore, 1, small);
  semaphore.release(1);
  semaphore.release(1);  // two permits, both reserved for the head
  CHECK(semaphore.available() == 0);
  CHECK_FALSE(semaphore.try_acquire());
  CHECK(wants_one.wakes() == 0);
  CHECK_FALSE(wants_one.step());
  semaphore.release(2);  // the head completes; the spare permit goes to the next in line
  CHECK(wants_three.wakes() == 1);
  CHECK(wants_one.wakes() == 1);
  CHECK(wants_three.step());
  CHECK(wants_one.step());
  CHECK(big->count() == 3);
  CHECK(small->count() == 1);
  big.reset();
  small.reset();
  CHECK(semaphore.available() == 4);
}

TEST_CASE("sync.permits reserved for a cancelled acquire go to the next waiter") {
  Semaphore semaphore(2);
  std::optional<SemaphorePermit> lost;
  std::optional<SemaphorePermit> got;
  auto head = std::make_optional<ManualTask>(acquire_into(semaphore, 3, lost));  // reserves 2
  ManualTask next = acquire_into(semaphore, 2, got);
  CHECK(semaphore.available() == 0);
  CHECK(semaphore.waiter_count() == 2);
  head.reset();
  CHECK(next.wakes() == 1);
  CHECK(next.step());
  CHECK(got->count() == 2);
  CHECK(semaphore.waiter_count() == 0);
  got.reset();
  CHECK(semaphore.available() == 2);
}

TEST_CASE("sync.permits granted to a task that is then destroyed go back") {
  Semaphore semaphore(0);
  std::optional<SemaphorePermit> lost;
  auto task = std::make_optional<ManualTask>(acquire_into(semaphore, 2, lost));
  semaphore.release(2);
  REQUIRE(task->wakes() == 1);
  CHECK(semaphore.available() == 0);
  task.reset();
  CHECK(semaphore.available() == 2);
}

TEST_CASE("sync.cancelling a semaphore acquire while permits are released loses none" *
          doctest::timeout(30)) {
  for (int round = 0; round < 2000; ++round) {
    Semaphore semaphore(1);  // the cancelled acquire reserves this one and waits for more
    troupe::WakerRef cancelled_waker = HeapWaker::make();
    troupe::WakerRef next_waker = HeapWaker::make();
    auto cancelled = std::make_optional<Semaphore::AcquireOp>(semaphore, 3);
    Semaphore::AcquireOp next(semaphore, 2);
    REQUIRE_FALSE(cancelled->poll(*cancelled_waker.get()));
    REQUIRE_FALSE(next.poll(*next_waker.get()));
    race([&] { cancelled.reset(); }, [&] { semaphore.release(2); });
    // 3 permits in all; `next` gets 2 of them whichever came first, 1 stays available.
    CHECK(wakes_of(next_waker) == 1);
    REQUIRE(next.poll(*next_waker.get()));
    SemaphorePermit permit = next.take();
    CHECK(permit.count() == 2);
    CHECK(semaphore.available() == 1);
    CHECK(semaphore.waiter_count() == 0);
  }
}

TEST_CASE("sync.blocking_acquire_for times out and gives back what it had reserved" *
          doctest::timeout(30)) {
  Semaphore semaphore(2);
  SemaphorePermit held = semaphore.blocking_acquire();
  CHECK_FALSE(semaphore.blocking_acquire_for(2, 20ms));
  CHECK(semaphore.available() == 1);
  CHECK(semaphore.waiter_count() == 0);
  held.release();
  CHECK(semaphore.blocking_acquire_for(2, 20ms));
}

TEST_CASE("sync.a thread's release wakes a task and a task's release unparks a thread" *
          doctest::timeout(30)) {
  Semaphore semaphore(0);
  std::optional<SemaphorePermit> got;
  ManualTask task = acquire_into(semaphore, 1, got);
  std::thread releaser([&] { semaphore.release(1); });
  releaser.join();
  CHECK(task.wakes() == 1);
  CHECK(task.step());
  std::thread waiter([&] { SemaphorePermit permit = semaphore.blocking_acquire(); });
  spin_until([&] { return semaphore.waiter_count() == 1; });
  got.reset();  // the task's permit goes straight to the thread
  waiter.join();
  CHECK(semaphore.available() == 1);
}

TEST_CASE("sync.bad semaphore counts are invalid arguments naming the value") {
  CHECK(error_code_of([] { Semaphore s(-1); }) == ErrorCode::invalid_argument);
  CHECK(error_message_of([] { Semaphore s(-1); }) == "Semaphore: permit count -1 is negative");
  CHECK(error_message_of([] { Semaphore s(Semaphore::kMaxPermits + 1); }) ==
        "Semaphore: permit count 1152921504606846977 exceeds the maximum of "
        "1152921504606846976");
  Semaphore semaphore(1);
  CHECK(error_message_of([&] { (void)semaphore.acquire(-2); }) ==
        "Semaphore::acquire: permit count -2 is negative");
  CHECK(error_message_of([&] { (void)semaphore.blocking_acquire(Semaphore::kMaxPermits + 1); }) ==
        "Semaphore::blocking_acquire: permit count 1152921504606846977 exceeds the maximum of "
        "1152921504606846976");
  CHECK(error_code_of([&] { (void)semaphore.try_acquire(-1); }) == ErrorCode::invalid_argument);
  CHECK(error_message_of([&] { semaphore.release(-3); }) ==
        "Semaphore::release: permit count -3 is negative");
  CHECK(error_message_of([&] { semaphore.release(Semaphore::kMaxPermits); }) ==
        "Semaphore::release: 1152921504606846976 more permits would exceed the maximum of "
        "1152921504606846976 (1 available)");
  CHECK(semaphore.available() == 1);  // nothing changed
}

// The idiom of a semaphore as a one-shot done signal on the waiter's side: acquire, then destroy
// it at once, while the thread whose release served the acquire may still be returning. Under a
// sanitizer, a release touching the semaphore after the acquire it served could return is a use
// after free. Raced: a queued blocking_acquire (served by the release), try_acquire spinning,
// and a queued acquire polled again lock-free. The permit is forgotten, not given back: the
// waiter's own release could take the semaphore's lock and so wait for the releaser to leave.
TEST_CASE("sync.a waiter may destroy a semaphore as soon as its acquire returns" *
          doctest::timeout(120)) {
  const int rounds = troupe::testing::kSanitized ? 500 : 2000;
  const auto make = [] { return new Semaphore(0); };
  const auto release = [](Semaphore& semaphore) { semaphore.release(); };
  for (int round = 0; round < rounds; ++round) {
    complete_after_queueing(
        make,
        [](Semaphore* queued) {
          (void)queued->blocking_acquire().forget();
          delete queued;
        },
        release);

    auto* spun = new Semaphore(0);
    std::thread spinner([spun] {
      std::optional<SemaphorePermit> permit;
      while (!(permit = spun->try_acquire())) std::this_thread::yield();
      (void)permit->forget();
      delete spun;
    });
    spun->release();
    spinner.join();

    complete_after_queueing(
        make,
        [](Semaphore* polled) {
          {
            const troupe::WakerRef waker = HeapWaker::make();
            Semaphore::AcquireOp op(*polled, 1);
            (void)poll_until_ready(op, *waker.get()).forget();
          }
          delete polled;
        },
        release);
  }
}

// === Latch =====================================================================================

TEST_CASE("sync.a latch releases every waiting thread when the count reaches zero" *
          doctest::timeout(30)) {
  constexpr int kWaiters = 4;
  constexpr int kCounters = 3;
  Latch latch(kCounters);
  std::vector<int> written(kCounters, 0);  // plain: ordered by count_down -> wait
  std::atomic<int> released{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWaiters; ++w) {
    threads.emplace_back([&] {
      latch.blocking_wait();
      CHECK(written == std::vector<int>(kCounters, 7));
      released.fetch_add(1);
    });
  }
  for (int c = 0; c < kCounters; ++c) {
    threads.emplace_back([&, c] {
      written[static_cast<std::size_t>(c)] = 7;
      latch.count_down();
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(released.load() == kWaiters);
  CHECK(latch.try_wait());
  latch.blocking_wait();  // an open latch does not wait
}

// The last count_down skips the latch's lock when no wait has queued: a wait that queues at the
// same moment must still be released (the CAS order in sync_latch.cpp). A miss hangs here.
TEST_CASE("sync.a latch wait racing the last count_down is always released" *
          doctest::timeout(60)) {
  constexpr int kRounds = 2000;
  for (int round = 0; round < kRounds; ++round) {
    Latch latch(1);
    std::thread waiter([&] { latch.blocking_wait(); });
    std::thread counter([&] { latch.count_down(); });
    counter.join();
    waiter.join();
    REQUIRE(latch.try_wait());
  }
}

// The idiom of a latch on the waiter's side: wait, then destroy it at once, while the thread
// whose count_down opened it may still be returning. Under a sanitizer, a count_down touching
// the latch after a waiter could see it open is a use after free; both ways a waiter can see it
// open are raced: queued (woken by the release) and spinning on try_wait.
TEST_CASE("sync.a waiter may destroy a latch as soon as its wait returns" *
          doctest::timeout(120)) {
  const int rounds = troupe::testing::kSanitized ? 500 : 2000;
  for (int round = 0; round < rounds; ++round) {
    complete_after_queueing([] { return new Latch(1); },
                            [](Latch* queued) {
                              queued->blocking_wait();
                              delete queued;
                            },
                            [](Latch& latch) { latch.count_down(); });

    auto* spun = new Latch(1);
    std::thread spinner([spun] {
      while (!spun->try_wait()) std::this_thread::yield();
      delete spun;
    });
    spun->count_down();
    spinner.join();
  }
}

// A completed wait operation may outlive the latch it waited on: its destructor must not
// withdraw anything (under AddressSanitizer, a touch of the latch is a use after free).
TEST_CASE("sync.a completed latch wait destroyed after the latch leaves it alone" *
          doctest::timeout(60)) {
  for (int round = 0; round < 200; ++round) {
    auto* latch = new Latch(1);
    Latch::WaitOp op(*latch);
    std::thread counter([latch] { latch->count_down(); });
    troupe::block_on_op(op);
    counter.join();
    delete latch;
  }  // op destroyed here, after the latch
}

TEST_CASE("sync.a latch count above the maximum is refused") {
  CHECK(error_message_of([] { Latch latch(Latch::kMaxCount + 1); }) ==
        "Latch: count " + std::to_string(Latch::kMaxCount + 1) + " exceeds the maximum of " +
            std::to_string(Latch::kMaxCount));
  Latch most(Latch::kMaxCount);
  CHECK(most.count() == Latch::kMaxCount);
  most.count_down(Latch::kMaxCount);
  CHECK(most.try_wait());
}

TEST_CASE("sync.a task waiting on a latch resumes after the last count_down only") {
  Latch latch(2);
  bool released = false;
  ManualTask task = wait_latch(latch, released);
  CHECK_FALSE(task.done());
  latch.count_down();
  CHECK(task.wakes() == 0);
  CHECK_FALSE(task.step());
  latch.count_down();
  CHECK(task.wakes() == 1);
  CHECK(task.step());
  CHECK(released);
  bool again = false;
  ManualTask late = wait_latch(latch, again);
  CHECK(late.done());  // an open latch completes at once
}

TEST_CASE("sync.arrive_and_wait counts down and waits, across threads" * doctest::timeout(30)) {
  constexpr int kParties = 4;
  Latch latch(kParties);
  std::atomic<int> arrived{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < kParties; ++p) {
    threads.emplace_back([&] {
      arrived.fetch_add(1);
      latch.blocking_arrive_and_wait();
      CHECK(arrived.load() == kParties);
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(latch.count() == 0);
}

TEST_CASE("sync.a thread's count_down releases a waiting task" * doctest::timeout(30)) {
  Latch latch(1);
  bool released = false;
  ManualTask task = wait_latch(latch, released);
  std::thread counter([&] { latch.count_down(); });
  counter.join();
  CHECK(task.wakes() == 1);
  CHECK(task.step());
  CHECK(released);
}

TEST_CASE("sync.a latch wait that is cancelled or times out leaves nothing behind" *
          doctest::timeout(30)) {
  Latch latch(1);
  bool released = false;
  auto task = std::make_optional<ManualTask>(wait_latch(latch, released));
  CHECK(latch.waiter_count() == 1);
  task.reset();
  CHECK(latch.waiter_count() == 0);
  CHECK_FALSE(latch.blocking_wait_for(10ms));
  CHECK(latch.waiter_count() == 0);
  latch.count_down();
  CHECK(latch.blocking_wait_for(10ms));
  CHECK_FALSE(released);
}

TEST_CASE("sync.counting a latch below zero is an error that changes nothing") {
  CHECK(error_code_of([] { Latch latch(-1); }) == ErrorCode::invalid_argument);
  CHECK(error_message_of([] { Latch latch(-1); }) == "Latch: count -1 is negative");
  Latch latch(2);
  CHECK(error_code_of([&] { latch.count_down(3); }) == ErrorCode::invalid_argument);
  CHECK(error_message_of([&] { latch.count_down(3); }) ==
        "Latch::count_down: n 3 exceeds the remaining count 2 (a latch cannot count below zero)");
  CHECK(error_message_of([&] { latch.count_down(-1); }) == "Latch::count_down: n -1 is negative");
  CHECK(latch.count() == 2);
  latch.count_down(0);
  latch.count_down(2);
  CHECK(error_message_of([&] { latch.count_down(); }) ==
        "Latch::count_down: n 1 exceeds the remaining count 0 (a latch cannot count below zero)");
  CHECK(error_message_of([&] { (void)latch.arrive_and_wait(); }) ==
        "Latch::count_down: n 1 exceeds the remaining count 0 (a latch cannot count below zero)");
}

// === Barrier ===================================================================================

TEST_CASE("sync.barrier phases keep threads in lockstep with one leader each" *
          doctest::timeout(30)) {
  constexpr int kParties = 4;
  constexpr int kPhases = 300;
  Barrier barrier(kParties);
  std::vector<int> progress(kParties, 0);  // plain: only the barrier orders these accesses
  std::atomic<int> leaders{0};
  std::atomic<bool> behind{false};
  std::vector<std::thread> threads;
  for (int p = 0; p < kParties; ++p) {
    threads.emplace_back([&, p] {
      for (int phase = 1; phase <= kPhases; ++phase) {
        progress[static_cast<std::size_t>(p)] = phase;
        if (barrier.blocking_arrive_and_wait()) leaders.fetch_add(1);
        // Everyone has arrived for this phase, and their writes are visible.
        for (const int seen : progress) {
          if (seen != phase) behind.store(true);
        }
        // A second barrier keeps the next phase's writes from racing with the reads above.
        (void)barrier.blocking_arrive_and_wait();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK_FALSE(behind.load());
  CHECK(leaders.load() == kPhases);
  CHECK(barrier.phase() == 2 * kPhases);
}

TEST_CASE("sync.tasks at a barrier resume when the last party arrives, which leads") {
  Barrier barrier(3);
  std::optional<bool> a;
  std::optional<bool> b;
  std::optional<bool> c;
  ManualTask first = arrive_at(barrier, a);
  ManualTask second = arrive_at(barrier, b);
  CHECK(barrier.waiter_count() == 2);
  CHECK_FALSE(first.step());
  ManualTask last = arrive_at(barrier, c);
  CHECK(last.done());  // the leader does not suspend
  CHECK(c == true);
  CHECK(first.wakes() == 1);
  CHECK(second.wakes() == 1);
  CHECK(first.step());
  CHECK(second.step());
  CHECK(a == false);
  CHECK(b == false);
  // The barrier is reusable: a second phase works the same way.
  std::optional<bool> d;
  ManualTask next = arrive_at(barrier, d);
  CHECK_FALSE(next.done());
  CHECK(barrier.phase() == 1);
}

TEST_CASE("sync.a cancelled barrier wait withdraws the wait but its arrival stands") {
  Barrier barrier(2);
  std::optional<bool> lost;
  auto task = std::make_optional<ManualTask>(arrive_at(barrier, lost));
  task.reset();
  CHECK(barrier.waiter_count() == 0);
  CHECK(barrier.blocking_arrive_and_wait());  // completes the phase, as the leader
  CHECK(barrier.phase() == 1);
}

TEST_CASE("sync.a thread and tasks meet at one barrier" * doctest::timeout(30)) {
  Barrier barrier(2);
  std::optional<bool> task_leader;
  ManualTask task = arrive_at(barrier, task_leader);
  bool thread_leader = false;
  std::thread thread([&] { thread_leader = barrier.blocking_arrive_and_wait(); });
  thread.join();
  CHECK(thread_leader);
  CHECK(task.wakes() == 1);
  CHECK(task.step());
  CHECK(task_leader == false);
}

TEST_CASE("sync.a barrier of no parties is an invalid argument") {
  CHECK(error_code_of([] { Barrier barrier(0); }) == ErrorCode::invalid_argument);
  CHECK(error_message_of([] { Barrier barrier(0); }) ==
        "Barrier: parties 0 is not positive (a barrier needs at least one party)");
  CHECK(error_message_of([] { Barrier barrier(-3); }) ==
        "Barrier: parties -3 is not positive (a barrier needs at least one party)");
  Barrier alone(1);
  CHECK(alone.blocking_arrive_and_wait());
  CHECK(alone.blocking_arrive_and_wait());
  CHECK(alone.phase() == 2);
}

// The idiom of a barrier on a waiter's side: a party that did not lead destroys it as soon as
// its wait returns, while the leader, whose arrival completed the phase, may still be
// returning. Under a sanitizer, an arrival touching the barrier after a waiter could see the
// phase complete is a use after free. Raced: a party queued before the leader arrives, and two
// parties arriving at once (either may lead, and either may see the phase complete without
// queueing; the one that did not lead destroys).
TEST_CASE("sync.a party that did not lead may destroy a barrier as soon as its wait returns" *
          doctest::timeout(120)) {
  const int rounds = troupe::testing::kSanitized ? 500 : 2000;
  const auto arrive_then_destroy_unless_led = [](Barrier* barrier) {
    if (!barrier->blocking_arrive_and_wait()) delete barrier;
  };
  for (int round = 0; round < rounds; ++round) {
    auto* queued = new Barrier(2);
    std::thread waiter(arrive_then_destroy_unless_led, queued);
    spin_until([&] { return queued->waiter_count() == 1; });  // it has arrived and queued
    // Arriving last, this thread leads.
    REQUIRE(queued->blocking_arrive_and_wait());
    waiter.join();

    auto* raced = new Barrier(2);
    std::thread party(arrive_then_destroy_unless_led, raced);
    arrive_then_destroy_unless_led(raced);
    party.join();
  }
}

// === Notify ====================================================================================

TEST_CASE("sync.notify_one with nobody waiting stores one permit, not a count") {
  Notify notify;
  notify.notify_one();
  notify.notify_one();
  int woken = 0;
  ManualTask first = wait_notified(notify, woken);
  CHECK(first.done());  // consumed the permit
  ManualTask second = wait_notified(notify, woken);
  CHECK_FALSE(second.done());
  notify.notify_one();
  CHECK(second.wakes() == 1);
  CHECK(second.step());
  CHECK(woken == 2);
}

TEST_CASE("sync.notify_one wakes waiters oldest first") {
  Notify notify;
  int woken_a = 0;
  int woken_b = 0;
  ManualTask a = wait_notified(notify, woken_a);
  ManualTask b = wait_notified(notify, woken_b);
  notify.notify_one();
  CHECK(a.wakes() == 1);
  CHECK(b.wakes() == 0);
  CHECK_FALSE(b.step());
  CHECK(a.step());
  notify.notify_one();
  CHECK(b.step());
}

TEST_CASE("sync.notify_all wakes every current waiter and stores no permit") {
  Notify notify;
  int woken = 0;
  std::vector<ManualTask> tasks;
  for (int i = 0; i < 40; ++i) tasks.push_back(wait_notified(notify, woken));  // > WakeBatch
  CHECK(notify.waiter_count() == 40);
  notify.notify_all();
  for (ManualTask& task : tasks) {
    CHECK(task.wakes() == 1);
    CHECK(task.step());
  }
  CHECK(woken == 40);
  ManualTask later = wait_notified(notify, woken);
  CHECK_FALSE(later.done());
}

TEST_CASE("sync.a wait exists for notify_all from the call of notified, before it is awaited") {
  Notify notify;
  troupe::NotifiedOp created_before(notify);
  notify.notify_all();
  troupe::NotifiedOp created_after(notify);
  CHECK(created_before.ready_now());
  created_before.take();
  CHECK_FALSE(created_after.ready_now());
}

TEST_CASE("sync.a notify_one that chose a destroyed task goes to the next waiter") {
  Notify notify;
  SUBCASE("to a queued waiter") {
    int lost = 0;
    int woken = 0;
    auto chosen = std::make_optional<ManualTask>(wait_notified(notify, lost));
    ManualTask next = wait_notified(notify, woken);
    notify.notify_one();
    REQUIRE(chosen->wakes() == 1);
    chosen.reset();
    CHECK(next.wakes() == 1);
    CHECK(next.step());
    CHECK(woken == 1);
  }
  SUBCASE("to the permit when nobody else waits") {
    int lost = 0;
    auto chosen = std::make_optional<ManualTask>(wait_notified(notify, lost));
    notify.notify_one();
    chosen.reset();
    int woken = 0;
    ManualTask later = wait_notified(notify, woken);
    CHECK(later.done());
  }
}

TEST_CASE("sync.cancelling a notified wait while notify_one runs never loses the notification" *
          doctest::timeout(30)) {
  for (int round = 0; round < 2000; ++round) {
    Notify notify;
    troupe::WakerRef waker = HeapWaker::make();
    auto cancelled = std::make_optional<troupe::NotifiedOp>(notify);
    REQUIRE_FALSE(cancelled->poll(*waker.get()));
    race([&] { cancelled.reset(); }, [&] { notify.notify_one(); });
    troupe::NotifiedOp later(notify);  // finds the permit, however the race went
    CHECK(later.ready_now());
    later.take();
    CHECK(notify.waiter_count() == 0);
  }
}

TEST_CASE("sync.a thread's notify wakes a task and a task's notify unparks a thread" *
          doctest::timeout(30)) {
  Notify notify;
  int woken = 0;
  ManualTask task = wait_notified(notify, woken);
  std::thread notifier([&] { notify.notify_one(); });
  notifier.join();
  CHECK(task.wakes() == 1);
  CHECK(task.step());
  std::thread waiter([&] { notify.blocking_wait(); });
  spin_until([&] { return notify.waiter_count() == 1; });
  notify.notify_all();
  waiter.join();
  CHECK(woken == 1);
}

TEST_CASE("sync.two threads ping-pong through two notifies without losing a wake" *
          doctest::timeout(30)) {
  constexpr int kRounds = 20'000;
  Notify ping;
  Notify pong;
  std::int64_t shared = 0;  // plain: ordered by the notifications
  std::thread other([&] {
    for (int i = 0; i < kRounds; ++i) {
      ping.blocking_wait();
      ++shared;
      pong.notify_one();
    }
  });
  for (int i = 0; i < kRounds; ++i) {
    ping.notify_one();
    pong.blocking_wait();
    CHECK(shared == i + 1);
  }
  other.join();
  CHECK_FALSE(ping.blocking_wait_for(1ms));
  CHECK(error_code_of([&] { (void)ping.blocking_wait_for(-1ms); }) == ErrorCode::invalid_argument);
}

// The idiom of a notify as a one-shot done signal on the waiter's side: wait, then destroy it
// at once, while the notifying thread may still be returning. Under a sanitizer, a notify
// touching the Notify after the wait it completed could return is a use after free. Raced: a
// queued blocking_wait woken by notify_one; one racing notify_one (queued, or consuming the
// stored permit); a queued one woken by notify_all; a wait that exists but may not have queued
// yet, completed by notify_all's new generation (only a wait that exists before notify_all is
// completed by it); and queued waits polled again lock-free, for notify_one and notify_all.
TEST_CASE("sync.a waiter may destroy a notify as soon as its wait returns" *
          doctest::timeout(120)) {
  const int rounds = troupe::testing::kSanitized ? 500 : 2000;
  const auto wait_then_destroy = [](Notify* notify) {
    notify->blocking_wait();
    delete notify;
  };
  const auto poll_then_destroy = [](Notify* notify) {
    {
      const troupe::WakerRef waker = HeapWaker::make();
      troupe::NotifiedOp op(*notify);
      poll_until_ready(op, *waker.get());
    }
    delete notify;
  };
  const auto make = [] { return new Notify(); };
  const auto one = [](Notify& notify) { notify.notify_one(); };
  const auto all = [](Notify& notify) { notify.notify_all(); };
  for (int round = 0; round < rounds; ++round) {
    complete_after_queueing(make, wait_then_destroy, one);
    complete_after_queueing(make, wait_then_destroy, all);
    complete_after_queueing(make, poll_then_destroy, one);
    complete_after_queueing(make, poll_then_destroy, all);

    auto* raced = new Notify();
    std::thread racer(wait_then_destroy, raced);
    raced->notify_one();
    racer.join();

    auto* early = new Notify();
    std::atomic<bool> exists{false};
    std::thread existing([early, &exists] {
      {
        troupe::NotifiedOp op(*early);
        exists.store(true, std::memory_order_release);
        troupe::block_on_op(op);
      }
      delete early;
    });
    spin_until([&] { return exists.load(std::memory_order_acquire); });
    early->notify_all();
    existing.join();
  }
}

// === CondVar ===================================================================================

TEST_CASE("sync.a condvar wait releases the mutex and holds it again when it returns") {
  Mutex mutex;
  CondVar condvar;
  bool owned = false;
  ManualTask task = wait_once(mutex, condvar, owned);
  CHECK_FALSE(task.done());
  CHECK(condvar.waiter_count() == 1);
  CHECK_FALSE(mutex.is_locked());  // released while waiting
  {
    std::optional<MutexGuard> other = mutex.try_lock();
    REQUIRE(other);
    condvar.notify_one();  // while holding the mutex: the task re-locks after us
    CHECK(task.wakes() == 1);
    CHECK_FALSE(task.step());
  }
  CHECK(task.wakes() == 2);  // the unlock handed the mutex to it
  CHECK(task.step());
  CHECK(owned);
  CHECK_FALSE(mutex.is_locked());
}

TEST_CASE("sync.a condvar wait with a predicate waits only while the predicate is false") {
  Mutex mutex;
  CondVar condvar;
  bool ready = true;
  bool owned = false;
  ManualTask at_once = wait_until_ready(mutex, condvar, ready, owned);
  CHECK(at_once.done());
  CHECK(owned);
  ready = false;
  owned = false;
  ManualTask waits = wait_until_ready(mutex, condvar, ready, owned);
  condvar.notify_all();  // still false: it waits again
  CHECK(waits.wakes() == 1);
  CHECK_FALSE(waits.step());
  CHECK(condvar.waiter_count() == 1);
  {
    MutexGuard guard = mutex.blocking_lock();
    ready = true;
  }
  condvar.notify_one();
  CHECK(waits.step());
  CHECK(owned);
}

TEST_CASE("sync.a notify_one that chose a cancelled condvar wait goes to the next waiter") {
  Mutex mutex;
  CondVar condvar;
  bool lost = false;
  bool owned = false;
  auto chosen = std::make_optional<ManualTask>(wait_once(mutex, condvar, lost));
  ManualTask next = wait_once(mutex, condvar, owned);
  condvar.notify_one();
  REQUIRE(chosen->wakes() == 1);
  chosen.reset();
  CHECK_FALSE(mutex.is_locked());  // the cancelled wait holds no lock
  CHECK(next.wakes() == 1);
  CHECK(next.step());
  CHECK(owned);
  CHECK_FALSE(lost);
}

TEST_CASE("sync.a condvar wait cancelled while it re-locks leaves the mutex consistent") {
  Mutex mutex;
  CondVar condvar;
  bool lost = false;
  auto task = std::make_optional<ManualTask>(wait_once(mutex, condvar, lost));
  std::optional<MutexGuard> held = mutex.try_lock();
  condvar.notify_one();
  CHECK_FALSE(task->step());  // notified; now queued on the mutex
  CHECK(mutex.waiter_count() == 1);
  SUBCASE("cancelled while queued on the mutex") {
    task.reset();
    CHECK(mutex.waiter_count() == 0);
    held.reset();
    CHECK_FALSE(mutex.is_locked());
  }
  SUBCASE("cancelled after the mutex was handed to it") {
    held.reset();
    CHECK(mutex.is_locked());
    task.reset();
    CHECK_FALSE(mutex.is_locked());
  }
  CHECK_FALSE(lost);
}

TEST_CASE("sync.producer and consumer threads hand over every item through condvars" *
          doctest::timeout(30)) {
  constexpr int kProducers = 2;
  constexpr int kConsumers = 2;
  constexpr int kItems = 10'000;  // per producer
  constexpr std::size_t kCapacity = 8;
  Mutex mutex;
  CondVar not_empty;
  CondVar not_full;
  std::deque<int> queue;  // guarded by mutex
  int producers_left = kProducers;
  std::atomic<std::int64_t> sum{0};
  std::atomic<int> count{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&] {
      for (int i = 1; i <= kItems; ++i) {
        MutexGuard guard = mutex.blocking_lock();
        not_full.blocking_wait(guard, [&] { return queue.size() < kCapacity; });
        queue.push_back(i);
        not_empty.notify_one();
      }
      MutexGuard guard = mutex.blocking_lock();
      if (--producers_left == 0) not_empty.notify_all();
    });
  }
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&] {
      for (;;) {
        MutexGuard guard = mutex.blocking_lock();
        not_empty.blocking_wait(guard, [&] { return !queue.empty() || producers_left == 0; });
        if (queue.empty()) return;
        const int item = queue.front();
        queue.pop_front();
        guard.unlock();
        not_full.notify_one();
        sum.fetch_add(item);
        count.fetch_add(1);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(count.load() == kProducers * kItems);
  CHECK(sum.load() == std::int64_t{kProducers} * kItems * (kItems + 1) / 2);
}

TEST_CASE("sync.a thread's notify wakes a task waiting on a condvar" * doctest::timeout(30)) {
  Mutex mutex;
  CondVar condvar;
  bool ready = false;
  bool owned = false;
  ManualTask task = wait_until_ready(mutex, condvar, ready, owned);
  std::thread notifier([&] {
    MutexGuard guard = mutex.blocking_lock();
    ready = true;
    condvar.notify_one();
  });
  notifier.join();
  CHECK(task.wakes() == 1);
  CHECK(task.step());
  CHECK(owned);
}

TEST_CASE("sync.a timed condvar wait returns false on timeout and holds the mutex again" *
          doctest::timeout(30)) {
  Mutex mutex;
  CondVar condvar;
  MutexGuard guard = mutex.blocking_lock();
  CHECK_FALSE(condvar.blocking_wait_for(guard, 10ms));
  CHECK(guard.owns_lock());
  CHECK(condvar.waiter_count() == 0);
  CHECK_FALSE(condvar.blocking_wait_for(guard, 10ms, [] { return false; }));
  CHECK(condvar.blocking_wait_for(guard, 10ms, [] { return true; }));
  CHECK(guard.owns_lock());
  std::thread notifier([&] {
    spin_until([&] { return condvar.waiter_count() == 1; });
    condvar.notify_one();
  });
  CHECK(condvar.blocking_wait_for(guard, 20s));
  CHECK(guard.owns_lock());
  notifier.join();
}

TEST_CASE("sync.an exception from a condvar predicate propagates with the mutex held") {
  Mutex mutex;
  CondVar condvar;
  bool held_at_throw = false;
  ManualTask task = [](Mutex& m, CondVar& cv, bool& held) -> ManualTask {
    MutexGuard guard = co_await m.lock();
    int calls = 0;
    try {
      co_await cv.wait(guard, [&calls] {
        if (++calls == 2) throw std::runtime_error("predicate failed");
        return false;
      });
    } catch (const std::runtime_error&) {
      held = guard.owns_lock() && m.is_locked();
    }
  }(mutex, condvar, held_at_throw);
  condvar.notify_one();
  CHECK(task.step());
  task.rethrow_if_failed();
  CHECK(held_at_throw);
  CHECK_FALSE(mutex.is_locked());
}

TEST_CASE("sync.a condvar wait needs a guard that owns its mutex") {
  CondVar condvar;
  MutexGuard empty;
  CHECK(error_code_of([&] { condvar.blocking_wait(empty); }) == ErrorCode::invalid_argument);
  CHECK(error_message_of([&] { (void)condvar.wait(empty); }) ==
        "CondVar::wait: the guard owns no lock (default-constructed, moved from or unlocked)");
  CHECK(error_message_of([&] { (void)condvar.blocking_wait_for(empty, 1ms); }) ==
        "CondVar::blocking_wait_until: the guard owns no lock (default-constructed, moved from "
        "or unlocked)");
  Mutex mutex;
  MutexGuard guard = mutex.blocking_lock();
  CHECK(error_code_of([&] { (void)condvar.blocking_wait_for(guard, -1ms); }) ==
        ErrorCode::invalid_argument);
  CHECK(guard.owns_lock());
}

// The idiom of a condvar on the waiter's side: wait under the mutex until a flag is set, unlock,
// then destroy the condvar and the mutex at once. That is a correct program when the notifier
// notifies while it holds the mutex: the waiter holds the mutex again only after the notifier's
// unlock handed it over, so by then the notify has returned and only that unlock may still be
// running. Under a sanitizer, an unlock touching the mutex after the waiter could lock it is a
// use after free. (A notifier that notifies after unlocking may still be inside notify_one when
// the waiter, having seen the flag, destroys the condvar: that program is wrong, and not raced
// here.) Raced: a blocking wait queued on the condvar before the notifier locks; a waiter
// racing the notifier for the mutex (it may find the flag set and not wait at all); and a wait
// polled again lock-free, whose re-lock has queued before the notifier unlocks.
TEST_CASE("sync.a waiter that saw the flag may destroy a condvar and its mutex once it unlocks" *
          doctest::timeout(120)) {
  struct Signal {
    Mutex mutex;
    CondVar condvar;
    bool ready = false;  // under mutex
  };
  const int rounds = troupe::testing::kSanitized ? 500 : 2000;
  const auto wait_then_destroy = [](Signal* signal) {
    MutexGuard guard = signal->mutex.blocking_lock();
    signal->condvar.blocking_wait(guard, [signal] { return signal->ready; });
    guard.unlock();
    delete signal;
  };
  const auto set_and_notify = [](Signal* signal) {
    MutexGuard guard = signal->mutex.blocking_lock();
    signal->ready = true;
    signal->condvar.notify_one();
  };  // the guard's unlock is this thread's last touch of the signal
  for (int round = 0; round < rounds; ++round) {
    auto* queued = new Signal();
    std::thread waiter(wait_then_destroy, queued);
    spin_until([&] { return queued->condvar.waiter_count() == 1; });  // it waits, unlocked
    set_and_notify(queued);
    waiter.join();

    auto* raced = new Signal();
    std::thread racer(wait_then_destroy, raced);
    set_and_notify(raced);
    racer.join();

    auto* polled = new Signal();
    std::thread poller([polled] {
      MutexGuard guard = polled->mutex.blocking_lock();
      {
        const troupe::WakerRef waker = HeapWaker::make();
        auto wait = polled->condvar.wait(guard, [polled] { return polled->ready; });
        poll_until_ready(wait.op(), *waker.get());
      }
      guard.unlock();
      delete polled;
    });
    spin_until([&] { return polled->condvar.waiter_count() == 1; });  // it waits, unlocked
    {
      MutexGuard guard = polled->mutex.blocking_lock();
      polled->ready = true;
      polled->condvar.notify_one();
      spin_until([&] { return polled->mutex.waiter_count() == 1; });  // its re-lock has queued
    }  // hands the mutex over: this thread's last touch of the signal
    poller.join();
  }
}
