// cli.cpp — the `troupe` command line (CLI11): parse, dispatch, and turn every mistake into one
// error line plus the usage line, exit code 2.
#include "troupe/cli.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <exception>
#include <string>
#include <string_view>

#include "load.hpp"

namespace troupe::cli {
namespace {

constexpr std::string_view kUsage =
    "usage: troupe load <workload> [--n N] [--threads T] [--style S] [--capacity C]"
    " [--placement P] [--repeat K] [--json | --csv] [--metrics FILE]"
    " | troupe load --list | troupe --help";

// The one way a usage error is printed: one line (newlines folded), then the usage line.
int usage_error(std::ostream& err, std::string message) {
  std::replace(message.begin(), message.end(), '\n', ' ');
  err << "troupe: error: " << message << '\n' << kUsage << '\n';
  err.flush();
  return 2;
}

// Adds `--name VALUE` whose text lands in `target` only if given.
void add_text_option(CLI::App& app, const std::string& flag, std::optional<std::string>& target,
                     const std::string& type, const std::string& help) {
  app.add_option_function<std::string>(
         flag, [&target](const std::string& value) { target = value; }, help)
      ->type_name(type);
}

}  // namespace

int run(int argc, char** argv, std::ostream& out, std::ostream& err) {
  CLI::App app("troupe: load experiments for the troupe actor framework", "troupe");
  app.footer("Run 'troupe load --help' for the workloads and what --threads means for each.");
  app.get_formatter()->column_width(24);

  LoadRequest request;
  bool list = false;
  CLI::App* load = app.add_subcommand("load", "Run one load experiment and verify its result");
  load->add_option("workload", request.workload, "The workload to run (listed below)")
      ->type_name("WORKLOAD");
  add_text_option(*load, "--n", request.n, "N",
                  "The workload's size in its unit (messages, round trips...); default below");
  add_text_option(*load, "--threads", request.threads, "T",
                  "OS threads, where the implementation has a choice (see below); >= 1");
  add_text_option(*load, "--style", request.style, "S",
                  "The implementation (below); default: the workload's fastest");
  add_text_option(*load, "--capacity", request.capacity, "C",
                  "Bound of the workload's channels (0 = rendezvous) or 'unbounded'");
  add_text_option(*load, "--placement", request.placement, "P",
                  "Where threads run: spread (pinned round-robin over cores) or os; default below");
  add_text_option(*load, "--repeat", request.repeat, "K",
                  "A warm-up run, then K measured runs: median, min and max (1..1000)");
  add_text_option(*load, "--metrics", request.metrics, "FILE",
                  "After the run, write its troupe metrics: .json, or .prom/.txt (Prometheus)");
  load->add_flag("--json", request.json, "Print exactly one JSON object line instead of a report");
  load->add_flag("--csv", request.csv,
                 "Print CSV instead of a report: a header, then one line per measured run");
  load->add_flag("--list", list, "Print the workloads that can run, one per line");
  load->footer(workloads_help());

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return 0;
  } catch (const CLI::ParseError& error) {
    return usage_error(err, error.what());
  }

  if (!load->parsed()) return usage_error(err, "missing the command (troupe load ...)");
  if (list) {
    for (const std::string_view name : runnable_workloads()) out << name << '\n';
    return 0;
  }
  if (request.workload.empty()) return usage_error(err, "missing the workload to run");
  LoadPlan plan;
  try {
    plan = plan_load(request);
  } catch (const UsageError& error) {
    return usage_error(err, error.what());
  }
  try {
    return run_load(plan, out, err);
  } catch (const UsageError& error) {  // an unwritable --metrics path, found before any run
    return usage_error(err, error.what());
  } catch (const std::exception& error) {
    err << "troupe: error: " << request.workload << ": " << error.what() << '\n';
    return 1;
  }
}

}  // namespace troupe::cli
