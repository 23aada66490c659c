// troupe/actors/actor.hpp — typed actors: private state, one message at a time, tell and ask,
// lifecycle events. What Node.js calls a Worker (workerData, postMessage, 'online' / 'error' /
// 'exit', terminate()), as a lightweight task on troupe::Runtime.
//
//   struct Add { int by; };
//   struct Get {};
//   class Counter {
//    public:
//     explicit Counter(int start) : n_(start) {}   // the initial data (Node's workerData)
//     void handle(Add m) { n_ += m.by; }            // a message: tell(Add{..})
//     int handle(Get) const { return n_; }          // a request: ask(Get{}) replies an int
//     Task<int> handle(Slow);                       // a coroutine handler may co_await
//    private:
//     int n_;
//   };
//   troupe::Runtime rt;
//   troupe::ActorRef<Counter> counter = troupe::spawn_actor<Counter>(rt, {}, 5);  // options, data
//   counter.tell(Add{2});                               // never blocks
//   int n = counter.blocking_ask(Get{}, 1s).value();    // on a thread
//   troupe::AskResult<int> r = co_await counter.ask(Get{}, 1s);   // in a task
//   troupe::ExitCode code = counter.blocking_terminate();
//
// Handler style (actix). An actor is any class with `handle(M)` overloads; its constructor
// receives the spawn arguments (moved to the actor: they must be Sendable). ActorRef<A>
// accepts exactly the messages A handles: telling it anything else does not compile (the
// constraint HandledBy<M, A> names the missing `handle(M)`). Messages must be Sendable. A
// handler returns the reply of an ask (void: an empty reply), or a Task<R> to co_await things
// before replying. Optional hooks: `void on_start()` (after the constructor, before 'online')
// and `void on_stop()` (when the actor stops by itself or is terminated, not when it fails).
//
// One message at a time. The actor's state is touched by one thread at a time: its handlers
// run on a runtime task, one after another. While a coroutine handler is suspended, the
// actor does not take the next message: the mailbox queues (backpressure applies) until the
// handler finishes. So state is never seen half-updated by another message.
//
// Dedicated thread. By default an actor's task runs on the runtime's workers, so a handler
// must not block (a blocked worker is replaced by the monitor only after stall_threshold).
// ActorOptions::dedicated_thread gives the actor a thread of its own (Node's one-thread
// Worker): its handlers may block — sleep, blocking I/O, blocking_ask — and the workers never
// notice. Everything else (mailbox, events, supervision, limits) is the same.
//
// Mailbox. Bounded (ActorOptions::mailbox_capacity, default 1024; 0 = unbounded). When full,
// the overflow policy decides, for every way of sending:
//   backpressure  `co_await ref.send(m)` suspends and `ref.blocking_send(m)` blocks until
//                 there is room; `tell` never blocks: it fails with Full, message handed back.
//   reject        every form fails at once with Full, the message handed back.
//   drop_newest   the new message is dropped and counted (Told::dropped).
//   drop_oldest   the oldest queued message is dropped (counted in ActorStats::dropped; an ask
//                 among them resolves as dead) to make room: the new one is queued.
// An ask under any policy waits for room like `send` would, or fails (reject: AskErrc::full,
// drop_newest: AskErrc::dropped). The ask's timeout bounds the whole ask: a backpressured ask
// still waiting for room when it passes gives the request up (never queued; counted in
// ActorStats::rejected) and fails with AskErrc::timeout.
//
// Failure and exit. An exception escaping the constructor, on_start or a handler fails the
// actor: an 'error' event, then 'exit' (ExitCode::start_failed or failed); the process lives
// on. If the failing message was an ask, the asker receives that exception (AskErrc::failed).
// The actor also stops when every ActorRef to it is gone (ExitCode::normal, after it has
// handled what was queued), on terminate() (ExitCode::terminated: it stops at its next await
// point, abandoning a suspended coroutine handler), when its supervisor escalates or a linked
// actor fails (ExitCode::stopped, likewise), and when its Runtime shuts down
// (ExitCode::shut_down). Whatever is still queued when it stops is a dead letter: each is
// counted and destroyed, and the ask among them resolves with AskErrc::dead at once. A message
// sent to an actor that has stopped comes back (Closed) and is counted as a dead letter too.
//
// Events. ActorOptions::events, a Sender<ActorEvent>, receives 'online', 'error' and 'exit'
// for this actor, in that order (an unbounded channel is best: an event that does not fit is
// counted in ActorStats::lost_events, never waited for). A supervised actor that is rebuilt
// emits 'restart' and 'online' again instead of 'exit' (supervisor.hpp).
//
// Control lane. Supervision requests (restart) and death-watch notices (ActorDown, see
// troupe::watch) do not go through the mailbox: they are never dropped, never wait for room in
// a full mailbox, and are taken before the next queued message (after the current one).
// terminate() and stops by a supervisor or a link do not wait for the mailbox either: they
// cancel the actor's task at its next await point.
//
// Byte quota. ActorOptions::byte_quota bounds the bytes of Buffers the actor holds: those it
// allocates and those transferred to it (moved out of its mailbox, into its state). An
// allocation past it throws Error(resource_exhausted) in the handler; either way the actor
// fails after that message with ExitCode::resource_exhausted (its supervisor may restart it;
// the Buffers of the failed actor are released). Nothing else in the process is affected.
//
// Run-time budget. ActorOptions::message_budget: a process-wide watchdog thread looks at the
// actor a few times per budget and reports a handler that has run past it — a 'slow' event
// naming the message type, and ActorStats::slow_messages — once per message, while the handler
// still runs. It does not stop the handler: the runtime's monitor adds a worker when one is
// stuck, so the other actors keep running. ActorOptions::timing (implied by a budget) keeps
// histograms of handler run times and of mailbox waits (from the send to the handler's start),
// exported with the counters in the "actors" section of Runtime::metrics() (registry.hpp).
//
// GCC 12 caveat (a compiler bug, not troupe's): inside a coroutine, a braced aggregate
// temporary that owns a resource, written in a co_await expression —
// `co_await ref.ask(Msg{std::move(buffer)}, t)` — is destroyed as if it had not been moved
// from, freeing what the actor now holds. Name the message first
// (`Msg m{std::move(buffer)}; co_await ref.ask(std::move(m), t);`) or give it a constructor.
// Messages without an owning member (plain data) are not affected.
//
// Thread-safety: ActorRef is a copyable handle; every member function is thread-safe (like
// Sender). The actor object itself is touched only by its own task. Memory ordering:
// everything a sender did before a successful send happens-before the handler runs; everything
// a handler did before replying happens-before the ask returns the reply; everything the actor
// did happens-before an exit wait (terminate, exited) returns.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <atomic>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <type_traits>
#include <typeindex>
#include <typeinfo>
#include <utility>
#include <vector>

#include "troupe/channels/byte_account.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/channels/detail/mutex.hpp"
#include "troupe/channels/oneshot.hpp"
#include "troupe/channels/sendable.hpp"
#include "troupe/runtime/runtime.hpp"
#include "troupe/runtime/sync.hpp"
#include "troupe/runtime/time.hpp"

namespace troupe {

// ---- vocabulary ---------------------------------------------------------------------------------

// How an actor ended (Node's exit code: 0 is a normal end).
enum class ExitCode : int {
  normal = 0,        // every ActorRef was dropped and the mailbox drained
  failed = 1,        // a handler (or on_stop) threw
  terminated = 2,    // terminate() was called
  start_failed = 3,  // the constructor or on_start threw: 'online' never came
  shut_down = 4,     // its Runtime shut down
  resource_exhausted = 5,  // it ran past a resource limit (Error(resource_exhausted) escaped)
  stopped = 6,       // stopped by its supervisor's escalation or a linked actor's failure
};
[[nodiscard]] std::string_view to_string(ExitCode code) noexcept;

// What an actor is doing (ActorInfo, registry.hpp).
enum class ActorState : std::uint8_t {
  starting,    // constructor / on_start running, or not yet scheduled
  idle,        // waiting for mail
  handling,    // running a handler (or suspended inside a coroutine handler)
  restarting,  // being rebuilt by its supervisor
  exited,      // ended (its cell is still referenced)
};
[[nodiscard]] std::string_view to_string(ActorState state) noexcept;

// What to do with a message for a full mailbox (see the header comment).
enum class Overflow : std::uint8_t { backpressure, reject, drop_newest, drop_oldest };

struct ActorEvent {
  // restart: a supervisor rebuilt the actor (after its error, or a sibling's); online follows.
  // slow: a handler has run past ActorOptions::message_budget (what names the message type);
  // the actor goes on.
  enum class Kind : std::uint8_t { online, error, exit, restart, slow };
  Kind kind = Kind::online;
  std::uint64_t actor = 0;           // ActorRef::id()
  std::string name;                  // ActorOptions::name
  ExitCode code = ExitCode::normal;  // for exit
  std::string what;                  // for error: what() of the exception (or a description)
  std::exception_ptr error;          // for error: the exception itself
};
// An exception object is not touched after it is thrown; sharing it is safe.
template <>
inline constexpr bool enable_sendable<ActorEvent> = true;

// Durations (handler run times, mailbox waits), in power-of-two buckets of nanoseconds: counts[i] holds runs shorter than
// 2^(i+1) ns (and at least 2^i, bucket 0 from 0); the last bucket is open.
struct TimeHistogram {
  static constexpr std::size_t kBuckets = 40;  // 2^40 ns is about 18 minutes
  std::array<std::uint64_t, kBuckets> counts{};
  std::uint64_t count = 0;
  std::uint64_t sum_ns = 0;

  // The bucket of a duration.
  static std::size_t bucket_of(std::uint64_t ns) noexcept {
    return std::min<std::size_t>(ns == 0 ? 0 : static_cast<std::size_t>(std::bit_width(ns)) - 1,
                                 kBuckets - 1);
  }
  // Records `times` durations of `ns` each.
  void add(std::uint64_t ns, std::uint64_t times = 1) noexcept {
    counts[bucket_of(ns)] += times;
    count += times;
    sum_ns += ns * times;
  }
  // An upper bound of the q-quantile (0 < q <= 1): the upper edge of the bucket holding it,
  // so within a factor of two; 0 when empty. The open last bucket reports its lower edge.
  [[nodiscard]] std::uint64_t quantile_ns(double q) const noexcept {
    if (count == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count));
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts[i];
      if (seen >= rank && seen > 0) {
        return i + 1 < kBuckets ? std::uint64_t{1} << (i + 1) : std::uint64_t{1} << i;
      }
    }
    return std::uint64_t{1} << (kBuckets - 1);
  }
};

struct ActorOptions {
  std::string name;                       // for events, errors and reports
  std::size_t mailbox_capacity = 1024;    // 0: unbounded
  Overflow overflow = Overflow::backpressure;
  std::optional<Sender<ActorEvent>> events;  // where 'online', 'error' and 'exit' go
  // The most bytes of Buffers the actor may hold (0: no limit): what it allocates and what is
  // transferred to it (byte_account.hpp). Past it the actor fails with
  // ExitCode::resource_exhausted; other actors are not affected.
  std::size_t byte_quota = 0;
  // Register `name` for troupe::lookup (registry.hpp): unique among registered live actors.
  bool register_name = false;
  // A handler running longer than this is reported by the watchdog ('slow' event, counted in
  // ActorStats::slow_messages), once per message, while it still runs. Zero: no budget.
  std::chrono::nanoseconds message_budget{0};
  // Record handler run times and mailbox waits in histograms (live_actors, the runtime's
  // metrics export). A message's wait runs from the send call (tell, send or ask: a sender
  // held back by a full mailbox waits inside it) to the start of its handler. Implied by a
  // message_budget. Costs a clock read per send and two per message handled.
  bool timing = false;
  // Run the actor on a thread of its own (Node's one-thread Worker) instead of the runtime's
  // workers: its handlers may block (sleep, blocking I/O, blocking_ask, a lock held long)
  // without stalling other actors. The thread exits with the actor. Messages to it cost a
  // cross-thread wake-up each time it has gone idle: use it for actors that block, not for
  // chatty ones.
  bool dedicated_thread = false;
};

// A snapshot of an actor's counters.
struct ActorStats {
  std::uint64_t received = 0;      // messages taken from the mailbox
  std::uint64_t dead_letters = 0;  // sent after it stopped, or still queued when it stopped
  std::uint64_t dropped = 0;       // dropped by Overflow::drop_newest or drop_oldest
  std::uint64_t rejected = 0;      // refused for a full mailbox (an ask: see Mailbox above)
  std::uint64_t lost_events = 0;   // events that did not fit the events channel
  std::uint64_t restarts = 0;      // times a supervisor rebuilt it
  std::uint64_t slow_messages = 0; // handlers that ran past message_budget
  std::size_t bytes_held = 0;      // bytes of Buffers charged to it now (with a byte_quota)
  std::size_t bytes_peak = 0;      // the most it held at once
  std::size_t mailbox_depth = 0;   // messages queued now
};

// What a watcher receives when an actor it watches (troupe::watch) has exited.
struct ActorDown {
  std::uint64_t actor = 0;           // ActorRef::id() of the actor that exited
  std::string name;                  // its ActorOptions::name
  ExitCode code = ExitCode::normal;  // how it ended
  std::string what;                  // why, for an abnormal end (the error's what())
};
template <>
inline constexpr bool enable_sendable<ActorDown> = true;

// How a successful tell ended: queued, or dropped by Overflow::drop_newest.
enum class Told : std::uint8_t { queued, dropped };
template <class M>
using TellResult = Result<Told, SendError<M>>;

enum class AskErrc : std::uint8_t {
  dead,     // the actor had stopped, or stopped before replying
  timeout,  // no reply within the timeout
  failed,   // the handler threw: exception() is what it threw
  full,     // Overflow::reject and the mailbox was full
  dropped,  // Overflow::drop_newest and the mailbox was full
};
[[nodiscard]] std::string_view to_string(AskErrc code) noexcept;

class AskError {
 public:
  AskError(AskErrc code, std::string message, std::exception_ptr error = nullptr,
           bool unqueued = false)
      : code_(code), message_(std::move(message)), error_(std::move(error)),
        unqueued_(unqueued) {}
  [[nodiscard]] AskErrc code() const noexcept { return code_; }
  // "ask <actor>: <why>"; for failed, the exception's what().
  [[nodiscard]] const std::string& message() const noexcept { return message_; }
  [[nodiscard]] const std::exception_ptr& exception() const noexcept { return error_; }
  // A timeout that passed while the request still waited for room in a full mailbox
  // (Overflow::backpressure): it never reached the actor, and ActorStats::rejected counts it.
  [[nodiscard]] bool timed_out_unqueued() const noexcept { return unqueued_; }

 private:
  AskErrc code_;
  std::string message_;
  std::exception_ptr error_;
  bool unqueued_ = false;
};
template <class R>
using AskResult = Result<R, AskError>;

// M is a message actor A accepts: A has a handle(M) callable with an rvalue M.
template <class M, class A>
concept HandledBy = requires(A& actor, M&& message) { actor.handle(std::move(message)); };

namespace detail {

template <class T>
struct TaskValue {
  using type = T;
  static constexpr bool coroutine = false;
};
template <class T>
struct TaskValue<Task<T>> {
  using type = T;
  static constexpr bool coroutine = true;
};
// What handle(M) returns, and what an ask of M replies (a Task<R> handler replies R).
template <class A, class M>
using HandlerResult = decltype(std::declval<A&>().handle(std::declval<M&&>()));
template <class A, class M>
using ReplyOf = typename TaskValue<HandlerResult<A, M>>::type;

// The reply of an ask: the value, or what the handler threw.
template <class R>
struct Reply {
  std::optional<Stored<R>> value;
  std::exception_ptr error;
};

// Where an ask's reply goes. Dropped without a reply, it closes: the asker sees "dead".
template <class R>
using ReplyTo = OneshotSender<Reply<R>>;

// what() of an exception, for messages.
std::string describe_exception(const std::exception_ptr& error);

class SupervisorCore;  // supervisor.hpp

// The steady clock in nanoseconds (the actors' timing).
inline std::int64_t steady_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A child of a supervisor: an actor (ActorCell) or a nested supervisor (supervisor.hpp).
// Thread-safety: every member function may be called from any thread.
class SupervisedChild {
 public:
  virtual ~SupervisedChild() = default;
  // Rebuild it: a sibling failed, or (a nested supervisor) its parent restarts it.
  virtual void restart_child() = 0;
  // Stop it with `code` (an escalation, or its supervisor stopping), for `reason`.
  virtual void stop_child(ExitCode code, std::string reason) = 0;
  // "child 3 'name'"-style naming, for reasons.
  [[nodiscard]] virtual const std::string& child_name() const noexcept = 0;
};

// A fresh id for an actor or a supervisor (never 0). Each thread takes ids in blocks of
// kActorIdBlock, so the actors a thread spawns in a row share a block: what per-thread state
// (the registry's shards, the live count) is keyed on, so that two threads spawning at once
// do not share a cache line.
std::uint64_t new_actor_id() noexcept;
inline constexpr std::uint64_t kActorIdBlock = 256;
[[nodiscard]] constexpr std::uint64_t actor_id_block(std::uint64_t id) noexcept {
  return (id - 1) / kActorIdBlock;
}

// The state shared by an actor's task and its refs (the non-template part lives in actor.cpp).
// Thread-safety: every member function may be called from any thread unless it says otherwise.
class ActorCell final : public SupervisedChild {
 public:
  ActorCell(std::string name, std::optional<Sender<ActorEvent>> events, Overflow overflow,
            std::size_t byte_quota, std::chrono::nanoseconds message_budget, bool timing);
  ~ActorCell() override;
  ActorCell(const ActorCell&) = delete;
  ActorCell& operator=(const ActorCell&) = delete;

  const std::uint64_t id;
  const std::string name;

  // Layout. What every message reads comes next, together (a ring of a thousand actors does
  // not keep every cell in cache); then at least 64 bytes of rarely written fields; then what
  // the actor writes at every message (state, received). Senders on another core read the
  // first group at every send, so the written group must not share its cache line.
  const Overflow overflow;

 private:
  // release/acquire: the terminating thread's writes (stop_code_, stop_reason_) are visible
  // to the actor that sees it.
  std::atomic<bool> terminate_requested_{false};
  // release/acquire: the posted control message is visible to the actor that sees the flag.
  std::atomic<bool> control_pending_{false};

 public:
  ByteAccount* const account;  // the byte quota's account (a reference), or null
  struct Timing;  // below
  const std::unique_ptr<Timing> timing;  // null unless timed (ActorOptions::timing)

  // Rarely written (a refused send, an event lost, a restart, the registry's list): 64 bytes.
  // Counters: relaxed, each a statistic read as a snapshot.
  std::atomic<std::uint64_t> dead_letters{0}, dropped{0}, rejected{0}, lost_events{0},
      restarts{0}, slow_messages{0};  // slow_messages: written by the watchdog only
  // The registry's links (registry.cpp), guarded by its shard's lock.
  ActorCell* registry_prev = nullptr;
  ActorCell* registry_next = nullptr;

  // Written by the actor's own task at every message.
  // What the actor does now; relaxed: a statistic.
  std::atomic<ActorState> state{ActorState::starting};
  void set_state(ActorState now) noexcept { state.store(now, std::memory_order_relaxed); }
  std::atomic<std::uint64_t> received{0};

  // Fails the actor (throws Error(resource_exhausted)) if it went past its byte quota. Its own
  // task only.
  void check_quota() const {
    if (account != nullptr && account->exceeded()) throw_quota_exceeded();
  }

  // Only the actor's own task counts `received`: a plain load and store, no locked op.
  void count_received() noexcept {
    received.store(received.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  // The mailbox, for its depth (a channel reference, not a sender: it never keeps the actor
  // alive). Set once before the task starts.
  void watch_mailbox(ChanBase& chan, std::size_t (*depth)(const ChanBase&)) noexcept;
  [[nodiscard]] std::size_t mailbox_depth() const noexcept {
    return mailbox_ == nullptr ? 0 : mailbox_depth_(*mailbox_);
  }
  bool registered = false;  // its name is registered (set before the task starts)
  // Overflow::drop_oldest: a sender that finds the mailbox full takes its oldest message out,
  // so the mailbox has more than one consumer; they take turns under this lock (the actor's
  // receive and every eviction). Empty for the other policies: they pay nothing.
  [[nodiscard]] std::unique_lock<std::mutex> consumer_turn() {
    return overflow == Overflow::drop_oldest ? std::unique_lock<std::mutex>(*consumer_mutex_)
                                             : std::unique_lock<std::mutex>();
  }
  bool listed = false;  // in the registry's list (guarded by its shard's lock)
  // A task actor owns its receive loop, so a restart cannot wait for it at the control lane:
  // its task is cancelled at its next await point and its ActorLife starts a new one (set
  // before the task starts, then read-only). (Beside the other flags, it fills padding: with
  // libstdc++ the cell and its make_shared block take 512 bytes, a size class lower.)
  bool restart_by_cancel = false;

  // --- handler timing and the watchdog (ActorOptions::timing, message_budget) ---------------
  // Null unless timed. Written by the actor's own task (single writer: plain loads and
  // stores of relaxed atomics); read by the watchdog and by snapshots.
  struct Timing {
    std::chrono::nanoseconds budget{0};
    std::atomic<std::int64_t> since_ns{0};       // the running handler's start; 0: none
    std::atomic<const char*> type{nullptr};      // its message type (mangled), or null
    std::atomic<std::uint64_t> seq{0};           // handlers started
    std::uint64_t reported_seq = 0;              // the watchdog's own: last one reported
    struct Histogram {
      std::array<std::atomic<std::uint64_t>, TimeHistogram::kBuckets> buckets{};
      std::atomic<std::uint64_t> sum_ns{0};
      void record(std::int64_t ns) noexcept;  // single writer
      [[nodiscard]] TimeHistogram snapshot() const noexcept;
    };
    Histogram run;   // handler run times
    Histogram wait;  // mailbox waits
  };
  [[nodiscard]] bool timed() const noexcept { return timing != nullptr; }
  // A handler starts: `type` names its message, queued_ns is when the message was queued
  // (steady_ns(); 0: not through the mailbox).
  void begin_handler(const char* type, std::int64_t queued_ns) noexcept;
  void end_handler() noexcept;
  [[nodiscard]] TimeHistogram processing_times() const noexcept;
  [[nodiscard]] TimeHistogram mailbox_waits() const noexcept;
  // The watchdog's check: reports a handler past its budget (once per message).
  void check_budget(std::int64_t now_ns);

  void emit(ActorEvent::Kind kind, ExitCode code = ExitCode::normal, std::string what = {},
            std::exception_ptr error = nullptr) noexcept ABSL_LOCKS_EXCLUDED(mutex_);
  // The actor's task, for terminate() and the control lane: stored right after spawning (a
  // task actor's restart stores its new task).
  void attach(JoinHandle<void> task) ABSL_LOCKS_EXCLUDED(mutex_);

  // --- stopping ------------------------------------------------------------------------------
  // Stops the actor at its next await point with `code` (the first request's code and reason
  // win): terminate() asks for ExitCode::terminated, a supervisor or a link for stopped.
  void request_terminate(ExitCode code = ExitCode::terminated, std::string reason = {})
      ABSL_LOCKS_EXCLUDED(mutex_);
  [[nodiscard]] bool terminate_requested() const noexcept {
    // acquire: pairs with request_terminate's release: the code and reason are visible.
    return terminate_requested_.load(std::memory_order_acquire);
  }
  // The requested code; only after terminate_requested() returned true.
  [[nodiscard]] ExitCode requested_code() const noexcept { return stop_code_; }

  // --- the control lane ----------------------------------------------------------------------
  // Supervision and death-watch messages bypass the mailbox: never dropped, never blocked by a
  // full mailbox, and taken before the next queued message. Posting wakes the actor's task.
  struct Control {
    bool restart = false;           // rebuild the actor (a sibling failed: one_for_all, ...)
    std::vector<ActorDown> downs;   // watched actors that exited
  };
  void post_restart() ABSL_LOCKS_EXCLUDED(mutex_);
  void post_down(ActorDown down) ABSL_LOCKS_EXCLUDED(mutex_);
  [[nodiscard]] bool control_pending() const noexcept {
    // acquire: pairs with the posting release; take_control's lock orders the rest.
    return control_pending_.load(std::memory_order_acquire);
  }
  Control take_control() ABSL_LOCKS_EXCLUDED(mutex_);  // the actor's own task only

  // --- exit ----------------------------------------------------------------------------------
  // Runs `hook` with the actor's final exit (a restart is not an exit): on the exiting actor's
  // thread, or at once on this thread if it has already exited. Hooks must not throw.
  void on_exit(std::function<void(const ActorDown&)> hook) ABSL_LOCKS_EXCLUDED(mutex_);
  // Why the actor failed (the error's what()), reported in its ActorDown. Its own task only.
  void set_failure(std::string what) { failure_ = std::move(what); }
  // Recorded once by the task: marks the state exited, sends the exit event, runs the exit
  // hooks, then opens `exited`.
  void record_exit(ExitCode code) noexcept ABSL_LOCKS_EXCLUDED(mutex_);
  [[nodiscard]] ExitCode exit_code() const noexcept { return exit_code_; }  // after `exited`
  Latch exited{1};

  // --- supervision ---------------------------------------------------------------------------
  // Set before the actor's task starts, then read-only.
  std::shared_ptr<SupervisorCore> supervisor;
  std::size_t child_index = 0;
  // After a failure (the error event already emitted): true if the actor must be rebuilt,
  // as its supervisor decided; false (unsupervised, or the supervisor escalated) to exit.
  bool restart_after_failure(ExitCode code);
  // Counts a restart, emits 'restart' (with the code that caused it) and marks the actor
  // restarting. Its own task only.
  void note_restart(ExitCode cause) noexcept;
  // SupervisedChild.
  void restart_child() override {
    if (restart_by_cancel) {
      request_restart();
    } else {
      post_restart();
    }
  }
  // Cancels the task for a restart (unless it is terminating or has exited).
  void request_restart() ABSL_LOCKS_EXCLUDED(mutex_);
  // True once, after request_restart: the dropped task must be started again.
  bool take_restart_request() ABSL_LOCKS_EXCLUDED(mutex_);
  void stop_child(ExitCode code, std::string reason) override {
    request_terminate(code, std::move(reason));
  }
  [[nodiscard]] const std::string& child_name() const noexcept override { return name; }

  // Live actors in the process (created and not yet destroyed cells): a leak check.
  static std::uint64_t live() noexcept;

 private:
  [[noreturn]] void throw_quota_exceeded() const;

  // See consumer_turn(). A plain std::mutex, not a detail::PlainMutex: it guards no field of the
  // cell (the consumer side of the mailbox channel, which has its own lock), and it is taken
  // only for drop_oldest, a conditional lock the thread-safety analysis cannot follow. Made
  // for drop_oldest only (null otherwise): 40 bytes every other actor does not carry.
  const std::unique_ptr<std::mutex> consumer_mutex_;
  ChanBase* mailbox_ = nullptr;  // holds a channel reference
  std::size_t (*mailbox_depth_)(const ChanBase&) = nullptr;
  // Every spawn and exit takes it (attach, record_exit), for a few stores; the longest holds
  // post an event or queue a control message (no waits, no user code): a SpinMutex.
  detail::SpinMutex mutex_;
  std::optional<Sender<ActorEvent>> events_ ABSL_GUARDED_BY(mutex_);
  const bool has_events_;  // events_ was given: emit() takes the lock
  JoinHandle<void> task_ ABSL_GUARDED_BY(mutex_);
  Control control_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::function<void(const ActorDown&)>> exit_hooks_ ABSL_GUARDED_BY(mutex_);
  bool has_exited_ ABSL_GUARDED_BY(mutex_) = false;
  bool restart_requested_ ABSL_GUARDED_BY(mutex_) = false;  // request_restart
  // Written once, before terminate_requested_: requested_code() reads it without the lock
  // once it has seen the flag (acquire), so it is not ABSL_GUARDED_BY.
  ExitCode stop_code_ = ExitCode::terminated;
  std::string stop_reason_ ABSL_GUARDED_BY(mutex_);  // likewise written once; read under it
  std::string failure_;                              // the actor's task only
  ExitCode exit_code_ = ExitCode::normal;            // written before exited.count_down()
};

// Throws Error(invalid_argument) for options no actor can have (actor.cpp).
void check_options(const ActorOptions& options);
// Lists the cell, puts it under the watchdog if budgeted, and spawns its task (actor.cpp).
void launch(Runtime& runtime, const ActorOptions& options, const std::shared_ptr<ActorCell>& cell,
            Task<void> task);
// Spawns a new task for an actor already launched (a task actor's restart) and attaches it.
// Throws Error(shut_down) once the runtime has shut down.
void relaunch(Runtime& runtime, ActorCell& cell, bool dedicated, Task<void> task);
// Puts the cell under the process's watchdog thread (watchdog.cpp), started on first use.
void watch_budget(const std::shared_ptr<ActorCell>& cell);
// The process-wide list of cells (registry.cpp): every spawned cell until its destruction.
void registry_add(ActorCell& cell);
void registry_remove(ActorCell& cell) noexcept;
// Stops each cell when the other fails (troupe::link).
void link_cells(const std::shared_ptr<ActorCell>& a, const std::shared_ptr<ActorCell>& b);
// Registers the cell's name with a sending handle for look-up (registry.cpp): throws
// Error(invalid_argument) if the name is empty or taken. Unregistered when the actor exits.
void register_name(const std::shared_ptr<ActorCell>& cell, std::type_index type,
                   std::shared_ptr<void> sender);
// Makes `child` a child of `supervisor` (supervisor.cpp): sets its supervisor and index and
// hooks its exit. Throws Error(shut_down) once the supervisor has ended.
void adopt_child(const std::shared_ptr<SupervisorCore>& supervisor,
                 const std::shared_ptr<ActorCell>& child);

// One message in an actor's mailbox, its type erased: the message, and for an ask where the
// reply goes. Small messages live inline (no allocation); larger ones on the heap.
template <class A>
class Envelope {
 public:
  // `timed`: note when it is queued, for the actor's mailbox-wait histogram.
  template <class M>
  static Envelope tell(M&& message, bool timed) {
    return Envelope(timed, std::in_place_type<Told<std::decay_t<M>>>, std::forward<M>(message));
  }
  template <class M>
  static Envelope ask(M&& message, ReplyTo<ReplyOf<A, std::decay_t<M>>> reply, bool timed) {
    return Envelope(timed, std::in_place_type<Asked<std::decay_t<M>>>, std::forward<M>(message),
                    std::move(reply));
  }

  // The message of a tell that could not be sent, handed back.
  template <class M>
  static M take(Envelope&& envelope) {
    return std::move(payload<Told<M>>(envelope.storage_).message);
  }

  // A mailbox moves an envelope twice (into its slot, out of it): a trivially copyable
  // payload is copied inline, anything else relocated through its ops table. Always inlined:
  // GCC otherwise calls it out of line from the queue's push and pop (27 instructions a move).
  [[gnu::always_inline]] Envelope(Envelope&& other) noexcept
      : ops_(std::exchange(other.ops_, nullptr)), queued_ns_(other.queued_ns_) {
    if (ops_ == nullptr) return;
    if (ops_->trivial) {
      std::memcpy(storage_, other.storage_, kInline);
    } else {
      ops_->relocate(storage_, other.storage_);
    }
  }
  Envelope& operator=(Envelope&&) = delete;
  ~Envelope() {
    if (ops_ != nullptr && !ops_->trivial) ops_->destroy(storage_);
  }

  // The message's type (typeid name, mangled), for the watchdog's reports.
  [[nodiscard]] const char* type_name() const noexcept { return ops_->type->name(); }
  // When it was queued (steady_ns()), or 0 if not timed.
  [[nodiscard]] std::int64_t queued_ns() const noexcept { return queued_ns_; }

  // Runs the handler. A coroutine handler returns the Task to co_await; a plain one has
  // finished (and replied) when this returns. Throws what the handler threw (after giving it
  // to the asker).
  std::optional<Task<void>> deliver(A& actor) { return ops_->deliver(storage_, actor); }

 private:
  // 40 bytes inline, 8-aligned: the envelope is 56 bytes, and a mailbox slot (its 8-byte
  // stamp and the envelope) is one 64-byte cache line. A 48-byte, 16-aligned inline buffer
  // made the slot 80 bytes, two or three lines per message, which a fan-in across cores pays
  // for at every message (BENCHMARKS.md).
  static constexpr std::size_t kInline = 40;
  static constexpr std::size_t kInlineAlign = alignof(std::uint64_t);

  template <class M>
  struct Told {
    using Message = M;
    M message;
    std::optional<Task<void>> deliver(A& actor) {
      if constexpr (std::is_same_v<HandlerResult<A, M>, Task<void>>) {
        return actor.handle(std::move(message));  // nothing to discard: no wrapping frame
      } else if constexpr (TaskValue<HandlerResult<A, M>>::coroutine) {
        return discard(actor.handle(std::move(message)));
      } else {
        (void)actor.handle(std::move(message));
        return std::nullopt;
      }
    }
    template <class T>
    static Task<void> discard(Task<T> task) {
      (void)co_await std::move(task);
    }
  };

  template <class M>
  struct Asked {
    using Message = M;
    using R = ReplyOf<A, M>;
    M message;
    ReplyTo<R> reply;
    std::optional<Task<void>> deliver(A& actor) {
      if constexpr (TaskValue<HandlerResult<A, M>>::coroutine) {
        return answer(actor.handle(std::move(message)), std::move(reply));
      } else {
        try {
          if constexpr (std::is_void_v<R>) {
            actor.handle(std::move(message));
            (void)reply.send(Reply<R>{std::monostate{}, nullptr});
          } else {
            (void)reply.send(Reply<R>{actor.handle(std::move(message)), nullptr});
          }
        } catch (...) {
          (void)reply.send(Reply<R>{std::nullopt, std::current_exception()});
          throw;
        }
        return std::nullopt;
      }
    }
    static Task<void> answer(Task<R> task, ReplyTo<R> reply) {
      try {
        if constexpr (std::is_void_v<R>) {
          co_await std::move(task);
          (void)reply.send(Reply<R>{std::monostate{}, nullptr});
        } else {
          (void)reply.send(Reply<R>{co_await std::move(task), nullptr});
        }
      } catch (...) {
        (void)reply.send(Reply<R>{std::nullopt, std::current_exception()});
        throw;
      }
    }
  };

  struct Ops {
    bool trivial;  // inline and trivially copyable: relocate is a memcpy, destroy nothing
    const std::type_info* type;  // the message's
    void (*relocate)(void* to, void* from) noexcept;
    void (*destroy)(void* at) noexcept;
    std::optional<Task<void>> (*deliver)(void* at, A& actor);
  };

  template <class P>
  static constexpr bool kInlined = sizeof(P) <= kInline &&  // NOLINT(misc-redundant-expression)
                                   alignof(P) <= kInlineAlign &&
                                   std::is_nothrow_move_constructible_v<P>;

  template <class P>
  static P& payload(void* at) noexcept {
    if constexpr (kInlined<P>) {
      return *std::launder(static_cast<P*>(at));
    } else {
      return **std::launder(static_cast<P**>(at));
    }
  }

  template <class P>
  static constexpr Ops kOps{
      kInlined<P> && std::is_trivially_copyable_v<P>,
      &typeid(typename P::Message),
      [](void* to, void* from) noexcept {
        if constexpr (kInlined<P>) {
          ::new (to) P(std::move(payload<P>(from)));
          payload<P>(from).~P();
        } else {
          ::new (to) P*(*std::launder(static_cast<P**>(from)));
        }
      },
      [](void* at) noexcept {
        if constexpr (kInlined<P>) {
          payload<P>(at).~P();
        } else {
          delete &payload<P>(at);
        }
      },
      [](void* at, A& actor) { return payload<P>(at).deliver(actor); },
  };

  template <class P, class... Args>
  explicit Envelope(bool timed, std::in_place_type_t<P> /*payload*/, Args&&... args)
      : queued_ns_(timed ? steady_ns() : 0) {
    if constexpr (kInlined<P>) {
      ::new (static_cast<void*>(storage_)) P{std::forward<Args>(args)...};
    } else {
      ::new (static_cast<void*>(storage_)) P*(new P{std::forward<Args>(args)...});
    }
    ops_ = &kOps<P>;
  }

  const Ops* ops_ = nullptr;
  std::int64_t queued_ns_ = 0;
  alignas(kInlineAlign) unsigned char storage_[kInline];
};

}  // namespace detail

// Each message type is checked at the ActorRef (HandledBy, Sendable); the envelope only
// carries those, and its reply channel.
template <class A>
inline constexpr bool enable_sendable<detail::Envelope<A>> = true;
template <class R>
inline constexpr bool enable_sendable<detail::Reply<R>> = Sendable<detail::Stored<R>>;

// ---- ActorRef -----------------------------------------------------------------------------------

// The lifecycle half of a reference to an actor, shared by ActorRef (handler actors) and
// TaskActorRef (task actors, task_actor.hpp): identity, terminate, exit waits, statistics.
// Copyable; every member function is thread-safe. Empty (default-constructed or moved from):
// every operation but valid() throws Error(invalid_handle).
class ActorHandle {
 public:
  ActorHandle() = default;

  [[nodiscard]] bool valid() const noexcept { return cell_ != nullptr; }
  [[nodiscard]] std::uint64_t id() const { return cell().id; }
  [[nodiscard]] const std::string& name() const { return cell().name; }

  // Stops the actor at its next await point (see actor.hpp's header comment) and waits for
  // its exit.
  Task<ExitCode> terminate();
  ExitCode blocking_terminate();
  // Waits for the actor to stop, without asking it to.
  Task<ExitCode> exited();
  ExitCode blocking_wait_exit();
  // False from the moment the actor is recorded as exited, before its exit event is sent:
  // whoever receives that event finds it false, and exit codes final.
  [[nodiscard]] bool is_alive() const {
    // acquire: pairs with record_exit's release store of the exited state.
    return cell().state.load(std::memory_order_acquire) != ActorState::exited;
  }
  // terminate() has been called (the actor may still be finishing its current message).
  [[nodiscard]] bool terminating() const { return cell().terminate_requested(); }
  [[nodiscard]] ActorStats stats() const;

 protected:
  explicit ActorHandle(std::shared_ptr<detail::ActorCell> cell) : cell_(std::move(cell)) {}
  // Inline: every tell reads it a few times; the throw stays out of line.
  detail::ActorCell& cell() const {
    if (cell_ == nullptr) [[unlikely]] throw_empty();
    return *cell_;
  }
  [[noreturn]] static void throw_empty();

  std::shared_ptr<detail::ActorCell> cell_;
};

template <class A>
class ActorRef;

namespace detail {
template <class A, class M>
class TellOp;

// Overflow::drop_oldest: takes the oldest message out of a full mailbox (in the actor's
// consumer turn) and drops it, counted in `dropped`; an ask among them sees its reply
// channel close (dead). The message is destroyed after the turn.
template <class A>
void evict_oldest(ActorCell& cell, Chan<Envelope<A>>& mailbox) {
  std::optional<Envelope<A>> oldest;
  {
    auto turn = cell.consumer_turn();
    (void)mailbox.recv(oldest, kForever, false);
  }
  if (oldest) cell.dropped.fetch_add(1, std::memory_order_relaxed);
}
// The library's way into an ActorRef (spawning, watch, link, supervision).
struct ActorRefAccess {
  template <class A>
  static ActorRef<A> make(Sender<Envelope<A>> tx, std::shared_ptr<ActorCell> cell) {
    return ActorRef<A>(std::move(tx), std::move(cell));
  }
  template <class A>
  static const std::shared_ptr<ActorCell>& cell(const ActorRef<A>& ref) {
    (void)ref.cell();  // throws for an empty handle
    return ref.cell_;
  }
};
}  // namespace detail

template <class A>
class ActorRef : public ActorHandle {
 public:
  ActorRef() = default;  // empty: every operation throws Error(invalid_handle)

  // Fire and forget. Never blocks; on a full mailbox the overflow policy decides (backpressure
  // and reject: Full, the message handed back; drop_newest: Told::dropped). Closed, with the
  // message handed back, once the actor has stopped (a dead letter).
  template <class M>
    requires HandledBy<std::decay_t<M>, A>
  TellResult<std::decay_t<M>> tell(M&& message) {
    using Msg = std::decay_t<M>;
    static_assert(Sendable<Msg>, "ActorRef::tell: the message must be Sendable; "
                                 "troupe::why_not_sendable<M>() says why");
    Msg owned(std::forward<M>(message));
    // The envelope goes from here straight into the mailbox slot (no by-value hop through
    // try_send), and stays here if refused, to hand the message back.
    auto envelope = detail::Envelope<A>::tell(std::move(owned), cell().timed());
    const detail::SendStatus status = offer_status(envelope);
    if (status == detail::SendStatus::ok) return Told::queued;
    return refused_tell<Msg>(detail::error_kind_of(status), std::move(envelope));
  }

  // Sends, waiting for room in a full mailbox under Overflow::backpressure (the awaited form
  // of tell, for tasks): `co_await ref.send(m)` yields TellResult<M>. Other policies: as tell.
  // The operation borrows this ActorRef (as Sender::send borrows its Sender): keep it alive
  // until the co_await completes. No allocation: it is the mailbox's own awaited send.
  template <class M>
    requires HandledBy<std::decay_t<M>, A>
  Awaitable<detail::TellOp<A, M>> send(M message) {
    static_assert(Sendable<M>, "ActorRef::send: the message must be Sendable");
    return Awaitable<detail::TellOp<A, M>>(std::in_place, *this, std::move(message));
  }
  // The thread form of send.
  template <class M>
    requires HandledBy<std::decay_t<M>, A>
  TellResult<std::decay_t<M>> blocking_send(M message) {
    static_assert(Sendable<M>, "ActorRef::blocking_send: the message must be Sendable");
    if (cell().overflow != Overflow::backpressure) return tell(std::move(message));
    return told<M>(tx_checked().blocking_send(
        detail::Envelope<A>::tell(std::move(message), cell().timed())));
  }

  // Request/reply: the handler's return value, or an AskError (dead, timeout, failed, full,
  // dropped). The timeout (> 0) bounds the whole ask: under Overflow::backpressure the wait
  // for room in a full mailbox (the request is then given up, never queued) and the wait for
  // the reply. (`Self` defers naming A's handlers to the call, so an actor may hold an
  // ActorRef to its own type.)
  template <class M, class Rep, class Period, class Self = A>
    requires HandledBy<std::decay_t<M>, Self>
  Task<AskResult<detail::ReplyOf<Self, M>>> ask(M message,
                                                 std::chrono::duration<Rep, Period> timeout) {
    using R = detail::ReplyOf<Self, M>;
    check_ask<M, R>();
    check_timeout(timeout);
    ActorRef self = *this;
    auto [reply_tx, reply_rx] = oneshot<detail::Reply<R>>();
    auto envelope =
        detail::Envelope<A>::ask(std::move(message), std::move(reply_tx), self.cell().timed());
    const Clock::time_point deadline =
        detail::saturating_deadline(now(), detail::saturating_duration(timeout, true));
    std::optional<AskError> refused;
    if (self.cell().overflow == Overflow::backpressure) {
      using Mail = detail::Envelope<A>;
      auto sent = co_await detail::timeout_at(
          deadline, std::in_place_type<detail::SendOp<Sender<Mail>, Mail>>,
          detail::ChannelAccess::chan(self.tx_checked()), std::move(envelope));
      if (!sent) co_return self.template ask_failure<R>(AskErrc::timeout, true);
      if (!*sent) refused = self.refusal(sent->error().kind());
    } else {
      auto sent = self.offer(std::move(envelope));
      if (!sent) refused = self.refusal(sent.error().kind());
    }
    if (refused) co_return AskResult<R>(failure, std::move(*refused));
    auto reply = co_await detail::timeout_at(deadline, reply_rx.recv());
    if (!reply) co_return self.template ask_failure<R>(AskErrc::timeout);
    co_return self.template answered<R>(std::move(*reply));
  }
  // The thread form of ask.
  template <class M, class Rep, class Period, class Self = A>
    requires HandledBy<std::decay_t<M>, Self>
  AskResult<detail::ReplyOf<Self, M>> blocking_ask(M message,
                                                   std::chrono::duration<Rep, Period> timeout) {
    using R = detail::ReplyOf<Self, M>;
    check_ask<M, R>();
    check_timeout(timeout);
    auto [reply_tx, reply_rx] = oneshot<detail::Reply<R>>();
    auto envelope =
        detail::Envelope<A>::ask(std::move(message), std::move(reply_tx), cell().timed());
    const auto deadline = detail::saturating_deadline(std::chrono::steady_clock::now(),
                                                      detail::saturating_duration(timeout, true));
    auto sent = cell().overflow == Overflow::backpressure
                    ? tx_checked().send_until(std::move(envelope), deadline)
                    : offer(std::move(envelope));
    if (!sent && sent.error().kind() == SendErrorKind::timeout) {
      return ask_failure<R>(AskErrc::timeout, true);  // the request dies with the error
    }
    if (!sent) return AskResult<R>(failure, refusal(sent.error().kind()));
    auto reply = reply_rx.recv_until(deadline);
    if (!reply && reply.error() == RecvError::timeout) return ask_failure<R>(AskErrc::timeout);
    return answered<R>(std::move(reply));
  }

 private:
  friend struct detail::ActorRefAccess;
  template <class, class>
  friend class detail::TellOp;

  ActorRef(Sender<detail::Envelope<A>> tx, std::shared_ptr<detail::ActorCell> cell)
      : ActorHandle(std::move(cell)), tx_(std::move(tx)) {}
  Sender<detail::Envelope<A>>& tx_checked() {
    (void)cell();
    return tx_;
  }
  const Sender<detail::Envelope<A>>& tx_checked() const {
    (void)cell();
    return tx_;
  }

  template <class M, class R>
  static constexpr void check_ask() {
    static_assert(Sendable<M>, "ActorRef::ask: the message must be Sendable");
    static_assert(Sendable<detail::Stored<R>>,
                  "ActorRef::ask: the handler's reply type must be Sendable");
  }
  template <class Rep, class Period>
  static void check_timeout(std::chrono::duration<Rep, Period> timeout) {
    if (!(timeout > timeout.zero())) {  // NaN too
      throw Error(ErrorCode::invalid_argument,
                  "ActorRef::ask: the timeout must be positive, got " +
                      std::to_string(detail::saturating_duration(timeout, true).count()) + " ns");
    }
  }

  // One non-blocking send; `envelope` is moved into the mailbox only on ok. Under
  // Overflow::drop_oldest a full mailbox gives up its oldest message for this one
  // (evict_oldest) until it fits or the mailbox is closed; every other policy makes one
  // attempt.
  detail::SendStatus offer_status(detail::Envelope<A>& envelope) {
    detail::Chan<detail::Envelope<A>>& chan = mailbox_chan();
    for (;;) {
      const detail::SendStatus status = chan.send(envelope, detail::kForever, false);
      if (status != detail::SendStatus::full || cell().overflow != Overflow::drop_oldest) {
        return status;
      }
      detail::evict_oldest(cell(), chan);
    }
  }
  SendResult<detail::Envelope<A>> offer(detail::Envelope<A>&& envelope) {
    return detail::send_result(offer_status(envelope), envelope);
  }
  detail::Chan<detail::Envelope<A>>& mailbox_chan() const {
    return detail::ChannelAccess::chan(tx_checked());
  }

  // A tell's outcome, and its bookkeeping.
  template <class M>
  TellResult<M> told(SendResult<detail::Envelope<A>>&& sent) const {
    if (sent) return Told::queued;
    const SendErrorKind kind = sent.error().kind();
    return refused_tell<M>(kind, std::move(sent).error().into_message());
  }
  // A tell the mailbox refused: counted, and the message handed back (unless dropped).
  template <class M>
  TellResult<M> refused_tell(SendErrorKind kind, detail::Envelope<A>&& envelope) const {
    detail::ActorCell& c = cell();
    if (kind == SendErrorKind::closed) {
      c.dead_letters.fetch_add(1, std::memory_order_relaxed);
    } else if (c.overflow == Overflow::drop_newest) {
      c.dropped.fetch_add(1, std::memory_order_relaxed);
      return Told::dropped;
    } else {
      c.rejected.fetch_add(1, std::memory_order_relaxed);
    }
    return TellResult<M>(failure, kind, detail::Envelope<A>::template take<M>(std::move(envelope)));
  }

  AskError refusal(SendErrorKind kind) {
    detail::ActorCell& c = cell();
    if (kind == SendErrorKind::closed) {
      c.dead_letters.fetch_add(1, std::memory_order_relaxed);
      return AskError(AskErrc::dead, "ask " + describe() + ": the actor has stopped");
    }
    if (c.overflow == Overflow::drop_newest) {
      c.dropped.fetch_add(1, std::memory_order_relaxed);
      return AskError(AskErrc::dropped, "ask " + describe() + ": mailbox full, request dropped");
    }
    c.rejected.fetch_add(1, std::memory_order_relaxed);
    return AskError(AskErrc::full, "ask " + describe() + ": mailbox full");
  }
  // `unqueued`: a timeout that passed while the request waited for room in a full mailbox.
  template <class R>
  AskResult<R> ask_failure(AskErrc code, bool unqueued = false) {
    // Counted with the refusals of a full mailbox: the request never reached the actor.
    if (unqueued) cell().rejected.fetch_add(1, std::memory_order_relaxed);
    return AskResult<R>(
        failure, code,
        "ask " + describe() +
            (unqueued                    ? ": the mailbox stayed full for the whole timeout"
             : code == AskErrc::timeout  ? ": no reply within the timeout"
                                         : ": the actor stopped before replying"),
        nullptr, unqueued);
  }
  template <class R>
  AskResult<R> answered(RecvResult<detail::Reply<R>>&& reply) {
    if (!reply) return ask_failure<R>(AskErrc::dead);
    detail::Reply<R>& got = *reply;
    if (got.error) {
      return AskResult<R>(failure, AskErrc::failed,
                          "ask " + describe() + ": the handler threw: " +
                              detail::describe_exception(got.error),
                          got.error);
    }
    if constexpr (std::is_void_v<R>) {
      return AskResult<R>();
    } else {
      return AskResult<R>(std::move(*got.value));
    }
  }
  std::string describe() const {
    const detail::ActorCell& c = cell();
    return "actor " + std::to_string(c.id) + (c.name.empty() ? "" : " '" + c.name + "'");
  }
  Sender<detail::Envelope<A>> tx_;
};

namespace detail {
// The PollOp behind ActorRef::send: the mailbox's awaited send (SendOp), whose result becomes a
// TellResult with the actor's bookkeeping. Under a policy other than backpressure it makes one
// attempt and completes (Full is then the policy's answer, as for tell).
template <class A, class M>
class TellOp {
 public:
  static constexpr bool kOwnsPayload = true;
  TellOp(const ActorRef<A>& ref, M&& message)
      : ref_(&ref),
        waits_(ref.cell().overflow == Overflow::backpressure),
        send_(ChannelAccess::chan(ref.tx_checked()),
              Envelope<A>::tell(std::move(message), ref.cell().timed())) {}
  bool ready_now() {
    while (!send_.ready_now()) {
      if (waits_) return false;
      if (ref_->cell().overflow != Overflow::drop_oldest) return true;  // Full: the answer
      evict_oldest(ref_->cell(), ChannelAccess::chan(ref_->tx_checked()));
    }
    return true;
  }
  bool poll(Waker& waker) {
    if (!waits_) return ready_now();  // reached only when the budget made us yield first
    return send_.poll(waker);
  }
  void cancel(Waker& waker) noexcept { send_.cancel(waker); }
  TellResult<M> take() { return ref_->template told<M>(send_.take()); }

 private:
  const ActorRef<A>* ref_;
  bool waits_;
  SendOp<Sender<Envelope<A>>, Envelope<A>> send_;
};
}  // namespace detail

// An ActorRef is a thread-safe handle (like Sender): actors pass them in messages.
template <class A>
inline constexpr bool enable_sendable<ActorRef<A>> = true;

// ---- spawning -----------------------------------------------------------------------------------

namespace detail {

template <class A>
concept HasOnStart = requires(A& actor) { actor.on_start(); };
template <class A>
concept HasOnStop = requires(A& actor) { actor.on_stop(); };

// An error leaving the actor: resource_exhausted for Error(resource_exhausted), otherwise
// `otherwise`. Emits 'error' and keeps the description for the actor's ActorDown.
ExitCode fail_with(ActorCell& cell, const std::exception_ptr& error, ExitCode otherwise);

// The actor's task's hold on its cell and mailbox, passed to the task's coroutine by value so
// that it lives in the coroutine frame from the start: however the task ends — returning,
// failing, or dropped by terminate() or shutdown, even before it ever ran — its destruction
// finishes the actor: the mailbox is closed and what is queued becomes dead letters, then
// 'exit' is emitted and the exit recorded. (Parameters outlive the frame's locals, so the
// actor object is gone by then.)
// (Templated on the mailbox's message type: Envelope<A> for handler actors, the task actor's
// own message type for task actors, task_actor.hpp.)
template <class Mail>
class ActorLife {
 public:
  // Starts a new task for the actor from this life (a supervised task actor's restart): it
  // spawns and attaches the task, or throws (the runtime is shutting down) — the life it was
  // given then ended with that task.
  using Relaunch = std::function<void(ActorLife&&)>;

  ActorLife(std::shared_ptr<ActorCell> cell, Receiver<Mail> mailbox, Relaunch relaunch = {})
      : cell_(std::move(cell)), mailbox_(std::move(mailbox)), relaunch_(std::move(relaunch)) {}
  ActorLife(ActorLife&& other) noexcept
      : cell_(std::move(other.cell_)),
        mailbox_(std::move(other.mailbox_)),
        relaunch_(std::move(other.relaunch_)),
        code_(other.code_) {}
  ActorLife& operator=(ActorLife&&) = delete;
  ~ActorLife() {
    if (cell_ == nullptr) return;  // moved from
    if (relaunch_ && !code_ && cell_->take_restart_request()) {
      // Cancelled for a restart (a sibling failed): the mailbox, queued mail and cell carry
      // over to a new task.
      cell_->note_restart(ExitCode::normal);
      // The new task may run, end and drop the cell before relaunch() has attached it: hold
      // the cell until then.
      const std::shared_ptr<ActorCell> keep = cell_;
      try {
        Relaunch relaunch = relaunch_;
        relaunch(std::move(*this));
      } catch (...) {
        // The life moved into a task that could not be spawned (the runtime is shutting
        // down) ended with it. If it did not move (no memory for the new task), the actor
        // fails here.
        if (cell_ != nullptr) {
          code_ = fail_with(*cell_, std::current_exception(), ExitCode::failed);
        }
      }
      if (cell_ == nullptr) return;
    }
    const ExitCode code = code_.value_or(
        cell_->terminate_requested() ? cell_->requested_code() : ExitCode::shut_down);
    mailbox_.close();
    for (;;) {
      auto left = [&] {
        auto turn = cell_->consumer_turn();
        return mailbox_.try_recv();
      }();
      if (left) {
        // Destroyed here: an ask among them sees its reply channel close.
        cell_->dead_letters.fetch_add(1, std::memory_order_relaxed);
      } else if (left.error() == RecvError::closed) {
        break;  // closed and drained
      } else {
        std::this_thread::yield();  // a sender claimed a slot before the close: let it land
      }
    }
    cell_->record_exit(code);  // and the exit event
  }

  ActorCell& cell() noexcept { return *cell_; }
  Receiver<Mail>& mailbox() noexcept { return mailbox_; }
  void set(ExitCode code) noexcept { code_ = code; }

 private:
  std::shared_ptr<ActorCell> cell_;
  Receiver<Mail> mailbox_;
  Relaunch relaunch_;
  std::optional<ExitCode> code_;
};

// What the actor's loop takes next: the control lane (taken first), a message, or the end of
// the mailbox (every ActorRef gone and nothing queued).
// `envelope` points into the operation, which the loop keeps until it has delivered it (one
// relocation fewer per message than moving it out).
template <class A>
struct Mail {
  bool control = false;
  std::optional<Envelope<A>>* envelope = nullptr;
};

// Awaits the control lane and the mailbox at once: a receive whose poll looks at the control
// flag first. A post wakes the task (JoinHandle::wake), so a receive parked on an empty
// mailbox is polled again and sees it.
template <class A>
class MailOp {
 public:
  MailOp(ActorCell& cell, Receiver<Envelope<A>>& mailbox)
      : cell_(&cell), recv_(ChannelAccess::chan(mailbox)) {}
  bool ready_now() {
    if (cell_->control_pending()) return control_ = true;
    auto turn = cell_->consumer_turn();
    return recv_.ready_now();
  }
  bool poll(Waker& waker) {
    auto turn = cell_->consumer_turn();
    if (cell_->control_pending()) {
      recv_.cancel(waker);
      return control_ = true;
    }
    return recv_.poll(waker);
  }
  void cancel(Waker& waker) noexcept {
    try {
      auto turn = cell_->consumer_turn();
      recv_.cancel(waker);
    } catch (...) {  // std::system_error from the lock: nothing sane is left to do
      std::terminate();
    }
  }
  Mail<A> take() {
    if (control_) return Mail<A>{true, nullptr};
    return Mail<A>{false, &recv_.result()};
  }

 private:
  ActorCell* cell_;
  RecvOp<Envelope<A>> recv_;
  bool control_ = false;
};

// Builds the actor from its initial data: once (spawn_actor moves the data in), or on every
// (re)start from a copy (a supervised child: a restart begins from the original data).
template <class A, bool kKeepCopy, class... Args>
class Maker {
 public:
  template <class... In>
  explicit Maker(In&&... in) : data_(std::forward<In>(in)...) {}
  void operator()(std::optional<A>& actor) {
    auto build = [&actor](auto&&... args) { actor.emplace(std::forward<decltype(args)>(args)...); };
    if constexpr (kKeepCopy) {
      std::apply(build, std::tuple<Args...>(data_));
    } else {
      std::apply(build, std::move(data_));
    }
  }

 private:
  std::tuple<Args...> data_;
};


template <class A, class Make>
Task<void> run_actor(ActorLife<Envelope<A>> life, Make make) {
  ActorCell& cell = life.cell();
  std::optional<A> actor;
  for (;;) {  // one round per (re)start
    if (cell.account != nullptr) cell.account->reset_exceeded();  // a fresh start
    try {
      make(actor);
      if constexpr (HasOnStart<A>) actor->on_start();
      cell.check_quota();
    } catch (...) {
      actor.reset();
      const ExitCode code = fail_with(cell, std::current_exception(), ExitCode::start_failed);
      if (cell.restart_after_failure(code)) continue;
      life.set(code);
      co_return;
    }
    cell.emit(ActorEvent::Kind::online);
    bool restart = false;
    std::exception_ptr error;
    try {
      while (!cell.terminate_requested()) {
        cell.set_state(ActorState::idle);
        Awaitable<MailOp<A>> next(std::in_place, cell, life.mailbox());
        const Mail<A> mail = co_await next;
        cell.set_state(ActorState::handling);
        if (mail.control) {
          ActorCell::Control control = cell.take_control();
          for (ActorDown& down : control.downs) {
            if constexpr (HandledBy<ActorDown, A>) {
              auto envelope = Envelope<A>::tell(std::move(down), false);
              if (std::optional<Task<void>> rest = envelope.deliver(*actor)) {
                co_await std::move(*rest);
              }
            }
          }
          cell.check_quota();
          if (control.restart) {
            restart = true;
            break;
          }
          continue;
        }
        if (!*mail.envelope) break;  // every ActorRef is gone and the mailbox is drained
        cell.count_received();
        if (cell.timed()) {
          cell.begin_handler((*mail.envelope)->type_name(), (*mail.envelope)->queued_ns());
        }
        if (std::optional<Task<void>> rest = (*mail.envelope)->deliver(*actor)) {
          co_await std::move(*rest);
        }
        if (cell.timing != nullptr) cell.end_handler();
        cell.check_quota();
      }
      if constexpr (HasOnStop<A>) actor->on_stop();
    } catch (...) {
      error = std::current_exception();
    }
    if (cell.timing != nullptr && cell.timing->since_ns.load(std::memory_order_relaxed) != 0) {
      cell.end_handler();  // the handler threw: its time still counts
    }
    actor.reset();
    if (error) {
      const ExitCode code = fail_with(cell, error, ExitCode::failed);
      if (cell.restart_after_failure(code)) continue;
      life.set(code);
      co_return;
    }
    if (restart) {
      // A sibling's failure: this actor stopped cleanly (on_stop ran) and starts over.
      cell.note_restart(ExitCode::normal);
      continue;
    }
    life.set(cell.terminate_requested() ? cell.requested_code() : ExitCode::normal);
    co_return;
  }
}

// Creates the mailbox and the cell, adopts the actor into `supervisor` (if any) and spawns its
// task.
template <class A, class Make>
ActorRef<A> spawn_cell(Runtime& runtime, ActorOptions& options,
                       const std::shared_ptr<SupervisorCore>& supervisor, Make make);

}  // namespace detail

// Starts an actor A on `runtime`: A is constructed on the actor's task from `args` (moved
// there: they must be Sendable), then 'online' is emitted. Throws Error(shut_down) after the
// runtime's shutdown, Error(invalid_argument) for bad options.
template <class A, class... Args>
ActorRef<A> spawn_actor(Runtime& runtime, ActorOptions options, Args&&... args) {
  static_assert((Sendable<std::decay_t<Args>> && ...),
                "spawn_actor: the initial data is moved to the actor's thread and must be "
                "Sendable; troupe::why_not_sendable<T>() says why");
  static_assert(std::is_constructible_v<A, std::decay_t<Args>&&...>,
                "spawn_actor: A has no constructor taking these initial data");
  return detail::spawn_cell<A>(
      runtime, options, nullptr,
      detail::Maker<A, false, std::decay_t<Args>...>(std::forward<Args>(args)...));
}

// Death watch: `watcher` receives an ActorDown (through its control lane: never dropped or
// blocked by a full mailbox) when `target` exits — at once if it already has. A restart by a
// supervisor is not an exit. The watcher must handle(ActorDown).
template <class W, class T>
void watch(const ActorRef<W>& watcher, const ActorRef<T>& target) {
  static_assert(HandledBy<ActorDown, W>,
                "troupe::watch: the watcher must have a handle(ActorDown) overload");
  std::weak_ptr<detail::ActorCell> to = detail::ActorRefAccess::cell(watcher);
  detail::ActorRefAccess::cell(target)->on_exit([to](const ActorDown& down) {
    if (auto cell = to.lock()) cell->post_down(down);
  });
}

// Links two actors: when either fails (failed, start_failed, resource_exhausted, or stopped by
// a link or a supervisor), the other is stopped with ExitCode::stopped, and so on along its
// own links. A normal end, terminate() or shutdown does not propagate.
template <class A, class B>
void link(const ActorRef<A>& a, const ActorRef<B>& b) {
  detail::link_cells(detail::ActorRefAccess::cell(a), detail::ActorRefAccess::cell(b));
}

namespace detail {

template <class Mail>
std::pair<Sender<Mail>, Receiver<Mail>> open_mailbox(const ActorOptions& options) {
  if (options.mailbox_capacity > static_cast<std::size_t>(kMaxChannelCapacity)) {
    throw Error(ErrorCode::invalid_argument,
                "spawn: ActorOptions::mailbox_capacity " +
                    std::to_string(options.mailbox_capacity) + " exceeds the maximum of " +
                    std::to_string(kMaxChannelCapacity) + " (0 makes an unbounded mailbox)");
  }
  return options.mailbox_capacity == 0
             ? unbounded_channel<Mail>()
             : channel<Mail>(static_cast<std::int64_t>(options.mailbox_capacity));
}

// The cell of a new actor whose mailbox `tx` sends to (the options checked; events moved).
template <class Mail>
std::shared_ptr<ActorCell> new_cell(ActorOptions& options, const Sender<Mail>& tx) {
  check_options(options);
  auto cell = std::make_shared<ActorCell>(options.name, std::move(options.events),
                                          options.overflow, options.byte_quota,
                                          options.message_budget, options.timing);
  static_assert(alignof(ActorCell) <= alignof(std::max_align_t),
                "ActorCell: not over-aligned, so make_shared takes the allocator's fast path");
  cell->watch_mailbox(ChannelAccess::chan(tx), [](const ChanBase& chan) {
    return static_cast<const Chan<Mail>&>(chan).size();
  });
  return cell;
}

template <class A, class Make>
ActorRef<A> spawn_cell(Runtime& runtime, ActorOptions& options,
                       const std::shared_ptr<SupervisorCore>& supervisor, Make make) {
  using Mail = Envelope<A>;
  auto [tx, rx] = open_mailbox<Mail>(options);
  auto cell = new_cell(options, tx);
  if (options.register_name) {
    register_name(cell, typeid(A), std::make_shared<Sender<Mail>>(tx));  // throws if taken
  }
  if (supervisor != nullptr) adopt_child(supervisor, cell);
  launch(runtime, options, cell, run_actor<A>(ActorLife<Mail>(cell, std::move(rx)), std::move(make)));
  return ActorRefAccess::make<A>(std::move(tx), std::move(cell));
}

}  // namespace detail
}  // namespace troupe
