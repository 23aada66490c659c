// request_reply.cpp — `troupe demo request-reply`: a typed request/reply protocol with an
// actor, and every way a request can end: a reply, a refusal, a timeout, a dead actor.
//
//   main (client)                                    inventory (actor)
//   ask(GetStock{"apple"}, 1 s)     ───────────────▶ StockLevel handle(GetStock)
//                                   ◀── StockLevel{apple, 5}
//   ask(Reserve{"apple", 3}, 1 s)   ───────────────▶ Reservation handle(Reserve)
//                                   ◀── Reservation{ok, 2 left}
//   ask(Reserve{"apple", 3}, 1 s)   ◀── Reservation{refused: "only 2 left"}
//   ask(Audit{}, 100 ms)            ───────────────▶ Task<AuditReport> handle(Audit): slow
//                                   ✗ AskErrc::timeout after 100 ms
//   ask(GetStock{"apple"}, 1 s)     ··· waits: the actor finishes the audit first ···
//                                   ◀── StockLevel{apple, 2}
//   blocking_terminate(); ask(...)  ✗ AskErrc::dead, at once
//
// What to notice:
//  * the protocol is the handlers' signatures: each request type has its own reply type, and
//    the compiler pairs them (ask(GetStock) yields AskResult<StockLevel>); asking for a
//    message the actor does not handle does not compile;
//  * a business refusal ("only 2 left") is a reply like any other; AskError is for what went
//    wrong with the conversation itself (timeout, dead, failed, full);
//  * a timeout ends the wait, not the work: the actor handles one message at a time, so the
//    next request waits until the slow one is done;
//  * asking an actor that has stopped fails at once with dead, it never hangs.
#include <chrono>
#include <map>
#include <string>
#include <utility>

#include "demos/demos.hpp"
#include "demos/support.hpp"
#include "troupe/actors/actor.hpp"
#include "troupe/runtime/runtime.hpp"
#include "troupe/runtime/task.hpp"
#include "troupe/runtime/time.hpp"

namespace troupe::demos {
namespace request_reply_impl {
namespace {

using namespace std::chrono_literals;
using Stock = std::map<std::string, int>;

// The protocol: each request, and the reply it gets.
struct GetStock {
  std::string sku;
};
struct StockLevel {
  std::string sku;
  int count = 0;
};
struct Reserve {
  std::string sku;
  int quantity = 0;
};
struct Reservation {
  bool ok = false;
  int left = 0;
  std::string reason;  // why it was refused
};
struct Audit {
  std::chrono::milliseconds length;  // how long the (simulated) audit takes
};
struct AuditReport {
  int skus = 0;
  int units = 0;
};

class Inventory {
 public:
  explicit Inventory(Stock stock) : stock_(std::move(stock)) {}

  StockLevel handle(GetStock request) const {
    const auto found = stock_.find(request.sku);
    return {request.sku, found == stock_.end() ? 0 : found->second};
  }
  Reservation handle(Reserve request) {
    int& count = stock_[request.sku];
    if (request.quantity > count) {
      return {false, count, "only " + std::to_string(count) + " left"};
    }
    count -= request.quantity;
    return {true, count, {}};
  }
  // A coroutine handler: slow, but it suspends instead of holding a thread.
  Task<AuditReport> handle(Audit audit) const {
    co_await sleep_for(audit.length);
    AuditReport report;
    for (const auto& [sku, count] : stock_) {
      ++report.skus;
      report.units += count;
    }
    co_return report;
  }

 private:
  Stock stock_;
};

std::string failure_text(const AskError& error) {
  return std::string(to_string(error.code())) + " (" + error.message() + ")";
}

int run(const DemoOptions& options, std::ostream& out) {
  // Far longer than the timeout: the asker must see the timeout even if its thread wakes
  // late (a loaded machine may delay it by a few hundred ms), or the reply would be there.
  const auto audit_length = options.quick ? 500ms : 800ms;
  constexpr auto kAuditTimeout = 100ms;
  Outcome outcome(out);
  Runtime runtime;
  ActorOptions inventory_options;
  inventory_options.name = "inventory";
  ActorRef<Inventory> inventory =
      spawn_actor<Inventory>(runtime, std::move(inventory_options), Stock{{"apple", 5}, {"pear", 2}});

  const AskResult<StockLevel> level = inventory.blocking_ask(GetStock{"apple"}, 1s);
  if (level) out << "GetStock{apple} -> StockLevel{" << level->sku << ", " << level->count << "}\n";
  outcome.expect(level && level->count == 5, "a query gets its typed reply");

  const AskResult<Reservation> first = inventory.blocking_ask(Reserve{"apple", 3}, 1s);
  if (first) out << "Reserve{apple, 3} -> ok, " << first->left << " left\n";
  const AskResult<Reservation> second = inventory.blocking_ask(Reserve{"apple", 3}, 1s);
  if (second) {
    out << "Reserve{apple, 3} -> " << (second->ok ? "ok" : "refused: " + second->reason) << '\n';
  }
  outcome.expect(first && first->ok && first->left == 2, "the first reservation is granted");
  outcome.expect(second && !second->ok && second->reason == "only 2 left",
                 "the second is refused, and the refusal is a reply, not an error");

  const Clock::time_point audit_start = Clock::now();
  const AskResult<AuditReport> audit = inventory.blocking_ask(Audit{audit_length}, kAuditTimeout);
  out << "Audit{" << audit_length.count() << " ms} with a " << kAuditTimeout.count()
      << " ms timeout -> " << (audit ? "a report" : failure_text(audit.error())) << " after "
      << format_since(audit_start) << '\n';
  outcome.expect(!audit && audit.error().code() == AskErrc::timeout,
                 "the slow request times out for the asker");

  const Clock::time_point next_start = Clock::now();
  const AskResult<StockLevel> after = inventory.blocking_ask(GetStock{"apple"}, 5s);
  if (after) {
    out << "GetStock{apple} right after -> StockLevel{" << after->sku << ", " << after->count
        << "}, answered after " << format_since(next_start)
        << ": the actor finished the audit first\n";
  }
  outcome.expect(after && after->count == 2, "the actor is still serving after the timeout");

  out << "terminating the inventory\n";
  (void)inventory.blocking_terminate();
  const AskResult<StockLevel> dead = inventory.blocking_ask(GetStock{"apple"}, 1s);
  out << "GetStock{apple} -> " << (dead ? "a reply" : failure_text(dead.error())) << '\n';
  outcome.expect(!dead && dead.error().code() == AskErrc::dead,
                 "asking a stopped actor fails at once with dead");
  return outcome.finish();
}

}  // namespace
}  // namespace request_reply_impl

int run_request_reply(const DemoOptions& options, std::ostream& out) {
  return request_reply_impl::run(options, out);
}

}  // namespace troupe::demos
