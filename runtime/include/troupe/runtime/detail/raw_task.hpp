// RawTask: the scheduler's view of one spawned task, whatever it computes. Not API.
//
// A RawTask is the task's Waker (channels, timers and locks wake it through that interface), the
// cell its JoinHandle waits on, and the node the scheduler queues. Typed subclasses
// (task.hpp: a coroutine; runtime.hpp: a blocking function) provide run(), the result and
// cancellation.
//
// The state word (scheduling):
//   kScheduled  the scheduler owns the task: it sits in a run queue or a worker is running it.
//   kNotified   woken while scheduled: the runner must poll again (it re-queues the task).
//   kComplete   finished (value, exception or cancelled); no more polls.
//   kCancel     cancellation requested; the next poll drops the coroutine instead of resuming.
// wake(): one CAS. From idle it sets kScheduled and the waker queues the task; while scheduled
// it sets kNotified. The runner ends every poll with one CAS: back to idle if nothing came in,
// or (kNotified / kCancel) it clears kNotified and re-queues. So a wake is never lost: it either
// schedules the task itself or is seen by the runner's closing CAS, and the CAS chain (acq_rel)
// makes the waker's writes visible to the next poll.
//
// Lifetime: reference counted through Waker. References are held by the scheduler (from spawn
// until completion), by the JoinHandle, and by every channel/timer/lock holding the task's
// waker. A queued task is covered by the scheduler's reference: it can't complete before it
// is run, and shutdown drains the queues before releasing anything.
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
#include "troupe/channels/waker.hpp"

namespace troupe::detail {

class Scheduler;

enum TaskState : std::uint32_t {
  kScheduled = 1u << 0,
  kNotified = 1u << 1,
  kComplete = 1u << 2,
  kCancel = 1u << 3,
};

// How a task ended, for its JoinHandle.
enum class Ending : std::uint8_t { running, value, exception, cancelled };

class RawTask : public Waker {
 public:
  RawTask() noexcept { context.waker = this; }

  // Waker: makes the task runnable. Any thread; never blocks.
  void wake() noexcept final;

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
    return (state.load(std::memory_order_acquire) & kComplete) != 0;
  }
  [[nodiscard]] bool cancel_requested() const noexcept {
    return (state.load(std::memory_order_relaxed) & kCancel) != 0;
  }

  // Marks the task complete and wakes its joiner. Called once, by whoever ran it last.
  void complete(Ending how) noexcept;

  // Join protocol (see the header comment). register_joiner returns true if already complete.
  bool register_joiner(Waker& waker) noexcept;
  void deregister_joiner() noexcept;

  AwaitContext context;             // the coroutine's suspension (owner: the running worker)
  Scheduler* scheduler = nullptr;   // set at spawn
  RawTask* next = nullptr;          // global-queue link (guarded by the queue's lock)
  RawTask* live_prev = nullptr;     // live-task registry links (guarded by the shard's lock)
  RawTask* live_next = nullptr;
  std::uint64_t id = 0;
  std::string name;                 // optional, for the shutdown report
  Ending ending = Ending::running;  // written before kComplete, read after is_complete()
  std::exception_ptr error;         // when ending == exception
  std::atomic<std::uint32_t> state{kScheduled};  // a new task is scheduled by spawn

 private:
  std::atomic<Waker*> joiner_{nullptr};  // holds a reference when set
};

}  // namespace troupe::detail
