// progress.cpp — the progress bar (see progress.hpp).
#include "progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>

namespace troupe::cli {
namespace progress_impl {
namespace {

constexpr int kBarWidth = 20;
constexpr double kShowAfterSeconds = 1.0;

// "4 s", "2 min 05 s", "1 h 02 min": the ETA, rounded up to a whole second.
std::string eta_text(double seconds) {
  const auto whole = static_cast<unsigned long long>(std::ceil(std::max(seconds, 0.0)));
  char text[64];
  if (whole < 60) {
    std::snprintf(text, sizeof text, "%llu s", whole);
  } else if (whole < 3600) {
    std::snprintf(text, sizeof text, "%llu min %02llu s", whole / 60, whole % 60);
  } else {
    std::snprintf(text, sizeof text, "%llu h %02llu min", whole / 3600, whole / 60 % 60);
  }
  return text;
}

}  // namespace
}  // namespace progress_impl

bool progress_allowed(const std::ostream& err, OutputFormat format) {
  return format == OutputFormat::human && err.rdbuf() == std::cerr.rdbuf() &&
         ::isatty(STDERR_FILENO) == 1;
}

std::string progress_line(std::uint64_t started, std::uint64_t finished, std::uint64_t total,
                          double elapsed, std::string_view label) {
  const std::uint64_t filled =
      total == 0 ? 0 : std::min<std::uint64_t>(finished, total) * progress_impl::kBarWidth / total;
  std::string line = "[";
  line.append(filled, '#').append(progress_impl::kBarWidth - filled, '.').append("] run ");
  line.append(std::to_string(started)).append("/").append(std::to_string(total));
  if (!label.empty()) line.append(" ").append(label);
  if (finished > 0 && finished <= total) {
    line.append(", ETA ").append(progress_impl::eta_text(elapsed / static_cast<double>(finished) *
                                                         static_cast<double>(total - finished)));
  }
  return line;
}

Progress::Progress(std::ostream& err, bool enabled, std::uint64_t total)
    : err_(err), enabled_(enabled), total_(total) {}

Progress::~Progress() {
  clear();
}

void Progress::start_run(std::string_view label) {
  ++started_;
  if (!enabled_) return;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin_).count();
  if (elapsed < progress_impl::kShowAfterSeconds) return;
  std::string line = progress_line(started_, finished_, total_, elapsed, label);
  // A line longer than the terminal would wrap, and \r would then erase only its last row.
  struct winsize size {};
  const std::size_t columns =
      ::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 1 ? size.ws_col : 80;
  if (line.size() >= columns) line.resize(columns - 1);
  err_ << "\r\033[K" << line;
  err_.flush();
  drawn_ = true;
}

void Progress::finish_run() {
  ++finished_;
}

void Progress::clear() {
  if (!drawn_) return;
  err_ << "\r\033[K";
  err_.flush();
  drawn_ = false;
}

}  // namespace troupe::cli
