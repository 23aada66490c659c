// troupe/actors/pipeline.hpp — declarative pipelines on a Runtime: a source, stages, a sink,
// wired by bounded ports, backpressure end to end.
//
//   troupe::Runtime rt;
//   std::atomic<long> total{0};
//   auto p = troupe::pipeline<int>(rt)
//                .stage([](int x) { return long{x} * 3; }, {.name = "triple", .parallelism = 2})
//                .stage([](long x) -> std::optional<long> {      // nullopt: filtered out
//                  return x % 2 == 0 ? std::optional(x) : std::nullopt; })
//                .sink([&](long x) { total += x; });
//   troupe::Sender<int> in = p.start();      // feed it (co_await in.send(x) waits while full)
//   for (int i = 1; i <= 1000; ++i) in.blocking_send(i);
//   in = {};                                 // end of input
//   troupe::PipelineStats s = p.finish();    // every item through; per-stage counts
//
// Shape. A chain: the source (the port start() returns, or a generator given to start(gen)),
// then stages in the order added, then the sink. Each stage is a function of one item: it
// returns the next item, std::optional of it (nullopt drops the item, counted as filtered), or
// a Task of either (a coroutine stage: it may co_await). A stage with parallelism N runs on N
// tasks of the runtime; each gets its own copy of the function (so F must be copyable when
// N > 1), and items are never touched by two tasks at once. The item is moved into the
// function (by value, const& or &&: never copied), unless the function takes a non-const I&.
//
// Fan-out and fan-in. fan_out(branch(f1, options1), branch(f2, options2), ...) gives every
// item to each branch — a stage of its own, with its own parallelism, capacity and error
// policy; the item is copied for all but the last — and the branches' outputs, all of one
// type, merge into the next stage. Each branch keeps its own order; between branches the
// merge takes chunks as they come, so after a fan-in the order is only per branch. The books
// count the copies (PipelineStats::copied).
//
// Order. With PipelineOptions::ordered (the default) the sink sees items in source order, whatever
// the stages' parallelism: the items move in chunks, dealt to a stage's tasks in turn and collected
// from them in the same turn; the sink itself then runs on one task. Unordered, a chunk goes to any
// task with room and the results leave as they are ready.
//
// Backpressure and memory. Each stage's input holds at most StageOptions::capacity items (at
// least 8 × parallelism): when it is full, the step before it waits, and so on up to the
// source, whose send waits (or whose generator is not called: it runs at most one chunk
// ahead). Items in flight — queued, being processed, or moving between stages — never exceed
// the sum of the stages' capacities (the sink's included), plus what the input port from
// start() holds (the first stage's capacity) and the source's one chunk. Items move in chunks
// (PipelineOptions::chunk; automatic by default, at most 256), which is what makes a stage
// cost a function call per item rather than a channel operation; a chunk is passed on as soon
// as its items are done, never held back to wait for more.
//
// Errors (StageOptions::on_error). stop (the default): the first exception stops the pipeline
// (as cancel()) and finish() rethrows it; stats() names the stage. skip: the item is dropped
// and counted. dead_letter: the item, the exception and the stage's name go to the DeadLetter
// port given with the stage, and the pipeline goes on; a full port makes the stage wait
// (backpressure), a closed one drops them (counted as skipped). The letter carries the item
// when the function takes I& (it keeps it), or a copy made before the call when I is
// copyable; a move-only item taken by value is gone. Fan-out branches take stop or skip.
// An exception that escapes a task itself (a generator that throws, an allocation that fails)
// stops the pipeline like an error under stop, named after the stage or "source".
//
// Ending. finish() waits until the input has ended (the Sender from start() destroyed or closed,
// the generator returned nullopt, or drain() was called) and every item has gone through;
// finished() is its form for a task. drain() is the graceful stop: the source takes nothing new,
// and what it took goes through. cancel() stops every task at its next await: items in flight are
// dropped (counted as cancelled), the input port closes (items still in it count as emitted and
// cancelled; a later send fails and hands its item back) and finish() returns at once. The destructor cancels a pipeline
// still running and waits for its tasks. The books: emitted = delivered + filtered + skipped +
// dead_lettered + cancelled + failed (the item whose exception stopped the pipeline), with copied
// added to emitted when the pipeline fans out.
//
// Metrics. stats(): per stage, items in and out, filtered, skipped, dead-lettered, its queue
// depth now, its busy time and busy ratio, and a latency histogram (per item: a chunk's time
// over its items). Every live pipeline also appears in the "pipelines" section of
// Runtime::metrics() (JSON: its counters and stages; Prometheus: pipeline_* and
// pipeline_stage_* gauges and the pipeline_stage_latency_ns histogram, labelled
// pipeline="<id>",name="<PipelineOptions::name>" and stage="<name>").
//
// Thread-safety: the builder is for one thread. Pipeline's member functions may be called
// from any thread, but not concurrently with its destruction; finish() blocks the calling
// thread (not from a runtime worker: Error(invalid_argument); await finished() there). The
// destructor of a started pipeline cancels and waits for its tasks: destroy it on a plain
// thread, or once finish() or finished() has returned. Memory ordering: everything the
// source did before emitting an item happens-before the first stage sees it, and so on down
// the chain (each hop is a channel send); everything the pipeline did happens-before finish()
// returns.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "troupe/actors/actor.hpp"
#include "troupe/channels/detail/mutex.hpp"
#include "troupe/channels/select.hpp"
#include "troupe/runtime/sync/mutex.hpp"

namespace troupe {

enum class OnError : std::uint8_t { stop, skip, dead_letter };

struct StageOptions {
  std::string name = {};        // for stats and errors; default "stage<k>" (k from 1), "sink"
  std::size_t parallelism = 1;  // tasks running the stage, >= 1
  std::size_t capacity = 1024;  // items its input holds, >= 8 × parallelism
  OnError on_error = OnError::stop;
};

struct PipelineOptions {
  std::string name = {};  // for the metrics export
  bool ordered = true;    // the sink sees items in source order
  // Items moved together; 0: the largest allowed, capacity / (8 x parallelism) of the tightest
  // stage, at most 256 (see Backpressure).
  std::size_t chunk = 0;
};

// An item that failed a stage whose policy is OnError::dead_letter.
template <class T>
struct DeadLetter {
  std::optional<T> item;     // empty if the stage took the item by value (it consumed it)
  std::exception_ptr error;  // what the stage threw
  std::string stage;         // its name
};

struct StageStats {
  std::string name;
  std::size_t parallelism = 0;
  std::uint64_t in = 0;             // items the stage took
  std::uint64_t out = 0;            // items it passed on (the sink: consumed)
  std::uint64_t filtered = 0;       // returned nullopt
  std::uint64_t skipped = 0;        // threw, under OnError::skip (or a closed dead-letter port)
  std::uint64_t dead_lettered = 0;  // threw, sent to the dead-letter port
  std::uint64_t failed = 0;         // threw, under OnError::stop
  std::size_t queued = 0;           // items waiting in its input now
  std::uint64_t busy_ns = 0;        // time its tasks spent in the stage function
  double busy_ratio = 0;            // busy_ns over (time since start x parallelism)
  TimeHistogram latency;            // per item
};

struct PipelineStats {
  std::uint64_t emitted = 0;    // items the source produced
  std::uint64_t copied = 0;     // items added by fan-out copies (one per extra branch)
  std::uint64_t delivered = 0;  // items the sink consumed
  std::uint64_t cancelled = 0;  // items dropped by cancel() or a stop (once finished)
  bool finished = false;        // every task has ended
  bool stopped = false;         // cancel() or an error under OnError::stop
  std::string failed_stage;     // the stage whose error stopped it, if any
  std::vector<StageStats> stages;  // in order, the sink last
};

namespace detail {

template <class T>
using Chunk = std::vector<T>;

// Whether a stage returns std::optional (a filter), and the item type it passes on.
template <class T>
struct IsOptional : std::false_type {
  using type = T;
};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {
  using type = T;
};

// What a stage function does with an item of type I.
template <class F, class I>
struct StageCall {
  // Called with the item moved in when it can take an rvalue (by value, const I&, I&&): no
  // copy. Only a function that takes I& (non-const) gets it as an lvalue.
  static constexpr bool kByRef = !std::is_invocable_v<F&, I&&>;
  static_assert(!kByRef || std::is_invocable_v<F&, I&>,
                "Pipeline: a stage must be callable with the previous stage's output");
  using Raw = typename std::conditional_t<kByRef, std::invoke_result<F&, I&>,
                                          std::invoke_result<F&, I&&>>::type;
  using Value = typename TaskValue<Raw>::type;  // Task<X> -> X
  static constexpr bool kCoroutine = TaskValue<Raw>::coroutine;
  static constexpr bool kFilter = IsOptional<Value>::value;
  using Out = typename IsOptional<Value>::type;
};

// A stage's counters: relaxed atomics (statistics), updated once per chunk.
struct StageCounters {
  std::string name;
  std::size_t parallelism = 1;
  std::atomic<std::uint64_t> in{0}, out{0}, filtered{0}, skipped{0}, dead{0}, failed{0};
  std::atomic<std::uint64_t> busy_ns{0};
  std::atomic<std::int64_t> queued{0};
  detail::PlainMutex latency_mutex;
  TimeHistogram latency ABSL_GUARDED_BY(latency_mutex);
  void record(std::uint64_t ns, std::size_t items) ABSL_LOCKS_EXCLUDED(latency_mutex);
};

// What every part of a running pipeline shares.
class PipelineCore {
 public:
  // Registers the pipeline for the metrics export until it is destroyed.
  PipelineCore(Runtime& runtime, PipelineOptions options);
  ~PipelineCore();
  PipelineCore(const PipelineCore&) = delete;
  PipelineCore& operator=(const PipelineCore&) = delete;
  std::uint64_t id() const noexcept { return id_; }
  Runtime& runtime() const noexcept { return *runtime_; }
  const PipelineOptions& options() const noexcept { return options_; }
  std::size_t chunk() const noexcept { return chunk_; }
  void set_chunk(std::size_t chunk) noexcept { chunk_ = chunk; }

  StageCounters& add_stage(std::string name, std::size_t parallelism) ABSL_LOCKS_EXCLUDED(mutex_);
  // Spawns one of the pipeline's tasks, named for errors (its stage, or "source"). An
  // exception that escapes it stops the pipeline as fail() does; its end, however it comes
  // (returned, threw, cancelled), is counted.
  void spawn(Task<void> task, const std::string& where) ABSL_LOCKS_EXCLUDED(mutex_);
  // Every task is spawned: from now on the last one to end releases join(); the pipeline
  // appears in the metrics export. Pipeline::start calls it, also when starting failed.
  void publish() ABSL_LOCKS_EXCLUDED(mutex_);
  // The first error: stops the pipeline; finish() rethrows it.
  void fail(std::exception_ptr error, const std::string& stage) ABSL_LOCKS_EXCLUDED(mutex_);
  // Cancels every task (idempotent).
  void stop() ABSL_LOCKS_EXCLUDED(mutex_);
  // Waits until every task has ended (blocking, or in a task); rethrows the error that
  // stopped the pipeline. The task handles stay here, so stop() works meanwhile.
  void join() ABSL_LOCKS_EXCLUDED(mutex_);
  Task<void> join_async() ABSL_LOCKS_EXCLUDED(mutex_);
  PipelineStats stats() const ABSL_LOCKS_EXCLUDED(mutex_);
  std::atomic<std::uint64_t> emitted{0};
  std::atomic<std::uint64_t> copied{0};
  std::atomic<bool> started{false};
  std::atomic<bool> draining{false};  // Pipeline::drain (relaxed: the generator stops soon)

 private:
  void rethrow_failure() const ABSL_LOCKS_EXCLUDED(mutex_);
  // A task's body, and the count of its end (task_ended) when destroyed (unless moved from).
  // A parameter of the task's coroutine, so it lives in the frame from the moment the task
  // exists: a task dropped by a cancel before its first poll never runs, but its frame is
  // destroyed. The body goes first, so that what its frame counts on the way out (PortInput)
  // is in before the end is.
  class Guarded {
   public:
    Guarded(Task<void> body, PipelineCore* core) noexcept : body(std::move(body)), core_(core) {}
    Guarded(Guarded&& other) noexcept
        : body(std::move(other.body)), core_(std::exchange(other.core_, nullptr)) {}
    Guarded& operator=(Guarded&&) = delete;
    ~Guarded() {
      body = Task<void>();
      if (core_ != nullptr) core_->task_ended();
    }
    Task<void> body;

   private:
    PipelineCore* core_;
  };
  Task<void> guarded(Guarded task, std::string where);
  void task_ended() noexcept ABSL_LOCKS_EXCLUDED(mutex_);

  Runtime* runtime_;
  PipelineOptions options_;
  const std::uint64_t id_;
  std::size_t chunk_ = 1;
  mutable detail::PlainMutex mutex_;
  // Grows in start.
  std::vector<std::unique_ptr<StageCounters>> stages_ ABSL_GUARDED_BY(mutex_);
  std::vector<JoinHandle<void>> tasks_ ABSL_GUARDED_BY(mutex_);  // for stop(), never taken
  std::size_t alive_ ABSL_GUARDED_BY(mutex_) = 0;                // tasks not yet ended
  bool spawning_ ABSL_GUARDED_BY(mutex_) = true;                 // until publish()
  bool stopped_ ABSL_GUARDED_BY(mutex_) = false;
  bool joined_ ABSL_GUARDED_BY(mutex_) = false;
  std::exception_ptr error_ ABSL_GUARDED_BY(mutex_);
  std::string failed_stage_ ABSL_GUARDED_BY(mutex_);
  // Set by publish().
  std::chrono::steady_clock::time_point started_at_ ABSL_GUARDED_BY(mutex_);
  Latch ended_{1};                       // released when the last task has ended
};

// The input port's receiver, owned by the port source. When the source ends, or is dropped by
// a cancel, the port is closed (a later send fails and hands its item back) and the items still
// in it are counted as emitted, so that the books count them as cancelled: an item the port
// accepted is never lost uncounted.
template <class In>
class PortInput {
 public:
  PortInput(Receiver<In> rx, PipelineCore* core) noexcept : rx(std::move(rx)), core_(core) {}
  PortInput(PortInput&& other) noexcept
      : rx(std::move(other.rx)), core_(std::exchange(other.core_, nullptr)) {}
  PortInput& operator=(PortInput&&) = delete;
  ~PortInput() {
    if (core_ == nullptr) return;
    rx.close();
    std::uint64_t left = 0;
    while (rx.try_recv()) ++left;
    core_->emitted.fetch_add(left, std::memory_order_relaxed);
  }
  Receiver<In> rx;

 private:
  PipelineCore* core_;
};

// Where the step before a stage sends its chunks.
template <class I>
class StageInlet {
 public:
  virtual ~StageInlet() = default;
  // Sends a chunk to one of the stage's tasks: the next in turn (ordered), or any with room.
  // False if the stage is gone (the pipeline stopped).
  virtual Task<bool> push(Chunk<I> chunk) = 0;
  // The end of the stream: the stage's tasks end once they have drained their inputs.
  virtual void close() = 0;
};

// What the builder keeps of a stage until the pipeline starts.
class StageBase {
 public:
  virtual ~StageBase() = default;
  // Creates the channels (chunk: the pipeline's) and spawns the tasks.
  virtual void start(PipelineCore& core) = 0;
  [[nodiscard]] virtual std::size_t capacity() const noexcept = 0;
  [[nodiscard]] virtual std::size_t parallelism() const noexcept = 0;
};

// Validates a stage's options; fills in its default name.
void check_stage(StageOptions& options, std::size_t index, bool sink, bool has_dead_port);

// One stage: `parallelism` tasks applying F to items of I; O = void for the sink.
template <class I, class O, class F>
class Stage final : public StageBase, public StageInlet<I> {
  using Call = StageCall<F, I>;

 public:
  Stage(F fn, StageOptions options, std::optional<Sender<DeadLetter<I>>> dead)
      : fn_(std::move(fn)), options_(std::move(options)), dead_(std::move(dead)) {}

  void connect(StageInlet<O>* next) noexcept { next_ = next; }
  [[nodiscard]] std::size_t capacity() const noexcept override { return options_.capacity; }
  [[nodiscard]] std::size_t parallelism() const noexcept override {
    return options_.parallelism;
  }

  void start(PipelineCore& core) override {
    core_ = &core;
    counters_ = &core.add_stage(options_.name, options_.parallelism);
    const std::size_t n = options_.parallelism;
    // Slots per task, so that the stage's items in flight stay within its capacity (see
    // Backpressure): its channels, plus a chunk in and a chunk out in each task's hands, plus
    // the ordered output slot and the forwarder's hand.
    const std::size_t per_task = options_.capacity / (core.chunk() * n);
    const std::size_t slots = per_task > 5 ? per_task - 5 : 0;
    ordered_ = core.options().ordered;
    std::vector<Receiver<Chunk<I>>> inputs;
    for (std::size_t w = 0; w < n; ++w) {
      auto [tx, rx] = channel<Chunk<I>>(slots);
      inlets_.push_back(std::move(tx));
      inputs.push_back(std::move(rx));
    }
    if constexpr (std::is_void_v<O>) {
      for (std::size_t w = 0; w < n; ++w) {
        core.spawn(work(worker_fn(w), std::move(inputs[w]), Sender<Chunk<int>>()), options_.name);
      }
    } else {
      std::vector<Receiver<Chunk<O>>> outputs;
      if (ordered_) {
        for (std::size_t w = 0; w < n; ++w) {
          auto [tx, rx] = channel<Chunk<O>>(1);
          core.spawn(work(worker_fn(w), std::move(inputs[w]), std::move(tx)), options_.name);
          outputs.push_back(std::move(rx));
        }
      } else {
        auto [tx, rx] = channel<Chunk<O>>(n);
        for (std::size_t w = 0; w < n; ++w) {
          core.spawn(work(worker_fn(w), std::move(inputs[w]), tx.clone()), options_.name);
        }
        outputs.push_back(std::move(rx));
      }
      core.spawn(forward(std::move(outputs), next_), options_.name);
    }
  }

  Task<bool> push(Chunk<I> chunk) override {
    const auto items = static_cast<std::int64_t>(chunk.size());
    counters_->queued.fetch_add(items, std::memory_order_relaxed);
    const std::size_t n = inlets_.size();
    if (!ordered_) {
      // Any task with room, starting after the last one used.
      for (std::size_t tried = 0; tried < n; ++tried) {
        auto sent = inlets_[turn_].try_send(std::move(chunk));
        if (sent) co_return true;
        if (sent.error().is_closed()) co_return false;
        chunk = std::move(sent.error()).into_message();
        turn_ = (turn_ + 1) % n;
      }
    }
    Sender<Chunk<I>>& to = inlets_[turn_];
    turn_ = (turn_ + 1) % n;
    auto sent = co_await to.send(std::move(chunk));
    co_return static_cast<bool>(sent);
  }
  void close() override { inlets_.clear(); }

 private:
  // Each task its own copy of the function (the last one gets the original).
  F worker_fn(std::size_t w) {
    if (w + 1 == options_.parallelism) return std::move(fn_);
    if constexpr (std::is_copy_constructible_v<F>) {
      return fn_;
    } else {
      // check_stage refused parallelism > 1 for a move-only function.
      return std::move(fn_);
    }
  }

  // Calls fn with the item: moved in, unless fn takes only I& (see StageCall).
  static decltype(auto) apply(F& fn, I& item) {
    if constexpr (Call::kByRef) {
      return fn(item);
    } else {
      return fn(std::move(item));
    }
  }

  using OutChunk = std::conditional_t<std::is_void_v<O>, Chunk<int>, Chunk<O>>;

  Task<void> work(F fn, Receiver<Chunk<I>> rx, Sender<OutChunk> tx) {
    PipelineCore& core = *core_;
    StageCounters& c = *counters_;
    // A dead letter carries its item: the stage's own when fn takes I& (it keeps it), else a
    // copy taken before the call when I is copyable (only under OnError::dead_letter).
    const bool copy_for_letters = options_.on_error == OnError::dead_letter && !Call::kByRef &&
                                  std::is_copy_constructible_v<I>;
    while (auto chunk = co_await rx.recv()) {
      c.queued.fetch_sub(static_cast<std::int64_t>(chunk->size()), std::memory_order_relaxed);
      OutChunk out;
      if constexpr (!std::is_void_v<O>) out.reserve(chunk->size());
      std::uint64_t taken = 0, filtered = 0, skipped = 0, dead = 0, delivered = 0;
      const auto start = std::chrono::steady_clock::now();
      // The chunk's counts, also when a stop ends it midway: every item taken is in `in`.
      const auto count = [&] {
        const auto ns = static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::steady_clock::now() - start)
                .count());
        c.in.fetch_add(taken, std::memory_order_relaxed);
        if constexpr (std::is_void_v<O>) {
          c.out.fetch_add(delivered, std::memory_order_relaxed);
        } else {
          c.out.fetch_add(out.size(), std::memory_order_relaxed);
        }
        if (filtered != 0) c.filtered.fetch_add(filtered, std::memory_order_relaxed);
        if (skipped != 0) c.skipped.fetch_add(skipped, std::memory_order_relaxed);
        if (dead != 0) c.dead.fetch_add(dead, std::memory_order_relaxed);
        c.busy_ns.fetch_add(ns, std::memory_order_relaxed);
        c.record(ns, taken);
      };
      for (I& item : *chunk) {
        ++taken;
        std::optional<I> kept;
        if constexpr (std::is_copy_constructible_v<I>) {
          if (copy_for_letters) kept.emplace(item);
        }
        std::exception_ptr error;
        try {
          if constexpr (std::is_void_v<O>) {
            if constexpr (Call::kCoroutine) {
              co_await apply(fn, item);
            } else {
              apply(fn, item);
            }
            ++delivered;
          } else if constexpr (Call::kCoroutine) {
            auto result = co_await apply(fn, item);
            keep(out, std::move(result), filtered);
          } else {
            keep(out, apply(fn, item), filtered);
          }
        } catch (...) {
          error = std::current_exception();
        }
        if (error == nullptr) continue;
        if (options_.on_error == OnError::stop) {
          c.failed.fetch_add(1, std::memory_order_relaxed);
          count();
          core.fail(error, options_.name);
          co_return;
        }
        if (options_.on_error == OnError::dead_letter) {
          DeadLetter<I> letter;
          if constexpr (Call::kByRef) {
            letter.item.emplace(std::move(item));
          } else {
            letter.item = std::move(kept);
          }
          letter.error = error;
          letter.stage = options_.name;
          Sender<DeadLetter<I>> port = dead_->clone();
          if (co_await port.send(std::move(letter))) {
            ++dead;
            continue;
          }
        }
        ++skipped;  // skip, or a closed dead-letter port
      }
      count();
      chunk.reset();  // the chunk's remains go before the next one comes
      if constexpr (!std::is_void_v<O>) {
        // Ordered: one chunk out per chunk in, even empty, so the forwarder's turns match.
        if (!ordered_ && out.empty()) continue;
        if (!co_await tx.send(std::move(out))) co_return;
      }
    }
  }

  template <class V>
  static void keep(OutChunk& out, V&& value, std::uint64_t& filtered) {
    if constexpr (Call::kFilter) {
      if (value) {
        out.push_back(std::move(*value));
      } else {
        ++filtered;
      }
    } else {
      out.push_back(std::forward<V>(value));
    }
  }

  // Moves the stage's output to the next stage: in the tasks' turn (ordered) or as it comes.
  template <class Out = O>
  static Task<void> forward(std::vector<Receiver<Chunk<Out>>> outputs, StageInlet<Out>* next) {
    const std::size_t n = outputs.size();
    for (std::size_t turn = 0;; turn = (turn + 1) % n) {
      auto chunk = co_await outputs[turn].recv();
      if (!chunk) break;  // ordered: every task ended at the same turn
      if (chunk->empty()) continue;
      if (!co_await next->push(std::move(*chunk))) break;
    }
    next->close();
  }

  F fn_;
  StageOptions options_;
  std::optional<Sender<DeadLetter<I>>> dead_;
  StageInlet<O>* next_ = nullptr;  // set by the builder (none for the sink)
  PipelineCore* core_ = nullptr;
  StageCounters* counters_ = nullptr;
  bool ordered_ = true;
  std::vector<Sender<Chunk<I>>> inlets_;  // one per task; used by the one step before
  std::size_t turn_ = 0;
};

// A joint between stages (fan-out, fan-in): owned by the chain, started with it.
class Joint {
 public:
  virtual ~Joint() = default;
  virtual void start(PipelineCore& core) = 0;
};

// Fan-out: each chunk to every branch, copied for all but the last. One pusher (the step
// before), like any inlet.
template <class T>
class FanOut final : public Joint, public StageInlet<T> {
 public:
  explicit FanOut(std::vector<StageInlet<T>*> branches) : branches_(std::move(branches)) {}
  void start(PipelineCore& core) override { core_ = &core; }
  Task<bool> push(Chunk<T> chunk) override {
    for (std::size_t b = 0; b + 1 < branches_.size(); ++b) {
      Chunk<T> copy = chunk;
      // Counted as it is made: from here on it is in flight (a failed push drops it).
      core_->copied.fetch_add(copy.size(), std::memory_order_relaxed);
      if (!co_await branches_[b]->push(std::move(copy))) co_return false;
    }
    co_return co_await branches_.back()->push(std::move(chunk));
  }
  void close() override {
    for (StageInlet<T>* branch : branches_) branch->close();
  }

 private:
  std::vector<StageInlet<T>*> branches_;
  PipelineCore* core_ = nullptr;
};

// Fan-in: the branches' forwarders push into the next stage in turn (an async mutex keeps
// the next stage's one-pusher rule), and the last branch to end closes it.
template <class T>
class FanIn final : public Joint, public StageInlet<T> {
 public:
  explicit FanIn(std::size_t branches) : open_(branches) {}
  void connect(StageInlet<T>* next) noexcept { next_ = next; }
  void start(PipelineCore& /*core*/) override {}
  Task<bool> push(Chunk<T> chunk) override {
    MutexGuard guard = co_await mutex_.lock();
    co_return co_await next_->push(std::move(chunk));
  }
  void close() override {
    // acq_rel: the last closer sees every other branch's pushes done before it closes.
    if (open_.fetch_sub(1, std::memory_order_acq_rel) == 1) next_->close();
  }

 private:
  troupe::Mutex mutex_;  // the asynchronous one (runtime/sync), not detail::PlainMutex
  std::atomic<std::size_t> open_;
  StageInlet<T>* next_ = nullptr;
};

// The chain as the builder holds it.
template <class In>
struct PipelineParts {
  std::vector<std::unique_ptr<StageBase>> stages;  // in order, the sink last
  std::vector<std::unique_ptr<Joint>> joints;      // fan-outs and fan-ins
  StageInlet<In>* first = nullptr;
};

// A branch of a fan-out (troupe::branch).
template <class F>
struct Branch {
  F fn;
  StageOptions options;
};

}  // namespace detail

template <class In>
class Pipeline;

// Built with troupe::pipeline<In>(runtime): .stage(...) any number of times, then .sink(...).
// Cur is the type the last stage produces.
template <class In, class Cur>
class PipelineBuilder {
 public:
  // A stage: fn(Cur) or fn(Cur&) returning Out, std::optional<Out>, or a Task of either.
  // Throws Error(invalid_argument) for bad options (naming the stage and the field).
  template <class F>
  auto stage(F fn, StageOptions options = {}) && {
    return std::move(*this).add_stage(std::move(fn), std::move(options), std::nullopt);
  }
  // The same with a dead-letter port (for OnError::dead_letter).
  template <class F>
  auto stage(F fn, StageOptions options, Sender<DeadLetter<Cur>> dead_letters) && {
    return std::move(*this).add_stage(std::move(fn), std::move(options),
                                      std::optional(std::move(dead_letters)));
  }
  // Fan-out and fan-in (see the header comment): every item to each branch, their outputs
  // (one type) merged into what follows. At least two branches; Cur must be copyable.
  template <class... Fs>
  auto fan_out(detail::Branch<Fs>... branches) && {
    static_assert(sizeof...(Fs) >= 2, "Pipeline::fan_out: give at least two branches");
    static_assert(std::is_copy_constructible_v<Cur>,
                  "Pipeline::fan_out: every branch gets a copy of the item: it must be copyable");
    using Out = typename detail::StageCall<std::tuple_element_t<0, std::tuple<Fs...>>, Cur>::Out;
    static_assert((std::is_same_v<typename detail::StageCall<Fs, Cur>::Out, Out> && ...),
                  "Pipeline::fan_out: every branch must produce the same item type");
    auto fan_in = std::make_unique<detail::FanIn<Out>>(sizeof...(Fs));
    std::vector<detail::StageInlet<Cur>*> inlets;
    (inlets.push_back(add_branch(std::move(branches), fan_in.get())), ...);
    auto fan_out = std::make_unique<detail::FanOut<Cur>>(std::move(inlets));
    connect_(fan_out.get());
    auto* merge = fan_in.get();
    parts_->joints.push_back(std::move(fan_out));
    parts_->joints.push_back(std::move(fan_in));
    return PipelineBuilder<In, Out>(
        *runtime_, options_, std::move(parts_),
        [merge](detail::StageInlet<Out>* next) { merge->connect(next); });
  }

  // The sink: fn(Cur) or fn(Cur&) returning void (or Task<void>). Ends the building.
  template <class F>
  Pipeline<In> sink(F fn, StageOptions options = {}) && {
    static_assert(std::is_void_v<typename detail::StageCall<F, Cur>::Value>,
                  "Pipeline: the sink must return void (or Task<void>)");
    check<F>(options, true, false);
    if (options_.ordered && options.parallelism > 1) {
      throw Error(ErrorCode::invalid_argument,
                  "Pipeline: the sink of an ordered pipeline runs on one task (its calls are "
                  "in source order, never concurrent); parallelism " +
                      std::to_string(options.parallelism) + " needs PipelineOptions::ordered "
                      "= false");
    }
    auto stage = std::make_unique<detail::Stage<Cur, void, F>>(std::move(fn), std::move(options),
                                                                std::nullopt);
    connect_(stage.get());
    parts_->stages.push_back(std::move(stage));
    return Pipeline<In>(runtime_, options_, std::move(parts_));
  }

 private:
  template <class, class>
  friend class PipelineBuilder;
  template <class T>
  friend PipelineBuilder<T, T> pipeline(Runtime& runtime, PipelineOptions options);

  PipelineBuilder(Runtime& runtime, PipelineOptions options,
                  std::unique_ptr<detail::PipelineParts<In>> parts,
                  std::function<void(detail::StageInlet<Cur>*)> connect)
      : runtime_(&runtime),
        options_(std::move(options)),
        parts_(std::move(parts)),
        connect_(std::move(connect)) {}

  template <class F>
  void check(StageOptions& options, bool sink, bool has_dead_port) {
    static_assert(Sendable<Cur>, "Pipeline: items move between tasks and must be Sendable");
    detail::check_stage(options, parts_->stages.size() + 1, sink, has_dead_port);
    if (!std::is_copy_constructible_v<F> && options.parallelism > 1) {
      throw Error(ErrorCode::invalid_argument,
                  "Pipeline: stage '" + options.name +
                      "': parallelism > 1 needs a copyable function (each task gets a copy)");
    }
  }

  template <class F>
  auto add_stage(F fn, StageOptions options, std::optional<Sender<DeadLetter<Cur>>> dead) && {
    using Out = typename detail::StageCall<F, Cur>::Out;
    static_assert(!std::is_void_v<Out>, "Pipeline: a stage must return an item; use sink()");
    static_assert(std::is_object_v<Out>,
                  "Pipeline: a stage must return its item by value (not a reference)");
    static_assert(Sendable<Out>, "Pipeline: a stage's output must be Sendable");
    check<F>(options, false, dead.has_value());
    auto stage = std::make_unique<detail::Stage<Cur, Out, F>>(std::move(fn), std::move(options),
                                                              std::move(dead));
    connect_(stage.get());
    auto* raw = stage.get();
    parts_->stages.push_back(std::move(stage));
    return PipelineBuilder<In, Out>(
        *runtime_, options_, std::move(parts_),
        [raw](detail::StageInlet<Out>* next) { raw->connect(next); });
  }

  // One branch of a fan-out: a stage whose output goes to the fan-in.
  template <class F, class Out>
  detail::StageInlet<Cur>* add_branch(detail::Branch<F>&& branch, detail::FanIn<Out>* merge) {
    static_assert(!std::is_void_v<Out>, "Pipeline: a branch must return an item");
    static_assert(std::is_object_v<Out>,
                  "Pipeline: a stage must return its item by value (not a reference)");
    static_assert(Sendable<Out>, "Pipeline: a branch's output must be Sendable");
    check<F>(branch.options, false, false);
    auto stage = std::make_unique<detail::Stage<Cur, Out, F>>(
        std::move(branch.fn), std::move(branch.options), std::nullopt);
    stage->connect(merge);
    detail::StageInlet<Cur>* inlet = stage.get();
    parts_->stages.push_back(std::move(stage));
    return inlet;
  }

  Runtime* runtime_;
  PipelineOptions options_;
  std::unique_ptr<detail::PipelineParts<In>> parts_;
  std::function<void(detail::StageInlet<Cur>*)> connect_;
};

// A branch of PipelineBuilder::fan_out: a stage function and its options.
template <class F>
detail::Branch<F> branch(F fn, StageOptions options = {}) {
  return {std::move(fn), std::move(options)};
}

// Starts building a pipeline whose source emits items of In.
template <class In>
PipelineBuilder<In, In> pipeline(Runtime& runtime, PipelineOptions options = {}) {
  auto parts = std::make_unique<detail::PipelineParts<In>>();
  auto* raw = parts.get();
  return PipelineBuilder<In, In>(runtime, options, std::move(parts),
                                 [raw](detail::StageInlet<In>* first) { raw->first = first; });
}

template <class In>
class Pipeline {
 public:
  Pipeline(Pipeline&&) noexcept = default;
  Pipeline& operator=(Pipeline&&) = delete;
  // Cancels a pipeline still running and waits for its tasks.
  ~Pipeline() {
    if (core_ && core_->started.load(std::memory_order_relaxed)) {
      core_->stop();
      try {
        core_->join();
      } catch (...) {  // the error was the pipeline's to report through finish()
      }
    }
  }

  // Starts the pipeline with an input port (capacity: the first stage's): send items into
  // it; destroying or closing every Sender ends the input. Throws Error(invalid_argument) if
  // already started.
  Sender<In> start() {
    // Pairs, not structured bindings: clang 14 cannot capture a binding in a lambda (C++20).
    auto input = channel<In>(parts_->stages.front()->capacity());
    auto drain = channel<std::monostate>(1);
    begin("start");
    drain_ = std::move(drain.first);
    launch([&] {
      core_->spawn(
          source_port(detail::PortInput<In>(std::move(input.second), core_.get()),
                      std::move(drain.second), parts_->first, core_.get()),
          "source");
    });
    return std::move(input.first);
  }
  // Starts it with a generator: gen() returns std::optional<In>; nullopt ends the input. It is
  // called on a task of the runtime, only while the first stage has room.
  template <class G>
  void start(G gen) {
    static_assert(std::is_invocable_r_v<std::optional<In>, G&>,
                  "Pipeline::start: the generator must return std::optional<In>");
    begin("start");
    launch([&] { core_->spawn(source_gen(std::move(gen), parts_->first, core_.get()), "source"); });
  }

  // Waits until the input has ended and every item has gone through (or the pipeline was
  // stopped); rethrows the error that stopped it under OnError::stop. Then the stats.
  PipelineStats finish() {
    detail::refuse_blocking_on_worker("Pipeline::finish");
    started("finish");
    core_->join();
    return core_->stats();
  }
  Task<PipelineStats> finished() {
    started("finished");
    detail::PipelineCore* core = core_.get();  // not this: the Pipeline may move meanwhile
    co_await core->join_async();
    co_return core->stats();
  }
  // Stops every task at its next await; items in flight are dropped. Idempotent.
  void cancel() {
    started("cancel");
    core_->stop();
  }
  // A graceful end: the source takes nothing new — the input port closes (a later send fails
  // and hands its item back), the generator is not called again — and everything already
  // taken goes through; finish() then returns. Idempotent.
  void drain() {
    started("drain");
    // The first call closes the drain port (the port source wakes); later ones do nothing.
    // relaxed: the exchange alone picks the one caller that resets drain_.
    if (!core_->draining.exchange(true, std::memory_order_relaxed)) {
      drain_ = Sender<std::monostate>();
    }
  }
  [[nodiscard]] PipelineStats stats() const { return core_->stats(); }

 private:
  template <class, class>
  friend class PipelineBuilder;
  Pipeline(Runtime* runtime, PipelineOptions options,
           std::unique_ptr<detail::PipelineParts<In>> parts)
      : core_(std::make_unique<detail::PipelineCore>(*runtime, options)),
        parts_(std::move(parts)) {
    // The largest chunk that keeps every stage within its capacity (see Backpressure):
    // capacity / (8 x parallelism), which check_stage made at least 1.
    std::size_t most = 256;
    for (const auto& stage : parts_->stages) {
      most = std::min(most, stage->capacity() / (8 * stage->parallelism()));
    }
    if (options.chunk > most) {
      throw Error(ErrorCode::invalid_argument,
                  "PipelineOptions::chunk " + std::to_string(options.chunk) +
                      " is too large: at most " + std::to_string(most) +
                      " (capacity / (8 x parallelism) of the tightest stage)");
    }
    core_->set_chunk(options.chunk != 0 ? options.chunk : most);
  }

  void begin(const char* what) {
    if (core_->started.exchange(true, std::memory_order_relaxed)) {
      throw Error(ErrorCode::invalid_argument,
                  std::string("Pipeline::") + what + ": the pipeline has already started");
    }
  }
  // Starts the stages, then the source (last: no item moves before every stage is ready),
  // then lets join() count the ends. If a spawn fails, what started is stopped (and joined
  // by the destructor) and the error goes to the caller.
  template <class SpawnSource>
  void launch(SpawnSource spawn_source) {
    try {
      for (auto& joint : parts_->joints) joint->start(*core_);
      for (auto& stage : parts_->stages) stage->start(*core_);
      spawn_source();
    } catch (...) {
      core_->stop();
      core_->publish();
      throw;
    }
    core_->publish();
  }
  void started(const char* what) const {
    if (!core_->started.load(std::memory_order_relaxed)) {
      throw Error(ErrorCode::invalid_argument,
                  std::string("Pipeline::") + what + ": the pipeline has not started");
    }
  }

  // The sources: chunks of up to chunk() items, passed on as soon as nothing more is ready.
  // The port's waits also watch the drain port: once it closes, the input port is closed too,
  // and what it still holds is taken.
  static Task<void> source_port(detail::PortInput<In> input, Receiver<std::monostate> drain,
                                detail::StageInlet<In>* first, detail::PipelineCore* core) {
    Receiver<In>& rx = input.rx;
    const std::size_t size = core->chunk();
    bool draining = false;
    for (;;) {
      std::optional<In> item;
      if (draining) {
        item = co_await rx.recv();
      } else if (co_await select(rx, drain) == 1) {
        rx.close();
        draining = true;
        continue;
      } else if (auto got = rx.try_recv()) {
        item.emplace(std::move(*got));
      } else if (got.error() == RecvError::closed) {
        break;
      } else {
        continue;
      }
      if (!item) break;
      detail::Chunk<In> chunk;
      chunk.reserve(size);
      chunk.push_back(std::move(*item));
      while (chunk.size() < size) {
        auto more = rx.try_recv();
        if (!more) break;
        chunk.push_back(std::move(*more));
      }
      core->emitted.fetch_add(chunk.size(), std::memory_order_relaxed);
      if (!co_await first->push(std::move(chunk))) break;
    }
    first->close();
  }
  template <class G>
  static Task<void> source_gen(G gen, detail::StageInlet<In>* first,
                               detail::PipelineCore* core) {
    const std::size_t size = core->chunk();
    for (bool more = true; more && !core->draining.load(std::memory_order_relaxed);) {
      detail::Chunk<In> chunk;
      chunk.reserve(size);
      while (chunk.size() < size) {
        std::optional<In> item = gen();
        if (!item) {
          more = false;
          break;
        }
        chunk.push_back(std::move(*item));
      }
      if (chunk.empty()) break;
      core->emitted.fetch_add(chunk.size(), std::memory_order_relaxed);
      if (!co_await first->push(std::move(chunk))) break;
    }
    first->close();
  }

  std::unique_ptr<detail::PipelineCore> core_;
  std::unique_ptr<detail::PipelineParts<In>> parts_;  // owns the stages; after core_'s tasks
  Sender<std::monostate> drain_;                      // the port source's drain signal
};

}  // namespace troupe
