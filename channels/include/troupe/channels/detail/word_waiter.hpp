// troupe/channels/detail/word_waiter.hpp — the parking lot behind SharedBuffer::wait / notify,
// open to the layers above so that a coroutine can wait on a word (troupe::wait_async_i32 in
// runtime/sync/wait_async.hpp) with the very machinery a blocked thread uses. Not API
// (namespace detail); shared_buffer.cpp has the implementation.
//
// The lot is a fixed table of buckets, each a mutex and an intrusive FIFO of WordWaiter records;
// a word's address picks its bucket, and records are matched by address. A WordWaiter lives with
// its waiting party (a blocked thread's stack, a suspended coroutine's frame) and is in one of
// three states:
//
//   idle      not enqueued: its owner's alone (new, withdrawn by unpark_word, or the owner has
//             seen `notified`);
//   parked    enqueued by park_word: its links and its waker belong to the bucket's mutex;
//   notified  a notify unlinked it, took its waker and set `notified` (a release store, under the
//             bucket's mutex, after which that notify never touches the record again): the
//             owner's again.
//
// Every transition out of `parked` happens under the bucket's mutex, so a notify and a
// withdrawal (unpark_word) of the same record are ordered by it: exactly one of them unlinks the
// record, and once unpark_word has returned no notify refers to the record any more (the owner
// may destroy it). A waker taken by a notify may still be woken after that — a late, spurious
// wake, which the Waker contract (waker.hpp) already allows.
//
// No lost wake-ups. park_word compares the word and enqueues the record under the same mutex
// that notify_word takes for that word, so a thread that changes the word and then notifies
// either finds the record or made its change before the comparison (which then fails).
//
// Memory ordering. The comparison is a seq_cst load (Atomics.wait's), so it takes its place in
// the total order of the seq_cst operations made through SharedBuffer's atomic views. Whatever a
// notifier did before notify_word happens-before the owner's return from waiting once it sees
// `notified` with an acquire load (pairing with notify's release store), or learns of the
// notification from repark_word / unpark_word (through the bucket's mutex).
//
// Thread-safety. The functions below are thread-safe; each record has one owner, who alone
// calls park_word / repark_word / unpark_word on it, never two of them at once.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "troupe/channels/waker.hpp"

namespace troupe::detail {

// One waiting party's record in the parking lot (see the states above).
struct WordWaiter {
  WordWaiter() noexcept = default;
  WordWaiter(const WordWaiter&) = delete;
  WordWaiter& operator=(const WordWaiter&) = delete;
  ~WordWaiter() = default;

  const void* address = nullptr;  // the word waited on; null until the first park
  WakerRef waker;                 // while parked: who to wake (guarded by the bucket's mutex)
  // Set by notify as its last access to this record; from then on the owner owns it again.
  std::atomic<bool> notified{false};
  WordWaiter* prev = nullptr;  // guarded by the bucket's mutex
  WordWaiter* next = nullptr;  // guarded by the bucket's mutex
};

// The size of the word waited on: a 32-bit (Int32Array) or 64-bit (BigInt64Array) word.
enum class WordWidth : std::uint8_t { i32 = 4, i64 = 8 };

// The outcome of park_word.
enum class WordPark : std::uint8_t {
  not_equal,  // the word differed from `expected`: nothing was enqueued
  parked,     // the record is enqueued until a notify or unpark_word
};

// The word at `address` (naturally aligned, in shared memory), read with a seq_cst load — the
// comparison of Atomics.wait — and sign-extended: compare it with the `expected` of the wait.
// Thread-safe. Never blocks, never allocates.
[[nodiscard]] inline std::int64_t load_word(const std::byte* address, WordWidth width) noexcept {
  // The words are mutable shared memory; const only says that waiting does not write them.
  auto* word = const_cast<std::byte*>(address);
  if (width == WordWidth::i64) {
    // seq_cst: Atomics.wait's comparison is a sequentially consistent load.
    return std::atomic_ref<std::int64_t>(*reinterpret_cast<std::int64_t*>(word))
        .load(std::memory_order_seq_cst);
  }
  // seq_cst: as above.
  return std::atomic_ref<std::int32_t>(*reinterpret_cast<std::int32_t*>(word))
      .load(std::memory_order_seq_cst);
}

// Under the bucket lock of `address`: compares the word there with `expected` (load_word). If
// equal, enqueues the idle `waiter` (its address set, its waker a new reference to `waker`,
// `notified` cleared) behind the word's other waiters and returns parked; otherwise enqueues
// nothing and returns not_equal. `waiter` must be idle. Thread-safe. Never allocates.
WordPark park_word(const std::byte* address, WordWidth width, std::int64_t expected,
                   WordWaiter& waiter, Waker& waker) noexcept;

// A parked `waiter` polled again. Under the bucket lock: if it is still enqueued, `waker`
// becomes its registration (replacing the previous one, never adding a second) and it returns
// false; if a notify took it, it returns true (the notifier's writes before notify are visible
// to the caller). Call only between a `parked` park_word and the matching unpark_word.
// Thread-safe. Never allocates.
bool repark_word(WordWaiter& waiter, Waker& waker) noexcept;

// Withdraws `waiter`. Under the bucket lock: unlinks it if it is still enqueued (dropping its
// waker) and returns false; returns true if a notify took it first (that notify counted it and
// woke its waker). Afterwards no notify refers to the record. An idle record (never parked, or
// already withdrawn) stays idle; it returns whether it was notified. Thread-safe. Never
// allocates.
bool unpark_word(WordWaiter& waiter) noexcept;

// Atomics.notify: under the bucket lock of `address`, takes up to `count` records waiting on
// exactly that address, oldest first, and wakes their wakers after releasing the lock. Returns
// how many it took. Thread-safe. Allocates only to wake more than 16 waiters at once; if that
// fails it still wakes the ones it took, and then throws std::bad_alloc.
std::size_t notify_word(const std::byte* address, std::size_t count);

}  // namespace troupe::detail
