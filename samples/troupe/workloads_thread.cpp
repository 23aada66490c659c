// workloads_thread.cpp — the thread style: plain std::threads talking through troupe channels.
//
//   fanin      producer ×4 ──Sender<int64> clones──▶ one channel ──▶ consumer (main thread)
//   transfer   driver (main thread) ──Buffer──▶ worker ──Buffer──▶ driver, n times
//
// Every run creates its threads first and lines them up at a StartLine; the measured phase
// starts when the last one arrives and ends when the driver has its final answer.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "troupe/channels/buffer.hpp"
#include "placement.hpp"
#include "workloads.hpp"

namespace troupe::cli {
namespace workloads_thread_impl {
namespace {

using Clock = std::chrono::steady_clock;

// Where every thread of a run waits until all exist; the measured phase starts as the last one
// arrives (it stamps the time before releasing the others, so everyone past arrive_and_wait()
// sees it). Waiting threads spin and yield instead of sleeping on a futex: a futex wake lets the
// kernel pull the woken thread onto the waker's core (wake-affine placement), and the run would
// then start with two threads sharing one core while the other sits idle.
class StartLine {
 public:
  explicit StartLine(std::ptrdiff_t threads) : waiting_(threads) {}

  void arrive_and_wait() {
    // acq_rel: the last arrival's stamp and everyone's set-up happen-before the release below.
    if (waiting_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      start_ = Clock::now();
      go_.store(true, std::memory_order_release);  // release: publishes start_
      return;
    }
    // acquire: pairs with the release of go_, making start_ visible.
    while (!go_.load(std::memory_order_acquire)) std::this_thread::yield();
  }
  // Seconds since the start. Call only after arrive_and_wait().
  [[nodiscard]] double seconds_since_start() const {
    return std::chrono::duration<double>(Clock::now() - start_).count();
  }

 private:
  std::atomic<std::ptrdiff_t> waiting_;
  std::atomic<bool> go_{false};
  Clock::time_point start_;
};



}  // namespace
}  // namespace workloads_thread_impl

// fanin: each producer owns a Sender clone and sends 1..n/4; the main thread sums until the
// stream ends (every producer finished and dropped its Sender).
LoadResult run_fanin_thread(const LoadParams& params) {
  const auto per_producer = static_cast<std::int64_t>(params.n / kFaninProducers);
  auto channel = open_channel<std::int64_t>(*params.capacity);
  Receiver<std::int64_t>& rx = channel.second;
  workloads_thread_impl::StartLine start(kFaninProducers + 1);
  const ThreadPlacement placement(params.placement);
  placement.pin(0);
  std::vector<std::jthread> producers;
  for (std::uint64_t i = 0; i < kFaninProducers; ++i) {
    producers.emplace_back([&, i, per_producer, tx = channel.first.clone()]() mutable {
      placement.pin(i + 1);
      start.arrive_and_wait();
      for (std::int64_t value = 1; value <= per_producer; ++value) {
        // Closed cannot happen here; the check would catch it.
        if (!tx.blocking_send(value)) return;
      }
    });
  }
  channel.first = Sender<std::int64_t>();  // only the producers' clones keep the stream open

  start.arrive_and_wait();
  std::uint64_t sum = 0;
  while (const auto value = rx.blocking_recv()) sum += static_cast<std::uint64_t>(*value);
  const double seconds = start.seconds_since_start();
  for (std::jthread& producer : producers) producer.join();

  return {.items = params.n,
          .seconds = seconds,
          .check = sum,
          .threads = kFaninProducers + 1,
          .extras = {{"producers", kFaninProducers},
                     capacity_field(*params.capacity),
                     placement.field()},
          .failures = {},
          .metrics = std::nullopt};  // no troupe runtime: --metrics is refused for this style
}

namespace workloads_thread_impl {
namespace {

// transfer: one Buffer, created (zeroed) before the start, travels to the worker and back n
// times. The worker adds 1 to the counter, the buffer's first 64-bit word; the driver sums the
// counter after each return. Every returned buffer must be the very allocation that was
// created: same data pointer, so it moved and was never copied. Each direction has exactly one
// sender, so a bounded run uses spsc_channel (no locked instruction per message); a rendezvous
// or unbounded one uses the MPSC channels, which offer those.
template <class Open>
LoadResult run_transfer(const LoadParams& params, Open open) {
  Buffer buffer(kTransferBytes);  // before any thread: if this throws, nobody waits at the start
  TransferBooks books(buffer);
  auto to_worker = open();
  auto to_driver = open();
  StartLine start(2);
  const ThreadPlacement placement(params.placement);
  placement.pin(0);
  std::jthread worker([&start, &placement, rx = std::move(to_worker.second),
                       tx = std::move(to_driver.first)]() mutable {
    placement.pin(1);
    start.arrive_and_wait();
    while (auto buffer = rx.blocking_recv()) {
      buffer->template as<std::uint64_t>()[0] += 1;
      if (!tx.blocking_send(std::move(*buffer))) return;
    }
  });
  auto& tx = to_worker.first;
  Receiver<Buffer>& rx = to_driver.second;
  LoadResult result;
  result.items = params.n;
  result.threads = 2;

  start.arrive_and_wait();
  for (std::uint64_t trip = 1; trip <= params.n; ++trip) {
    if (!tx.blocking_send(std::move(buffer))) {
      result.failures.push_back("the worker closed its channel before round trip " +
                                std::to_string(trip));
      break;
    }
    auto back = rx.blocking_recv();
    if (!back) {
      result.failures.push_back("the worker ended during round trip " + std::to_string(trip));
      break;
    }
    buffer = std::move(*back);
    books.returned(buffer, trip, result);
  }
  result.seconds = start.seconds_since_start();
  tx.close();  // the worker sees the end of its stream and returns
  worker.join();

  books.finish(result);
  result.extras.push_back(capacity_field(*params.capacity));
  result.extras.push_back(placement.field());
  return result;
}

}  // namespace
}  // namespace workloads_thread_impl

void TransferBooks::returned(const std::byte* data, std::uint64_t counter, std::uint64_t trip,
                             LoadResult& result) {
  if (data != origin_ && moved_not_copied_) {
    moved_not_copied_ = false;
    result.failures.push_back("round trip " + std::to_string(trip) +
                              " returned another allocation: the buffer was copied");
  }
  sum_ += counter;
}

void TransferBooks::finish(LoadResult& result) const {
  result.check = sum_;
  result.extras = {{"buffer_bytes", std::uint64_t{kTransferBytes}},
                   {"counter", std::string("first 64-bit word")},
                   {"moved_not_copied", moved_not_copied_}};
}

LoadResult run_transfer_thread(const LoadParams& params) {
  const Capacity capacity = *params.capacity;
  LoadResult result =
      capacity.unbounded() || capacity.slots == 0
          ? workloads_thread_impl::run_transfer(
                params, [&] { return open_channel<Buffer>(capacity); })
          : workloads_thread_impl::run_transfer(
                params, [&] { return spsc_channel<Buffer>(capacity.slots); });
  result.extras.push_back(
      {"channel", std::string(capacity.unbounded() || capacity.slots == 0 ? "mpsc" : "spsc")});
  return result;
}

}  // namespace troupe::cli
