// The watchdog: one process-wide thread, started by the first actor with a message_budget, that
// looks at every such actor a few times per budget and reports a handler past it
// (ActorCell::check_budget). It never touches an actor's state: a slow handler keeps its
// worker (the runtime's monitor adds workers so that the others keep running).
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <thread>
#include <vector>

#include "troupe/actors/actor.hpp"
#include "troupe/channels/detail/mutex.hpp"

namespace troupe::detail {
namespace {

class Watchdog {
 public:
  ~Watchdog() {
    std::thread thread;
    {
      detail::MutexLock lock(mutex_);
      stopping_ = true;
      thread = std::move(thread_);
    }
    wake_.notify_all();
    if (thread.joinable()) thread.join();
  }

  void watch(const std::shared_ptr<ActorCell>& cell) ABSL_LOCKS_EXCLUDED(mutex_) {
    detail::MutexLock lock(mutex_);
    cells_.push_back(cell);
    period_ = std::min(period_, std::max(kMinPeriod, cell->timing->budget / 4));
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    wake_.notify_all();  // a shorter period may apply now
  }

 private:
  static constexpr std::chrono::nanoseconds kMinPeriod = std::chrono::milliseconds(1);
  static constexpr std::chrono::nanoseconds kMaxPeriod = std::chrono::milliseconds(50);

  void run() ABSL_LOCKS_EXCLUDED(mutex_) {
    detail::UniqueLock lock(mutex_);
    while (!stopping_) {
      wake_.wait_for(lock.native(), period_);
      if (stopping_) break;
      std::vector<std::shared_ptr<ActorCell>> live;
      std::erase_if(cells_, [&](const std::weak_ptr<ActorCell>& weak) {
        auto cell = weak.lock();
        if (cell == nullptr || cell->state.load(std::memory_order_relaxed) ==
                                   ActorState::exited) {
          return true;  // gone: stop watching
        }
        live.push_back(std::move(cell));
        return false;
      });
      lock.unlock();  // reports emit events: not under our lock
      const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count();
      for (auto& cell : live) cell->check_budget(now);
      live.clear();  // a cell may be destroyed here, outside the lock
      lock.lock();
    }
  }

  detail::PlainMutex mutex_;
  std::condition_variable wake_;
  std::vector<std::weak_ptr<ActorCell>> cells_ ABSL_GUARDED_BY(mutex_);
  std::chrono::nanoseconds period_ ABSL_GUARDED_BY(mutex_) = kMaxPeriod;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread thread_ ABSL_GUARDED_BY(mutex_);  // started by watch(); joined by the destructor
};

Watchdog& watchdog() {
  static Watchdog instance;  // joined at exit
  return instance;
}

}  // namespace

void watch_budget(const std::shared_ptr<ActorCell>& cell) { watchdog().watch(cell); }

}  // namespace troupe::detail
