// troupe/actors/supervisor.hpp — supervisors: restart failed actors, within a limit.
//
//   troupe::SupervisorOptions so;
//   so.strategy = troupe::Strategy::one_for_all;
//   so.max_restarts = 3;                       // more than 3 restarts within 5 s: escalate
//   so.within = std::chrono::seconds(5);
//   troupe::Supervisor sup(rt, so);
//   auto db = sup.start<Db>({.name = "db"}, config);      // initial data kept for restarts
//   auto cache = sup.start<Cache>({.name = "cache"}, 64);
//   ...
//   troupe::ExitCode code = sup.blocking_wait_exit();     // ends after an escalation or stop()
//
// A child is an actor started by the supervisor (start: a handler actor; start_task: a task
// actor, whose restarts task_actor.hpp describes), or a nested supervisor. When it fails (a handler, its constructor or
// on_start throws — ExitCode::failed, start_failed or resource_exhausted), the supervisor
// decides, by its strategy:
//   one_for_one   only the failed child is rebuilt;
//   one_for_all   every other live child is restarted too;
//   rest_for_one  the children started after the failed one are restarted too.
// A restart keeps the child's ActorRef and mailbox (queued messages wait for the new actor;
// the failing message is not retried): the actor object is destroyed and built again from a
// copy of the original initial data (so it must be copyable), on_start runs and 'online' is
// emitted again, after a 'restart' event. A sibling restarted for another's failure finishes
// its current message, runs on_stop, and is rebuilt the same way; the request travels on its
// control lane, never blocked by a full mailbox.
//
// Intensity: at most `max_restarts` restarts within any window of `within`. The failure that
// would exceed it escalates: that child exits with its failure code, every other child is
// stopped (ExitCode::stopped, reason naming the escalation), and the supervisor ends with
// ExitCode::failed; its events channel gets 'error' (the reason) and then 'exit' once every
// child has exited. A child that ends otherwise (normally, terminate(), shutdown) is not
// restarted.
//
// Nesting. `Supervisor team(parent, options)` makes a supervisor a child of another (a
// supervision tree). Where the nested supervisor would escalate, its parent decides instead,
// by its own strategy and intensity: it restarts the nested supervisor — every child of it is
// rebuilt (the failing one included), its intensity window starts afresh, and it emits
// 'restart' — or, past the parent's own limit, the parent escalates in turn (the nested
// supervisor escalates as above, the parent stops its other children and ends failed, and so
// up the tree). A parent restarting siblings (one_for_all, rest_for_one) restarts a nested
// supervisor the same way; a parent that stops or escalates stops the nested supervisors and
// their children (ExitCode::terminated or stopped).
//
// stop() terminates every child and ends the supervisor with ExitCode::terminated. Destroying
// the Supervisor stops it the same way without waiting; the children's ActorRefs stay valid
// (dead actors: sends come back as dead letters).
//
// Thread-safety: every member function may be called from any thread. The supervisor's
// decisions run on the failing child's task, under the supervisor's lock.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "troupe/actors/actor.hpp"
#include "troupe/actors/task_actor.hpp"
#include "troupe/channels/detail/mutex.hpp"

namespace troupe {

enum class Strategy : std::uint8_t { one_for_one, one_for_all, rest_for_one };
[[nodiscard]] std::string_view to_string(Strategy strategy) noexcept;

struct SupervisorOptions {
  std::string name;                           // for events and reasons
  Strategy strategy = Strategy::one_for_one;
  int max_restarts = 3;                       // restarts allowed within `within` (>= 0)
  std::chrono::milliseconds within{5000};     // the intensity window (> 0)
  std::optional<Sender<ActorEvent>> events;  // the supervisor's own 'error' and 'exit'
};

namespace detail {

class SupervisorCore final : public SupervisedChild,
                             public std::enable_shared_from_this<SupervisorCore> {
 public:
  explicit SupervisorCore(SupervisorOptions options);
  SupervisorCore(const SupervisorCore&) = delete;
  SupervisorCore& operator=(const SupervisorCore&) = delete;

  const std::uint64_t id;

  // Adds a child; its index. Throws Error(shut_down) once the supervisor has ended.
  std::size_t adopt(const std::shared_ptr<SupervisedChild>& child) ABSL_LOCKS_EXCLUDED(mutex_);
  // Makes this supervisor a child of `parent` (before it has children). Throws
  // Error(shut_down) once the parent has ended.
  void attach_parent(const std::shared_ptr<SupervisorCore>& parent) ABSL_LOCKS_EXCLUDED(mutex_);
  // The decision for a failed child (on the child's task): true to rebuild it. Posts
  // restarts to siblings, or escalates. The children are called without the lock.
  bool child_failed(std::size_t index, ExitCode code, const std::string& what)
      ABSL_LOCKS_EXCLUDED(mutex_);
  // A child's final exit (its exit hook, which may run on the thread that stops the child).
  void child_exited() ABSL_LOCKS_EXCLUDED(mutex_);
  // Stops every live child with `code` and ends with `code` once they have exited.
  void stop(ExitCode code, const std::string& reason) ABSL_LOCKS_EXCLUDED(mutex_);

  // SupervisedChild (a nested supervisor, as its parent sees it).
  // A fresh intensity window; every child rebuilt.
  void restart_child() override ABSL_LOCKS_EXCLUDED(mutex_);
  void stop_child(ExitCode code, std::string reason) override { stop(code, reason); }
  [[nodiscard]] const std::string& child_name() const noexcept override {
    return options_.name;
  }

  [[nodiscard]] const SupervisorOptions& options() const noexcept { return options_; }
  [[nodiscard]] std::uint64_t restarts() const noexcept {
    return restarts_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] std::size_t live_children() const ABSL_LOCKS_EXCLUDED(mutex_);
  [[nodiscard]] bool escalated() const ABSL_LOCKS_EXCLUDED(mutex_);

  Latch ended{1};
  // After `ended`: how the supervisor ended, and why (the escalation's reason).
  ExitCode exit_code = ExitCode::normal;
  std::string reason;

 private:
  // Every child still referenced whose index passes `pick`.
  template <class Pick>
  std::vector<std::shared_ptr<SupervisedChild>> children_where(Pick pick) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // The failure of child `index` would exceed the intensity: asks the parent, dropping `lock`
  // (on mutex_) meanwhile. If the parent restarts this supervisor instead of letting it
  // escalate (then the failing child is rebuilt too), the other children to rebuild, which
  // the caller restarts once it has released the lock; nullopt otherwise.
  std::optional<std::vector<std::shared_ptr<SupervisedChild>>> parent_restarts(
      detail::UniqueLock& lock, std::size_t index, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  [[nodiscard]] std::string describe_child(std::size_t index) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void emit(ActorEvent::Kind kind, ExitCode code, const std::string& what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // If the supervisor is ending and its last child has exited: marks it finished and emits
  // 'exit' (true, once). The caller then releases the lock and calls announce_end.
  bool finish_if_done_locked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Opens `ended` and tells the parent (parent_ as finish_if_done_locked saw it).
  void announce_end(const std::shared_ptr<SupervisorCore>& parent) ABSL_LOCKS_EXCLUDED(mutex_);

  SupervisorOptions options_;               // its events moved to events_
  std::atomic<std::uint64_t> restarts_{0};  // relaxed: a statistic
  mutable detail::PlainMutex mutex_;
  // options_.events, apart so that it can be ABSL_GUARDED_BY the lock (options_ is read
  // without it).
  std::optional<Sender<ActorEvent>> events_ ABSL_GUARDED_BY(mutex_);
  // By start order.
  std::vector<std::weak_ptr<SupervisedChild>> children_ ABSL_GUARDED_BY(mutex_);
  std::shared_ptr<SupervisorCore> parent_ ABSL_GUARDED_BY(mutex_);  // a nested supervisor's
  std::size_t index_in_parent_ ABSL_GUARDED_BY(mutex_) = 0;
  // A failure past the limit is before the parent.
  bool parent_deciding_ ABSL_GUARDED_BY(mutex_) = false;
  // Restarts in the window.
  std::deque<std::chrono::steady_clock::time_point> recent_ ABSL_GUARDED_BY(mutex_);
  // Children adopted and not yet exited.
  std::size_t live_ ABSL_GUARDED_BY(mutex_) = 0;
  // Escalated or stopped: no more restarts or children.
  bool ending_ ABSL_GUARDED_BY(mutex_) = false;
  bool escalated_ ABSL_GUARDED_BY(mutex_) = false;
  bool finished_ ABSL_GUARDED_BY(mutex_) = false;  // `ended` opened
};

}  // namespace detail

class Supervisor {
 public:
  // Throws Error(invalid_argument) for max_restarts < 0 or a non-positive window.
  Supervisor(Runtime& runtime, SupervisorOptions options);
  // A nested supervisor: a child of `parent` (see the header comment), on the parent's
  // runtime. Also throws Error(shut_down) once the parent has ended.
  Supervisor(Supervisor& parent, SupervisorOptions options);
  ~Supervisor();  // stops the children (without waiting) unless already ended
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  [[nodiscard]] std::uint64_t id() const noexcept { return core_->id; }
  [[nodiscard]] const std::string& name() const noexcept { return core_->options().name; }

  // Starts a child A, as spawn_actor would, keeping a copy of `args` to rebuild it from on a
  // restart. Throws Error(shut_down) once the supervisor has ended (or the runtime shut down).
  template <class A, class... Args>
  ActorRef<A> start(ActorOptions options, Args&&... args) {
    static_assert((Sendable<std::decay_t<Args>> && ...),
                  "Supervisor::start: the initial data is moved to the actor's thread and must "
                  "be Sendable");
    static_assert((std::is_copy_constructible_v<std::decay_t<Args>> && ...),
                  "Supervisor::start: a restart rebuilds the actor from a copy of its initial "
                  "data, so the data must be copyable (pass a shared_ptr to share a big one)");
    static_assert(std::is_constructible_v<A, std::decay_t<Args>&&...>,
                  "Supervisor::start: A has no constructor taking these initial data");
    return detail::spawn_cell<A>(
        *runtime_, options, core_,
        detail::Maker<A, true, std::decay_t<Args>...>(std::forward<Args>(args)...));
  }

  // Starts a task actor child, as spawn_task_actor would, keeping copies of `fn` and `args`:
  // after a failure of its own the body runs again from them, on the same inbox; a restart
  // for a sibling's failure cancels the body at its next await point first.
  template <class M, class Fn, class... Args>
  TaskActorRef<M> start_task(ActorOptions options, Fn fn, Args&&... args) {
    static_assert(Sendable<M>, "Supervisor::start_task: the message type must be Sendable");
    static_assert((Sendable<std::decay_t<Args>> && ...),
                  "Supervisor::start_task: the initial data must be Sendable");
    static_assert(std::is_copy_constructible_v<Fn> &&
                      (std::is_copy_constructible_v<std::decay_t<Args>> && ...),
                  "Supervisor::start_task: a restart runs the body again from copies of it and "
                  "of its data, so both must be copyable");
    static_assert(std::is_same_v<std::invoke_result_t<Fn&, Receiver<M>&, const std::decay_t<Args>&...>,
                                 Task<void>>,
                  "Supervisor::start_task: fn(Receiver<M>&, args...) must return troupe::Task<void>");
    return detail::spawn_task_cell<M, true>(*runtime_, options, core_, std::move(fn),
                                            std::forward<Args>(args)...);
  }

  // Terminates every child and waits until they have exited: ExitCode::terminated (or how
  // the supervisor had already ended).
  Task<ExitCode> stop();
  ExitCode blocking_stop();
  // Waits for the supervisor to end (escalation or stop()), without asking it to.
  Task<ExitCode> exited();
  ExitCode blocking_wait_exit();

  [[nodiscard]] bool escalated() const { return core_->escalated(); }
  // Why it ended (the escalation's reason), once it has; empty otherwise.
  [[nodiscard]] std::string reason() const;
  [[nodiscard]] std::uint64_t restarts() const noexcept { return core_->restarts(); }
  [[nodiscard]] std::size_t live_children() const { return core_->live_children(); }

 private:
  Runtime* runtime_;
  std::shared_ptr<detail::SupervisorCore> core_;
};

}  // namespace troupe
