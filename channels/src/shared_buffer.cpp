// SharedBuffer: the reference-counted block, the atomic word views, and a parking lot for
// wait/notify.
//
// Parking lot. A fixed table of kBucketCount buckets; a word's address picks its bucket. Each
// bucket is a mutex and an intrusive FIFO list of waiter records (detail::WordWaiter, one per
// waiting party) that carry the waited-on address and a WakerRef. park_word compares the word
// and enqueues its record under the bucket lock; notify_word unlinks matching records under the
// same lock, so a notify that follows a change of the word cannot miss a waiter that saw the old
// value. Several words share a bucket; records are matched by address. This is the design of
// WebKit's ParkingLot and of Rust's parking_lot crate, reduced to what Atomics.wait/notify need.
//
// Two kinds of waiter use it: a blocked thread (wait_on below: its record on its stack, its
// Parker as the waker) and a task (WaitAsyncOp in runtime/sync/wait_async.hpp: its record in the
// coroutine frame, the task as the waker). Withdrawing — a timeout here, a cancellation there —
// is unpark_word in both. See detail/word_waiter.hpp for the states of a record.
#include "troupe/channels/shared_buffer.hpp"

#include <array>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "troupe/channels/detail/mutex.hpp"
#include "troupe/channels/detail/word_waiter.hpp"
#include "troupe/channels/waker.hpp"

namespace troupe {

// The reference count and size sit in front of the bytes, in one allocation.
struct SharedBuffer::Block {
  std::atomic<std::size_t> refs{1};
  std::size_t size = 0;
  void* allocation = nullptr;  // what calloc returned (the block is aligned inside it)
};

namespace {

// The header takes one alignment unit, so the bytes after it are aligned too.
constexpr std::size_t kHeaderSize = SharedBuffer::kAlignment;
static_assert(std::atomic_ref<std::int32_t>::is_always_lock_free);
static_assert(std::atomic_ref<std::int64_t>::is_always_lock_free);

std::byte* bytes_of(void* block) noexcept {
  return static_cast<std::byte*>(block) + kHeaderSize;
}

// --- Parking lot ------------------------------------------------------------------------------

using detail::WordPark;
using detail::WordWaiter;
using detail::WordWidth;

// One cache line each, so waiters on different words do not contend on one line.
struct alignas(64) Bucket {
  detail::PlainMutex mutex;
  WordWaiter* head ABSL_GUARDED_BY(mutex) = nullptr;  // oldest
  WordWaiter* tail ABSL_GUARDED_BY(mutex) = nullptr;  // newest

  void push_back(WordWaiter* waiter) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex) {
    waiter->prev = tail;
    waiter->next = nullptr;
    (tail != nullptr ? tail->next : head) = waiter;
    tail = waiter;
  }
  void unlink(WordWaiter* waiter) noexcept ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex) {
    (waiter->prev != nullptr ? waiter->prev->next : head) = waiter->next;
    (waiter->next != nullptr ? waiter->next->prev : tail) = waiter->prev;
    waiter->prev = waiter->next = nullptr;
  }
  // Whether `waiter` (a record keyed to this bucket) is enqueued: every enqueued record but the
  // head has a predecessor, and unlink clears the links.
  [[nodiscard]] bool contains(const WordWaiter& waiter) const noexcept
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex) {
    return waiter.prev != nullptr || head == &waiter;
  }
};

constexpr std::size_t kBucketCount = 256;
Bucket g_buckets[kBucketCount];  // constant-initialized: PlainMutex has a constexpr constructor

Bucket& bucket_for(const void* address) noexcept {
  // Fibonacci hashing of the word address; the top 8 bits pick the bucket.
  const auto bits = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(address) >> 2);
  return g_buckets[(bits * 0x9E3779B97F4A7C15ull) >> 56];
}
static_assert(kBucketCount == 256, "bucket_for takes the top 8 bits");

using Clock = std::chrono::steady_clock;

// Atomics.wait on a thread: parks the calling thread's Parker until a notify takes its record,
// or the timeout passes (then withdraws the record).
WaitResult wait_on(const std::byte* address, WordWidth width, std::int64_t expected,
                   std::chrono::nanoseconds timeout, std::chrono::nanoseconds forever) {
  const bool has_deadline = timeout < forever;
  if (has_deadline && timeout.count() == 0) {
    // Only a comparison: nothing is enqueued, so no notify can be missed and no lock is needed.
    return detail::load_word(address, width) == expected ? WaitResult::timed_out
                                                         : WaitResult::not_equal;
  }
  const Clock::time_point deadline =
      has_deadline ? Clock::now() + std::chrono::duration_cast<Clock::duration>(timeout)
                   : Clock::time_point::max();
  Parker& parker = Parker::current();
  WordWaiter waiter;
  if (detail::park_word(address, width, expected, waiter, parker) == WordPark::not_equal) {
    return WaitResult::not_equal;
  }
  for (;;) {
    bool woken = true;
    if (has_deadline) {
      woken = parker.park_until(deadline);
    } else {
      parker.park();
    }
    // acquire: pairs with notify's release store, so what the notifier did before notify is
    // visible once wait returns ok.
    if (waiter.notified.load(std::memory_order_acquire)) return WaitResult::ok;
    // Timed out: withdraw the record, unless a notify took it meanwhile (then it counted us).
    if (!woken) return detail::unpark_word(waiter) ? WaitResult::ok : WaitResult::timed_out;
    // Woken but not notified: a stale token of this thread's Parker. Park again.
  }
}

// Wakers collected under the bucket lock and woken after it is released, so that a woken
// thread does not run straight into the lock. Allocates only beyond kInline waiters.
class WakeList {
 public:
  static constexpr std::size_t kInline = 16;

  void push(WakerRef waker) {
    if (size_ < kInline) {
      inline_[size_] = std::move(waker);
    } else {
      overflow_.push_back(std::move(waker));
    }
    ++size_;
  }
  // Reserves room for one more, so that push cannot throw after a record was unlinked.
  void reserve_one() {
    if (size_ >= kInline && overflow_.size() == overflow_.capacity()) {
      overflow_.reserve(overflow_.empty() ? kInline : 2 * overflow_.capacity());
    }
  }
  void wake_all() const noexcept {
    for (std::size_t i = 0; i < size_ && i < kInline; ++i) inline_[i].wake();
    for (const WakerRef& waker : overflow_) waker.wake();
  }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

 private:
  std::array<WakerRef, kInline> inline_{};
  std::vector<WakerRef> overflow_;
  std::size_t size_ = 0;
};

std::size_t count_waiters(const std::byte* address) {
  Bucket& bucket = bucket_for(address);
  detail::MutexLock lock(bucket.mutex);
  std::size_t count = 0;
  for (const WordWaiter* waiter = bucket.head; waiter != nullptr; waiter = waiter->next) {
    if (waiter->address == address) ++count;
  }
  return count;
}

}  // namespace

namespace detail {

WordPark park_word(const std::byte* address, WordWidth width, std::int64_t expected,
                   WordWaiter& waiter, Waker& waker) noexcept {
  Bucket& bucket = bucket_for(address);
  detail::MutexLock lock(bucket.mutex);
  if (load_word(address, width) != expected) return WordPark::not_equal;
  waiter.address = address;
  waiter.waker = WakerRef::share(&waker);
  // relaxed: no notify can see the record before it is linked, and the links are published to
  // the notifiers by the bucket's mutex.
  waiter.notified.store(false, std::memory_order_relaxed);
  bucket.push_back(&waiter);
  return WordPark::parked;
}

bool repark_word(WordWaiter& waiter, Waker& waker) noexcept {
  Bucket& bucket = bucket_for(waiter.address);
  WakerRef replaced;  // released after the lock (declared before the guard)
  detail::MutexLock lock(bucket.mutex);
  // Not enqueued: a notify took it (the mutex orders its writes before ours).
  if (!bucket.contains(waiter)) return true;
  if (waiter.waker.get() != &waker) replaced = std::exchange(waiter.waker, WakerRef::share(&waker));
  return false;
}

bool unpark_word(WordWaiter& waiter) noexcept {
  if (waiter.address == nullptr) return false;  // never parked: no bucket refers to it
  Bucket& bucket = bucket_for(waiter.address);
  WakerRef dropped;  // released after the lock (declared before the guard)
  detail::MutexLock lock(bucket.mutex);
  if (bucket.contains(waiter)) {
    bucket.unlink(&waiter);
    dropped = std::move(waiter.waker);
    return false;
  }
  // relaxed: under the lock a notify either finished with this record or never saw it; the
  // mutex orders this load (and the owner's later accesses) after that notify.
  return waiter.notified.load(std::memory_order_relaxed);
}

std::size_t notify_word(const std::byte* address, std::size_t count) {
  if (count == 0) return 0;
  Bucket& bucket = bucket_for(address);
  WakeList woken;
  std::exception_ptr failure;  // an allocation failure of `woken`, rethrown after waking
  {
    detail::MutexLock lock(bucket.mutex);
    WordWaiter* waiter = bucket.head;
    while (waiter != nullptr && woken.size() < count) {
      WordWaiter* const next = waiter->next;
      if (waiter->address == address) {
        try {
          woken.reserve_one();  // may throw; nothing has changed yet for this record
        } catch (...) {
          failure = std::current_exception();  // the ones taken so far must still be woken
          break;
        }
        bucket.unlink(waiter);
        woken.push(std::move(waiter->waker));
        // release: publishes this thread's writes before notify to the waiter's acquire load.
        // This is the last access to *waiter: once it is visible the waiter may return.
        waiter->notified.store(true, std::memory_order_release);
      }
      waiter = next;
    }
  }
  woken.wake_all();
  if (failure) std::rethrow_exception(failure);
  return woken.size();
}

std::byte* shared_word(const SharedBuffer& buffer, std::size_t index, std::size_t width,
                       const char* what) {
  return buffer.word(index, width, what);
}

}  // namespace detail

std::string_view to_string(WaitResult result) noexcept {
  switch (result) {
    case WaitResult::ok: return "ok";
    case WaitResult::not_equal: return "not_equal";
    case WaitResult::timed_out: return "timed_out";
  }
  return "unknown";
}

SharedBuffer::SharedBuffer(std::size_t size) {
  static_assert(sizeof(Block) <= kHeaderSize && alignof(Block) <= kAlignment);
  if (size > kMaxSize) {
    throw Error(ErrorCode::resource_exhausted,
                "SharedBuffer: cannot allocate " + std::to_string(size) + " bytes");
  }
  // Room for the header and for aligning the block inside what calloc returns; calloc gives
  // fresh zero pages for large sizes, so untouched bytes cost nothing.
  void* allocation = std::calloc(size + kHeaderSize + kAlignment, 1);
  if (allocation == nullptr) {
    throw Error(ErrorCode::resource_exhausted,
                "SharedBuffer: cannot allocate " + std::to_string(size) + " bytes");
  }
  const auto raw = reinterpret_cast<std::uintptr_t>(allocation);
  const std::uintptr_t aligned = (raw + kAlignment - 1) & ~std::uintptr_t{kAlignment - 1};
  block_ = new (reinterpret_cast<void*>(aligned)) Block;  // NOLINT(performance-no-int-to-ptr)
  block_->size = size;
  block_->allocation = allocation;
}

SharedBuffer::SharedBuffer(const SharedBuffer& other) noexcept : block_(other.block_) {
  // relaxed: a new reference is taken through an existing one, which keeps the block alive.
  if (block_ != nullptr) block_->refs.fetch_add(1, std::memory_order_relaxed);
}

SharedBuffer& SharedBuffer::operator=(const SharedBuffer& other) noexcept {
  SharedBuffer copy(other);
  std::swap(block_, copy.block_);
  return *this;
}

SharedBuffer::SharedBuffer(SharedBuffer&& other) noexcept
    : block_(std::exchange(other.block_, nullptr)) {}

SharedBuffer& SharedBuffer::operator=(SharedBuffer&& other) noexcept {
  SharedBuffer moved(std::move(other));
  std::swap(block_, moved.block_);
  return *this;
}

SharedBuffer::~SharedBuffer() {
  if (block_ == nullptr) return;
  // acq_rel: the last owner must see every other owner's writes to the bytes before freeing.
  if (block_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
    void* allocation = block_->allocation;
    block_->~Block();
    std::free(allocation);
  }
}

std::size_t SharedBuffer::size() const noexcept { return block_ != nullptr ? block_->size : 0; }

std::byte* SharedBuffer::data() const noexcept {
  return block_ != nullptr ? bytes_of(block_) : nullptr;
}

std::size_t SharedBuffer::use_count() const noexcept {
  return block_ != nullptr ? block_->refs.load(std::memory_order_relaxed) : 0;
}

std::span<std::byte> SharedBuffer::bytes() const {
  if (block_ == nullptr) {
    throw Error(ErrorCode::invalid_handle,
                "SharedBuffer::bytes: the handle is empty (default-constructed or moved from)");
  }
  return {bytes_of(block_), block_->size};
}

std::byte* SharedBuffer::word(std::size_t index, std::size_t width, const char* what) const {
  if (block_ == nullptr) {
    throw Error(ErrorCode::invalid_handle,
                std::string(what) + ": the handle is empty (default-constructed or moved from)");
  }
  const std::size_t words = block_->size / width;
  if (index >= words) {
    throw Error(ErrorCode::out_of_range,
                std::string(what) + ": index " + std::to_string(index) +
                    " is out of range for " + std::to_string(words) + " " +
                    std::to_string(width * 8) + "-bit words (" + std::to_string(block_->size) +
                    " bytes)");
  }
  return bytes_of(block_) + index * width;
}

void SharedBuffer::throw_bad_timeout(const char* what) {
  throw Error(ErrorCode::invalid_argument,
              std::string(what) + ": timeout is negative (or not a number)");
}

WaitResult SharedBuffer::wait_i32(std::size_t index, std::int32_t expected) const {
  return wait_on(word(index, 4, "SharedBuffer::wait_i32"), WordWidth::i32, expected, kForever,
                 kForever);
}

WaitResult SharedBuffer::wait_i64(std::size_t index, std::int64_t expected) const {
  return wait_on(word(index, 8, "SharedBuffer::wait_i64"), WordWidth::i64, expected, kForever,
                 kForever);
}

WaitResult SharedBuffer::wait_i32_for(std::size_t index, std::int32_t expected,
                                      std::chrono::nanoseconds timeout) const {
  return wait_on(word(index, 4, "SharedBuffer::wait_i32"), WordWidth::i32, expected, timeout,
                 kForever);
}

WaitResult SharedBuffer::wait_i64_for(std::size_t index, std::int64_t expected,
                                      std::chrono::nanoseconds timeout) const {
  return wait_on(word(index, 8, "SharedBuffer::wait_i64"), WordWidth::i64, expected, timeout,
                 kForever);
}

std::size_t SharedBuffer::notify_i32(std::size_t index, std::size_t count) const {
  return detail::notify_word(word(index, 4, "SharedBuffer::notify_i32"), count);
}

std::size_t SharedBuffer::notify_i64(std::size_t index, std::size_t count) const {
  return detail::notify_word(word(index, 8, "SharedBuffer::notify_i64"), count);
}

std::size_t SharedBuffer::waiter_count_i32(std::size_t index) const {
  return count_waiters(word(index, 4, "SharedBuffer::waiter_count_i32"));
}

std::size_t SharedBuffer::waiter_count_i64(std::size_t index) const {
  return count_waiters(word(index, 8, "SharedBuffer::waiter_count_i64"));
}

}  // namespace troupe
