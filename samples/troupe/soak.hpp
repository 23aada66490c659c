// soak.hpp — `troupe load soak --duration D [--seed S] [--size N] [--json]`: mixed workloads
// with fault injection, and a balance sheet that must balance.
//
// For D seconds the soak runs rounds; each round builds a fresh Runtime and runs four parts at
// once, each on threads of its own, with every random choice drawn from the round's seed
// (derived from --seed and the round number, so a failing run is replayed with the same seed
// and --size):
//   flaky     producers tell messages to actors under a Supervisor (restart on failure, no
//             intensity limit in practice); a handler throws on a seeded share of the
//             messages (the actor fails and is rebuilt, keeping its mailbox), and one producer
//             terminates one actor mid-stream (later tells come back Closed).
//   stall     a producer tells a dedicated-thread actor with a small mailbox whose handler
//             stalls (sleeps 1-3 ms) on the first message and a seeded share of the others,
//             so the mailbox fills and tells come back Full; the actor is terminated with
//             messages still queued (at small sizes, often before it has taken any).
//   pool      a thread submits to a bounded Pool (some tasks throw) while another closes it
//             after a seeded number of submissions (sometimes with force): every future is
//             read, and each resolves with a value, the task's error or Error(cancelled).
//   chain     Buffers (in a counting wrapper) are told through a chain of actors and come back
//             on a channel; one relay of the chain is terminated mid-stream, so parcels past it
//             become dead letters (destroyed by the library with their Buffers).
// --size N (1..10,000, default 100) scales every part's count linearly: per round, 2 producers
// x 15N flaky messages, 4N stall messages, 4N pool tasks, 3N parcels. Mailboxes, the pool's
// queue, the chain's length and the fault rates stay as they are: at size 1 the faults fall on
// the first few messages, at large sizes every part runs longer before and after its faults.
//
// The books (each must hold at the end of every round, summed over the run):
//   messages  sent = delivered + returned + dead letters, where delivered counts handler
//             entries (a handler that throws was delivered), returned counts tells refused
//             with Full (the message handed back), and dead letters are the actors'
//             ActorStats::dead_letters (queued when the actor stopped, or told after it
//             stopped: those also come back Closed, and are booked once, as dead letters).
//             Cross-checks: ActorStats::received = delivered, ActorStats::rejected = returned,
//             Closed returns <= dead letters.
//   parcels   launched = came back + dead letters of the relays.
//   futures   every future of an accepted submission resolves: submitted = value + error +
//             cancelled; the pool's own PoolStats balance (submitted = completed + failed +
//             cancelled + timed_out + deadline_exceeded) and agree with the futures, and the
//             refused submissions (Closed, handed back) equal PoolStats::rejected.
//   Buffers   troupe has no counter of live Buffers: the soak counts them itself, in the
//             wrapper (TrackedBuffer in soak.cpp) that every transferred Buffer travels in —
//             created, freed (the wrapper that still owns its Buffer destroyed), live = created
//             - freed, which must be 0 at the end; a parcel that comes back must carry its own
//             bytes.
//   threads   the entries of /proc/self/task at the start and at the end (after every round's
//             Runtime, Pool and threads are gone): the end must not exceed the start. The start
//             is counted after one thread has been started and joined, so that a helper thread
//             that a sanitizer starts with the first new thread (ThreadSanitizer's) counts at
//             both ends rather than as a thread left running.
// A round that has not finished within kRoundTimeout (soak.cpp) is a hang: the soak prints
// what it has, names the stuck part, and exits 1 without waiting for it.
//
// Output: the balance sheet, human or --json (one line); exit 0 if every book balanced, 1 if
// not, 2 for a usage error (found before the run). Without --seed a random seed is drawn and
// printed, so that any run can be replayed.
//
// The engine is also called without the CLI: run_soak_rounds runs a given number of rounds of
// one seed and size and returns the sheet (test/test_stress.cpp runs a grid of seeds and sizes
// through it, one round each).
//
// Thread-safety: the functions share nothing but read-only tables; a run's parts share only
// the atomic counters of its sheet.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "load.hpp"

namespace troupe::cli {

// The workload name that selects this mode: `troupe load soak`.
inline constexpr std::string_view kSoakCommand = "soak";

// --size: what a round's counts are multiplied by (soak.cpp: per unit of size). The default
// gives the rounds the soak ran before --size existed.
inline constexpr std::uint64_t kSoakDefaultSize = 100;
inline constexpr std::uint64_t kSoakMaxSize = 10'000;

// A `troupe load soak` request, resolved and validated.
struct SoakPlan {
  double duration = 0;      // seconds, (0, 86400]
  std::uint64_t seed = 0;   // --seed, or drawn at random
  bool seed_given = false;
  std::uint64_t size = kSoakDefaultSize;  // --size, [1, kSoakMaxSize]
  OutputFormat format = OutputFormat::human;
};

// The balance sheet of a soak run: what the parts counted, summed over the rounds.
struct SoakSheet {
  double seconds = 0;
  std::uint64_t seed = 0;
  std::uint64_t size = 0;
  std::uint64_t rounds = 0;
  // Messages told to actors (flaky, stall and chain hops are all actor messages).
  std::uint64_t sent = 0;
  std::uint64_t delivered = 0;       // handler entries
  std::uint64_t returned = 0;        // refused with Full, handed back
  std::uint64_t returned_closed = 0; // refused with Closed (also dead letters)
  std::uint64_t dead_letters = 0;    // Σ ActorStats::dead_letters
  std::uint64_t received = 0;        // Σ ActorStats::received
  std::uint64_t rejected = 0;        // Σ ActorStats::rejected
  // Faults injected, per kind.
  std::uint64_t handler_throws = 0;
  std::uint64_t terminations = 0;    // actors terminated mid-stream (flaky and chain)
  std::uint64_t restarts = 0;        // Σ ActorStats::restarts (the supervisor rebuilt one)
  std::uint64_t stalls = 0;
  std::uint64_t pool_closes = 0;
  std::uint64_t pool_forced_closes = 0;  // of which close(force = true)
  std::uint64_t buffer_transfers = 0;    // parcel hops (tells carrying a Buffer)
  // Parcels through the chain.
  std::uint64_t parcels_launched = 0;
  std::uint64_t parcels_back = 0;
  std::uint64_t parcels_dead = 0;        // Σ dead letters of the relays
  std::uint64_t parcels_corrupt = 0;     // came back with bytes that are not their own
  // Futures.
  std::uint64_t futures_submitted = 0;   // accepted by the pool
  std::uint64_t futures_value = 0;
  std::uint64_t futures_error = 0;       // the task threw
  std::uint64_t futures_cancelled = 0;   // Error(cancelled)
  std::uint64_t futures_other = 0;       // any other outcome (none expected)
  std::uint64_t submissions_refused = 0; // Closed or Full, the callable handed back
  // The pool's own books, summed.
  std::uint64_t pool_submitted = 0;
  std::uint64_t pool_completed = 0;
  std::uint64_t pool_failed = 0;
  std::uint64_t pool_cancelled = 0;
  std::uint64_t pool_timed_out = 0;
  std::uint64_t pool_deadline_exceeded = 0;
  std::uint64_t pool_rejected = 0;
  // Buffers, counted by the soak's wrapper.
  std::uint64_t buffers_created = 0;
  std::uint64_t buffers_freed = 0;
  std::int64_t buffers_live = 0;
  // Threads, from /proc/self/task.
  std::uint64_t threads_start = 0;
  std::uint64_t threads_end = 0;
  std::string hang;  // the part that did not finish its round, if one hung
};

// Every book of `sheet` that does not balance, one line each; empty when all balance.
[[nodiscard]] std::vector<std::string> unbalanced(const SoakSheet& sheet);

// Resolves a request whose workload is "soak". Throws UsageError naming the offending
// argument: --duration missing, not a number, <= 0 or above 24 h; --seed not a decimal
// integer; --size not a decimal integer in [1, kSoakMaxSize]; --csv; or a flag of another
// command.
[[nodiscard]] SoakPlan plan_soak(const LoadRequest& request);

// Throws UsageError if --seed or --size (soak only) is given for another workload.
void reject_soak_flags(const LoadRequest& request);

// Runs the soak, prints the sheet to `out`, a one-line summary of broken books to `err`
// (--json only: the human sheet lists them); returns 0 if every book balanced, else 1. If a
// part hangs, prints what it has and ends the process (std::_Exit(1)).
[[nodiscard]] int run_soak(const SoakPlan& plan, std::ostream& out, std::ostream& err);

// Runs rounds 0 .. rounds - 1 (at least round 0) of `seed` at `size` and returns their sheet:
// the engine of run_soak, for a test, without printing. `troupe load soak --seed S --size N
// --duration 1ms` starts with the same round 0. Throws std::invalid_argument if `size` is
// outside [1, kSoakMaxSize], and what a part threw. If a part hangs (sheet.hang set), its
// threads and Runtime are abandoned still running: the caller must end the process without
// unwinding (std::_Exit).
[[nodiscard]] SoakSheet run_soak_rounds(std::uint64_t seed, std::uint64_t size,
                                        std::uint64_t rounds);

// Prints `sheet` with its verdict, human or one JSON line.
void print_soak_sheet(std::ostream& out, const SoakSheet& sheet, bool seed_given,
                      OutputFormat format);

// The `troupe load soak` paragraph of `troupe load --help`.
[[nodiscard]] std::string soak_help();

}  // namespace troupe::cli
