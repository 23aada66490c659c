// troupe/actors/task_actor.hpp — task-style actors (tokio's way): a coroutine that owns its
// inbox, with an actor's life around it.
//
//   struct Job { int n; };
//   auto worker = troupe::spawn_task_actor<Job>(rt, {.name = "worker"},
//       [](troupe::Receiver<Job>& inbox, int scale) -> troupe::Task<void> {
//         while (auto job = co_await inbox.recv()) use(job->n * scale);  // its own loop
//       },
//       3);                                   // more arguments: the initial data, moved in
//   worker.tell(Job{1});                      // never blocks; Full or Closed hand it back
//   (void)co_await worker.send(Job{2});       // waits for room (a bounded inbox)
//   troupe::ExitCode code = worker.blocking_terminate();
//
// The coroutine is called with a reference to the actor's inbox and the extra arguments (moved
// to the actor; Sendable). It decides when and what to receive — several channels, select,
// timers — and the actor ends when it returns (ExitCode::normal), throws (ExitCode::failed, or
// resource_exhausted; the 'error' event carries the exception), is terminated
// (ExitCode::terminated, at its next await point) or its runtime shuts down. Its inbox closes
// when it ends: what is still queued becomes dead letters, as for handler actors. Events,
// byte quota, registry listing and the run-time options of ActorOptions apply as in actor.hpp,
// except: the overflow policy is backpressure or reject (a full inbox refuses a tell; the
// coroutine owns its receives, so drop policies cannot apply), names are not registered for
// lookup, and a message budget is not watched (there is no per-message boundary).
//
// Supervised (Supervisor::start_task, supervisor.hpp): the body and its data are kept. After a
// failure of its own the body runs again from copies of them, on the same inbox (what was
// queued waits for the new run). A restart for a sibling's failure cannot wait for a message
// boundary — the body owns its loop — so the body is cancelled at its next await point (its
// locals destroyed, the message it was handling, if any, lost with them) and started again
// the same way.
//
// Thread-safety: TaskActorRef is a copyable handle; every member function is thread-safe.
#pragma once

#include <tuple>
#include <type_traits>
#include <utility>

#include "troupe/actors/actor.hpp"

namespace troupe {

template <class M>
class TaskActorRef;

namespace detail {
template <class M, bool kKeepCopy, class Fn, class... Args>
TaskActorRef<M> spawn_task_cell(Runtime& runtime, ActorOptions& options,
                                const std::shared_ptr<SupervisorCore>& supervisor, Fn fn,
                                Args&&... args);
}  // namespace detail

template <class M>
class TaskActorRef : public ActorHandle {
 public:
  TaskActorRef() = default;  // empty: every operation throws Error(invalid_handle)

  // Never blocks: Full (a full inbox) or Closed (the actor has ended: a dead letter), with the
  // message handed back.
  SendResult<M> tell(M message) {
    (void)cell();
    auto sent = tx_.try_send(std::move(message));
    if (!sent) count_refusal(sent.error().kind());
    return sent;
  }
  // Awaits room in a bounded inbox (Sender::send; borrows this reference until it completes).
  auto send(M message) {
    (void)cell();
    return tx_.send(std::move(message));
  }
  SendResult<M> blocking_send(M message) {
    (void)cell();
    auto sent = tx_.blocking_send(std::move(message));
    if (!sent) count_refusal(sent.error().kind());
    return sent;
  }
  // A plain Sender into the inbox, to hand to code that knows channels, not actors.
  [[nodiscard]] Sender<M> sender() const {
    (void)cell();
    return tx_;
  }

 private:
  template <class N, bool kKeepCopy, class Fn, class... Args>
  friend TaskActorRef<N> detail::spawn_task_cell(Runtime&, ActorOptions&,
                                                 const std::shared_ptr<detail::SupervisorCore>&,
                                                 Fn, Args&&...);

  TaskActorRef(Sender<M> tx, std::shared_ptr<detail::ActorCell> cell)
      : ActorHandle(std::move(cell)), tx_(std::move(tx)) {}
  void count_refusal(SendErrorKind kind) const {
    auto& counter = kind == SendErrorKind::closed ? cell().dead_letters : cell().rejected;
    counter.fetch_add(1, std::memory_order_relaxed);
  }

  Sender<M> tx_;
};

namespace detail {

// Calls the body with the inbox and the initial data: moved into it (a one-off start), or
// copied (a supervised actor keeps its data to start again from).
template <bool kKeepCopy, class M, class Fn, class... Args>
Task<void> call_body(Fn& fn, Receiver<M>& inbox, std::tuple<Args...>& args) {
  return std::apply(
      [&](auto&... data) {
        if constexpr (kKeepCopy) {
          return fn(inbox, static_cast<const Args&>(data)...);
        } else {
          return fn(inbox, std::move(data)...);
        }
      },
      args);
}

template <bool kKeepCopy, class M, class Fn, class... Args>
Task<void> run_task_actor(ActorLife<M> life, Fn fn, std::tuple<Args...> args) {
  ActorCell& cell = life.cell();
  for (;;) {  // one round per start; a failure the supervisor restarts begins another
    if (cell.account != nullptr) cell.account->reset_exceeded();
    cell.emit(ActorEvent::Kind::online);
    cell.set_state(ActorState::handling);
    std::exception_ptr error;
    try {
      co_await call_body<kKeepCopy>(fn, life.mailbox(), args);
      cell.check_quota();
    } catch (...) {
      error = std::current_exception();
    }
    if (error) {
      const ExitCode code = fail_with(cell, error, ExitCode::failed);
      if (cell.restart_after_failure(code)) continue;
      life.set(code);
      co_return;
    }
    life.set(cell.terminate_requested() ? cell.requested_code() : ExitCode::normal);
    co_return;
  }
}

// A supervised task actor's restart after a sibling's failure (ActorLife::Relaunch): a new task
// from a copy of the body and its data, on the same cell and inbox.
template <class M, class Fn, class... Args>
typename ActorLife<M>::Relaunch task_relaunch(Runtime& runtime, bool dedicated, const Fn& fn,
                                              const std::tuple<Args...>& args) {
  return [&runtime, dedicated, fn, args](ActorLife<M>&& life) {
    ActorCell& cell = life.cell();  // held by the caller (~ActorLife) until it attaches
    relaunch(runtime, cell, dedicated, run_task_actor<true, M>(std::move(life), fn, args));
  };
}

// Checks the options, opens the inbox, makes the cell, adopts it into `supervisor` (if any)
// and starts the task. kKeepCopy: the body and its data are kept for restarts.
template <class M, bool kKeepCopy, class Fn, class... Args>
TaskActorRef<M> spawn_task_cell(Runtime& runtime, ActorOptions& options,
                                const std::shared_ptr<SupervisorCore>& supervisor, Fn fn,
                                Args&&... args) {
  if (options.overflow != Overflow::backpressure && options.overflow != Overflow::reject) {
    throw Error(ErrorCode::invalid_argument,
                "spawn_task_actor: the overflow policy must be backpressure or reject (the "
                "coroutine owns its receives)");
  }
  if (options.register_name || options.message_budget.count() != 0) {
    throw Error(ErrorCode::invalid_argument,
                "spawn_task_actor: register_name and message_budget are for handler actors");
  }
  auto [tx, rx] = open_mailbox<M>(options);
  auto cell = new_cell(options, tx);
  cell->restart_by_cancel = true;
  std::tuple<std::decay_t<Args>...> data(std::forward<Args>(args)...);
  typename ActorLife<M>::Relaunch relaunch;
  if constexpr (kKeepCopy) relaunch = task_relaunch<M>(runtime, options.dedicated_thread, fn, data);
  if (supervisor != nullptr) adopt_child(supervisor, cell);
  launch(runtime, options, cell,
         run_task_actor<kKeepCopy, M>(ActorLife<M>(cell, std::move(rx), std::move(relaunch)),
                                      std::move(fn), std::move(data)));
  return TaskActorRef<M>(std::move(tx), std::move(cell));
}

}  // namespace detail

// Starts a task actor on `runtime`: `fn(Receiver<M>& inbox, args...)` must return Task<void>.
// Throws Error(invalid_argument) for options a task actor cannot have (see above), and
// Error(shut_down) after the runtime's shutdown.
template <class M, class Fn, class... Args>
TaskActorRef<M> spawn_task_actor(Runtime& runtime, ActorOptions options, Fn fn, Args&&... args) {
  static_assert(Sendable<M>, "spawn_task_actor: the message type must be Sendable");
  static_assert((Sendable<std::decay_t<Args>> && ...),
                "spawn_task_actor: the initial data is moved to the actor and must be Sendable");
  static_assert(std::is_same_v<std::invoke_result_t<Fn&, Receiver<M>&, std::decay_t<Args>...>,
                               Task<void>>,
                "spawn_task_actor: fn(Receiver<M>&, args...) must return troupe::Task<void>");
  return detail::spawn_task_cell<M, false>(runtime, options, nullptr, std::move(fn),
                                           std::forward<Args>(args)...);
}

}  // namespace troupe
