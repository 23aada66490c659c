// Compile-time properties of every public handle, pinned so that a refactor cannot change them
// silently (after tokio's tests/async_send_sync.rs): who may be copied, who only moved (and
// never throws doing it), and what may travel through a channel.
#include <doctest/doctest.h>

#include <type_traits>

#include "troupe/channels/broadcast.hpp"
#include "troupe/channels/buffer.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/channels/oneshot.hpp"
#include "troupe/channels/port.hpp"
#include "troupe/channels/shared_buffer.hpp"

namespace {

template <class T>
constexpr bool kMoveOnly =
    !std::is_copy_constructible_v<T> && !std::is_copy_assignable_v<T> &&
    std::is_nothrow_move_constructible_v<T> && std::is_nothrow_move_assignable_v<T>;
template <class T>
constexpr bool kCopyable =
    std::is_copy_constructible_v<T>&& std::is_nothrow_move_constructible_v<T>;

using Msg = int;

// Cloneable handles: a copy is another handle on the same channel.
static_assert(kCopyable<troupe::Sender<Msg>>);
static_assert(kCopyable<troupe::BroadcastSender<Msg>>);
static_assert(kCopyable<troupe::BroadcastReceiver<Msg>>);
static_assert(kCopyable<troupe::SharedBuffer>);  // sharing is visible in the type

// Exclusive handles: one owner, transferred by a move.
static_assert(kMoveOnly<troupe::Receiver<Msg>>);
static_assert(kMoveOnly<troupe::SpscSender<Msg>>);
static_assert(kMoveOnly<troupe::OneshotSender<Msg>>);
static_assert(kMoveOnly<troupe::OneshotReceiver<Msg>>);
static_assert(kMoveOnly<troupe::Port<Msg, Msg>>);
static_assert(kMoveOnly<troupe::Buffer>);

// Every handle and payload type can itself travel through a channel.
static_assert(troupe::Sendable<troupe::Sender<Msg>>);
static_assert(troupe::Sendable<troupe::Receiver<Msg>>);
static_assert(troupe::Sendable<troupe::SpscSender<Msg>>);
static_assert(troupe::Sendable<troupe::OneshotSender<Msg>>);
static_assert(troupe::Sendable<troupe::OneshotReceiver<Msg>>);
static_assert(troupe::Sendable<troupe::BroadcastSender<Msg>>);
static_assert(troupe::Sendable<troupe::BroadcastReceiver<Msg>>);
static_assert(troupe::Sendable<troupe::Port<Msg, Msg>>);
static_assert(troupe::Sendable<troupe::Buffer>);
static_assert(troupe::Sendable<troupe::SharedBuffer>);

// Results carry errors and payloads: they must not be dropped unread (checked by [[nodiscard]]
// on the class, which the compiler enforces; here only that they are values).
static_assert(std::is_nothrow_move_constructible_v<troupe::SendResult<troupe::Buffer>>);
static_assert(std::is_nothrow_move_constructible_v<troupe::RecvResult<troupe::Buffer>>);

}  // namespace

TEST_CASE("handles.the compile-time properties above hold (this file compiles)") {
  CHECK(kCopyable<troupe::Sender<Msg>>);
  CHECK(kMoveOnly<troupe::Receiver<Msg>>);
}
