// load.hpp — load experiments: the workload registry, a run's parameters and its result.
//
// A *workload* is fixed by the spec (name, unit, default n, what its check computes); an
// *implementation* runs one workload in one *style* (thread, task, later actor, pool). The
// registry is two tables in load.cpp, kWorkloads and kImplementations: adding a style to a
// workload is one row there plus the function that runs it (declared in workloads.hpp).
//
// Every run is verified: the implementation computes `check`, the spec computes `expected`
// from n alone, and the two must be equal (and the implementation must report no failures).
// With --repeat K the workload runs K + 1 times in the process (a warm-up, then K measured
// runs), each with a fresh runtime or pool built by its implementation, and each verified.
//
// --metrics FILE. The runtimes and pools live inside the implementations' run functions and
// are gone when they return, so the implementation itself takes the snapshot: asked through
// LoadParams::metrics, it fills LoadResult::metrics once its measured phase is over, before it
// tears its Runtime or Pool down. Task and actor styles snapshot their Runtime
// (Runtime::metrics(): workers, tasks, and the process-wide sections: live actors and pools).
// The pool style has no Runtime: its snapshot holds only those process-wide sections (its pool
// among them), and the runtime fields are zero. The thread style has neither, and --metrics
// is refused for it (Implementation::has_metrics). With --repeat only the last measured run
// is asked, so FILE holds the metrics at the end of the series. FILE is written whole or not
// at all (FILE.tmp, then a rename), and probed before the first run (FILE.tmp created and
// removed), so that an unwritable path is a usage error, not a lost run, and an interrupted
// run leaves no file.
//
// Several plans in one command: `troupe load all` (all.hpp: every runnable workload, at its
// default_n or, with --quick, its quick_n) and `--sweep` (sweep.hpp: one workload, once per
// value of a parameter, --plot drawing the rates). Both plan each run through plan_load, so a
// value is validated exactly as its flag would be, and measure each with measure_load; a
// progress bar (progress.hpp) counts the runs on stderr when it is a terminal.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "troupe/runtime/metrics.hpp"

namespace troupe::cli {

// The shapes of the workloads, the same in every style (and in the spec's checks).
inline constexpr std::uint64_t kFaninProducers = 4;   // fanin: producers sharing n
inline constexpr std::uint64_t kRingNodes = 1000;     // ring: nodes the token goes round
inline constexpr std::uint64_t kSkynetFanout = 10;    // skynet: children per parent

// A command-line mistake: the CLI prints the message as one line, then the usage, and exits 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// How a result is printed: aligned lines for people, one JSON object line (--json), or CSV with
// a header and one line per measured run (--csv). report.hpp describes each.
enum class OutputFormat { human, json, csv };

// A channel capacity as given by --capacity: a bound (0 = rendezvous) or unbounded.
struct Capacity {
  static constexpr std::int64_t kUnbounded = -1;
  std::int64_t slots = kUnbounded;

  [[nodiscard]] bool unbounded() const noexcept { return slots < 0; }
};

// Where a run's threads execute (--placement): `spread` pins them round-robin over the cores the
// process may use, so that communicating threads run in parallel from the first message; `os`
// leaves placement to the kernel, which often starts a new thread on its creator's core and
// moves it only after tens of milliseconds — so short runs then measure two threads sharing one
// core.
enum class Placement { spread, os };

// What an implementation is asked to do. Validated before the run (see plan_load).
struct LoadParams {
  std::uint64_t n = 0;                      // the workload's size, in its unit
  std::optional<std::uint64_t> threads;     // --threads, if given (implementations may ignore it)
  std::optional<Capacity> capacity;         // --capacity, else the implementation's default
  Placement placement = Placement::os;      // --placement, else the implementation's default
  bool metrics = false;  // fill LoadResult::metrics (--metrics, the last measured run only)
};

// One extra name/value pair of a result (e.g. "capacity", "moved_not_copied").
struct Field {
  std::string name;
  std::variant<bool, std::uint64_t, double, std::string> value;
};

// What an implementation measured and computed.
struct LoadResult {
  std::uint64_t items = 0;     // units processed in the measured phase (messages, round trips…)
  double seconds = 0;          // the measured phase only (steady_clock)
  std::uint64_t check = 0;     // the value the workload computed; must equal the spec's expected
  std::uint64_t threads = 0;   // OS threads the run actually used
  std::vector<Field> extras;   // workload-specific facts, reported after the standard ones
  std::vector<std::string> failures;  // invariants the run saw broken; any one fails the check
  // When LoadParams::metrics asks: the troupe metrics at the end of the run, snapshotted
  // before its Runtime or Pool is destroyed (see the header comment).
  std::optional<RuntimeMetrics> metrics;
};

using RunFn = LoadResult (*)(const LoadParams&);

// A workload as the spec defines it, independent of any implementation.
struct WorkloadSpec {
  std::string_view name;
  std::string_view summary;          // one line for --help
  std::string_view unit = {};        // what n and the rate count: "messages", "round trips"
  std::uint64_t default_n = 0;
  std::uint64_t quick_n = 0;         // n in `troupe load all --quick` (valid like any --n)
  std::uint64_t max_n = 0;           // the largest n whose check arithmetic fits in 64 bits
  std::uint64_t n_multiple_of = 1;   // n must be a multiple of this
  std::uint64_t n_power_of = 0;      // if > 1, n must be a power of this
  std::string_view check_help = {};  // what check is, for --help
  std::uint64_t (*expected)(std::uint64_t n) = nullptr;
  std::string_view preferred_style = {};  // the fastest user-facing implementation
};

// One way of running one workload.
struct Implementation {
  std::string_view workload;
  std::string_view style;
  RunFn run;
  std::string_view threads_help;            // what --threads means here, for --help
  std::optional<Capacity> default_capacity;  // of its channels; nullopt: none, --capacity ignored
  Placement default_placement = Placement::os;  // the faster one, measured (BENCHMARKS.md)
  bool has_metrics = true;  // runs on a troupe Runtime or Pool: --metrics has something to write
  // --threads sizes it; false: its threads are the workload's shape (threads_help says how
  // many), and --compare refuses --threads for such a baseline (compare.hpp).
  bool takes_threads = true;
};

// Every workload of the spec, implemented or not, in help order.
[[nodiscard]] std::span<const WorkloadSpec> workloads() noexcept;
// nullptr if the spec has no workload of that name.
[[nodiscard]] const WorkloadSpec* find_workload(std::string_view name) noexcept;
// The workloads that have at least one implementation (`troupe load --list`).
[[nodiscard]] std::vector<std::string_view> runnable_workloads();
// The implementations of one workload, in registry order (empty: not implemented yet).
[[nodiscard]] std::vector<const Implementation*> implementations_of(std::string_view workload);

// The raw `troupe load` arguments, as typed (numbers still text).
struct LoadRequest {
  std::string workload;
  std::optional<std::string> n;
  std::optional<std::string> threads;
  std::optional<std::string> style;
  std::optional<std::string> capacity;
  std::optional<std::string> placement;
  std::optional<std::string> repeat;
  std::optional<std::string> metrics;
  std::optional<std::string> sweep;    // --sweep PARAM=v1,v2,… (sweep.hpp)
  std::optional<std::string> plot;     // --plot FILE.svg, with --sweep or latency
  bool quick = false;                  // --quick, with `all` (all.hpp)
  std::optional<std::string> compare;  // --compare BASELINE (compare.hpp)
  // troupe load latency (latency.hpp)
  std::optional<std::string> rate;
  std::optional<std::string> duration;
  std::optional<std::string> request_kind;  // --workload: what each request is
  // troupe load soak (soak.hpp); --duration is shared with latency
  std::optional<std::string> seed;
  std::optional<std::string> size;
  bool json = false;
  bool csv = false;
};

// Where --metrics writes, and how: JSON for FILE.json, Prometheus text for FILE.prom or .txt.
enum class MetricsFormat { json, prometheus };
struct MetricsFile {
  std::string path;
  MetricsFormat format = MetricsFormat::json;
};

// A request resolved against the registry, ready to run.
struct LoadPlan {
  const WorkloadSpec* spec = nullptr;
  const Implementation* implementation = nullptr;
  LoadParams params;
  OutputFormat format = OutputFormat::human;
  // --repeat K: a warm-up run, then K measured runs reported with their median, min and max.
  // Unset: one run, no warm-up (the report of a single run).
  std::optional<std::uint64_t> repeat;
  std::optional<MetricsFile> metrics;  // --metrics FILE
  // --compare naive: the baseline implementation, run alternately with `implementation`
  // (compare.hpp); nullptr: no comparison.
  const Implementation* baseline = nullptr;
};

// Resolves and validates a request for one workload (not `all`, no --sweep: all.hpp and
// sweep.hpp plan those, through this function). Throws UsageError naming the offending argument.
// Touches no file: run_load opens the metrics file.
[[nodiscard]] LoadPlan plan_load(const LoadRequest& request);

struct Report;
class Progress;
// The runs of a plan (its warm-up and measured runs, each verified), without printing: what
// run_load, a sweep and `load all` report. Each run is announced to `progress` (labelled
// `label`, or "<workload>/<style>" if empty). Throws what the run throws.
[[nodiscard]] Report measure_load(const LoadPlan& plan, Progress& progress,
                                  std::string_view label = {});
// How many runs measure_load makes for `plan`: K + 1 with --repeat K, else 1.
[[nodiscard]] std::uint64_t runs_of(const LoadPlan& plan) noexcept;

// Throws UsageError ("<flag>: cannot write 'PATH': …") unless PATH can be written by
// write_atomically and is not a directory; creates and removes PATH.tmp to find out.
void check_writable(std::string_view flag, const std::string& path);
// Writes `text` to PATH whole or not at all (PATH.tmp, synced, then renamed over PATH). Throws
// std::runtime_error ("<flag>: cannot …") on failure, leaving neither PATH.tmp nor a partial PATH.
void write_atomically(std::string_view flag, const std::string& path, std::string_view text);

// Runs a plan (its warm-up and measured runs, with --repeat), prints the result to `out` and
// returns the exit code: 0 if every run's check held, 1 if not. In a series each failed run is
// also named on `err`, one line each (a single run's report says it all). With plan.metrics it
// first checks that FILE can be written, throwing UsageError naming it if not (before any
// run), and after the report writes the last measured run's metrics to it (std::runtime_error
// if that fails). Throws what the run throws (troupe::Error, std::bad_alloc…); FILE is then
// not written.
[[nodiscard]] int run_load(const LoadPlan& plan, std::ostream& out, std::ostream& err);

// One verified run of `implementation` (params.metrics set to `metrics`): what it returned and
// whether its check equals spec.expected(n) with no failures. Throws what the run throws.
struct RunOutcome;
[[nodiscard]] RunOutcome run_verified(const WorkloadSpec& spec,
                                      const Implementation& implementation, LoadParams params,
                                      bool metrics);
// The report of `implementation` running the plan's workload before any run: its workload,
// style, unit, n, threads asked for and expected check, no runs yet.
[[nodiscard]] Report report_of(const LoadPlan& plan, const Implementation& implementation);

// The most --threads accepts.
inline constexpr std::uint64_t kMaxThreads = 1024;

// A decimal integer in [minimum, maximum]: digits only (no sign, no spaces). Throws UsageError
// naming `flag` and saying what was expected (`what`: "a positive integer").
[[nodiscard]] std::uint64_t parse_integer(std::string_view flag, std::string_view text,
                                          std::uint64_t minimum, std::uint64_t maximum,
                                          std::string_view what);

// A positive decimal number (digits, '.', an exponent), optionally followed by one of
// `suffixes` (name, factor): the value times the factor. Throws UsageError naming `flag` and
// saying what was expected (`what`), or that it must be greater than 0.
[[nodiscard]] double parse_positive(
    std::string_view flag, const std::string& text,
    std::initializer_list<std::pair<std::string_view, double>> suffixes, std::string_view what);

// Throws UsageError for the first of `flags` that was given: "<flag> <why>".
void refuse_given(std::initializer_list<std::pair<std::string_view, bool>> flags,
                  const std::string& why);

// Output files (--metrics, --plot) are written whole or not at all, and probed before a run.
// check_writable throws UsageError naming `flag` and `path` unless a file can be created next
// to it (where write_atomically puts PATH.tmp) and `path` is not a directory; the probe file is
// removed again, so that a run interrupted later (Ctrl-C) leaves nothing behind.
void check_writable(std::string_view flag, const std::string& path);
// Writes `text` to `path`: into PATH.tmp, synced, then renamed over PATH (a rename within a
// directory is atomic), so no reader ever sees a partial PATH. On failure PATH.tmp is removed
// and std::runtime_error names `flag`, the step and the path.
void write_atomically(std::string_view flag, const std::string& path, std::string_view text);

// Text for `troupe load --help`: the workload table.
[[nodiscard]] std::string workloads_help();

}  // namespace troupe::cli
