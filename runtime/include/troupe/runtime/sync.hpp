// troupe/runtime/sync.hpp — synchronization primitives for tasks and threads: Mutex (with
// MutexGuard), Semaphore (with SemaphorePermit), Latch, Barrier, Notify and CondVar; and
// wait_async_i32 / wait_async_i64, Atomics.waitAsync on a SharedBuffer word (a task waits for a
// notify_i32 / notify_i64 of that word in the queue that blocked wait_i32 threads share).
//
// Use these when tasks share memory; prefer channels when they can share messages instead.
// Unlike std::mutex and friends they never block a runtime worker: a task that must wait
// suspends (co_await), and the thread that runs it goes on with other tasks. Plain threads use
// the same objects through the blocking forms, so tasks and threads can share one primitive.
//
// Naming (as in tokio and troupe's channels):
//   m.lock(), s.acquire(n), l.wait(), b.arrive_and_wait(), n.notified(), cv.wait(guard)
//        awaitable: `co_await` it in a task (runtime::Task, or any coroutine whose promise
//        exposes an AwaitContext — see channels/awaitable.hpp);
//   blocking_lock(), blocking_acquire(n), blocking_wait(), blocking_arrive_and_wait(), ...
//        wait on the calling thread (spin briefly, then park its Parker);
//   try_lock(), try_acquire(n), try_wait()
//        never wait;
//   blocking_..._for(timeout) / blocking_..._until(deadline)
//        give up at the deadline (a negative timeout throws Error(invalid_argument)).
//
// Shared design (see sync/wait_list.hpp): each primitive has a std::mutex and an intrusive FIFO
// of waiter entries embedded in the waiting operations (no allocation), plus a lock-free fast
// path where it is cheap — an uncontended Mutex lock or unlock, a Semaphore acquire or release,
// a Latch count_down, a notify_one without waiters: one CAS each. Waiters are served oldest
// first. Wakers are woken after the internal lock is released.
//
// Cancellation. Every waiting operation may be cancelled while it waits — its task is cancelled
// (the operation's cancel(), then its destruction), or a timed blocking form reaches its
// deadline — and leaves the primitive consistent: a Mutex handed to a waiter that is cancelled
// in the same instant passes to the next waiter or becomes free; permits granted or reserved
// for a cancelled Semaphore acquire go back; a notify_one that chose a cancelled waiter goes to
// the next one. Each header says what its cancellation does.
//
// Errors. Misuse throws troupe::Error whose message names the bad value: a negative count or
// one over the limit, a Latch counted below zero, a Barrier of no parties, a CondVar wait with
// a guard that owns no lock. Timeouts are values (false / nullopt), never exceptions.
//
// Every header states its type's thread-safety and memory ordering in happens-before terms.
#pragma once

#include "troupe/runtime/sync/barrier.hpp"
#include "troupe/runtime/sync/condvar.hpp"
#include "troupe/runtime/sync/latch.hpp"
#include "troupe/runtime/sync/mutex.hpp"
#include "troupe/runtime/sync/notify.hpp"
#include "troupe/runtime/sync/semaphore.hpp"
#include "troupe/runtime/sync/wait_async.hpp"
