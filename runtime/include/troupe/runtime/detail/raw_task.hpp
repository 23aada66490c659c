// RawTask: the scheduler's view of one spawned task, whatever it computes. Not API.
//
// A RawTask is the task's Waker (channels, timers and locks wake it through that interface), the
// cell its JoinHandle waits on, and the node the scheduler queues. Typed subclasses
// (task.hpp: a coroutine; runtime.hpp: a blocking function) provide run(), the result and
// cancellation.
//
// The task's word (Waker::word_) holds its reference count and, in the low bits, its state:
//   kScheduled  the scheduler owns the task: it sits in a run queue or a worker is running it.
//   kNotified   woken while scheduled: the runner must poll again (it re-queues the task).
//   kComplete   finished (value, exception or cancelled); no more polls.
//   kCancel     cancellation requested; the next poll drops the coroutine instead of resuming.
// wake(): one CAS. From idle it sets kScheduled (and takes the queue's reference, below) and
// the waker queues the task; while scheduled it sets kNotified. The runner ends every poll
// with one CAS: back to idle if nothing came in (dropping the queue's reference), or
// (kNotified / kCancel) it clears kNotified and re-queues. So a wake is never lost: it either
// schedules the task itself or is seen by the runner's closing CAS, and the CAS chain
// (acq_rel) makes the waker's writes visible to the next poll. Because count and state share
// the word, wake_and_release() (a channel handing over the waker it held) is one CAS too.
// One exception: a poll that ended by giving up its turn (awaitable.hpp, yield_turn) has no
// closing CAS. The task stays scheduled and is queued again as it is; a wake meanwhile only
// sets kNotified, seen by a later closing CAS (a spare poll). Its next poll therefore does not
// acquire through the word: every operation reads the state it waits on with its own acquire
// loads (channel stamps and tails, waiter entries, the actors' control flag), as always.
//
// References:
//   * the registry's, from spawn until completion (or the shutdown drain);
//   * the queue's, held exactly while kScheduled is set and the task is not complete — it
//     keeps a queued task alive whoever queued it, and the shutdown drain drops it for tasks
//     still queued when the workers stopped (a push refused by a closed queue leaves it too;
//     a wake_and_release from outside the workers still queueing the task is waited for
//     before the drain drops the last reference: Scheduler::enter_external_wake);
//   * the JoinHandle's, and one per channel/timer/lock holding the task's waker.
// A task retaining itself while it runs (registering its waker) draws on a reserve, `bank_`,
// paid into the count in blocks of kBankBlock: a plain decrement instead of a locked add. The
// word counts the unspent reserve as references, so it never undercounts; completion returns
// the rest. The reserve is touched only by the thread polling the task (polls are ordered by
// the CAS chain above) and by completion, on that same thread or after the workers stopped.
//
// Each task also holds a reference on its Scheduler (taken at spawn, given back when the task
// is destroyed), so a late wake from outside the runtime never touches a freed scheduler: the
// Scheduler is freed by the last of the Runtime and its tasks (scheduler.hpp).
//
// Joining: completion sets kComplete (seq_cst) and then takes the join waker (seq_cst
// exchange); a joiner stores its waker (seq_cst exchange) and then reads the state (seq_cst),
// so either the joiner sees the completion or the completer sees the joiner's waker.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <string>

#include "troupe/channels/awaitable.hpp"
#include "troupe/channels/byte_account.hpp"
#include "troupe/channels/waker.hpp"

namespace troupe::detail {

class Scheduler;
class DedicatedThread;
// Gives back a task's reference on its scheduler (scheduler.cpp).
void release_scheduler_ref(Scheduler* scheduler) noexcept;

enum TaskState : std::uint64_t {
  kScheduled = 1u << 0,
  kNotified = 1u << 1,
  kComplete = 1u << 2,
  kCancel = 1u << 3,
};

// How a task ended, for its JoinHandle.
enum class Ending : std::uint8_t { running, value, exception, cancelled };

class RawTask;

namespace test_hooks {
// Called, when set, by a wake_and_release from outside the task's workers between its CAS
// from idle and queueing the task: the window the shutdown drain must not free the task in.
// For tests only (test_runtime); null otherwise, which costs such a wake one relaxed load.
inline std::atomic<void (*)(RawTask*)> external_wake_queuing{nullptr};
// Called, when set, by a deterministic runtime's drive between its check of `stopping` and
// its attempt at the driver's lock; and by shutdown() while it holds that lock (having set
// `stopping`). Together they open the window in which a drive that began before shutdown
// finds the lock taken. For tests only (test_deterministic); one relaxed load each otherwise.
inline std::atomic<void (*)()> drive_checked_stopping{nullptr};
inline std::atomic<void (*)()> shutdown_holding_drive_lock{nullptr};
}  // namespace test_hooks

// The task the calling worker is polling, or nullptr (set by the scheduler around each poll).
inline thread_local RawTask* tls_polled_task = nullptr;

class RawTask : public Waker {
 public:
  // A new task has two references (the registry's and the queue's: spawn queues it) and is
  // scheduled; launch adds the JoinHandle's.
  RawTask() noexcept {
    context.waker = this;
    word_.store(2 * kRefOne | kScheduled, std::memory_order_relaxed);
  }

  // Waker: makes the task runnable. Any thread; never blocks.
  void wake() noexcept final;
  void wake_and_release() noexcept final;
  void retain() noexcept final {
    if (tls_polled_task == this) {
      if (bank_ == 0) {
        add_refs(kBankBlock);
        bank_ = kBankBlock;
      }
      --bank_;
      return;
    }
    add_refs(1);
  }

  // Polls the task once on the current worker: resumes the coroutine (or runs the function)
  // until it suspends or completes. Returns true when the task completed.
  virtual bool run() = 0;
  // Cancels a task that has not completed: withdraws its pending operation and destroys its
  // frames (or marks a blocking job as not to be run). Runs on the thread that would poll it.
  virtual void drop() noexcept = 0;

  // Requests cancellation: the task is dropped at its next await point (or before it starts).
  void request_cancel() noexcept;
  [[nodiscard]] bool is_complete() const noexcept {
    // acquire: the task's result, written before kComplete was set, is visible after this.
    return (word_.load(std::memory_order_acquire) & kComplete) != 0;
  }
  [[nodiscard]] bool cancel_requested() const noexcept {
    return (word_.load(std::memory_order_relaxed) & kCancel) != 0;
  }

  // Ends a poll that did not complete the task (the runner's closing CAS, see above). Returns
  // true if the task must be queued again (woken meanwhile, cancelled, or `yield`ing).
  bool end_poll(bool yield) noexcept;

  // Marks the task complete, wakes its joiner and drops the registry's and queue's references
  // (and the unspent reserve). Called once, by whoever ran it last; may destroy the task.
  void complete(Ending how) noexcept;
  // The shutdown drain's completion of a task that never finished (see above). The caller
  // still holds one reference, which it releases once no wake from outside the workers may be
  // reading the task (Scheduler::await_external_wakes).
  void complete_abandoned() noexcept;
  // Drops a reference that was never counted as taken from a task queue: a task that could
  // not be spawned at all (its registry and queue references).
  void discard_unspawned() noexcept { release_refs(2); }

  // Join protocol (see the header comment). register_joiner returns true if already complete.
  bool register_joiner(Waker& waker) noexcept;
  void deregister_joiner() noexcept;

  AwaitContext context;             // the coroutine's suspension (owner: the running worker)
  Scheduler* scheduler = nullptr;   // set at spawn; the task holds a reference on it
  DedicatedThread* home = nullptr;  // its own thread (SpawnOptions::dedicated_thread), or null
  RawTask* next = nullptr;          // global-queue link (guarded by the queue's lock)
  RawTask* live_prev = nullptr;     // live-task registry links (guarded by the shard's lock)
  RawTask* live_next = nullptr;
  std::uint64_t id = 0;
  std::string name;                 // optional, for the shutdown report
  ByteAccount* byte_account = nullptr;  // SpawnOptions::byte_account (a reference), or null
  Ending ending = Ending::running;  // written before kComplete, read after is_complete()
  // Polled at least once (set by the worker that polls it first). relaxed: a hint for the
  // order a worker takes its queued tasks in; read only by a worker that may take the task.
  std::atomic<bool> started{false};
  std::exception_ptr error;         // when ending == exception

 protected:
  void destroy() noexcept final;

 private:
  static constexpr std::uint64_t kBankBlock = 1u << 16;
  void wake_joiner() noexcept;
  // Queues the task that a wake from outside the owner's workers just took from idle to
  // scheduled (the wake counts itself in flight until it returns).
  void queue_woken_externally(Scheduler* owner) noexcept;

  std::uint64_t bank_ = 0;               // the reserve (see above); owner: the polling thread
  std::atomic<Waker*> joiner_{nullptr};  // holds a reference when set
};

}  // namespace troupe::detail
