// latency.hpp — `troupe load latency --rate R --duration D [--workload W]`: open-loop latency.
//
// A generator thread issues count = round(R × D) requests at the intended times t0 + i/R
// (i = 0 … count-1), whether or not the system keeps up: it never waits for a reply. Each
// request's latency runs from its *intended* send time to its completion, so when the
// generator falls behind (the machine is busy, a send blocks), the lateness counts as latency
// too — the measurement is safe from coordinated omission. The latencies go into a
// LatencyHistogram (log-linear, within 0.8%) on a collector thread.
//
// What a request is (--workload, default actor):
//   actor    an ask to a handler actor that replies (index + 1), from a runtime task spawned
//            for that request; done when the ask returns in that task
//   task     a message on an unbounded troupe channel to one runtime task, which replies
//            (index + 1) on a second channel; done when the collector thread receives the reply
//   pool     a troupe::Pool task (index -> index + 1); done when the collector thread has read
//            its future (futures are read in submission order, as a caller awaiting each
//            would: a task finishing before an earlier one counts from the earlier one's read)
// --threads T sets the runtime's workers (actor, task; default one per core) or the pool's
// (default 2).
//
// Verified like any run: every request must complete, with the reply index + 1; the check is
// the sum of the replies, and the expected value count(count+1)/2. Exit 0 if it held, 1 if not,
// 2 for a usage error (found before the run).
//
// Output: human (the schedule, the achieved rate, p50/p90/p99/p99.9/max, the check, and a text
// histogram by power of two), --json (one line: "workload":"latency","request",
// "rate_requested","duration","requests","completed","rate_achieved","generator_lag_max_ns",
// "threads","check","expected","latency_ns":{"min","mean","p50","p90","p99","p99_9","max"},
// "histogram":[{"from_ns","to_ns","count"},…],"check_ok","allocator","failures":[…]) or --csv
// (a header and one line: the same scalars, the latencies as min_ns … max_ns). rate_achieved
// is the requests over the time from t0 to the last send plus one interval: the requested
// rate exactly when no send was late.
//
// Thread-safety: the functions share nothing but read-only tables.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

#include "load.hpp"

namespace troupe::cli {

// What each request of a latency run does (the --workload table in latency.cpp).
struct LatencyWorkload;

// A `troupe load latency` request, resolved and validated.
struct LatencyPlan {
  const LatencyWorkload* workload = nullptr;
  double rate = 0;             // requests per second
  double duration = 0;         // seconds
  std::uint64_t requests = 0;  // round(rate × duration), at least 1
  std::optional<std::uint64_t> threads;
  OutputFormat format = OutputFormat::human;
  std::optional<std::string> plot;  // --plot FILE.svg: the histogram as an SVG bar chart
};

// The workload name that selects this mode: `troupe load latency`.
inline constexpr std::string_view kLatencyCommand = "latency";

// Resolves a request whose workload is "latency". Throws UsageError naming the offending
// argument: --rate or --duration missing, not a number, <= 0 or too large (rate above
// 1,000,000/s, duration above an hour, more than 100,000,000 requests, or fewer than one),
// an unknown --workload, a --plot file not ending in .svg, or a flag that does not apply to
// latency runs (--n, --style, --capacity, --placement, --repeat, --metrics, --compare).
[[nodiscard]] LatencyPlan plan_latency(const LoadRequest& request);

// Throws UsageError if a latency-only flag (--rate, --duration, --workload, --plot) is given
// for another workload.
void reject_latency_flags(const LoadRequest& request);

// Runs the plan, prints its report to `out`, failures to `err`; returns the exit code (0 or
// 1). With plan.plot it first checks that the file can be written (UsageError naming it, before
// the run), and after the report writes the histogram there as an SVG bar chart (chart.hpp),
// whole or not at all (write_atomically). Throws what the run throws.
[[nodiscard]] int run_latency(const LatencyPlan& plan, std::ostream& out, std::ostream& err);

// The `troupe load latency` paragraph of `troupe load --help`.
[[nodiscard]] std::string latency_help();

}  // namespace troupe::cli
