// demos.cpp — the registry of `troupe demo`, and the Outcome every demo reports with.
#include "demos/demos.hpp"

#include <algorithm>
#include <array>

namespace troupe::demos {
namespace demos_impl {
namespace {

constexpr std::array kDemos{
    Demo{"hello", "spawn an actor with initial data, a message each way, online and exit events",
         run_hello},
    Demo{"cpu-offload",
         "recursive fib in an actor while the main thread's heartbeats stay on time",
         run_cpu_offload},
    Demo{"errors", "an actor that throws at start, one that throws on a message, an ask that "
                   "times out: what the spawner sees",
         run_errors},
    Demo{"pool", "100 tasks on a pool of 4 workers, with its stats: wait/run p50/p99, utilization",
         run_pool},
    Demo{"transfer", "a 100 MiB Buffer moved (zero-copy, source detached) vs cloned; audio "
                     "samples normalised in a worker",
         run_transfer},
    Demo{"message-channel", "two actors talking directly through a transferred port pair",
         run_message_channel},
    Demo{"request-reply", "a typed request/reply protocol: replies, refusals, a timeout, a dead "
                          "actor",
         run_request_reply},
    Demo{"backpressure", "fast producer, slow consumer: a bounded mailbox vs an unbounded one, "
                         "queue depth and memory",
         run_backpressure},
    Demo{"spawn-cost", "start-up cost of 1,000 actors vs 1,000 OS threads vs 1,000 child "
                       "processes, per unit",
         run_spawn_cost},
    Demo{"pool-vs-spawn", "the same small requests served by a pool of warm workers vs a new "
                          "actor per request",
         run_pool_vs_spawn},
    Demo{"shared-counter", "workers adding to a SharedBuffer word: lost updates with a load and "
                           "a store, exact with fetch_add",
         run_shared_counter},
    Demo{"sync", "async Mutex, Semaphore, Barrier and CondVar over shared state; a deadlock "
                 "shown, then avoided by lock order",
         run_sync},
    Demo{"autoscale", "a load spike grows a pool to its max, idleness shrinks it back; a "
                      "high-priority task overtakes the queue",
         run_autoscale},
    Demo{"limits", "an actor past its byte quota fails with resource_exhausted; its "
                   "supervisor restarts it",
         run_limits},
    Demo{"rolling-update", "a pool's workers replaced with new code under traffic: every task "
                           "runs once, the later ones on the new code",
         run_rolling_update},
    Demo{"hash-search", "a parallel brute force of a secret's hash on a pool, the rest "
                        "cancelled once it is found",
         run_hash_search},
    Demo{"health", "heartbeats find a stuck actor, which is replaced; an overloaded one sheds "
                   "load instead of queueing it",
         run_health},
    Demo{"leak", "an actor per request never ended: live actors and memory grow; bounded and "
                 "cleaned up, they stay flat",
         run_leak},
    Demo{"jobs", "a background job system on a pool: retries with backoff, dead letters for "
                 "what keeps failing",
         run_jobs},
    Demo{"data-pipeline", "a log file read as a stream, lines parsed and aggregated by parallel "
                          "pipeline stages",
         run_data_pipeline},
    Demo{"image-pipeline", "resize, grayscale and compress an image band by band in a "
                           "pipeline, written as a PNG",
         run_image_pipeline, true},
    Demo{"mandelbrot", "the Mandelbrot set rendered in tiles on a pool (one batch), written as "
                       "a PNG",
         run_mandelbrot, true},
};

}  // namespace
}  // namespace demos_impl

std::span<const Demo> all_demos() noexcept { return demos_impl::kDemos; }

const Demo* find_demo(std::string_view name) noexcept {
  const auto found = std::find_if(demos_impl::kDemos.begin(), demos_impl::kDemos.end(),
                                  [name](const Demo& d) { return d.name == name; });
  return found == demos_impl::kDemos.end() ? nullptr : &*found;
}

bool Outcome::expect(bool held, std::string_view what) {
  *out_ << (held ? "[ok] " : "[FAILED] ") << what << '\n';
  if (!held) ++failed_;
  return held;
}

int Outcome::finish() {
  if (failed_ == 0) {
    *out_ << "outcome: ok\n";
    return 0;
  }
  *out_ << "outcome: FAILED (" << failed_ << (failed_ == 1 ? " check)\n" : " checks)\n");
  return 1;
}

}  // namespace troupe::demos
