// backpressure.cpp — `troupe demo backpressure`: a fast producer and a slow consumer, with a
// bounded mailbox and then an unbounded one. Where does the difference in speed go?
//
//   main (producer) ──blocking_send(Chunk: 64 KiB)──▶ [ mailbox ] ──▶ writer (1 ms a chunk)
//
//   bounded, capacity 16:  the mailbox fills, then every send waits for a free slot: the
//                          producer runs at the writer's pace, at most 16 chunks queued
//   unbounded:             no send ever waits: the producer is done at once and the
//                          difference piles up in the queue: nearly every chunk, in memory
//
// What to notice:
//  * with a bound, the queue depth never passes the capacity and the memory held is capped
//    (capacity x chunk size); the producer's time stretches to the consumer's: that is
//    backpressure, the slow side setting the pace;
//  * without one, the producer "finishes" early but only moved the backlog into memory: the
//    peak depth (and bytes queued) grows with the number of chunks, not with any limit;
//  * either way every chunk is written: backpressure loses nothing, it only makes senders wait
//    (tell, which never waits, would hand the chunk back as Full instead).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>

#include "demos/demos.hpp"
#include "demos/support.hpp"
#include "troupe/actors/actor.hpp"
#include "troupe/channels/buffer.hpp"
#include "troupe/runtime/runtime.hpp"

namespace troupe::demos {
namespace backpressure_impl {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kChunkBytes = 64 * 1024;
constexpr std::size_t kCapacity = 16;
constexpr auto kWriteTime = 1ms;

struct Chunk {
  Buffer data;
};
struct Totals {
  std::uint64_t chunks = 0;
  std::uint64_t bytes = 0;
};
struct GetTotals {};

// The slow consumer: a "disk" that takes kWriteTime per chunk.
class Writer {
 public:
  void handle(Chunk chunk) {
    std::this_thread::sleep_for(kWriteTime);  // the slowness this demo is about
    ++totals_.chunks;
    totals_.bytes += chunk.data.size();
  }
  Totals handle(GetTotals) const { return totals_; }

 private:
  Totals totals_;
};

struct RunResult {
  std::size_t peak_depth = 0;
  Totals written;
};

// Sends `chunks` chunks as fast as the mailbox takes them, sampling its depth after each send.
// mailbox_capacity 0 is unbounded.
RunResult produce(Runtime& runtime, std::size_t mailbox_capacity, std::size_t chunks,
                  std::ostream& out) {
  ActorOptions writer_options;
  writer_options.name = "writer";
  writer_options.mailbox_capacity = mailbox_capacity;
  writer_options.dedicated_thread = true;  // its handler sleeps: a thread of its own
  ActorRef<Writer> writer = spawn_actor<Writer>(runtime, std::move(writer_options));

  RunResult result;
  const Clock::time_point start = Clock::now();
  std::size_t sent = 0;
  for (; sent < chunks; ++sent) {
    Buffer data(kChunkBytes);
    std::ranges::fill(data.as<std::uint8_t>(), static_cast<std::uint8_t>(sent));
    // Under the default policy (backpressure) this waits while the mailbox is full.
    if (!writer.blocking_send(Chunk{std::move(data)})) break;
    result.peak_depth = std::max(result.peak_depth, writer.stats().mailbox_depth);
  }
  out << "  producer: " << sent << " chunks sent in " << format_since(start) << '\n';
  out << "  peak queue depth: " << result.peak_depth << " messages";
  if (mailbox_capacity != 0) out << " (capacity " << mailbox_capacity << ")";
  out << ", " << format_bytes(result.peak_depth * kChunkBytes) << " queued at most\n";

  // The ask queues behind every chunk: its reply says they were all written.
  const AskResult<Totals> totals = writer.blocking_ask(GetTotals{}, 60s);
  if (totals) {
    result.written = *totals;
    out << "  writer: " << totals->chunks << " chunks (" << format_bytes(totals->bytes)
        << ") written after " << format_since(start) << '\n';
  }
  return result;
}

int run(const DemoOptions& options, std::ostream& out) {
  const std::size_t chunks = options.quick ? 60 : 400;
  Outcome outcome(out);
  Runtime runtime;
  out << "a producer sends " << chunks << " chunks of " << format_bytes(kChunkBytes)
      << " to a writer that needs " << kWriteTime.count() << " ms for each\n";

  out << "bounded mailbox:\n";
  const RunResult bounded = produce(runtime, kCapacity, chunks, out);
  out << "unbounded mailbox:\n";
  const RunResult unbounded = produce(runtime, 0, chunks, out);

  outcome.expect(bounded.peak_depth <= kCapacity,
                 "bounded: the queue never held more than its capacity");
  outcome.expect(bounded.written.chunks == chunks && unbounded.written.chunks == chunks,
                 "both runs wrote every chunk: nothing was lost");
  return outcome.finish();
}

}  // namespace
}  // namespace backpressure_impl

int run_backpressure(const DemoOptions& options, std::ostream& out) {
  return backpressure_impl::run(options, out);
}

}  // namespace troupe::demos
