// compare.hpp — `troupe load <workload> --compare naive`: the workload in troupe's preferred
// style (or the --style asked for) and on the naive baseline (style "naive", workloads_naive.cpp: one std::thread per
// actor, a std::mutex + std::condition_variable queue each, or for pool and pool_cpu a
// hand-written thread pool on such a queue, no troupe), in the same process.
//
// Apples to apples: both sides run with the same parameters, and a flag the baseline cannot
// honour is a usage error rather than a change to one side — --threads where the baseline's
// threads are the workload's shape (Implementation::takes_threads), --capacity where its queues
// are unbounded. skynet has no baseline: its naive form is a thread per actor, 1,111,111 OS
// threads at the default n (the usage error and the help say so).
//
// The runs alternate, troupe first: without --repeat one run of each; with --repeat K a
// warm-up of each, then K measured runs of each (troupe, naive, troupe, naive, …), so that a
// drift of the machine (another process, the CPU's clock) hits both sides alike. Every run is
// verified as any run is (run_verified: the spec's check), and each side is summarised as a
// series (Report: its median run, min and max). The speedup is troupe's median rate over
// naive's. Exit 0 if every run of both sides held, else 1 (each failed run named on stderr).
//
// Output (OutputFormat):
//   human  the workload and n, each side's style, rate and time (median, min, max with
//          --repeat), its check, and "speedup  12.3x (troupe rate / naive rate)"
//   json   one line: {"workload","n","unit","baseline":"naive","runs","speedup","check_ok",
//          "troupe":{…},"naive":{…}}, each side the object `troupe load --json` prints for it
//   csv    a header and one line: workload,n,unit,runs,troupe_style,troupe_rate,
//          troupe_rate_min,troupe_rate_max,naive_rate,naive_rate_min,naive_rate_max,speedup,
//          check_ok (rates of the median runs, in the workload's unit per second)
//
// Thread-safety: the functions share nothing but the read-only registry.
#pragma once

#include <ostream>
#include <string>

#include "load.hpp"

namespace troupe::cli {

// The baseline `--compare` names, resolved for `spec` (the naive implementation of that
// workload), or nullptr without --compare. Throws UsageError for an unknown baseline, for
// --compare with --style naive or --metrics, for a workload with no naive implementation (saying why,
// where it has none on purpose), and for --threads or --capacity the baseline cannot honour.
[[nodiscard]] const Implementation* resolve_baseline(const LoadRequest& request,
                                                     const WorkloadSpec& spec);

// Runs plan.implementation and plan.baseline alternately (see above) and prints the
// comparison; returns the exit code. Throws what a run throws.
[[nodiscard]] int run_compare(const LoadPlan& plan, std::ostream& out, std::ostream& err);

// The --compare paragraph of `troupe load --help`.
[[nodiscard]] std::string compare_help();

}  // namespace troupe::cli
