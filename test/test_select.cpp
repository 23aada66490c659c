#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>

#include "troupe/channels/channel.hpp"
#include "troupe/channels/select.hpp"

using namespace std::chrono_literals;

TEST_CASE("select.returns the index of the receiver that has a message") {
  auto [a_tx, a_rx] = troupe::channel<int>(4);
  auto [b_tx, b_rx] = troupe::unbounded_channel<std::string>();
  REQUIRE(b_tx.blocking_send("b"));
  CHECK(troupe::select(a_rx, b_rx) == 1u);
  CHECK(*b_rx.try_recv() == "b");
  REQUIRE(a_tx.blocking_send(1));
  CHECK(troupe::select(a_rx, b_rx) == 0u);
}

TEST_CASE("select.times out when nothing arrives") {
  auto [a_tx, a_rx] = troupe::channel<int>(4);
  auto [b_tx, b_rx] = troupe::channel<int>(0);
  auto ready = troupe::select_for(2ms, a_rx, b_rx);
  REQUIRE_FALSE(ready);
  CHECK(ready.error() == troupe::SelectError::timeout);
  CHECK_THROWS_AS((void)troupe::select_for(-1ms, a_rx), troupe::Error);
}

TEST_CASE("select.a closed receiver is ready so the caller sees the end of its stream") {
  auto [a_tx, a_rx] = troupe::channel<int>(4);
  auto [b_tx, b_rx] = troupe::channel<int>(4);
  { auto gone = std::move(b_tx); }
  CHECK(troupe::select(a_rx, b_rx) == 1u);
  CHECK(b_rx.try_recv().error() == troupe::RecvError::closed);
}

TEST_CASE("select.a parked selector is woken by a send on any of its receivers" *
          doctest::timeout(10)) {
  auto [a_tx, a_rx] = troupe::channel<int>(4);
  auto [b_tx, b_rx] = troupe::unbounded_channel<int>();
  auto [c_tx, c_rx] = troupe::channel<int>(0);
  std::thread sender([a = a_tx.clone(), b = b_tx.clone(), c = c_tx.clone()]() mutable {
    for (int i = 0; i < 300; ++i) {
      if (i % 3 == 0) REQUIRE(a.blocking_send(int{i}));
      if (i % 3 == 1) REQUIRE(b.blocking_send(int{i}));
      if (i % 3 == 2) REQUIRE(c.blocking_send(int{i}));  // rendezvous: waits for the selector
    }
  });
  int received = 0, sum = 0;
  while (received < 300) {
    const std::size_t index = troupe::select(a_rx, b_rx, c_rx);
    troupe::RecvResult<int> r = index == 0   ? a_rx.try_recv()
                                : index == 1 ? b_rx.try_recv()
                                             : c_rx.try_recv();
    if (r) {
      ++received;
      sum += *r;
    }
  }
  sender.join();
  CHECK(sum == 299 * 300 / 2);
}

TEST_CASE("select.no ready receiver is starved by another that is always ready") {
  auto [a_tx, a_rx] = troupe::unbounded_channel<int>();
  auto [b_tx, b_rx] = troupe::unbounded_channel<int>();
  for (int i = 0; i < 100; ++i) {
    REQUIRE(a_tx.blocking_send(int{i}));
    REQUIRE(b_tx.blocking_send(int{i}));
  }
  int picked[2] = {0, 0};
  for (int i = 0; i < 100; ++i) {
    const std::size_t index = troupe::select(a_rx, b_rx);
    ++picked[index];
    (void)(index == 0 ? a_rx.try_recv() : b_rx.try_recv());
  }
  CHECK(picked[0] > 0);
  CHECK(picked[1] > 0);
}
