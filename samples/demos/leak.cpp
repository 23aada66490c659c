// leak.cpp — `troupe demo leak`: an actor per request, spawned and never ended, against the
// same work with the number of live actors bounded and each one ended once it is done.
//
//   1. leaky:   request i ──spawn──▶ session i (64 KiB of state) ──answer──▶ main
//               main keeps every ActorRef in a table "for later" that never comes:
//               each idle session stays alive — live sessions and memory grow with requests
//
//   2. bounded: at most 8 sessions open at once, in a table main cleans: before opening a
//               9th, main takes the next answer and ends the session that gave it
//               (terminate() returns once it has exited) — live sessions and memory stay
//               flat, however many requests
//
// The census is troupe::live_actors() (registry.hpp): every actor's name, state and the bytes
// of Buffers it holds (counted because each session has a byte quota).
//
// What to notice:
//  * an actor ends when nobody holds an ActorRef to it (or on terminate()). An idle actor
//    costs no CPU, so the leak is silent: every request is answered, and only the census
//    shows the sessions piling up, each with its state and its mailbox;
//  * the leak is as long as the table: clearing it ends them all at once, with no other
//    change — the bug was the references, not the actors;
//  * the bounded version does the same work with the same code in the session: what changed
//    is that main ends each session once it has answered, and opens a new one only then, so
//    at most 8 are ever alive (the census agrees).
#include <algorithm>
#include <cstddef>
#include <chrono>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "demos/demos.hpp"
#include "demos/support.hpp"
#include "troupe/actors/actor.hpp"
#include "troupe/actors/registry.hpp"
#include "troupe/channels/buffer.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/runtime/runtime.hpp"

namespace troupe::demos {
namespace leak_impl {
namespace {

constexpr std::size_t kState = 64 * 1024;  // each session's state
constexpr std::size_t kBound = 8;          // the bounded design's most live sessions

struct Request {
  std::uint64_t id = 0;
};
struct Answer {
  std::uint64_t id = 0;
  std::uint64_t checksum = 0;
};

// A session: some state of its own, built when it starts, used to answer its request.
class Session {
 public:
  explicit Session(Sender<Answer> answers) : answers_(std::move(answers)), state_(kState) {}

  void handle(Request request) {
    std::uint64_t checksum = request.id;
    auto bytes = state_.bytes();
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      bytes[i] = static_cast<std::byte>(request.id + i);
      checksum = checksum * 31 + static_cast<std::uint64_t>(bytes[i]);
    }
    (void)answers_.try_send(Answer{request.id, checksum});  // unbounded: never Full
  }

 private:
  Sender<Answer> answers_;
  Buffer state_;
};

// What the checksum of request `id` must be.
std::uint64_t expected_checksum(std::uint64_t id) {
  std::uint64_t checksum = id;
  for (std::size_t i = 0; i < kState; ++i) {
    checksum = checksum * 31 + static_cast<std::uint8_t>(id + i);
  }
  return checksum;
}

// The live (not exited) actors called `name`, and the Buffer bytes they hold.
struct Census {
  std::size_t live = 0;
  std::size_t bytes = 0;
};
Census census(std::string_view name) {
  Census counted;
  for (const ActorInfo& actor : live_actors()) {
    if (actor.name != name || actor.state == ActorState::exited) continue;
    ++counted.live;
    counted.bytes += actor.bytes_held;
  }
  return counted;
}

void print_census(std::size_t requests, const Census& counted, std::ostream& out) {
  out << "  after " << requests << " requests: " << counted.live << " live sessions, "
      << format_bytes(counted.bytes) << " held\n";
}

ActorRef<Session> open_session(Runtime& runtime, const std::string& name,
                                const Sender<Answer>& answers) {
  ActorOptions options;
  options.name = name;
  options.mailbox_capacity = 16;
  options.byte_quota = 4 * kState;  // a limit it never reaches: makes its bytes counted
  return spawn_actor<Session>(runtime, std::move(options), answers);
}

// Takes `count` answers; how many were right (one missing within kPatience ends the count).
std::size_t right_answers(Receiver<Answer>& answers, std::size_t count) {
  std::size_t right = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const auto answer = answers.recv_for(kPatience);
    if (!answer) break;
    right += answer->checksum == expected_checksum(answer->id) ? 1 : 0;
  }
  return right;
}

// Polls the census until no actor called `name` is live; the last census.
Census until_gone(std::string_view name) {
  const Clock::time_point give_up = Clock::now() + kPatience;
  Census counted = census(name);
  while (counted.live > 0 && Clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    counted = census(name);
  }
  return counted;
}

void leaky(Runtime& runtime, std::size_t requests, Outcome& outcome, std::ostream& out) {
  out << "1. leaky: a session per request, its ActorRef kept in a table nobody cleans\n";
  const std::string name = "leaky-session";
  auto [answers_tx, answers] = unbounded_channel<Answer>();
  std::vector<ActorRef<Session>> table;  // the leak
  std::size_t right = 0;
  std::size_t answered = 0;
  for (std::size_t i = 1; i <= requests; ++i) {
    table.push_back(open_session(runtime, name, answers_tx));
    (void)table.back().tell(Request{i});
    if (i % (requests / 4) == 0) {  // the answers so far, then the census
      right += right_answers(answers, i - answered);
      answered = i;
      print_census(i, census(name), out);
    }
  }
  right += right_answers(answers, requests - answered);
  const Census last = census(name);
  out << "  " << right << " of " << requests << " answered right; the sessions are idle but "
      << "alive: " << last.live << ", holding " << format_bytes(last.bytes) << '\n';
  outcome.expect(right == requests, "leaky: every request was answered right");
  outcome.expect(last.live == requests && last.bytes == requests * kState,
                 "leaky: every session is still alive, with its state: nothing ends them");

  const Clock::time_point cleared = Clock::now();
  table.clear();
  const Census after = until_gone(name);
  out << "  the table cleared at last: " << after.live << " live sessions, "
      << format_bytes(after.bytes) << " held, " << format_since(cleared) << " later\n";
  outcome.expect(after.live == 0, "leaky: dropping the ActorRefs ends every session");
}

void bounded(Runtime& runtime, std::size_t requests, Outcome& outcome, std::ostream& out) {
  out << "2. bounded: at most " << kBound << " sessions at once, each ended once it has "
      << "answered\n";
  const std::string name = "bounded-session";
  auto [answers_tx, answers] = unbounded_channel<Answer>();
  std::map<std::uint64_t, ActorRef<Session>> open;  // by request id: at most kBound
  std::size_t right = 0;
  std::size_t most_live = 0;
  bool stalled = false;
  // Takes the next answer and ends the session that gave it (terminate: it is idle now, and
  // the call returns once it has exited).
  const auto close_one = [&] {
    const auto answer = answers.recv_for(kPatience);
    if (!answer) {
      stalled = true;
      return;
    }
    right += answer->checksum == expected_checksum(answer->id) ? 1 : 0;
    auto session = open.extract(answer->id);
    if (!session.empty()) (void)session.mapped().blocking_terminate();
  };
  for (std::uint64_t i = 1; i <= requests && !stalled; ++i) {
    if (open.size() == kBound) close_one();
    ActorRef<Session> session = open_session(runtime, name, answers_tx);
    (void)session.tell(Request{i});
    open.emplace(i, std::move(session));
    const Census now = census(name);
    most_live = std::max(most_live, now.live);
    if (i % (requests / 4) == 0) print_census(i, now, out);
  }
  while (!open.empty() && !stalled) close_one();
  const Census last = census(name);
  out << "  " << right << " of " << requests << " answered right; the most live at once: "
      << most_live << "; now " << last.live << " live, " << format_bytes(last.bytes)
      << " held\n";
  outcome.expect(right == requests, "bounded: every request was answered right");
  outcome.expect(!stalled && most_live <= kBound,
                 "bounded: never more than " + std::to_string(kBound) + " sessions alive");
  outcome.expect(last.live == 0 && last.bytes == 0,
                 "bounded: once done, no session is left, and no memory held");
}

int run(const DemoOptions& options, std::ostream& out) {
  const std::size_t requests = options.quick ? 100 : 800;
  Outcome outcome(out);
  Runtime runtime;
  leaky(runtime, requests, outcome, out);
  bounded(runtime, requests, outcome, out);
  return outcome.finish();
}

}  // namespace
}  // namespace leak_impl

int run_leak(const DemoOptions& options, std::ostream& out) {
  return leak_impl::run(options, out);
}

}  // namespace troupe::demos
