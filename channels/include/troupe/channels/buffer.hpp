// troupe/channels/buffer.hpp — Buffer: owned bytes that move between threads (Node's
// ArrayBuffer).
//
//   troupe::Buffer frame(1 << 20, 64);              // 1 MiB, zero-filled, 64-byte aligned
//   std::span<float> samples = frame.as<float>();     // a typed view of all of it
//   (void)tx.blocking_send(std::move(frame));         // a transfer: the pointer moves, no copy
//   frame.detached();                                 // true: the bytes went with the message
//   troupe::Buffer copy = other.clone();              // an explicit deep copy (structured clone)
//
// Transfer. A Buffer owns one allocation. Moving it — into a message, through a channel, into
// another Buffer — moves the pointer: the destination's data() is the source's old data(), and
// the source is *detached* (like a neutered ArrayBuffer): size() 0, data() nullptr, detached()
// true. Copying is never implicit (Buffer is move-only); clone() makes a new allocation.
//
// Detached Buffers. Queries never throw: size() is 0, data() is nullptr, detached() is true.
// Every access to the contents — bytes(), as<T>(), at(), clone() — throws
// troupe::Error(ErrorCode::detached), with a message naming the operation. A detached Buffer
// may be assigned a new one or destroyed. A default-constructed Buffer is empty (size 0) but not
// detached: its views are empty spans.
//
// Views. bytes() is the whole buffer as std::span<std::byte>; as<T>() is the whole buffer as
// std::span<T> for a trivially copyable T, and as<T>(offset, count) a part of it. A view whose
// size is not a whole number of elements, or whose start is not aligned for T, throws
// Error(misaligned); one that reaches past the end throws Error(out_of_range). There is no
// unchecked operator[]: check once by taking a view, then index the span in the hot loop.
//
// Errors. Error(invalid_argument) for an alignment that is not a power of two (or above
// kMaxAlignment); Error(resource_exhausted, "Buffer: cannot allocate N bytes") for a size above
// kMaxSize or one the allocator refuses — std::bad_alloc never escapes.
//
// Allocation. The constructor and clone() allocate once (zero-filled pages come from calloc for
// the default alignment, so a large zeroed Buffer costs no more than the pages it touches);
// nothing else allocates. All Buffer memory is obtained and returned in one place (buffer.cpp).
// Byte quotas: a Buffer is charged to the thread's current ByteAccount when it is allocated or
// moved in from another owner (byte_account.hpp); past an account's limit an allocation throws
// Error(resource_exhausted) naming the owner.
//
// Thread-safety. A Buffer is a value with one owner, like std::vector: one thread at a time
// uses it (it may move between threads, which is what it is for); const member functions may
// run concurrently with each other. Buffer is Sendable.
// Memory ordering. Buffer itself synchronizes nothing. Sent through a channel, everything the
// sender wrote into the bytes happens-before the receiver's recv returns (the channel's
// guarantee); that is the only way the bytes should change hands.
//
// What this does not guarantee. A view or pointer taken before a transfer is not neutered (a
// span cannot be): it still points at the bytes, now owned by the receiver. Using it after the
// move is the data race that Sendable exists to prevent (std::span is not Sendable); drop views
// before you send.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "troupe/channels/error.hpp"
#include "troupe/channels/sendable.hpp"

namespace troupe {

class ByteAccount;

class Buffer {
 public:
  // The alignment of data() unless a larger one is asked for.
  static constexpr std::size_t kDefaultAlignment = alignof(std::max_align_t);
  // The largest alignment that may be asked for (1 GiB).
  static constexpr std::size_t kMaxAlignment = std::size_t{1} << 30;
  // Larger than any address space troupe runs on: bigger requests fail without asking the
  // allocator.
  static constexpr std::size_t kMaxSize = std::size_t{1} << 48;

  // An empty Buffer (size 0, not detached). Never allocates.
  Buffer() noexcept = default;
  // `size` zero-filled bytes whose start is aligned to max(alignment, kDefaultAlignment).
  // Throws Error(invalid_argument) if alignment is not a power of two or above kMaxAlignment,
  // Error(resource_exhausted) if the bytes cannot be allocated. Allocates once (not for size 0).
  explicit Buffer(std::size_t size, std::size_t alignment = kDefaultAlignment);

  // A new Buffer holding a copy of `bytes`. Errors as for the constructor. Allocates once.
  [[nodiscard]] static Buffer copy_of(std::span<const std::byte> bytes,
                                      std::size_t alignment = kDefaultAlignment);
  // A new Buffer holding a copy of `values`, aligned at least for T. Allocates once.
  template <class T, std::size_t Extent>
    requires std::is_trivially_copyable_v<T>
  [[nodiscard]] static Buffer copy_of(std::span<T, Extent> values) {
    return copy_of(std::as_bytes(values),
                   alignof(T) > kDefaultAlignment ? alignof(T) : kDefaultAlignment);
  }

  // Transfers: `other` is left detached. Owner thread only. Never allocates.
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer();

  // A deep copy in a new allocation, with the same size and alignment. Throws Error(detached)
  // for a detached Buffer, Error(resource_exhausted) if the copy cannot be allocated. Owner
  // thread only. Allocates once.
  [[nodiscard]] Buffer clone() const;

  // Number of bytes; 0 once detached. Owner thread only. Never allocates.
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  // size() == 0. Owner thread only. Never allocates.
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  // True once the bytes were moved to another Buffer. Owner thread only. Never allocates.
  [[nodiscard]] bool detached() const noexcept { return alignment_ == 0; }
  // The alignment data() is guaranteed to have; 0 once detached. Owner thread only. Never
  // allocates.
  [[nodiscard]] std::size_t alignment() const noexcept { return alignment_; }
  // The first byte, or nullptr (detached, or size 0). Owner thread only. Never allocates.
  [[nodiscard]] std::byte* data() noexcept { return data_; }
  [[nodiscard]] const std::byte* data() const noexcept { return data_; }

  // All the bytes. Throws Error(detached). Owner thread only. Never allocates.
  [[nodiscard]] std::span<std::byte> bytes() {
    check_attached("Buffer::bytes");
    return {data_, size_};
  }
  [[nodiscard]] std::span<const std::byte> bytes() const {
    check_attached("Buffer::bytes");
    return {data_, size_};
  }

  // The whole buffer as elements of T. Throws Error(detached), or Error(misaligned) if the size
  // is not a multiple of sizeof(T) or data() is not aligned for T. Owner thread only. Never
  // allocates.
  template <class T>
    requires std::is_trivially_copyable_v<T>
  [[nodiscard]] std::span<T> as() {
    const std::size_t count = whole_view(sizeof(T), alignof(T));
    return {reinterpret_cast<T*>(data_), count};
  }
  template <class T>
    requires std::is_trivially_copyable_v<T>
  [[nodiscard]] std::span<const T> as() const {
    const std::size_t count = whole_view(sizeof(T), alignof(T));
    return {reinterpret_cast<const T*>(data_), count};
  }

  // `count` elements of T starting `offset` bytes in. Throws Error(detached), Error(out_of_range)
  // if they reach past the end, Error(misaligned) if data() + offset is not aligned for T.
  // Owner thread only. Never allocates.
  template <class T>
    requires std::is_trivially_copyable_v<T>
  [[nodiscard]] std::span<T> as(std::size_t offset, std::size_t count) {
    return {reinterpret_cast<T*>(part_view(offset, count, sizeof(T), alignof(T))), count};
  }
  template <class T>
    requires std::is_trivially_copyable_v<T>
  [[nodiscard]] std::span<const T> as(std::size_t offset, std::size_t count) const {
    return {reinterpret_cast<const T*>(part_view(offset, count, sizeof(T), alignof(T))), count};
  }

  // The byte at `index`. Throws Error(detached), or Error(out_of_range) if index >= size().
  // Owner thread only. Never allocates.
  [[nodiscard]] std::byte& at(std::size_t index) { return data_[checked_index(index)]; }
  [[nodiscard]] const std::byte& at(std::size_t index) const { return data_[checked_index(index)]; }

 private:
  Buffer(std::byte* data, std::size_t size, std::size_t alignment) noexcept
      : data_(data), size_(size), alignment_(alignment) {}

  void release() noexcept;
  // The byte quota (byte_account.hpp): charge the current account for a new allocation,
  // allocate (refunding if the allocator refuses), follow the current account after a move,
  // and leave the account (refund).
  void charge_new(std::size_t size);
  std::byte* allocate_charged(std::size_t size, std::size_t alignment, bool zero);
  void follow_owner() noexcept;
  void leave_account() noexcept;
  void check_attached(const char* what) const;
  [[nodiscard]] std::size_t checked_index(std::size_t index) const;
  [[nodiscard]] std::size_t whole_view(std::size_t element_size, std::size_t element_align) const;
  [[nodiscard]] std::byte* part_view(std::size_t offset, std::size_t count,
                                     std::size_t element_size, std::size_t element_align) const;

  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t alignment_ = kDefaultAlignment;  // 0 marks a detached Buffer
  ByteAccount* account_ = nullptr;  // charged for size_ bytes; holds a reference
};

// A Buffer owns its bytes, and moving it takes them along.
template <>
inline constexpr bool enable_sendable<Buffer> = true;

}  // namespace troupe
