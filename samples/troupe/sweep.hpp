// sweep.hpp — `troupe load <workload> --sweep PARAM=v1,v2,… [--plot FILE.svg]`: the workload
// once per value of one parameter (threads, capacity or n), everything else as given, and the
// results across the values.
//
// Each value is validated exactly as its own flag would be (--threads, --capacity, --n: the
// request is planned by plan_load once per value), so a bad value is a usage error naming the
// value and the flag's own complaint ("--sweep threads=0: --threads: must be at least 1, got
// 0"), found before any run. Usage errors too: PARAM not one of the three, no values, an empty
// or repeated value, more than kMaxSweepValues of them, the swept parameter also given as its
// own flag (--sweep threads=… --threads 4), --metrics (which of the runs would it export?), a
// capacity sweep of a style without channels (it ignores --capacity), and with --plot:
// FILE not ending in .svg, FILE not writable (probed before the first run, like --metrics), or
// a capacity value 'unbounded' (it has no place on the chart's numeric axis).
//
// With --repeat K each value is a series (a warm-up, K measured runs; its median reported).
//
// Output, one value after the other in the order given:
//   human   a line naming the workload, style and sweep, then a table: the value, n, threads
//           used, time and rate (the median run's), with --repeat the min and max rate, the
//           unit and "ok" or "FAILED"
//   --json  one line per value: exactly the JSON object `troupe load … --json` prints for it
//           (the swept value is its "n", "threads_requested" or "capacity" field)
//   --csv   one header, then every value's lines as `troupe load … --csv` prints them
// Each failed run is named on stderr ("troupe: error: ring threads=4: run 1 failed: …").
//
// --plot FILE.svg: a line chart (chart.hpp) of the rate against the swept value — the median
// run's, and with --repeat the min and max as two more series — written after the output,
// whole or not at all (FILE.tmp, then a rename), even if a check failed.
//
// Exit code: 0 every run of every value held, 1 one did not (or a run threw: the sweep stops,
// nothing is printed, as for a single run), 2 a usage error.
#pragma once

#include <cstddef>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "load.hpp"

namespace troupe::cli {

inline constexpr std::size_t kMaxSweepValues = 64;

struct SweepPlan {
  std::string parameter;            // "threads", "capacity" or "n"
  std::vector<std::string> values;  // as given, one per plan
  std::vector<LoadPlan> plans;      // the runs of each value
  std::optional<std::string> plot;  // --plot FILE.svg
};

// Resolves and validates a request with --sweep. Throws UsageError (see above); touches no file.
[[nodiscard]] SweepPlan plan_sweep(const LoadRequest& request);

// Runs every value's plan and prints the results (see above); returns the exit code. Throws
// UsageError if --plot's FILE cannot be written (before any run), and what a run throws.
[[nodiscard]] int run_sweep(const SweepPlan& plan, std::ostream& out, std::ostream& err);

}  // namespace troupe::cli
