#include "troupe/channels/byte_account.hpp"

#include <string>
#include <utility>

#include "troupe/channels/error.hpp"

namespace troupe {

ByteAccount* ByteAccount::create(std::size_t limit, std::string owner) {
  if (limit == 0) {
    throw Error(ErrorCode::invalid_argument,
                "ByteAccount: the limit of " + owner + " must be positive");
  }
  return new ByteAccount(limit, std::move(owner));
}

void ByteAccount::release() noexcept {
  // acq_rel: the last release sees every other holder's last use before deleting.
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

std::string ByteAccount::describe() const {
  return "byte quota of " + owner_ + " exceeded: holds " + std::to_string(used()) +
         " bytes (peak " + std::to_string(peak()) + "), limit " + std::to_string(limit_);
}

void ByteAccount::note_peak(std::size_t now) noexcept {
  std::size_t peak = peak_.load(std::memory_order_relaxed);
  while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

void ByteAccount::charge_allocation(std::size_t bytes) {
  std::size_t used = used_.load(std::memory_order_relaxed);
  for (;;) {
    if (bytes > limit_ || used > limit_ - bytes) {
      exceeded_.store(true, std::memory_order_relaxed);
      throw Error(ErrorCode::resource_exhausted,
                  "Buffer: cannot allocate " + std::to_string(bytes) + " bytes: byte quota of " +
                      owner_ + " (" + std::to_string(limit_) + " bytes) would be exceeded; it " +
                      "holds " + std::to_string(used));
    }
    // relaxed: the CAS only keeps the sum under the limit; it publishes nothing.
    if (used_.compare_exchange_weak(used, used + bytes, std::memory_order_relaxed)) break;
  }
  note_peak(used + bytes);
}

void ByteAccount::charge_transfer(std::size_t bytes) noexcept {
  const std::size_t now = used_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  note_peak(now);
  if (now > limit_) exceeded_.store(true, std::memory_order_relaxed);
}

}  // namespace troupe
