// Mutex: a Semaphore with one permit (see sync_semaphore.cpp); only the blocking forms live here.
#include <optional>

#include "troupe/channels/awaitable.hpp"
#include "troupe/runtime/sync/mutex.hpp"

namespace troupe {

MutexGuard Mutex::blocking_lock() {
  LockOp op(*this);
  return block_on_op(op);
}

std::optional<MutexGuard> Mutex::blocking_lock_until(
    std::chrono::steady_clock::time_point deadline) {
  LockOp op(*this);
  if (!block_on_op_until(op, deadline)) return std::nullopt;
  return op.take();
}

}  // namespace troupe
