// troupe/channels/shared_buffer.hpp — SharedBuffer: bytes shared between threads, with atomic
// views and wait/notify on a word (Node's SharedArrayBuffer + Atomics).
//
//   troupe::SharedBuffer shared(4096);            // zero-filled, 64-byte aligned
//   (void)tx.blocking_send(shared);                 // a copy of the handle: the same bytes
//   shared.i32(0).fetch_add(1);                     // std::atomic_ref<std::int32_t> on word 0
//   shared.i32(1).store(1);  shared.notify_i32(1);  // publish, then wake waiters on word 1
//   shared.wait_i32(1, 0);                          // (other thread) sleep while word 1 == 0
//
// Sharing. Copying a SharedBuffer copies the handle, not the bytes: every copy refers to the
// same memory, which lives until the last handle is gone (an atomic reference count). Sharing is
// the point of the type, so it is visible in it: a SharedBuffer is Sendable by explicit opt-in,
// and every access from several threads goes through the atomic views below. A moved-from or
// default-constructed SharedBuffer is an empty handle: size() 0, valid() false; any access to
// the bytes throws Error(invalid_handle).
//
// Atomic views. i32(i) and i64(i) (and atomic<T>(i) for any lock-free integer) are
// std::atomic_ref to word i, indexed in units of the word like a JS Int32Array/BigInt64Array:
// i32(2) is bytes 8..11, i64(1) is bytes 8..15. The bytes start on a 64-byte boundary, so
// every word is naturally aligned. An index past the last whole word throws Error(out_of_range)
// naming the index and the number of words.
//
// Wait and notify (Atomics.wait / Atomics.notify). wait_i32(i, expected[, timeout]) compares
// word i with `expected` and, if equal, sleeps until a notify on that word or the timeout:
//   WaitResult::ok         woken by notify;
//   WaitResult::not_equal  the word differed from `expected` (nothing waited);
//   WaitResult::timed_out  the timeout passed first (a zero timeout just compares).
// notify_i32(i, count) wakes up to `count` waiters on that word (kNotifyAll for all), oldest
// first, and returns how many it woke. Waiters are keyed by address: notify_i64(1) wakes
// waiters of wait_i32(2) (same first byte), as in JavaScript. Spurious wake-ups are absorbed:
// wait returns ok only when notified. A negative (or NaN) timeout throws Error(invalid_argument).
//
// No lost wake-ups. The comparison and the enqueueing of the waiter happen under the lock
// that notify takes for the same word. So if a thread changes the word and then calls notify,
// every waiter that saw the old value is woken, and every later waiter sees the new value and
// returns not_equal. (Changing the word without notifying wakes nobody, as with futexes.)
//
// Memory ordering. Operations through i32()/i64()/atomic<T>() have the std::atomic_ref
// semantics of the memory_order you pass (seq_cst by default, as in Atomics). The comparison in
// wait is a seq_cst load. Everything a thread did before notify() happens-before the return of
// a wait() that it woke with WaitResult::ok. Copying a handle synchronizes nothing about the
// bytes: the threads that share them synchronize through the atomic views, wait/notify, or a
// channel (everything before a send happens-before the matching recv).
//
// Implementation. wait/notify use a parking lot: a fixed table of buckets, each a mutex and a
// FIFO list of waiter records keyed by address (detail/word_waiter.hpp, shared_buffer.cpp). A
// waiter record wakes its owner through a troupe::Waker: a blocked thread's Parker here, a
// task's own Waker for troupe::wait_async_i32 / wait_async_i64 (Atomics.waitAsync, in
// runtime/sync/wait_async.hpp), which queue in the same lists — notify wakes threads and tasks
// alike, oldest first, and counts both. No futex is placed on the word itself: a 64-bit word
// cannot be futex-waited, and a futex on half of it loses wakes.
//
// Thread-safety. Different SharedBuffer handles to the same bytes may be copied, moved and
// destroyed concurrently (like std::shared_ptr). The views, wait and notify are thread-safe.
// One handle object must not be assigned while another thread uses it.
// Allocation. The constructor allocates the bytes once; copies never allocate; wait never
// allocates after a thread's first blocking call; notify allocates only when it wakes more
// than 16 waiters at once.
//
// What this does not guarantee. bytes() and data() give plain, non-atomic access: fill the
// buffer before sharing it, or make sure (through a channel, a notify, an atomic) that no
// other thread touches the same bytes at the same time — a concurrent non-atomic access is a
// data race. wait/notify order waiters per bucket, not globally: waiters on one word are woken
// oldest first, but no fairness holds between words.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

#include "troupe/channels/error.hpp"
#include "troupe/channels/sendable.hpp"

namespace troupe {

class SharedBuffer;

namespace detail {
// The address of word `index` of `width` bytes in `buffer`, after the checks of i32 / wait_i32
// (throwing Error(out_of_range) / Error(invalid_handle) with `what` naming the operation). For
// waits on the buffer's words built elsewhere (wait_async.hpp). Thread-safe. Never allocates.
[[nodiscard]] std::byte* shared_word(const SharedBuffer& buffer, std::size_t index,
                                     std::size_t width, const char* what);
}  // namespace detail

// The outcome of SharedBuffer::wait_i32 / wait_i64 (Atomics.wait's "ok", "not-equal",
// "timed-out").
enum class WaitResult { ok, not_equal, timed_out };

// The result's name, e.g. "timed_out". Never allocates.
[[nodiscard]] std::string_view to_string(WaitResult result) noexcept;

class SharedBuffer {
 public:
  // The alignment of the first byte (a cache line), so every word is naturally aligned.
  static constexpr std::size_t kAlignment = 64;
  // Larger requests fail without asking the allocator.
  static constexpr std::size_t kMaxSize = std::size_t{1} << 48;
  // notify(index, kNotifyAll) wakes every waiter.
  static constexpr std::size_t kNotifyAll = static_cast<std::size_t>(-1);

  // An empty handle: size() 0, valid() false. Never allocates.
  SharedBuffer() noexcept = default;
  // `size` zero-filled shared bytes. Throws Error(resource_exhausted) if they cannot be
  // allocated (or size > kMaxSize). Allocates once.
  explicit SharedBuffer(std::size_t size);

  // Another handle to the same bytes. Thread-safe (with respect to other handles; `other`
  // itself must not be assigned meanwhile). Never allocates.
  SharedBuffer(const SharedBuffer& other) noexcept;
  SharedBuffer& operator=(const SharedBuffer& other) noexcept;
  // Moves the handle; `other` becomes empty. Owner thread only. Never allocates.
  SharedBuffer(SharedBuffer&& other) noexcept;
  SharedBuffer& operator=(SharedBuffer&& other) noexcept;
  // Drops this handle; the bytes are freed with the last one. Owner thread only.
  ~SharedBuffer();

  // False for a default-constructed or moved-from handle. Thread-safe. Never allocates.
  [[nodiscard]] bool valid() const noexcept { return block_ != nullptr; }
  // Number of bytes; 0 for an empty handle. Thread-safe. Never allocates.
  [[nodiscard]] std::size_t size() const noexcept;
  // The first byte, or nullptr for an empty handle. Thread-safe. Never allocates.
  [[nodiscard]] std::byte* data() const noexcept;
  // How many handles share the bytes (0 for an empty handle); a snapshot. Thread-safe. Never
  // allocates.
  [[nodiscard]] std::size_t use_count() const noexcept;

  // All the bytes, for non-atomic access (see "What this does not guarantee"). Throws
  // Error(invalid_handle) for an empty handle. Thread-safe. Never allocates.
  [[nodiscard]] std::span<std::byte> bytes() const;

  // Word `index` of the buffer viewed as 32-bit words. Throws Error(out_of_range) if there is no
  // such whole word, Error(invalid_handle) for an empty handle. Thread-safe. Never allocates.
  [[nodiscard]] std::atomic_ref<std::int32_t> i32(std::size_t index) const {
    return std::atomic_ref<std::int32_t>(
        *reinterpret_cast<std::int32_t*>(word(index, 4, "SharedBuffer::i32")));
  }
  // Word `index` of the buffer viewed as 64-bit words. As i32. Thread-safe. Never allocates.
  [[nodiscard]] std::atomic_ref<std::int64_t> i64(std::size_t index) const {
    return std::atomic_ref<std::int64_t>(
        *reinterpret_cast<std::int64_t*>(word(index, 8, "SharedBuffer::i64")));
  }
  // Word `index` of the buffer viewed as elements of the lock-free integer T. As i32.
  // Thread-safe. Never allocates.
  template <class T>
    requires std::is_integral_v<T> && (!std::is_same_v<T, bool>) &&
             std::atomic_ref<T>::is_always_lock_free
  [[nodiscard]] std::atomic_ref<T> atomic(std::size_t index) const {
    std::byte* address = word(index, sizeof(T), "SharedBuffer::atomic");
    return std::atomic_ref<T>(*reinterpret_cast<T*>(address));
  }

  // Atomics.wait on 32-bit word `index`: if it equals `expected`, sleeps until notified. Returns
  // ok or not_equal. Throws Error(out_of_range) / Error(invalid_handle) as i32. Thread-safe.
  // Allocates only on a thread's first blocking call anywhere in troupe (its Parker).
  [[nodiscard]] WaitResult wait_i32(std::size_t index, std::int32_t expected) const;
  // As above, giving up after `timeout` (>= 0) with timed_out; a zero timeout only compares.
  // Throws Error(invalid_argument) for a negative or NaN timeout. Thread-safe.
  template <class Rep, class Period>
  [[nodiscard]] WaitResult wait_i32(std::size_t index, std::int32_t expected,
                                    std::chrono::duration<Rep, Period> timeout) const {
    return wait_i32_for(index, expected, checked_timeout(timeout, "SharedBuffer::wait_i32"));
  }
  // Atomics.wait on 64-bit word `index`. As wait_i32. Thread-safe.
  [[nodiscard]] WaitResult wait_i64(std::size_t index, std::int64_t expected) const;
  template <class Rep, class Period>
  [[nodiscard]] WaitResult wait_i64(std::size_t index, std::int64_t expected,
                                    std::chrono::duration<Rep, Period> timeout) const {
    return wait_i64_for(index, expected, checked_timeout(timeout, "SharedBuffer::wait_i64"));
  }

  // Atomics.notify: wakes up to `count` waiters on 32-bit word `index` (kNotifyAll: all of
  // them), oldest first; returns how many were woken. Throws as i32. Thread-safe. Allocates
  // only to wake more than 16 waiters at once.
  std::size_t notify_i32(std::size_t index, std::size_t count = kNotifyAll) const;
  // As notify_i32, for 64-bit word `index`. Thread-safe.
  std::size_t notify_i64(std::size_t index, std::size_t count = kNotifyAll) const;

  // How many parties are waiting on 32-bit (64-bit) word `index` right now: a snapshot, for
  // tests and diagnostics. Throws as i32. Thread-safe. Never allocates.
  [[nodiscard]] std::size_t waiter_count_i32(std::size_t index) const;
  [[nodiscard]] std::size_t waiter_count_i64(std::size_t index) const;

 private:
  struct Block;
  // "Forever": a timeout this long (about 100 years) or longer waits without a deadline.
  static constexpr std::chrono::nanoseconds kForever{std::chrono::hours(24 * 365 * 100)};

  template <class Rep, class Period>
  static std::chrono::nanoseconds checked_timeout(std::chrono::duration<Rep, Period> timeout,
                                                  const char* what) {
    if (!(timeout >= timeout.zero())) throw_bad_timeout(what);  // negative, or NaN
    using Wide = std::chrono::duration<long double, std::nano>;
    if (Wide(timeout) >= Wide(kForever)) return kForever;
    return std::chrono::ceil<std::chrono::nanoseconds>(timeout);  // never wait less than asked
  }
  [[noreturn]] static void throw_bad_timeout(const char* what);

  // Address of word `index` of `width` bytes, after the checks.
  [[nodiscard]] std::byte* word(std::size_t index, std::size_t width, const char* what) const;
  friend std::byte* detail::shared_word(const SharedBuffer& buffer, std::size_t index,
                                        std::size_t width, const char* what);
  [[nodiscard]] WaitResult wait_i32_for(std::size_t index, std::int32_t expected,
                                        std::chrono::nanoseconds timeout) const;
  [[nodiscard]] WaitResult wait_i64_for(std::size_t index, std::int64_t expected,
                                        std::chrono::nanoseconds timeout) const;

  Block* block_ = nullptr;
};

// A SharedBuffer shares its bytes on purpose; the type says so, and access goes through atomics.
template <>
inline constexpr bool enable_sendable<SharedBuffer> = true;

}  // namespace troupe
