// limits.cpp — `troupe demo limits`: an actor that holds more Buffer bytes than its quota is
// failed — it alone — and its supervisor rebuilds it (Node: a Worker's resourceLimits, and the
// code that restarts the Worker after ERR_WORKER_OUT_OF_MEMORY).
//
//   1. alone:      cache (byte_quota 1 MiB) ◀── Load 300 KiB × 4: holds 300, 600, 900 KiB …
//                  the 4th allocation would make 1200 KiB: Buffer throws
//                  Error(resource_exhausted) ──▶ error, exit (resource_exhausted)
//
//   2. supervised: Supervisor (one_for_one) ──start──▶ cache, the same quota, the same loads
//                  the 4th load fails it ──▶ error ──▶ restart ──▶ online: a new, empty cache
//                  behind the same ActorRef; an ask queued meanwhile is answered by it
//
// What to notice:
//  * the quota counts the bytes of Buffers the actor holds (allocated by it, or transferred
//    to it); the allocation that would pass it throws in the handler, and the actor fails
//    after that message with ExitCode::resource_exhausted — even if the handler caught it;
//  * only that actor is affected: main, the runtime and other actors go on, and the failed
//    actor's Buffers are released;
//  * under a supervisor the failure becomes a restart: the same ActorRef and mailbox, a fresh
//    actor built again from its initial data (here: none), 'restart' then 'online' events;
//    the message that failed is not retried.
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "demos/demos.hpp"
#include "demos/support.hpp"
#include "troupe/actors/actor.hpp"
#include "troupe/actors/supervisor.hpp"
#include "troupe/channels/buffer.hpp"
#include "troupe/runtime/runtime.hpp"

namespace troupe::demos {
namespace limits_impl {
namespace {

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kQuota = 1024 * kKiB;
constexpr std::size_t kLoad = 300 * kKiB;
constexpr int kLoads = 4;  // the 4th passes the quota

struct Load {
  std::size_t bytes;
};
struct Held {};

// Keeps every frame it is asked to load: a cache with no eviction, the bug a quota contains.
class Cache {
 public:
  void handle(Load load) { frames_.emplace_back(load.bytes); }  // throws past the quota
  std::size_t handle(Held /*unused*/) const {
    std::size_t bytes = 0;
    for (const Buffer& frame : frames_) bytes += frame.size();
    return bytes;
  }

 private:
  std::vector<Buffer> frames_;
};

// Sends the loads, asking after each what the cache holds while it still answers.
void load_past_quota(ActorRef<Cache>& cache, std::ostream& out) {
  for (int i = 1; i <= kLoads; ++i) {
    const bool sent = cache.tell(Load{kLoad}).has_value();
    if (i == kLoads) {
      out << "  load " << i << " of " << format_bytes(kLoad) << (sent ? " sent" : " refused")
          << ": it would hold " << format_bytes(i * kLoad) << '\n';
      break;
    }
    const auto held = cache.blocking_ask(Held{}, kPatience);
    out << "  load " << i << " of " << format_bytes(kLoad) << ": holds "
        << (held ? format_bytes(*held) : "(no answer)") << '\n';
  }
}

bool has_quota_error(const std::vector<ActorEvent>& events) {
  for (const ActorEvent& event : events) {
    if (event.kind == ActorEvent::Kind::error && event.code == ExitCode::resource_exhausted &&
        event.what.find("byte quota") != std::string::npos) {
      return true;
    }
  }
  return false;
}

void alone(Runtime& runtime, Outcome& outcome, std::ostream& out) {
  out << "1. an unsupervised cache with a byte quota of " << format_bytes(kQuota) << '\n';
  auto [options, events] = observed("cache");
  options.byte_quota = kQuota;
  ActorRef<Cache> cache = spawn_actor<Cache>(runtime, std::move(options));
  load_past_quota(cache, out);
  const std::vector<ActorEvent> seen = events_until_exit(events, out);
  const ExitCode code = cache.blocking_wait_exit();
  out << "  exit code: " << to_string(code) << '\n';
  outcome.expect(has_quota_error(seen), "the 'error' event names the byte quota");
  outcome.expect(
      code == ExitCode::resource_exhausted && exited_with(seen, ExitCode::resource_exhausted),
      "it exits with resource_exhausted");
}

void supervised(Runtime& runtime, Outcome& outcome, std::ostream& out) {
  out << "2. the same cache under a supervisor (one_for_one, at most 3 restarts in 5 s)\n";
  SupervisorOptions supervisor_options;
  supervisor_options.name = "caches";
  Supervisor supervisor(runtime, supervisor_options);
  auto [options, events] = observed("cache");
  options.byte_quota = kQuota;
  ActorRef<Cache> cache = supervisor.start<Cache>(std::move(options));
  load_past_quota(cache, out);
  // Queued behind the failing load: the rebuilt actor answers it.
  const auto held_after = cache.blocking_ask(Held{}, kPatience);
  out << "  asked again through the same ActorRef: holds "
      << (held_after ? format_bytes(*held_after) : "(no answer)") << '\n';

  std::vector<ActorEvent> seen;  // until the 'online' that follows the 'restart'
  bool restarted = false;
  while (auto event = next_event(events, out)) {
    seen.push_back(std::move(*event));
    restarted = restarted || seen.back().kind == ActorEvent::Kind::restart;
    if (restarted && seen.back().kind == ActorEvent::Kind::online) break;
  }
  out << "  restarts: the actor's " << cache.stats().restarts << ", the supervisor's "
      << supervisor.restarts() << '\n';
  outcome.expect(has_quota_error(seen), "the 'error' event carries resource_exhausted");
  outcome.expect(restarted && seen.back().kind == ActorEvent::Kind::online &&
                     cache.stats().restarts == 1 && supervisor.restarts() == 1,
                 "the supervisor restarted it once: 'restart', then 'online' again");
  outcome.expect(held_after && *held_after == 0,
                 "the rebuilt cache answers through the same ActorRef, empty");

  const ExitCode stopped = supervisor.blocking_stop();
  const std::vector<ActorEvent> last = events_until_exit(events, out);
  outcome.expect(stopped == ExitCode::terminated && exited_with(last, ExitCode::terminated),
                 "stopping the supervisor ends it: exit (terminated)");
}

int run(const DemoOptions& /*options: nothing to size*/, std::ostream& out) {
  Outcome outcome(out);
  Runtime runtime;
  alone(runtime, outcome, out);
  supervised(runtime, outcome, out);
  out << "main is still running: only the cache that passed its quota failed\n";
  return outcome.finish();
}

}  // namespace
}  // namespace limits_impl

int run_limits(const DemoOptions& options, std::ostream& out) {
  return limits_impl::run(options, out);
}

}  // namespace troupe::demos
