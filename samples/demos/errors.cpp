// errors.cpp — `troupe demo errors`: what the spawner sees when an actor goes wrong. An error
// fails that actor, never the process.
//
//   1. config  Config("settings.conf") throws ──▶ events: error "cannot open config ...",
//                                                  exit (start_failed); a later tell comes back
//   2. parser  ask(Parse{"42"}) ──▶ 2 (fine)
//              ask(Parse{""})   ──▶ handle throws ──▶ the asker: AskErrc::failed, holding the
//                                                     std::invalid_argument itself
//                                                     events: error, exit (failed)
//   3. sleepy  ask(Nap{2 s}, timeout 100 ms) ──▶ AskErrc::timeout after 100 ms;
//              terminate() ──▶ the suspended handler is abandoned: exit (terminated)
//
// What to notice:
//  * an exception in a constructor (Node: a Worker whose script throws at load) is reported as
//    events, 'error' then 'exit' with ExitCode::start_failed; 'online' never comes;
//  * an exception in a handler reaches the asker as a value (AskResult's error, code failed),
//    with the original exception inside, and fails the actor (ExitCode::failed);
//  * a timeout is the asker's limit, not the actor's: the handler would go on; terminate()
//    stops the actor at its next await point;
//  * throughout, main goes on: no exception ever escapes to it.
#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "demos/demos.hpp"
#include "demos/support.hpp"
#include "troupe/actors/actor.hpp"
#include "troupe/runtime/runtime.hpp"
#include "troupe/runtime/task.hpp"
#include "troupe/runtime/time.hpp"

namespace troupe::demos {
namespace errors_impl {
namespace {

using namespace std::chrono_literals;

struct Reload {};
class Config {
 public:
  explicit Config(const std::string& path) {
    throw std::runtime_error("cannot open config '" + path + "'");
  }
  void handle(Reload) {}
};

struct Parse {
  std::string text;
};
class Parser {
 public:
  std::size_t handle(Parse parse) const {
    if (parse.text.empty()) throw std::invalid_argument("Parser: empty input");
    return parse.text.size();
  }
};

struct Nap {
  std::chrono::milliseconds length;
};
class Sleepy {
 public:
  // A coroutine handler: it suspends on a timer, the actor's thread is not held.
  Task<int> handle(Nap nap) {
    co_await sleep_for(nap.length);
    co_return 1;
  }
};

// The what() of an exception held in an exception_ptr, and whether it is an invalid_argument.
std::pair<std::string, bool> inspect(const std::exception_ptr& error) {
  try {
    if (error) std::rethrow_exception(error);
  } catch (const std::invalid_argument& e) {
    return {e.what(), true};
  } catch (const std::exception& e) {
    return {e.what(), false};
  }
  return {"(none)", false};
}

bool has_error_event(const std::vector<ActorEvent>& events, const std::string& what) {
  for (const ActorEvent& event : events) {
    if (event.kind == ActorEvent::Kind::error && event.what.find(what) != std::string::npos) {
      return true;
    }
  }
  return false;
}

void throws_at_start(Runtime& runtime, Outcome& outcome, std::ostream& out) {
  out << "1. an actor whose constructor throws\n";
  auto [options, events] = observed("config");
  ActorRef<Config> config =
      spawn_actor<Config>(runtime, std::move(options), std::string("settings.conf"));
  out << "  spawn_actor returned a handle: the constructor runs on the actor's task\n";
  const std::vector<ActorEvent> seen = events_until_exit(events, out);
  outcome.expect(has_error_event(seen, "cannot open config 'settings.conf'"),
                 "the 'error' event carries the constructor's exception text");
  outcome.expect(exited_with(seen, ExitCode::start_failed),
                 "it exits with start_failed, and 'online' never came");
  const auto told = config.tell(Reload{});
  out << "  a tell to it now: " << (told ? "queued" : to_string(told.error().kind())) << '\n';
  outcome.expect(!told && told.error().is_closed(),
                 "a message to the failed actor comes back (Closed): a dead letter, not a hang");
}

void throws_on_message(Runtime& runtime, Outcome& outcome, std::ostream& out) {
  out << "2. an actor whose handler throws\n";
  auto [options, events] = observed("parser");
  ActorRef<Parser> parser = spawn_actor<Parser>(runtime, std::move(options));
  (void)next_event(events, out);  // online
  const auto fine = parser.blocking_ask(Parse{"42"}, kPatience);
  if (fine) out << "  ask(Parse{\"42\"}) -> " << *fine << '\n';
  outcome.expect(fine && *fine == 2, "a good message is answered");
  const auto bad = parser.blocking_ask(Parse{""}, kPatience);
  if (!bad) {
    const auto [what, invalid_argument] = inspect(bad.error().exception());
    out << "  ask(Parse{\"\"}) -> " << to_string(bad.error().code()) << ": "
        << bad.error().message() << '\n'
        << "  the exception inside is " << (invalid_argument ? "a std::invalid_argument" : "other")
        << ": " << what << '\n';
    outcome.expect(bad.error().code() == AskErrc::failed && invalid_argument &&
                       what == "Parser: empty input",
                   "the asker gets AskErrc::failed with the handler's own exception");
  } else {
    outcome.expect(false, "the asker gets AskErrc::failed with the handler's own exception");
  }
  const std::vector<ActorEvent> seen = events_until_exit(events, out);
  outcome.expect(has_error_event(seen, "Parser: empty input") &&
                     exited_with(seen, ExitCode::failed),
                 "the spawner sees 'error' then 'exit' (failed)");
}

void ask_times_out(Runtime& runtime, Outcome& outcome, std::ostream& out) {
  out << "3. an ask that times out\n";
  auto [options, events] = observed("sleepy");
  ActorRef<Sleepy> sleepy = spawn_actor<Sleepy>(runtime, std::move(options));
  (void)next_event(events, out);  // online
  const Clock::time_point start = Clock::now();
  const auto nap = sleepy.blocking_ask(Nap{2s}, 100ms);
  out << "  ask(Nap{2 s}) with a 100 ms timeout -> "
      << (nap ? "a reply" : std::string(to_string(nap.error().code())) + ": " +
                                nap.error().message())
      << " after " << format_since(start) << '\n';
  outcome.expect(!nap && nap.error().code() == AskErrc::timeout,
                 "the asker gets AskErrc::timeout, not a hang");
  out << "  the handler is still napping; terminate() stops it at its await\n";
  const ExitCode code = sleepy.blocking_terminate();
  const std::vector<ActorEvent> seen = events_until_exit(events, out);
  outcome.expect(code == ExitCode::terminated && exited_with(seen, ExitCode::terminated),
                 "terminate() ends it at once: exit (terminated)");
}

int run(const DemoOptions& /*options: nothing to size*/, std::ostream& out) {
  Outcome outcome(out);
  Runtime runtime;
  throws_at_start(runtime, outcome, out);
  throws_on_message(runtime, outcome, out);
  ask_times_out(runtime, outcome, out);
  out << "main is still running: every error stayed inside its actor\n";
  return outcome.finish();
}

}  // namespace
}  // namespace errors_impl

int run_errors(const DemoOptions& options, std::ostream& out) {
  return errors_impl::run(options, out);
}

}  // namespace troupe::demos
