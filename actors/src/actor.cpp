#include "troupe/actors/actor.hpp"

#include <exception>
#include <stdexcept>
#include <string>

namespace troupe {

std::string_view to_string(ExitCode code) noexcept {
  switch (code) {
    case ExitCode::normal:
      return "normal";
    case ExitCode::failed:
      return "failed";
    case ExitCode::terminated:
      return "terminated";
    case ExitCode::start_failed:
      return "start_failed";
    case ExitCode::shut_down:
      return "shut_down";
  }
  return "unknown";
}

std::string_view to_string(AskErrc code) noexcept {
  switch (code) {
    case AskErrc::dead:
      return "dead";
    case AskErrc::timeout:
      return "timeout";
    case AskErrc::failed:
      return "failed";
    case AskErrc::full:
      return "full";
    case AskErrc::dropped:
      return "dropped";
  }
  return "unknown";
}

namespace detail {
namespace {
std::atomic<std::uint64_t> next_actor_id{0};
std::atomic<std::uint64_t> live_cells{0};
}  // namespace

std::string describe_exception(const std::exception_ptr& error) {
  if (!error) return "no exception";
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception not derived from std::exception";
  }
}

ActorCell::ActorCell(std::string name_, std::optional<Sender<ActorEvent>> events,
                     Overflow overflow_)
    : id(next_actor_id.fetch_add(1, std::memory_order_relaxed) + 1),
      name(std::move(name_)),
      overflow(overflow_),
      events_(std::move(events)) {
  live_cells.fetch_add(1, std::memory_order_relaxed);
}

ActorCell::~ActorCell() { live_cells.fetch_sub(1, std::memory_order_relaxed); }

std::uint64_t ActorCell::live() noexcept { return live_cells.load(std::memory_order_relaxed); }

void ActorCell::emit(ActorEvent::Kind kind, ExitCode code, std::string what,
                     std::exception_ptr error) noexcept {
  try {
    std::lock_guard lock(mutex_);
    if (!events_) return;
    ActorEvent event;
    event.kind = kind;
    event.actor = id;
    event.name = name;
    event.code = code;
    event.what = std::move(what);
    event.error = std::move(error);
    if (!events_->try_send(std::move(event))) lost_events.fetch_add(1, std::memory_order_relaxed);
    if (kind == ActorEvent::Kind::exit) events_.reset();  // the last event: let the channel go
  } catch (...) {
    lost_events.fetch_add(1, std::memory_order_relaxed);  // out of memory for the event
  }
}

void ActorCell::attach(JoinHandle<void> task) {
  std::lock_guard lock(mutex_);
  task_ = std::move(task);
  if (terminate_requested_.load(std::memory_order_relaxed)) task_.cancel();
}

void ActorCell::request_terminate() {
  // release: pairs with the actor's acquire in terminate_requested().
  terminate_requested_.store(true, std::memory_order_release);
  std::lock_guard lock(mutex_);
  if (task_.valid() && !task_.is_finished()) task_.cancel();
}

void ActorCell::record_exit(ExitCode code) noexcept {
  exit_code_ = code;
  exited.count_down();  // publishes exit_code_ to every waiter (Latch's ordering)
}

}  // namespace detail
}  // namespace troupe
