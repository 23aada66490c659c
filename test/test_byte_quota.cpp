// Byte quotas: what a ByteAccount is charged for (allocation, transfer in), refunds, and an
// actor that goes past its quota failing with resource_exhausted under its supervisor.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "actor_test_support.hpp"
#include "test_support.hpp"
#include "troupe/actors/supervisor.hpp"
#include "troupe/channels/buffer.hpp"
#include "troupe/channels/byte_account.hpp"

using namespace std::chrono_literals;
using troupe::ActorEvent;
using troupe::ActorOptions;
using troupe::ActorRef;
using troupe::Buffer;
using troupe::ByteAccount;
using troupe::ExitCode;
using troupe::Runtime;
using troupe::RuntimeOptions;
using troupe::testing::two_workers;

namespace {

constexpr std::size_t kKiB = 1024;

// An owned account for a test (released at the end).
struct Account {
  ByteAccount* account;
  explicit Account(std::size_t limit) : account(ByteAccount::create(limit, "test owner")) {}
  ~Account() { account->release(); }
  ByteAccount* operator->() const { return account; }
};

struct Grow {
  std::size_t bytes;
};
struct GrowQuietly {  // catches the refusal: the actor fails all the same
  std::size_t bytes;
};
struct Keep {
  Buffer buffer;
};
struct Held {};

class Hog {
 public:
  explicit Hog(int) {}
  void handle(Grow m) { kept_.emplace_back(m.bytes); }
  void handle(GrowQuietly m) {
    try {
      kept_.emplace_back(m.bytes);
    } catch (const troupe::Error&) {
    }
  }
  void handle(Keep m) { kept_.push_back(std::move(m.buffer)); }
  std::size_t handle(Held) const {
    std::size_t total = 0;
    for (const Buffer& b : kept_) total += b.size();
    return total;
  }

 private:
  std::vector<Buffer> kept_;
};

}  // namespace

TEST_CASE("an account with a zero limit is refused naming its owner") {
  CHECK(troupe::testing::error_code_of([] { (void)ByteAccount::create(0, "nobody"); }) ==
        troupe::ErrorCode::invalid_argument);
  CHECK(troupe::testing::error_message_of([] { (void)ByteAccount::create(0, "nobody"); }) ==
        "ByteAccount: the limit of nobody must be positive");
}

TEST_CASE("an account is charged for allocations and refunded when the Buffers go") {
  Account account(100 * kKiB);
  {
    ByteAccount::Scope scope(account.account);
    Buffer a(40 * kKiB);
    Buffer b = Buffer::copy_of(a.bytes());
    CHECK(account->used() == 80 * kKiB);
    Buffer moved = std::move(a);  // a move within the owner: no change
    CHECK(account->used() == 80 * kKiB);
    CHECK_THROWS_WITH_AS(Buffer(30 * kKiB), doctest::Contains("byte quota of test owner"),
                         troupe::Error);
    CHECK(account->used() == 80 * kKiB);  // the refused allocation charged nothing
    CHECK(account->exceeded());
    account->reset_exceeded();
    Buffer small(20 * kKiB);  // exactly at the limit: allowed
    CHECK(account->used() == 100 * kKiB);
    CHECK(account->peak() == 100 * kKiB);
  }
  CHECK(account->used() == 0);
  CHECK_FALSE(account->exceeded());
}

TEST_CASE("a Buffer moved in from another owner is charged to the new one; moved out of every "
          "owner it is charged to none" * doctest::timeout(30)) {
  Account sender(1024 * kKiB);
  Account receiver(50 * kKiB);
  Buffer outside;
  {
    ByteAccount::Scope scope(sender.account);
    outside = Buffer(64 * kKiB);
    CHECK(sender->used() == 64 * kKiB);
  }
  {
    ByteAccount::Scope scope(receiver.account);
    Buffer taken = std::move(outside);  // a transfer in, past the receiver's limit
    CHECK(sender->used() == 0);
    CHECK(receiver->used() == 64 * kKiB);
    CHECK(receiver->exceeded());
    outside = std::move(taken);
  }
  std::thread([&] {
    Buffer elsewhere = std::move(outside);  // a thread with no account: it leaves its account
    CHECK(receiver->used() == 0);
  }).join();
}

TEST_CASE("an actor that allocates past its byte quota fails with resource_exhausted, its "
          "supervisor restarts it, and other actors never notice" *
          doctest::timeout(60)) {
  Runtime rt(two_workers());
  troupe::SupervisorOptions so;
  so.max_restarts = 10;
  troupe::Supervisor sup(rt, so);
  auto [events_tx, events_rx] = troupe::unbounded_channel<ActorEvent>();
  ActorOptions options;
  options.name = "hog";
  options.byte_quota = 1024 * kKiB;
  options.events = std::move(events_tx);
  ActorRef<Hog> hog = sup.start<Hog>(std::move(options), 0);
  ActorOptions calm_options;
  calm_options.name = "calm";
  ActorRef<Hog> calm = sup.start<Hog>(std::move(calm_options), 0);  // no quota
  REQUIRE(calm.tell(Grow{4096 * kKiB}));

  for (int i = 0; i < 3; ++i) REQUIRE(hog.tell(Grow{256 * kKiB}));
  auto held = hog.blocking_ask(Held{}, 10s);
  REQUIRE(held);
  CHECK(*held == 768 * kKiB);
  CHECK(hog.stats().bytes_held == 768 * kKiB);

  REQUIRE(hog.tell(Grow{512 * kKiB}));  // refused: the handler throws, the actor fails
  held = hog.blocking_ask(Held{}, 10s);  // answered by the rebuilt actor
  REQUIRE(held);
  CHECK(*held == 0);
  CHECK(hog.stats().bytes_held == 0);  // the old actor's Buffers were refunded
  CHECK(hog.stats().bytes_peak == 768 * kKiB);
  CHECK(hog.stats().restarts == 1);

  REQUIRE(hog.tell(GrowQuietly{2048 * kKiB}));  // caught by the handler: still a failure
  REQUIRE(hog.tell(Keep{Buffer(2048 * kKiB)}));  // a transfer in past the quota
  held = hog.blocking_ask(Held{}, 10s);
  REQUIRE(held);
  CHECK(*held == 0);
  CHECK(hog.stats().restarts == 3);

  std::vector<ExitCode> error_codes;
  while (error_codes.size() < 3) {
    auto event = events_rx.recv_for(10s);
    REQUIRE(event);
    if (event->kind != ActorEvent::Kind::error) continue;
    error_codes.push_back(event->code);
    CHECK(event->what.find("byte quota of actor") != std::string::npos);
    CHECK(event->what.find("'hog'") != std::string::npos);
  }
  CHECK(error_codes == std::vector<ExitCode>(3, ExitCode::resource_exhausted));

  auto calm_held = calm.blocking_ask(Held{}, 10s);
  REQUIRE(calm_held);
  CHECK(*calm_held == 4096 * kKiB);  // other actors never noticed
  CHECK(calm.stats().restarts == 0);
  CHECK(sup.restarts() == 3);
}

TEST_CASE("an unsupervised actor past its quota exits with resource_exhausted" *
          doctest::timeout(30)) {
  Runtime rt(two_workers());
  ActorOptions options;
  options.byte_quota = 64 * kKiB;
  ActorRef<Hog> hog = troupe::spawn_actor<Hog>(rt, std::move(options), 0);
  REQUIRE(hog.tell(Grow{128 * kKiB}));
  CHECK(hog.blocking_wait_exit() == ExitCode::resource_exhausted);
}
