// all.hpp — `troupe load all [--quick] [--repeat K] [--threads T] [--placement P] [--json |
// --csv]`: every runnable workload (runnable_workloads(), in registry order), each at its
// default n (with --quick its quick_n, about a second or less on a 2-core machine) in its
// preferred style, then the results.
//
// --threads, --placement and --repeat apply to every workload and are validated as for one.
// Usage errors: --n, --style, --capacity (the workloads differ in all three), --metrics (one
// file, many runs), --sweep and --plot.
//
// Output, the workloads in registry order:
//   human   one table at the end: workload, style, n, time and rate (the median run's), with
//           --repeat the min and max rate, the unit, and "ok" or "FAILED"
//   --json  JSON Lines: one line per workload, exactly the object `troupe load <w> --json`
//           prints (the lines differ in their workload-specific fields)
//   --csv   the summary table (the workloads' own columns differ, so they are left out): a
//           header, then one line per workload (report.hpp, print_summary_csv)
// Each failed run is named on stderr ("troupe: error: ring: run 1 failed: …"). A run that
// throws does not stop the others: the error is printed on stderr, and the workload's report
// is one failed run (check 0, rate 0, the failure "the run threw: <what>").
//
// Exit code: 0 every check held, 1 one did not (after the whole table), 2 a usage error.
#pragma once

#include <ostream>
#include <vector>

#include "load.hpp"

namespace troupe::cli {

// The plans of `troupe load all`, one per runnable workload. Throws UsageError (see above).
[[nodiscard]] std::vector<LoadPlan> plan_all(const LoadRequest& request);

// Runs the plans in order and prints the results (see above); returns the exit code.
[[nodiscard]] int run_all(const std::vector<LoadPlan>& plans, std::ostream& out, std::ostream& err);

}  // namespace troupe::cli
