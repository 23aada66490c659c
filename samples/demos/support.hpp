// demos/support.hpp — small helpers the demos share: reading an actor's events, a pool of a
// fixed size, and printing durations and sizes the same way everywhere. Not part of any demo's
// lesson.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "troupe/actors/actor.hpp"
#include "troupe/actors/pipeline.hpp"
#include "troupe/actors/pool.hpp"

namespace troupe::demos {

using Clock = std::chrono::steady_clock;

// How long a demo waits for something that should come at once before it calls it lost
// (a broken demo fails its check instead of hanging).
inline constexpr std::chrono::seconds kPatience{10};

// Options for an actor called `name` whose events go to `events`: an unbounded channel, so an
// event never waits and is never lost.
struct Observed {
  ActorOptions options;
  Receiver<ActorEvent> events;
};
[[nodiscard]] Observed observed(std::string name);

// "online", "error: <what>", "exit (start_failed)", ...
[[nodiscard]] std::string describe(const ActorEvent& event);

// The next event from an actor's events channel, printed as "  event: <describe>"; nullopt
// (and a line saying so) if none came within kPatience.
std::optional<ActorEvent> next_event(Receiver<ActorEvent>& events, std::ostream& out);

// Events until (and with) the actor's 'exit', each printed. The last one is not 'exit' if the
// stream stalled first.
std::vector<ActorEvent> events_until_exit(Receiver<ActorEvent>& events, std::ostream& out);
// Whether `events` ends with an 'exit' with `code`.
[[nodiscard]] bool exited_with(const std::vector<ActorEvent>& events, ExitCode code);

// Options for a pool called `name` that runs exactly `workers` threads from the start (no
// growing or shrinking to blur what a demo shows).
[[nodiscard]] PoolOptions fixed_pool(std::string name, std::size_t workers);

// "12.3 ms", "850 us", "1.20 s": three significant digits, the unit chosen to fit.
[[nodiscard]] std::string format_duration(std::chrono::nanoseconds duration);
[[nodiscard]] inline std::string format_since(Clock::time_point start) {
  return format_duration(Clock::now() - start);
}
// "12.3 ms (1.23 us each)": `duration` for `count` units of work, and its share per unit.
[[nodiscard]] std::string format_each(std::chrono::nanoseconds duration, std::size_t count);
// "12.5x": how many times `base` fits in `cost` ("-" if base is zero).
[[nodiscard]] std::string format_ratio(std::chrono::nanoseconds cost, std::chrono::nanoseconds base);
// "64.0 KiB", "100 MiB", ...
[[nodiscard]] std::string format_bytes(std::size_t bytes);

// One line (with its newline) for a pipeline stage's figures: "  resize     x2  in 100, out
// 100, filtered 0, busy 12.3 ms (61% of its tasks' time)".
[[nodiscard]] std::string describe_stage(const StageStats& stage);

}  // namespace troupe::demos
