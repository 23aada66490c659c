// compare.cpp — `troupe load <workload> --compare naive` (see compare.hpp).
#include "compare.hpp"

#include <sstream>
#include <string>
#include <vector>

#include "report.hpp"

namespace troupe::cli {
namespace compare_impl {
namespace {

constexpr std::string_view kNaive = "naive";

// Workloads left without a naive baseline on purpose, and why: the usage error and the help
// say it.
struct NoBaseline {
  std::string_view workload;
  std::string_view why;
};
constexpr NoBaseline kNoBaseline[] = {
    {"skynet",
     // Line breaks for the help; a usage error folds them into spaces.
     "its naive form, one std::thread per actor, is 1,111,111 OS\n"
     "threads for the default 1,000,000 leaves, more than a system can run; a recursion forking\n"
     "a few std::async calls at the top would be another workload (no actor per node), not its\n"
     "baseline"},
};

// The workloads with a naive implementation, comma-separated, in registry order.
std::string naive_workloads() {
  std::string names;
  for (const std::string_view workload : runnable_workloads()) {
    for (const Implementation* implementation : implementations_of(workload)) {
      if (implementation->style == kNaive) names += (names.empty() ? "" : ", ") + std::string(workload);
    }
  }
  return names;
}

double speedup_of(const Report& troupe, const Report& naive) {
  const double naive_rate = rate_of(naive.runs[naive.median()].result);
  const double troupe_rate = rate_of(troupe.runs[troupe.median()].result);
  return naive_rate > 0 ? troupe_rate / naive_rate : 0.0;
}

// "task: 8.21 M round trips/s median (min …, max …), 121.8 ms, 2 threads", and FAILED if a
// run did not hold.
std::string side_line(const Report& report) {
  const LoadResult& median = report.runs[report.median()].result;
  std::string line = std::string(report.style) + ": " + format_rate(rate_of(median), report.unit);
  if (report.warmup) {
    const Summary spread = summarize(report);
    line += " median (min " + format_rate(spread.rate_min, report.unit) + ", max " +
            format_rate(spread.rate_max, report.unit) + ")";
  }
  line += ", " + format_seconds(median.seconds) + ", " + format_count(median.threads) +
          " threads";
  if (!report.all_ok()) line += ": FAILED";
  return line;
}

// What went wrong in a failed run, one line: "naive run 2: check 41 != expected 45; …".
void name_failures(std::ostream& err, const Report& report) {
  const auto name = [&](const RunOutcome& run, const std::string& which) {
    if (run.check_ok) return;
    std::string why = "check " + format_count(run.result.check) +
                      (run.result.check == report.expected ? " = " : " != ") + "expected " +
                      format_count(report.expected);
    for (const std::string& failure : run.result.failures) why += "; " + failure;
    err << "troupe: error: " << report.workload << ": " << report.style << " " << which
        << " failed: " << why << '\n';
  };
  if (report.warmup) name(*report.warmup, "warm-up");
  for (std::size_t i = 0; i < report.runs.size(); ++i) {
    name(report.runs[i], "run " + std::to_string(i + 1));
  }
}

std::string json_of(const Report& report) {
  std::ostringstream text;
  print_report(text, report, OutputFormat::json);
  std::string line = text.str();
  if (!line.empty() && line.back() == '\n') line.pop_back();
  return line;
}

void print_comparison(std::ostream& out, const Report& troupe, const Report& naive,
                      OutputFormat format) {
  const double speedup = speedup_of(troupe, naive);
  const bool ok = troupe.all_ok() && naive.all_ok();
  const std::uint64_t runs = troupe.runs.size();
  switch (format) {
    case OutputFormat::human: {
      const std::string each =
          troupe.warmup ? format_count(runs) + " of each, alternating, after a warm-up of each"
                        : "1 of each (troupe first), no warm-up";
      print_rows(out, {{"workload", std::string(troupe.workload)},
                       {"n", format_count(troupe.n) + " " + std::string(troupe.unit)},
                       {"runs", each},
                       {"troupe", side_line(troupe)},
                       {"naive", side_line(naive)},
                       {"speedup", format_field({"speedup", speedup}) + "x" +
                                       " (troupe rate / naive rate" +
                                       (troupe.warmup ? ", median runs)" : ")")},
                       {"check", ok ? format_count(troupe.expected) + " = expected: ok in every run"
                                    : "FAILED (see the errors)"},
                       {"allocator", std::string(allocator_name())}});
      break;
    }
    case OutputFormat::json:
      out << JsonObject()
                 .add("workload", json_string(troupe.workload))
                 .add("n", std::to_string(troupe.n))
                 .add("unit", json_string(troupe.unit))
                 .add("baseline", json_string(kNaive))
                 .add("runs", std::to_string(runs))
                 .add("speedup", json_number(speedup))
                 .add("check_ok", json_bool(ok))
                 .add("troupe", json_of(troupe))
                 .add("naive", json_of(naive))
                 .close()
          << '\n';
      break;
    case OutputFormat::csv: {
      const LoadResult& t = troupe.runs[troupe.median()].result;
      const LoadResult& n = naive.runs[naive.median()].result;
      const Summary ts = summarize(troupe);
      const Summary ns = summarize(naive);
      out << "workload,n,unit,runs,troupe_style,troupe_rate,troupe_rate_min,troupe_rate_max,"
             "naive_rate,naive_rate_min,naive_rate_max,speedup,check_ok\n"
          << csv_cell(troupe.workload) << ',' << troupe.n << ',' << csv_cell(troupe.unit) << ','
          << runs << ',' << csv_cell(troupe.style) << ',' << json_number(rate_of(t)) << ','
          << json_number(ts.rate_min) << ',' << json_number(ts.rate_max) << ','
          << json_number(rate_of(n)) << ',' << json_number(ns.rate_min) << ','
          << json_number(ns.rate_max) << ',' << json_number(speedup) << ',' << json_bool(ok)
          << '\n';
      break;
    }
  }
  out.flush();
}

}  // namespace
}  // namespace compare_impl

const Implementation* resolve_baseline(const LoadRequest& request, const WorkloadSpec& spec) {
  if (!request.compare) return nullptr;
  if (*request.compare != compare_impl::kNaive) {
    throw UsageError("--compare: unknown baseline '" + *request.compare +
                     "' (baselines: naive)");
  }
  // --style picks the troupe side (default: the workload's preferred style), so that like
  // can meet like: pool --style pool has a future per task, as the naive pool has.
  if (request.style && *request.style == compare_impl::kNaive) {
    throw UsageError("--compare naive and --style naive conflict: the baseline would be "
                     "compared with itself");
  }
  if (request.metrics) {
    throw UsageError("--compare and --metrics conflict: the naive baseline has no metrics");
  }
  for (const compare_impl::NoBaseline& none : compare_impl::kNoBaseline) {
    if (none.workload == spec.name) {
      throw UsageError("--compare naive: " + std::string(spec.name) +
                       " has no naive baseline: " + std::string(none.why));
    }
  }
  for (const Implementation* implementation : implementations_of(spec.name)) {
    if (implementation->style != compare_impl::kNaive) continue;
    // Apples to apples: a flag the baseline cannot honour would change one side only.
    if (request.threads && !implementation->takes_threads) {
      throw UsageError("--compare naive: the naive " + std::string(spec.name) +
                       " cannot honour --threads: its threads are fixed by the workload (" +
                       std::string(implementation->threads_help) + ")");
    }
    if (request.capacity && !implementation->default_capacity) {
      throw UsageError("--compare naive: the naive " + std::string(spec.name) +
                       " cannot honour --capacity: its queues are unbounded");
    }
    return implementation;
  }
  throw UsageError(
      "--compare naive: workload '" + std::string(spec.name) +
      "' has no naive baseline (workloads with one: " + compare_impl::naive_workloads() + ")");
}

int run_compare(const LoadPlan& plan, std::ostream& out, std::ostream& err) {
  // Each side is a series (or a single run) of its own.
  Report troupe = report_of(plan, *plan.implementation);
  Report naive = report_of(plan, *plan.baseline);
  // Both sides get the same parameters (resolve_baseline refused those the baseline cannot
  // honour): the troupe side's defaults, which the baselines share (pool_cpu's spread placement,
  // pipeline's capacity of 1024).
  const auto run_troupe = [&] {
    return run_verified(*plan.spec, *plan.implementation, plan.params, false);
  };
  const auto run_naive = [&] {
    return run_verified(*plan.spec, *plan.baseline, plan.params, false);
  };
  if (plan.repeat) {
    troupe.warmup = run_troupe();
    naive.warmup = run_naive();
  }
  for (std::uint64_t i = 0; i < plan.repeat.value_or(1); ++i) {
    troupe.runs.push_back(run_troupe());
    naive.runs.push_back(run_naive());
  }
  compare_impl::print_comparison(out, troupe, naive, plan.format);
  compare_impl::name_failures(err, troupe);
  compare_impl::name_failures(err, naive);
  err.flush();
  return troupe.all_ok() && naive.all_ok() ? 0 : 1;
}

std::string compare_help() {
  std::string text =
      "--compare naive: the workload in its preferred style (or --style S) and on the naive\n"
      "baseline (style naive) in the same process, alternating (--repeat K: a warm-up of each,\n"
      "then K runs of each); prints both rates and the speedup (troupe rate / naive rate). Not\n"
      "with --metrics, nor with --threads or --capacity where the naive side cannot honour them\n"
      "(its threads fixed by the workload, its queues unbounded). For a future per task on both\n"
      "sides: pool --style pool. Workloads with a naive baseline:\n" +
      compare_impl::naive_workloads() + ".\n";
  for (const compare_impl::NoBaseline& none : compare_impl::kNoBaseline) {
    text += std::string(none.workload) + " has no naive baseline: " + std::string(none.why) + ".\n";
  }
  return text;
}

}  // namespace troupe::cli
