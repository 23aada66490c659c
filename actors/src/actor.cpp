#include "troupe/actors/actor.hpp"

#include "troupe/actors/registry.hpp"
#include "troupe/actors/supervisor.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdlib>
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
    case ExitCode::resource_exhausted:
      return "resource_exhausted";
    case ExitCode::stopped:
      return "stopped";
  }
  return "unknown";
}

std::string_view to_string(ActorState state) noexcept {
  switch (state) {
    case ActorState::starting:
      return "starting";
    case ActorState::idle:
      return "idle";
    case ActorState::handling:
      return "handling";
    case ActorState::restarting:
      return "restarting";
    case ActorState::exited:
      return "exited";
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

void ActorHandle::throw_empty() {
  throw Error(ErrorCode::invalid_handle,
              "actor reference: the handle is empty (default-constructed or moved from)");
}

Task<ExitCode> ActorHandle::terminate() {
  ActorHandle self = *this;  // the wait keeps its own handle: *this may go away meanwhile
  self.cell().request_terminate();
  co_await self.cell().exited.wait();
  co_return self.cell().exit_code();
}

ExitCode ActorHandle::blocking_terminate() {
  cell().request_terminate();
  return blocking_wait_exit();
}

Task<ExitCode> ActorHandle::exited() {
  ActorHandle self = *this;
  co_await self.cell().exited.wait();
  co_return self.cell().exit_code();
}

ExitCode ActorHandle::blocking_wait_exit() {
  cell().exited.blocking_wait();
  return cell().exit_code();
}

ActorStats ActorHandle::stats() const {
  const detail::ActorCell& c = cell();
  ActorStats stats;
  stats.received = c.received.load(std::memory_order_relaxed);
  stats.dead_letters = c.dead_letters.load(std::memory_order_relaxed);
  stats.dropped = c.dropped.load(std::memory_order_relaxed);
  stats.rejected = c.rejected.load(std::memory_order_relaxed);
  stats.lost_events = c.lost_events.load(std::memory_order_relaxed);
  stats.restarts = c.restarts.load(std::memory_order_relaxed);
  stats.slow_messages = c.slow_messages.load(std::memory_order_relaxed);
  if (c.account != nullptr) {
    stats.bytes_held = c.account->used();
    stats.bytes_peak = c.account->peak();
  }
  stats.mailbox_depth = c.mailbox_depth();
  return stats;
}

namespace detail {
namespace {
std::atomic<std::uint64_t> next_actor_id{0};
// The live count, in shards keyed by id block (actor.hpp): a cell counts in and out on the
// same shard, and two threads spawning at once touch different cache lines. Relaxed: each
// shard is a statistic; live() sums them.
struct alignas(kCacheLine) LiveShard {
  std::atomic<std::uint64_t> count{0};
};
std::array<LiveShard, 16> live_cells;
std::atomic<std::uint64_t>& live_count_of(std::uint64_t id) noexcept {
  return live_cells[actor_id_block(id) % live_cells.size()].count;
}
}  // namespace

std::uint64_t new_actor_id() noexcept {
  // One shared increment per kActorIdBlock actors spawned on a thread. Ids stay unique (and
  // non-zero), not dense nor ordered across threads.
  thread_local std::uint64_t next = 0;
  thread_local std::uint64_t end = 0;
  if (next == end) {
    next = next_actor_id.fetch_add(kActorIdBlock, std::memory_order_relaxed) + 1;
    end = next + kActorIdBlock;
  }
  return next++;
}

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
                     Overflow overflow_, std::size_t byte_quota,
                     std::chrono::nanoseconds message_budget, bool timed)
    : id(new_actor_id()),
      name(std::move(name_)),
      overflow(overflow_),
      account(byte_quota == 0 ? nullptr
                              : ByteAccount::create(byte_quota, "actor " + std::to_string(id) +
                                                                    (name.empty() ? ""
                                                                                  : " '" + name +
                                                                                        "'"))),
      timing(timed || message_budget.count() > 0 ? std::make_unique<Timing>() : nullptr),
      consumer_mutex_(overflow_ == Overflow::drop_oldest ? std::make_unique<std::mutex>()
                                                         : nullptr),
      events_(std::move(events)),
      has_events_(events_.has_value()) {
  if (timing != nullptr) timing->budget = message_budget;
  live_count_of(id).fetch_add(1, std::memory_order_relaxed);
}

namespace {
// A single writer's increment: no locked instruction.
void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by = 1) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}
std::string demangled(const char* mangled) {
  int status = 0;
  char* plain = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string out = status == 0 && plain != nullptr ? plain : mangled;
  std::free(plain);
  return out;
}
}  // namespace

void ActorCell::Timing::Histogram::record(std::int64_t elapsed) noexcept {
  const auto ns = static_cast<std::uint64_t>(elapsed < 0 ? 0 : elapsed);
  bump(buckets[TimeHistogram::bucket_of(ns)]);
  bump(sum_ns, ns);
}

TimeHistogram ActorCell::Timing::Histogram::snapshot() const noexcept {
  TimeHistogram out;
  for (std::size_t i = 0; i < TimeHistogram::kBuckets; ++i) {
    out.counts[i] = buckets[i].load(std::memory_order_relaxed);
    out.count += out.counts[i];
  }
  out.sum_ns = sum_ns.load(std::memory_order_relaxed);
  return out;
}

void ActorCell::begin_handler(const char* type, std::int64_t queued_ns) noexcept {
  // relaxed throughout: the watchdog reads a diagnostic; it re-reads seq to drop a torn view.
  const std::int64_t now = steady_ns();
  if (queued_ns != 0) timing->wait.record(now - queued_ns);
  bump(timing->seq);
  timing->type.store(type, std::memory_order_relaxed);
  timing->since_ns.store(now, std::memory_order_relaxed);
}

void ActorCell::end_handler() noexcept {
  timing->run.record(steady_ns() - timing->since_ns.load(std::memory_order_relaxed));
  timing->since_ns.store(0, std::memory_order_relaxed);
}

TimeHistogram ActorCell::processing_times() const noexcept {
  return timing == nullptr ? TimeHistogram{} : timing->run.snapshot();
}

TimeHistogram ActorCell::mailbox_waits() const noexcept {
  return timing == nullptr ? TimeHistogram{} : timing->wait.snapshot();
}

void ActorCell::check_budget(std::int64_t now_ns) {
  if (timing == nullptr || state.load(std::memory_order_relaxed) == ActorState::exited) return;
  const std::uint64_t seq = timing->seq.load(std::memory_order_relaxed);
  const std::int64_t since = timing->since_ns.load(std::memory_order_relaxed);
  const char* type = timing->type.load(std::memory_order_relaxed);
  if (since == 0 || seq == timing->reported_seq || type == nullptr) return;
  const std::int64_t ran = now_ns - since;
  if (ran <= timing->budget.count()) return;
  if (timing->seq.load(std::memory_order_relaxed) != seq) return;  // it moved on meanwhile
  timing->reported_seq = seq;
  slow_messages.fetch_add(1, std::memory_order_relaxed);
  emit(ActorEvent::Kind::slow, ExitCode::normal,
       "the handler of " + demangled(type) + " has run " + std::to_string(ran / 1'000'000) +
           " ms (budget " + std::to_string(timing->budget.count() / 1'000'000) + " ms)");
}

ActorCell::~ActorCell() {
  registry_remove(*this);
  if (mailbox_ != nullptr) mailbox_->drop_ref();
  if (account != nullptr) account->release();
  live_count_of(id).fetch_sub(1, std::memory_order_relaxed);
}

void ActorCell::watch_mailbox(ChanBase& chan, std::size_t (*depth)(const ChanBase&)) noexcept {
  chan.add_ref();
  mailbox_ = &chan;
  mailbox_depth_ = depth;
}

void ActorCell::throw_quota_exceeded() const {
  throw Error(ErrorCode::resource_exhausted, account->describe());
}

std::uint64_t ActorCell::live() noexcept {
  // Not one atomic snapshot: each shard is read once, and a cell's decrement follows its
  // increment on the same shard, so the sum never misses a cell that outlives the call.
  std::uint64_t live = 0;
  for (const LiveShard& shard : live_cells) live += shard.count.load(std::memory_order_relaxed);
  return live;
}

void ActorCell::emit(ActorEvent::Kind kind, ExitCode code, std::string what,
                     std::exception_ptr error) noexcept {
  if (!has_events_) return;  // no lock for actors nobody listens to
  try {
    detail::MutexLock lock(mutex_);
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
  detail::MutexLock lock(mutex_);
  task_ = std::move(task);
  // A terminate, or a restart requested while no task was attached (between a task actor's
  // old task and this one), applies to this task.
  if (terminate_requested_.load(std::memory_order_relaxed) || restart_requested_) task_.cancel();
  // A control message posted before the task was known found nobody to wake.
  if (control_pending_.load(std::memory_order_relaxed)) task_.wake();
}

void ActorCell::request_terminate(ExitCode code, std::string reason) {
  detail::MutexLock lock(mutex_);
  if (!terminate_requested_.load(std::memory_order_relaxed)) {
    stop_code_ = code;
    stop_reason_ = std::move(reason);
    // release: pairs with the actor's acquire in terminate_requested().
    terminate_requested_.store(true, std::memory_order_release);
  }
  if (task_.valid() && !task_.is_finished()) task_.cancel();
}

void ActorCell::post_restart() {
  detail::MutexLock lock(mutex_);
  if (has_exited_) return;
  control_.restart = true;
  // release: pairs with control_pending()'s acquire.
  control_pending_.store(true, std::memory_order_release);
  if (task_.valid()) task_.wake();
}

void ActorCell::post_down(ActorDown down) {
  detail::MutexLock lock(mutex_);
  if (has_exited_) return;
  control_.downs.push_back(std::move(down));
  // release: pairs with control_pending()'s acquire.
  control_pending_.store(true, std::memory_order_release);
  if (task_.valid()) task_.wake();
}

void ActorCell::request_restart() {
  detail::MutexLock lock(mutex_);
  if (has_exited_ || terminate_requested_.load(std::memory_order_relaxed)) return;
  restart_requested_ = true;
  if (task_.valid() && !task_.is_finished()) task_.cancel();
}

bool ActorCell::take_restart_request() {
  detail::MutexLock lock(mutex_);
  // A terminate that came after the restart request wins: the actor exits.
  if (terminate_requested_.load(std::memory_order_relaxed)) return false;
  return std::exchange(restart_requested_, false);
}

ActorCell::Control ActorCell::take_control() {
  detail::MutexLock lock(mutex_);
  control_pending_.store(false, std::memory_order_relaxed);  // the lock orders it with posts
  return std::exchange(control_, Control{});
}

void ActorCell::on_exit(std::function<void(const ActorDown&)> hook) {
  {
    detail::MutexLock lock(mutex_);
    if (!has_exited_) {
      exit_hooks_.push_back(std::move(hook));
      return;
    }
  }
  // Exited: exit_code_ and failure_ are final, written before has_exited_ (seen under the lock).
  hook(ActorDown{id, name, exit_code_, failure_});
}

bool ActorCell::restart_after_failure(ExitCode code) {
  if (supervisor == nullptr) return false;
  if (!supervisor->child_failed(child_index, code, failure_)) return false;
  note_restart(code);
  return true;
}

void ActorCell::note_restart(ExitCode cause) noexcept {
  restarts.fetch_add(1, std::memory_order_relaxed);
  emit(ActorEvent::Kind::restart, cause);
  set_state(ActorState::restarting);
}

void ActorCell::record_exit(ExitCode code) noexcept {
  std::vector<std::function<void(const ActorDown&)>> hooks;
  {
    detail::MutexLock lock(mutex_);
    if (terminate_requested_.load(std::memory_order_relaxed) && code == stop_code_ &&
        failure_.empty()) {
      failure_ = stop_reason_;
    }
    exit_code_ = code;
    has_exited_ = true;
    // release: is_alive()'s acquire load that sees `exited` also sees exit_code_ and failure_.
    state.store(ActorState::exited, std::memory_order_release);
    hooks.swap(exit_hooks_);
    control_ = Control{};  // nobody will take it now
  }
  // The exit event comes after the state and before `exited` opens: a listener that receives
  // it finds the actor exited (is_alive() false), and an exit waiter finds the event queued.
  emit(ActorEvent::Kind::exit, code);
  if (!hooks.empty()) {  // most actors have no watcher, link or supervisor: no copies then
    const ActorDown down{id, name, code, failure_};
    for (auto& hook : hooks) hook(down);
  }
  exited.count_down();  // publishes exit_code_ and failure_ to every waiter (Latch's ordering)
}

void check_options(const ActorOptions& options) {
  if (options.message_budget < std::chrono::nanoseconds::zero()) {
    throw Error(ErrorCode::invalid_argument, "spawn: ActorOptions::message_budget " +
                                                 std::to_string(options.message_budget.count()) +
                                                 " ns is negative");
  }
}

void relaunch(Runtime& runtime, ActorCell& cell, bool dedicated, Task<void> task) {
  SpawnOptions spawn_options;
  spawn_options.name = cell.name;
  spawn_options.byte_account = cell.account;
  spawn_options.dedicated_thread = dedicated;
  cell.attach(runtime.spawn(std::move(task), spawn_options));
}

void launch(Runtime& runtime, const ActorOptions& options, const std::shared_ptr<ActorCell>& cell,
            Task<void> task) {
  registry_add(*cell);  // listed once set up (its lock publishes the cell's fields)
  if (cell->timing != nullptr && cell->timing->budget.count() > 0) watch_budget(cell);
  relaunch(runtime, *cell, options.dedicated_thread, std::move(task));
}

ExitCode fail_with(ActorCell& cell, const std::exception_ptr& error, ExitCode otherwise) {
  ExitCode code = otherwise;
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::resource_exhausted) code = ExitCode::resource_exhausted;
  } catch (...) {
  }
  std::string what = describe_exception(error);
  cell.set_failure(what);
  cell.emit(ActorEvent::Kind::error, code, std::move(what), error);
  return code;
}

namespace {
bool propagates(ExitCode code) noexcept {
  return code == ExitCode::failed || code == ExitCode::start_failed ||
         code == ExitCode::resource_exhausted || code == ExitCode::stopped;
}
void stop_on_failure(ActorCell& of, const std::shared_ptr<ActorCell>& other) {
  std::weak_ptr<ActorCell> weak = other;
  of.on_exit([weak](const ActorDown& down) {
    if (!propagates(down.code)) return;
    if (auto cell = weak.lock()) {
      cell->request_terminate(ExitCode::stopped,
                              "linked actor " + std::to_string(down.actor) +
                                  (down.name.empty() ? "" : " '" + down.name + "'") + " ended (" +
                                  std::string(to_string(down.code)) +
                                  (down.what.empty() ? "" : ": " + down.what) + ")");
    }
  });
}
}  // namespace

void link_cells(const std::shared_ptr<ActorCell>& a, const std::shared_ptr<ActorCell>& b) {
  stop_on_failure(*a, b);
  stop_on_failure(*b, a);
}

}  // namespace detail
}  // namespace troupe
