#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "test_support.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/channels/port.hpp"

using namespace std::chrono_literals;

TEST_CASE("port.two entangled ports carry typed messages both ways" * doctest::timeout(10)) {
  auto [port1, port2] = troupe::message_channel<std::string, int>();
  std::thread peer([port = std::move(port2)]() mutable {
    while (auto text = port.blocking_recv()) {
      REQUIRE(port.blocking_send(static_cast<int>(text->size())));
    }
  });
  REQUIRE(port1.blocking_send("hello"));
  CHECK(port1.blocking_recv() == 5);
  REQUIRE(port1.blocking_send("troupe!"));
  CHECK(port1.blocking_recv() == 7);
  port1.close();  // the peer's blocking_recv ends, its thread exits
  peer.join();
}

TEST_CASE("port.a port travels through a channel and keeps working on the other side" *
          doctest::timeout(10)) {
  auto [mine, theirs] = troupe::message_channel<int, int>();
  auto [intro_tx, intro_rx] = troupe::channel<troupe::Port<int, int>>(1);
  REQUIRE(intro_tx.blocking_send(std::move(theirs)));
  CHECK_FALSE(theirs.valid());  // transferred
  std::thread worker([&intro_rx] {
    auto port = intro_rx.blocking_recv();
    REQUIRE(port.has_value());
    while (auto x = port->blocking_recv()) REQUIRE(port->blocking_send(*x * 2));
  });
  for (int i = 1; i <= 100; ++i) {
    REQUIRE(mine.blocking_send(int{i}));
    CHECK(mine.blocking_recv() == 2 * i);
  }
  mine.close();
  worker.join();
}

TEST_CASE("port.a port used after it was transferred throws invalid_handle") {
  auto [port1, port2] = troupe::message_channel<int, int>();
  auto moved = std::move(port1);
  try {
    (void)port1.blocking_send(1);
    FAIL("a transferred port still sent");
  } catch (const troupe::Error& e) {
    CHECK(e.code() == troupe::ErrorCode::invalid_handle);
    CHECK(std::string(e.what()).find("Port") != std::string::npos);
  }
  CHECK_THROWS_AS((void)port1.blocking_recv(), troupe::Error);
  CHECK(moved.blocking_send(1));
  CHECK(port2.blocking_recv() == 1);
}

TEST_CASE("port.closing one end ends the other's stream after draining, and its sends fail") {
  auto [port1, port2] = troupe::message_channel<int, int>();
  REQUIRE(port1.blocking_send(1));
  port1.close();
  CHECK(port2.blocking_recv() == 1);
  CHECK_FALSE(port2.blocking_recv().has_value());
  auto result = port2.blocking_send(2);
  REQUIRE_FALSE(result);
  CHECK(result.error().is_closed());
  CHECK(result.error().message() == 2);
}

TEST_CASE("port.a bounded message channel applies backpressure in each direction") {
  auto [port1, port2] = troupe::message_channel<int, int>(2);
  REQUIRE(port1.try_send(1));
  REQUIRE(port1.try_send(2));
  CHECK(port1.try_send(3).error().is_full());
  CHECK(port1.send_for(3, 1ms).error().is_timeout());
  CHECK(port2.try_recv().value() == 1);
  CHECK_THROWS_AS((troupe::message_channel<int, int>(-3)), troupe::Error);
}

TEST_CASE("port.a bad message_channel capacity is invalid_argument naming the value") {
  using troupe::testing::error_code_of;
  using troupe::testing::error_message_of;
  CHECK(error_code_of([] { (void)troupe::message_channel<int, int>(-3); }) ==
        troupe::ErrorCode::invalid_argument);
  CHECK(error_message_of([] { (void)troupe::message_channel<int, int>(-3); }) ==
        "channel: capacity -3 is negative");
  const std::int64_t oversized = troupe::kMaxChannelCapacity + 1;
  CHECK(error_message_of([&] { (void)troupe::message_channel<int, int>(oversized); })
            .find(std::to_string(oversized)) != std::string::npos);
}
