// support.cpp — see support.hpp.
#include "demos/support.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <utility>

namespace troupe::demos {
namespace support_impl {
namespace {

std::string_view kind_name(ActorEvent::Kind kind) {
  switch (kind) {
    case ActorEvent::Kind::online: return "online";
    case ActorEvent::Kind::error: return "error";
    case ActorEvent::Kind::exit: return "exit";
    case ActorEvent::Kind::restart: return "restart";
    case ActorEvent::Kind::slow: return "slow";
  }
  return "unknown";
}

// `value` with three significant digits, then `unit`.
std::string three_digits(double value, const char* unit) {
  std::array<char, 32> text{};
  const char* format = value < 10 ? "%.2f %s" : value < 100 ? "%.1f %s" : "%.0f %s";
  std::snprintf(text.data(), text.size(), format, value, unit);
  return text.data();
}

}  // namespace
}  // namespace support_impl

Observed observed(std::string name) {
  auto [events_tx, events] = unbounded_channel<ActorEvent>();
  Observed made{{}, std::move(events)};
  made.options.name = std::move(name);
  made.options.events = std::move(events_tx);
  return made;
}

PoolOptions fixed_pool(std::string name, std::size_t workers) {
  PoolOptions options;
  options.name = std::move(name);
  options.min_workers = workers;
  options.max_workers = workers;
  return options;
}

std::string describe(const ActorEvent& event) {
  std::string text(support_impl::kind_name(event.kind));
  switch (event.kind) {
    case ActorEvent::Kind::exit:
      text.append(" (").append(to_string(event.code)).append(")");
      break;
    case ActorEvent::Kind::error:
    case ActorEvent::Kind::slow:
      text.append(": ").append(event.what);
      break;
    default:
      break;
  }
  return text;
}

std::optional<ActorEvent> next_event(Receiver<ActorEvent>& events, std::ostream& out) {
  auto event = events.recv_for(kPatience);
  if (!event) {
    out << "  event: none within " << kPatience.count() << " s (" << to_string(event.error())
        << ")\n";
    return std::nullopt;
  }
  out << "  event: " << describe(*event) << '\n';
  return std::move(*event);
}

std::vector<ActorEvent> events_until_exit(Receiver<ActorEvent>& events, std::ostream& out) {
  std::vector<ActorEvent> seen;
  while (auto event = next_event(events, out)) {
    seen.push_back(std::move(*event));
    if (seen.back().kind == ActorEvent::Kind::exit) break;
  }
  return seen;
}

bool exited_with(const std::vector<ActorEvent>& events, ExitCode code) {
  return !events.empty() && events.back().kind == ActorEvent::Kind::exit &&
         events.back().code == code;
}

std::string format_duration(std::chrono::nanoseconds duration) {
  const double ns = static_cast<double>(duration.count());
  if (ns < 1e3) return support_impl::three_digits(ns, "ns");
  if (ns < 1e6) return support_impl::three_digits(ns / 1e3, "us");
  if (ns < 1e9) return support_impl::three_digits(ns / 1e6, "ms");
  return support_impl::three_digits(ns / 1e9, "s");
}

std::string format_each(std::chrono::nanoseconds duration, std::size_t count) {
  const auto each = count == 0 ? duration : duration / static_cast<std::int64_t>(count);
  return format_duration(duration) + " (" + format_duration(each) + " each)";
}

std::string format_ratio(std::chrono::nanoseconds cost, std::chrono::nanoseconds base) {
  if (base.count() == 0) return "-";
  std::array<char, 32> text{};
  std::snprintf(text.data(), text.size(), "%.1fx",
                static_cast<double>(cost.count()) / static_cast<double>(base.count()));
  return text.data();
}

std::string format_bytes(std::size_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b < 1024) return std::to_string(bytes) + " B";
  if (b < 1024.0 * 1024) return support_impl::three_digits(b / 1024, "KiB");
  if (b < 1024.0 * 1024 * 1024) return support_impl::three_digits(b / (1024.0 * 1024), "MiB");
  return support_impl::three_digits(b / (1024.0 * 1024 * 1024), "GiB");
}

std::string describe_stage(const StageStats& stage) {
  std::string line = "  " + stage.name;
  line.resize(std::max<std::size_t>(line.size() + 1, 13), ' ');
  std::array<char, 16> percent{};
  std::snprintf(percent.data(), percent.size(), "%.0f%%", stage.busy_ratio * 100);
  return line + "x" + std::to_string(stage.parallelism) + "  in " + std::to_string(stage.in) +
         ", out " + std::to_string(stage.out) + ", filtered " + std::to_string(stage.filtered) +
         ", busy " + format_duration(std::chrono::nanoseconds(stage.busy_ns)) + " (" +
         percent.data() + " of its tasks' time)\n";
}

}  // namespace troupe::demos
