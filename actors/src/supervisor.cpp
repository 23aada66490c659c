#include "troupe/actors/supervisor.hpp"

#include <utility>

#include "troupe/runtime/time.hpp"

namespace troupe {

std::string_view to_string(Strategy strategy) noexcept {
  switch (strategy) {
    case Strategy::one_for_one:
      return "one_for_one";
    case Strategy::one_for_all:
      return "one_for_all";
    case Strategy::rest_for_one:
      return "rest_for_one";
  }
  return "unknown";
}

namespace detail {

void adopt_child(const std::shared_ptr<SupervisorCore>& supervisor,
                 const std::shared_ptr<ActorCell>& child) {
  child->child_index = supervisor->adopt(child);
  child->supervisor = supervisor;
  child->on_exit([core = supervisor.get()](const ActorDown&) {
    core->child_exited();  // the child holds the core (cell->supervisor) until it is gone
  });
}

SupervisorCore::SupervisorCore(SupervisorOptions options)
    : id(new_actor_id()),
      options_(std::move(options)),
      events_(std::exchange(options_.events, std::nullopt)) {}

std::size_t SupervisorCore::adopt(const std::shared_ptr<SupervisedChild>& child) {
  detail::MutexLock lock(mutex_);
  if (ending_) {
    throw Error(ErrorCode::shut_down, "Supervisor::start: supervisor " + std::to_string(id) +
                                          (options_.name.empty() ? "" : " '" + options_.name + "'") +
                                          " has ended");
  }
  children_.push_back(child);
  ++live_;
  return children_.size() - 1;
}

void SupervisorCore::attach_parent(const std::shared_ptr<SupervisorCore>& parent) {
  // Under our lock: the parent may stop us as soon as it has adopted us, and our stop must
  // then see parent_ to report our end. (Lock order child -> parent: a parent never calls
  // into a child with its own lock held.)
  detail::MutexLock lock(mutex_);
  index_in_parent_ = parent->adopt(shared_from_this());  // throws if the parent has ended
  parent_ = parent;
}

std::string SupervisorCore::describe_child(std::size_t index) const {
  std::string child = "child " + std::to_string(index);
  if (auto it = children_[index].lock(); it != nullptr && !it->child_name().empty()) {
    child += " '" + it->child_name() + "'";
  }
  return child;
}

template <class Pick>
std::vector<std::shared_ptr<SupervisedChild>> SupervisorCore::children_where(Pick pick) const {
  std::vector<std::shared_ptr<SupervisedChild>> picked;
  for (std::size_t i = 0; i < children_.size(); ++i) {
    if (!pick(i)) continue;
    if (auto child = children_[i].lock()) picked.push_back(std::move(child));
  }
  return picked;
}

bool SupervisorCore::child_failed(std::size_t index, ExitCode code, const std::string& what) {
  detail::UniqueLock lock(mutex_);
  if (ending_) return false;
  const auto now = troupe::now();  // the runtime's clock: virtual in a deterministic runtime
  while (!recent_.empty() && now - recent_.front() >= options_.within) recent_.pop_front();
  const std::string child = describe_child(index);
  if (recent_.size() >= static_cast<std::size_t>(options_.max_restarts)) {
    const std::string why = child + " failed (" + std::string(to_string(code)) + ": " + what +
                            ") after " + std::to_string(recent_.size()) +
                            " restart(s) within " + std::to_string(options_.within.count()) +
                            " ms (limit " + std::to_string(options_.max_restarts) + ")";
    if (auto restarting = parent_restarts(lock, index, why)) {
      lock.unlock();
      for (auto& other : *restarting) other->restart_child();
      return true;
    }
    if (ending_) return false;  // stopped meanwhile (by the parent's own escalation, say)
    ending_ = true;
    escalated_ = true;
    exit_code = ExitCode::failed;
    reason = why + ": escalated";
    auto others = children_where([index](std::size_t i) { return i != index; });
    const std::string stop_why = "supervisor escalated: " + reason;
    emit(ActorEvent::Kind::error, ExitCode::failed, reason);
    lock.unlock();  // a child's exit hook takes the lock
    for (auto& other : others) other->stop_child(ExitCode::stopped, stop_why);
    return false;  // the failing child exits; its exit hook may finish the supervisor
  }
  recent_.push_back(now);
  restarts_.fetch_add(1, std::memory_order_relaxed);
  std::vector<std::shared_ptr<SupervisedChild>> siblings;
  if (options_.strategy == Strategy::one_for_all) {
    siblings = children_where([index](std::size_t i) { return i != index; });
  } else if (options_.strategy == Strategy::rest_for_one) {
    siblings = children_where([index](std::size_t i) { return i > index; });
  }
  lock.unlock();
  for (auto& sibling : siblings) sibling->restart_child();
  return true;
}

std::optional<std::vector<std::shared_ptr<SupervisedChild>>> SupervisorCore::parent_restarts(
    detail::UniqueLock& lock, std::size_t index, const std::string& why) {
  if (parent_ == nullptr) return std::nullopt;
  // Another child's failure is already before the parent: its decision covers this one too
  // (a restart rebuilds every child; an escalation stops them all).
  if (parent_deciding_) return std::vector<std::shared_ptr<SupervisedChild>>{};
  parent_deciding_ = true;
  const std::shared_ptr<SupervisorCore> parent = parent_;
  const std::size_t me = index_in_parent_;
  bool restart = false;
  {
    // The parent may restart or stop us: both take our lock.
    detail::Unlocked unlocked(lock, mutex_);
    restart = parent->child_failed(me, ExitCode::failed, why);
  }
  parent_deciding_ = false;
  if (!restart || ending_) return std::nullopt;
  // The parent restarts this supervisor: a fresh window, and every child rebuilt — the
  // failing one by returning true, the others on their control lanes.
  recent_.clear();
  restarts_.fetch_add(1, std::memory_order_relaxed);  // the failing child is rebuilt
  auto others = children_where([index](std::size_t i) { return i != index; });
  emit(ActorEvent::Kind::restart, ExitCode::failed, why);
  return others;
}

void SupervisorCore::restart_child() {
  detail::UniqueLock lock(mutex_);
  if (ending_) return;
  recent_.clear();
  auto children = children_where([](std::size_t) { return true; });
  emit(ActorEvent::Kind::restart, ExitCode::normal, "restarted by its parent supervisor");
  lock.unlock();
  for (auto& child : children) child->restart_child();
}

void SupervisorCore::child_exited() {
  std::shared_ptr<SupervisorCore> parent;
  {
    detail::MutexLock lock(mutex_);
    --live_;
    if (!finish_if_done_locked()) return;
    parent = parent_;
  }
  announce_end(parent);
}

void SupervisorCore::stop(ExitCode code, const std::string& why) {
  detail::UniqueLock lock(mutex_);
  if (!ending_) {
    ending_ = true;
    exit_code = code;
  }
  auto children = children_where([](std::size_t) { return true; });
  lock.unlock();  // a child's exit hook takes the lock
  for (auto& child : children) child->stop_child(code, why);
  lock.lock();
  if (!finish_if_done_locked()) return;
  const std::shared_ptr<SupervisorCore> parent = parent_;
  lock.unlock();
  announce_end(parent);
}

bool SupervisorCore::finish_if_done_locked() {
  if (!ending_ || live_ != 0 || finished_) return false;
  finished_ = true;
  emit(ActorEvent::Kind::exit, exit_code, {});
  events_.reset();  // the last event: let the channel go
  return true;
}

void SupervisorCore::announce_end(const std::shared_ptr<SupervisorCore>& parent) {
  ended.count_down();  // publishes exit_code and reason (Latch's ordering)
  if (parent != nullptr) parent->child_exited();
}

void SupervisorCore::emit(ActorEvent::Kind kind, ExitCode code, const std::string& what) {
  if (!events_) return;
  ActorEvent event;
  event.kind = kind;
  event.actor = id;
  event.name = options_.name;
  event.code = code;
  event.what = what;
  (void)events_->try_send(std::move(event));  // an unbounded channel is best
}

std::size_t SupervisorCore::live_children() const {
  detail::MutexLock lock(mutex_);
  return live_;
}

bool SupervisorCore::escalated() const {
  detail::MutexLock lock(mutex_);
  return escalated_;
}

}  // namespace detail

namespace {
SupervisorOptions checked(SupervisorOptions options) {
  if (options.max_restarts < 0) {
    throw Error(ErrorCode::invalid_argument,
                "SupervisorOptions::max_restarts must be >= 0, got " +
                    std::to_string(options.max_restarts));
  }
  if (options.within <= std::chrono::milliseconds::zero()) {
    throw Error(ErrorCode::invalid_argument,
                "SupervisorOptions::within must be positive, got " +
                    std::to_string(options.within.count()) + " ms");
  }
  return options;
}
}  // namespace

Supervisor::Supervisor(Runtime& runtime, SupervisorOptions options)
    : runtime_(&runtime),
      core_(std::make_shared<detail::SupervisorCore>(checked(std::move(options)))) {}

Supervisor::Supervisor(Supervisor& parent, SupervisorOptions options)
    : runtime_(parent.runtime_),
      core_(std::make_shared<detail::SupervisorCore>(checked(std::move(options)))) {
  core_->attach_parent(parent.core_);
}

Supervisor::~Supervisor() {
  // count(), not try_wait(): while the count_down that ends it is still releasing waiters,
  // try_wait() says "not yet" (latch.hpp). A stop then would be a no-op anyway.
  if (core_->ended.count() != 0) core_->stop(ExitCode::terminated, "its supervisor was destroyed");
}

Task<ExitCode> Supervisor::stop() {
  std::shared_ptr<detail::SupervisorCore> core = core_;  // the task may outlive *this
  core->stop(ExitCode::terminated, "its supervisor was stopped");
  co_await core->ended.wait();
  co_return core->exit_code;
}

ExitCode Supervisor::blocking_stop() {
  core_->stop(ExitCode::terminated, "its supervisor was stopped");
  return blocking_wait_exit();
}

Task<ExitCode> Supervisor::exited() {
  std::shared_ptr<detail::SupervisorCore> core = core_;
  co_await core->ended.wait();
  co_return core->exit_code;
}

ExitCode Supervisor::blocking_wait_exit() {
  core_->ended.blocking_wait();
  return core_->exit_code;
}

std::string Supervisor::reason() const {
  if (core_->ended.count() != 0) return {};
  // Ended, or being ended: the count_down may still be releasing waiters, for a few
  // instructions. The wait returns once it is done, and makes the reason written before it
  // visible (try_wait() alone would say "not yet" in that window).
  core_->ended.blocking_wait();
  return core_->reason;
}

}  // namespace troupe
