// data_pipeline.cpp — `troupe demo data-pipeline`: a web server's access log, read as a
// stream of lines, parsed and summed up per route by a Pipeline with parallel stages.
//
//   main first writes the log: a temp dir, access.log, one request a line
//     "2026-12-06T09:00:00Z GET /api/users/4821 200 37"    (and a few broken lines)
//
//   source     1 task    std::getline, one line at a time, only while `parse` has room
//     ▼                  (the file is never in memory whole)
//   parse      ×2 tasks  line → Request {method, path, status, ms}; a broken line → nullopt:
//     ▼                  filtered out, and counted
//   normalize  ×2 tasks  /api/users/4821 → /api/users/:id — the key to sum up by
//     ▼
//   aggregate  1 task    per route: requests, server errors (5xx), total and worst latency
//
// What to notice:
//  * the stages are plain functions of one item; parallelism 2 runs each on 2 tasks, with no
//    lock anywhere: the only shared state, the totals, belong to the sink alone;
//  * the pipeline is unordered (PipelineOptions::ordered = false): a sum does not care about
//    order, so a chunk leaves a stage as soon as it is done instead of waiting its turn;
//  * the books balance: lines read = requests aggregated + lines filtered as broken, and the
//    totals equal what the generator wrote, route by route (checked below);
//  * backpressure reaches the file: the source reads a line only when the first stage has
//    room, so memory stays bounded by the stages' capacities, however long the log.
#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "demos/demos.hpp"
#include "demos/support.hpp"
#include "troupe/actors/pipeline.hpp"
#include "troupe/runtime/runtime.hpp"

namespace troupe::demos {
namespace data_pipeline_impl {
namespace {

struct Request {
  std::string method;
  std::string path;
  int status = 0;
  std::uint64_t ms = 0;
};

// A request reduced to what the totals need.
struct Hit {
  std::string route;  // the path with its numeric parts replaced by ":id"
  bool server_error = false;
  std::uint64_t ms = 0;
};

struct RouteTotals {
  std::uint64_t requests = 0;
  std::uint64_t server_errors = 0;
  std::uint64_t total_ms = 0;
  std::uint64_t worst_ms = 0;

  void add(bool server_error, std::uint64_t ms) {
    ++requests;
    server_errors += server_error ? 1 : 0;
    total_ms += ms;
    worst_ms = std::max(worst_ms, ms);
  }
  bool operator==(const RouteTotals&) const = default;
};
using Totals = std::map<std::string, RouteTotals>;

// The log the generator wrote, and what it knows about it.
struct Written {
  std::uint64_t lines = 0;
  std::uint64_t broken = 0;
  std::uintmax_t bytes = 0;
  Totals totals;  // by route, over the well-formed lines
};

// Writes `lines` lines of access log to `path`; about one in 50 is broken.
Written write_log(const std::filesystem::path& path, std::uint64_t lines) {
  struct Route {
    const char* pattern;  // the route; a "%" is replaced by an id
    const char* method;
    std::uint64_t base_ms;
  };
  static constexpr Route kRoutes[] = {{"/api/users/%", "GET", 12},  {"/api/orders/%", "GET", 30},
                                      {"/api/orders", "POST", 80},  {"/api/search", "GET", 150},
                                      {"/static/app.js", "GET", 2}, {"/health", "GET", 1}};
  std::mt19937_64 random(2026);  // fixed: the same log every run
  std::ofstream file(path);
  Written written;
  for (std::uint64_t i = 0; i < lines; ++i) {
    const std::uint64_t draw = random();
    const Route& route = kRoutes[draw % std::size(kRoutes)];
    const std::uint64_t id = (draw >> 8) % 100000;
    const int status = (draw >> 32) % 100 < 3 ? 500 : (draw >> 32) % 100 < 8 ? 404 : 200;
    const std::uint64_t ms = route.base_ms + (draw >> 40) % (route.base_ms * 4 + 1);
    std::string path_text = route.pattern;
    if (const auto at = path_text.find('%'); at != std::string::npos) {
      path_text.replace(at, 1, std::to_string(id));
    }
    const int seconds = static_cast<int>(i % 86400);
    file << "2026-12-06T" << std::setfill('0') << std::setw(2) << seconds / 3600 << ':'
         << std::setw(2) << seconds / 60 % 60 << ':' << std::setw(2) << seconds % 60 << "Z ";
    ++written.lines;
    if ((draw >> 48) % 50 == 0) {  // a broken line: cut short, or garbage where a number goes
      ++written.broken;
      file << (draw % 2 == 0 ? route.method + std::string(" ") + path_text.substr(0, 6)
                             : route.method + std::string(" ") + path_text + " OK " +
                                   std::to_string(ms))
           << '\n';
      continue;
    }
    file << route.method << ' ' << path_text << ' ' << status << ' ' << ms << '\n';
    std::string key = route.pattern;
    if (const auto at = key.find('%'); at != std::string::npos) key.replace(at, 1, ":id");
    written.totals[key].add(status >= 500, ms);
  }
  file.close();
  if (!file) throw std::runtime_error("cannot write '" + path.string() + "'");
  written.bytes = std::filesystem::file_size(path);
  return written;
}

// The unsigned number that is all of `text`, if it is one.
std::optional<std::uint64_t> number(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || text.empty()) return {};
  return value;
}

// "time method path status ms" → a Request; anything else → nullopt.
std::optional<Request> parse(const std::string& line) {
  std::vector<std::string_view> fields;
  std::string_view rest = line;
  while (!rest.empty() && fields.size() < 6) {
    const std::size_t space = rest.find(' ');
    fields.push_back(rest.substr(0, space));
    rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
  }
  if (fields.size() != 5) return std::nullopt;
  const auto status = number(fields[3]);
  const auto ms = number(fields[4]);
  if (!status || *status < 100 || *status > 599 || !ms || fields[2].empty() ||
      fields[2][0] != '/') {
    return std::nullopt;
  }
  return Request{std::string(fields[1]), std::string(fields[2]), static_cast<int>(*status), *ms};
}

// The route of a request: every all-digit part of its path replaced by ":id".
Hit normalize(Request request) {
  std::string route;
  std::string_view rest = std::string_view(request.path).substr(1);
  for (;;) {
    const std::size_t slash = rest.find('/');
    const std::string_view part = rest.substr(0, slash);
    route.append("/").append(number(part) ? std::string_view(":id") : part);
    if (slash == std::string_view::npos) break;
    rest = rest.substr(slash + 1);
  }
  return Hit{std::move(route), request.status >= 500, request.ms};
}

// Removes a directory and what it holds when it goes out of scope.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix)
      : path(std::filesystem::temp_directory_path() /
             (prefix + std::to_string(std::random_device()()))) {
    std::filesystem::create_directories(path);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

void print_totals(const Totals& totals, std::ostream& out) {
  out << "  route              requests   5xx   avg ms  worst ms\n";
  for (const auto& [route, t] : totals) {
    out << "  " << std::left << std::setw(17) << route << std::right << std::setw(10)
        << t.requests << std::setw(6) << t.server_errors << std::setw(9)
        << (t.requests == 0 ? 0 : t.total_ms / t.requests) << std::setw(10) << t.worst_ms
        << '\n';
  }
}

int run(const DemoOptions& options, std::ostream& out) {
  const std::uint64_t lines = options.quick ? 20'000 : 400'000;
  Outcome outcome(out);
  const TempDir dir("troupe-data-pipeline-");
  const std::filesystem::path log = dir.path / "access.log";
  const Written written = write_log(log, lines);
  out << "wrote " << log.string() << ": " << written.lines << " lines ("
      << format_bytes(written.bytes) << "), " << written.broken << " of them broken\n";

  std::ifstream file(log);
  Totals totals;
  Runtime runtime;
  Pipeline<std::string> summary =
      pipeline<std::string>(runtime, {.name = "access-log", .ordered = false})
          .stage(parse, {.name = "parse", .parallelism = 2})
          .stage(normalize, {.name = "normalize", .parallelism = 2})
          .sink([&totals](const Hit& hit) { totals[hit.route].add(hit.server_error, hit.ms); },
                {.name = "aggregate"});
  const Clock::time_point start = Clock::now();
  summary.start([&file]() -> std::optional<std::string> {
    std::string line;
    if (!std::getline(file, line)) return std::nullopt;
    return line;
  });
  const PipelineStats stats = summary.finish();
  out << "pipeline: " << stats.emitted << " lines read, " << stats.delivered
      << " requests aggregated in " << format_since(start) << '\n';
  for (const StageStats& stage : stats.stages) out << describe_stage(stage);
  print_totals(totals, out);

  const std::uint64_t filtered = stats.stages.front().filtered;
  outcome.expect(stats.emitted == written.lines, "every line of the file was read once");
  outcome.expect(filtered == written.broken && stats.delivered + filtered == stats.emitted,
                 "the broken lines were filtered out, and only they: read = aggregated + "
                 "filtered");
  outcome.expect(totals == written.totals,
                 "the totals per route equal what the generator wrote");
  return outcome.finish();
}

}  // namespace
}  // namespace data_pipeline_impl

int run_data_pipeline(const DemoOptions& options, std::ostream& out) {
  return data_pipeline_impl::run(options, out);
}

}  // namespace troupe::demos
