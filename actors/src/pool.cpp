#include "troupe/actors/pool.hpp"

#include <algorithm>
#include <system_error>
#include <vector>

namespace troupe {

// One worker thread. `exited` is set (under the pool's lock) as its last act; the thread is
// joined by whoever erases the record: the next start (reap) or the close.
struct Pool::Thread {
  std::thread thread;
  bool exited = false;
};

namespace {
// The pool's worker the calling thread is, if any (close must not join itself).
thread_local const Pool* tls_pool = nullptr;

PoolOptions checked(PoolOptions options) {
  const std::size_t max = options.max_workers.value_or(
      std::max(options.min_workers, RuntimeOptions::default_threads()));
  if (max == 0) {
    throw Error(ErrorCode::invalid_argument, "PoolOptions::max_workers must be >= 1, got 0");
  }
  if (options.min_workers > max) {
    throw Error(ErrorCode::invalid_argument,
                "PoolOptions: min_workers (" + std::to_string(options.min_workers) +
                    ") exceeds max_workers (" + std::to_string(max) + ")");
  }
  if (options.idle_timeout <= std::chrono::milliseconds::zero()) {
    throw Error(ErrorCode::invalid_argument,
                "PoolOptions::idle_timeout must be positive, got " +
                    std::to_string(options.idle_timeout.count()) + " ms");
  }
  if (options.max_queue > static_cast<std::size_t>(Semaphore::kMaxPermits)) {
    throw Error(ErrorCode::invalid_argument,
                "PoolOptions::max_queue is too large: " + std::to_string(options.max_queue));
  }
  options.max_workers = max;
  return options;
}
}  // namespace

Pool::Pool(PoolOptions options)
    : options_(checked(std::move(options))), max_workers_(*options_.max_workers) {
  if (options_.max_queue != 0) room_.emplace(static_cast<std::int64_t>(options_.max_queue));
  try {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < options_.min_workers; ++i) start_worker_locked();
  } catch (...) {
    close(true);  // no thread for the minimum: stop the ones started, then fail
    throw;
  }
}

Pool::~Pool() { close(true); }

std::string Pool::describe() const {
  return "pool" + (options_.name.empty() ? std::string() : " '" + options_.name + "'");
}

void Pool::count_rejected() {
  std::lock_guard lock(mutex_);
  ++stats_.rejected;
}

void Pool::check_priority(int priority) {
  if (priority < -kMaxPriority || priority > kMaxPriority) {
    throw Error(ErrorCode::invalid_argument,
                "Pool: priority " + std::to_string(priority) + " is outside [-" +
                    std::to_string(kMaxPriority) + ", " + std::to_string(kMaxPriority) + "]");
  }
}

namespace {
template <class Q>
bool lower_score(const Q& a, const Q& b) noexcept {
  return a.score < b.score;
}
}  // namespace

bool Pool::push(const std::shared_ptr<detail::PoolJob>& job, bool permit, int priority) {
  {
    std::lock_guard lock(mutex_);
    if (!closing_) {
      const std::int64_t score = std::int64_t{priority} * kAgingTasks - next_seq_++;
      queue_.push_back(Queued{score, job});
      std::push_heap(queue_.begin(), queue_.end(), lower_score<Queued>);
      ++stats_.submitted;
      // More queued tasks than idle workers (an idle worker already notified has not yet
      // taken its task, so idle_ alone would overcount): one more worker, if allowed.
      if (queue_.size() > idle_ && alive_ < max_workers_) {
        try {
          start_worker_locked();
        } catch (const std::system_error&) {
          // No thread to be had now (a process limit): the task stays queued for a running
          // worker, the next submit's attempt, or the close (which cancels it if no worker
          // is left to run it).
        }
      }
      if (idle_ > 0) work_cv_.notify_one();
      return true;
    }
  }
  if (permit) room_->release(1);  // a closed pool's room, for the next waiter to find closed
  return false;
}

void Pool::start_worker_locked() {
  reap_locked();
  auto self = threads_.emplace(threads_.end());
  try {
    self->thread = std::thread([this, self] { worker_loop(self); });
  } catch (...) {
    threads_.erase(self);
    throw;
  }
  ++alive_;
  ++stats_.workers_started;
}

void Pool::reap_locked() {
  for (auto it = threads_.begin(); it != threads_.end();) {
    if (it->exited) {
      it->thread.join();  // it has only to return: its last act was under our lock
      it = threads_.erase(it);
    } else {
      ++it;
    }
  }
}

void Pool::worker_loop(std::list<Thread>::iterator self) {
  tls_pool = this;
  std::unique_lock lock(mutex_);
  for (;;) {
    if (queue_.empty()) {
      if (closing_) break;
      ++idle_;
      const bool woken = work_cv_.wait_for(lock, options_.idle_timeout,
                                           [&] { return !queue_.empty() || closing_; });
      --idle_;
      if (!woken && alive_ > options_.min_workers) {
        ++stats_.workers_retired;
        break;
      }
      continue;
    }
    std::pop_heap(queue_.begin(), queue_.end(), lower_score<Queued>);
    std::shared_ptr<detail::PoolJob> job = std::move(queue_.back().job);
    queue_.pop_back();
    if (!job->claim(detail::PoolJob::kRunning)) {
      // Cancelled by its future while queued (already resolved): discarded unrun.
      ++stats_.cancelled;
      lock.unlock();
      if (room_) room_->release(1);
      job.reset();
      lock.lock();
      continue;
    }
    ++running_;
    lock.unlock();
    if (room_) room_->release(1);  // the task's permit: a submitter may queue another
    const bool ok = job->run();    // the callable is destroyed at its end, outside the lock
    // release: a cancel() that reads kDone sees the task over.
    job->phase.store(detail::PoolJob::kDone, std::memory_order_release);
    job.reset();
    lock.lock();
    --running_;
    ++(ok ? stats_.completed : stats_.failed);
  }
  --alive_;
  self->exited = true;
  tls_pool = nullptr;
  done_cv_.notify_all();
}

void Pool::close(bool force) {
  if (tls_pool == this) {
    throw Error(ErrorCode::invalid_argument,
                "Pool::close: called from one of the pool's own workers (it would join itself)");
  }
  // Dropped tasks resolve their futures with Error(cancelled) as they are destroyed; their
  // permits go back so that submitters still waiting for room wake up and find the pool
  // closed.
  const auto cancel = [this](std::vector<Queued>& jobs) {
    for (Queued& queued : jobs) {
      // Not already cancelled by its future: cancelled here.
      if (queued.job->claim(detail::PoolJob::kCancelled)) queued.job->abandon();
    }
    if (room_ && !jobs.empty()) room_->release(static_cast<std::int64_t>(jobs.size()));
    jobs.clear();
  };
  std::vector<Queued> dropped;
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
    if (force) {
      dropped.swap(queue_);
      stats_.cancelled += dropped.size();
    }
    work_cv_.notify_all();
  }
  cancel(dropped);  // at once, not after the running tasks
  std::list<Thread> threads;
  {
    std::unique_lock lock(mutex_);
    // Every worker finishes the queue (unless dropped) and its running task, then exits.
    done_cv_.wait(lock, [&] { return alive_ == 0; });
    // Left with no worker to run them (none could be started): cancelled.
    stats_.cancelled += queue_.size();
    dropped.swap(queue_);
    threads.swap(threads_);
  }
  cancel(dropped);
  for (Thread& t : threads) {
    if (t.thread.joinable()) t.thread.join();
  }
}

bool Pool::is_closed() const {
  std::lock_guard lock(mutex_);
  return closing_;
}

PoolStats Pool::stats() const {
  std::lock_guard lock(mutex_);
  PoolStats out = stats_;
  out.queued = queue_.size();
  out.running = running_;
  out.workers = alive_;
  out.idle_workers = idle_;
  return out;
}

}  // namespace troupe
