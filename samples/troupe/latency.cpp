// latency.cpp — `troupe load latency` (see latency.hpp): the generator, the collector, the three
// request workloads, validation and the report.
#include "latency.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <initializer_list>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "chart.hpp"
#include "latency_histogram.hpp"
#include "report.hpp"
#include "troupe/actors/actor.hpp"
#include "troupe/actors/pool.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/runtime/runtime.hpp"
#include "workloads.hpp"

namespace troupe::cli {
namespace latency_impl {

using Clock = std::chrono::steady_clock;

// The types a run's parts pass between them (named, not anonymous: LatencyWorkload's run
// returns an Outcome).

// One request as the generator issues it: its index and its intended send time.
struct Request {
  std::uint64_t index = 0;
  Clock::time_point due;
};

// One request as the collector sees it, done: the reply (index + 1 when all went well), when it
// was due and when it completed; `failure` says why it did not.
struct Completion {
  std::uint64_t index = 0;
  std::uint64_t reply = 0;
  Clock::time_point due;
  Clock::time_point done;
  std::string failure;
};


constexpr double kMaxRate = 1'000'000;          // one request per microsecond
constexpr double kMaxDuration = 3600;           // seconds
constexpr double kMaxRequests = 100'000'000;    // rate × duration
constexpr std::size_t kMaxFailuresKept = 10;    // more are counted, not listed
constexpr auto kAskTimeout = std::chrono::seconds(60);
// The generator sleeps until this close to a request's due time, then yields: a sleep wakes
// tens of microseconds late, a yield loop on time.
constexpr auto kSpinWindow = std::chrono::microseconds(200);

// The collector's books: the histogram, the replies and the failures. One thread writes it.
struct Tally {
  LatencyHistogram histogram;
  std::uint64_t completed = 0;
  std::uint64_t check = 0;  // the sum of the replies
  std::vector<std::string> failures;
  std::uint64_t failures_not_kept = 0;

  void fail(std::string why) {
    if (failures.size() < kMaxFailuresKept) {
      failures.push_back(std::move(why));
    } else {
      ++failures_not_kept;
    }
  }
  void add(const Completion& completion) {
    const auto latency = std::chrono::duration_cast<std::chrono::nanoseconds>(
        completion.done - completion.due);
    histogram.record(static_cast<std::uint64_t>(std::max<std::int64_t>(latency.count(), 0)));
    ++completed;
    check += completion.reply;
    if (!completion.failure.empty()) {
      fail("request " + std::to_string(completion.index) + ": " + completion.failure);
    } else if (completion.reply != completion.index + 1) {
      fail("request " + std::to_string(completion.index) + ": reply " +
           std::to_string(completion.reply) + " != " + std::to_string(completion.index + 1));
    }
  }
};

// What the generator did: when it sent the last request, and how late it was at worst.
struct Sent {
  std::uint64_t count = 0;
  Clock::time_point start;  // t0, the first request's due time
  Clock::time_point last;   // when the last request was issued
  std::uint64_t max_lag_ns = 0;
};

// A finished run: the generator's record, the collector's books, the threads that served.
struct Outcome {
  Sent sent;
  Tally tally;
  std::uint64_t threads = 0;
};

}  // namespace latency_impl

// The --workload table's rows.
struct LatencyWorkload {
  std::string_view name;
  std::string_view summary;   // one line for the report and --help
  std::string_view threads;   // what --threads sets (the report's "threads" counts them)
  latency_impl::Outcome (*run)(const LatencyPlan& plan);
};

namespace latency_impl {
namespace {

std::uint64_t nanoseconds_between(Clock::time_point from, Clock::time_point to) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count();
  return static_cast<std::uint64_t>(std::max<std::int64_t>(ns, 0));
}

void wait_until(Clock::time_point due) {
  for (Clock::time_point now = Clock::now(); now < due; now = Clock::now()) {
    if (due - now > kSpinWindow) {
      std::this_thread::sleep_until(due - kSpinWindow / 2);
    } else {
      std::this_thread::yield();
    }
  }
}

// Issues plan.requests requests, request i at start + i/rate (or as soon after as it can),
// never waiting for a reply: issue(Request) must hand the request over and return.
template <class Issue>
Sent generate(const LatencyPlan& plan, Issue&& issue) {
  Sent sent;
  sent.start = Clock::now();
  for (std::uint64_t i = 0; i < plan.requests; ++i) {
    const auto offset = std::chrono::nanoseconds(
        std::llround(static_cast<double>(i) * 1e9 / plan.rate));
    const Clock::time_point due = sent.start + offset;
    wait_until(due);
    const Clock::time_point now = Clock::now();
    sent.max_lag_ns = std::max(sent.max_lag_ns, nanoseconds_between(due, now));
    issue(Request{.index = i, .due = due});
    sent.last = now;
    ++sent.count;
  }
  return sent;
}

// Runs `next` (returns std::optional<Completion>, nullopt at the end) on a thread of its own
// until it ends, tallying what it returns. join() (or the destructor) waits for the end.
class Collector {
 public:
  template <class Next>
  explicit Collector(Next next)
      : thread_([this, next = std::move(next)]() mutable {
          while (std::optional<Completion> completion = next()) tally_.add(*completion);
        }) {}
  // Waits for the end of the stream; the thread's writes happen-before join() returns.
  Tally join() {
    thread_.join();
    return std::move(tally_);
  }

 private:
  Tally tally_;
  std::jthread thread_;  // last: started once tally_ exists, joined before it is destroyed
};

// Runs the generator, then closes `tx` — the stream whose end ends the collector's — and waits
// for the collector's tally; on an exception too (then rethrown), so that the collector's thread
// never waits for a stream nobody will end.
template <class Tx, class Issue>
void generate_and_collect(const LatencyPlan& plan, Tx& tx, Collector& collector,
                          Outcome& outcome, Issue&& issue) {
  try {
    outcome.sent = generate(plan, std::forward<Issue>(issue));
  } catch (...) {
    tx = Tx();
    (void)collector.join();
    throw;
  }
  tx = Tx();
  outcome.tally = collector.join();
}

LoadParams params_of(const LatencyPlan& plan) {
  LoadParams params;
  params.threads = plan.threads;
  return params;
}

// ---- actor: an ask, from a task spawned per request --------------------------------------------

struct Ask {
  std::uint64_t index = 0;
};

// Replies index + 1. Only its own task touches it (an actor).
class Echo {
 public:
  [[nodiscard]] std::uint64_t handle(Ask ask) const { return ask.index + 1; }
};

Task<void> ask_echo(ActorRef<Echo> echo, Request request, Sender<Completion> done) {
  AskResult<std::uint64_t> reply = co_await echo.ask(Ask{request.index}, kAskTimeout);
  Completion completion{.index = request.index,
                        .reply = 0,
                        .due = request.due,
                        .done = Clock::now(),
                        .failure = {}};
  if (reply) {
    completion.reply = *reply;
  } else {
    completion.failure = reply.error().message();
  }
  (void)done.try_send(std::move(completion));  // unbounded: refused only if the collector left
}

Outcome run_actor(const LatencyPlan& plan) {
  Runtime runtime(runtime_options(params_of(plan)));
  ActorOptions options;
  options.name = "echo";
  options.mailbox_capacity = 0;  // unbounded: an arrival never waits for room (open loop)
  ActorRef<Echo> echo = spawn_actor<Echo>(runtime, options);
  auto [done_tx, done_rx] = unbounded_channel<Completion>();
  Collector collector([rx = std::move(done_rx)]() mutable { return rx.blocking_recv(); });
  Outcome outcome;
  // The stream of completions ends once done_tx is closed and the last ask_echo has reported.
  generate_and_collect(plan, done_tx, collector, outcome, [&](Request request) {
    runtime.spawn(ask_echo(echo, request, done_tx.clone())).detach();
  });
  outcome.threads = runtime.metrics().workers.size();
  return outcome;
}

// ---- task: a message on a channel to a runtime task, and its reply -----------------------------

Task<void> serve(Receiver<Request> requests, Sender<Completion> replies) {
  while (std::optional<Request> request = co_await requests.recv()) {
    Completion reply{.index = request->index,
                     .reply = request->index + 1,
                     .due = request->due,
                     .done = {},  // stamped by the collector as it receives the reply
                     .failure = {}};
    if (!co_await replies.send(std::move(reply))) co_return;
  }
}

Outcome run_task(const LatencyPlan& plan) {
  Runtime runtime(runtime_options(params_of(plan)));
  auto [request_tx, request_rx] = unbounded_channel<Request>();
  auto [reply_tx, reply_rx] = unbounded_channel<Completion>();
  JoinHandle<void> server = runtime.spawn(serve(std::move(request_rx), std::move(reply_tx)));
  Collector collector([rx = std::move(reply_rx)]() mutable {
    std::optional<Completion> reply = rx.blocking_recv();
    if (reply) reply->done = Clock::now();
    return reply;
  });
  Outcome outcome;
  // Once request_tx is closed the server drains, returns, and its reply stream ends.
  generate_and_collect(plan, request_tx, collector, outcome, [&](Request request) {
    if (!request_tx.try_send(request)) throw Error(ErrorCode::closed, "the server task ended");
  });
  server.get();
  outcome.threads = runtime.metrics().workers.size();
  return outcome;
}

// ---- pool: a Pool task, its future read in submission order ------------------------------------

struct Pending {
  std::uint64_t index = 0;
  Clock::time_point due;
  std::optional<PoolFuture<std::uint64_t>> future;  // empty: the submission was refused
  std::string failure;
};

Outcome run_pool(const LatencyPlan& plan) {
  const std::uint64_t workers = plan.threads.value_or(2);
  PoolOptions options;
  options.name = "latency";
  options.min_workers = workers;
  options.max_workers = workers;
  Pool pool(options);
  pool.wait_ready();
  auto [pending_tx, pending_rx] = unbounded_channel<Pending>();
  Collector collector([rx = std::move(pending_rx)]() mutable -> std::optional<Completion> {
    std::optional<Pending> pending = rx.blocking_recv();
    if (!pending) return std::nullopt;
    Completion completion{.index = pending->index,
                          .reply = 0,
                          .due = pending->due,
                          .done = {},
                          .failure = std::move(pending->failure)};
    if (pending->future) {
      try {
        completion.reply = pending->future->get();
      } catch (const std::exception& error) {
        completion.failure = error.what();
      }
    }
    completion.done = Clock::now();
    return completion;
  });
  Outcome outcome;
  generate_and_collect(plan, pending_tx, collector, outcome, [&](Request request) {
    const std::uint64_t index = request.index;
    auto submitted = pool.submit([index] { return index + 1; });  // unbounded queue: no wait
    Pending pending{.index = index, .due = request.due, .future = std::nullopt, .failure = {}};
    if (submitted) {
      pending.future = std::move(*submitted);
    } else {
      pending.failure = "the pool refused the task";
    }
    if (!pending_tx.try_send(std::move(pending))) {
      throw Error(ErrorCode::closed, "the collector ended");
    }
  });
  outcome.threads = workers;
  return outcome;
}

constexpr LatencyWorkload kLatencyWorkloads[] = {
    {"actor", "an ask to a handler actor that replies, from a runtime task spawned per request",
     "runtime workers", run_actor},
    {"task", "a message on a channel to a runtime task, which replies on a second channel",
     "runtime workers", run_task},
    {"pool", "a troupe::Pool task; its future read in submission order", "pool workers", run_pool},
};
constexpr std::string_view kDefaultWorkload = "actor";

std::string workload_names() {
  std::string names;
  for (const LatencyWorkload& workload : kLatencyWorkloads) {
    names += (names.empty() ? "" : ", ") + std::string(workload.name);
  }
  return names;
}

// Flags of `troupe load <workload>` that mean nothing to a latency run.
void reject_load_flags(const LoadRequest& request) {
  refuse_given({{"--n", request.n.has_value()},
                {"--style", request.style.has_value()},
                {"--capacity", request.capacity.has_value()},
                {"--placement", request.placement.has_value()},
                {"--repeat", request.repeat.has_value()},
                {"--metrics", request.metrics.has_value()},
                {"--compare", request.compare.has_value()},
                {"--sweep", request.sweep.has_value()},
                {"--quick", request.quick}},
               "does not apply to 'troupe load latency' (it takes --rate, --duration, "
               "--workload, --threads, --json or --csv, --plot)");
}

// ---- the report --------------------------------------------------------------------------------

std::uint64_t expected_check(std::uint64_t requests) { return requests * (requests + 1) / 2; }

// Requests per second the generator achieved: count over the time from t0 to the last send
// plus one interval, which is exactly the requested rate when every send was on time.
double achieved_rate(const Sent& sent, double rate) {
  const double span = std::chrono::duration<double>(sent.last - sent.start).count() + 1 / rate;
  return span > 0 ? static_cast<double>(sent.count) / span : 0.0;
}

struct Quantile {
  std::string_view name;  // JSON and CSV: <name>_ns
  std::string_view label;
  double q;
};
constexpr Quantile kQuantiles[] = {
    {"p50", "p50", 0.5}, {"p90", "p90", 0.9}, {"p99", "p99", 0.99}, {"p99_9", "p99.9", 0.999}};

std::string seconds_of_ns(std::uint64_t ns) { return format_seconds(static_cast<double>(ns) / 1e9); }

// Every failure of the run, on one line each: the tally's and a shortfall of completions.
std::vector<std::string> failures_of(const LatencyPlan& plan, const Outcome& outcome) {
  std::vector<std::string> failures = outcome.tally.failures;
  if (outcome.tally.failures_not_kept > 0) {
    failures.push_back("… and " + format_count(outcome.tally.failures_not_kept) + " more");
  }
  if (outcome.tally.completed != plan.requests) {
    failures.push_back(format_count(outcome.tally.completed) + " of " +
                       format_count(plan.requests) + " requests completed");
  }
  return failures;
}

void print_human(std::ostream& out, const LatencyPlan& plan, const Outcome& outcome, bool ok) {
  const LatencyHistogram& histogram = outcome.tally.histogram;
  std::string quantiles;
  for (const Quantile& quantile : kQuantiles) {
    quantiles += std::string(quantile.label) + " " + seconds_of_ns(histogram.quantile(quantile.q)) + ", ";
  }
  quantiles += "max " + seconds_of_ns(histogram.max());
  const std::uint64_t expected = expected_check(plan.requests);
  Rows rows = {
      {"workload", "latency"},
      {"request", std::string(plan.workload->name) + ": " + std::string(plan.workload->summary)},
      {"schedule", format_rate(plan.rate, "requests") + " for " + format_seconds(plan.duration) +
                       " = " + format_count(plan.requests) +
                       " requests, open loop (latency from each intended send time)"},
      {"rate", format_rate(achieved_rate(outcome.sent, plan.rate), "requests") +
                   " achieved of " + format_rate(plan.rate, "requests") +
                   " requested; generator lag max " + seconds_of_ns(outcome.sent.max_lag_ns)},
      {"completed", format_count(outcome.tally.completed) + " of " + format_count(plan.requests)},
      {"latency", quantiles},
      {"", "min " + seconds_of_ns(histogram.min()) + ", mean " +
               format_seconds(histogram.mean() / 1e9)},
      {"threads", format_count(outcome.threads) + " " + std::string(plan.workload->threads)},
      {"check", format_count(outcome.tally.check) +
                    (outcome.tally.check == expected ? " = " : " != ") + "expected " +
                    format_count(expected) + (ok ? ": ok" : ": FAILED")},
      {"allocator", std::string(allocator_name())},
  };
  for (const std::string& failure : failures_of(plan, outcome)) rows.emplace_back("failure", failure);
  rows.emplace_back("histogram", "requests per latency range (powers of two)");
  print_rows(out, rows);
  const std::vector<LatencyHistogram::Range> ranges = histogram.log2_ranges();
  std::uint64_t most = 1;
  for (const auto& range : ranges) most = std::max(most, range.count);
  Rows lines;
  for (const auto& range : ranges) {
    const double share = 100.0 * static_cast<double>(range.count) /
                         static_cast<double>(std::max<std::uint64_t>(histogram.count(), 1));
    const auto bar = static_cast<std::size_t>(
        std::ceil(40.0 * static_cast<double>(range.count) / static_cast<double>(most)));
    char figures[64];
    std::snprintf(figures, sizeof figures, "%10s %6.2f%%  ", format_count(range.count).c_str(),
                  share);
    lines.emplace_back("  " + seconds_of_ns(range.from_ns) + " - " + seconds_of_ns(range.to_ns),
                       figures + std::string(bar, '#'));
  }
  print_rows(out, lines);
}

// The scalar fields of JSON and CSV, in order, as JSON values.
std::vector<std::pair<std::string, std::string>> scalar_fields(const LatencyPlan& plan,
                                                               const Outcome& outcome) {
  const LatencyHistogram& histogram = outcome.tally.histogram;
  return {{"workload", json_string("latency")},
          {"request", json_string(plan.workload->name)},
          {"rate_requested", json_number(plan.rate)},
          {"duration", json_number(plan.duration)},
          {"requests", std::to_string(plan.requests)},
          {"completed", std::to_string(outcome.tally.completed)},
          {"rate_achieved", json_number(achieved_rate(outcome.sent, plan.rate))},
          {"generator_lag_max_ns", std::to_string(outcome.sent.max_lag_ns)},
          {"threads", std::to_string(outcome.threads)},
          {"check", std::to_string(outcome.tally.check)},
          {"expected", std::to_string(expected_check(plan.requests))},
          {"min_ns", std::to_string(histogram.min())},
          {"mean_ns", json_number(histogram.mean())},
          {"p50_ns", std::to_string(histogram.quantile(0.5))},
          {"p90_ns", std::to_string(histogram.quantile(0.9))},
          {"p99_ns", std::to_string(histogram.quantile(0.99))},
          {"p99_9_ns", std::to_string(histogram.quantile(0.999))},
          {"max_ns", std::to_string(histogram.max())}};
}

void print_json(std::ostream& out, const LatencyPlan& plan, const Outcome& outcome, bool ok) {
  JsonObject object;
  JsonObject latency;
  for (const auto& [name, value] : scalar_fields(plan, outcome)) {
    if (name.ends_with("_ns") && name != "generator_lag_max_ns") {
      latency.add(name.substr(0, name.size() - 3), value);
    } else {
      object.add(name, value);
    }
  }
  object.add("latency_ns", latency.close());
  std::vector<std::string> ranges;
  for (const auto& range : outcome.tally.histogram.log2_ranges()) {
    ranges.push_back(JsonObject()
                         .add("from_ns", std::to_string(range.from_ns))
                         .add("to_ns", std::to_string(range.to_ns))
                         .add("count", std::to_string(range.count))
                         .close());
  }
  std::string histogram = "[";
  for (const std::string& range : ranges) histogram += (histogram.size() > 1 ? "," : "") + range;
  object.add("histogram", histogram + "]");
  object.add("check_ok", json_bool(ok)).add("allocator", json_string(allocator_name()));
  std::string failures = "[";
  for (const std::string& failure : failures_of(plan, outcome)) {
    failures += (failures.size() > 1 ? "," : "") + json_string(failure);
  }
  object.add("failures", failures + "]");
  out << object.close() << '\n';
}

void print_csv(std::ostream& out, const LatencyPlan& plan, const Outcome& outcome, bool ok) {
  std::string header;
  std::string line;
  for (const auto& [name, value] : scalar_fields(plan, outcome)) {
    header += name + ",";
    // JSON strings here are names without quotes or commas: their text is the cell.
    line += (value.front() == '"' ? value.substr(1, value.size() - 2) : value) + ",";
  }
  std::string failures;
  for (const std::string& failure : failures_of(plan, outcome)) {
    failures += (failures.empty() ? "" : "; ") + failure;
  }
  out << header << "check_ok,allocator,failures\n"
      << line << json_bool(ok) << ',' << allocator_name() << ',' << csv_cell(failures) << '\n';
}

// The histogram of the run as an SVG bar chart: one bar per power-of-two range, as printed.
std::string histogram_svg(const LatencyPlan& plan, const Outcome& outcome) {
  BarChart chart;
  chart.title = "troupe load latency: " + std::string(plan.workload->name) + ", " +
                format_rate(plan.rate, "requests") + " for " + format_seconds(plan.duration) +
                " (p99 " + seconds_of_ns(outcome.tally.histogram.quantile(0.99)) + ")";
  chart.x_label = "latency from the intended send time";
  chart.y_label = "requests";
  for (const auto& range : outcome.tally.histogram.log2_ranges()) {
    if (chart.edges.empty()) {
      chart.edges.push_back(static_cast<double>(range.from_ns));
      chart.edge_labels.push_back(seconds_of_ns(range.from_ns));
    }
    chart.edges.push_back(static_cast<double>(range.to_ns));
    chart.edge_labels.push_back(seconds_of_ns(range.to_ns));
    chart.counts.push_back(range.count);
  }
  if (chart.counts.empty()) throw std::runtime_error("--plot: no request completed: no histogram");
  return bar_chart_svg(chart);
}

}  // namespace
}  // namespace latency_impl

// A positive decimal number (digits, '.', an exponent), with `suffixes` (name, factor) allowed
// after it; the value times the suffix's factor.
double parse_positive(std::string_view flag, const std::string& text,
                      std::initializer_list<std::pair<std::string_view, double>> suffixes,
                      std::string_view what) {
  std::string_view digits = text;
  double factor = 1;
  for (const auto& [suffix, by] : suffixes) {
    if (digits.size() > suffix.size() && digits.ends_with(suffix)) {
      digits.remove_suffix(suffix.size());
      factor = by;
      break;
    }
  }
  double value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value,
                                            std::chars_format::general);
  if (digits.empty() || error != std::errc{} || end != digits.data() + digits.size() ||
      !std::isfinite(value)) {
    throw UsageError(std::string(flag) + ": expected " + std::string(what) + ", got '" + text +
                     "'");
  }
  if (value <= 0) {
    throw UsageError(std::string(flag) + ": must be greater than 0, got " + text);
  }
  return value * factor;
}

// Throws UsageError for the first of `flags` that was given: "<flag> <why>".
void refuse_given(std::initializer_list<std::pair<std::string_view, bool>> flags,
                  const std::string& why) {
  for (const auto& [flag, given] : flags) {
    if (given) throw UsageError(std::string(flag) + " " + why);
  }
}

void reject_latency_flags(const LoadRequest& request) {
  refuse_given({{"--rate", request.rate.has_value()},
                {"--duration", request.duration.has_value()},
                {"--workload", request.request_kind.has_value()}},
               "applies only to 'troupe load latency', not to '" + request.workload + "'");
}

LatencyPlan plan_latency(const LoadRequest& request) {
  latency_impl::reject_load_flags(request);
  if (request.json && request.csv) {
    throw UsageError("--csv and --json conflict: choose one output format");
  }
  if (!request.rate) throw UsageError("load latency needs --rate R (requests per second)");
  if (!request.duration) throw UsageError("load latency needs --duration D (seconds)");
  LatencyPlan plan;
  plan.rate = parse_positive("--rate", *request.rate, {}, "requests per second, a number");
  if (plan.rate > latency_impl::kMaxRate) {
    throw UsageError("--rate: " + *request.rate +
                     " is beyond what the generator can schedule (at most 1,000,000 requests/s, "
                     "one per microsecond)");
  }
  plan.duration = parse_positive("--duration", *request.duration, {{"ms", 1e-3}, {"s", 1.0}},
                                 "seconds (e.g. 0.5, 2s or 200ms)");
  if (plan.duration > latency_impl::kMaxDuration) {
    throw UsageError("--duration: " + *request.duration + " is too long (at most 3600 s)");
  }
  const double requests = std::round(plan.rate * plan.duration);
  if (requests < 1) {
    throw UsageError("--rate x --duration is less than one request (" + *request.rate + " x " +
                     *request.duration + ")");
  }
  if (requests > latency_impl::kMaxRequests) {
    throw UsageError("--rate x --duration is too many requests (at most 100,000,000)");
  }
  plan.requests = static_cast<std::uint64_t>(requests);
  const std::string_view name = request.request_kind ? std::string_view(*request.request_kind)
                                                     : latency_impl::kDefaultWorkload;
  for (const LatencyWorkload& workload : latency_impl::kLatencyWorkloads) {
    if (workload.name == name) plan.workload = &workload;
  }
  if (plan.workload == nullptr) {
    throw UsageError("--workload: unknown request kind '" + std::string(name) +
                     "' (latency workloads: " + latency_impl::workload_names() + ")");
  }
  if (request.threads) {
    plan.threads =
        parse_integer("--threads", *request.threads, 1, kMaxThreads, "a positive integer");
  }
  plan.format = request.json  ? OutputFormat::json
                : request.csv ? OutputFormat::csv
                              : OutputFormat::human;
  if (request.plot && !request.plot->ends_with(".svg")) {
    throw UsageError("--plot: '" + *request.plot + "' must end in .svg");
  }
  plan.plot = request.plot;
  return plan;
}

int run_latency(const LatencyPlan& plan, std::ostream& out, std::ostream& err) {
  // Before the run: an unwritable --plot path is a usage error, not a lost run.
  if (plan.plot) check_writable("--plot", *plan.plot);
  const latency_impl::Outcome outcome = plan.workload->run(plan);
  const std::vector<std::string> failures = latency_impl::failures_of(plan, outcome);
  const bool ok =
      failures.empty() && outcome.tally.check == latency_impl::expected_check(plan.requests);
  switch (plan.format) {
    case OutputFormat::human: latency_impl::print_human(out, plan, outcome, ok); break;
    case OutputFormat::json: latency_impl::print_json(out, plan, outcome, ok); break;
    case OutputFormat::csv: latency_impl::print_csv(out, plan, outcome, ok); break;
  }
  out.flush();
  if (!ok && plan.format != OutputFormat::human) {
    err << "troupe: error: latency: " << failures.size() << " failure(s); the report lists them\n";
  }
  if (plan.plot) write_atomically("--plot", *plan.plot, latency_impl::histogram_svg(plan, outcome));
  return ok ? 0 : 1;
}

std::string latency_help() {
  std::string text =
      "troupe load latency --rate R --duration D [--workload W] [--threads T] [--json | --csv]\n"
      "  Open-loop latency: requests at R per second for D seconds (D: 0.5, 2s, 200ms), each\n"
      "  issued at its intended time t0 + i/R whether or not the replies keep up; latency runs\n"
      "  from the intended time, so a late generator counts as latency (no coordinated\n"
      "  omission). Reports p50/p90/p99/p99.9/max, the achieved rate and a histogram. R at most\n"
      "  1,000,000/s, D at most 3600 s. --threads: the runtime's workers (default one per core)\n"
      "  or the pool's (default 2). --plot FILE.svg: the histogram as an SVG bar chart, written\n"
      "  after the report (FILE replaced whole). --workload (what a request is; default actor):\n";
  for (const LatencyWorkload& workload : latency_impl::kLatencyWorkloads) {
    text += "    " + std::string(workload.name) + std::string(7 - workload.name.size(), ' ') +
            std::string(workload.summary) + "\n";
  }
  return text;
}

}  // namespace troupe::cli
