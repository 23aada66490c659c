// Memory aligned to a cache line through the plain, sized operator new and delete; the sized
// delete where the compiler has it. Not API.
//
// A channel's hot atomics sit on cache lines of their own, so the channel is over-aligned, and
// `new` of an over-aligned type calls the aligned operator new. jemalloc serves that on its slow
// path: callgrind counts about 190 instructions per aligned allocation and 180 per aligned sized
// free, against a few dozen for the plain sized pair (load skynet --style actor makes a channel
// per actor). So a channel takes kCacheLine bytes more from the plain operator new, starts at
// the first line boundary inside, and keeps the distance back to the start in the byte just
// before itself.
//
// Thread-safety: as operator new and delete.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

#include "troupe/channels/detail/config.hpp"

namespace troupe::detail {

// `size` bytes aligned to kCacheLine; throws std::bad_alloc as operator new does.
inline void* allocate_lines(std::size_t size) {
  auto* raw = static_cast<unsigned char*>(::operator new(size + kCacheLine));
  // In [1, kCacheLine]: at least one byte before the object holds the shift.
  const std::size_t shift =
      kCacheLine - (reinterpret_cast<std::uintptr_t>(raw) & (kCacheLine - 1));
  unsigned char* object = raw + shift;
  object[-1] = static_cast<unsigned char>(shift);
  return object;
}

// ::operator delete with the block's size where the compiler has sized deallocation (GCC; clang
// only with -fsized-deallocation), the unsized form otherwise.
inline void delete_sized(void* block, [[maybe_unused]] std::size_t size) noexcept {
#if defined(__cpp_sized_deallocation)
  ::operator delete(block, size);
#else
  ::operator delete(block);
#endif
}

// Frees what allocate_lines(size) returned (the same size).
inline void deallocate_lines(void* at, std::size_t size) noexcept {
  auto* object = static_cast<unsigned char*>(at);
  delete_sized(object - object[-1], size + kCacheLine);
}

}  // namespace troupe::detail
