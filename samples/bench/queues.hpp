// Candidate MPSC queues for troupe's mailbox, measured side by side by bench_queues.cpp.
//
// Every candidate carries std::int64_t payloads (the size of a typical small mailbox message) and
// is written from the published algorithm it is named after; the citation sits on each class.
//
// The adapter contract that bench_queues.cpp relies on (adding a candidate = one class here and one
// line in the candidate table there):
//
//   explicit Q(std::size_t capacity);  capacity of bounded candidates; a node-pool size hint for
//                                      the others, which ignore it as a limit.
//   static constexpr bool kMultiProducer;  false: run in the single-producer scenarios only.
//   bool try_push(std::int64_t);       Thread-safe (single-producer candidates: one thread only).
//                                      Returns false when full. Never blocks.
//   bool try_pop(std::int64_t&);       Consumer thread only. Returns false when empty *or* when
//                                      the next message's producer is between claim and publish.
//   Optional: `Producer producer();`   per-producer-thread handle with its own try_push, for
//                                      candidates that keep per-producer state (a node cache).
//                                      Owner thread only.
//
// Memory ordering (all candidates): everything a producer did before a successful try_push is
// visible to the consumer after the try_pop that returns that message. Messages of one producer
// come out in the order it pushed them (per-producer FIFO); there is no order across producers
// beyond what each algorithm's linearisation point gives.
//
// These are benchmark candidates, not library code: they have no close/disconnect protocol, no
// waker, and destroy queued messages silently.
#pragma once

#include <absl/base/thread_annotations.h>
#include <sched.h>

#include <atomic>
#include <bit>
#include <boost/lockfree/policies.hpp>
#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace troupe::bench {

// One constant for every "own cache line" decision in this file. (Zen's adjacent-line prefetcher
// makes 128 arguable; 64 is the architectural line and what the rest of troupe uses.)
inline constexpr std::size_t kCacheLine = 64;

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// Spin with exponentially more PAUSEs, then yield the CPU. On a 2-core VM the benchmark runs up to
// five threads, so a waiter that never yields would steal the time slice of the thread it waits
// for.
// Owner thread only.
class Backoff {
 public:
  void snooze() noexcept {
    if (step_ < kSpinSteps) {
      for (unsigned i = 0; i < (1U << step_); ++i) cpu_relax();
      ++step_;
    } else {
      sched_yield();
    }
  }
  void reset() noexcept { step_ = 0; }

 private:
  // 1 + 2 + ... + 64 = 127 PAUSEs (a few microseconds on Zen 2+, where PAUSE is ~65 cycles).
  static constexpr unsigned kSpinSteps = 7;
  unsigned step_ = 0;
};

// ------------------------------------------------------------------------------------------------
// Node allocation policies for the two intrusive (node-based) queues. A policy is a class template
// over the queue's Node type (which has a `std::atomic<Node*> next` link) with
//   Policy(std::size_t initial_nodes);
//   Policy::Cache(Policy&)  + Node* acquire()    per producer thread; owner thread only
//   void recycle(Node*)                          consumer thread only

// Every message is its own heap object, as when the message *is* the node (CAF's
// mailbox_element is `new`ed per send). Measures malloc/free on the send/receive path, including
// glibc's cross-thread free (allocated on a producer, freed on the consumer).
template <class Node>
class HeapNodes {
 public:
  explicit HeapNodes(std::size_t /*initial_nodes*/) noexcept {}

  class Cache {
   public:
    explicit Cache(HeapNodes& /*pool*/) noexcept {}
    Node* acquire() { return new Node; }
  };

  void recycle(Node* node) noexcept { delete node; }
};

// A preallocated pool: the same queue with the allocator taken out of the measurement.
//
// Free nodes live on a shared stack that only ever sees (a) pushes of whole chains and (b) "take
// everything" exchanges, never a single-node pop, so it has no ABA problem and needs no tag. Each
// producer keeps the chain it took as a private cache (no atomics per message); the consumer
// collects freed nodes privately and publishes them kRecycleBatch at a time (one CAS per batch). A
// producer that finds both empty grows the pool by a chunk, so the pool settles at the peak number
// of in-flight messages and then never allocates again.
template <class Node>
class NodePool {
 public:
  explicit NodePool(std::size_t initial_nodes) {
    for (std::size_t n = 0; n < initial_nodes; n += kChunkNodes) {
      auto [first, last] = grow();
      publish(first, last);
    }
  }
  ~NodePool() {
    Chunk* chunk = chunks_.load(std::memory_order_relaxed);
    while (chunk != nullptr) delete std::exchange(chunk, chunk->next);
  }
  NodePool(const NodePool&) = delete;
  NodePool& operator=(const NodePool&) = delete;

  class Cache {
   public:
    explicit Cache(NodePool& pool) noexcept : pool_(pool) {}
    ~Cache() {
      if (head_ == nullptr) return;
      Node* last = head_;
      while (Node* next = last->next.load(std::memory_order_relaxed)) last = next;
      pool_.publish(head_, last);
    }
    Cache(const Cache&) = delete;
    Cache& operator=(const Cache&) = delete;

    Node* acquire() {
      if (head_ == nullptr) {
        head_ = pool_.take_all();
        if (head_ == nullptr) head_ = pool_.grow().first;
      }
      Node* node = head_;
      head_ = node->next.load(std::memory_order_relaxed);
      return node;
    }

   private:
    NodePool& pool_;
    Node* head_ = nullptr;
  };

  void recycle(Node* node) noexcept {
    node->next.store(recycled_head_, std::memory_order_relaxed);
    if (recycled_head_ == nullptr) recycled_tail_ = node;
    recycled_head_ = node;
    if (++recycled_count_ == kRecycleBatch) {
      publish(recycled_head_, recycled_tail_);
      recycled_head_ = recycled_tail_ = nullptr;
      recycled_count_ = 0;
    }
  }

 private:
  static constexpr std::size_t kChunkNodes = 256;
  static constexpr std::size_t kRecycleBatch = 64;

  struct Chunk {
    Chunk* next = nullptr;
    Node nodes[kChunkNodes];
  };

  // Allocates a chunk and returns its nodes as a private chain [first, last].
  std::pair<Node*, Node*> grow() {
    auto* chunk = new Chunk;
    for (std::size_t i = 0; i + 1 < kChunkNodes; ++i) {
      chunk->nodes[i].next.store(&chunk->nodes[i + 1], std::memory_order_relaxed);
    }
    chunk->nodes[kChunkNodes - 1].next.store(nullptr, std::memory_order_relaxed);
    // The chunk list is only read by the destructor, after every user thread was joined.
    chunk->next = chunks_.load(std::memory_order_relaxed);
    while (!chunks_.compare_exchange_weak(chunk->next, chunk, std::memory_order_relaxed)) {
    }
    return {&chunk->nodes[0], &chunk->nodes[kChunkNodes - 1]};
  }

  void publish(Node* first, Node* last) noexcept {
    Node* top = free_.load(std::memory_order_relaxed);
    do {
      last->next.store(top, std::memory_order_relaxed);
      // release: the chain's links (and the consumer's last reads of the nodes) happen-before the
      // producer that takes the chain with its acquire exchange.
    } while (!free_.compare_exchange_weak(top, first, std::memory_order_release,
                                          std::memory_order_relaxed));
  }

  Node* take_all() noexcept {
    if (free_.load(std::memory_order_relaxed) == nullptr) return nullptr;  // skip the RMW
    // acquire: pairs with publish()'s release CAS; we then walk the chain's links.
    return free_.exchange(nullptr, std::memory_order_acquire);
  }

  alignas(kCacheLine) std::atomic<Node*> free_{nullptr};
  alignas(kCacheLine) std::atomic<Chunk*> chunks_{nullptr};
  // Consumer-private batch of recycled nodes.
  alignas(kCacheLine) Node* recycled_head_ = nullptr;
  Node* recycled_tail_ = nullptr;
  std::size_t recycled_count_ = 0;
};

// ------------------------------------------------------------------------------------------------
// 1. Vyukov's intrusive MPSC node-based queue.
//    D. Vyukov, "Intrusive MPSC node-based queue", 1024cores.net (2010):
//    https://www.1024cores.net/home/lock-free-algorithms/queues/intrusive-mpsc-node-based-queue
// A producer links its node with one XCHG on head_ and one store; the consumer pops from tail_
// without any RMW except when the queue runs down to its last node (then it re-pushes the stub).
// Not lock-free for the consumer: a producer preempted between its XCHG and its link store hides
// every later message until it runs again (try_pop returns false meanwhile).
template <template <class> class Nodes>
class VyukovMpsc {
  struct Node {
    std::atomic<Node*> next{nullptr};
    std::int64_t value = 0;
  };

 public:
  static constexpr bool kMultiProducer = true;

  explicit VyukovMpsc(std::size_t capacity) : nodes_(capacity) {}
  ~VyukovMpsc() {
    while (Node* node = pop()) nodes_.recycle(node);
  }
  VyukovMpsc(const VyukovMpsc&) = delete;
  VyukovMpsc& operator=(const VyukovMpsc&) = delete;

  class Producer {
   public:
    explicit Producer(VyukovMpsc& queue) : queue_(queue), cache_(queue.nodes_) {}
    bool try_push(std::int64_t value) {
      Node* node = cache_.acquire();
      node->value = value;
      queue_.push(node);
      return true;
    }

   private:
    VyukovMpsc& queue_;
    typename Nodes<Node>::Cache cache_;
  };
  Producer producer() { return Producer(*this); }

  bool try_pop(std::int64_t& out) noexcept {
    Node* node = pop();
    if (node == nullptr) return false;
    out = node->value;
    nodes_.recycle(node);
    return true;
  }

 private:
  void push(Node* node) noexcept {
    node->next.store(nullptr, std::memory_order_relaxed);
    // acq_rel: release orders our `next = nullptr` before the next producer's link store into
    // this node; acquire does the same for our link store into `prev`. (One XCHG on x86 anyway.)
    Node* prev = head_.exchange(node, std::memory_order_acq_rel);
    // release: the consumer's acquire load of prev->next then sees node->value.
    prev->next.store(node, std::memory_order_release);
  }

  // Consumer only. Returns a node that no producer references any more, or nullptr.
  Node* pop() noexcept {
    Node* tail = tail_;
    // acquire: pairs with push()'s release link store, so the linked node's value is visible.
    Node* next = tail->next.load(std::memory_order_acquire);
    if (tail == &stub_) {
      if (next == nullptr) return nullptr;  // empty
      tail_ = tail = next;
      // acquire: as above.
      next = next->next.load(std::memory_order_acquire);
    }
    if (next != nullptr) {
      tail_ = next;
      return tail;
    }
    // `tail` is the last linked node. If it is not also head_, a producer has exchanged head_ but
    // not linked yet: report empty rather than wait for it.
    if (tail != head_.load(std::memory_order_relaxed)) return nullptr;
    push(&stub_);  // so that `tail` gets a successor and can be handed out
    // acquire: as above.
    next = tail->next.load(std::memory_order_acquire);
    if (next != nullptr) {
      tail_ = next;
      return tail;
    }
    return nullptr;  // another producer slipped in between; its link store is pending
  }

  alignas(kCacheLine) std::atomic<Node*> head_{&stub_};  // producers' end
  alignas(kCacheLine) Node* tail_ = &stub_;              // consumer's end
  Node stub_;
  Nodes<Node> nodes_;
};

// ------------------------------------------------------------------------------------------------
// 2. CAF-style LIFO inbox with a FIFO cache.
//    Producers push onto a Treiber stack (R. K. Treiber, "Systems Programming: Coping with
//    Parallelism", IBM RJ 5118, 1986) with one CAS; the consumer takes the whole stack with one
//    exchange and reverses it into a private FIFO cache, as CAF's intrusive::lifo_inbox feeding
//    its task queues does (actor-framework, libcaf_core/caf/intrusive/lifo_inbox.hpp).
// Lock-free for producers and consumer (no "linked later" window), at the price of a CAS retry
// loop for producers and a pointer-chasing reversal for the consumer.
template <template <class> class Nodes>
class LifoInbox {
  struct Node {
    std::atomic<Node*> next{nullptr};
    std::int64_t value = 0;
  };

 public:
  static constexpr bool kMultiProducer = true;

  explicit LifoInbox(std::size_t capacity) : nodes_(capacity) {}
  ~LifoInbox() {
    std::int64_t value = 0;
    while (try_pop(value)) {
    }
  }
  LifoInbox(const LifoInbox&) = delete;
  LifoInbox& operator=(const LifoInbox&) = delete;

  class Producer {
   public:
    explicit Producer(LifoInbox& inbox) : inbox_(inbox), cache_(inbox.nodes_) {}
    bool try_push(std::int64_t value) {
      Node* node = cache_.acquire();
      node->value = value;
      inbox_.push(node);
      return true;
    }

   private:
    LifoInbox& inbox_;
    typename Nodes<Node>::Cache cache_;
  };
  Producer producer() { return Producer(*this); }

  bool try_pop(std::int64_t& out) noexcept {
    if (cache_ == nullptr && !refill()) return false;
    Node* node = cache_;
    cache_ = node->next.load(std::memory_order_relaxed);
    out = node->value;
    nodes_.recycle(node);
    return true;
  }

 private:
  void push(Node* node) noexcept {
    Node* top = stack_.load(std::memory_order_relaxed);
    do {
      node->next.store(top, std::memory_order_relaxed);
      // release: the consumer's acquire exchange then sees node->value and node->next.
    } while (!stack_.compare_exchange_weak(top, node, std::memory_order_release,
                                           std::memory_order_relaxed));
  }

  bool refill() noexcept {
    if (stack_.load(std::memory_order_relaxed) == nullptr) return false;  // skip the RMW
    // acquire: pairs with every producer's release CAS (one release sequence).
    Node* stack = stack_.exchange(nullptr, std::memory_order_acquire);
    Node* fifo = nullptr;  // newest-first stack -> oldest-first cache
    while (stack != nullptr) {
      Node* next = stack->next.load(std::memory_order_relaxed);
      stack->next.store(fifo, std::memory_order_relaxed);
      fifo = stack;
      stack = next;
    }
    cache_ = fifo;
    return true;
  }

  alignas(kCacheLine) std::atomic<Node*> stack_{nullptr};  // producers' end
  alignas(kCacheLine) Node* cache_ = nullptr;              // consumer-private FIFO
  Nodes<Node> nodes_;
};

// ------------------------------------------------------------------------------------------------
// 3. boost::lockfree::queue (MPMC; Michael & Scott, "Simple, Fast, and Practical Non-Blocking and
//    Blocking Concurrent Queue Algorithms", PODC 1996) with a fixed-size node freelist, so it never
//    allocates after construction. Capacity must stay below 65535 (16-bit node indices).
class BoostMpmcQueue {
 public:
  static constexpr bool kMultiProducer = true;

  // +1: the Michael-Scott dummy node occupies one node of the pool.
  explicit BoostMpmcQueue(std::size_t capacity) : queue_(capacity + 1) {}

  bool try_push(std::int64_t value) noexcept { return queue_.bounded_push(value); }
  bool try_pop(std::int64_t& out) noexcept { return queue_.pop(out); }

 private:
  boost::lockfree::queue<std::int64_t, boost::lockfree::fixed_sized<true>> queue_;
};

// ------------------------------------------------------------------------------------------------
// 4. Baselines: std::mutex + std::deque, unbounded.
class MutexDeque {
 public:
  static constexpr bool kMultiProducer = true;

  explicit MutexDeque(std::size_t /*capacity*/) {}

  bool try_push(std::int64_t value) {
    std::lock_guard lock(mutex_);
    items_.push_back(value);
    return true;
  }
  bool try_pop(std::int64_t& out) {
    std::lock_guard lock(mutex_);
    if (items_.empty()) return false;
    out = items_.front();
    items_.pop_front();
    return true;
  }

 private:
  std::mutex mutex_;
  std::deque<std::int64_t> items_ ABSL_GUARDED_BY(mutex_);
};

// The same, but the consumer swaps the whole shared deque out under one lock and drains it
// privately (batching: one lock per batch instead of one per message on the consumer side).
class MutexDequeBatch {
 public:
  static constexpr bool kMultiProducer = true;

  explicit MutexDequeBatch(std::size_t /*capacity*/) {}

  bool try_push(std::int64_t value) {
    std::lock_guard lock(mutex_);
    items_.push_back(value);
    return true;
  }
  bool try_pop(std::int64_t& out) {
    if (cache_.empty()) {
      std::lock_guard lock(mutex_);
      if (items_.empty()) return false;
      items_.swap(cache_);
    }
    out = cache_.front();
    cache_.pop_front();
    return true;
  }

 private:
  alignas(kCacheLine) std::mutex mutex_;
  std::deque<std::int64_t> items_ ABSL_GUARDED_BY(mutex_);
  alignas(kCacheLine) std::deque<std::int64_t> cache_;  // consumer-private
};

// ------------------------------------------------------------------------------------------------
// 5. boost::lockfree::spsc_queue: a wait-free ring buffer (Lamport's single-producer /
//    single-consumer queue, with cached indices). Single producer only.
class BoostSpscQueue {
 public:
  static constexpr bool kMultiProducer = false;

  explicit BoostSpscQueue(std::size_t capacity) : queue_(capacity) {}

  bool try_push(std::int64_t value) noexcept { return queue_.push(value); }
  bool try_pop(std::int64_t& out) noexcept { return queue_.pop(out); }

 private:
  boost::lockfree::spsc_queue<std::int64_t> queue_;
};

// ------------------------------------------------------------------------------------------------
// 6. Bounded array MPSC with per-slot sequence stamps.
//    D. Vyukov, "Bounded MPMC queue", 1024cores.net (2010):
//    https://www.1024cores.net/home/lock-free-algorithms/queues/bounded-mpmc-queue
//    with the "lap" stamps of crossbeam's ArrayQueue (crossbeam-queue, src/array_queue.rs), which
//    allow any capacity: a position is `lap | index` with lap a multiple of one_lap_ =
//    bit_ceil(capacity + 1), so wrapping is a compare instead of a modulo.
// Producers claim a position with a CAS on tail_; a slot whose stamp equals the position is free
// for that lap, a stamp of position + 1 means "written". The single consumer owns head_ outright
// (no CAS, not even shared), which also makes the full test exact: a producer that finds its slot
// still stamped by the previous lap knows the consumer has not released it.
class ArrayMpsc {
  struct Slot {
    std::atomic<std::uint64_t> stamp{0};
    std::int64_t value = 0;
  };

 public:
  static constexpr bool kMultiProducer = true;

  explicit ArrayMpsc(std::size_t capacity)
      : capacity_(capacity),
        one_lap_(std::bit_ceil(capacity + 1)),
        slots_(std::make_unique<Slot[]>(capacity)) {
    for (std::size_t i = 0; i < capacity; ++i) slots_[i].stamp.store(i, std::memory_order_relaxed);
  }

  bool try_push(std::int64_t value) noexcept {
    std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    for (;;) {
      const std::uint64_t index = tail & (one_lap_ - 1);
      const std::uint64_t lap = tail & ~(one_lap_ - 1);
      Slot& slot = slots_[index];
      // acquire: pairs with the consumer's release of this slot, so our write of value comes
      // after its read of the previous lap's value.
      const std::uint64_t stamp = slot.stamp.load(std::memory_order_acquire);
      if (stamp == tail) {
        const std::uint64_t next = index + 1 < capacity_ ? tail + 1 : lap + one_lap_;
        // The winner alone touches the slot; ordering comes from the slot stamps, not from tail_.
        if (tail_.compare_exchange_weak(tail, next, std::memory_order_relaxed)) {
          slot.value = value;
          // release: publishes value to the consumer's acquire load of the stamp.
          slot.stamp.store(tail + 1, std::memory_order_release);
          return true;
        }
      } else if (stamp + one_lap_ == tail + 1) {
        return false;  // still holds the previous lap's message: full
      } else {
        tail = tail_.load(std::memory_order_relaxed);  // slot taken this lap: catch up
      }
    }
  }

  bool try_pop(std::int64_t& out) noexcept {
    const std::uint64_t index = head_ & (one_lap_ - 1);
    Slot& slot = slots_[index];
    // acquire: pairs with the producer's release store of the stamp; value is then visible.
    if (slot.stamp.load(std::memory_order_acquire) != head_ + 1) return false;
    out = slot.value;
    // release: our read of value happens-before the next lap's producer overwrites it.
    slot.stamp.store(head_ + one_lap_, std::memory_order_release);
    head_ = index + 1 < capacity_ ? head_ + 1 : (head_ & ~(one_lap_ - 1)) + one_lap_;
    return true;
  }

 private:
  alignas(kCacheLine) std::atomic<std::uint64_t> tail_{0};  // producers' end
  alignas(kCacheLine) std::uint64_t head_ = 0;              // consumer-private
  alignas(kCacheLine) const std::uint64_t capacity_;        // read-only from here on
  const std::uint64_t one_lap_;
  const std::unique_ptr<Slot[]> slots_;
};

// ------------------------------------------------------------------------------------------------
// 7. Unbounded segmented MPSC: a linked list of blocks of kBlockSlots slots.
//    The idea of crossbeam-channel's list flavor (crossbeam-channel, src/flavors/list.rs; itself
//    after Vyukov's segmented queues): tail_index_ counts positions in laps of kLap, of which the
//    last value is not a slot but a "next block is being installed" marker. A producer claims a
//    position with a CAS on tail_index_; the one that claims a block's last slot installs the next
//    block (allocated *before* its CAS, so the window in which others wait is short). Each slot
//    has its own ready flag. Deviation from crossbeam: with a single consumer, head needs no atomic
//    at all (emptiness = "next slot not ready"), and a finished block is recycled through a
//    one-block spare slot (as tokio's mpsc list reuses blocks) instead of always freed.
// Like Vyukov's queue, a producer preempted between its claim and its ready flag hides the
// messages behind it until it runs again.
class SegmentedMpsc {
  static constexpr std::uint64_t kLap = 64;
  static constexpr std::uint64_t kBlockSlots = kLap - 1;  // a block is ~1 KiB

  struct Slot {
    std::int64_t value = 0;
    std::atomic<bool> ready{false};
  };
  struct Block {
    std::atomic<Block*> next{nullptr};
    Slot slots[kBlockSlots];
  };

 public:
  static constexpr bool kMultiProducer = true;

  explicit SegmentedMpsc(std::size_t /*capacity*/)
      : tail_block_(new Block), head_block_(tail_block_.load(std::memory_order_relaxed)) {}
  ~SegmentedMpsc() {
    Block* block = head_block_;
    while (block != nullptr) {
      delete std::exchange(block, block->next.load(std::memory_order_relaxed));
    }
    delete spare_.load(std::memory_order_relaxed);
  }
  SegmentedMpsc(const SegmentedMpsc&) = delete;
  SegmentedMpsc& operator=(const SegmentedMpsc&) = delete;

  bool try_push(std::int64_t value) {
    Block* next_block = nullptr;
    Backoff backoff;
    for (;;) {
      // acquire: pairs with the installer's release store of a new lap, so tail_block_ below is
      // at least the block of the lap we read (and its construction is visible).
      std::uint64_t tail = tail_index_.load(std::memory_order_acquire);
      const std::uint64_t offset = tail % kLap;
      if (offset == kBlockSlots) {  // another producer is installing the next block
        backoff.snooze();
        continue;
      }
      if (offset + 1 == kBlockSlots && next_block == nullptr) next_block = take_spare();
      // Relaxed: ordered by the acquire above; if it is already a newer block, our CAS fails.
      Block* block = tail_block_.load(std::memory_order_relaxed);
      // Relaxed: the slot's ready flag, not tail_index_, publishes the value.
      if (tail_index_.compare_exchange_weak(tail, tail + 1, std::memory_order_relaxed)) {
        if (offset + 1 == kBlockSlots) {  // we own the last slot: install the next block
          tail_block_.store(next_block, std::memory_order_relaxed);
          // release: a producer that reads the new lap then reads tail_block_ == next_block.
          tail_index_.store(tail + 2, std::memory_order_release);
          // Relaxed: published to the consumer by this slot's release ready flag below.
          block->next.store(next_block, std::memory_order_relaxed);
          next_block = nullptr;
        }
        block->slots[offset].value = value;
        // release: publishes value (and, for the last slot, block->next) to the consumer.
        block->slots[offset].ready.store(true, std::memory_order_release);
        if (next_block != nullptr) give_back_spare(next_block);
        return true;
      }
      backoff.snooze();
    }
  }

  bool try_pop(std::int64_t& out) noexcept {
    Slot& slot = head_block_->slots[head_offset_];
    // acquire: pairs with the producer's release store of ready.
    if (!slot.ready.load(std::memory_order_acquire)) return false;
    out = slot.value;
    if (++head_offset_ == kBlockSlots) {
      // Non-null: stored by the last slot's producer before its ready flag we just acquired.
      Block* next = head_block_->next.load(std::memory_order_relaxed);
      // Every slot has been claimed and written: no producer touches this block any more.
      retire(head_block_);
      head_block_ = next;
      head_offset_ = 0;
    }
    return true;
  }

 private:
  Block* take_spare() {
    if (spare_.load(std::memory_order_relaxed) != nullptr) {
      // acquire: pairs with retire()'s release exchange, so the block's reset is visible.
      if (Block* block = spare_.exchange(nullptr, std::memory_order_acquire)) return block;
    }
    return new Block;
  }

  void give_back_spare(Block* block) noexcept {
    Block* expected = nullptr;
    // release: the next taker's acquire exchange sees the block in its reset state.
    if (!spare_.compare_exchange_strong(expected, block, std::memory_order_release,
                                        std::memory_order_relaxed)) {
      delete block;
    }
  }

  void retire(Block* block) noexcept {
    block->next.store(nullptr, std::memory_order_relaxed);
    for (Slot& slot : block->slots) slot.ready.store(false, std::memory_order_relaxed);
    // acq_rel: release so a producer taking this block sees the reset above; acquire because the
    // block we displace may come from a producer's give_back_spare() and we are about to free it.
    delete spare_.exchange(block, std::memory_order_acq_rel);
  }

  alignas(kCacheLine) std::atomic<std::uint64_t> tail_index_{0};  // producers' end
  std::atomic<Block*> tail_block_;  // changes once per block, read with tail_index_
  alignas(kCacheLine) std::atomic<Block*> spare_{nullptr};  // one recycled block
  alignas(kCacheLine) Block* head_block_;                   // consumer-private
  std::uint64_t head_offset_ = 0;
};

}  // namespace troupe::bench
