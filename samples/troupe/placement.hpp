// placement.hpp — --placement spread: pinning a run's threads round-robin over the CPUs the
// process may use (the thread and pool styles).
#pragma once

#include <pthread.h>
#include <sched.h>

#include <cstddef>
#include <string>
#include <vector>

#include "load.hpp"

namespace troupe::cli {

// Pins the threads of one run round-robin over the CPUs this process may use (--placement
// spread), and gives the calling thread its own affinity back when the run is over.
class ThreadPlacement {
 public:
  explicit ThreadPlacement(Placement placement) : placement_(placement) {
    if (placement_ != Placement::spread) return;
    if (pthread_getaffinity_np(pthread_self(), sizeof(original_), &original_) != 0) {
      placement_ = Placement::os;  // cannot read it: leave placement to the kernel
      return;
    }
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &original_)) cpus_.push_back(cpu);
    }
    if (cpus_.size() < 2) placement_ = Placement::os;  // nothing to spread over
  }
  ThreadPlacement(const ThreadPlacement&) = delete;
  ThreadPlacement& operator=(const ThreadPlacement&) = delete;
  ~ThreadPlacement() {
    if (placement_ == Placement::spread) {
      pthread_setaffinity_np(pthread_self(), sizeof(original_), &original_);
    }
  }

  // Pins the calling thread, the run's `index`-th (the driver is 0).
  void pin(std::size_t index) const {
    if (placement_ != Placement::spread) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpus_[index % cpus_.size()], &one);
    pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
  }
  [[nodiscard]] Field field() const {
    return {"placement", std::string(placement_ == Placement::spread ? "spread" : "os")};
  }

 private:
  Placement placement_;
  cpu_set_t original_{};
  std::vector<int> cpus_;
};

}  // namespace troupe::cli
