#include "troupe/channels/select.hpp"

#include <atomic>

namespace troupe::detail {
namespace {

// Rotating start so that a receiver that is always ready cannot starve the
// others.
std::size_t next_start(std::size_t count) noexcept {
  thread_local std::size_t cursor = 0;
  return cursor++ % count;
}

} // namespace

std::size_t select_ready(SelectEntry *entries, std::size_t count,
                         Clock::time_point deadline) {
  const std::size_t start = next_start(count);
  // One scan: the index of a ready entry, or `count`; `pending` tells whether a
  // message is being written right now (then parking would be a waste).
  auto scan = [&](bool &pending) {
    pending = false;
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t i = (start + k) % count;
      const PopStatus status = entries[i].poll(entries[i].base);
      if (status == PopStatus::ok || status == PopStatus::closed)
        return i;
      if (status == PopStatus::pending)
        pending = true;
    }
    return count;
  };
  bool pending = false;
  SpinWait spin;
  for (;;) {
    std::size_t ready = scan(pending);
    if (ready != count)
      return ready;
    if (spin.spin())
      continue;
    if (pending) {
      std::this_thread::yield();
    } else {
      Parker &me = Parker::current();
      for (std::size_t i = 0; i < count; ++i)
        entries[i].base->register_receiver(me);
      ready = scan(pending); // re-check after registering: see chan_base.hpp
      bool woken = true;
      if (ready == count && !pending)
        woken = park_until(me, deadline);
      for (std::size_t i = 0; i < count; ++i)
        entries[i].base->deregister_receiver();
      if (ready != count)
        return ready;
      if (!woken)
        return scan(pending); // a last look: ready or count (timed out)
      spin.reset();
    }
    if (deadline != kForever && Clock::now() >= deadline)
      return scan(pending);
  }
}

} // namespace troupe::detail
