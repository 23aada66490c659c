// message_channel.cpp — `troupe demo message-channel`: introduce two actors to each other and
// step aside. Node's MessageChannel: main makes an entangled port pair and transfers one port
// to each worker; from then on they talk directly.
//
//                        main
//     auto [port1, port2] = message_channel<Ping, Pong>()
//        │ pinger.tell(std::move(port1))       │ ponger.tell(std::move(port2))
//        ▼                                     ▼
//     pinger (task actor) ◀═══ Ping ═══ Pong ═══▶ ponger (task actor)
//        │  n round trips, main not involved      (squares what it gets)
//        └── Report ──▶ main
//
// What to notice:
//  * a Port is Sendable: it travels in a message like any value, and moving it transfers it —
//    main's port1 and port2 are dead afterwards (valid() false, any use throws);
//  * the two actors then exchange every Ping and Pong through the ports, main relaying none:
//    it only hears the final reports;
//  * closing a port ends the conversation cleanly: the other side's recv() returns nullopt
//    (end of stream), its loop ends and the actor exits normally.
#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "demos/demos.hpp"
#include "demos/support.hpp"
#include "troupe/actors/task_actor.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/channels/port.hpp"
#include "troupe/runtime/runtime.hpp"
#include "troupe/runtime/task.hpp"

namespace troupe::demos {
namespace message_channel_impl {
namespace {

struct Ping {
  long n;
};
struct Pong {
  long n;
  long square;
};
struct Report {
  std::string who;
  long exchanges = 0;
  long correct = 0;
  std::chrono::nanoseconds took{0};     // from the first Ping to the last Pong
  std::vector<std::string> transcript;  // the first few exchanges, for main to print
};

constexpr long kTranscribed = 3;

// Waits for its port, then plays `rounds` round trips through it and reports.
Task<void> pinger(Receiver<Port<Ping, Pong>>& inbox, long rounds, Sender<Report> report) {
  std::optional<Port<Ping, Pong>> port = co_await inbox.recv();
  if (!port) co_return;  // never introduced
  Report done;
  done.who = "pinger";
  const Clock::time_point start = Clock::now();
  for (long n = 1; n <= rounds; ++n) {
    if (!co_await port->send(Ping{n})) break;  // the ponger has gone
    std::optional<Pong> pong = co_await port->recv();
    if (!pong) break;
    ++done.exchanges;
    if (pong->n == n && pong->square == n * n) ++done.correct;
    if (n <= kTranscribed) {
      done.transcript.push_back("pinger: sent Ping " + std::to_string(n) + ", got Pong " +
                                std::to_string(pong->square));
    }
  }
  done.took = Clock::now() - start;
  port->close();  // the ponger's recv() now ends its loop
  // Unbounded: never Full; Closed only if main stopped listening.
  (void)report.try_send(std::move(done));
}

// Waits for its port, then answers every Ping with its square until the port closes.
Task<void> ponger(Receiver<Port<Pong, Ping>>& inbox, Sender<Report> report) {
  std::optional<Port<Pong, Ping>> port = co_await inbox.recv();
  if (!port) co_return;
  Report done;
  done.who = "ponger";
  while (std::optional<Ping> ping = co_await port->recv()) {
    if (!co_await port->send(Pong{ping->n, ping->n * ping->n})) break;
    ++done.exchanges;
  }
  (void)report.try_send(std::move(done));
}

int run(const DemoOptions& options, std::ostream& out) {
  const long rounds = options.quick ? 1'000 : 20'000;
  Outcome outcome(out);
  Runtime runtime;
  auto [report_tx, reports] = unbounded_channel<Report>();

  ActorOptions pinger_options;
  pinger_options.name = "pinger";
  ActorOptions ponger_options;
  ponger_options.name = "ponger";
  TaskActorRef<Port<Ping, Pong>> ping_actor = spawn_task_actor<Port<Ping, Pong>>(
      runtime, std::move(pinger_options), pinger, rounds, report_tx);
  TaskActorRef<Port<Pong, Ping>> pong_actor = spawn_task_actor<Port<Pong, Ping>>(
      runtime, std::move(ponger_options), ponger, std::move(report_tx));

  auto [port1, port2] = message_channel<Ping, Pong>();
  out << "main: made a port pair and transfers one port to each actor\n";
  const bool introduced =
      ping_actor.tell(std::move(port1)).has_value() && pong_actor.tell(std::move(port2)).has_value();
  out << "main: port1 valid " << (port1.valid() ? "yes" : "no") << ", port2 valid "
      << (port2.valid() ? "yes" : "no") << " (moved into the messages)\n";
  outcome.expect(introduced && !port1.valid() && !port2.valid(),
                 "the ports were transferred: main's handles are dead");

  std::vector<Report> got;
  for (int i = 0; i < 2; ++i) {
    auto report = reports.recv_for(kPatience);
    if (!report) break;
    for (const std::string& line : report->transcript) out << "  " << line << '\n';
    out << "  " << report->who << " reports " << report->exchanges << " exchanges\n";
    got.push_back(std::move(*report));
  }
  out << "main: relayed none of the messages; it only read the reports\n";

  const auto report_of = [&got](const std::string& who) -> const Report* {
    for (const Report& r : got) {
      if (r.who == who) return &r;
    }
    return nullptr;
  };
  const Report* ping_report = report_of("pinger");
  const Report* pong_report = report_of("ponger");
  if (ping_report != nullptr) {
    out << "pinger: " << ping_report->exchanges << " round trips in "
        << format_duration(ping_report->took) << ", "
        << format_duration(ping_report->took / std::max(ping_report->exchanges, 1L))
        << " each\n";
  }
  outcome.expect(ping_report != nullptr && ping_report->exchanges == rounds &&
                     ping_report->correct == rounds,
                 "the pinger got every Pong, each the square of its Ping");
  outcome.expect(pong_report != nullptr && pong_report->exchanges == rounds,
                 "the ponger answered every Ping, then saw the port close");
  outcome.expect(ping_actor.blocking_wait_exit() == ExitCode::normal &&
                     pong_actor.blocking_wait_exit() == ExitCode::normal,
                 "both actors ended by themselves (exit normal)");
  return outcome.finish();
}

}  // namespace
}  // namespace message_channel_impl

int run_message_channel(const DemoOptions& options, std::ostream& out) {
  return message_channel_impl::run(options, out);
}

}  // namespace troupe::demos
