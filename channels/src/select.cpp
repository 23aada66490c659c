#include "troupe/channels/select.hpp"

namespace troupe::detail {

// Rotating start so that a receiver that is always ready cannot starve the
// others.
std::size_t select_start(std::size_t count) noexcept {
  thread_local std::size_t cursor = 0;
  return cursor++ % count;
}

std::size_t select_scan(const SelectEntry *entries, std::size_t count,
                        std::size_t start, bool &pending) {
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
}

std::size_t select_park(const SelectEntry *entries, std::size_t count,
                        std::size_t start, Waker &waker, bool &pending) {
  pending = false;
  for (std::size_t k = 0; k < count; ++k) {
    const std::size_t i = (start + k) % count;
    // Registers and re-checks by the channel's protocol (chan_base.hpp); a poll
    // again replaces or keeps the channel's previous registration, never adds.
    const PopStatus status = entries[i].park(entries[i].base, waker);
    if (status == PopStatus::ok || status == PopStatus::closed)
      return i;
    if (status == PopStatus::pending)
      pending = true;
  }
  return count;
}

void select_withdraw(const SelectEntry *entries, std::size_t count) noexcept {
  for (std::size_t i = 0; i < count; ++i)
    entries[i].base->deregister_receiver();
}

std::size_t select_poll(const SelectEntry *entries, std::size_t count,
                        std::size_t start, Waker &waker) {
  bool pending = false;
  std::size_t ready = select_scan(entries, count, start, pending);
  if (ready != count)
    return ready;
  for (;;) {
    ready = select_park(entries, count, start, waker, pending);
    if (ready != count || !pending)
      return ready; // ready, or registered with every channel, all re-checked
    // A message is being written: its sender claimed its slot before we
    // registered there, so it may never wake us. Wait for it to land (keeping
    // the other registrations), then park again if, against expectation,
    // nothing is ready.
    do {
      std::this_thread::yield();
      ready = select_scan(entries, count, start, pending);
    } while (ready == count && pending);
    if (ready != count)
      return ready;
  }
}

std::size_t select_ready(const SelectEntry *entries, std::size_t count,
                         Clock::time_point deadline) {
  const std::size_t start = select_start(count);
  bool pending = false;
  SpinWait spin;
  for (;;) {
    std::size_t ready = select_scan(entries, count, start, pending);
    if (ready != count)
      return ready;
    if (spin.spin())
      continue;
    if (pending) {
      std::this_thread::yield(); // parking would be a waste
    } else {
      Parker &me = Parker::current();
      ready = select_park(entries, count, start, me,
                          pending); // registers, re-checks: chan_base.hpp
      bool woken = true;
      if (ready == count && !pending)
        woken = park_until(me, deadline);
      select_withdraw(entries, count);
      if (ready != count)
        return ready;
      if (!woken)
        return select_scan(entries, count, start,
                           pending); // a last look: ready or count (timed out)
      spin.reset();
    }
    if (deadline != kForever && Clock::now() >= deadline)
      return select_scan(entries, count, start, pending);
  }
}

} // namespace troupe::detail
