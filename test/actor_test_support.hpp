// Helpers shared by the actor test files (test_actor, test_supervisor, test_watch, ...).
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include "troupe/actors/actor.hpp"

namespace troupe::testing {

// Two workers that may grow to four: a test handler blocked on a latch holds one of them.
inline RuntimeOptions two_workers() {
  RuntimeOptions options;
  options.min_threads = 2;
  options.max_threads = 4;
  return options;
}

inline ActorOptions named(std::string name, std::size_t capacity = 1024) {
  ActorOptions options;
  options.name = std::move(name);
  options.mailbox_capacity = capacity;
  return options;
}

// A message whose handler blocks its worker until the test opens `gate`.
struct Hold {
  Latch* gate;
};

}  // namespace troupe::testing

// The test owns the latch and outlives the actor's use of it.
template <>
inline constexpr bool troupe::enable_sendable<troupe::testing::Hold> = true;
