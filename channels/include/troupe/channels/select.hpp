// troupe/channels/select.hpp — wait on several receivers at once.
//
//   // In a troupe coroutine (a task): suspends the task, not the thread.
//   switch (co_await troupe::select(jobs, control)) {   // index of a ready receiver
//     case 0: if (auto job = jobs.try_recv()) run(*job); break;
//     case 1: ...
//   }
//   auto r = co_await troupe::timeout(100ms, troupe::select(jobs, control));  // runtime/time.hpp
//
//   // On a plain thread: the same, blocking (tokio's names).
//   std::size_t i = troupe::blocking_select(jobs, control);
//   auto ready = troupe::blocking_select_for(100ms, jobs, control);   // Result<size_t, SelectError>
//
// A receiver is *ready* when try_recv would not fail with Empty: it has a message, or it is
// closed and drained (try_recv then says Closed — like Go, a closed channel is always ready).
// Because a Receiver has one owner, a ready receiver stays ready until its owner receives, so
// "select, then try_recv on the returned index" never races. When several are ready, the scan
// starts at a rotating position (one per select, per thread) so no receiver is starved. The
// index is 0-based, in argument order.
//
// Awaiting. select(rx...) returns an Awaitable (awaitable.hpp) of detail::SelectOp: nothing
// happens until it is awaited. It borrows the receivers, which must stay alive until the
// co_await completes (moving them meanwhile is fine). While it waits, the task's waker is the
// registered receiver waker of every one of the channels (each channel holds one, so polling
// again replaces them, never adds); the first send or close on any of them wakes the task.
// Completing, being cancelled (a timeout that expired, a task dropped while it waits) or being
// destroyed withdraws every registration, so the receivers carry on normally. The operation
// owns no message (a timeout may abandon it) and can be moved, e.g. into troupe::timeout.
//
// Blocking. blocking_select waits on the calling thread with the channels' idle policy: spin
// briefly, yield while a message is being written, then register the thread's Parker with every
// receiver and park; the first send or close wakes it. blocking_select_for gives up after a
// timeout (>= 0; negative throws Error(invalid_argument)).
//
// Thread-safety: the receivers must be owned by the selecting thread or task for the duration
// of the call or await (as for recv). A receiver may take part in one select (or recv) at a
// time: they share the channel's one receiver waker. The awaitable belongs to the coroutine
// that awaits it (Owner thread only). Errors: a moved-from or default-constructed receiver
// throws Error(invalid_handle) when the select is created.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <thread>
#include <utility>

#include "troupe/channels/awaitable.hpp"
#include "troupe/channels/channel.hpp"

namespace troupe {

enum class SelectError { timeout };

namespace detail {

// Type-erased view of one receiver's channel for the select loops. `park` registers the waker
// and re-checks by the channel's own protocol (Chan::park_receiver); withdrawing is
// ChanBase::deregister_receiver for every flavor.
struct SelectEntry {
  ChanBase* base;
  PopStatus (*poll)(ChanBase*);
  PopStatus (*park)(ChanBase*, Waker&);
};

template <class T>
SelectEntry select_entry(Receiver<T>& rx) {
  Chan<T>& chan = ChannelAccess::chan(rx);
  return {&chan, [](ChanBase* base) { return static_cast<Chan<T>*>(base)->poll(); },
          [](ChanBase* base, Waker& waker) {
            return static_cast<Chan<T>*>(base)->park_receiver(waker);
          }};
}

// Where a new select starts its scans (rotates per thread; in [0, count)).
std::size_t select_start(std::size_t count) noexcept;
// One scan from `start`: the index of a ready entry, or `count`. `pending` tells whether a
// message is being written right now (a sender claimed a slot and has not published it yet).
std::size_t select_scan(const SelectEntry* entries, std::size_t count, std::size_t start,
                        bool& pending);
// Registers `waker` as the receiver waker of every entry from `start`, each re-checking its
// channel (Chan::park_receiver): the index of an entry found ready, or `count`. `pending` tells
// whether a channel has a message being written (that channel was left unregistered: the
// message lands shortly and makes it ready). Registrations made stay, whatever the result: the
// caller withdraws them.
std::size_t select_park(const SelectEntry* entries, std::size_t count, std::size_t start,
                        Waker& waker, bool& pending);
// Withdraws every entry's receiver waker (no effect where a sender already took it).
void select_withdraw(const SelectEntry* entries, std::size_t count) noexcept;
// The poll step: the index of a ready entry, or `count` after registering `waker` with every
// entry and re-checking (the protocol in chan_base.hpp). A ready result may leave registrations
// behind (from this call or an earlier one): the caller withdraws them.
std::size_t select_poll(const SelectEntry* entries, std::size_t count, std::size_t start,
                        Waker& waker);
// The blocking loop: the index of a ready entry, or `count` once the deadline passed.
std::size_t select_ready(const SelectEntry* entries, std::size_t count,
                         Clock::time_point deadline);

// The PollOp (awaitable.hpp) behind `co_await select(rx...)`: take() yields the index of a
// ready receiver. ready_now is one scan; poll registers the waker with every channel (replacing
// an earlier poll's registrations) and re-checks. Completing after a poll, cancel and the
// destructor withdraw every registration. Movable: the registrations name the waker, not the
// operation. Owns no payload. Owner thread only; the receivers' channels must outlive it.
template <std::size_t N>
class SelectOp {
 public:
  explicit SelectOp(const std::array<SelectEntry, N>& entries) noexcept
      : entries_(entries), start_(select_start(N)) {}
  SelectOp(SelectOp&& other) noexcept
      : entries_(other.entries_),
        start_(other.start_),
        index_(other.index_),
        registered_(std::exchange(other.registered_, false)) {}
  SelectOp(const SelectOp&) = delete;
  SelectOp& operator=(const SelectOp&) = delete;
  SelectOp& operator=(SelectOp&&) = delete;
  ~SelectOp() { withdraw(); }

  bool ready_now() {
    bool pending = false;
    return completed(select_scan(entries_.data(), N, start_, pending));
  }
  bool poll(Waker& waker) {
    registered_ = true;  // select_poll may register any of them; withdraw() is harmless if not
    return completed(select_poll(entries_.data(), N, start_, waker));
  }
  void cancel(Waker& /*waker*/) noexcept { withdraw(); }
  [[nodiscard]] std::size_t take() const noexcept { return index_; }

 private:
  bool completed(std::size_t index) noexcept {
    if (index == N) return false;
    index_ = index;
    withdraw();
    return true;
  }
  void withdraw() noexcept {
    if (std::exchange(registered_, false)) select_withdraw(entries_.data(), N);
  }

  std::array<SelectEntry, N> entries_;
  std::size_t start_;
  std::size_t index_ = N;
  bool registered_ = false;  // a poll may have left the waker with the channels
};

}  // namespace detail

// Awaits a ready receiver among `receivers` and yields its index: `co_await select(a, b)`.
// The receivers are borrowed: keep them alive until the co_await completes.
template <class... T>
[[nodiscard]] Awaitable<detail::SelectOp<sizeof...(T)>> select(Receiver<T>&... receivers) {
  static_assert(sizeof...(T) > 0, "troupe::select needs at least one receiver");
  return Awaitable<detail::SelectOp<sizeof...(T)>>(
      std::in_place,
      std::array<detail::SelectEntry, sizeof...(T)>{detail::select_entry(receivers)...});
}

// The thread form of select: blocks the calling thread until one of `receivers` is ready;
// returns its index.
template <class... T>
[[nodiscard]] std::size_t blocking_select(Receiver<T>&... receivers) {
  static_assert(sizeof...(T) > 0, "troupe::blocking_select needs at least one receiver");
  const std::array<detail::SelectEntry, sizeof...(T)> entries{
      detail::select_entry(receivers)...};
  return detail::select_ready(entries.data(), entries.size(), detail::kForever);
}

// As blocking_select, but gives up after `timeout` (>= 0) with SelectError::timeout.
template <class Rep, class Period, class... T>
[[nodiscard]] Result<std::size_t, SelectError> blocking_select_for(
    std::chrono::duration<Rep, Period> timeout, Receiver<T>&... receivers) {
  static_assert(sizeof...(T) > 0, "troupe::blocking_select_for needs at least one receiver");
  const auto deadline = detail::deadline_after(timeout, "blocking_select_for");
  const std::array<detail::SelectEntry, sizeof...(T)> entries{
      detail::select_entry(receivers)...};
  const std::size_t index = detail::select_ready(entries.data(), entries.size(), deadline);
  if (index == entries.size()) return {failure, SelectError::timeout};
  return index;
}

}  // namespace troupe
