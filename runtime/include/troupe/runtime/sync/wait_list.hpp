// troupe/runtime/sync/wait_list.hpp — the waiter queue that every synchronization primitive of
// sync.hpp shares. Not API (namespace detail), but public because the waiting operations embed
// their queue entry and are returned by value.
//
// Each primitive owns a std::mutex and a WaiterList: an intrusive FIFO of SyncWaiter entries,
// one per waiting operation, living inside that operation (inside the awaiting coroutine's frame
// or the blocked thread's stack), so waiting never allocates. An entry is in one of three states:
//
//   idle    not in any queue; only its owner (the operation) touches it;
//   queued  linked into the primitive's list; its fields belong to the primitive's mutex;
//   done    completed by the primitive (lock granted, count reached, notified, ...): unlinked
//           again, and the owner's once more. The completing thread's release store of `done`
//           is its last access to the entry, so the owner may destroy it as soon as it sees it.
//
// Between queued and done an entry passes through a fourth state the owner never observes:
// *completing*, unlinked and held by a WakeBatch. A completion is decided under the mutex, but
// `done` is stored only after the mutex is released (WakeBatch::wake_all). So once an owner sees
// `done`, the completing thread has left the primitive for good: a waiter may destroy the
// primitive as soon as its wait returns ("wait, then destroy", the usual idiom for a one-shot
// Notify, Semaphore or Barrier). An owner that reads the state of a completing entry waits
// (spins, then yields) for the `done`, a few instructions away unless the completing thread
// was descheduled between its unlock and that store.
//
// The owner reads the state without the lock (an acquire load: a `done` it sees carries
// everything the completing thread did before). Every other transition happens under the
// primitive's mutex, so a cancellation (unlink) and a completion of the same entry are ordered
// by that mutex: exactly one of them finds it queued.
//
// Re-polling (the awaitable protocol in channels/awaitable.hpp) never leaves two registrations:
// a queued entry polled again keeps one WakerRef and only swaps the Waker it points to.
//
// Completed entries are marked done and their wakers woken after the mutex is released
// (WakeBatch), so a woken thread does not run into the lock its waker still holds, and the
// primitive is never touched after a waiter can see its wait complete. A WakeBatch chains its
// entries through their own links: it holds any number and never allocates.
//
// Thread-safety: WaiterList is guarded by its primitive's mutex (every member function needs
// it held). SyncWaiter::state() and done() may be called by the owner at any time.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>

#include "troupe/channels/detail/mutex.hpp"
#include "troupe/channels/waker.hpp"

namespace troupe::detail {

class WaiterList;
class WakeBatch;

// One waiting party's entry in a primitive's WaiterList. Embedded in the waiting operation.
class SyncWaiter {
 public:
  enum class State : std::uint8_t { idle, queued, done };

  SyncWaiter() noexcept = default;
  SyncWaiter(const SyncWaiter&) = delete;
  SyncWaiter& operator=(const SyncWaiter&) = delete;
  ~SyncWaiter() = default;

  // Owner, lock-free; or anyone under the primitive's mutex. A completing entry is reported
  // once it is done (see the file comment: this may wait a few instructions).
  [[nodiscard]] State state() const noexcept {
    // acquire: a `done` written by another thread (WakeBatch::wake_all, release) makes that
    // thread's writes visible before the owner acts on the completion.
    const std::uint8_t raw = state_.load(std::memory_order_acquire);
    return raw == kCompleting ? await_done() : static_cast<State>(raw);
  }
  [[nodiscard]] bool done() const noexcept { return state() == State::done; }
  [[nodiscard]] bool queued() const noexcept { return state() == State::queued; }
  [[nodiscard]] bool idle() const noexcept { return state() == State::idle; }

  // Owner only, on an idle or done entry that no one else refers to: completes it without a
  // queue (a fast path succeeded) or returns it to idle (its result was taken or given back).
  void set_done_by_owner() noexcept { set(State::done, std::memory_order_relaxed); }
  void reset() noexcept { set(State::idle, std::memory_order_relaxed); }

  // The primitive's per-waiter datum (permits still missing, how it was notified, ...).
  // Guarded by the primitive's mutex while queued; the owner's otherwise.
  std::int64_t value = 0;

 private:
  friend class WaiterList;
  friend class WakeBatch;

  // A State, or kCompleting: unlinked and held by a WakeBatch, which stores `done` next.
  static constexpr std::uint8_t kCompleting = 3;
  void set(State state, std::memory_order order) noexcept {
    state_.store(static_cast<std::uint8_t>(state), order);
  }
  // Waits out a completing entry (sync.cpp); returns State::done.
  [[nodiscard]] State await_done() const noexcept;

  std::atomic<std::uint8_t> state_{static_cast<std::uint8_t>(State::idle)};
  WakerRef waker_;              // holds a reference while queued; may be empty (nobody to wake)
  SyncWaiter* prev_ = nullptr;  // guarded by the primitive's mutex
  SyncWaiter* next_ = nullptr;  // guarded by the primitive's mutex; then a WakeBatch's link
};

// Entries completed under a primitive's mutex, marked done and woken when the batch is
// destroyed — declare it before the lock guard, so that the lock is released first, and touch
// nothing of the primitive after that (see the file comment). Never allocates. Owner thread
// only.
class WakeBatch {
 public:
  WakeBatch() noexcept = default;
  WakeBatch(const WakeBatch&) = delete;
  WakeBatch& operator=(const WakeBatch&) = delete;
  ~WakeBatch() { wake_all(); }

  // Under the primitive's mutex, for an entry already unlinked: it becomes completing, held by
  // this batch until wake_all.
  void complete(SyncWaiter& waiter) noexcept;
  // Marks each collected entry done (the last access to it), oldest first, and wakes its
  // waker. Also done by the destructor. Never under the primitive's mutex.
  void wake_all() noexcept;

 private:
  SyncWaiter* head_ = nullptr;  // completing entries, chained through their next_
  SyncWaiter* tail_ = nullptr;
};

// The FIFO of queued entries of one primitive. Guarded by that primitive's mutex.
class WaiterList {
 public:
  WaiterList() noexcept = default;
  WaiterList(const WaiterList&) = delete;
  WaiterList& operator=(const WaiterList&) = delete;

  [[nodiscard]] bool empty() const noexcept { return head_ == nullptr; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] SyncWaiter* front() const noexcept { return head_; }

  // Appends an idle `waiter`, registered with `waker` (null: nobody to wake yet); it becomes
  // queued.
  void push_back(SyncWaiter& waiter, Waker* waker) noexcept;
  // A queued `waiter` polled again: from now on `waker` (if not null) is its registration,
  // replacing the previous one.
  static void rearm(SyncWaiter& waiter, Waker* waker) noexcept;
  // Removes a queued `waiter`; it becomes idle (a cancellation).
  void unlink(SyncWaiter& waiter) noexcept;
  // Removes a queued `waiter` and completes it into `wakes`.
  void complete(SyncWaiter& waiter, WakeBatch& wakes) noexcept;
  // Completes every queued entry, oldest first, each after `before(entry)` (which may set the
  // entry's value).
  template <class Before>
  void complete_all(WakeBatch& wakes, Before&& before) noexcept {
    while (SyncWaiter* waiter = head_) {
      before(*waiter);
      complete(*waiter, wakes);
    }
  }

 private:
  void remove(SyncWaiter& waiter) noexcept;

  SyncWaiter* head_ = nullptr;  // oldest
  SyncWaiter* tail_ = nullptr;  // newest
  std::size_t size_ = 0;
};

// Under the primitive's mutex, the part of a poll that does not depend on the primitive: a
// done entry is complete (true); a queued one keeps `waker` registered (false); an idle one is
// the primitive's to decide (nullopt).
inline std::optional<bool> repoll(SyncWaiter& waiter, Waker* waker) noexcept {
  switch (waiter.state()) {
    case SyncWaiter::State::done:
      return true;
    case SyncWaiter::State::queued:
      WaiterList::rearm(waiter, waker);
      return false;
    case SyncWaiter::State::idle:
      break;
  }
  return std::nullopt;
}

// The poll step every waiting operation shares, called under the primitive's mutex (which
// guards `list`): a done entry completes (true); a queued one keeps `waker` registered (false);
// an idle one asks `ready()` and completes if it says so, else it is queued with `waker`
// (false).
template <class Ready>
bool poll_waiter(WaiterList& list, SyncWaiter& waiter, Waker* waker, Ready&& ready) {
  if (const std::optional<bool> known = repoll(waiter, waker)) return *known;
  if (ready()) {
    waiter.set_done_by_owner();
    return true;
  }
  list.push_back(waiter, waker);
  return false;
}

// Unlinks `waiter` if it is queued: the cancellation of a wait that consumes nothing. Takes
// `mutex`, which guards `list`, only if the waiter may be queued: an idle or done one is
// referred to by no one else.
inline void withdraw_waiter(PlainMutex& mutex, WaiterList& list, SyncWaiter& waiter) noexcept
    ABSL_NO_THREAD_SAFETY_ANALYSIS {  // `list` is guarded by `mutex`: the analysis cannot say so
  if (!waiter.queued()) return;
  MutexLock lock(mutex);
  if (waiter.queued()) list.unlink(waiter);
}

// Thrown by the timed blocking forms for a negative (or NaN) timeout.
[[noreturn]] void throw_negative_timeout(const char* what);

// The deadline `timeout` from now, saturating at time_point::max() ("forever"). Throws
// Error(invalid_argument) naming `what` for a negative timeout.
template <class Rep, class Period>
std::chrono::steady_clock::time_point sync_deadline(std::chrono::duration<Rep, Period> timeout,
                                                    const char* what) {
  using Clock = std::chrono::steady_clock;
  if (!(timeout >= timeout.zero())) throw_negative_timeout(what);  // negative, or NaN
  const Clock::time_point now = Clock::now();
  using Wide = std::chrono::duration<long double, std::nano>;
  if (Wide(timeout) >= Wide(Clock::time_point::max() - now)) return Clock::time_point::max();
  return now + std::chrono::ceil<Clock::duration>(timeout);  // never wait less than asked
}

}  // namespace troupe::detail
