// jobs.cpp — `troupe demo jobs`: a background job system. Jobs run on a pool; one that fails
// for a passing reason is retried later, each wait longer than the last; one that keeps
// failing, or fails for good, goes to the dead letters for a person to look at.
//
//   main (the dispatcher)                         pool: 3 workers
//   ─────────────────────                         ───────────────
//   submit(attempt 1 of every job) ─────────────▶ run the job; report to `done`, then
//                                                 return its value or rethrow its error
//   done ◀── Finished{job, attempt, ok | error}
//     ok                       → the job is done
//     TransientError, attempts left
//                              → retry after backoff: 2, 4, 8 … × the base, plus jitter;
//                                the retry waits in main's timer queue, not on a worker
//     TransientError, no attempts left, or PermanentError
//                              → dead letter: the job, its last error, how many attempts
//
// The jobs' "outside world" is simulated, and fails on purpose: some jobs meet a server that
// is down for their first one or two attempts, some one that never comes back, and some carry
// bad input, which no retry can fix.
//
// What to notice:
//  * a failure costs a worker nothing while it waits to be retried: the backoff lives in the
//    dispatcher's queue of timers, and the workers run other jobs meanwhile;
//  * transient and permanent errors are different exception types: only the first kind is
//    retried, so bad input is dead-lettered after one attempt instead of four;
//  * the books balance: every job ends exactly once, done or dead, after exactly the attempts
//    its failures call for, and the pool's counters agree (completed = attempts that
//    succeeded, failed = attempts that threw);
//  * the dead letters keep what is needed to act on them: the job, the error, the attempts.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <ostream>
#include <queue>
#include <stdexcept>
#include <string>
#include <vector>

#include "demos/demos.hpp"
#include "demos/support.hpp"
#include "troupe/actors/pool.hpp"
#include "troupe/channels/channel.hpp"

namespace troupe::demos {
namespace jobs_impl {
namespace {

constexpr int kMaxAttempts = 4;
constexpr std::size_t kShown = 12;  // jobs whose every event is printed

// A failure worth retrying (a timeout, a server restarting), and one that is not (bad input).
class TransientError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class PermanentError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Job {
  std::uint64_t id = 0;
  std::string kind;        // "email", "thumbnail", "invoice"
  int outage = 0;          // attempts that meet a server that is down (99: it stays down)
  bool bad_input = false;  // fails every attempt with PermanentError
};

Job make_job(std::uint64_t id) {
  static const char* const kKinds[] = {"email", "thumbnail", "invoice"};
  Job job{id, kKinds[id % 3], 0, false};
  if (id % 10 == 3) {
    job.bad_input = true;
  } else if (id % 10 == 7) {
    job.outage = 99;
  } else if (id % 3 == 1) {
    job.outage = 1;
  } else if (id % 5 == 2) {
    job.outage = 2;
  }
  return job;
}

// What the job computes when it succeeds: a checksum over its payload (some real work).
std::uint64_t job_value(const Job& job) {
  std::uint64_t hash = 14695981039346656037ULL ^ job.id;
  for (int round = 0; round < 20'000; ++round) {
    hash ^= static_cast<std::uint64_t>(round) + job.kind.size();
    hash *= 1099511628211ULL;
  }
  return hash;
}

// One attempt of a job, on a worker.
std::uint64_t perform(const Job& job, int attempt) {
  if (job.bad_input) throw PermanentError("invalid input: no customer " + std::to_string(job.id));
  if (attempt <= job.outage) throw TransientError("upstream unavailable (connection timed out)");
  return job_value(job);
}

struct Finished {
  std::uint64_t job = 0;
  int attempt = 0;
  bool ok = false;
  bool retryable = false;
  std::string error;
  std::uint64_t value = 0;
};

// A pool task: runs the attempt, reports it to the dispatcher, and returns or rethrows so that
// the pool's books count it too.
struct Attempt {
  Job job;
  int number = 1;
  Sender<Finished> done;

  std::uint64_t operator()() {
    Finished finished{job.id, number, false, false, {}, 0};
    try {
      finished.value = perform(job, number);
      finished.ok = true;
    } catch (const TransientError& error) {
      finished.retryable = true;
      finished.error = error.what();
    } catch (const std::exception& error) {
      finished.error = error.what();
    }
    const bool ok = finished.ok;
    const std::uint64_t value = finished.value;
    const std::string error = finished.error;
    (void)done.try_send(std::move(finished));  // unbounded: never Full
    if (!ok) throw std::runtime_error(error);
    return value;
  }
};

// A job's record in the dispatcher.
struct Record {
  int attempts = 0;
  bool done = false;
  bool dead = false;
  std::uint64_t value = 0;
  std::string last_error;
};

struct Retry {
  Clock::time_point due;
  std::uint64_t job = 0;
  int attempt = 0;
  bool operator>(const Retry& other) const { return due > other.due; }
};

// The attempts a job needs before it ends, and whether it ends dead.
int expected_attempts(const Job& job) {
  if (job.bad_input) return 1;
  return std::min(job.outage + 1, kMaxAttempts);
}
bool expected_dead(const Job& job) { return job.bad_input || job.outage >= kMaxAttempts; }

int run(const DemoOptions& options, std::ostream& out) {
  const std::size_t count = options.quick ? 30 : 60;
  const std::chrono::milliseconds base(options.quick ? 2 : 10);
  Outcome outcome(out);
  Pool pool(fixed_pool("jobs", 3));
  auto [done_tx, done] = unbounded_channel<Finished>();
  std::vector<Job> jobs;
  for (std::uint64_t id = 0; id < count; ++id) jobs.push_back(make_job(id));
  std::vector<Record> records(count);
  std::vector<std::string> dead_letters;
  std::uint64_t attempts = 0;
  std::uint64_t failed_attempts = 0;

  const auto submit = [&](std::uint64_t id, int number) {
    ++attempts;
    ++records[id].attempts;
    // The queue is unbounded: never refused. The outcome comes through `done`.
    (void)pool.submit(Attempt{jobs[id], number, done_tx}).value();
  };
  out << count << " jobs on a pool of 3 workers; at most " << kMaxAttempts
      << " attempts each, backoff " << base.count() << " ms x 2^(attempt-1) + jitter\n";
  const Clock::time_point start = Clock::now();
  for (std::uint64_t id = 0; id < count; ++id) submit(id, 1);

  std::priority_queue<Retry, std::vector<Retry>, std::greater<>> retries;
  std::size_t open = count;
  bool stalled = false;
  while (open > 0 && !stalled) {
    while (!retries.empty() && retries.top().due <= Clock::now()) {
      submit(retries.top().job, retries.top().attempt);
      retries.pop();
    }
    const auto until = retries.empty() ? Clock::now() + kPatience : retries.top().due;
    auto finished = done.recv_until(until);
    if (!finished) {
      stalled = retries.empty();  // nothing to retry and nothing came: a lost report
      continue;
    }
    Record& record = records[finished->job];
    const Job& job = jobs[finished->job];
    const bool shown = finished->job < kShown;
    if (finished->ok) {
      record.done = true;
      record.value = finished->value;
      --open;
      if (shown && finished->attempt > 1) {
        out << "  job " << job.id << " (" << job.kind << "): attempt " << finished->attempt
            << " ok\n";
      }
      continue;
    }
    ++failed_attempts;
    record.last_error = finished->error;
    if (finished->retryable && finished->attempt < kMaxAttempts) {
      const auto backoff = base * (1 << (finished->attempt - 1)) +
                           std::chrono::microseconds((job.id * 337) % 1000);
      retries.push(Retry{Clock::now() + backoff, job.id, finished->attempt + 1});
      if (shown) {
        out << "  job " << job.id << " (" << job.kind << "): attempt " << finished->attempt
            << " failed: " << finished->error << "; retry in " << format_duration(backoff)
            << '\n';
      }
      continue;
    }
    record.dead = true;
    --open;
    dead_letters.push_back("job " + std::to_string(job.id) + " (" + job.kind + "): " +
                           finished->error + ", after " + std::to_string(finished->attempt) +
                           (finished->attempt == 1 ? " attempt" : " attempts"));
    if (shown) {
      out << "  job " << job.id << " (" << job.kind << "): attempt " << finished->attempt
          << " failed: " << finished->error
          << (finished->retryable ? "; no attempts left" : "; not retryable")
          << " -> dead letter\n";
    }
  }
  out << "  (the events of jobs " << kShown << " to " << count - 1 << " are not shown)\n";

  std::size_t succeeded = 0;
  bool attempts_as_expected = true;
  bool values_right = true;
  for (const Job& job : jobs) {
    const Record& record = records[job.id];
    succeeded += record.done ? 1 : 0;
    attempts_as_expected = attempts_as_expected && record.attempts == expected_attempts(job) &&
                           record.dead == expected_dead(job) && record.done != record.dead;
    values_right = values_right && (!record.done || record.value == job_value(job));
  }
  out << "all settled in " << format_since(start) << ": " << succeeded << " done, "
      << dead_letters.size() << " dead, " << attempts << " attempts (" << failed_attempts
      << " failed)\n"
      << "dead letters:\n";
  for (const std::string& letter : dead_letters) out << "  " << letter << '\n';
  pool.wait_idle();
  const PoolStats stats = pool.stats();
  out << "pool: submitted " << stats.submitted << ", completed " << stats.completed
      << ", failed " << stats.failed << '\n';

  outcome.expect(!stalled && succeeded + dead_letters.size() == count,
                 "every job ended once: done or dead");
  outcome.expect(attempts_as_expected,
                 "each job took exactly the attempts its failures call for (bad input: 1, a "
                 "server down for good: " + std::to_string(kMaxAttempts) + ")");
  outcome.expect(values_right, "every job that ended done returned its right value");
  outcome.expect(stats.submitted == attempts && stats.completed == attempts - failed_attempts &&
                     stats.failed == failed_attempts,
                 "the pool's books agree: completed = attempts that succeeded, failed = "
                 "attempts that threw");
  pool.close();
  return outcome.finish();
}

}  // namespace
}  // namespace jobs_impl

int run_jobs(const DemoOptions& options, std::ostream& out) {
  return jobs_impl::run(options, out);
}

}  // namespace troupe::demos
