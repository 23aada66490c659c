// Compile-time properties of every public handle, pinned so that a refactor cannot change them
// silently (after tokio's tests/async_send_sync.rs): who may be copied, who only moved (and
// never throws doing it), and what may travel through a channel.
#include <doctest/doctest.h>

#include <optional>
#include <type_traits>
#include <utility>

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

// Awaited operations: `co_await` yields what each header documents (the same results as the
// blocking forms), and an Awaitable is neither copied nor moved — it stays in the coroutine
// frame where it was created, because a channel may point into it while it waits.
template <class Awaitable>
using AwaitResult = decltype(std::declval<Awaitable&>().await_resume());
template <class Handle>
using RecvOf = decltype(std::declval<Handle&>().recv());
template <class Handle>
using SendOf = decltype(std::declval<Handle&>().send(Msg{}));
template <class Awaitable>
constexpr bool kPinned =
    !std::is_copy_constructible_v<Awaitable> && !std::is_move_constructible_v<Awaitable>;

static_assert(std::is_same_v<AwaitResult<RecvOf<troupe::Receiver<Msg>>>, std::optional<Msg>>);
static_assert(std::is_same_v<AwaitResult<SendOf<troupe::Sender<Msg>>>, troupe::SendResult<Msg>>);
static_assert(
    std::is_same_v<AwaitResult<SendOf<troupe::SpscSender<Msg>>>, troupe::SendResult<Msg>>);
static_assert(std::is_same_v<AwaitResult<RecvOf<troupe::Port<Msg, Msg>>>, std::optional<Msg>>);
static_assert(std::is_same_v<AwaitResult<SendOf<troupe::Port<Msg, Msg>>>, troupe::SendResult<Msg>>);
static_assert(
    std::is_same_v<AwaitResult<RecvOf<troupe::OneshotReceiver<Msg>>>, troupe::RecvResult<Msg>>);
static_assert(std::is_same_v<AwaitResult<RecvOf<troupe::BroadcastReceiver<Msg>>>,
                             troupe::Result<Msg, troupe::BroadcastRecvError>>);
static_assert(kPinned<RecvOf<troupe::Receiver<Msg>>>);
static_assert(kPinned<SendOf<troupe::Sender<Msg>>>);
static_assert(kPinned<RecvOf<troupe::BroadcastReceiver<Msg>>>);
// A receive may be moved into a combinator (a timeout) before it is polled; a send owns its
// message, so a combinator that could abandon it must refuse it, and it never moves.
static_assert(std::is_nothrow_move_constructible_v<troupe::detail::RecvOp<Msg>>);
static_assert(std::is_nothrow_move_constructible_v<troupe::detail::OneshotRecvOp<Msg>>);
static_assert(std::is_nothrow_move_constructible_v<troupe::detail::BroadcastRecvOp<Msg>>);
static_assert(!troupe::detail::OwnsPayload<troupe::detail::RecvOp<Msg>>);
static_assert(troupe::detail::OwnsPayload<troupe::detail::SendOp<troupe::Sender<Msg>, Msg>>);
static_assert(troupe::detail::OwnsPayload<troupe::detail::SendOp<troupe::SpscSender<Msg>, Msg>>);
static_assert(!std::is_move_constructible_v<troupe::detail::SendOp<troupe::Sender<Msg>, Msg>>);

}  // namespace

TEST_CASE("handles.the compile-time properties above hold (this file compiles)") {
  CHECK(kCopyable<troupe::Sender<Msg>>);
  CHECK(kMoveOnly<troupe::Receiver<Msg>>);
}
