// hash_search.cpp — `troupe demo hash-search`: a brute force of a short secret's hash, split
// into tasks on a pool, and the rest of the work cancelled once one task finds it.
//
//   main knows only the hash: FNV-1a(secret), a lowercase word of 5 letters
//   candidates aaaaa … zzzzz, split by all but their last 3 letters:
//     task "aa" ─ aaaaa … aazzz,  task "ab" ─ abaaa … abzzz,  …  676 tasks of 17,576 each
//   main ──submit_batch(676 tasks)──▶ one queue entry; the workers claim its tasks a chunk at
//          a time (a share of what is left) and hash each candidate of a task's prefix,
//          looking at the batch's stop token every 1,024
//   the finder ──found channel──▶ main: batch.cancel()
//        tasks not yet claimed:  they never run; each settles with Error(cancelled)
//        tasks claimed:          they see the stop token and return early (at once, if they
//                                had not begun)
//        tasks finished:         nothing changes
//
// What to notice:
//  * one submission for the whole search: main is free at once to wait for the answer, and a
//    worker claims tasks a chunk at a time instead of one queue entry each;
//  * a task not yet claimed costs nothing to cancel, but a claimed one is only *asked* to
//    stop — the pool never interrupts a thread — so tasks that look at their stop token often
//    stop the search fast;
//  * cancel() returns how many tasks it kept from running; settle() still gives every task's
//    outcome (a value, or Error(cancelled)), and completed + cancelled adds up to submitted;
//  * the answer reaches main a little late — main shares the cores with the workers, and waits
//    for the scheduler to run it — and the tasks claimed meanwhile run on; still, most of
//    the candidates are never hashed.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "demos/demos.hpp"
#include "demos/support.hpp"
#include "troupe/actors/pool.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/channels/error.hpp"

namespace troupe::demos {
namespace hash_search_impl {
namespace {

constexpr std::size_t kSuffix = 3;  // letters each task enumerates: 26^3 candidates
constexpr std::uint64_t kCheckEvery = 1024;

std::uint64_t fnv1a(const std::string& text) {
  std::uint64_t hash = 14695981039346656037ULL;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return hash;
}

std::uint64_t power_of_26(std::size_t exponent) {
  std::uint64_t result = 1;
  for (std::size_t i = 0; i < exponent; ++i) result *= 26;
  return result;
}

// The `length`-letter prefix number `index` in a..z order ("aa", "ab", …).
std::string prefix_of(std::uint64_t index, std::size_t length) {
  std::string prefix(length, 'a');
  for (std::size_t at = length; at > 0; --at, index /= 26) {
    prefix[at - 1] = static_cast<char>('a' + index % 26);
  }
  return prefix;
}

// Whether `error` is Error(cancelled): a task that never ran.
bool is_cancelled(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    return e.code() == ErrorCode::cancelled;
  } catch (...) {
    return false;
  }
}

// What one task did.
struct Searched {
  std::uint64_t hashed = 0;  // candidates it hashed
  bool stopped = false;      // it saw its stop token and returned early
  std::string found;         // the candidate whose hash matched, if any
};

// Hashes every candidate `prefix` + kSuffix letters, until the match or a stop request.
Searched search(const std::string& prefix, std::uint64_t target, const std::stop_token& stop,
                Sender<std::string>& found) {
  Searched result;
  std::string candidate = prefix + std::string(kSuffix, 'a');
  for (;;) {
    if (result.hashed % kCheckEvery == 0 && stop.stop_requested()) {
      result.stopped = true;
      return result;
    }
    ++result.hashed;
    if (fnv1a(candidate) == target) {
      result.found = candidate;
      (void)found.try_send(candidate);  // unbounded: never Full; Closed only if main left
      return result;
    }
    // The next candidate: an odometer over the suffix, 'z' rolling over to 'a'.
    std::size_t at = candidate.size();
    while (at > prefix.size() && candidate[at - 1] == 'z') candidate[--at] = 'a';
    if (at == prefix.size()) return result;  // every suffix done
    ++candidate[at - 1];
  }
}

// One task of the batch: the candidates that start with `prefix`. A named type, as a batch is
// a std::vector of one callable type.
struct SearchTask {
  std::string prefix;
  std::uint64_t target;
  Sender<std::string> found;
  Searched operator()(const std::stop_token& stop) { return search(prefix, target, stop, found); }
};

int run(const DemoOptions& /*options: one size*/, std::ostream& out) {
  // One size: the whole search is a few tens of milliseconds at most, and a smaller space
  // would be searched through before main, which shares the cores with the workers, could
  // cancel anything.
  const std::string secret = "actor";
  const std::uint64_t target = fnv1a(secret);
  const std::size_t prefix_length = secret.size() - kSuffix;
  const std::uint64_t tasks = power_of_26(prefix_length);
  const std::uint64_t per_task = power_of_26(kSuffix);
  const std::size_t workers = RuntimeOptions::default_threads();
  Outcome outcome(out);
  Pool pool(fixed_pool("search", workers));
  pool.wait_ready();
  out << "the secret: " << secret.size() << " lowercase letters whose FNV-1a hash is 0x" << std::hex
      << target << std::dec << '\n'
      << tasks << " tasks of " << per_task << " candidates each (" << tasks * per_task
      << " in all), on " << workers << " workers\n";

  auto [found_tx, found_rx] = unbounded_channel<std::string>();
  std::vector<SearchTask> searches;
  searches.reserve(tasks);
  for (std::uint64_t i = 0; i < tasks; ++i) {
    searches.push_back(SearchTask{prefix_of(i, prefix_length), target, found_tx});
  }
  const Clock::time_point start = Clock::now();
  // The queue is unbounded: the batch is never refused.
  PoolBatch<Searched> batch = pool.submit_batch(std::move(searches)).value();
  const auto found = found_rx.recv_for(kPatience);
  const Clock::duration found_after = Clock::now() - start;
  const std::size_t kept_from_running = batch.cancel();
  if (found) {
    out << "found \"" << *found << "\" after " << format_duration(found_after)
        << "; batch.cancel() kept " << kept_from_running << " tasks from running\n";
  } else {
    out << "nothing found within " << kPatience.count() << " s; batch.cancel() kept "
        << kept_from_running << " tasks from running\n";
  }

  std::size_t completed = 0;
  std::size_t stopped = 0;
  std::size_t cancelled = 0;
  std::uint64_t hashed = 0;
  for (const Settled<Searched>& task : batch.settle()) {
    if (task.ok()) {
      ++completed;
      stopped += task.value->stopped ? 1 : 0;
      hashed += task.value->hashed;
    } else {
      cancelled += is_cancelled(task.error) ? 1 : 0;
    }
  }
  pool.wait_idle();  // the books are final once nothing runs
  const PoolStats stats = pool.stats();
  out << "  " << cancelled << " cancelled before they ran (Error(cancelled)), " << stopped
      << " stopped early by the stop token, " << completed - stopped
      << " searched all their candidates\n"
      << "  " << completed << " completed + " << cancelled
      << " cancelled = " << completed + cancelled << " of " << tasks << " submitted\n"
      << "  hashed " << hashed << " of " << tasks * per_task << " candidates in "
      << format_since(start) << '\n';

  outcome.expect(found && *found == secret, "the secret was found");
  outcome.expect(completed + cancelled == tasks, "completed + cancelled = submitted");
  outcome.expect(cancelled == kept_from_running && stats.cancelled == cancelled &&
                     stats.completed == completed,
                 "the tasks cancel() kept from running never ran (the pool's stats agree)");
  pool.close();
  return outcome.finish();
}

}  // namespace
}  // namespace hash_search_impl

int run_hash_search(const DemoOptions& options, std::ostream& out) {
  return hash_search_impl::run(options, out);
}

}  // namespace troupe::demos
