// health.cpp — `troupe demo health`: keeping a group of workers healthy. A monitor sends
// heartbeats; a worker that stops answering is stuck, and is replaced; a worker that is merely
// overloaded sheds the load it cannot take instead of queueing it.
//
//   main (the monitor)                       w1   w2   w3   (actors; mailbox of 8, reject)
//   1. heartbeat: ask(Ping, timeout) ──────▶ ok   ok   ok
//   2. w2 calls a dependency that never answers (its handler awaits forever)
//      heartbeat ──────────────────────────▶ ok   ...  ok      w2 misses it: stuck
//      terminate(w2): it stops at its await; what was queued behind is dead letters
//      spawn a new w2 ─────────────────────▶ ok   ok   ok
//   3. a burst of requests, far more than the workers can take
//      tell(Work) ─────────────────────────▶ 8 queued per worker; the rest refused at once
//                                            (Full): shed, counted, never queued
//      heartbeat during the burst ─────────▶ refused (full): busy, not stuck
//      after the burst ────────────────────▶ every accepted request served; ok ok ok
//
// What to notice:
//  * a heartbeat is an ask with a timeout: the reply proves the actor still takes messages.
//    A stuck actor — here awaiting a reply that never comes — misses it, however healthy its
//    thread looks; the monitor tells them apart by the missed deadline, not by guessing;
//  * terminate() works on a stuck actor because it is stuck at an await: it is cancelled
//    there. What was queued behind it is lost (dead letters): the caller must resend or give
//    up — a restart is no undo;
//  * under overload, Overflow::reject turns "too much" into an immediate refusal the sender
//    can act on (shed, retry elsewhere, answer 503), and keeps every queue short: a request
//    that is accepted waits for at most 8 others. An unbounded queue would accept everything
//    and answer it late;
//  * a refused heartbeat (full) means busy, not stuck: a monitor must not restart a worker
//    for being overloaded — that would only throw away its queue.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "demos/demos.hpp"
#include "demos/support.hpp"
#include "troupe/actors/actor.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/runtime/runtime.hpp"
#include "troupe/runtime/task.hpp"
#include "troupe/runtime/time.hpp"

namespace troupe::demos {
namespace health_impl {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kWorkers = 3;
constexpr std::size_t kMailbox = 8;

struct Ping {};
struct Work {
  std::chrono::milliseconds length;
};
// A call to a dependency: the worker awaits its answer on `reply`.
struct CallDependency {
  Receiver<int> reply;
};
struct Served {};

class Worker {
 public:
  [[nodiscard]] bool handle(Ping /*unused*/) const { return true; }  // the heartbeat's reply
  Task<void> handle(Work work) {
    co_await sleep_for(work.length);  // stands for the request's work
    ++served_;
  }
  Task<void> handle(CallDependency call) {
    (void)co_await call.reply.recv();  // the answer never comes: stuck here
  }
  [[nodiscard]] std::uint64_t handle(Served /*unused*/) const { return served_; }

 private:
  std::uint64_t served_ = 0;
};

struct Slot {
  std::string name;
  int generation = 1;
  ActorRef<Worker> ref;
};

ActorRef<Worker> start_worker(Runtime& runtime, const std::string& name) {
  ActorOptions options;
  options.name = name;
  options.mailbox_capacity = kMailbox;
  options.overflow = Overflow::reject;  // a full mailbox refuses at once: load is shed
  return spawn_actor<Worker>(runtime, std::move(options));
}

enum class Beat { ok, missed, busy, dead };

// One heartbeat to every worker, printed on one line.
std::vector<Beat> heartbeat(std::vector<Slot>& slots, std::chrono::milliseconds timeout,
                            const std::string& label, std::ostream& out) {
  std::vector<Beat> beats;
  out << "  heartbeat " << label << ":";
  for (Slot& slot : slots) {
    const auto reply = slot.ref.blocking_ask(Ping{}, timeout);
    Beat beat = Beat::ok;
    if (!reply) {
      const AskErrc code = reply.error().code();
      beat = code == AskErrc::timeout ? Beat::missed
             : code == AskErrc::full  ? Beat::busy
                                      : Beat::dead;
    }
    beats.push_back(beat);
    out << ' ' << slot.name;
    if (slot.generation > 1) out << '#' << slot.generation;
    out << ' '
        << (beat == Beat::ok       ? "ok"
            : beat == Beat::missed ? "MISSED (no reply within the timeout: stuck)"
            : beat == Beat::busy   ? "busy (refused: mailbox full)"
                                   : "dead");
    out << (&slot == &slots.back() ? "\n" : ",");
  }
  return beats;
}

bool all_ok(const std::vector<Beat>& beats) {
  for (const Beat beat : beats) {
    if (beat != Beat::ok) return false;
  }
  return true;
}

// The served count of a worker once its mailbox has room for the ask again.
std::uint64_t served_by(ActorRef<Worker>& worker) {
  const Clock::time_point give_up = Clock::now() + kPatience;
  while (Clock::now() < give_up) {
    const auto served = worker.blocking_ask(Served{}, kPatience);
    if (served) return *served;
    if (served.error().code() != AskErrc::full) break;
    std::this_thread::sleep_for(1ms);  // still full: the burst is being worked off
  }
  return 0;
}

int run(const DemoOptions& options, std::ostream& out) {
  const std::chrono::milliseconds timeout = options.quick ? 200ms : 500ms;
  const std::size_t burst = options.quick ? 60 : 240;
  const std::chrono::milliseconds work = options.quick ? 1ms : 2ms;
  Outcome outcome(out);
  Runtime runtime;
  std::vector<Slot> slots;
  for (std::size_t i = 1; i <= kWorkers; ++i) {
    const std::string name = std::string("w").append(std::to_string(i));
    slots.push_back(Slot{name, 1, start_worker(runtime, name)});
  }

  out << "1. " << kWorkers << " workers, a heartbeat is an ask(Ping) with a "
      << timeout.count() << " ms timeout\n";
  outcome.expect(all_ok(heartbeat(slots, timeout, "1", out)), "every worker answers");

  out << "2. w2 calls a dependency that never answers; a request queues behind it\n";
  auto [never_tx, never] = channel<int>(1);  // kept open, never sent to
  Slot& w2 = slots[1];
  (void)w2.ref.tell(CallDependency{std::move(never)});
  (void)w2.ref.tell(Work{work});
  const std::vector<Beat> beats = heartbeat(slots, timeout, "2", out);
  outcome.expect(beats[0] == Beat::ok && beats[1] == Beat::missed && beats[2] == Beat::ok,
                 "w2, and only w2, misses its heartbeat");
  for (std::size_t i = 0; i < slots.size(); ++i) {
    if (beats[i] != Beat::missed) continue;
    Slot& slot = slots[i];
    const ExitCode code = slot.ref.blocking_terminate();
    const ActorStats stats = slot.ref.stats();
    out << "  monitor: " << slot.name << " is stuck: terminate() -> exit (" << to_string(code)
        << "), " << stats.dead_letters
        << " dead letters (its queued request and the heartbeat); a new " << slot.name
        << " starts\n";
    outcome.expect(code == ExitCode::terminated && stats.dead_letters >= 1,
                   "the stuck worker ended at its await; what it had queued became dead "
                   "letters");
    slot.ref = start_worker(runtime, slot.name);
    ++slot.generation;
  }
  outcome.expect(all_ok(heartbeat(slots, timeout, "3", out)),
                 "after the replacement every worker answers again");

  out << "3. overload: a burst of " << burst << " requests of " << work.count()
      << " ms, spread over the workers\n";
  std::size_t accepted = 0;
  std::size_t shed = 0;
  for (std::size_t i = 0; i < burst; ++i) {
    const auto told = slots[i % kWorkers].ref.tell(Work{work});
    if (told) {
      ++accepted;
    } else if (told.error().is_full()) {
      ++shed;  // refused at once: the caller would answer "busy, try later"
    }
  }
  out << "  accepted " << accepted << ", shed " << shed << " (refused at once, never queued)\n";
  (void)heartbeat(slots, timeout, "during the burst", out);  // busy or ok: timing decides
  std::uint64_t served = 0;
  for (Slot& slot : slots) served += served_by(slot.ref);
  out << "  served " << served << " of the " << accepted << " accepted; each waited for at most "
      << kMailbox << " others (" << kMailbox * work.count() << " ms)\n";
  outcome.expect(accepted + shed == burst && shed > 0 && accepted > 0,
                 "the overload was shed: accepted + shed = sent, and some were shed");
  outcome.expect(served == accepted, "every accepted request was served");
  outcome.expect(all_ok(heartbeat(slots, timeout, "4", out)),
                 "after the burst every worker answers: overload is not stuck");
  return outcome.finish();
}

}  // namespace
}  // namespace health_impl

int run_health(const DemoOptions& options, std::ostream& out) {
  return health_impl::run(options, out);
}

}  // namespace troupe::demos
