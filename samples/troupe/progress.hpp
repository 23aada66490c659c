// progress.hpp — a progress bar with an ETA for `troupe load` commands that make several runs
// (a --repeat series, a --sweep, `load all`), counted in runs: it does not look inside a run.
//
//   [########............] run 3/6 pingpong/task threads=4, ETA 4 s
//
// It is drawn on stderr, one line rewritten in place (carriage return, erase to the end of the
// line), only when every one of these holds: the output is for people (not --json or --csv),
// the error stream is the process's stderr and that is a terminal (isatty), and the command has
// been running for at least a second (short commands never show it). It is redrawn when a run
// starts and erased before the result is printed, so it never mixes with the output, which goes
// to stdout in any case. The ETA is the mean time of the finished runs times the runs left
// (runs of different workloads or sizes make it rough).
//
// Thread-safety: a Progress is used by the one thread that makes the runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "load.hpp"

namespace troupe::cli {

// Whether a progress bar may be drawn on `err` for output in `format` (see above).
[[nodiscard]] bool progress_allowed(const std::ostream& err, OutputFormat format);

// The bar's text for `started` runs out of `total` (the last one running), `finished` of them
// done after `elapsed` seconds: "[####....] run 2/4 <label>, ETA 3 s" (no ETA before the first
// run is done).
[[nodiscard]] std::string progress_line(std::uint64_t started, std::uint64_t finished,
                                        std::uint64_t total, double elapsed,
                                        std::string_view label);

class Progress {
 public:
  // A bar over `total` runs; `enabled` false (see progress_allowed) makes every call a no-op.
  Progress(std::ostream& err, bool enabled, std::uint64_t total);
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  ~Progress();  // erases the bar (clear())

  // A run starts: the bar is redrawn if the command has run for a second or more.
  void start_run(std::string_view label);
  // The run started last is done.
  void finish_run();
  // Erases the bar if it is drawn; the next start_run draws it again.
  void clear();

 private:
  std::ostream& err_;
  bool enabled_;
  std::uint64_t total_;
  std::uint64_t started_ = 0;
  std::uint64_t finished_ = 0;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point begin_ = std::chrono::steady_clock::now();
};

}  // namespace troupe::cli
