#include "troupe/channels/detail/chan_base.hpp"

#include <algorithm>
#include <thread>

#include "troupe/channels/detail/wait_out.hpp"

namespace troupe::detail {

void ChanBase::register_receiver(Waker& waker) noexcept {
  waker.retain();
  // seq_cst: see the wake protocol in chan_base.hpp.
  Waker* previous = rx_waker_.exchange(&waker, std::memory_order_seq_cst);
  if (previous != nullptr) previous->release();
  // The heavy side of the asymmetric pair: the caller's re-check comes after it (chan_base.hpp).
  if (publish_fence_ == PublishFence::light) heavy_fence();
}

void ChanBase::withdraw_receiver() noexcept {
  if (publish_fence_ == PublishFence::park_bit) {
    // The registration is ours again only if the park bit still is; otherwise the sender or
    // closer that took the bit nulls the slot and wakes the waker: hands off (chan_base.hpp).
    if (unpark_receiver()) take_back_receiver();
    return;
  }
  // acq_rel: taking the reference back must not be reordered with the registration.
  if (Waker* mine = rx_waker_.exchange(nullptr, std::memory_order_acq_rel)) mine->release();
}

void ChanBase::await_receiver_slot() noexcept {
  // The owner of the previous registration took the park bit and is between its tail CAS and
  // its null store (writing its message): a few instructions unless it was descheduled, hence
  // a short spin, then yielding the core to it.
  // acquire: pairs with wake_parked_receiver's release store of null.
  wait_out([this] { return rx_waker_.load(std::memory_order_acquire) != nullptr; });
}

void ChanBase::take_and_wake_receiver() noexcept {
  // acquire: see the receiver's writes before the registration (the waker it stored).
  if (Waker* waker = rx_waker_.exchange(nullptr, std::memory_order_acquire)) {
    waker->wake_and_release();
  }
}

void ChanBase::register_sender(Waker& waker) {
  waker.retain();
  {
    MutexLock lock(tx_mutex_);
    tx_waiters_.push_back(&waker);
  }
  // seq_cst RMW, then the heavy side of the asymmetric fence: see chan_base.hpp.
  tx_waiting_.fetch_add(1, std::memory_order_seq_cst);
  heavy_fence();
}

bool ChanBase::deregister_sender(Waker& waker) noexcept {
  MutexLock lock(tx_mutex_);
  auto it = std::find(tx_waiters_.begin(), tx_waiters_.end(), &waker);
  if (it == tx_waiters_.end()) return false;
  tx_waiters_.erase(it);
  tx_waiting_.fetch_sub(1, std::memory_order_relaxed);
  waker.release();
  return true;
}

void ChanBase::wake_one_sender() noexcept {
  Waker* waker = nullptr;
  {
    MutexLock lock(tx_mutex_);
    if (tx_waiters_.empty()) return;
    waker = tx_waiters_.front();  // FIFO: the longest-waiting sender goes first
    tx_waiters_.erase(tx_waiters_.begin());
    tx_waiting_.fetch_sub(1, std::memory_order_relaxed);
  }
  waker->wake_and_release();
}

void ChanBase::wake_all_senders() noexcept {
  // Called after the close's read-modify-write. light fence: as in slot_freed, it pairs with
  // register_sender's heavy fence — either we see the sender counted, or the sender's re-check
  // after registering sees the close. So a close with nobody waiting takes no lock.
  light_fence();
  if (tx_waiting_.load(std::memory_order_relaxed) == 0) return;
  std::vector<Waker*> all;
  {
    MutexLock lock(tx_mutex_);
    all.swap(tx_waiters_);
    tx_waiting_.store(0, std::memory_order_relaxed);
  }
  for (Waker* waker : all) {
    waker->wake_and_release();
  }
}

}  // namespace troupe::detail
