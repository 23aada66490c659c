// sweep.cpp — `troupe load <workload> --sweep PARAM=v1,v2,…` (see sweep.hpp).
#include "sweep.hpp"

#include <algorithm>
#include <string_view>
#include <utility>

#include "chart.hpp"
#include "progress.hpp"
#include "report.hpp"
#include "workloads.hpp"

namespace troupe::cli {
namespace sweep_impl {
namespace {

// A parameter that can be swept: its name in --sweep, the request field its own flag sets.
struct Parameter {
  std::string_view name;
  std::optional<std::string> LoadRequest::*field;
  std::string_view flag;
};
constexpr Parameter kParameters[] = {
    {"threads", &LoadRequest::threads, "--threads"},
    {"capacity", &LoadRequest::capacity, "--capacity"},
    {"n", &LoadRequest::n, "--n"},
};
constexpr std::string_view kSweepSyntax = "PARAM=v1,v2,... (PARAM: threads, capacity or n)";

std::vector<std::string> split_values(const std::string& text, const std::string& sweep) {
  std::vector<std::string> values;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    values.push_back(text.substr(start, comma - start));
    if (values.back().empty()) {
      throw UsageError("--sweep: an empty value in '" + sweep + "' (expected " +
                       std::string(kSweepSyntax) + ")");
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return values;
}

// The value a plan sweeps, as a number on the chart's x axis.
double swept_value(const SweepPlan& plan, const LoadPlan& run) {
  if (plan.parameter == "threads") return static_cast<double>(run.params.threads.value_or(0));
  if (plan.parameter == "capacity") return static_cast<double>(run.params.capacity->slots);
  return static_cast<double>(run.params.n);
}

// The value exactly, as the human table shows it: "1,024", "unbounded".
std::string value_cell(const SweepPlan& plan, const LoadPlan& run) {
  if (plan.parameter == "capacity") return format_field(capacity_field(*run.params.capacity));
  if (plan.parameter == "threads") return format_count(run.params.threads.value_or(0));
  return format_count(run.params.n);
}

std::string label_of(const SweepPlan& plan, std::size_t i) {
  return std::string(plan.plans[i].spec->name) + " " + plan.parameter + "=" + plan.values[i];
}

void print_human(std::ostream& out, const SweepPlan& plan, const std::vector<Report>& reports) {
  const LoadPlan& first = plan.plans.front();
  const bool series = first.repeat.has_value();
  out << first.spec->name << " (style " << first.implementation->style << ")";
  if (plan.parameter != "n")
    out << ", n " << format_count(first.params.n) << ' ' << first.spec->unit;
  out << ", sweep of " << plan.parameter;
  if (series) out << ", median of " << *first.repeat << " runs after a warm-up";
  out << ":\n";
  std::vector<std::vector<std::string>> rows;
  rows.push_back({plan.parameter, plan.parameter == "threads" ? "threads used" : "threads"});
  const std::vector<std::string> result = result_header(series);
  rows.back().insert(rows.back().end(), result.begin(), result.end());
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const Report& report = reports[i];
    rows.push_back({value_cell(plan, plan.plans[i]),
                    format_count(report.runs.at(report.median()).result.threads)});
    const std::vector<std::string> cells = result_cells(report, series);
    rows.back().insert(rows.back().end(), cells.begin(), cells.end());
  }
  print_table(out, rows);
}

// The chart of the rate against the swept value: the median run's; with --repeat, min and max.
std::string sweep_chart(const SweepPlan& plan, const std::vector<Report>& reports) {
  const LoadPlan& first = plan.plans.front();
  LineChart chart{.title = std::string(first.spec->name) + " (style " +
                           std::string(first.implementation->style) + "): rate against " +
                           plan.parameter,
                  .x_label = plan.parameter == "n" ? "n (" + std::string(first.spec->unit) + ")"
                                                   : plan.parameter,
                  .y_label = std::string(first.spec->unit) + "/s",
                  .series = {}};
  if (plan.parameter != "n") {
    chart.title += ", n " + format_count(first.params.n);
  }
  const bool series = first.repeat.has_value();
  chart.series.push_back({.name = series ? "median" : "rate", .points = {}});
  if (series) {
    chart.series.push_back({.name = "min", .points = {}});
    chart.series.push_back({.name = "max", .points = {}});
  }
  for (std::size_t i = 0; i < reports.size(); ++i) {
    const double x = swept_value(plan, plan.plans[i]);
    const Summary summary = summarize(reports[i]);
    chart.series[0].points.push_back({x, summary.rate_median});
    if (series) {
      chart.series[1].points.push_back({x, summary.rate_min});
      chart.series[2].points.push_back({x, summary.rate_max});
    }
  }
  // A line joins the values in increasing order, whatever order they were given in.
  for (ChartSeries& line : chart.series) {
    std::stable_sort(line.points.begin(), line.points.end(),
                     [](const ChartPoint& a, const ChartPoint& b) { return a.x < b.x; });
  }
  return line_chart_svg(chart);
}

}  // namespace
}  // namespace sweep_impl

SweepPlan plan_sweep(const LoadRequest& request) {
  const std::string& sweep = request.sweep.value();
  const std::size_t equals = sweep.find('=');
  if (equals == std::string::npos) {
    throw UsageError("--sweep: expected " + std::string(sweep_impl::kSweepSyntax) + ", got '" +
                     sweep + "'");
  }
  const std::string name = sweep.substr(0, equals);
  const auto* parameter =
      std::find_if(std::begin(sweep_impl::kParameters), std::end(sweep_impl::kParameters),
                   [&](const sweep_impl::Parameter& p) { return p.name == name; });
  if (parameter == std::end(sweep_impl::kParameters)) {
    throw UsageError("--sweep: cannot sweep '" + name + "' (expected " +
                     std::string(sweep_impl::kSweepSyntax) + ")");
  }
  if (request.*(parameter->field)) {
    throw UsageError("--sweep " + name + "=... and " + std::string(parameter->flag) +
                     " conflict: give the values in --sweep only");
  }
  if (request.compare) {
    throw UsageError("--sweep and --compare conflict: compare one run against its baseline");
  }
  if (request.metrics) {
    throw UsageError(
        "--sweep and --metrics conflict: a sweep makes many runs (export the "
        "metrics of one value with a single run)");
  }
  std::vector<std::string> values = sweep_impl::split_values(sweep.substr(equals + 1), sweep);
  if (values.size() > kMaxSweepValues) {
    throw UsageError("--sweep: " + std::to_string(values.size()) + " values, at most " +
                     std::to_string(kMaxSweepValues));
  }
  LoadRequest single = request;
  single.sweep.reset();
  single.plot.reset();
  // The other arguments first, so that their mistakes are not blamed on a value.
  const LoadPlan base = plan_load(single);
  if (name == "capacity" && !base.implementation->default_capacity) {
    throw UsageError("--sweep capacity: style '" + std::string(base.implementation->style) +
                     "' of " + std::string(base.spec->name) +
                     " has no channels (it ignores --capacity)");
  }
  SweepPlan plan{.parameter = name, .values = {}, .plans = {}, .plot = request.plot};
  for (const std::string& value : values) {
    single.*(parameter->field) = value;
    try {
      plan.plans.push_back(plan_load(single));
    } catch (const UsageError& error) {
      throw UsageError("--sweep " + name + "=" + value + ": " + error.what());
    }
    // The same value twice, however written (2 and 02 are one value).
    const std::string swept = sweep_impl::value_cell(plan, plan.plans.back());
    for (std::size_t i = 0; i + 1 < plan.plans.size(); ++i) {
      if (sweep_impl::value_cell(plan, plan.plans[i]) == swept) {
        throw UsageError("--sweep: " + name + "=" + value + " is given twice");
      }
    }
    if (plan.plot && plan.plans.back().params.capacity &&
        plan.plans.back().params.capacity->unbounded() && name == "capacity") {
      throw UsageError(
          "--plot: capacity 'unbounded' has no place on the chart's numeric axis "
          "(sweep bounded capacities to plot them)");
    }
  }
  plan.values = std::move(values);
  if (plan.plot && !plan.plot->ends_with(".svg")) {
    throw UsageError("--plot: '" + *plan.plot + "' must end in .svg");
  }
  return plan;
}

int run_sweep(const SweepPlan& plan, std::ostream& out, std::ostream& err) {
  // Before any run: an unwritable chart path is a usage error, not a lost sweep.
  if (plan.plot) check_writable("--plot", *plan.plot);
  const OutputFormat format = plan.plans.front().format;
  std::uint64_t total = 0;
  for (const LoadPlan& run : plan.plans) total += runs_of(run);
  std::vector<Report> reports;
  {
    Progress progress(err, progress_allowed(err, format), total);
    for (std::size_t i = 0; i < plan.plans.size(); ++i) {
      reports.push_back(measure_load(plan.plans[i], progress, sweep_impl::label_of(plan, i)));
    }
  }
  if (format == OutputFormat::human) {
    sweep_impl::print_human(out, plan, reports);
  } else {
    for (std::size_t i = 0; i < reports.size(); ++i) print_report(out, reports[i], format, i == 0);
  }
  bool ok = true;
  for (std::size_t i = 0; i < reports.size(); ++i) {
    print_failed_runs(err, reports[i], sweep_impl::label_of(plan, i));
    ok = ok && reports[i].all_ok();
  }
  if (plan.plot) write_atomically("--plot", *plan.plot, sweep_impl::sweep_chart(plan, reports));
  return ok ? 0 : 1;
}

}  // namespace troupe::cli
