// Internal constants and tiny helpers shared by the channel implementations. Not API.
#pragma once

#include <atomic>
#include <cstddef>

namespace troupe::detail {

// Hot atomics that different threads write sit on their own cache line.
inline constexpr std::size_t kCacheLine = 64;

// One CPU pause (spin-wait hint).
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace troupe::detail
