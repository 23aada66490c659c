#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "troupe/channels/waker.hpp"

using namespace std::chrono_literals;

TEST_CASE("parker.a wake before park is remembered, so park returns at once") {
  troupe::Parker& me = troupe::Parker::current();
  me.wake();
  me.park();  // would hang if the token were lost
  CHECK_FALSE(me.park_until(std::chrono::steady_clock::now() + 1ms));  // token consumed
}

TEST_CASE("parker.a parked thread is woken from another thread and sees its writes" *
          doctest::timeout(10)) {
  for (int round = 0; round < 200; ++round) {
    std::atomic<int> payload{0};
    std::atomic<troupe::Parker*> parker{nullptr};
    std::thread waiter([&] {
      parker = &troupe::Parker::current();
      while (payload.load(std::memory_order_relaxed) != round + 1) troupe::Parker::current().park();
    });
    while (parker.load() == nullptr) std::this_thread::yield();
    troupe::Parker* p = parker.load();
    p->retain();  // keep it alive even if the waiter exits first
    payload.store(round + 1, std::memory_order_relaxed);  // made visible by wake()'s release
    p->wake();
    waiter.join();
    p->release();
  }
}

TEST_CASE("spin wait hands over to parking after a bounded number of steps") {
  troupe::SpinWait spin;
  int steps = 0;
  while (spin.spin()) ++steps;
  CHECK(steps == static_cast<int>(troupe::SpinWait::kSpinSteps + troupe::SpinWait::kYieldSteps));
  spin.reset();
  CHECK(spin.spin());
}
