#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "test_support.hpp"
#include "troupe/channels/broadcast.hpp"

using namespace std::chrono_literals;
using Kind = troupe::BroadcastRecvError::Kind;

TEST_CASE("broadcast.every subscriber receives every message sent after it subscribed") {
  auto [tx, rx1] = troupe::broadcast<std::string>(8);
  REQUIRE(tx.send("one"));
  auto rx2 = tx.subscribe();  // sees only what comes next
  REQUIRE(tx.send("two"));
  CHECK(*rx1.blocking_recv() == "one");
  CHECK(*rx1.blocking_recv() == "two");
  CHECK(*rx2.blocking_recv() == "two");
  CHECK(rx2.try_recv().error().kind == Kind::empty);
  CHECK(tx.receiver_count() == 2u);
}

TEST_CASE("broadcast.a lagging receiver is told how many messages it missed, then resumes") {
  auto [tx, rx] = troupe::broadcast<int>(4);
  for (int i = 0; i < 10; ++i) REQUIRE(tx.send(int{i}));
  auto lag = rx.blocking_recv();
  REQUIRE_FALSE(lag);
  CHECK(lag.error().kind == Kind::lagged);
  CHECK(lag.error().missed == 6u);
  for (int i = 6; i < 10; ++i) CHECK(*rx.blocking_recv() == i);  // the 4 newest are still there
}

TEST_CASE("broadcast.receivers drain then see closed once every sender is gone") {
  auto [tx, rx] = troupe::broadcast<int>(4);
  REQUIRE(tx.send(1));
  { auto gone = std::move(tx); }
  CHECK(*rx.blocking_recv() == 1);
  CHECK(rx.blocking_recv().error().kind == Kind::closed);
}

TEST_CASE("broadcast.sending with no receiver left fails with closed and returns the message") {
  auto [tx, rx] = troupe::broadcast<int>(4);
  { auto gone = std::move(rx); }
  auto result = tx.send(7);
  REQUIRE_FALSE(result);
  CHECK(result.error().is_closed());
  CHECK(result.error().message() == 7);
}

TEST_CASE("broadcast.capacity 0 and negative capacities are rejected") {
  CHECK_THROWS_AS(troupe::broadcast<int>(0), troupe::Error);
  CHECK_THROWS_AS(troupe::broadcast<int>(-2), troupe::Error);
}

TEST_CASE("broadcast.a bad capacity is invalid_argument naming the value") {
  using troupe::testing::error_code_of;
  using troupe::testing::error_message_of;
  CHECK(error_code_of([] { (void)troupe::broadcast<int>(-2); }) ==
        troupe::ErrorCode::invalid_argument);
  CHECK(error_message_of([] { (void)troupe::broadcast<int>(-2); }) ==
        "broadcast: capacity -2 is negative");
  CHECK(error_code_of([] { (void)troupe::broadcast<int>(0); }) ==
        troupe::ErrorCode::invalid_argument);
  CHECK(error_message_of([] { (void)troupe::broadcast<int>(0); }).find("capacity 0") !=
        std::string::npos);
  const std::int64_t oversized = troupe::kMaxChannelCapacity + 1;
  CHECK(error_code_of([&] { (void)troupe::broadcast<int>(oversized); }) ==
        troupe::ErrorCode::invalid_argument);
  CHECK(error_message_of([&] { (void)troupe::broadcast<int>(oversized); })
            .find(std::to_string(oversized)) != std::string::npos);
}

TEST_CASE("broadcast.a moved-from sender or receiver throws invalid_handle naming it") {
  using troupe::testing::error_code_of;
  using troupe::testing::error_message_of;
  auto [tx, rx] = troupe::broadcast<int>(4);
  auto tx2 = std::move(tx);
  auto rx2 = std::move(rx);
  CHECK(error_code_of([&] { (void)tx.send(1); }) == troupe::ErrorCode::invalid_handle);
  CHECK(error_message_of([&] { (void)tx.subscribe(); }).find("BroadcastSender") !=
        std::string::npos);
  CHECK(error_code_of([&] { (void)rx.try_recv(); }) == troupe::ErrorCode::invalid_handle);
  CHECK(error_message_of([&] { (void)rx.recv_for(1ms); }).find("BroadcastReceiver") !=
        std::string::npos);
  CHECK(tx2.send(5));
  CHECK(*rx2.try_recv() == 5);
}

TEST_CASE("broadcast.recv_for refuses a negative timeout and waits forever on a huge one") {
  auto [tx, rx] = troupe::broadcast<int>(4);
  CHECK(troupe::testing::error_code_of([&] { (void)rx.recv_for(-1ms); }) ==
        troupe::ErrorCode::invalid_argument);
  REQUIRE(tx.send(3));
  CHECK(*rx.recv_for(std::chrono::hours::max()) == 3);  // not an overflow into the past
}

TEST_CASE("broadcast.a parked receiver wakes for a send from another thread" *
          doctest::timeout(10)) {
  auto [tx, rx] = troupe::broadcast<int>(128);  // room for all 100: no lag possible
  std::thread reader([rx = std::move(rx)]() mutable {
    int sum = 0;
    for (;;) {
      auto m = rx.blocking_recv();
      if (!m) {
        REQUIRE(m.error().kind == Kind::closed);
        break;
      }
      sum += *m;
    }
    CHECK(sum == 4950);
  });
  for (int i = 0; i < 100; ++i) {
    auto result = tx.send(int{i});
    REQUIRE(result);
    std::this_thread::yield();
  }
  CHECK(tx.subscribe().recv_for(1ms).error().kind == Kind::timeout);
  { auto gone = std::move(tx); }
  reader.join();
}
