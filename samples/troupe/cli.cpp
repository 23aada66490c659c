// cli.cpp — the `troupe` command line (CLI11): parse, dispatch, and turn every mistake into one
// error line plus the usage line, exit code 2.
#include "troupe/cli.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "all.hpp"
#include "demos/demos.hpp"
#include "latency.hpp"
#include "load.hpp"
#include "report.hpp"
#include "soak.hpp"
#include "sweep.hpp"

namespace troupe::cli {
namespace cli_impl {
namespace {

constexpr std::string_view kUsage =
    "usage: troupe load <workload> [--n N] [--threads T] [--style S] [--capacity C]"
    " [--placement P] [--repeat K] [--json | --csv] [--metrics FILE] [--compare naive]"
    " [--sweep PARAM=V1,V2,... [--plot FILE.svg]]"
    " | troupe load all [--quick] [--repeat K] [--json | --csv]"
    " | troupe load latency --rate R --duration D [--workload W] [--threads T] [--json | --csv]"
    " [--plot FILE.svg]"
    " | troupe load soak --duration D [--seed S] [--size N] [--json]"
    " | troupe load --list | troupe demo <name> [--quick] [--out PATH] | troupe demo --list"
    " | troupe --help";
// A mistake in `troupe demo ...` is answered with the demo command's own usage.
constexpr std::string_view kDemoUsage =
    "usage: troupe demo <name> [--quick] [--out PATH] | troupe demo --list | troupe demo --help";

// The one way a usage error is printed: one line (newlines folded), then the usage line.
int usage_error(std::ostream& err, std::string message, std::string_view usage = kUsage) {
  std::replace(message.begin(), message.end(), '\n', ' ');
  err << "troupe: error: " << message << '\n' << usage << '\n';
  err.flush();
  return 2;
}

// What `troupe demo --list` prints (and `troupe demo --help` ends with): a line per demo, its
// name, two spaces, its summary.
std::string demo_lines() {
  std::string text;
  for (const demos::Demo& demo : demos::all_demos()) {
    text.append(demo.name).append("  ").append(demo.summary).append("\n");
  }
  return text;
}

// What is wrong with `--out path` for `demo`, or empty: the demo must write a file, and the
// path must name a file in a directory that exists.
std::string out_path_problem(const demos::Demo& demo, const std::string& path) {
  if (!demo.writes_file) return "demo " + std::string(demo.name) + " writes no file";
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) return "is a directory, not a file";
  std::filesystem::path directory = std::filesystem::path(path).parent_path();
  if (directory.empty()) directory = ".";
  if (!std::filesystem::is_directory(directory, error)) {
    return "no such directory '" + directory.string() + "'";
  }
  return {};
}

// `troupe demo` once parsed: --list, or one demo run, its exit code passed on (1: a check of
// its own failed, or it broke).
int run_demo(const std::string& name, bool list, const demos::DemoOptions& options,
             std::ostream& out, std::ostream& err) {
  if (list) {
    if (!name.empty()) return usage_error(err, "--list takes no demo name", kDemoUsage);
    out << demo_lines();
    return 0;
  }
  if (name.empty()) return usage_error(err, "missing the demo to run", kDemoUsage);
  const demos::Demo* demo = demos::find_demo(name);
  if (demo == nullptr) {
    return usage_error(err, "unknown demo '" + name + "' (troupe demo --list shows them)",
                       kDemoUsage);
  }
  if (!options.out.empty()) {
    if (const std::string problem = out_path_problem(*demo, options.out); !problem.empty()) {
      return usage_error(err, "--out " + options.out + ": " + problem, kDemoUsage);
    }
  }
  try {
    return demo->run(options, out);
  } catch (const std::exception& error) {
    out.flush();
    err << "troupe: error: demo " << name << ": " << error.what() << '\n';
    return 1;
  }
}

// Adds `--name VALUE` whose text lands in `target` only if given.
void add_text_option(CLI::App& app, const std::string& flag, std::optional<std::string>& target,
                     const std::string& type, const std::string& help) {
  app.add_option_function<std::string>(
         flag, [&target](const std::string& value) { target = value; }, help)
      ->type_name(type);
}

// `troupe load` once parsed: `soak`, `all`, `latency`, a sweep or one workload (with --compare,
// beside its naive baseline). Throws UsageError before any run.
int run_load_command(const LoadRequest& request, std::ostream& out, std::ostream& err) {
  if (request.workload == kSoakCommand) return run_soak(plan_soak(request), out, err);
  reject_soak_flags(request);
  if (request.workload == "all") return run_all(plan_all(request), out, err);
  if (request.workload == kLatencyCommand) return run_latency(plan_latency(request), out, err);
  if (request.sweep) return run_sweep(plan_sweep(request), out, err);
  return run_load(plan_load(request), out, err);
}

int run(int argc, char** argv, std::ostream& out, std::ostream& err) {
  CLI::App app("troupe: load experiments and demos for the troupe actor framework", "troupe");
  app.footer("Run 'troupe load --help' for the workloads and what --threads means for each,\n"
             "'troupe demo --list' for the demos.");
  app.get_formatter()->column_width(24);

  LoadRequest request;
  bool list = false;
  CLI::App* load = app.add_subcommand("load", "Run one load experiment and verify its result");
  load->add_option("workload", request.workload,
                   "The workload to run (listed below), or all of them: all")
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
  add_text_option(*load, "--sweep", request.sweep, "PARAM=V1,V2,...",
                  "Run once per value of threads, capacity or n; a table across the values");
  add_text_option(*load, "--plot", request.plot, "FILE.svg",
                  "With --sweep: an SVG chart of the rate against the swept value; with "
                  "latency: the latency histogram as an SVG bar chart");
  load->add_flag("--quick", request.quick,
                 "With 'all': smaller sizes, the whole suite in well under a minute");
  add_text_option(*load, "--compare", request.compare, "BASELINE",
                  "Also run the naive baseline (naive), alternating; print both and the speedup");
  add_text_option(*load, "--rate", request.rate, "R",
                  "load latency: requests per second, issued open-loop (at most 1,000,000)");
  add_text_option(*load, "--duration", request.duration, "D",
                  "load latency, soak: how long to run: seconds, or 2s, 200ms (soak: 10m, 2h)");
  add_text_option(*load, "--seed", request.seed, "S",
                  "load soak: the seed of every random choice (default: random, printed)");
  add_text_option(*load, "--size", request.size, "N",
                  "load soak: the size of a round, 1.." + format_count(kSoakMaxSize) +
                      ": its counts scale with N (default " + std::to_string(kSoakDefaultSize) +
                      ")");
  add_text_option(*load, "--workload", request.request_kind, "W",
                  "load latency: what a request is: actor (default), task or pool");
  load->add_flag("--json", request.json,
                 "Print one JSON object line instead of a report (all, --sweep: one each)");
  load->add_flag("--csv", request.csv,
                 "Print CSV instead of a report: a header, then one line per measured run");
  load->add_flag("--list", list, "Print the workloads that can run, one per line");
  load->footer(workloads_help());

  std::string demo_name;
  bool demo_list = false;
  demos::DemoOptions demo_options;
  CLI::App* demo = app.add_subcommand("demo", "Run one demo: a small, commented sample of a pattern");
  demo->add_option("name", demo_name, "The demo to run (troupe demo --list)")->type_name("NAME");
  demo->add_flag("--quick", demo_options.quick, "Smaller sizes: the same story, told faster");
  demo->add_option("--out", demo_options.out,
                   "Where a demo that writes a file (an image) writes it; default: the "
                   "temporary directory")
      ->type_name("PATH");
  demo->add_flag("--list", demo_list, "Print the demos, one per line: name, two spaces, summary");
  demo->footer("Demos:\n" + demo_lines());
  app.require_subcommand(0, 1);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return 0;
  } catch (const CLI::ParseError& error) {
    return usage_error(err, error.what(), demo->parsed() ? kDemoUsage : kUsage);
  }

  if (demo->parsed()) return run_demo(demo_name, demo_list, demo_options, out, err);
  if (!load->parsed()) {
    return usage_error(err, "missing the command (troupe load ... or troupe demo ...)");
  }
  if (list) {
    for (const std::string_view name : runnable_workloads()) out << name << '\n';
    return 0;
  }
  if (request.workload.empty()) return usage_error(err, "missing the workload to run");
  try {
    return run_load_command(request, out, err);
  } catch (const UsageError& error) {  // found before any run, unwritable paths included
    return usage_error(err, error.what());
  } catch (const std::exception& error) {
    err << "troupe: error: " << request.workload << ": " << error.what() << '\n';
    return 1;
  }
}

}  // namespace
}  // namespace cli_impl

int run(int argc, char** argv, std::ostream& out, std::ostream& err) {
  return cli_impl::run(argc, argv, out, err);
}

}  // namespace troupe::cli
