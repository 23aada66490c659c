// troupe/channels/waker.hpp — how a waiting party is woken, without channels knowing who waits.
//
// A receiver with nothing to receive, or a sender facing a full channel, registers a Waker with
// the channel and stops; whoever changes the channel's state wakes it. The channels layer only
// sees this interface, so one channel type serves a blocked OS thread (Parker, below), a
// suspended coroutine and an idle actor (both supplied by troupe::runtime) alike — the role of
// Rust's core::task::Waker.
//
// Contract for implementations:
//  * wake() may be called from any thread, any number of times, and also after the waiter has
//    stopped waiting: wakes may be spurious, and every waiter re-checks its condition.
//  * Wakers are reference counted (intrusively). Whoever stores a Waker* for later use holds a
//    reference (retain) and drops it (release) when done, so a late wake never touches freed
//    memory. WakerRef does this bookkeeping. Whoever wakes a waker and drops its reference at
//    the same time calls wake_and_release(), which an implementation may do in one atomic step.
//
// Memory ordering: wake() is a release operation and the matching return from a wait is an
// acquire: everything the waking thread did before wake() is visible to the woken party.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <utility>

namespace troupe {

class Waker {
 public:
  Waker() = default;
  Waker(const Waker&) = delete;
  Waker& operator=(const Waker&) = delete;

  // Makes the waiter runnable again. Thread-safe. Never blocks, never throws.
  virtual void wake() noexcept = 0;
  // wake(), then release() of one reference the caller holds. Thread-safe. The runtime's tasks
  // do both in one compare-and-swap (the count shares a word with their scheduling state).
  virtual void wake_and_release() noexcept {
    wake();
    release();
  }

  // Takes a reference. Thread-safe. A new Waker starts with one reference. Virtual so that an
  // implementation can hand out references from a private reserve (a runtime task retaining
  // itself while it runs does so without a locked instruction).
  virtual void retain() noexcept { add_refs(1); }
  // Drops a reference; the last one calls destroy(). Thread-safe.
  void release() noexcept { release_refs(1); }

 protected:
  virtual ~Waker() = default;
  // Called when the last reference is released. Default: delete this.
  virtual void destroy() noexcept { delete this; }

  // The reference count lives in the bits of `word_` from kRefShift up; the low bits belong to
  // the implementation (the runtime's tasks keep their scheduling state there).
  static constexpr unsigned kRefShift = 8;
  static constexpr std::uint64_t kRefOne = std::uint64_t{1} << kRefShift;
  static constexpr std::uint64_t kLowBits = kRefOne - 1;

  void add_refs(std::uint64_t n) noexcept {
    // relaxed: taking a reference needs one already held, which keeps the object alive.
    word_.fetch_add(n * kRefOne, std::memory_order_relaxed);
  }
  void release_refs(std::uint64_t n) noexcept {
    // acq_rel: the thread that drops the last reference must see every other holder's writes
    // before destroy() runs.
    if ((word_.fetch_sub(n * kRefOne, std::memory_order_acq_rel) >> kRefShift) == n) destroy();
  }

  std::atomic<std::uint64_t> word_{kRefOne};
};

// An owning reference to a Waker: copy retains, destruction releases. Not thread-safe per
// object (like std::shared_ptr, distinct WakerRefs to one Waker may be used concurrently).
class WakerRef {
 public:
  WakerRef() noexcept = default;
  // Adopts one reference that the caller already holds.
  static WakerRef adopt(Waker* waker) noexcept { return WakerRef(waker); }
  // Takes a new reference.
  static WakerRef share(Waker* waker) noexcept {
    if (waker != nullptr) waker->retain();
    return WakerRef(waker);
  }
  WakerRef(const WakerRef& other) noexcept : waker_(other.waker_) {
    if (waker_) waker_->retain();
  }
  WakerRef(WakerRef&& other) noexcept : waker_(std::exchange(other.waker_, nullptr)) {}
  WakerRef& operator=(WakerRef other) noexcept {
    std::swap(waker_, other.waker_);
    return *this;
  }
  ~WakerRef() {
    if (waker_) waker_->release();
  }

  [[nodiscard]] Waker* get() const noexcept { return waker_; }
  // Gives up ownership of the reference without releasing it.
  [[nodiscard]] Waker* leak() noexcept { return std::exchange(waker_, nullptr); }
  explicit operator bool() const noexcept { return waker_ != nullptr; }
  void wake() const noexcept {
    if (waker_) waker_->wake();
  }
  // Wakes and gives up the reference in one step (Waker::wake_and_release); empty afterwards.
  void wake_and_reset() noexcept {
    if (waker_) std::exchange(waker_, nullptr)->wake_and_release();
  }

 private:
  explicit WakerRef(Waker* waker) noexcept : waker_(waker) {}
  Waker* waker_ = nullptr;
};

// Parker: the Waker of a blocked OS thread (the analogue of std::thread::park in Rust).
//
// Each thread has one, `Parker::current()`. park() blocks the calling thread until wake() has
// been called since the last return from park() — a wake that comes first is remembered (one
// token, not a count), so wake-before-park loses nothing. Spurious returns are possible.
//
// Thread-safety: park()/park_until() only from the owning thread; wake() from any thread.
// Memory ordering: everything a thread did before wake() happens-before the return of the
// park() call that consumes that wake.
// Cost: parking is a futex wait, waking a parked thread a futex wake (tens of microseconds on a
// virtual machine); callers spin briefly first (SpinWait) so that most waits never park.
class Parker final : public Waker {
 public:
  // The calling thread's Parker, created on first use and kept alive by the thread (and by
  // every reference a channel holds) until no one refers to it.
  static Parker& current();

  void park() noexcept;
  // Returns true if woken (possibly spuriously), false once the deadline passed.
  bool park_until(std::chrono::steady_clock::time_point deadline) noexcept;
  void wake() noexcept override;

 private:
  Parker() = default;
  friend struct ParkerAccess;
  std::atomic<std::uint32_t> state_{0};  // kEmpty, kNotified or kParked (see parker.cpp)
};

// SpinWait: the idle policy of one waiting loop — spin briefly with a CPU pause, then yield the
// core a number of times, then tell the caller to park. Waking a parked thread on another core
// costs tens of microseconds here, so most waits should end before parking; and when the thread
// we wait for shares our core (the scheduler often starts two new threads on one core), only
// yielding lets it run, so the pure spin phase is kept short (~2 us).
// Owner thread only; never allocates.
class SpinWait {
 public:
  // One step of waiting. Returns false once the caller should park instead.
  bool spin() noexcept;
  void reset() noexcept { step_ = 0; }

  static constexpr std::uint32_t kSpinSteps = 64;   // each one CPU pause: ~2 us in all
  static constexpr std::uint32_t kYieldSteps = 16;  // each a sched_yield (~0.5 us when alone)

 private:
  std::uint32_t step_ = 0;
};

}  // namespace troupe
