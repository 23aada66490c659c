#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "test_support.hpp"
#include "troupe/channels/oneshot.hpp"

using namespace std::chrono_literals;

TEST_CASE("oneshot.the value sent from another thread arrives" * doctest::timeout(10)) {
  auto [tx, rx] = troupe::oneshot<std::string>();
  std::thread sender([tx = std::move(tx)]() mutable { REQUIRE(tx.send("reply")); });
  auto reply = rx.blocking_recv();
  REQUIRE(reply);
  CHECK(*reply == "reply");
  sender.join();
}

TEST_CASE("oneshot.a sender dropped without sending makes the receiver see closed, not hang") {
  auto [tx, rx] = troupe::oneshot<int>();
  { auto gone = std::move(tx); }
  auto reply = rx.blocking_recv();
  REQUIRE_FALSE(reply);
  CHECK(reply.error() == troupe::RecvError::closed);
}

TEST_CASE("oneshot.sending to a dropped receiver fails with closed and hands the value back") {
  auto [tx, rx] = troupe::oneshot<std::unique_ptr<int>>();
  { auto gone = std::move(rx); }
  CHECK(tx.is_closed());
  auto result = tx.send(std::make_unique<int>(3));
  REQUIRE_FALSE(result);
  CHECK(result.error().is_closed());
  CHECK(*result.error().message() == 3);
}

TEST_CASE("oneshot.a second send is a usage error") {
  auto [tx, rx] = troupe::oneshot<int>();
  REQUIRE(tx.send(1));
  CHECK_FALSE(tx.valid());
  try {
    (void)tx.send(2);
    FAIL("a second send was accepted");
  } catch (const troupe::Error& e) {
    CHECK(e.code() == troupe::ErrorCode::invalid_handle);
    CHECK(std::string(e.what()).find("already sent") != std::string::npos);
  }
  CHECK(*rx.blocking_recv() == 1);
}

TEST_CASE("oneshot.recv_for times out while the sender is alive and silent") {
  auto [tx, rx] = troupe::oneshot<int>();
  CHECK(rx.recv_for(2ms).error() == troupe::RecvError::timeout);
  CHECK(rx.try_recv().error() == troupe::RecvError::empty);
  REQUIRE(tx.send(5));
  CHECK(*rx.try_recv() == 5);
}

TEST_CASE("oneshot.a moved-from receiver or sender throws invalid_handle naming it") {
  using troupe::testing::error_code_of;
  using troupe::testing::error_message_of;
  auto [tx, rx] = troupe::oneshot<int>();
  auto rx2 = std::move(rx);
  CHECK(error_code_of([&] { (void)rx.try_recv(); }) == troupe::ErrorCode::invalid_handle);
  CHECK(error_code_of([&] { (void)rx.blocking_recv(); }) == troupe::ErrorCode::invalid_handle);
  CHECK(error_code_of([&] { (void)rx.recv(); }) == troupe::ErrorCode::invalid_handle);
  CHECK(error_message_of([&] { (void)rx.recv_for(1ms); }).find("Receiver") != std::string::npos);
  auto tx2 = std::move(tx);
  CHECK(error_code_of([&] { (void)tx.send(1); }) == troupe::ErrorCode::invalid_handle);
  CHECK(error_message_of([&] { (void)tx.is_closed(); }).find("OneshotSender") !=
        std::string::npos);
  REQUIRE(tx2.send(4));
  CHECK(*rx2.blocking_recv() == 4);
}
