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
#include "workloads.hpp"

namespace troupe::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Where every thread of a run waits until all exist; the measured phase starts as the last one
// arrives. The waiters spin (yielding the core, as there may be more threads than cores) rather
// than park: a parked thread needs tens of microseconds to be woken on this VM, so a parking
// start would begin the measurement with threads that are not running yet, and with channels
// already falling back to parking (a two-thread ping-pong then stays in that slow mode).
class StartLine {
 public:
  explicit StartLine(std::uint32_t threads) : threads_(threads) {}

  void arrive_and_wait() {
    // acq_rel: the last arrival sees everything the others did before arriving.
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == threads_) {
      start_ = Clock::now();
      go_.store(true, std::memory_order_release);  // publishes start_
      return;
    }
    while (!go_.load(std::memory_order_acquire)) std::this_thread::yield();
  }
  // Seconds since the start. Call only after arrive_and_wait().
  [[nodiscard]] double seconds_since_start() const {
    return std::chrono::duration<double>(Clock::now() - start_).count();
  }

 private:
  const std::uint32_t threads_;
  std::atomic<std::uint32_t> arrived_{0};
  std::atomic<bool> go_{false};
  Clock::time_point start_;
};

constexpr std::uint64_t kFaninProducers = 4;
constexpr std::size_t kTransferBytes = std::size_t{100} << 20;  // 100 MiB

}  // namespace

// fanin: each producer owns a Sender clone and sends 1..n/4; the main thread sums until the
// stream ends (every producer finished and dropped its Sender).
LoadResult run_fanin_thread(const LoadParams& params) {
  const auto per_producer = static_cast<std::int64_t>(params.n / kFaninProducers);
  auto channel = open_channel<std::int64_t>(*params.capacity);
  Receiver<std::int64_t>& rx = channel.second;
  StartLine start(kFaninProducers + 1);
  std::vector<std::jthread> producers;
  for (std::uint64_t i = 0; i < kFaninProducers; ++i) {
    producers.emplace_back([&start, per_producer, tx = channel.first.clone()]() mutable {
      start.arrive_and_wait();
      for (std::int64_t value = 1; value <= per_producer; ++value) {
        if (!tx.send(value)) return;  // closed: cannot happen here; the check would catch it
      }
    });
  }
  channel.first = Sender<std::int64_t>();  // only the producers' clones keep the stream open

  start.arrive_and_wait();
  std::uint64_t sum = 0;
  while (const auto value = rx.recv()) sum += static_cast<std::uint64_t>(*value);
  const double seconds = start.seconds_since_start();
  for (std::jthread& producer : producers) producer.join();

  return {.items = params.n,
          .seconds = seconds,
          .check = sum,
          .threads = kFaninProducers + 1,
          .extras = {{"producers", kFaninProducers}, capacity_field(*params.capacity)},
          .failures = {}};
}

// transfer: one Buffer, created (zeroed) before the start, travels to the worker and back n
// times. The worker adds 1 to the counter, the buffer's first 64-bit word; the driver sums the
// counter after each return. Every returned buffer must be the very allocation that was
// created: same data pointer, so it moved and was never copied.
LoadResult run_transfer_thread(const LoadParams& params) {
  Buffer buffer(kTransferBytes);  // before any thread: if this throws, nobody waits at the start
  const std::byte* const origin = buffer.bytes().data();
  auto to_worker = open_channel<Buffer>(*params.capacity);
  auto to_driver = open_channel<Buffer>(*params.capacity);
  StartLine start(2);
  std::jthread worker([&start, rx = std::move(to_worker.second),
                       tx = std::move(to_driver.first)]() mutable {
    start.arrive_and_wait();
    while (auto buffer = rx.recv()) {
      buffer->as<std::uint64_t>()[0] += 1;
      if (!tx.send(std::move(*buffer))) return;
    }
  });
  Sender<Buffer>& tx = to_worker.first;
  Receiver<Buffer>& rx = to_driver.second;
  LoadResult result;
  result.items = params.n;
  result.threads = 2;
  bool moved_not_copied = true;
  std::uint64_t sum = 0;

  start.arrive_and_wait();
  for (std::uint64_t trip = 1; trip <= params.n; ++trip) {
    if (!tx.send(std::move(buffer))) {
      result.failures.push_back("the worker closed its channel before round trip " +
                                std::to_string(trip));
      break;
    }
    auto back = rx.recv();
    if (!back) {
      result.failures.push_back("the worker ended during round trip " + std::to_string(trip));
      break;
    }
    buffer = std::move(*back);
    if (buffer.bytes().data() != origin && moved_not_copied) {
      moved_not_copied = false;
      result.failures.push_back("round trip " + std::to_string(trip) +
                                " returned another allocation: the buffer was copied");
    }
    sum += buffer.as<std::uint64_t>()[0];
  }
  result.seconds = start.seconds_since_start();
  tx.close();  // the worker sees the end of its stream and returns
  worker.join();

  result.check = sum;
  result.extras = {{"buffer_bytes", std::uint64_t{kTransferBytes}},
                   {"counter", std::string("first 64-bit word")},
                   {"moved_not_copied", moved_not_copied},
                   capacity_field(*params.capacity)};
  return result;
}

}  // namespace troupe::cli
