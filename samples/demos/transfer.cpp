// transfer.cpp — `troupe demo transfer`: moving bytes to another actor without copying them
// (Node's transferList), against an explicit copy (structured clone).
//
//   1. clone:  main: big ──clone()──▶ copy (a new 100 MiB allocation) ──ask──▶ worker
//              main still has `big`
//   2. move:   main: big ──std::move──▶ ask(Inspect{big}) ──▶ worker: the same bytes, same address
//              main's `big` is now detached: size 0, data() null, any access throws
//   3. audio:  main: 1 s of samples ──▶ worker normalises the peak to 1.0 ──▶ back to main
//              out and back again without a copy: the address main gets is the one it sent
//
// What to notice:
//  * a moved Buffer is a pointer hand-over: the time does not grow with the size, while a
//    clone pays for copying every byte (and for the second allocation);
//  * after the move the source is detached, like a transferred ArrayBuffer: size() is 0,
//    data() is null, and bytes() throws Error(detached) instead of touching freed memory;
//  * a Buffer travels in a message and back in a reply the same way: the worker owns the
//    samples while it normalises them (one owner at a time, no lock), then hands them back.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <span>

#include "demos/demos.hpp"
#include "demos/support.hpp"
#include "troupe/actors/actor.hpp"
#include "troupe/channels/buffer.hpp"
#include "troupe/runtime/runtime.hpp"

namespace troupe::demos {
namespace transfer_impl {
namespace {

// What the worker saw of a Buffer: when it arrived, where its bytes are, and its first and
// last byte.
struct Seen {
  Clock::time_point arrived;
  std::uintptr_t address = 0;
  std::size_t size = 0;
  std::uint8_t first = 0;
  std::uint8_t last = 0;
};
struct Inspect {
  Buffer data;
};
struct Normalise {
  Buffer samples;  // floats
};

class Worker {
 public:
  Seen handle(Inspect inspect) const {
    const Clock::time_point arrived = Clock::now();
    // Taken out of the message so that it is freed before the reply goes: the next message
    // does not wait behind the release of 100 MiB.
    const Buffer data = std::move(inspect.data);
    const std::span<const std::uint8_t> bytes = data.as<std::uint8_t>();
    return {arrived, reinterpret_cast<std::uintptr_t>(data.data()), bytes.size(), bytes.front(),
            bytes.back()};
  }
  // Scales the samples so that the loudest is at ±1.0, in place, and hands them back.
  Buffer handle(Normalise normalise) const {
    const std::span<float> samples = normalise.samples.as<float>();
    float peak = 0;
    for (const float s : samples) peak = std::max(peak, std::abs(s));
    if (peak > 0) {
      for (float& s : samples) s /= peak;
    }
    return std::move(normalise.samples);
  }
};

std::uintptr_t address_of(const Buffer& buffer) {
  return reinterpret_cast<std::uintptr_t>(buffer.data());
}

float peak_of(const Buffer& samples) {
  float peak = 0;
  for (const float s : samples.as<float>()) peak = std::max(peak, std::abs(s));
  return peak;
}

// Sends `buffer` to the worker (moved: a transfer) and prints what it saw, and how long after
// `start` the Buffer reached its handler.
AskResult<Seen> send_to_worker(ActorRef<Worker>& worker, Buffer buffer, Clock::time_point start,
                               std::ostream& out) {
  AskResult<Seen> seen = worker.blocking_ask(Inspect{std::move(buffer)}, kPatience);
  if (seen) {
    out << "  the worker had " << format_bytes(seen->size) << " at 0x" << std::hex
        << seen->address << std::dec << ", " << format_duration(seen->arrived - start)
        << " after main started\n";
  }
  return seen;
}

void big_buffer(ActorRef<Worker>& worker, std::size_t size, Outcome& outcome, std::ostream& out) {
  Buffer big(size);
  std::ranges::fill(big.as<std::uint8_t>(), std::uint8_t{0x5a});  // every page really there
  big.as<std::uint8_t>().front() = 1;
  big.as<std::uint8_t>().back() = 2;
  const std::uintptr_t address = address_of(big);
  out << "a Buffer of " << format_bytes(size) << " at 0x" << std::hex << address << std::dec
      << '\n';

  out << "1. clone it and send the copy: another allocation, every byte copied\n";
  const AskResult<Seen> cloned = send_to_worker(worker, big.clone(), Clock::now(), out);
  out << "  main still holds " << format_bytes(big.size()) << '\n';
  outcome.expect(cloned && cloned->address != address && cloned->size == size &&
                     cloned->first == 1 && cloned->last == 2 && !big.detached(),
                 "the clone is a new allocation with the same bytes; the source is intact");

  out << "2. move it (transfer): the same address, no byte copied\n";
  const AskResult<Seen> moved = send_to_worker(worker, std::move(big), Clock::now(), out);
  out << "  main's Buffer now: detached " << (big.detached() ? "yes" : "no")
      << ", size " << big.size() << ", data " << (big.data() == nullptr ? "null" : "not null")
      << '\n';
  std::string access = "no error";
  try {
    (void)big.bytes();  // NOLINT(bugprone-use-after-move): showing what a detached Buffer does
  } catch (const Error& error) {
    access = "throws Error(" + std::string(to_string(error.code())) + "): " + error.what();
  }
  out << "  big.bytes() " << access << '\n';
  outcome.expect(moved && moved->address == address && moved->size == size,
                 "the moved data pointer is the one main had: a transfer, not a copy");
  outcome.expect(big.detached() && big.size() == 0 && big.data() == nullptr,
                 "the source is detached after the move");
}

void normalise_audio(ActorRef<Worker>& worker, Outcome& outcome, std::ostream& out) {
  constexpr std::size_t kRate = 48'000;  // one second of mono audio
  constexpr float kAmplitude = 0.25F;
  Buffer samples(kRate * sizeof(float));
  const std::span<float> wave = samples.as<float>();
  for (std::size_t i = 0; i < wave.size(); ++i) {
    wave[i] = kAmplitude * static_cast<float>(std::sin(2 * std::numbers::pi * 440.0 *
                                                       static_cast<double>(i) / kRate));
  }
  const std::uintptr_t address = address_of(samples);
  out << "3. audio: " << kRate << " samples (a 440 Hz tone), peak " << peak_of(samples)
      << ", sent to the worker to normalise\n";
  AskResult<Buffer> back = worker.blocking_ask(Normalise{std::move(samples)}, kPatience);
  if (!back) {
    outcome.expect(false, "the worker normalised the samples");
    return;
  }
  const float peak = peak_of(*back);
  out << "  back in main: peak " << peak << ", at the address main sent: "
      << (address_of(*back) == address ? "yes" : "no") << '\n';
  outcome.expect(std::abs(peak - 1.0F) < 1e-6F, "the normalised peak is 1.0");
  outcome.expect(address_of(*back) == address && samples.detached(),
                 "the samples went out and came back without a copy");
}

int run(const DemoOptions& options, std::ostream& out) {
  const std::size_t mib = options.quick ? 8 : 100;
  const std::size_t size = mib << 20;
  Outcome outcome(out);
  Runtime runtime;
  ActorOptions worker_options;
  worker_options.name = "worker";
  ActorRef<Worker> worker = spawn_actor<Worker>(runtime, std::move(worker_options));
  big_buffer(worker, size, outcome, out);
  normalise_audio(worker, outcome, out);
  return outcome.finish();
}

}  // namespace
}  // namespace transfer_impl

int run_transfer(const DemoOptions& options, std::ostream& out) {
  return transfer_impl::run(options, out);
}

}  // namespace troupe::demos
