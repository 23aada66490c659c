#include "troupe/channels/detail/fence.hpp"

#if !defined(__SANITIZE_THREAD__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace troupe::detail {

std::atomic<bool> asymmetric_fence_ready{false};

namespace {

bool register_membarrier() noexcept {
  const long supported = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  if (supported < 0 || (supported & MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0 ||
      (supported & MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0) {
    return false;
  }
  return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
}

// The one decision, made once: a function-local static is initialised exactly once, and every
// caller returns only after that initialisation completed.
bool membarrier_registered() noexcept {
  static const bool registered = [] {
    const bool ok = register_membarrier();
    // relaxed suffices: see light_fence(); registration itself happened-before this store.
    if (ok) asymmetric_fence_ready.store(true, std::memory_order_relaxed);
    return ok;
  }();
  return registered;
}

}  // namespace

void prepare_asymmetric_fence() noexcept {
  (void)membarrier_registered();
}

void heavy_fence() noexcept {
  if (membarrier_registered() &&
      syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) {
    return;
  }
  // Not registered: every light_fence is a full fence too, so a full fence pairs with it.
  // (Once registered, the kernel ABI gives PRIVATE_EXPEDITED no failure mode.)
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

}  // namespace troupe::detail
#endif
