// Fences for the two Dekker-style handshakes of the channels (see chan_base.hpp). Not API.
//
// seq_cst_fence(): a plain sequentially consistent fence.
//
// light_fence() / heavy_fence(): an *asymmetric* pair for a handshake where one side runs on
// every message and the other almost never (a receiver freeing a slot vs. a sender about to
// park). The frequent side pays only a compiler barrier; the rare side calls
// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which makes every running thread of the process
// execute a full memory barrier before it returns — so for any light_fence, the heavy_fence is
// ordered either before it or after it, exactly as two seq_cst fences would be. This is the
// technique of Linux's sys_membarrier (used by liburcu and folly's asymmetric barriers).
// Measured here: a seq_cst fence costs ~5 ns per receive; membarrier ~0.4-3 us per park.
// Where membarrier is unavailable (old kernel, seccomp), both sides fall back to full fences;
// under ThreadSanitizer (which models neither fences nor membarrier) every fence becomes a
// seq_cst read-modify-write of one shared word, a stronger ordering that TSan understands.
#pragma once

#include <atomic>

namespace troupe::detail {

#if defined(__SANITIZE_THREAD__)
inline std::atomic<unsigned> tsan_fence_word{0};
inline void seq_cst_fence() noexcept {
  tsan_fence_word.fetch_add(0, std::memory_order_seq_cst);
}
inline void light_fence() noexcept {
  seq_cst_fence();
}
inline void heavy_fence() noexcept {
  seq_cst_fence();
}
inline void prepare_asymmetric_fence() noexcept {}
#else
inline void seq_cst_fence() noexcept {
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

// True once membarrier is registered for this process; set once, never cleared.
extern std::atomic<bool> asymmetric_fence_ready;

// Registers the process for membarrier (once; later calls are a load). Thread-safe.
void prepare_asymmetric_fence() noexcept;

inline void light_fence() noexcept {
  // relaxed: if this reads true, registration finished, and every heavy_fence from then on is
  // a membarrier; if it reads false, a full fence is used, which pairs with either kind.
  if (asymmetric_fence_ready.load(std::memory_order_relaxed)) {
    std::atomic_signal_fence(std::memory_order_seq_cst);  // compiler barrier only
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
}

void heavy_fence() noexcept;
#endif

}  // namespace troupe::detail
