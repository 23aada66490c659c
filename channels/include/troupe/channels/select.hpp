// troupe/channels/select.hpp — wait on several receivers at once.
//
//   switch (troupe::select(jobs, control)) {        // index of a ready receiver
//     case 0: if (auto job = jobs.try_recv()) run(*job); break;
//     case 1: ...
//   }
//   auto ready = troupe::select_for(100ms, jobs, control);   // Result<size_t, SelectError>
//
// A receiver is *ready* when try_recv would not fail with Empty: it has a message, or it is
// closed and drained (try_recv then says Closed — like Go, a closed channel is always ready).
// Because a Receiver has one owner, a ready receiver stays ready until its owner receives, so
// "select, then try_recv on the returned index" never races. When several are ready, the scan
// starts at a rotating position so no receiver is starved.
//
// Waiting follows the channels' idle policy: spin briefly, then register the calling thread's
// Parker with every receiver and park; the first send or close wakes it.
// Thread-safety: the receivers must be owned by the calling thread for the duration of the
// call (as for recv). A receiver may take part in one select at a time.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <thread>
#include <utility>

#include "troupe/channels/channel.hpp"

namespace troupe {

enum class SelectError { timeout };

namespace detail {

// Type-erased view of one receiver for the select loop.
struct SelectEntry {
  ChanBase* base;
  PopStatus (*poll)(ChanBase*);
};

template <class T>
SelectEntry select_entry(Receiver<T>& rx) {
  Chan<T>& chan = ChannelAccess::chan(rx);
  return {&chan, [](ChanBase* base) { return static_cast<Chan<T>*>(base)->poll(); }};
}

// Returns the index of a ready entry, or entries.size() once the deadline passed.
std::size_t select_ready(SelectEntry* entries, std::size_t count, Clock::time_point deadline);

}  // namespace detail

// Blocks until one of `receivers` is ready; returns its index (0-based, in argument order).
template <class... T>
[[nodiscard]] std::size_t select(Receiver<T>&... receivers) {
  static_assert(sizeof...(T) > 0, "troupe::select needs at least one receiver");
  std::array<detail::SelectEntry, sizeof...(T)> entries{detail::select_entry(receivers)...};
  return detail::select_ready(entries.data(), entries.size(), detail::kForever);
}

// As select, but gives up after `timeout` (>= 0) with SelectError::timeout.
template <class Rep, class Period, class... T>
[[nodiscard]] Result<std::size_t, SelectError> select_for(
    std::chrono::duration<Rep, Period> timeout, Receiver<T>&... receivers) {
  static_assert(sizeof...(T) > 0, "troupe::select_for needs at least one receiver");
  const auto deadline = detail::deadline_after(
      std::chrono::duration_cast<detail::Clock::duration>(timeout), "select_for");
  std::array<detail::SelectEntry, sizeof...(T)> entries{detail::select_entry(receivers)...};
  const std::size_t index = detail::select_ready(entries.data(), entries.size(), deadline);
  if (index == entries.size()) return {failure, SelectError::timeout};
  return index;
}

}  // namespace troupe
