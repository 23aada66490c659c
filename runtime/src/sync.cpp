// The waiter queue shared by the primitives of troupe/runtime/sync.hpp (see
// sync/wait_list.hpp for the states of an entry and who may touch it when).
#include <string>
#include <thread>
#include <utility>

#include "troupe/channels/detail/config.hpp"
#include "troupe/channels/detail/wait_out.hpp"
#include "troupe/channels/error.hpp"
#include "troupe/runtime/sync/wait_list.hpp"

namespace troupe::detail {

SyncWaiter::State SyncWaiter::await_done() const noexcept {
  // acquire: as state(). The completing thread is past the primitive's mutex and a few
  // instructions from its store, unless it was descheduled there.
  wait_out([this] { return state_.load(std::memory_order_acquire) == kCompleting; });
  return State::done;
}

void WakeBatch::complete(SyncWaiter& waiter) noexcept {
  // relaxed: under the primitive's mutex, like `queued`; an owner that reads it waits for the
  // release store of `done` (wake_all) and acts on nothing before that.
  waiter.state_.store(SyncWaiter::kCompleting, std::memory_order_relaxed);
  waiter.next_ = nullptr;
  (tail_ != nullptr ? tail_->next_ : head_) = &waiter;
  tail_ = &waiter;
}

void WakeBatch::wake_all() noexcept {
  while (SyncWaiter* waiter = head_) {
    head_ = waiter->next_;
    waiter->next_ = nullptr;
    Waker* waker = waiter->waker_.leak();  // the batch now holds the waiter's reference
    // release: publishes what the completing thread did (and, through the primitive's mutex,
    // what the threads before it did) to the owner's acquire load in SyncWaiter::state(). The
    // last access to `waiter`: the owner may destroy it, and the primitive, once it sees it.
    waiter->set(SyncWaiter::State::done, std::memory_order_release);
    if (waker != nullptr) waker->wake_and_release();
  }
  tail_ = nullptr;
}

void WaiterList::push_back(SyncWaiter& waiter, Waker* waker) noexcept {
  waiter.waker_ = WakerRef::share(waker);
  waiter.prev_ = tail_;
  waiter.next_ = nullptr;
  (tail_ != nullptr ? tail_->next_ : head_) = &waiter;
  tail_ = &waiter;
  ++size_;
  // relaxed: the owner reads `queued` only to learn that it must not complete on its own;
  // nothing is published through it (the entry's fields belong to the mutex from here on).
  waiter.set(SyncWaiter::State::queued, std::memory_order_relaxed);
}

void WaiterList::rearm(SyncWaiter& waiter, Waker* waker) noexcept {
  if (waker != nullptr && waiter.waker_.get() != waker) waiter.waker_ = WakerRef::share(waker);
}

void WaiterList::remove(SyncWaiter& waiter) noexcept {
  (waiter.prev_ != nullptr ? waiter.prev_->next_ : head_) = waiter.next_;
  (waiter.next_ != nullptr ? waiter.next_->prev_ : tail_) = waiter.prev_;
  waiter.prev_ = waiter.next_ = nullptr;
  --size_;
}

void WaiterList::unlink(SyncWaiter& waiter) noexcept {
  remove(waiter);
  waiter.waker_ = WakerRef();
  // relaxed: an unlinked entry is idle, the owner's alone (it is the owner that cancels).
  waiter.set(SyncWaiter::State::idle, std::memory_order_relaxed);
}

void WaiterList::complete(SyncWaiter& waiter, WakeBatch& wakes) noexcept {
  remove(waiter);
  wakes.complete(waiter);
}

void throw_negative_timeout(const char* what) {
  throw Error(ErrorCode::invalid_argument,
              std::string(what) + ": timeout is negative (or not a number)");
}

}  // namespace troupe::detail
