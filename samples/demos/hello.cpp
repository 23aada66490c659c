// hello.cpp — `troupe demo hello`: the life of one actor, Node's Worker in miniature.
//
//   main thread                                        greeter (an actor on the runtime)
//   ───────────                                        ─────────────────────────────────
//   spawn_actor<Greeter>(rt, opts, "Ada", to_main) ──▶ Greeter("Ada", to_main)  (workerData)
//   greeter.tell(Greet{"hello"}) ─────────────────────▶ queued, even before 'online'
//   events        ◀── online
//                                                      handle(Greet)
//   from_greeter  ◀── "hello, main! (from Ada)" ────── to_main.try_send(...)  (postMessage)
//   greeter.blocking_ask(HowMany{}) ──────────────────▶ handle(HowMany) returns 1: the reply
//   greeter = {}   (the last ActorRef dropped) ───────▶ handles what is queued, then stops
//   events        ◀── exit (normal)
//
// What to notice:
//  * the arguments after the options are the actor's initial data: moved into its
//    constructor, so they must be Sendable (a string and a Sender are);
//  * messages go both ways: main -> actor by tell (fire and forget) or ask (a reply comes
//    back), actor -> main through a channel main handed it at spawn;
//  * a tell sent before the actor is online is queued, not lost;
//  * the actor ends by itself once nobody holds an ActorRef to it (exit code normal), and its
//    events come in order: online ... exit.
#include <chrono>
#include <string>
#include <utility>

#include "demos/demos.hpp"
#include "demos/support.hpp"
#include "troupe/actors/actor.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/runtime/runtime.hpp"

namespace troupe::demos {
namespace hello_impl {
namespace {

struct Greet {
  std::string text;
};
struct HowMany {};

class Greeter {
 public:
  // The initial data: a name, and where to post messages for main.
  Greeter(std::string name, Sender<std::string> to_main)
      : name_(std::move(name)), to_main_(std::move(to_main)) {}

  void handle(Greet greet) {
    ++greeted_;
    // Unbounded: never Full. Closed only if main stopped listening, and then nobody cares.
    (void)to_main_.try_send(greet.text + ", main! (from " + name_ + ")");
  }
  int handle(HowMany) const { return greeted_; }

 private:
  std::string name_;
  Sender<std::string> to_main_;
  int greeted_ = 0;
};

int run(const DemoOptions& /*options: nothing to size*/, std::ostream& out) {
  Outcome outcome(out);
  Runtime runtime;
  auto [to_main, from_greeter] = unbounded_channel<std::string>();
  auto [options, events] = observed("greeter");  // name, and where its events go
  ActorRef<Greeter> greeter =
      spawn_actor<Greeter>(runtime, std::move(options), std::string("Ada"), std::move(to_main));
  out << "main: spawned actor " << greeter.id() << " 'greeter' with initial data \"Ada\"\n";

  const bool queued = greeter.tell(Greet{"hello"}).has_value();
  out << "main: told it Greet{\"hello\"} (" << (queued ? "queued" : "refused") << ")\n";
  const auto online = next_event(events, out);
  outcome.expect(online && online->kind == ActorEvent::Kind::online,
                 "the first event is 'online'");

  auto note = from_greeter.recv_for(kPatience);
  if (note) out << "main: received \"" << *note << "\"\n";
  outcome.expect(note && *note == "hello, main! (from Ada)",
                 "the actor's message reached main, with its initial data in it");

  auto greeted = greeter.blocking_ask(HowMany{}, kPatience);
  if (greeted) out << "main: asked HowMany, the reply is " << *greeted << '\n';
  outcome.expect(greeted && *greeted == 1, "the ask came back with the actor's count (1)");

  out << "main: dropping the last ActorRef\n";
  greeter = ActorRef<Greeter>();
  outcome.expect(exited_with(events_until_exit(events, out), ExitCode::normal),
                 "the last event is 'exit' with code normal: nobody could reach it any more");
  return outcome.finish();
}

}  // namespace
}  // namespace hello_impl

int run_hello(const DemoOptions& options, std::ostream& out) {
  return hello_impl::run(options, out);
}

}  // namespace troupe::demos
