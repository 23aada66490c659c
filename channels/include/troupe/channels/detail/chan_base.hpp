// ChanBase: the state every channel flavor shares — handle counts, the parked receiver's Waker,
// the list of senders parked on a full channel — and the wake protocol. Not API.
//
// The wake protocol (why no message is ever stranded and no waiter sleeps forever):
//
//  Receiver parks:  rx_waker_.exchange(me, seq_cst)  ->  queue.poll() reads tail (seq_cst)
//  Sender sends:    tail CAS (seq_cst) claims a slot ->  rx_waker_.load(seq_cst)
//  All four operations are seq_cst, so in their single total order either the receiver's tail
//  read comes after the claim (it sees the message coming and does not park) or the sender's
//  load comes after the registration (it sees the waker and wakes it). Close works the same way
//  through the seq_cst fetch_or of the tail's mark bit. A send costs one plain load here.
//  (The unbounded ListQueue and the rendezvous channel; PublishFence::rmw.)
//
//  A single-producer channel (SpscQueue) publishes with a plain release store, no CAS, so it
//  orders the two sides with the asymmetric fence pair instead (PublishFence::light):
//  Receiver parks:  rx_waker_.exchange(me)  ->  heavy_fence()  ->  queue.poll() reads tail
//  Sender sends:    tail store (release)    ->  light_fence()  ->  rx_waker_.load()
//  register_receiver pays the heavy fence itself, so every parking path (recv, poll_recv,
//  select) gets it; the send stays free of locked instructions. Its close is a seq_cst
//  fetch_or of its own closed_ word, read by poll after the heavy fence.
//
//  The bounded MPSC channel (ArrayQueue) keeps a "receiver parked" bit in its tail word, next to
//  the closed mark (PublishFence::park_bit), so that the claim every send makes anyway is also
//  its check for a parked receiver, and neither side exchanges rx_waker_:
//  Receiver parks (having found the queue empty at `head`)  [Chan::park_on_tail]:
//                   if rx_waker_ still holds a waker: the same waker keeps that registration
//                   (see the end of this section); another is withdrawn first (below), or,
//                   if its owner is still at work, waited for until the owner nulls the slot;
//                   then retain, rx_waker_.store(me, release)
//                   -> tail CAS head -> head|park (release)   [ArrayQueue::try_park]
//     success: parked (nothing claimed beyond what it took, channel open);
//     failure: the tail moved (a claim, maybe not yet written) or the channel closed: no one
//              saw this registration; it takes it back (store null, release the reference)
//              and looks again (pending, ok or closed, as before).
//  Sender sends:    tail CAS position[|park] -> next(position) (acquire), clearing the bit;
//                   if the value it replaced had the bit, it alone owns the registration:
//                   write the message, w = rx_waker_.load(), rx_waker_.store(null, release),
//                   w->wake_and_release()                      [wake_parked_receiver]
//  Close:           tail CAS sets the mark and clears the bit (acq_rel); owns the wake likewise.
//  Receiver withdraws (a completed, cancelled or timed-out wait): rx_waker_ null: nothing (a
//                   sender or the close took it and nulled it). Otherwise CAS head|park -> head
//                   (ArrayQueue::try_unpark): success, the registration is its own again (store
//                   null, release the reference); failure, a sender or the close owns it and will
//                   null the slot and wake the waker: leave it alone.
//  Invariant: the bit is set only while a registration is published in rx_waker_, and whoever's
//  read-modify-write of the tail clears the bit (a sender, the close, or the receiver itself)
//  owns that registration: it alone nulls rx_waker_ and drops its reference, exactly once (a
//  registration whose park CAS failed never had the bit: the receiver owns it).
//  Only the receiver makes rx_waker_ non-null, and only after seeing it null; so between the
//  bit's clearing and the owner's null store the slot is the owner's, and a receiver wanting to
//  park again waits for the null (a few instructions of the owner: the message write and two
//  plain accesses) before storing its next waker.
//  No lost wake: all parties meet on the one tail word, whose modification order is total. A
//  claim of position `head` either precedes the park CAS there (which then fails: the receiver
//  sees the message coming and does not sleep) or follows it and reads the bit (unless the
//  receiver itself took it back first, having stopped waiting), so its sender wakes the
//  receiver. The close likewise. A claim of any other position leaves the receiver a message it
//  has not taken, and park CASes only from exactly `head` (positions never repeat: the lap grows
//  with every round of the ring).
//  No freed waker touched: the registration holds a reference (retained before the store); the
//  owner reads the pointer after its CAS, which read try_park's release (only try_park sets the
//  bit), so it reads that registration's waker, and it drops the reference only by waking. The
//  receiver's own later registration is stored only after it read the owner's null (coherence:
//  the owner's load precedes its null store, so it cannot read the next waker).
//  Orders: nothing here needs seq_cst, because no decision depends on two locations: the tail
//  word alone decides who owns a registration; release/acquire through that word (try_park ->
//  the claim or the close) makes the stored waker visible to its owner; the owner's null store
//  (release) pairs with the receiver's acquire wait for null. A send costs its claim (the CAS it
//  always paid) plus, when it took the bit, one plain load and one plain store before the wake:
//  no exchange. A park costs one CAS (it replaced the exchange and the re-check read).
//  A receiver polled again while its registration stands keeps it (same waker: either the bit is
//  still set, or its owner is about to wake this very waker, which then polls again).
//
//  Sender parks on a full bounded queue: tx_waiting_ += 1, heavy fence, retry the push.
//  Receiver frees a slot: stamp (SPSC: head) store, light fence, tx_waiting_ load.
//  The pair orders like two seq_cst fences (fence.hpp): the sender sees the free slot, or the
//  receiver sees the waiting sender and wakes one. The receiver's side is a compiler barrier
//  (membarrier does the work on the rare parking side), so a receive costs no extra fence.
//
// Thread-safety: every member function is thread-safe unless it says otherwise.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "troupe/channels/detail/config.hpp"
#include "troupe/channels/detail/fence.hpp"
#include "troupe/channels/detail/line_alloc.hpp"
#include "troupe/channels/detail/mutex.hpp"
#include "troupe/channels/waker.hpp"

namespace troupe::detail {

// How the senders of a channel order a publish before their check for a parked receiver.
enum class PublishFence {
  rmw,       // a seq_cst read-modify-write claims the slot (ListQueue, Rendezvous)
  light,     // a plain store, then light_fence(); a parking receiver pays heavy_fence() (SPSC)
  park_bit,  // the claiming CAS reads the receiver's park bit in the tail word (ArrayQueue)
};

class ChanBase {
 public:
  explicit ChanBase(PublishFence publish_fence = PublishFence::rmw) noexcept
      : publish_fence_(publish_fence) {}
  ChanBase(const ChanBase&) = delete;
  ChanBase& operator=(const ChanBase&) = delete;
  virtual ~ChanBase() = default;

  // Channels are over-aligned (their hot atomics sit on lines of their own); they are allocated
  // through allocate_lines, not the aligned operator new (line_alloc.hpp says why). `delete`
  // of any channel passes the size of its own type. (Only the sized delete: at class scope an
  // unsized one would be chosen over it, and deallocate_lines needs the size.)
  // NOLINTNEXTLINE(misc-new-delete-overloads): the sized delete below is the matching one
  static void* operator new(std::size_t size) { return allocate_lines(size); }
  static void operator delete(void* at, std::size_t size) noexcept { deallocate_lines(at, size); }

  // --- handle bookkeeping -------------------------------------------------------------------
  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void drop_ref() noexcept {
    // acq_rel: the last owner must see every other owner's writes before deleting.
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  void add_sender() noexcept { senders_.fetch_add(1, std::memory_order_relaxed); }
  // Returns true if this was the last sender.
  bool drop_sender() noexcept {
    // acq_rel: the last sender's close must follow every other sender's sends.
    return senders_.fetch_sub(1, std::memory_order_acq_rel) == 1;
  }
  [[nodiscard]] std::size_t sender_count() const noexcept {
    return senders_.load(std::memory_order_relaxed);
  }

  // --- the receiver's waker ------------------------------------------------------------------
  // Called by senders after every successful push (PublishFence::rmw and ::light only; the
  // park_bit channel wakes through wake_parked_receiver). One plain load unless a receiver is
  // parked.
  void wake_receiver() noexcept {
    // seq_cst: see the protocol above (pairs with register_receiver and the tail CAS, or, for
    // PublishFence::light, comes after the sender's light fence).
    if (rx_waker_.load(std::memory_order_seq_cst) != nullptr) take_and_wake_receiver();
  }
  // Registers `waker` as the (single) parked receiver; the caller must re-check the queue
  // afterwards (poll) before parking. Costs a heavy fence for PublishFence::light. Not for
  // PublishFence::park_bit (Chan parks through the queue's tail). Consumer only.
  void register_receiver(Waker& waker) noexcept;
  // Withdraws the registration (if still there), for every flavor. Consumer only.
  void deregister_receiver() noexcept {
    // Only the receiver fills the slot, so if it reads empty here it stays empty: a sender (or
    // the close) took the registration and wakes or woke us. Saves a locked instruction on every
    // receive that follows a wake. relaxed: the value read is our own store or a null store
    // of the party that took the registration; a stale non-null only sends us the slow way.
    if (rx_waker_.load(std::memory_order_relaxed) != nullptr) withdraw_receiver();
  }

  // --- senders parked on a full channel ------------------------------------------------------
  // Registers `waker`; the caller must retry its push afterwards before parking.
  void register_sender(Waker& waker);
  // Withdraws the registration; false if a waker already removed it.
  bool deregister_sender(Waker& waker) noexcept;
  // Called by the consumer after freeing a slot of a bounded queue.
  void slot_freed() noexcept {
    // light fence: see the protocol above (pairs with register_sender's heavy fence).
    light_fence();
    if (tx_waiting_.load(std::memory_order_relaxed) != 0) wake_one_sender();
  }
  void wake_all_senders() noexcept;

  // --- an awaited send on a full channel: how many polls it retries before registering -------
  // Registering costs the sender a heavy fence (above), which on a virtual machine interrupts
  // every core running the process; a retry costs one poll. So an awaited send retries first
  // (SendOp), and the channel learns how long that pays: a retry run that found room doubles
  // the limit (up to kSendRetriesMax), one that ended registering halves it (down to
  // kSendRetriesMin). A consumer draining on another core keeps the limit high; a slow one
  // brings it down within five waits. Any sender, any thread. relaxed: a heuristic, every value
  // read is a valid limit; two senders racing may lose an update, which the next one redoes.
  // Stored only when it changes, so a steady limit costs the consumer (who reads tx_waiting_
  // on the same line at every receive) no cache miss.
  static constexpr std::uint32_t kSendRetriesMin = 16;
  static constexpr std::uint32_t kSendRetriesMax = 256;
  [[nodiscard]] std::uint32_t send_retry_limit() const noexcept {
    return send_retries_.load(std::memory_order_relaxed);
  }
  void send_retries_paid_off() noexcept {
    set_send_retry_limit(std::min(2 * send_retry_limit(), kSendRetriesMax));
  }
  void send_retries_ran_out() noexcept {
    set_send_retry_limit(std::max(send_retry_limit() / 2, kSendRetriesMin));
  }

  // --- a receiver giving up its turn instead of parking (awaitable.hpp: yield_turn) ----------
  // Whether the receiver's next wait may first give up its turn. A turn given up for nothing
  // (the channel still empty when polled again) makes the next waits park at once, backing off
  // (1, 3, 7, ... up to 255 waits) until a given-up turn pays off again: a receiver whose
  // messages come from far away (a ring) soon stops paying the extra poll. Consumer only.
  [[nodiscard]] bool may_yield_turn() noexcept {
    if (yield_skip_ == 0) return true;
    --yield_skip_;
    return false;
  }
  // Reports how a given-up turn went: a message was there when polled again, or not.
  void turn_yielded(bool paid_off) noexcept {
    if (paid_off) {
      yield_backoff_ = 0;
      return;
    }
    yield_backoff_ = static_cast<std::uint8_t>(2 * yield_backoff_ + 1);  // 255 stays 255
    yield_skip_ = yield_backoff_;
  }

 protected:
  // --- the park_bit protocol (above), for Chan over an ArrayQueue ----------------------------
  // The slot's current value. relaxed: read by the consumer to find its own registration
  // (see Chan::park_on_tail); the decisions are made by the tail CAS.
  [[nodiscard]] Waker* receiver_waker() const noexcept {
    return rx_waker_.load(std::memory_order_relaxed);
  }
  // Stores `waker` (with a reference) before the park CAS. The slot must be null (an owner that
  // took the previous registration is done with it: await_receiver_slot). Consumer only.
  void publish_receiver(Waker& waker) noexcept {
    waker.retain();
    // release: with try_park's release CAS after it, the owner that takes the bit reads it.
    rx_waker_.store(&waker, std::memory_order_release);
  }
  // Takes back a registration no one else owns (the park CAS failed, or try_unpark won).
  // Consumer only.
  void take_back_receiver() noexcept {
    Waker* mine = rx_waker_.load(std::memory_order_relaxed);
    // relaxed: no other thread reads the slot for a registration whose bit it did not take; the
    // next registration is published by the next release store and park CAS.
    rx_waker_.store(nullptr, std::memory_order_relaxed);
    mine->release();
  }
  // Waits until an owner (a sender or the closer that took the park bit) has emptied the slot.
  void await_receiver_slot() noexcept;
  // The owner's side: wakes the registered waker and empties the slot. Called exactly once per
  // park bit taken, by the sender or closer whose tail CAS took it.
  void wake_parked_receiver() noexcept {
    // relaxed: our tail CAS read try_park's release, which follows the receiver's store of the
    // waker, so that store is visible; the slot changes only by our own store below.
    Waker* waker = rx_waker_.load(std::memory_order_relaxed);
    // release: pairs with await_receiver_slot's acquire; the receiver's next registration comes
    // after our load above.
    rx_waker_.store(nullptr, std::memory_order_release);
    waker->wake_and_release();
  }

  // Takes the receiver's park bit back from the queue's tail (ArrayQueue::try_unpark); true if
  // it was still set. Implemented by Chan<T> (park_bit channels only). Consumer only.
  virtual bool unpark_receiver() noexcept { return false; }

  // --- shared by the flavors -----------------------------------------------------------------
  void take_and_wake_receiver() noexcept;
  void wake_one_sender() noexcept;

 private:
  // The slow half of deregister_receiver: the slot held a waker.
  void withdraw_receiver() noexcept;
  void set_send_retry_limit(std::uint32_t limit) noexcept {
    if (send_retry_limit() != limit) {
      send_retries_.store(static_cast<std::uint16_t>(limit), std::memory_order_relaxed);
    }
  }

  const PublishFence publish_fence_;
  std::uint8_t yield_skip_ = 0;     // consumer only: waits left that park without yielding
  std::uint8_t yield_backoff_ = 0;  // consumer only: the skip after the next fruitless yield
  std::atomic<std::size_t> refs_{0};
  std::atomic<std::size_t> senders_{0};
  alignas(kCacheLine) std::atomic<Waker*> rx_waker_{nullptr};  // holds a reference when set
  alignas(kCacheLine) std::atomic<std::uint32_t> tx_waiting_{0};
  std::atomic<std::uint16_t> send_retries_{kSendRetriesMax};  // senders on the full path only
  PlainMutex tx_mutex_;
  std::vector<Waker*> tx_waiters_ ABSL_GUARDED_BY(tx_mutex_);  // each holds a reference
};

}  // namespace troupe::detail
