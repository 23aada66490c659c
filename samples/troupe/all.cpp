// all.cpp — `troupe load all` (see all.hpp).
#include "all.hpp"

#include <exception>
#include <string>
#include <utility>

#include "progress.hpp"
#include "report.hpp"

namespace troupe::cli {
namespace all_impl {
namespace {

// One workload's report; a run that throws gives a report of one failed run saying so, and
// sets `threw` (its error is printed here, not by print_failed_runs).
Report measure_or_failure(const LoadPlan& plan, Progress& progress, std::ostream& err,
                          bool& threw) {
  threw = false;
  try {
    return measure_load(plan, progress);
  } catch (const std::exception& error) {
    threw = true;
    progress.clear();
    err << "troupe: error: " << plan.spec->name << ": " << error.what() << '\n';
    err.flush();
    RunOutcome failed{.result = {}, .check_ok = false};
    failed.result.failures.push_back(std::string("the run threw: ") + error.what());
    Report report = report_of(plan, *plan.implementation);
    report.runs.push_back(std::move(failed));
    return report;
  }
}

}  // namespace
}  // namespace all_impl

std::vector<LoadPlan> plan_all(const LoadRequest& request) {
  const auto refuse = [](bool given, const std::string& flag, const std::string& why) {
    if (given) throw UsageError(flag + " does not apply to 'troupe load all': " + why);
  };
  refuse(request.n.has_value(), "--n", "each workload runs at its own default (or --quick) size");
  refuse(request.style.has_value(), "--style", "each workload runs in its preferred style");
  refuse(request.capacity.has_value(), "--capacity", "the workloads' channels differ");
  refuse(request.metrics.has_value(), "--metrics", "it runs many workloads, --metrics exports one");
  refuse(request.sweep.has_value(), "--sweep", "a sweep runs one workload");
  refuse(request.plot.has_value(), "--plot", "it draws a sweep of one workload");
  refuse(request.compare.has_value(), "--compare", "compare one workload at a time");
  std::vector<LoadPlan> plans;
  for (const std::string_view name : runnable_workloads()) {
    LoadRequest single = request;
    single.workload = std::string(name);
    single.quick = false;
    if (request.quick) single.n = std::to_string(find_workload(name)->quick_n);
    plans.push_back(plan_load(single));
  }
  return plans;
}

int run_all(const std::vector<LoadPlan>& plans, std::ostream& out, std::ostream& err) {
  if (plans.empty()) return 0;
  const OutputFormat format = plans.front().format;
  const bool series = plans.front().repeat.has_value();
  std::uint64_t total = 0;
  for (const LoadPlan& plan : plans) total += runs_of(plan);
  std::vector<Report> reports;
  std::vector<bool> threw(plans.size(), false);
  {
    Progress progress(err, progress_allowed(err, format), total);
    for (std::size_t i = 0; i < plans.size(); ++i) {
      bool thrown = false;
      reports.push_back(all_impl::measure_or_failure(plans[i], progress, err, thrown));
      threw[i] = thrown;
      // JSON Lines stream: each workload's line as soon as it is known.
      if (format == OutputFormat::json) {
        print_report(out, reports.back(), format);
      }
    }
  }
  if (format == OutputFormat::csv) print_summary_csv(out, reports);
  if (format == OutputFormat::human) {
    std::vector<std::vector<std::string>> rows = {{"workload", "style", "n"}};
    const std::vector<std::string> result = result_header(series);
    rows.back().insert(rows.back().end(), result.begin(), result.end());
    for (const Report& report : reports) {
      rows.push_back(
          {std::string(report.workload), std::string(report.style), format_count(report.n)});
      const std::vector<std::string> cells = result_cells(report, series);
      rows.back().insert(rows.back().end(), cells.begin(), cells.end());
    }
    print_table(out, rows);
  }
  bool ok = true;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    if (!threw[i]) print_failed_runs(err, reports[i], reports[i].workload);
    ok = ok && reports[i].all_ok();
  }
  return ok ? 0 : 1;
}

}  // namespace troupe::cli
