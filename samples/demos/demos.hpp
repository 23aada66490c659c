// demos/demos.hpp — `troupe demo`: one runnable, readable sample per pattern.
//
//   troupe demo --list            every demo, one line each: its name, two spaces, a summary
//   troupe demo NAME [--quick]    runs one; --quick uses smaller sizes (what the tests run)
//   troupe demo NAME --out PATH   a demo that writes a file (an image) writes it at PATH
//                                 instead of the temporary directory
//
// Each demo lives in its own file, samples/demos/<name>.cpp, which opens with what it shows
// and what to notice. A demo uses only the public API (headers under */include/troupe/...),
// prints as it goes, checks its own outcome (Outcome, below) and returns 0 when every check
// held, 1 otherwise. It finishes in a few seconds at its default size. Its own names live in
// namespace <name>_impl (run_<name> calls <name>_impl::run): the library is a unity build
// (CMakeLists.txt), several files compiled as one translation unit.
//
// Thread-safety: the registry is a constant table; demos share nothing, so two may run at once
// (each builds its own Runtime or Pool).
#pragma once

#include <ostream>
#include <span>
#include <string>
#include <string_view>

namespace troupe::demos {

struct DemoOptions {
  bool quick = false;  // smaller sizes: the same story, told faster (the tests' form)
  std::string out;     // where a demo that writes a file writes it; empty: the temp directory
};

using DemoFn = int (*)(const DemoOptions& options, std::ostream& out);

struct Demo {
  std::string_view name;     // what `troupe demo NAME` takes
  std::string_view summary;  // one line, for --list
  DemoFn run;
  bool writes_file = false;  // it writes a file, which --out places
};

// Every demo, in the order --list prints them.
[[nodiscard]] std::span<const Demo> all_demos() noexcept;
// The demo called `name`, or null.
[[nodiscard]] const Demo* find_demo(std::string_view name) noexcept;

// A demo's own verdict: each expectation is printed as it is checked ("[ok] ..." or
// "[FAILED] ..."), and code() is the demo's exit code: 0 if all held, 1 otherwise.
class Outcome {
 public:
  explicit Outcome(std::ostream& out) : out_(&out) {}
  // Records and prints one expectation; returns `held`.
  bool expect(bool held, std::string_view what);
  // Prints the verdict line and returns the exit code.
  [[nodiscard]] int finish();

 private:
  std::ostream* out_;
  int failed_ = 0;
};

// The demos (samples/demos/<name>.cpp).
int run_hello(const DemoOptions& options, std::ostream& out);
int run_cpu_offload(const DemoOptions& options, std::ostream& out);
int run_errors(const DemoOptions& options, std::ostream& out);
int run_pool(const DemoOptions& options, std::ostream& out);
int run_transfer(const DemoOptions& options, std::ostream& out);
int run_message_channel(const DemoOptions& options, std::ostream& out);
int run_request_reply(const DemoOptions& options, std::ostream& out);
int run_backpressure(const DemoOptions& options, std::ostream& out);
int run_spawn_cost(const DemoOptions& options, std::ostream& out);
int run_pool_vs_spawn(const DemoOptions& options, std::ostream& out);
int run_shared_counter(const DemoOptions& options, std::ostream& out);
int run_sync(const DemoOptions& options, std::ostream& out);
int run_autoscale(const DemoOptions& options, std::ostream& out);
int run_limits(const DemoOptions& options, std::ostream& out);
int run_rolling_update(const DemoOptions& options, std::ostream& out);
int run_hash_search(const DemoOptions& options, std::ostream& out);
int run_health(const DemoOptions& options, std::ostream& out);
int run_leak(const DemoOptions& options, std::ostream& out);
int run_jobs(const DemoOptions& options, std::ostream& out);
int run_data_pipeline(const DemoOptions& options, std::ostream& out);
int run_image_pipeline(const DemoOptions& options, std::ostream& out);
int run_mandelbrot(const DemoOptions& options, std::ostream& out);

}  // namespace troupe::demos
