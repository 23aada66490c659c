// detail/mutex.hpp — std::mutex as clang's thread-safety analysis sees it.
//
// troupe's locks are plain std::mutex (measured: its uncontended path is one CAS, and it works
// with std::condition_variable). libstdc++ does not annotate std::mutex, so clang's
// -Wthread-safety could not check which fields a lock guards. These thin wrappers carry the
// Abseil annotations (absl/base/thread_annotations.h) and add no state and no work:
//
//   detail::PlainMutex mutex_;
//   int count_ ABSL_GUARDED_BY(mutex_) = 0;
//   void bump() { detail::MutexLock lock(mutex_); ++count_; }          // checked
//   void wait() { detail::UniqueLock lock(mutex_);                     // relockable
//                 cv_.wait(lock.native(), [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
//                   return count_ > 0; }); }
//
// `scripts/check` builds the libraries with clang -Wthread-safety -Werror; under g++ the
// annotations expand to nothing.
//
// Thread-safety: PlainMutex is a std::mutex (same guarantees: lock() acquires, unlock() releases,
// so everything written under it is visible to the next holder). MutexLock and UniqueLock
// belong to the thread that made them, like std::lock_guard and std::unique_lock.
//
// PlainMutex, not Mutex: troupe::Mutex is the runtime's asynchronous mutex (sync/mutex.hpp).
// SpinMutex (below) is the exception to "plain std::mutex", for the locks that every spawn and
// exit takes: the live-task and live-actor lists and the actor cell's.
#pragma once

#include <absl/base/thread_annotations.h>

#include <atomic>
#include <mutex>

#include "troupe/channels/detail/config.hpp"
#include "troupe/channels/detail/wait_out.hpp"

// Abseil's ABSL_UNLOCK_FUNCTION is clang's generic `unlock_function`, which clang 14 does not
// accept for a scope that releases a lock and takes it back (Unlocked, below); the newer
// `release_capability` it does.
#if defined(__clang__)
#define TROUPE_RELEASE_CAPABILITY(...) __attribute__((release_capability(__VA_ARGS__)))
#else
#define TROUPE_RELEASE_CAPABILITY(...)
#endif

namespace troupe::detail {

class ABSL_LOCKABLE PlainMutex {
 public:
  constexpr PlainMutex() noexcept = default;
  PlainMutex(const PlainMutex&) = delete;
  PlainMutex& operator=(const PlainMutex&) = delete;

  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mutex_.lock(); }
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) { return mutex_.try_lock(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { mutex_.unlock(); }
  // Tells the analysis the calling thread holds this (where it cannot see why: a callback
  // invoked under the lock). No run-time check.
  void assert_held() const ABSL_ASSERT_EXCLUSIVE_LOCK() {}

 private:
  friend class UniqueLock;
  std::mutex mutex_;
};

// A lock for critical sections of a few instructions that almost never meet another thread:
// the live-task and live-actor lists, linked and unlinked at every spawn and exit, and the
// actor cell's lock. Taking it is one exchange and releasing it one plain store, where
// std::mutex pays a locked instruction for each (and a call into libpthread): on this
// project's 2-core VM the six mutex pairs of an actor's spawn and exit were 17% of
// `load skynet --style actor` (perf, BENCHMARKS.md). A
// waiter spins briefly, then yields the core (the holder may have been descheduled); it never
// sleeps, so hold it only for bounded work: a link or an unlink, or a walk of the list (a
// listing, the shutdown report: rare) — never across a wait or a user callback.
// Thread-safety: lock() acquires and unlock() releases (what the holder wrote is visible to
// the next), as any mutex; no condition variable waits on it.
class ABSL_LOCKABLE SpinMutex {
 public:
  constexpr SpinMutex() noexcept = default;
  SpinMutex(const SpinMutex&) = delete;
  SpinMutex& operator=(const SpinMutex&) = delete;

  void lock() noexcept ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    // acquire: the previous holder's writes under the lock happen-before ours.
    while (locked_.exchange(true, std::memory_order_acquire)) {
      // Wait on plain loads (no locked instruction while the line is the holder's).
      wait_out([this] { return locked_.load(std::memory_order_relaxed); });
    }
  }
  bool try_lock() noexcept ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    // acquire: as lock().
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  // release: publishes the writes made under the lock to the next holder.
  void unlock() noexcept ABSL_UNLOCK_FUNCTION() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

// std::lock_guard for PlainMutex or SpinMutex: held from construction to destruction.
template <class M>
class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(M& mutex) ABSL_EXCLUSIVE_LOCK_FUNCTION(mutex) : mutex_(mutex) {
    mutex_.lock();
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mutex_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  M& mutex_;
};

// std::unique_lock for PlainMutex: may be released and taken again (unlock()/lock()), and hands
// condition variables the std::unique_lock they wait with (native()). A wait releases and
// retakes the mutex inside; the analysis treats it as held throughout, which is what the
// code around the wait sees.
class ABSL_SCOPED_LOCKABLE UniqueLock {
 public:
  explicit UniqueLock(PlainMutex& mutex) ABSL_EXCLUSIVE_LOCK_FUNCTION(mutex) : lock_(mutex.mutex_) {}
  // Taken already by the caller (mutex.try_lock()): this scope releases it.
  UniqueLock(PlainMutex& mutex, std::adopt_lock_t) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex)
      : lock_(mutex.mutex_, std::adopt_lock) {}
  // Not taken yet: lock() or lock_spinning() takes it.
  UniqueLock(PlainMutex& mutex, std::defer_lock_t) ABSL_LOCKS_EXCLUDED(mutex)
      : lock_(mutex.mutex_, std::defer_lock) {}
  ~UniqueLock() ABSL_UNLOCK_FUNCTION() = default;
  UniqueLock(const UniqueLock&) = delete;
  UniqueLock& operator=(const UniqueLock&) = delete;

  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { lock_.lock(); }
  void unlock() ABSL_UNLOCK_FUNCTION() { lock_.unlock(); }
  // lock(), trying `tries` times first without sleeping: for a mutex whose critical sections
  // are far shorter than a futex sleep and wake (tens of microseconds on a virtual machine).
  void lock_spinning(int tries) ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    for (int i = 0; i < tries; ++i) {
      if (lock_.try_lock()) return;
      cpu_relax();
    }
    lock_.lock();
  }
  [[nodiscard]] bool owns_lock() const noexcept { return lock_.owns_lock(); }
  // For std::condition_variable::wait / wait_for / wait_until.
  [[nodiscard]] std::unique_lock<std::mutex>& native() noexcept { return lock_; }

 private:
  std::unique_lock<std::mutex> lock_;
};

// The inverse of a lock: releases a UniqueLock the caller holds for one scope, and takes it
// back at the scope's end (lock_spinning(relock_tries)). For code that runs user callbacks or
// wakes other threads without the lock, in a function that was handed the lock:
//   void Pool::run_locked(detail::UniqueLock& lock) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
//     { detail::Unlocked unlocked(lock, mutex_); job->run(); }   // mutex_ is free in here
//   }
// `mutex` must be the mutex `lock` holds: the analysis cannot see through the reference.
class ABSL_SCOPED_LOCKABLE Unlocked {
 public:
  Unlocked(UniqueLock& lock, [[maybe_unused]] PlainMutex& mutex, int relock_tries = 0)
      TROUPE_RELEASE_CAPABILITY(mutex) ABSL_NO_THREAD_SAFETY_ANALYSIS : lock_(lock),
                                                                        tries_(relock_tries) {
    lock_.unlock();
  }
  ~Unlocked() TROUPE_RELEASE_CAPABILITY() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    lock_.lock_spinning(tries_);
  }
  Unlocked(const Unlocked&) = delete;
  Unlocked& operator=(const Unlocked&) = delete;

 private:
  UniqueLock& lock_;
  int tries_;
};

}  // namespace troupe::detail
