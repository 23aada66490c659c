#include "scheduler.hpp"

#include <algorithm>
#include <array>
#include <string>
#include <system_error>
#include <utility>

#include "troupe/channels/detail/config.hpp"
#include "troupe/channels/detail/fence.hpp"
#include "troupe/channels/detail/wait_out.hpp"

namespace troupe::detail {
namespace {

// How many times in a row a worker may run the task in its next slot before the woken task
// has to queue behind the others (fairness between two tasks bouncing messages and the rest).
constexpr std::uint32_t kMaxLifoStreak = 16;
// How many picks in a row may take a just-spawned task from the local queue's tail while older
// tasks wait at its head (next_task).
constexpr std::uint32_t kMaxFreshStreak = 32;
// Every this many picks, the global queue is looked at first (so outside work is never
// starved by a busy local queue). A prime, as in Go and tokio.
constexpr std::uint32_t kGlobalQueueInterval = 61;
// Operations a task may complete without suspending before it must yield (awaitable.hpp).
constexpr std::int32_t kCoopBudget = 128;
// Rounds of stealing a searching worker makes before it parks.
constexpr int kSearchRounds = 4;

thread_local Scheduler* tls_blocking_scheduler = nullptr;

std::uint64_t now_ns(std::chrono::steady_clock::time_point t) {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

std::uint64_t xorshift(std::uint64_t& state) noexcept {
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;
  return state;
}

}  // namespace

Worker* current_worker() noexcept { return tls_worker; }
RawTask* current_task() noexcept { return tls_polled_task; }
Scheduler* current_blocking_scheduler() noexcept { return tls_blocking_scheduler; }

// ---- Registry ---------------------------------------------------------------------------------

bool Registry::add(RawTask* task) {
  Shard& shard = shard_of(task);
  MutexLock lock(shard.mutex);
  if (shard.closed) return false;
  task->live_prev = nullptr;
  task->live_next = shard.head;
  if (shard.head != nullptr) shard.head->live_prev = task;
  shard.head = task;
  ++shard.count;
  return true;
}

bool Registry::remove(RawTask* task) noexcept {
  Shard& shard = shard_of(task);
  MutexLock lock(shard.mutex);
  if (task->live_prev == nullptr && shard.head != task) return false;  // not linked (drained)
  if (task->live_prev != nullptr) task->live_prev->live_next = task->live_next;
  if (task->live_next != nullptr) task->live_next->live_prev = task->live_prev;
  if (shard.head == task) shard.head = task->live_next;
  task->live_prev = task->live_next = nullptr;
  --shard.count;
  return true;
}

void Registry::close() {
  for (Shard& shard : shards_) {
    MutexLock lock(shard.mutex);
    shard.closed = true;
  }
}

RawTask* Registry::take_any(bool dedicated) {
  for (Shard& shard : shards_) {
    MutexLock lock(shard.mutex);
    for (RawTask* task = shard.head; task != nullptr; task = task->live_next) {
      if ((task->home != nullptr) != dedicated) continue;
      if (task->live_prev != nullptr) task->live_prev->live_next = task->live_next;
      if (task->live_next != nullptr) task->live_next->live_prev = task->live_prev;
      if (shard.head == task) shard.head = task->live_next;
      task->live_prev = task->live_next = nullptr;
      --shard.count;
      return task;
    }
  }
  return nullptr;
}

std::uint64_t Registry::size() const {
  std::uint64_t total = 0;
  for (const Shard& shard : shards_) {
    MutexLock lock(shard.mutex);
    total += shard.count;
  }
  return total;
}

// ---- Worker -----------------------------------------------------------------------------------

void Worker::start() {
  join_if_exited();
  ever_ran.store(true, std::memory_order_relaxed);
  active.store(true, std::memory_order_relaxed);
  try {
    thread_ = std::thread([this] { run(); });
  } catch (...) {
    active.store(false, std::memory_order_relaxed);
    throw;
  }
}

void Worker::join_if_exited() {
  if (thread_.joinable()) thread_.join();
  // The thread kept its Parker alive for notifiers that picked it just before it exited.
  if (parker != nullptr) std::exchange(parker, nullptr)->release();
}

void Worker::join() { join_if_exited(); }

void Worker::run() {
  tls_worker = this;
  tls_turn_yielder = this;
  Parker& own = Parker::current();
  own.retain();  // released by join_if_exited: a notifier may still wake it as it exits
  parker = &own;
  rng_ = 0x9E3779B97F4A7C15ull * (index_ + 1);
  switch_period(std::chrono::steady_clock::now(), Period::busy);
  while (!scheduler_.stopping.load(std::memory_order_acquire)) {
    RawTask* task = next_task();
    if (task == nullptr) task = search();
    if (task != nullptr) {
      if (searching_) leave_searching();
      run_task(task, kCoopBudget);
      continue;
    }
    if (!park()) break;  // retired
  }
  if (searching_) leave_searching();
  switch_period(std::chrono::steady_clock::now(), Period::none);
  return_scheduler_refs();
  tls_turn_yielder = nullptr;
  tls_worker = nullptr;
}

void Worker::switch_period(std::chrono::steady_clock::time_point now, Period next) noexcept {
  const std::uint64_t current = period_.load(std::memory_order_relaxed);
  const std::uint64_t at = now_ns(now);
  period_.store(current | kWritingBit, std::memory_order_relaxed);
  if (current != 0) {
    const std::uint64_t since = current >> 2;
    OwnerCounter& total = (current & kParkedBit) != 0 ? counters.idle_ns : counters.busy_ns;
    // release: a reader whose acquire load sees this update also sees the writing bit stored
    // before it, and retries. (No standalone fences: ThreadSanitizer does not model them.)
    total.add(at > since ? at - since : 0, std::memory_order_release);
  }
  const std::uint64_t begun =
      next == Period::none ? 0 : (at << 2) | (next == Period::parked ? kParkedBit : 0);
  // release: the counters' update happens-before a reader that sees the new period.
  period_.store(begun, std::memory_order_release);
}

Worker::Times Worker::times(std::chrono::steady_clock::time_point now) const noexcept {
  for (;;) {
    // acquire: pairs with switch_period's release store (the counters it updated before).
    const std::uint64_t before = period_.load(std::memory_order_acquire);
    if ((before & kWritingBit) != 0) {
      // An update of a few instructions is under way (its thread may have been descheduled).
      wait_out([this] { return (period_.load(std::memory_order_relaxed) & kWritingBit) != 0; });
      continue;
    }
    // acquire: if a load sees an update, the re-read below sees that update's writing bit (or
    // a later period), pairing with switch_period's release add; and the re-read stays after.
    Times t{std::chrono::nanoseconds(counters.busy_ns.get(std::memory_order_acquire)),
            std::chrono::nanoseconds(counters.idle_ns.get(std::memory_order_acquire))};
    if (period_.load(std::memory_order_relaxed) != before) continue;
    if (before != 0) {
      const std::uint64_t since = before >> 2;
      const std::uint64_t at = now_ns(now);
      const auto live = std::chrono::nanoseconds(at > since ? at - since : 0);
      ((before & kParkedBit) != 0 ? t.idle : t.busy) += live;
    }
    return t;
  }
}

void Worker::return_scheduler_refs() noexcept {
  // relaxed: while a thread runs the worker, the Runtime still holds its own reference.
  scheduler_.refs_.fetch_sub(std::exchange(scheduler_refs_, 0), std::memory_order_relaxed);
}

RawTask* Worker::next_task() {
  ++tick_;
  // The task that just gave up its turn (run_task), to run right after the partner it gave
  // it to: that partner is taken now and the yielder takes its place in the next slot, so
  // two tasks trading messages alternate through the slot without a locked instruction.
  RawTask* yielder = std::exchange(yielder_, nullptr);
  last_poll_yielded_ = yielder != nullptr;
  if (tick_ % kGlobalQueueInterval == 0) {
    // Timers due while this worker stayed busy (no clock read unless one may be due).
    if (scheduler_.timers().next_deadline()) {
      scheduler_.timers().process(std::chrono::steady_clock::now());
    }
    RawTask* task = scheduler_.pop_global();
    if (task != nullptr) {
      counters.global_polls.add();
    } else {
      task = take_retry();  // while the local queue never empties, a retry still gets turns
    }
    if (task != nullptr) {
      if (yielder != nullptr) push_local(yielder, false);
      return task;
    }
  }
  // Between polls no thief touches the slot (end_of_poll_handshake), so it is ours to take
  // and fill without a locked instruction (filled now, it is as if filled at the end of the
  // poll that ended). relaxed: only this thread stores tasks into it; release for the yielder,
  // as in schedule_from_task, for a thief's exchange.
  if (RawTask* task = lifo.load(std::memory_order_relaxed)) {
    if (lifo_streak_ < kMaxLifoStreak) {
      lifo_yielder_ = yielder;
      lifo_fresh_ = false;
      if (yielder != nullptr) {
        lifo.store(yielder, std::memory_order_release);
      } else {
        lifo.store(nullptr, std::memory_order_relaxed);
      }
      ++lifo_streak_;
      counters.lifo_polls.add();
      return task;
    }
    // Streak used up: the woken task (and its yielder) queue behind the others.
    lifo.store(nullptr, std::memory_order_relaxed);
    lifo_yielder_ = nullptr;
    push_local(task, false);
  }
  lifo_streak_ = 0;
  if (yielder != nullptr) {
    // Its partner is queued. Alone in the queue, the partner is taken and the pair goes back
    // to alternating through the slot; behind other tasks, the yielder queues too.
    if (queue.len() == 1) {
      if (RawTask* task = queue.pop()) {
        lifo.store(yielder, std::memory_order_release);
        lifo_yielder_ = yielder;
        lifo_fresh_ = false;
        return task;
      }
    }
    push_local(yielder, false);
  }
  if (RawTask* task = pop_local()) return task;
  note_caught_up();
  if (RawTask* task = take_retry()) return task;
  if (RawTask* task = scheduler_.pop_global()) {
    counters.global_polls.add();
    return task;
  }
  return nullptr;
}

void Worker::queue_retry(RawTask* task) noexcept {
  task->next = nullptr;
  // relaxed: only we write the list between polls; a thief takes it only under the handshake.
  if (retry_head_.load(std::memory_order_relaxed) == nullptr) {
    retry_head_.store(task, std::memory_order_relaxed);
  } else {
    retry_tail_->next = task;
  }
  retry_tail_ = task;
}

RawTask* Worker::take_retry() noexcept {
  RawTask* task = retry_head_.load(std::memory_order_relaxed);  // relaxed: as queue_retry
  if (task != nullptr) {
    retry_head_.store(task->next, std::memory_order_relaxed);
    note_caught_up();  // a send waiting on its consumer: no work for another core
  }
  return task;
}

void Worker::note_caught_up() noexcept {
  // relaxed: a hint for the monitor. Stored only when it changes (the monitor clears it).
  if (!caught_up.load(std::memory_order_relaxed)) caught_up.store(true, std::memory_order_relaxed);
}

bool Worker::try_become_searcher() {
  if (searching_) return true;
  const std::uint32_t active = scheduler_.active_workers.load(std::memory_order_relaxed);
  // At most half of the workers search at once (tokio's throttle); the rest park at once.
  if (2 * scheduler_.searching.load(std::memory_order_relaxed) >= active) return false;
  scheduler_.searching.fetch_add(1, std::memory_order_seq_cst);  // seq_cst: wake protocol
  searching_ = true;
  return true;
}

void Worker::leave_searching() {
  searching_ = false;
  // seq_cst: the wake protocol (scheduler.hpp). The last searcher to find work hands the search
  // on, since more work may be waiting.
  if (scheduler_.searching.fetch_sub(1, std::memory_order_seq_cst) == 1) {
    scheduler_.notify_parked();
  }
}

RawTask* Worker::pop_local() {
  // Spawned tasks queue at the tail (each spawn displaces the one before from the next slot).
  // Taken newest first while never started, a tree of spawns runs depth first (Cilk's and
  // rayon's order) while thieves take its oldest, biggest parts from the head, and few of its
  // tasks are alive at once: skynet's peak memory falls from hundreds of MiB to tens
  // (BENCHMARKS.md). Started tasks (woken, yielded) keep FIFO order: while any may wait at
  // the head, every kMaxFreshStreak+1-th pick is theirs.
  const std::uint32_t len = queue.len();
  if (len == 0) {
    started_queued_ = 0;
    return nullptr;
  }
  RawTask* task = nullptr;
  if (len >= 2 && (started_queued_ == 0 || fresh_streak_ < kMaxFreshStreak) &&
      !queue.back_started()) {
    task = queue.pop_back();  // null if a thief is at work
    // Thieves may have emptied the queue down to its back since len(): then the task taken is
    // whatever is there now (a started one is still the right pick: it is the only one).
  }
  if (task != nullptr) {
    ++fresh_streak_;
    return task;
  }
  fresh_streak_ = 0;
  task = queue.pop();
  if (task != nullptr && started_queued_ > 0 && task->started.load(std::memory_order_relaxed)) {
    --started_queued_;
  }
  return task;
}

RawTask* Worker::search() {
  if (!try_become_searcher()) return nullptr;
  auto& slots = scheduler_.workers();
  const std::size_t n = slots.size();
  for (int round = 0; round < kSearchRounds; ++round) {
    const std::size_t start = xorshift(rng_) % n;
    for (std::size_t i = 0; i < n; ++i) {
      Worker& victim = *slots[(start + i) % n];
      if (&victim == this || !victim.active.load(std::memory_order_relaxed)) continue;
      std::uint32_t started = 0;
      if (RawTask* task = victim.queue.steal_into(queue, &started)) {
        started_queued_ = started;
        counters.steals.add(1 + queue.len());
        return task;
      }
      if (victim.stalled.load(std::memory_order_relaxed) && victim.has_stranded()) {
        if (RawTask* task = victim.steal_stranded(*this)) {
          counters.steals.add();
          return task;
        }
      }
    }
    if (RawTask* task = scheduler_.pop_global()) {
      counters.global_polls.add();
      return task;
    }
    cpu_relax();
  }
  return nullptr;
}

bool Worker::park() {
  Scheduler& s = scheduler_;
  {
    MutexLock lock(s.idle_mutex);
    s.sleepers.push_back(this);
    s.sleeping.fetch_add(1, std::memory_order_seq_cst);  // seq_cst: wake protocol
  }
  if (searching_) {
    searching_ = false;
    s.searching.fetch_sub(1, std::memory_order_seq_cst);  // seq_cst: wake protocol
  }
  seq_cst_fence();

  // Unregisters; true if we were still registered (nobody picked us to wake).
  const auto unregister = [&] {
    MutexLock lock(s.idle_mutex);
    auto it = std::find(s.sleepers.begin(), s.sleepers.end(), this);
    if (it == s.sleepers.end()) return false;
    s.sleepers.erase(it);
    s.sleeping.fetch_sub(1, std::memory_order_relaxed);
    return true;
  };

  if (s.has_work_anywhere(this) || s.stopping.load(std::memory_order_acquire)) {
    if (!unregister()) searching_ = true;  // a notifier counted us as searching
    return true;
  }

  const auto parked_at = std::chrono::steady_clock::now();
  switch_period(parked_at, Period::parked);
  counters.parks.add();
  const auto idle_deadline = parked_at + s.options().idle_timeout;
  auto deadline = idle_deadline;
  // Sleep until the next timer, unless it is already due: then another worker is firing it
  // (process() skips while one does) and will notify for the tasks it wakes.
  if (auto timer = s.timers().next_deadline(); timer && *timer > parked_at) {
    deadline = std::min(deadline, *timer);
  }
  const bool woken = parker->park_until(deadline);
  const auto now = std::chrono::steady_clock::now();
  switch_period(now, Period::busy);
  counters.wakes.add();

  s.timers().process(now);
  if (!unregister()) {
    searching_ = true;  // woken by notify_parked, which counted us as searching
    return true;
  }
  // Timed out (or spurious): retire if idle long enough and above the minimum.
  if (!woken && now >= idle_deadline && !s.stopping.load(std::memory_order_acquire)) {
    std::uint32_t count = s.active_workers.load(std::memory_order_relaxed);
    while (count > s.options().min_threads) {
      if (s.active_workers.compare_exchange_weak(count, count - 1, std::memory_order_relaxed)) {
        // Stay if work arrived meanwhile, including tasks our own timer firing just queued
        // here (only we fill our queue, so its emptiness is exact).
        if (!queue.empty() || lifo.load(std::memory_order_relaxed) != nullptr ||
            s.has_work_anywhere(this)) {
          s.active_workers.fetch_add(1, std::memory_order_relaxed);
          return true;
        }
        s.threads_retired.fetch_add(1, std::memory_order_relaxed);
        active.store(false, std::memory_order_release);
        return false;
      }
    }
  }
  return true;
}

void Worker::run_task(RawTask* task, std::int32_t budget) {
  if (!task->started.load(std::memory_order_relaxed)) {
    task->started.store(true, std::memory_order_relaxed);
  }
  tls_polled_task = task;
  ByteAccount::set_current(task->byte_account);
  in_task = true;
  coop_budget = budget;
  poll_seq.store(poll_seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  // release: the take from the next slot (next_task) happens-before a thief's exchange that
  // saw this poll running (steal_stranded's acquire), so it cannot take the task we run. Free on
  // x86; on a weakly ordered CPU, without it, the take could become visible after this store.
  in_poll.store(true, std::memory_order_release);
  counters.polls.add();

  bool done;
  if (task->cancel_requested()) {
    task->drop();
    done = true;
  } else {
    done = task->run();
  }

  in_poll.store(false, std::memory_order_relaxed);
  end_of_poll_handshake();
  coop_budget = kUnlimitedBudget;
  in_task = false;
  ByteAccount::set_current(nullptr);
  tls_polled_task = nullptr;

  const bool quiet = std::exchange(quiet_retry_, false);
  if (done) {
    yielder_ = nullptr;  // it gave up a turn, then completed after all (a combinator)
    counters.completed.add();
    // A joiner its completion wakes runs next here, as if woken by the task (the next slot).
    finishing = true;
    scheduler_.finish(task);
    finishing = false;
    return;
  }
  if (yielder_ == task) {
    // The task gave up its turn (yield_turn): it registered nothing and is still scheduled
    // (the queue's reference held), so it is queued again as it is, skipping end_poll's CAS:
    // next_task puts it right behind the partner it yields to. A wake that came meanwhile set
    // kNotified, which the next end_poll sees (one spare poll at most). No notify: the partner
    // ahead of it keeps this worker busy.
    counters.turns_yielded.add();
    if (std::exchange(task->context.yield_requested, false)) {
      // Its coop budget also ran out in this poll: behind every queued task, as any yield.
      yielder_ = nullptr;
      push_local(task, true);
    }
    return;
  }
  // Woken during the poll, cancelled, or yielding: poll again, after the others. A retry's
  // wake (retry_quietly) wakes no parked worker, and neither does a yield of a task whose
  // budget ran out: it was runnable here already, announced when it became so (spawn, wake),
  // and calling a second worker now mostly pulls apart tasks busy talking to each other on
  // this one (BENCHMARKS.md: fanin). A worker that keeps more work than it can run gets help
  // from the monitor (monitor_loop, caught_up).
  const bool yielded = std::exchange(task->context.yield_requested, false);
  if (task->end_poll(yielded)) {
    if (scheduler_.deterministic()) {
      scheduler_.push_ready(task);
    } else if (quiet) {
      queue_retry(task);
    } else {
      push_local(task, !yielded);
    }
  }
}

// The next slot is filled only by its owner, during a poll, and emptied by the owner between
// polls — or by a thief while the owner is stuck in a poll. Who may empty it is settled by a
// Dekker handshake on the asymmetric fence pair (fence.hpp), so the owner pays no locked
// instruction:
//   owner, after each poll:  in_poll = false -> light_fence() -> read lifo_thief
//   thief:                   lifo_thief = true -> heavy_fence() -> read in_poll
// Either the owner sees the thief (and waits for it to finish), or the thief sees the poll
// over (and leaves the slot alone). A thief that sees a later poll running also sees the
// owner's last take from the slot, made before that poll started. The retry list (queue_retry)
// is the owner's between polls and a stalled owner's thief's likewise, under the same
// handshake.
void Worker::end_of_poll_handshake() noexcept {
  light_fence();
  // acquire: the thief's take from the slot happens-before our next plain access to it.
  while (lifo_thief.load(std::memory_order_acquire)) cpu_relax();
}

bool Worker::yield_turn(const Waker& waker) noexcept {
  RawTask* task = tls_polled_task;
  // Only the polled task's own wait, and only if another task would run in its place (both
  // slots are this thread's to read: only a thief empties them, and only while we stall).
  if (task == nullptr || &waker != task) return false;
  // Another task must be about to run here, and likely to be the one that replies: one this
  // poll woke (the next slot), or a partner that itself gave up its turn just before this poll
  // (queued now). A wait whose messages come from tasks merely queued here (a fan-in) parks
  // instead: its wake is what spreads such work over the workers. So does a wait with a task
  // it just spawned in the slot: that is no partner about to reply but, often, a subtree to run
  // depth first (next_task), which a queued yielder would interrupt.
  if ((lifo.load(std::memory_order_relaxed) == nullptr || lifo_fresh_) &&
      !(last_poll_yielded_ && !queue.empty())) {
    return false;
  }
  yielder_ = task;  // run_task sees it and skips the poll's closing transition
  return true;
}

bool Worker::has_company(const Waker& waker) noexcept {
  if (&waker != tls_polled_task) return true;
  return lifo.load(std::memory_order_relaxed) != nullptr || !queue.empty();
}

void Worker::retry_quietly(const Waker& waker) noexcept {
  if (&waker == tls_polled_task) quiet_retry_ = true;
}

RawTask* Worker::steal_stranded(Worker& thief) noexcept {
  // acquire: one thief at a time; pairs with the release below of the previous thief.
  if (lifo_thief.exchange(true, std::memory_order_acquire)) return nullptr;
  heavy_fence();
  RawTask* task = nullptr;
  RawTask* retries = nullptr;
  // acquire: pairs with run_task's release store of in_poll: the owner's take from the slot
  // and its retry list as it left them before this poll are visible below.
  if (in_poll.load(std::memory_order_acquire)) {
    // acquire: the task's state, published by the owner's release store into the slot.
    task = lifo.exchange(nullptr, std::memory_order_acquire);
    // The owner touches its retry list between polls only, and waits for us before it does
    // (end_of_poll_handshake): it is ours to take.
    retries = retry_head_.exchange(nullptr, std::memory_order_relaxed);
  }
  // release: what we took happens-before the owner's next access (end_of_poll_handshake).
  lifo_thief.store(false, std::memory_order_release);
  while (retries != nullptr) {
    RawTask* next = retries->next;
    if (task == nullptr) {
      task = retries;
    } else {
      thief.push_local(retries, false);  // queued on the thief, which runs them itself
    }
    retries = next;
  }
  return task;
}

void Worker::schedule_from_task(RawTask* task, bool fresh) {
  // Only we put tasks into our slot; a thief only empties it. So if we read null, it stays
  // null until we store.
  if (lifo.load(std::memory_order_relaxed) == nullptr) {
    lifo.store(task, std::memory_order_release);  // release: for a thief's exchange
    lifo_yielder_ = nullptr;
    lifo_fresh_ = fresh;
    return;
  }
  // acq_rel: hands the displaced task over with its state.
  RawTask* displaced = lifo.exchange(task, std::memory_order_acq_rel);
  // A yielder put there by next_task was waiting for a reply from the task just run; it goes
  // on waiting here, so no other worker is called for it.
  const bool notify = displaced != lifo_yielder_;
  lifo_yielder_ = nullptr;
  lifo_fresh_ = fresh;
  if (displaced != nullptr) push_local(displaced, notify);
}

void Worker::push_local(RawTask* task, bool notify) {
  // Read first: once queued, a thief may take the task, run it and free it.
  const bool started = task->started.load(std::memory_order_relaxed);
  if (queue.push(task)) {
    if (started) ++started_queued_;
  } else {
    std::array<RawTask*, LocalQueue::kCapacity / 2> half{};
    const std::uint32_t n = queue.take_half(half.data());
    if (n == 0) {
      scheduler_.push_global(task);
    } else {
      scheduler_.push_global_batch(half.data(), n, task);
    }
    counters.overflows.add();
    notify = true;  // the global queue is every worker's: call one to share it
  }
  if (notify) scheduler_.notify_parked();
}

// ---- Scheduler --------------------------------------------------------------------------------

Scheduler::Scheduler(Runtime& owner, RuntimeOptions options)
    : owner_(owner),
      options_(std::move(options)),
      deterministic_(options_.deterministic_seed.has_value()),
      timers_(deterministic_) {
  prepare_asymmetric_fence();
  if (deterministic_) {
    // One worker slot, run by whichever thread drives; no thread is started.
    workers_.push_back(std::make_unique<Worker>(*this, 0));
    // A zero state would stay zero: the seed goes through splitmix64 first.
    std::uint64_t z = *options_.deterministic_seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    MutexLock lock(ready_mutex_);
    drive_rng_ = (z ^ (z >> 31)) | 1;
    return;
  }
  const std::size_t slots = *options_.max_threads;
  workers_.reserve(slots);
  for (std::size_t i = 0; i < slots; ++i) workers_.push_back(std::make_unique<Worker>(*this, i));
  active_workers.store(static_cast<std::uint32_t>(options_.min_threads),
                       std::memory_order_relaxed);
  try {
    for (std::size_t i = 0; i < options_.min_threads; ++i) workers_[i]->start();
    monitor_ = std::thread([this] { monitor_loop(); });
  } catch (const std::system_error& error) {
    // Stop what did start, then report: no thread may outlive a failed construction.
    stopping.store(true, std::memory_order_release);
    wake_all_parked();
    for (auto& worker : workers_) worker->join();
    throw Error(ErrorCode::resource_exhausted,
                std::string("Runtime: could not start its threads: ") + error.what());
  }
}

Scheduler::~Scheduler() { shutdown(); }

void Scheduler::release_ref() noexcept {
  // acq_rel: whoever frees us must see every other holder's writes.
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

void release_scheduler_ref(Scheduler* scheduler) noexcept {
  Worker* worker = tls_worker;
  if (worker != nullptr && &worker->scheduler() == scheduler) {
    worker->give_back_scheduler_ref();
  } else {
    scheduler->release_ref();
  }
}

void Worker::take_scheduler_ref() {
  if (scheduler_refs_ == 0) {
    // relaxed: the Runtime's own reference keeps the count above zero while workers run.
    scheduler_.refs_.fetch_add(kSchedulerRefBatch, std::memory_order_relaxed);
    scheduler_refs_ = kSchedulerRefBatch;
  }
  --scheduler_refs_;
}

void Worker::give_back_scheduler_ref() noexcept {
  if (++scheduler_refs_ > 2 * kSchedulerRefBatch) {
    // Not the last: the Runtime's own reference is held while workers run.
    scheduler_.refs_.fetch_sub(kSchedulerRefBatch, std::memory_order_relaxed);
    scheduler_refs_ -= kSchedulerRefBatch;
  }
}

void Scheduler::spawn(RawTask* task, Placement placement) {
  Worker* worker = tls_worker;
  const bool local = worker != nullptr && &worker->scheduler() == this;
  // The task's reference on us, given back when it is destroyed (raw_task.hpp).
  task->scheduler = this;
  if (local) {
    task->id = worker->next_task_id();
    worker->take_scheduler_ref();
  } else {
    task->id = (external_spawns_.fetch_add(1, std::memory_order_relaxed) + 1) << 9;
    refs_.fetch_add(1, std::memory_order_relaxed);  // relaxed: the Runtime holds one
  }
  const auto unspawn = [&] {
    task->scheduler = nullptr;
    release_scheduler_ref(this);  // not the last: the caller's Runtime holds one
  };
  if (!registry_.add(task)) {
    if (!local) external_spawns_.fetch_sub(1, std::memory_order_relaxed);
    unspawn();
    throw Error(ErrorCode::shut_down, "Runtime::spawn: the runtime is shut down");
  }
  if (local) worker->counters.spawned.add();
  if (deterministic_) {  // every placement runs on the driving thread
    push_ready(task);
    return;
  }
  if (placement == Placement::dedicated) {
    try {
      start_dedicated_thread(task);
    } catch (...) {
      // No thread: the caller drops it — unless the shutdown drain took it already.
      if (!registry_.remove(task)) return;
      unspawn();
      throw;
    }
    return;
  }
  if (placement == Placement::blocking_pool) {
    UniqueLock lock(blocking_mutex_);
    // Shutdown has stopped the intake: the task is in the registry, and the drain cancels it.
    if (blocking_stopping_) return;
    try {
      if (blocking_idle_ == 0 && blocking_alive_ < options_.max_blocking_threads) {
        start_blocking_thread_locked();
      }
      blocking_queue_.push_back(task);
    } catch (...) {
      // Never queued: the caller drops it — unless the shutdown drain took it already, and
      // then it completes as cancelled like any job queued at shutdown.
      if (!registry_.remove(task)) return;
      unspawn();
      throw;
    }
    ++blocking_jobs_;
    blocking_cv_.notify_one();
    return;
  }
  if (local) {
    if (worker->in_task) {
      // Spawned by the running task: into the next slot, as a woken task (Go's runnext); the
      // task it displaces queues, and pop_local takes such never-started tasks newest first.
      // A tree of spawns thus runs depth first, with few of its tasks alive at once (skynet:
      // 24 MiB at its peak, BENCHMARKS.md). The slot's streak cap applies as for wakes.
      worker->schedule_from_task(task, /*fresh=*/true);
      notify_parked();
    } else {
      worker->push_local(task, true);
    }
  } else {
    push_global(task);
    notify_parked();
  }
}

void Scheduler::schedule(RawTask* task) noexcept {
  if (Worker* worker = own_worker()) {
    schedule_on_own(*worker, task);
    return;
  }
  if (deterministic_) {
    push_ready(task);
    return;
  }
  if (task->home != nullptr) {
    task->home->notify();
    return;
  }
  push_global(task);
  notify_parked();
}

void Scheduler::finish(RawTask* task) noexcept {
  registry_.remove(task);  // first: whoever the completion wakes sees the task gone
  if (!on_own_worker()) {
    external_completions_.fetch_add(1, std::memory_order_relaxed);
  }
  task->complete(task->ending);  // may destroy the task
}

void Scheduler::push_global(RawTask* task) { push_global_batch(nullptr, 0, task); }

void Scheduler::push_global_batch(RawTask** tasks, std::size_t n, RawTask* extra) {
  MutexLock lock(global_mutex_);
  if (global_closed_) return;  // shut down: the drain cancels every live task
  const auto append = [&](RawTask* task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(global_mutex_) {
    task->next = nullptr;
    if (global_tail_ != nullptr) {
      global_tail_->next = task;
    } else {
      global_head_ = task;
    }
    global_tail_ = task;
  };
  for (std::size_t i = 0; i < n; ++i) append(tasks[i]);
  append(extra);
  global_len_.store(global_len_.load(std::memory_order_relaxed) + n + 1,
                    std::memory_order_relaxed);
}

RawTask* Scheduler::pop_global() {
  if (global_len_.load(std::memory_order_relaxed) == 0) return nullptr;
  MutexLock lock(global_mutex_);
  RawTask* task = global_head_;
  if (task == nullptr) return nullptr;
  global_head_ = task->next;
  if (global_head_ == nullptr) global_tail_ = nullptr;
  global_len_.store(global_len_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  return task;
}

void Scheduler::notify_parked() noexcept {
  seq_cst_fence();
  if (searching.load(std::memory_order_relaxed) != 0) return;
  if (sleeping.load(std::memory_order_relaxed) == 0) return;
  Parker* chosen = nullptr;
  {
    MutexLock lock(idle_mutex);
    if (sleepers.empty() || searching.load(std::memory_order_relaxed) != 0) return;
    // The most recently parked: its caches are the warmest. Its parker is read and retained
    // while it is still registered (its thread cannot have exited): once we unlock, it may
    // leave, exit and be joined, which drops the slot's reference.
    chosen = sleepers.back()->parker;
    chosen->retain();
    sleepers.pop_back();
    sleeping.fetch_sub(1, std::memory_order_relaxed);
    searching.fetch_add(1, std::memory_order_seq_cst);  // it wakes up searching
  }
  chosen->wake_and_release();
}

void Scheduler::wake_all_parked() noexcept {
  std::array<Parker*, RuntimeOptions::kMaxWorkers> all{};  // no allocation: noexcept
  std::size_t count = 0;
  {
    MutexLock lock(idle_mutex);
    for (Worker* worker : sleepers) {
      worker->parker->retain();  // as in notify_parked
      all[count++] = worker->parker;
    }
    sleepers.clear();
    sleeping.store(0, std::memory_order_relaxed);
    searching.fetch_add(static_cast<std::uint32_t>(count), std::memory_order_seq_cst);
  }
  for (std::size_t i = 0; i < count; ++i) all[i]->wake_and_release();
}

bool Scheduler::has_work_anywhere(const Worker* except) const noexcept {
  if (global_len() != 0) return true;
  for (const auto& worker : workers_) {
    if (worker.get() == except || !worker->active.load(std::memory_order_relaxed)) continue;
    if (!worker->queue.empty()) return true;
    if (worker->stalled.load(std::memory_order_relaxed) && worker->has_stranded()) return true;
  }
  return false;
}

void Scheduler::monitor_loop() {
  using Clock = std::chrono::steady_clock;
  const auto interval =
      std::max<Clock::duration>(options_.stall_threshold / 4, std::chrono::milliseconds(1));
  struct Sample {
    std::uint64_t seq = 0;
    Clock::time_point since{};
  };
  std::vector<Sample> samples(workers_.size());
  UniqueLock lock(monitor_mutex_);
  while (!stopping.load(std::memory_order_acquire)) {
    monitor_cv_.wait_for(lock.native(), interval);
    if (stopping.load(std::memory_order_acquire)) break;
    const auto now = Clock::now();
    std::size_t stalled = 0;
    bool backlog = false;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      Worker& worker = *workers_[i];
      if (!worker.active.load(std::memory_order_relaxed)) continue;
      // relaxed: hints; a wrong read costs at most one tick's delay or one needless wake.
      if (!worker.caught_up.exchange(false, std::memory_order_relaxed) &&
          !worker.queue.empty()) {
        backlog = true;
      }
      const std::uint64_t seq = worker.poll_seq.load(std::memory_order_relaxed);
      const bool busy = worker.in_poll.load(std::memory_order_relaxed);
      if (!busy || seq != samples[i].seq) {
        samples[i] = {seq, now};
        worker.stalled.store(false, std::memory_order_relaxed);
        continue;
      }
      if (now - samples[i].since >= options_.stall_threshold) {
        worker.stalled.store(true, std::memory_order_relaxed);
        ++stalled;
      }
    }
    const auto timer = timers_.next_deadline();
    const bool timers_due = timer && *timer <= now;
    if (timers_due) notify_parked();
    // A worker that has not caught up with its queue for a whole tick has more than it can
    // run, and a sleeping worker would share it: budget yields wake no one (run_task), so
    // nothing else may call it.
    if (backlog && sleeping.load(std::memory_order_relaxed) != 0) notify_parked();
    if (stalled == 0) continue;
    stalls_detected_.fetch_add(1, std::memory_order_relaxed);
    if (!timers_due && !has_work_anywhere(nullptr)) continue;
    if (sleeping.load(std::memory_order_relaxed) != 0) {
      notify_parked();  // a parked worker can take the stranded work
    } else if (searching.load(std::memory_order_relaxed) == 0) {
      start_worker_if_possible();
    }
  }
}

void Scheduler::start_worker_if_possible() {
  std::uint32_t active = active_workers.load(std::memory_order_relaxed);
  for (auto& worker : workers_) {
    if (active >= workers_.size()) return;
    if (worker->active.load(std::memory_order_acquire)) continue;
    if (!active_workers.compare_exchange_strong(active, active + 1,
                                                std::memory_order_relaxed)) {
      return;  // changed under us; the next tick decides again
    }
    threads_added.fetch_add(1, std::memory_order_relaxed);  // before: the worker may run at once
    try {
      worker->start();
    } catch (const std::system_error&) {
      // No thread to be had now (a process limit): undo, and let the next tick try again.
      threads_added.fetch_sub(1, std::memory_order_relaxed);
      active_workers.fetch_sub(1, std::memory_order_relaxed);
    }
    return;
  }
}

void Scheduler::start_blocking_thread_locked() {
  // Reap threads that retired (they no longer need the lock, so joining is brief).
  for (auto it = blocking_threads_.begin(); it != blocking_threads_.end();) {
    if (it->exited) {
      it->thread.join();
      it = blocking_threads_.erase(it);
    } else {
      ++it;
    }
  }
  auto self = blocking_threads_.emplace(blocking_threads_.end());
  try {
    self->thread = std::thread([this, self] { blocking_loop(self); });
  } catch (...) {
    blocking_threads_.erase(self);
    throw;
  }
  ++blocking_alive_;
}

void Scheduler::blocking_loop(std::list<BlockingThread>::iterator self) {
  tls_blocking_scheduler = this;
  UniqueLock lock(blocking_mutex_);
  for (;;) {
    if (blocking_queue_.empty()) {
      if (blocking_stopping_) break;
      ++blocking_idle_;
      const bool got = blocking_cv_.wait_for(lock.native(), options_.blocking_idle_timeout,
                                             [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(blocking_mutex_) {
        return !blocking_queue_.empty() || blocking_stopping_;
      });
      --blocking_idle_;
      if (!got) break;  // idle too long
      continue;
    }
    RawTask* task = blocking_queue_.front();
    blocking_queue_.pop_front();
    // Out of the registry while still under the pool's lock: once shutdown has stopped the
    // intake, every job left in the registry is one that will never start.
    registry_.remove(task);
    lock.unlock();
    {
      ByteAccount::Scope account(task->byte_account);
      if (task->cancel_requested()) {
        task->drop();
      } else {
        task->run();
      }
    }
    finish(task);
    lock.lock();
  }
  --blocking_alive_;
  self->exited = true;
  tls_blocking_scheduler = nullptr;
}

// ---- dedicated threads --------------------------------------------------------------------

DedicatedThread::~DedicatedThread() {
  if (thread.joinable()) thread.join();
  if (parker_ != nullptr) parker_->release();
}

void DedicatedThread::notify() noexcept {
  // Once ready_ is set the thread may poll, complete the task and exit, and a later spawn may
  // reap this record: take what the wake needs first, and touch nothing of ours after.
  Parker* parker = parker_;
  parker->retain();
  ready_.store(true, std::memory_order_release);  // release: see ready_
  parker->wake();
  parker->release();
}

void DedicatedThread::interrupt() noexcept {
  MutexLock lock(parker_mutex_);
  if (parker_ != nullptr) parker_->wake();
}

bool DedicatedThread::wait_ready(const Scheduler& scheduler) {
  SpinWait spin;
  for (;;) {
    // acquire: pairs with shutdown's release store of `stopping`.
    if (scheduler.stopping.load(std::memory_order_acquire)) return false;
    // acquire: pairs with notify's release.
    if (ready_.load(std::memory_order_relaxed) && ready_.exchange(false, std::memory_order_acquire)) {
      return true;
    }
    if (!spin.spin()) parker_->park();
  }
}

void DedicatedThread::run(Scheduler& scheduler) {
  tls_blocking_scheduler = &scheduler;  // Runtime::current(); shutdown() refuses to run here
  {
    // Under the lock: an interrupt() either finds the parker, or comes later than this and
    // the stopping check in wait_ready sees the flag it set first.
    Parker& own = Parker::current();
    own.retain();  // released with the record: notify() may come as the thread exits
    MutexLock lock(parker_mutex_);
    parker_ = &own;
  }
  while (wait_ready(scheduler)) {
    tls_polled_task = task_;
    bool done;
    {
      ByteAccount::Scope account(task_->byte_account);
      if (task_->cancel_requested()) {
        task_->drop();
        done = true;
      } else {
        done = task_->run();
      }
    }
    tls_polled_task = nullptr;
    if (done) {
      scheduler.finish(task_);  // may destroy the task; no schedule() can come after this
      break;
    }
    // Woken during the poll, cancelled or yielding: poll again at once.
    if (task_->end_poll(std::exchange(task_->context.yield_requested, false))) {
      ready_.store(true, std::memory_order_relaxed);  // our own flag: no other thread involved
    }
  }
  // Stopping: the shutdown drain cancels the task (still in the registry).
  tls_blocking_scheduler = nullptr;
  MutexLock lock(scheduler.dedicated_mutex_);
  exited = true;
}

void Scheduler::start_dedicated_thread(RawTask* task) {
  MutexLock lock(dedicated_mutex_);
  // Shutdown has begun: the task stays in the registry and the drain cancels it.
  if (dedicated_stopping_) return;
  // Reap threads whose task completed (their records can no longer be notified).
  for (auto it = dedicated_.begin(); it != dedicated_.end();) {
    it = it->exited ? dedicated_.erase(it) : std::next(it);
  }
  DedicatedThread& home = dedicated_.emplace_back(task);
  task->home = &home;
  try {
    home.thread = std::thread([this, &home] { home.run(*this); });
  } catch (...) {
    task->home = nullptr;
    dedicated_.pop_back();
    throw;
  }
  dedicated_started_.fetch_add(1, std::memory_order_relaxed);
}

void Scheduler::interrupt_dedicated_threads() {
  MutexLock lock(dedicated_mutex_);
  dedicated_stopping_ = true;  // no more records: the list is stable from here on
  for (DedicatedThread& home : dedicated_) home.interrupt();
}

void Scheduler::join_dedicated_threads() {
  // The list no longer changes (dedicated_stopping_), so the joins need no lock — and must not
  // hold it: an exiting thread takes it to mark its exit.
  for (DedicatedThread& home : dedicated_) {
    if (home.thread.joinable()) home.thread.join();
  }
}

void Scheduler::await_external_wakes() const noexcept {
  // seq_cst: pairs with enter_external_wake (see there); acquire for leave_external_wake.
  wait_out([this] { return external_wakes_.load(std::memory_order_seq_cst) != 0; });
}

void Scheduler::drain_registry(ShutdownReport& report, bool dedicated) {
  while (RawTask* task = registry_.take_any(dedicated)) {
    ++report.cancelled;
    if (report.tasks.size() < ShutdownReport::kMaxListed) {
      report.tasks.push_back(LiveTask{task->id, task->name,
                                      task->context.leaf ? (task->context.pending != nullptr
                                                                ? "suspended"
                                                                : "queued")
                                                         : "blocking-job"});
    }
    task->drop();
    task->complete_abandoned();
    // A plain thread's wake may have queued the task just before (the queue is closed, so it
    // stays unqueued) and still be reading it: the last reference waits for such wakes.
    await_external_wakes();
    task->release();  // may destroy the task
  }
}

void Scheduler::shutdown() {
  // Refused before the lock: a task calling shutdown while another thread's shutdown waits for
  // this thread (its poll, in deterministic mode) must get the error, not wait for the lock.
  if (on_own_worker() || tls_blocking_scheduler == this) {
    throw Error(ErrorCode::invalid_argument,
                "Runtime::shutdown: called from one of its own threads (it would join itself)");
  }
  MutexLock guard(shutdown_mutex_);
  if (shut_down_.load(std::memory_order_relaxed)) return;
  registry_.close();  // spawns fail from here on

  // 1. Workers finish their current poll and exit.
  stopping.store(true, std::memory_order_release);
  // Deterministic mode: a thread driving the runtime finishes its current poll, sees
  // `stopping` and returns (try_drive); wait for it, so that the drain below never cancels a
  // task while that thread polls it. (From the driving thread itself we threw above.)
  {
    MutexLock driver(drive_mutex_);
    const auto hook = test_hooks::shutdown_holding_drive_lock.load(std::memory_order_relaxed);
    if (hook != nullptr) hook();
  }
  {
    MutexLock lock(monitor_mutex_);
  }
  monitor_cv_.notify_all();
  if (monitor_.joinable()) monitor_.join();
  wake_all_parked();
  // A worker that parks after this sees `stopping` when it re-checks (park()).
  for (auto& worker : workers_) worker->join();
  // Dedicated threads stop after their current poll too, but are joined only after the
  // workers' tasks are cancelled (step 3): a handler blocked in a send to one of them is freed
  // when that task's receiver is dropped.
  interrupt_dedicated_threads();
  {
    MutexLock lock(global_mutex_);
    global_closed_ = true;
    global_head_ = global_tail_ = nullptr;
    global_len_.store(0, std::memory_order_relaxed);
  }
  {
    MutexLock lock(ready_mutex_);  // deterministic mode: the drain below cancels these
    ready_closed_ = true;
    ready_.clear();
  }

  // 2. Queued blocking jobs will not start; running ones (already out of the registry)
  // finish by themselves.
  {
    MutexLock lock(blocking_mutex_);
    blocking_stopping_ = true;
    blocking_queue_.clear();  // still in the registry: cancelled below
  }
  blocking_cv_.notify_all();

  // 3. Cancel every task still alive: the workers' first, then — once their threads are
  // joined, so that no thread polls them any more — the dedicated ones.
  ShutdownReport report;
  drain_registry(report, false);
  join_dedicated_threads();
  drain_registry(report, true);

  // 4. Running blocking jobs are waited for.
  std::list<BlockingThread> threads;
  {
    MutexLock lock(blocking_mutex_);
    threads.swap(blocking_threads_);
  }
  for (BlockingThread& thread : threads) {
    if (thread.thread.joinable()) thread.thread.join();
  }
  // 5. A wake from outside that queued a task before the queues closed may still be finishing
  // (notify_parked, leave_external_wake) after that task ran and was freed: the Runtime may
  // free the Scheduler once we return, so wait for it.
  await_external_wakes();
  {
    MutexLock lock(report_mutex_);
    report_ = std::move(report);
  }
  shut_down_.store(true, std::memory_order_release);
}

// ---- deterministic mode ---------------------------------------------------------------------

void Scheduler::push_ready(RawTask* task) {
  MutexLock lock(ready_mutex_);
  if (ready_closed_) return;  // shut down: the drain cancels every live task
  // No allocation failure to fear in practice: the vector only grows to the most tasks ever
  // runnable at once, and push_ready is noexcept in spirit (as push_global).
  ready_.push_back(task);
}

RawTask* Scheduler::pop_ready(std::int32_t& budget) {
  MutexLock lock(ready_mutex_);
  if (ready_.empty()) return nullptr;
  const std::size_t pick = xorshift(drive_rng_) % ready_.size();
  RawTask* task = ready_[pick];
  ready_[pick] = ready_.back();
  ready_.pop_back();
  // A budget cut short at random now and then, so that a task whose operations are all ready
  // still yields at some of them: more interleavings to explore.
  const std::uint64_t roll = xorshift(drive_rng_);
  budget = roll % 4 == 0 ? static_cast<std::int32_t>(1 + (roll >> 8) % 4) : kCoopBudget;
  return task;
}

std::size_t Scheduler::drive(absl::FunctionRef<bool()> done) {
  // Shutting down: nothing is polled any more (and shutdown may hold drive_mutex_ briefly,
  // which is no other driver).
  if (stopping.load(std::memory_order_acquire)) return 0;
  if (const auto hook = test_hooks::drive_checked_stopping.load(std::memory_order_relaxed)) {
    hook();
  }
  const std::optional<std::size_t> polls = try_drive(done);
  if (!polls) {
    // The lock was taken: by another driver, or by a shutdown that began after the check
    // above (it holds the lock briefly). Then the drive is over, as for a shutdown seen first.
    if (stopping.load(std::memory_order_acquire)) return 0;
    throw Error(ErrorCode::invalid_argument,
                "Runtime::run_until_idle: another thread is driving this runtime");
  }
  return *polls;
}

std::optional<std::size_t> Scheduler::try_drive(absl::FunctionRef<bool()> done) {
  if (!deterministic_) {
    throw Error(ErrorCode::invalid_argument,
                "Runtime::run_until_idle: the runtime is not deterministic "
                "(RuntimeOptions::deterministic_seed is unset)");
  }
  if (tls_worker != nullptr || tls_blocking_scheduler != nullptr) {
    throw Error(ErrorCode::invalid_argument,
                "Runtime::run_until_idle: called from a runtime's task (it would run itself)");
  }
  if (!drive_mutex_.try_lock()) return std::nullopt;
  UniqueLock drive_lock(drive_mutex_, std::adopt_lock);
  Worker& worker = *workers_.front();
  tls_worker = &worker;
  const TimerDriver::ClockScope clock(timers_);
  struct Restore {
    Worker& worker;
    ~Restore() {
      worker.return_scheduler_refs();
      tls_worker = nullptr;
    }
  } restore{worker};
  std::size_t polls = 0;
  while (!done() && !stopping.load(std::memory_order_acquire)) {
    std::int32_t budget = 0;
    RawTask* task = pop_ready(budget);
    if (task == nullptr) {
      const auto next = timers_.next_deadline();
      if (!next) break;  // idle
      timers_.advance_to(*next);
      timers_.process(timers_.now());
      continue;
    }
    worker.run_task(task, budget);
    ++polls;
  }
  return polls;
}

ShutdownReport Scheduler::report() const {
  MutexLock lock(report_mutex_);
  return report_;
}

}  // namespace troupe::detail
