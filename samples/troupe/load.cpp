// load.cpp — the workload registry and the path of one `troupe load` run: resolve the request
// against the registry, validate it, run the implementation, verify and print the result.
#include "load.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "compare.hpp"
#include "latency.hpp"
#include "soak.hpp"
#include "progress.hpp"
#include "report.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/runtime/runtime.hpp"
#include "workloads.hpp"

namespace troupe::cli {
namespace load_impl {
namespace {

// fanin: 4 producers each send 1..k, k = n/4: the sum is 4 * k(k+1)/2 = 2k(k+1).
// For n <= kFaninMaxN, k <= 2^31 - 1, so k(k+1) < 2^62 and 2k(k+1) < 2^63.
constexpr std::uint64_t kFaninMaxN = kFaninProducers * ((std::uint64_t{1} << 31) - 1);
std::uint64_t fanin_expected(std::uint64_t n) {
  const std::uint64_t k = n / kFaninProducers;
  return 2 * k * (k + 1);
}

// transfer: the counter reads 1, 2, …, n after the returns: n(n+1)/2. For n <= 2^32 - 1,
// n(n+1) < 2^64 and the sum < 2^63.
constexpr std::uint64_t kTransferMaxN = (std::uint64_t{1} << 32) - 1;
std::uint64_t sum_one_to_n(std::uint64_t n) { return n * (n + 1) / 2; }

// fanin/thread's channel bound, the fastest measured here (2-core VM, median of 5, M msg/s):
// bounded 65536 ≈ 60, bounded 262144 ≈ 60, unbounded ≈ 37-39, bounded 1024 ≈ 26.
constexpr std::int64_t kFaninCapacity = 65536;

// pingpong: the final value is n (pong adds 1 per round trip). ring: the token counts hops.
std::uint64_t identity(std::uint64_t n) { return n; }
// skynet: leaves 0..n-1 sum to n(n-1)/2; n is a power of 10 up to 10^9, so this fits.
std::uint64_t sum_below_n(std::uint64_t n) { return n * (n - 1) / 2; }
constexpr std::uint64_t kSkynetMaxN = 1'000'000'000;

// pool: the results 2x for x = 1..n sum to n(n+1); n <= 2^32 - 1 keeps it below 2^64.
constexpr std::uint64_t kPoolMaxN = (std::uint64_t{1} << 32) - 1;
std::uint64_t n_times_n_plus_1(std::uint64_t n) { return n * (n + 1); }
// pool_cpu: fib(25) = 75025 per task.
constexpr std::uint64_t kPoolCpuMaxN = UINT64_MAX / 75025;
std::uint64_t fib25_times_n(std::uint64_t n) { return 75025 * n; }
// pipeline: the sink sums 3x for x = 1..n: 3n(n+1)/2; n <= 2^31 keeps 3n(n+1) below 2^64.
constexpr std::uint64_t kPipelineMaxN = std::uint64_t{1} << 31;
std::uint64_t three_halves_n_n_plus_1(std::uint64_t n) { return 3 * n * (n + 1) / 2; }
constexpr std::string_view kLater = "coming with later issues";

// The spec's workloads, in help order. Those without an implementation row below are listed
// in --help only.
constexpr WorkloadSpec kWorkloads[] = {
    {.name = "fanin",
     .summary = "4 producers each send 1..n/4 to one consumer, which sums them",
     .unit = "messages",
     .default_n = 4'000'000,
     .quick_n = 400'000,
     .max_n = kFaninMaxN,
     .n_multiple_of = kFaninProducers,
     .check_help = "the sum, 4 * k(k+1)/2 with k = n/4",
     .expected = fanin_expected,
     .preferred_style = "thread"},
    {.name = "transfer",
     .summary = "a 100 MiB Buffer goes to a worker and back n times (moved, never copied)",
     .unit = "round trips",
     .default_n = 100,
     .quick_n = 20,
     .max_n = kTransferMaxN,
     .check_help = "the sum of the counter after each return, n(n+1)/2; the worker adds 1 to\n"
                   "the counter on each visit; the counter is the buffer's first 64-bit word\n"
                   "(not byte 0, which would wrap at 256), so any n works",
     .expected = sum_one_to_n,
     .preferred_style = "thread"},
    {.name = "pingpong",
     .summary = "two tasks bounce one int64; a round trip is ping + pong",
     .unit = "round trips",
     .default_n = 1'000'000,
     .quick_n = 100'000,
     .max_n = UINT64_MAX / 2,
     .check_help = "the final value, n (pong returns the value plus 1)",
     .expected = identity,
     .preferred_style = "task"},
    {.name = "ring",
     .summary = "1,000 tasks pass one token around; each hop is one send",
     .unit = "hops",
     .default_n = 10'000'000,
     .quick_n = 1'000'000,
     .max_n = UINT64_MAX / 2,
     .check_help = "the token, which counts the hops: n",
     .expected = identity,
     .preferred_style = "task"},
    {.name = "skynet",
     .summary = "a 10-ary tree of tasks, 6 levels (1,000,000 leaves); leaf i returns i; parents\n"
                "sum their children",
     .unit = "leaves",
     .default_n = 1'000'000,
     .quick_n = 100'000,
     .max_n = kSkynetMaxN,
     .n_power_of = 10,
     .check_help = "the sum of the leaves, n(n-1)/2 (499999500000 for the default)",
     .expected = sum_below_n,
     .preferred_style = "task"},
    {.name = "pool",
     .summary = "n tasks x -> 2x (x = 1..n) on a pool; the submitter awaits every result",
     .unit = "tasks",
     .default_n = 100'000,
     .quick_n = 20'000,
     .max_n = kPoolMaxN,
     .check_help = "the sum of the results, n(n+1)",
     .expected = n_times_n_plus_1,
     .preferred_style = "batch"},
    {.name = "pool_cpu",
     .summary = "n tasks each computing recursive fib(25) on a pool, against the same work on\n"
                "plain threads in the same run (floor_seconds, overhead_pct)",
     .unit = "tasks",
     .default_n = 200,
     .quick_n = 40,
     .max_n = kPoolCpuMaxN,
     .check_help = "the sum of the results, 75025 n",
     .expected = fib25_times_n,
     .preferred_style = "pool"},
    {.name = "pipeline",
     .summary = "3 stages on bounded ports (capacity 1024): emit 1..n, map x3, sum; every item\n"
                "through every stage",
     .unit = "items",
     .default_n = 10'000'000,
     .quick_n = 1'000'000,
     .max_n = kPipelineMaxN,
     .check_help = "the sum of 3x for x = 1..n, 3n(n+1)/2",
     .expected = three_halves_n_n_plus_1,
     .preferred_style = "task"},
};

constexpr std::string_view kTaskThreads = "runtime workers (default: one per core)";
constexpr std::string_view kPoolThreads = "pool workers (default 2)";

// Every (workload, style) that can run. Adding a style: one row, and its function.
// Implementation::has_metrics and ::takes_threads, where a row sets them:
constexpr bool kNoMetrics = false;     // plain threads: no troupe runtime or pool to export
constexpr bool kFixedThreads = false;  // the workload's shape fixes the threads: --threads ignored
constexpr Implementation kImplementations[] = {
    {"fanin", "thread", run_fanin_thread,
     "ignored; 4 producers + the consuming main thread = 5 threads", Capacity{kFaninCapacity},
     Placement::os, kNoMetrics, kFixedThreads},
    {"transfer", "thread", run_transfer_thread,
     "ignored; the driver (main thread) + 1 worker = 2 threads", Capacity{1}, Placement::spread,
     kNoMetrics, kFixedThreads},
    {"pingpong", "task", run_pingpong_task, kTaskThreads, Capacity{1}, Placement::os},
    {"ring", "task", run_ring_task, kTaskThreads, Capacity{1}, Placement::os},
    {"skynet", "task", run_skynet_task, kTaskThreads, std::nullopt, Placement::os},
    {"fanin", "task", run_fanin_task, kTaskThreads, Capacity{1024}, Placement::os},
    {"pingpong", "actor", run_pingpong_actor, kTaskThreads, Capacity{16}, Placement::os},
    {"ring", "actor", run_ring_actor, kTaskThreads, Capacity{16}, Placement::os},
    {"fanin", "actor", run_fanin_actor, kTaskThreads, Capacity{1024}, Placement::os},
    {"skynet", "actor", run_skynet_actor, kTaskThreads, Capacity{1}, Placement::os},
    {"transfer", "actor", run_transfer_actor, kTaskThreads, Capacity{1}, Placement::os},
    {"pool", "pool", run_pool_pool, kPoolThreads, std::nullopt, Placement::os},
    {"pool_cpu", "pool", run_pool_cpu_pool, kPoolThreads, std::nullopt, Placement::spread},
    {"pool", "batch", run_pool_batch, kPoolThreads, std::nullopt, Placement::os},
    {"pool_cpu", "batch", run_pool_cpu_batch, kPoolThreads, std::nullopt, Placement::spread},
    {"transfer", "pool", run_transfer_pool, "pool workers (default 1)", std::nullopt,
     Placement::spread},
    {"pipeline", "task", run_pipeline_task, kTaskThreads, Capacity{1024}, Placement::os},
    // The naive baselines (workloads_naive.cpp): no troupe, so no metrics.
    {"pingpong", "naive", run_pingpong_naive, "ignored; ping + pong = 2 threads", std::nullopt,
     Placement::os, kNoMetrics, kFixedThreads},
    {"ring", "naive", run_ring_naive, "ignored; one thread per node = 1,000 threads", std::nullopt,
     Placement::os, kNoMetrics, kFixedThreads},
    {"fanin", "naive", run_fanin_naive, "ignored; 4 producers + 1 consumer = 5 threads",
     std::nullopt, Placement::os, kNoMetrics, kFixedThreads},
    {"transfer", "naive", run_transfer_naive, "ignored; the driver + 1 worker = 2 threads",
     std::nullopt, Placement::os, kNoMetrics, kFixedThreads},
    {"pool", "naive", run_pool_naive, "hand-written pool workers (default 2)", std::nullopt,
     Placement::os, kNoMetrics},
    {"pool_cpu", "naive", run_pool_cpu_naive, "hand-written pool workers (default 2)", std::nullopt,
     Placement::spread, kNoMetrics},
    {"pipeline", "naive", run_pipeline_naive, "ignored; one thread per stage = 3 threads",
     Capacity{1024}, Placement::os, kNoMetrics, kFixedThreads},
};

// --repeat: enough for any statistic, few enough that a typo (an extra 0 or two) is caught.
constexpr std::uint64_t kMaxRepeat = 1000;

std::string join(const std::vector<std::string_view>& names) {
  std::string out;
  for (const std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out.empty() ? "none" : out;
}

std::vector<std::string_view> style_names(std::string_view workload) {
  std::vector<std::string_view> names;
  for (const Implementation* implementation : implementations_of(workload)) {
    names.push_back(implementation->style);
  }
  return names;
}

}  // namespace
}  // namespace load_impl

std::uint64_t parse_integer(std::string_view flag, std::string_view text, std::uint64_t minimum,
                            std::uint64_t maximum, std::string_view what) {
  const auto fail = [&](const std::string& why) {
    return UsageError(std::string(flag) + ": " + why);
  };
  const bool digits = !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return c >= '0' && c <= '9';
  });
  if (!digits) throw fail("expected " + std::string(what) + ", got '" + std::string(text) + "'");
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || value > maximum) {
    throw fail(std::string(text) + " is too large (at most " + format_count(maximum) + ")");
  }
  if (value < minimum) {
    throw fail("must be at least " + std::to_string(minimum) + ", got " + std::string(text));
  }
  return value;
}

namespace load_impl {
namespace {

std::uint64_t resolve_n(const WorkloadSpec& spec, const std::optional<std::string>& text) {
  if (!text) return spec.default_n;
  const std::uint64_t n = parse_integer("--n", *text, 1, UINT64_MAX, "a positive integer");
  if (n > spec.max_n) {
    throw UsageError("--n: " + *text + " is too large for " + std::string(spec.name) +
                     ": its check must fit in 64 bits (at most " + format_count(spec.max_n) +
                     ")");
  }
  if (spec.n_power_of > 1) {
    std::uint64_t power = 1;
    while (power < n) power *= spec.n_power_of;
    if (power != n) {
      throw UsageError("--n: " + std::string(spec.name) + " needs a power of " +
                       std::to_string(spec.n_power_of) + ", got " + *text);
    }
  }
  if (n % spec.n_multiple_of != 0) {
    throw UsageError("--n: " + std::string(spec.name) + " needs a multiple of " +
                     std::to_string(spec.n_multiple_of) + ", got " + *text);
  }
  return n;
}

MetricsFile resolve_metrics(const std::string& path) {
  const auto ends_with = [&](std::string_view suffix) { return path.ends_with(suffix); };
  if (ends_with(".json")) return {path, MetricsFormat::json};
  if (ends_with(".prom") || ends_with(".txt")) return {path, MetricsFormat::prometheus};
  throw UsageError("--metrics: '" + path +
                   "' must end in .json (JSON) or in .prom or .txt (Prometheus text)");
}

}  // namespace
}  // namespace load_impl

// A file can be created next to `path` (where write_atomically puts PATH.tmp) and `path` is not
// a directory. The probe file is removed again: a run interrupted later (Ctrl-C) leaves nothing
// behind.
void check_writable(std::string_view flag, const std::string& path) {
  struct stat status {};
  if (::stat(path.c_str(), &status) == 0 && S_ISDIR(status.st_mode)) {
    throw UsageError(std::string(flag) + ": cannot write '" + path + "': it is a directory");
  }
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw UsageError(std::string(flag) + ": cannot write '" + path + "': " +
                     std::generic_category().message(errno));
  }
  ::close(fd);
  ::unlink(temporary.c_str());
}

// A rename within a directory is atomic, so no reader ever sees a partial PATH.
void write_atomically(std::string_view flag, const std::string& path, std::string_view text) {
  const std::string temporary = path + ".tmp";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  // Every failure: the reason (errno, read first), then PATH.tmp closed and removed.
  const auto fail = [&](const std::string& what) {
    const std::string why = std::generic_category().message(errno);
    if (fd >= 0) ::close(fd);
    ::unlink(temporary.c_str());
    throw std::runtime_error(std::string(flag) + ": " + what + ": " + why);
  };
  if (fd < 0) fail("cannot create '" + temporary + "'");
  for (std::size_t written = 0; written < text.size();) {
    const ::ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("cannot write '" + temporary + "'");
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail("cannot sync '" + temporary + "'");
  if (::close(std::exchange(fd, -1)) != 0) fail("cannot write '" + temporary + "'");
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    fail("cannot rename '" + temporary + "' to '" + path + "'");
  }
}

namespace load_impl {
namespace {

// What --metrics writes, in its format.
std::string metrics_text(const LoadResult& result, MetricsFormat format) {
  // Every implementation with has_metrics fills the snapshot when asked; not doing so is a bug
  // in it, reported as a failed run (exit 1), not a usage error.
  if (!result.metrics) throw std::logic_error("the implementation took no metrics snapshot");
  return format == MetricsFormat::json ? result.metrics->to_json() + "\n"
                                       : result.metrics->to_prometheus();
}

Capacity resolve_capacity(const std::string& text) {
  if (text == "unbounded") return {};
  const auto max = static_cast<std::uint64_t>(kMaxChannelCapacity);
  return {static_cast<std::int64_t>(
      parse_integer("--capacity", text, 0, max, "'unbounded' or an integer >= 0"))};
}

}  // namespace
}  // namespace load_impl

std::span<const WorkloadSpec> workloads() noexcept { return load_impl::kWorkloads; }

const WorkloadSpec* find_workload(std::string_view name) noexcept {
  const auto* it = std::find_if(std::begin(load_impl::kWorkloads), std::end(load_impl::kWorkloads),
                                [&](const WorkloadSpec& spec) { return spec.name == name; });
  return it == std::end(load_impl::kWorkloads) ? nullptr : it;
}

std::vector<const Implementation*> implementations_of(std::string_view workload) {
  std::vector<const Implementation*> found;
  for (const Implementation& implementation : load_impl::kImplementations) {
    if (implementation.workload == workload) found.push_back(&implementation);
  }
  return found;
}

std::vector<std::string_view> runnable_workloads() {
  std::vector<std::string_view> names;
  for (const WorkloadSpec& spec : load_impl::kWorkloads) {
    if (!implementations_of(spec.name).empty()) names.push_back(spec.name);
  }
  return names;
}

LoadPlan plan_load(const LoadRequest& request) {
  reject_latency_flags(request);
  const WorkloadSpec* spec = find_workload(request.workload);
  if (spec == nullptr) {
    throw UsageError("unknown workload '" + request.workload + "' (workloads: " +
                     load_impl::join(runnable_workloads()) + ")");
  }
  const std::vector<const Implementation*> implementations = implementations_of(spec->name);
  if (implementations.empty()) {
    throw UsageError("workload '" + request.workload +
                     "' has no implementation yet (styles: none)");
  }
  const Implementation* baseline = resolve_baseline(request, *spec);  // --compare
  const std::string_view style = request.style ? std::string_view(*request.style)
                                               : spec->preferred_style;
  const auto chosen = std::find_if(implementations.begin(), implementations.end(),
                                   [&](const Implementation* i) { return i->style == style; });
  if (chosen == implementations.end()) {
    throw UsageError("workload '" + request.workload + "' has no style '" + std::string(style) +
                     "' (styles: " + load_impl::join(load_impl::style_names(spec->name)) + ")");
  }
  if (request.json && request.csv) {
    throw UsageError("--csv and --json conflict: choose one output format");
  }
  if (request.quick) throw UsageError("--quick applies to 'troupe load all' only");
  if (request.plot && !request.sweep) {
    throw UsageError(
        "--plot needs --sweep (the rate against the swept values) or 'troupe load latency'");
  }
  if (request.sweep) throw std::logic_error("plan_load: a --sweep is planned by plan_sweep");
  const OutputFormat format = request.json  ? OutputFormat::json
                              : request.csv ? OutputFormat::csv
                                            : OutputFormat::human;
  LoadPlan plan{.spec = spec,
                .implementation = *chosen,
                .params = {},
                .format = format,
                .repeat = {},
                .metrics = {},
                .baseline = baseline};
  plan.params.n = load_impl::resolve_n(*spec, request.n);
  if (request.threads) {
    plan.params.threads =
        parse_integer("--threads", *request.threads, 1, kMaxThreads, "a positive integer");
  }
  // Limits of the troupe runtime and of the workloads, checked here so that they are usage
  // errors (exit 2), not a failed run.
  const bool on_runtime = (*chosen)->threads_help == load_impl::kTaskThreads;
  if (on_runtime && plan.params.threads && *plan.params.threads > RuntimeOptions::kMaxWorkers) {
    throw UsageError("--threads: " + *request.threads + " is too large for style '" +
                     std::string(style) + "' (a troupe runtime has at most " +
                     std::to_string(RuntimeOptions::kMaxWorkers) + " workers)");
  }
  plan.params.capacity = request.capacity ? load_impl::resolve_capacity(*request.capacity)
                                          : (*chosen)->default_capacity;
  if (request.capacity && style == "actor" && plan.params.capacity->slots == 0) {
    throw UsageError("--capacity: style 'actor' has no rendezvous mailbox (0); use 1 or more, "
                     "or 'unbounded'");
  }
  if (request.capacity && spec->name == "pipeline" &&
      (plan.params.capacity->unbounded() || plan.params.capacity->slots < 8)) {
    throw UsageError("--capacity: the pipeline's stages need at least 8 (8 x a stage's "
                     "parallelism) and a bound, got " + *request.capacity);
  }
  plan.params.placement = (*chosen)->default_placement;
  if (request.placement) {
    if (*request.placement == "spread") {
      plan.params.placement = Placement::spread;
    } else if (*request.placement == "os") {
      plan.params.placement = Placement::os;
    } else {
      throw UsageError("--placement: expected 'spread' or 'os', got '" + *request.placement + "'");
    }
  }
  if (request.repeat) {
    plan.repeat =
        parse_integer("--repeat", *request.repeat, 1, load_impl::kMaxRepeat, "a positive integer");
  }
  if (request.metrics) {
    plan.metrics = load_impl::resolve_metrics(*request.metrics);
    if (!(*chosen)->has_metrics) {
      std::vector<std::string_view> with_metrics;
      for (const Implementation* implementation : implementations) {
        if (implementation->has_metrics) with_metrics.push_back(implementation->style);
      }
      throw UsageError("--metrics: style '" + std::string(style) +
                       "' runs on plain threads, with no troupe runtime or pool to export (" +
                       std::string(spec->name) +
                       " styles with metrics: " + load_impl::join(with_metrics) + ")");
    }
  }
  return plan;
}

std::uint64_t runs_of(const LoadPlan& plan) noexcept { return plan.repeat ? *plan.repeat + 1 : 1; }

RunOutcome run_verified(const WorkloadSpec& spec, const Implementation& implementation,
                        LoadParams params, bool metrics) {
  params.metrics = metrics;
  RunOutcome run{.result = implementation.run(params), .check_ok = false};
  run.check_ok = run.result.check == spec.expected(params.n) && run.result.failures.empty();
  return run;
}

Report report_of(const LoadPlan& plan, const Implementation& implementation) {
  return {.workload = plan.spec->name,
          .style = implementation.style,
          .unit = plan.spec->unit,
          .n = plan.params.n,
          .threads_requested = plan.params.threads,
          .expected = plan.spec->expected(plan.params.n),
          .runs = {},
          .warmup = std::nullopt};
}

Report measure_load(const LoadPlan& plan, Progress& progress, std::string_view label) {
  Report report = report_of(plan, *plan.implementation);
  const std::string name =
      label.empty() ? std::string(plan.spec->name) + "/" + std::string(plan.implementation->style)
                    : std::string(label);
  const auto run_once = [&](bool metrics, const std::string& which) {
    progress.start_run(which.empty() ? name : name + " " + which);
    RunOutcome run = run_verified(*plan.spec, *plan.implementation, plan.params, metrics);
    progress.finish_run();
    return run;
  };
  // The warm-up takes the first-run costs (page faults on fresh memory, allocator arenas and
  // caches, lazily registered metrics) out of the series, so that run 1 measures what run K does.
  if (plan.repeat) report.warmup = run_once(false, "warm-up");
  const std::uint64_t count = plan.repeat.value_or(1);
  for (std::uint64_t i = 1; i <= count; ++i) {
    report.runs.push_back(
        run_once(plan.metrics && i == count, plan.repeat ? "run " + std::to_string(i) : ""));
  }
  return report;
}

int run_load(const LoadPlan& plan, std::ostream& out, std::ostream& err) {
  if (plan.baseline) return run_compare(plan, out, err);
  // Before any run: an unwritable metrics path is a usage error, not a lost run.
  if (plan.metrics) check_writable("--metrics", plan.metrics->path);
  Progress progress(err, progress_allowed(err, plan.format), runs_of(plan));
  const Report report = measure_load(plan, progress);
  progress.clear();
  print_report(out, report, plan.format);
  print_failed_runs(err, report);
  if (plan.metrics) {
    write_atomically("--metrics", plan.metrics->path,
                     load_impl::metrics_text(report.runs.back().result, plan.metrics->format));
  }
  return report.all_ok() ? 0 : 1;
}

std::string workloads_help() {
  std::ostringstream text;
  const std::string indent(13, ' ');
  text << "Workloads (troupe load --list prints those that can run):\n";
  std::vector<std::string_view> later;
  for (const WorkloadSpec& spec : load_impl::kWorkloads) {
    const std::vector<const Implementation*> implementations = implementations_of(spec.name);
    if (implementations.empty()) {
      later.push_back(spec.name);
      continue;
    }
    text << "  " << spec.name << std::string(indent.size() - 2 - spec.name.size(), ' ')
         << spec.summary << '\n'
         << indent << "n: " << spec.unit << ", default " << format_count(spec.default_n)
         << " (--quick " << format_count(spec.quick_n) << ")";
    if (spec.n_multiple_of > 1) text << ", a multiple of " << spec.n_multiple_of;
    if (spec.n_power_of > 1) text << ", a power of " << spec.n_power_of;
    text << ", at most " << format_count(spec.max_n) << '\n' << indent << "check: ";
    for (const char c : spec.check_help) {
      text << c;
      if (c == '\n') text << indent << "  ";
    }
    text << '\n';
    for (const Implementation* implementation : implementations) {
      text << indent << "style " << implementation->style
           << (implementation->style == spec.preferred_style ? " (the default)" : "") << ": ";
      if (const auto capacity = implementation->default_capacity) {
        text << "--capacity default " << format_field(capacity_field(*capacity));
      } else {
        text << "--capacity ignored (no channels)";
      }
      text << ", --placement default "
           << (implementation->default_placement == Placement::spread ? "spread" : "os");
      text << '\n' << indent << "  --threads: " << implementation->threads_help << '\n';
    }
  }
  if (!later.empty()) text << "  " << load_impl::join(later) << ": " << load_impl::kLater << "\n";
  text << latency_help();
  text << soak_help();
  text << "Styles: thread = plain std::threads and troupe channels; task = troupe::Runtime\n"
       << "tasks and troupe channels; actor = troupe handler actors telling each other (their\n"
       << "mailboxes bounded by --capacity); pool = a troupe::Pool, one submit and one future per\n"
       << "task; batch = the same pool, tasks submitted in batches of 1,024 (Pool::submit_batch);\n"
       << "naive = no troupe at all: one std::thread per actor, each with a std::mutex +\n"
       << "std::condition_variable queue, bounded where troupe's are (pool, pool_cpu: a\n"
       << "hand-written pool of std::threads on one such queue, a std::future per task); the\n"
       << "baseline of --compare naive.\n"
       << "Without --style a workload runs its fastest implementation.\n"
       << "--capacity: the bound of the workload's channels (0 = rendezvous) or 'unbounded'.\n"
       << "--placement: spread pins the threads round-robin over the cores; os lets the kernel\n"
       << "place them (it often starts a new thread on its creator's core and moves it only\n"
       << "tens of milliseconds later). Each implementation defaults to the faster one.\n"
       << "--repeat K: a warm-up run (not measured), then K measured runs; the report gives the\n"
       << "median run's figures (of an even K, the slower middle run), the min and max, and each\n"
       << "run. --json gives the median run's fields (check_ok and failures: every run's) and\n"
       << "adds \"warmup\", \"runs\" and \"summary\".\n"
       << "--csv: a header line, then one line per measured run (workload, style, run, n,\n"
       << "seconds, rate, check_ok, the other standard fields, the workload's own, failures).\n"
       << compare_help()
       << "--metrics FILE: the troupe metrics at the end of the (last measured) run, as JSON\n"
       << "(FILE.json) or Prometheus text (FILE.prom, FILE.txt): the runtime's workers and tasks,\n"
       << "the live actors and pools; the pool style has no runtime (its runtime fields are 0),\n"
       << "the thread style no metrics. FILE is replaced whole, never left partial.\n"
       << "troupe load all: every workload that can run, at its default n (with --quick, its\n"
       << "quick n) in its default style, then one table; --json: a line per workload (its --json\n"
       << "object); --csv: the table. --threads, --placement and --repeat apply to each workload.\n"
       << "--sweep PARAM=V1,V2,...: the workload once per value of threads, capacity or n (each\n"
       << "checked as its own flag would be), then a table; --json: a line per value; --csv: one\n"
       << "header, then every value's lines. --plot FILE.svg (with --sweep): a chart of the rate\n"
       << "against the value (with --repeat: median, min and max), replaced whole, never partial.\n"
       << "Runs of more than a second show a progress bar with an ETA on stderr, if it is a\n"
       << "terminal (never with --json or --csv).\n"
       << "Every run verifies its check. Exit status: 0 every check held, 1 one did not (after\n"
       << "the result is printed; a failed run of a series is named on stderr), 2 a usage error.\n";
  return text.str();
}

}  // namespace troupe::cli
