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
// Thread-safety: TaskActorRef is a copyable handle; every member function is thread-safe.
#pragma once

#include <tuple>
#include <type_traits>
#include <utility>

#include "troupe/actors/actor.hpp"

namespace troupe {

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
  template <class N, class Fn, class... Args>
  friend TaskActorRef<N> spawn_task_actor(Runtime&, ActorOptions, Fn, Args&&...);

  TaskActorRef(Sender<M> tx, std::shared_ptr<detail::ActorCell> cell)
      : ActorHandle(std::move(cell)), tx_(std::move(tx)) {}
  void count_refusal(SendErrorKind kind) const {
    auto& counter = kind == SendErrorKind::closed ? cell().dead_letters : cell().rejected;
    counter.fetch_add(1, std::memory_order_relaxed);
  }

  Sender<M> tx_;
};

namespace detail {

template <class M, class Fn, class... Args>
Task<void> run_task_actor(ActorLife<M> life, Fn fn, std::tuple<Args...> args) {
  ActorCell& cell = life.cell();
  cell.emit(ActorEvent::Kind::online);
  cell.set_state(ActorState::handling);
  try {
    co_await std::apply(
        [&](auto&... data) { return fn(life.mailbox(), std::move(data)...); }, args);
    cell.check_quota();
  } catch (...) {
    life.set(fail_with(cell, std::current_exception(), ExitCode::failed));
    co_return;
  }
  life.set(cell.terminate_requested() ? cell.requested_code() : ExitCode::normal);
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
  if (options.overflow != Overflow::backpressure && options.overflow != Overflow::reject) {
    throw Error(ErrorCode::invalid_argument,
                "spawn_task_actor: the overflow policy must be backpressure or reject (the "
                "coroutine owns its receives)");
  }
  if (options.register_name || options.message_budget.count() != 0) {
    throw Error(ErrorCode::invalid_argument,
                "spawn_task_actor: register_name and message_budget are for handler actors");
  }
  auto [tx, rx] = detail::open_mailbox<M>(options);
  auto cell = detail::new_cell(options, tx);
  detail::launch(runtime, options, cell,
                 detail::run_task_actor<M>(detail::ActorLife<M>(cell, std::move(rx)),
                                           std::move(fn),
                                           std::tuple<std::decay_t<Args>...>(
                                               std::forward<Args>(args)...)));
  return TaskActorRef<M>(std::move(tx), std::move(cell));
}

}  // namespace troupe
