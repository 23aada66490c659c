// Barrier: an arrival count and the open phase's waiters, all under one mutex; the completed
// phase number is also atomic so that a finished wait can see it without the lock.
#include <mutex>
#include <string>
#include <utility>

#include "troupe/channels/awaitable.hpp"
#include "troupe/channels/error.hpp"
#include "troupe/runtime/sync/barrier.hpp"

namespace troupe {
namespace {

std::int64_t checked_parties(std::int64_t parties) {
  if (parties <= 0) {
    throw Error(ErrorCode::invalid_argument, "Barrier: parties " + std::to_string(parties) +
                                                 " is not positive (a barrier " +
                                                 "needs at least one party)");
  }
  return parties;
}

}  // namespace

Barrier::Barrier(std::int64_t parties) : parties_(checked_parties(parties)) {}

std::pair<std::uint64_t, bool> Barrier::arrive() {
  detail::WakeBatch wakes;  // woken after the lock below is released
  detail::MutexLock lock(mutex_);
  const std::uint64_t phase = phase_.load(std::memory_order_relaxed);
  if (++arrived_ < parties_) return {phase, false};
  arrived_ = 0;
  // relaxed: for phase(), a snapshot. The waiters learn of the new phase under mutex_
  // (poll_wait) or from their entry's `done`, stored after the unlock (WakeBatch), so the
  // leader is done with the barrier before any of them can return.
  phase_.store(phase + 1, std::memory_order_relaxed);
  waiters_.complete_all(wakes, [](detail::SyncWaiter&) noexcept {});
  return {phase, true};
}

Awaitable<Barrier::WaitOp> Barrier::arrive_and_wait() {
  const auto [phase, leader] = arrive();
  return Awaitable<WaitOp>(std::in_place, *this, phase, leader);
}

bool Barrier::blocking_arrive_and_wait() {
  const auto [phase, leader] = arrive();
  WaitOp op(*this, phase, leader);
  return block_on_op(op);
}

bool Barrier::poll_wait(detail::SyncWaiter& waiter, std::uint64_t phase, Waker& waker) {
  detail::MutexLock lock(mutex_);
  return detail::poll_waiter(waiters_, waiter, &waker, [&] {
    return phase_.load(std::memory_order_relaxed) != phase;  // under mutex_, which orders it
  });
}

void Barrier::cancel_wait(detail::SyncWaiter& waiter) noexcept {
  detail::withdraw_waiter(mutex_, waiters_, waiter);  // the arrival stands
}

std::size_t Barrier::waiter_count() const {
  detail::MutexLock lock(mutex_);
  return waiters_.size();
}

}  // namespace troupe
