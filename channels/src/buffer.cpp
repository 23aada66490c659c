// Buffer: checks, transfers, and the one place Buffer memory is allocated and freed.
#include "troupe/channels/buffer.hpp"

#include "troupe/channels/byte_account.hpp"

#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

namespace troupe {
namespace {

[[noreturn]] void throw_cannot_allocate(std::size_t size) {
  throw Error(ErrorCode::resource_exhausted,
              "Buffer: cannot allocate " + std::to_string(size) + " bytes");
}

[[noreturn]] void throw_detached(const char* what) {
  throw Error(ErrorCode::detached, std::string(what) +
                                       ": the Buffer is detached (its bytes were moved to "
                                       "another Buffer)");
}

// The effective alignment for a request, after validating it.
std::size_t checked_alignment(std::size_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    throw Error(ErrorCode::invalid_argument,
                "Buffer: alignment " + std::to_string(alignment) + " is not a power of two");
  }
  if (alignment > Buffer::kMaxAlignment) {
    throw Error(ErrorCode::invalid_argument, "Buffer: alignment " + std::to_string(alignment) +
                                                 " is above the maximum " +
                                                 std::to_string(Buffer::kMaxAlignment));
  }
  return alignment < Buffer::kDefaultAlignment ? Buffer::kDefaultAlignment : alignment;
}

// --- The allocation pair. Every byte a Buffer owns is obtained and returned here, so that a
// per-actor byte quota can be added in one place. ---------------------------------------------

enum class Fill { zero, none };

// `size` bytes aligned to `alignment` (a power of two >= kDefaultAlignment, already checked);
// nullptr for size 0. Throws Error(resource_exhausted), never std::bad_alloc.
std::byte* allocate(std::size_t size, std::size_t alignment, Fill fill) {
  if (size == 0) return nullptr;
  if (size > Buffer::kMaxSize) throw_cannot_allocate(size);
  void* memory = nullptr;
  if (alignment <= Buffer::kDefaultAlignment) {
    // calloc hands out fresh zero pages for large sizes: no cost for bytes never touched.
    memory = fill == Fill::zero ? std::calloc(size, 1) : std::malloc(size);
  } else {
    // aligned_alloc wants a multiple of the alignment; no overflow: size <= 2^48, align <= 2^30.
    const std::size_t rounded = (size + alignment - 1) & ~(alignment - 1);
    memory = std::aligned_alloc(alignment, rounded);
    if (memory != nullptr && fill == Fill::zero) std::memset(memory, 0, size);
  }
  if (memory == nullptr) throw_cannot_allocate(size);
  return static_cast<std::byte*>(memory);
}

void deallocate(std::byte* data, std::size_t /*size*/, std::size_t /*alignment*/) noexcept {
  std::free(data);
}

}  // namespace

Buffer::Buffer(std::size_t size, std::size_t alignment) : alignment_(checked_alignment(alignment)) {
  charge_new(size);
  data_ = allocate_charged(size, alignment_, true);
  size_ = size;
}

Buffer Buffer::copy_of(std::span<const std::byte> bytes, std::size_t alignment) {
  const std::size_t effective = checked_alignment(alignment);
  Buffer made(nullptr, 0, effective);
  made.charge_new(bytes.size());
  made.data_ = made.allocate_charged(bytes.size(), effective, false);
  made.size_ = bytes.size();
  if (!bytes.empty()) std::memcpy(made.data_, bytes.data(), bytes.size());
  return made;
}

Buffer::Buffer(Buffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      alignment_(std::exchange(other.alignment_, 0)),
      account_(std::exchange(other.account_, nullptr)) {
  follow_owner();
}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    alignment_ = std::exchange(other.alignment_, 0);
    account_ = std::exchange(other.account_, nullptr);
    follow_owner();
  }
  return *this;
}

Buffer::~Buffer() {
  release();
}

void Buffer::release() noexcept {
  if (data_ != nullptr) deallocate(data_, size_, alignment_);
  leave_account();
  data_ = nullptr;
  size_ = 0;
}

Buffer Buffer::clone() const {
  check_attached("Buffer::clone");
  Buffer made(nullptr, 0, alignment_);
  made.charge_new(size_);
  made.data_ = made.allocate_charged(size_, alignment_, false);
  made.size_ = size_;
  if (size_ != 0) std::memcpy(made.data_, data_, size_);
  return made;
}

// --- byte accounting (byte_account.hpp) ------------------------------------------------------

void Buffer::charge_new(std::size_t size) {
  ByteAccount* current = ByteAccount::current();
  if (current == nullptr || size == 0) return;
  current->charge_allocation(size);  // throws past the limit: nothing charged
  current->retain();
  account_ = current;
}

std::byte* Buffer::allocate_charged(std::size_t size, std::size_t alignment, bool zero) {
  try {
    return allocate(size, alignment, zero ? Fill::zero : Fill::none);
  } catch (...) {
    leave_account();  // the allocator refused: give the charge back
    throw;
  }
}

void Buffer::follow_owner() noexcept {
  ByteAccount* current = ByteAccount::current();
  if (current == account_ || data_ == nullptr) return;
  leave_account();
  if (current == nullptr) return;  // moved outside every owner: no one holds it on account
  current->charge_transfer(size_);
  current->retain();
  account_ = current;
}

void Buffer::leave_account() noexcept {
  if (account_ == nullptr) return;
  account_->refund(size_);
  account_->release();
  account_ = nullptr;
}

void Buffer::check_attached(const char* what) const {
  if (detached()) throw_detached(what);
}

std::size_t Buffer::checked_index(std::size_t index) const {
  check_attached("Buffer::at");
  if (index >= size_) {
    throw Error(ErrorCode::out_of_range, "Buffer::at: index " + std::to_string(index) +
                                             " is out of range for a Buffer of " +
                                             std::to_string(size_) + " bytes");
  }
  return index;
}

std::size_t Buffer::whole_view(std::size_t element_size, std::size_t element_align) const {
  check_attached("Buffer::as");
  if (size_ % element_size != 0) {
    throw Error(ErrorCode::misaligned, "Buffer::as: a Buffer of " + std::to_string(size_) +
                                           " bytes is not a whole number of " +
                                           std::to_string(element_size) + "-byte elements");
  }
  if (reinterpret_cast<std::uintptr_t>(data_) % element_align != 0) {
    throw Error(ErrorCode::misaligned,
                "Buffer::as: the Buffer's data is not aligned to " + std::to_string(element_align) +
                    " bytes (its alignment is " + std::to_string(alignment_) + ")");
  }
  return size_ / element_size;
}

std::byte* Buffer::part_view(std::size_t offset, std::size_t count, std::size_t element_size,
                             std::size_t element_align) const {
  check_attached("Buffer::as");
  // Overflow-safe form of offset + count * element_size <= size_.
  if (offset > size_ || count > (size_ - offset) / element_size) {
    throw Error(ErrorCode::out_of_range,
                "Buffer::as: " + std::to_string(count) + " elements of " +
                    std::to_string(element_size) + " bytes at offset " + std::to_string(offset) +
                    " do not fit in a Buffer of " + std::to_string(size_) + " bytes");
  }
  std::byte* start = data_ + offset;
  if (reinterpret_cast<std::uintptr_t>(start) % element_align != 0) {
    throw Error(ErrorCode::misaligned, "Buffer::as: offset " + std::to_string(offset) +
                                           " is not aligned to " + std::to_string(element_align) +
                                           " bytes");
  }
  return start;
}

}  // namespace troupe
