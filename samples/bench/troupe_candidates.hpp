// troupe's own channels as candidates of the queue benchmark (adapter contract: queues.hpp).
//
//   troupe_bounded          channel<int64_t>(kCapacity): try_send / try_recv, harness backs off
//   troupe_unbounded        unbounded_channel<int64_t>(): try_send / try_recv
//   troupe_bounded_blocking channel<int64_t>(kCapacity): blocking_send / blocking_recv, i.e. the
//                           channel's own idle policy (spin, yield, park) instead of the
//                           harness's back-off
//   troupe_spsc             spsc_channel<int64_t>(kCapacity): try_send / try_recv; single-producer
//                           scenarios only (its SpscSender cannot be cloned)
//
// Each producer thread gets its own Sender clone, as a user would give each thread one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "troupe/channels/channel.hpp"

namespace troupe::bench {

template <bool kBounded, bool kBlocking>
class TroupeChannel {
 public:
  static constexpr bool kMultiProducer = true;

  explicit TroupeChannel(std::size_t capacity) {
    auto [tx, rx] = kBounded ? channel<std::int64_t>(static_cast<std::int64_t>(capacity))
                             : unbounded_channel<std::int64_t>();
    tx_ = std::move(tx);
    rx_ = std::move(rx);
  }

  class Producer {
   public:
    explicit Producer(const Sender<std::int64_t>& tx) : tx_(tx.clone()) {}
    bool try_push(std::int64_t value) {
      if constexpr (kBlocking) {
        return static_cast<bool>(tx_.blocking_send(std::int64_t{value}));
      } else {
        return static_cast<bool>(tx_.try_send(std::int64_t{value}));
      }
    }

   private:
    Sender<std::int64_t> tx_;
  };
  Producer producer() { return Producer(tx_); }

  bool try_push(std::int64_t value) { return static_cast<bool>(tx_.try_send(std::int64_t{value})); }
  bool try_pop(std::int64_t& out) {
    if constexpr (kBlocking) {
      std::optional<std::int64_t> message = rx_.blocking_recv();
      if (!message) return false;
      out = *message;
      return true;
    } else {
      auto message = rx_.try_recv();
      if (!message) return false;
      out = *message;
      return true;
    }
  }

 private:
  Sender<std::int64_t> tx_;
  Receiver<std::int64_t> rx_;
};

// The single-producer flavor. No producer(): the harness's one producer thread uses this
// object's try_push (the SpscSender is handed from thread to thread between iterations, which
// join in between — as "Owner thread only" allows).
class TroupeSpsc {
 public:
  static constexpr bool kMultiProducer = false;

  explicit TroupeSpsc(std::size_t capacity) {
    auto [tx, rx] = spsc_channel<std::int64_t>(static_cast<std::int64_t>(capacity));
    tx_ = std::move(tx);
    rx_ = std::move(rx);
  }

  bool try_push(std::int64_t value) { return static_cast<bool>(tx_.try_send(std::int64_t{value})); }
  bool try_pop(std::int64_t& out) {
    auto message = rx_.try_recv();
    if (!message) return false;
    out = *message;
    return true;
  }

 private:
  SpscSender<std::int64_t> tx_;
  Receiver<std::int64_t> rx_;
};

using TroupeBounded = TroupeChannel<true, false>;
using TroupeUnbounded = TroupeChannel<false, false>;
using TroupeBoundedBlocking = TroupeChannel<true, true>;

}  // namespace troupe::bench
