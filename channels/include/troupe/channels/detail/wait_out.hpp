// detail/wait_out.hpp — waiting out another thread's last few instructions. Not API.
#pragma once

#include <thread>

#include "troupe/channels/detail/config.hpp"

namespace troupe::detail {

// Waits while `busy()` holds, for a state another thread leaves a few instructions later (a
// store it is about to make): a short spin, then yielding the core, in case that thread was
// descheduled just before its store. `busy` does its own (acquire) load.
template <class Busy>
void wait_out(Busy busy) noexcept {
  for (unsigned spins = 0; busy(); ++spins) {
    if (spins < 64) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }
}

}  // namespace troupe::detail
