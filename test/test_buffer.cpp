// Buffer: owned bytes; a move is a transfer that detaches the source.
#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "troupe/channels/buffer.hpp"
#include "troupe/channels/channel.hpp"

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#include <sys/resource.h>

#include <fstream>
#define TROUPE_TEST_ADDRESS_SPACE_LIMIT 1
#endif

#include "test_support.hpp"

namespace {

using troupe::Buffer;
using troupe::ErrorCode;

using troupe::testing::error_code_of;
using troupe::testing::error_message_of;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Compile-time properties of the type.
static_assert(!std::is_copy_constructible_v<Buffer> && !std::is_copy_assignable_v<Buffer>);
static_assert(std::is_nothrow_move_constructible_v<Buffer>);
static_assert(std::is_nothrow_move_assignable_v<Buffer>);
static_assert(std::is_nothrow_default_constructible_v<Buffer>);
static_assert(troupe::Sendable<Buffer>);

}  // namespace

TEST_CASE("buffer.a new buffer is zero-filled and aligned") {
  Buffer buffer(1000);
  CHECK(buffer.size() == 1000);
  CHECK_FALSE(buffer.detached());
  CHECK_FALSE(buffer.empty());
  REQUIRE(buffer.data() != nullptr);
  CHECK(reinterpret_cast<std::uintptr_t>(buffer.data()) % alignof(std::max_align_t) == 0);
  CHECK(buffer.alignment() == alignof(std::max_align_t));
  for (std::byte b : buffer.bytes()) CHECK(b == std::byte{0});
}

TEST_CASE("buffer.a larger alignment is honoured") {
  for (std::size_t alignment : {64u, 128u, 4096u}) {
    Buffer buffer(100, alignment);
    CHECK(buffer.alignment() == alignment);
    CHECK(reinterpret_cast<std::uintptr_t>(buffer.data()) % alignment == 0);
    for (std::byte b : buffer.bytes()) CHECK(b == std::byte{0});
  }
  Buffer small(8, 1);  // smaller than the default: the default still applies
  CHECK(small.alignment() == Buffer::kDefaultAlignment);
}

TEST_CASE("buffer.an alignment that is not a power of two is an invalid argument") {
  CHECK(error_code_of([] { Buffer b(16, 3); }) == ErrorCode::invalid_argument);
  CHECK(error_code_of([] { Buffer b(16, 0); }) == ErrorCode::invalid_argument);
  CHECK(error_code_of([] { Buffer b(16, 48); }) == ErrorCode::invalid_argument);
  CHECK(error_message_of([] { Buffer b(16, 3); }) == "Buffer: alignment 3 is not a power of two");
  CHECK(error_code_of([] { Buffer b(16, Buffer::kMaxAlignment * 2); }) ==
        ErrorCode::invalid_argument);
}

TEST_CASE("buffer.an impossible size is resource_exhausted, not bad_alloc or a crash") {
  const std::size_t huge = std::size_t{1} << 60;
  CHECK_THROWS_WITH_AS((void)Buffer(huge), "Buffer: cannot allocate 1152921504606846976 bytes",
                       troupe::Error);
  CHECK(error_code_of([&] { Buffer b(huge); }) == ErrorCode::resource_exhausted);
  CHECK(error_code_of([&] { Buffer b(huge, 64); }) == ErrorCode::resource_exhausted);
  CHECK(error_code_of([] { Buffer b(static_cast<std::size_t>(-1)); }) ==
        ErrorCode::resource_exhausted);
}

#ifdef TROUPE_TEST_ADDRESS_SPACE_LIMIT
// Not under sanitizers: their shadow memory needs an unlimited address space.
TEST_CASE("buffer.an allocation the system refuses is resource_exhausted") {
  // Cap the address space a little above what the process uses, then ask for 1 GiB.
  std::size_t pages = 0;
  std::ifstream("/proc/self/statm") >> pages;
  REQUIRE(pages > 0);
  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_AS, &old) == 0);
  rlimit capped = old;
  capped.rlim_cur = pages * 4096 + (std::size_t{256} << 20);
  if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < capped.rlim_cur) capped = old;
  REQUIRE(setrlimit(RLIMIT_AS, &capped) == 0);
  const ErrorCode zeroed = error_code_of([] { Buffer b(std::size_t{1} << 30); });
  const ErrorCode aligned = error_code_of([] { Buffer b(std::size_t{1} << 30, 4096); });
  const ErrorCode copy = error_code_of([] {
    std::vector<std::byte> small(16);
    Buffer source = Buffer::copy_of(std::span<const std::byte>(small));
    (void)source;
    Buffer b(std::size_t{1} << 30);
  });
  REQUIRE(setrlimit(RLIMIT_AS, &old) == 0);
  CHECK(zeroed == ErrorCode::resource_exhausted);
  CHECK(aligned == ErrorCode::resource_exhausted);
  CHECK(copy == ErrorCode::resource_exhausted);
}
#endif

TEST_CASE("buffer.a zero-size buffer is empty, not detached, and has empty views") {
  Buffer zero(0);
  CHECK(zero.size() == 0);
  CHECK(zero.empty());
  CHECK_FALSE(zero.detached());
  CHECK(zero.bytes().empty());
  CHECK(zero.as<std::uint32_t>().empty());
  CHECK(zero.as<std::uint64_t>(0, 0).empty());
  CHECK(zero.clone().size() == 0);
  CHECK(error_code_of([&] { (void)zero.at(0); }) == ErrorCode::out_of_range);
  Buffer defaulted;
  CHECK(defaulted.empty());
  CHECK_FALSE(defaulted.detached());
  CHECK(defaulted.data() == nullptr);
}

TEST_CASE("buffer.move detaches the source and transfers the same pointer") {
  Buffer source(4096);
  source.at(7) = std::byte{42};
  std::byte* const bytes = source.data();

  Buffer destination(std::move(source));
  CHECK(destination.data() == bytes);  // a pointer move: no copy was made
  CHECK(destination.size() == 4096);
  CHECK(destination.at(7) == std::byte{42});

  CHECK(source.detached());  // NOLINT(bugprone-use-after-move): that is the point
  CHECK(source.size() == 0);
  CHECK(source.data() == nullptr);
  CHECK(source.empty());
  CHECK(source.alignment() == 0);
}

TEST_CASE("buffer.move assignment frees the old bytes and detaches the source") {
  Buffer a(64);
  Buffer b(128);
  std::byte* const b_bytes = b.data();
  a = std::move(b);
  CHECK(a.data() == b_bytes);
  CHECK(a.size() == 128);
  CHECK(b.detached());  // NOLINT(bugprone-use-after-move)
  a = std::move(a);     // self-move keeps the bytes
  CHECK(a.data() == b_bytes);
  CHECK(a.size() == 128);
  Buffer detached = std::move(b);  // moving a detached buffer gives a detached buffer
  CHECK(detached.detached());
  detached = Buffer(8);  // a detached buffer can be given new bytes
  CHECK_FALSE(detached.detached());
  CHECK(detached.size() == 8);
}

TEST_CASE("buffer.a send through a channel is a transfer of the same allocation" *
          doctest::timeout(10)) {
  auto [tx, rx] = troupe::channel<Buffer>(1);
  Buffer frame(1 << 16, 64);
  frame.as<std::uint32_t>()[0] = 0xC0FFEE;
  const std::byte* const sent = frame.data();
  std::thread sender([&tx, frame = std::move(frame)]() mutable {
    REQUIRE(tx.blocking_send(std::move(frame)));
    CHECK(frame.detached());  // NOLINT(bugprone-use-after-move)
  });
  std::optional<Buffer> received = rx.blocking_recv();
  sender.join();
  REQUIRE(received);
  CHECK(received->data() == sent);
  CHECK(received->as<std::uint32_t>()[0] == 0xC0FFEE);
}

TEST_CASE("buffer.clone is a deep copy in a new allocation") {
  Buffer original(256, 64);
  for (std::size_t i = 0; i < original.size(); ++i) original.at(i) = std::byte(i);
  Buffer copy = original.clone();
  CHECK(copy.data() != original.data());
  CHECK(copy.size() == original.size());
  CHECK(copy.alignment() == 64);
  CHECK(std::memcmp(copy.data(), original.data(), original.size()) == 0);
  copy.at(0) = std::byte{0xFF};
  CHECK(original.at(0) == std::byte{0});  // independent bytes
}

TEST_CASE("buffer.copy_of copies existing bytes in") {
  const std::array<std::uint16_t, 4> values{1, 2, 3, 65535};
  Buffer typed = Buffer::copy_of(std::span(values));
  CHECK(typed.size() == sizeof(values));
  CHECK(typed.as<std::uint16_t>()[3] == 65535);
  const std::string text = "hello";
  Buffer bytes = Buffer::copy_of(std::as_bytes(std::span(text)), 128);
  CHECK(bytes.size() == 5);
  CHECK(bytes.alignment() == 128);
  CHECK(bytes.at(4) == std::byte{'o'});
  Buffer none = Buffer::copy_of(std::span<const std::byte>());
  CHECK(none.empty());
  CHECK_FALSE(none.detached());
}

TEST_CASE("buffer.typed views see the same bytes") {
  Buffer buffer(16);
  auto words = buffer.as<std::uint32_t>();
  CHECK(words.size() == 4);
  CHECK(static_cast<void*>(words.data()) == static_cast<void*>(buffer.data()));
  words[1] = 0x01020304;
  auto doubles = buffer.as<double>();
  CHECK(doubles.size() == 2);
  const Buffer& view = buffer;
  std::span<const std::uint32_t> read_only = view.as<std::uint32_t>();
  CHECK(read_only[1] == 0x01020304);
  auto part = buffer.as<std::uint32_t>(4, 2);  // words 1 and 2
  CHECK(part.size() == 2);
  CHECK(part[0] == 0x01020304);
  CHECK(view.as<std::uint16_t>(14, 1).size() == 1);  // the last two bytes
}

TEST_CASE("buffer.a view that cuts an element in two is misaligned") {
  Buffer buffer(10);
  CHECK(error_code_of([&] { (void)buffer.as<std::uint32_t>(); }) == ErrorCode::misaligned);
  CHECK(error_message_of([&] { (void)buffer.as<std::uint32_t>(); }) ==
        "Buffer::as: a Buffer of 10 bytes is not a whole number of 4-byte elements");
  CHECK(buffer.as<std::uint16_t>().size() == 5);
}

TEST_CASE("buffer.a view whose start is not aligned for its type is misaligned") {
  Buffer buffer(64);
  CHECK(error_code_of([&] { (void)buffer.as<std::uint32_t>(1, 2); }) == ErrorCode::misaligned);
  CHECK(error_message_of([&] { (void)buffer.as<std::uint64_t>(4, 1); }) ==
        "Buffer::as: offset 4 is not aligned to 8 bytes");
  struct alignas(64) CacheLine {
    std::byte bytes[64];
  };
  Buffer lines(128, 64);
  CHECK(lines.as<CacheLine>().size() == 2);
  CHECK(error_code_of([&] { (void)lines.as<CacheLine>(16, 1); }) == ErrorCode::misaligned);
}

TEST_CASE("buffer.a view past the end is out of range") {
  Buffer buffer(16);
  CHECK(error_code_of([&] { (void)buffer.as<std::uint32_t>(8, 3); }) == ErrorCode::out_of_range);
  CHECK(error_code_of([&] { (void)buffer.as<std::uint32_t>(20, 0); }) == ErrorCode::out_of_range);
  // count * sizeof(T) overflows: still out_of_range, not a wrapped-around success
  CHECK(error_code_of([&] {
          (void)buffer.as<std::uint64_t>(0, static_cast<std::size_t>(-1) / 4);
        }) == ErrorCode::out_of_range);
  CHECK(error_message_of([&] { (void)buffer.as<std::uint32_t>(8, 3); }) ==
        "Buffer::as: 3 elements of 4 bytes at offset 8 do not fit in a Buffer of 16 bytes");
}

TEST_CASE("buffer.at checks the index") {
  Buffer buffer(10);
  buffer.at(9) = std::byte{1};
  CHECK(std::as_const(buffer).at(9) == std::byte{1});
  CHECK(error_code_of([&] { (void)buffer.at(10); }) == ErrorCode::out_of_range);
  CHECK(error_message_of([&] { (void)buffer.at(10); }) ==
        "Buffer::at: index 10 is out of range for a Buffer of 10 bytes");
}

TEST_CASE("buffer.using the contents of a detached buffer throws detached, naming it") {
  Buffer source(32);
  Buffer destination = std::move(source);
  const Buffer& detached = source;  // NOLINT(bugprone-use-after-move)
  // Queries never throw.
  CHECK(detached.size() == 0);
  CHECK(detached.detached());
  CHECK(detached.data() == nullptr);
  // Every access to the contents does.
  CHECK(error_code_of([&] { (void)source.bytes(); }) == ErrorCode::detached);
  CHECK(error_code_of([&] { (void)detached.bytes(); }) == ErrorCode::detached);
  CHECK(error_code_of([&] { (void)source.as<int>(); }) == ErrorCode::detached);
  CHECK(error_code_of([&] { (void)detached.as<int>(0, 0); }) == ErrorCode::detached);
  CHECK(error_code_of([&] { (void)source.at(0); }) == ErrorCode::detached);
  CHECK(error_code_of([&] { (void)detached.clone(); }) == ErrorCode::detached);
  const std::string message = error_message_of([&] { (void)source.as<float>(); });
  CHECK(message == "Buffer::as: the Buffer is detached (its bytes were moved to another Buffer)");
  CHECK(contains(error_message_of([&] { (void)detached.clone(); }), "Buffer::clone"));
  CHECK(contains(error_message_of([&] { (void)source.at(3); }), "Buffer::at"));
}
