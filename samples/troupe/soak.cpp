// soak.cpp — `troupe load soak` (see soak.hpp): the four parts of a round, the books they keep,
// the balance check, validation and the sheet.
#include "soak.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "report.hpp"
#include "thread_count.hpp"
#include "troupe/actors/actor.hpp"
#include "troupe/actors/pool.hpp"
#include "troupe/actors/supervisor.hpp"
#include "troupe/channels/buffer.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/runtime/runtime.hpp"

namespace troupe::cli {
namespace soak_impl {

using Counter = std::atomic<std::uint64_t>;

// The counters every part of a run adds to (summed over the rounds). Atomic: the parts, the
// actors' handlers and the pool's tasks all count at once.
struct Books {
  Counter sent{0}, delivered{0}, returned{0}, returned_closed{0};
  Counter dead_letters{0}, received{0}, rejected{0}, restarts{0};
  Counter handler_throws{0}, terminations{0}, stalls{0}, pool_closes{0}, pool_forced_closes{0};
  Counter buffer_transfers{0};
  Counter parcels_launched{0}, parcels_back{0}, parcels_dead{0}, parcels_corrupt{0};
  Counter futures_submitted{0}, futures_value{0}, futures_error{0}, futures_cancelled{0};
  Counter futures_other{0}, submissions_refused{0};
  Counter pool_submitted{0}, pool_completed{0}, pool_failed{0}, pool_cancelled{0};
  Counter pool_timed_out{0}, pool_deadline_exceeded{0}, pool_rejected{0};
  Counter buffers_created{0}, buffers_freed{0};
};

// How actors reach the books: a pointer to atomics that outlive every actor of the run (the
// run joins its rounds before the Books go). Opted in as Sendable on that promise.
struct BooksRef {
  Books* books = nullptr;
  Books* operator->() const noexcept { return books; }
};

// A Buffer in a wrapper that counts it: created when the wrapper allocates, freed when the
// wrapper that owns it (not a moved-from one) is destroyed or assigned over. The library has
// no counter of live Buffers; this is the soak's.
class TrackedBuffer {
 public:
  TrackedBuffer(std::size_t size, BooksRef books) : buffer_(size), books_(books.books) {
    books_->buffers_created.fetch_add(1, std::memory_order_relaxed);
  }
  TrackedBuffer(TrackedBuffer&& other) noexcept
      : buffer_(std::move(other.buffer_)), books_(std::exchange(other.books_, nullptr)) {}
  TrackedBuffer& operator=(TrackedBuffer&& other) noexcept {
    if (this != &other) {
      release();
      buffer_ = std::move(other.buffer_);
      books_ = std::exchange(other.books_, nullptr);
    }
    return *this;
  }
  TrackedBuffer(const TrackedBuffer&) = delete;
  TrackedBuffer& operator=(const TrackedBuffer&) = delete;
  ~TrackedBuffer() { release(); }

  [[nodiscard]] Buffer& buffer() noexcept { return buffer_; }

 private:
  void release() noexcept {
    if (books_ != nullptr) books_->buffers_freed.fetch_add(1, std::memory_order_relaxed);
    books_ = nullptr;
    buffer_ = Buffer();
  }
  Buffer buffer_;
  Books* books_ = nullptr;  // null once moved from or released
};

// A message of the flaky and stall parts: `roll` (0..999, seeded) decides its fault.
struct Job {
  std::uint32_t roll = 0;
};

// A Buffer on its way through the chain: its bytes are all `id % 256`, `size` of them.
struct Parcel {
  std::uint64_t id = 0;
  std::size_t size = 0;
  TrackedBuffer payload;
};

}  // namespace soak_impl
}  // namespace troupe::cli

template <>
inline constexpr bool troupe::enable_sendable<troupe::cli::soak_impl::BooksRef> = true;
template <>
inline constexpr bool troupe::enable_sendable<troupe::cli::soak_impl::TrackedBuffer> = true;

namespace troupe::cli {
namespace soak_impl {

// The shape of a round. Its counts grow with the size (--size; below), the rest is fixed: a
// round is replayed exactly by its seed and size, up to thread interleaving. The rounds go on
// until --duration has passed.
constexpr std::size_t kFlakyActors = 3;
constexpr std::size_t kFlakyProducers = 2;
constexpr std::uint32_t kThrowPerMille = 20;
constexpr std::size_t kFlakyMailbox = 64;
constexpr std::uint32_t kStallPerMille = 60;
constexpr std::size_t kStallMailbox = 8;
constexpr std::uint32_t kPoolThrowPerMille = 100;
constexpr std::size_t kPoolQueue = 32;
constexpr std::size_t kRelays = 4;
constexpr std::uint32_t kParcelWindow = 16;         // in flight at once, until the fault
constexpr std::size_t kParcelBytes = 4096;          // at most, plus 64
constexpr auto kRoundTimeout = std::chrono::seconds(120);
constexpr double kMaxDuration = 24 * 3600;

// Per unit of size: at kSoakDefaultSize (100) a round has the counts it had before --size
// existed. At size 1 every fault still has a position to fall on (the halves and thirds below
// are at least 1): 15 messages per flaky producer, 4 stall messages, 4 pool tasks, 3 parcels.
constexpr std::uint32_t kFlakyMessagesPerSize = 15;  // per producer
constexpr std::uint32_t kStallMessagesPerSize = 4;
constexpr std::uint32_t kPoolTasksPerSize = 4;
constexpr std::uint32_t kParcelsPerSize = 3;
// A parcel's id is (round << 20) + its index in the round.
constexpr unsigned kParcelIdBits = 20;
static_assert(kParcelsPerSize * kSoakMaxSize < (std::uint64_t{1} << kParcelIdBits));

// One round of a run: its place, and its counts (from the run's size).
struct Round {
  std::uint64_t seed = 0;
  std::uint64_t index = 0;
  std::uint32_t flaky_messages = 0;  // per producer
  std::uint32_t stall_messages = 0;
  std::uint32_t pool_tasks = 0;
  std::uint32_t parcels = 0;
};

Round round_of(std::uint64_t seed, std::uint64_t index, std::uint64_t size) {
  const auto n = static_cast<std::uint32_t>(size);  // <= kSoakMaxSize (plan_soak)
  return {.seed = seed,
          .index = index,
          .flaky_messages = kFlakyMessagesPerSize * n,
          .stall_messages = kStallMessagesPerSize * n,
          .pool_tasks = kPoolTasksPerSize * n,
          .parcels = kParcelsPerSize * n};
}

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30U)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27U)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31U);
}

// The generator of one part of one round.
std::mt19937_64 rng_for(const Round& round, std::uint64_t part) {
  return std::mt19937_64(splitmix64(splitmix64(round.seed ^ splitmix64(round.index)) + part));
}

std::uint32_t roll(std::mt19937_64& rng) { return static_cast<std::uint32_t>(rng() % 1000); }

void add(Counter& counter, std::uint64_t by = 1) {
  counter.fetch_add(by, std::memory_order_relaxed);
}

ActorOptions actor_options(std::string name, std::size_t mailbox, bool dedicated = false) {
  ActorOptions options;
  options.name = std::move(name);
  options.mailbox_capacity = mailbox;
  options.dedicated_thread = dedicated;
  return options;
}

// Adds an actor's counters, read once it has exited, to the books.
template <class A>
void book_exited(Books& books, const ActorRef<A>& ref) {
  const ActorStats stats = ref.stats();
  add(books.dead_letters, stats.dead_letters);
  add(books.received, stats.received);
  add(books.rejected, stats.rejected);
  add(books.restarts, stats.restarts);
}

// Books one tell: sent, and if it came back, returned (Full) or a Closed return (the library
// books those as dead letters).
template <class R>
void book_tell(Books& books, const R& told) {
  add(books.sent);
  if (told) return;
  if (told.error().is_full()) {
    add(books.returned);
  } else {
    add(books.returned_closed);
  }
}

// ---- flaky: throwing handlers under a supervisor, one actor terminated mid-stream -----------

class Flaky {
 public:
  explicit Flaky(BooksRef books) : books_(books) {}
  void handle(Job job) {
    add(books_->delivered);
    if (job.roll < kThrowPerMille) {
      add(books_->handler_throws);
      throw std::runtime_error("soak: injected handler failure");
    }
  }

 private:
  BooksRef books_;
};

void run_flaky(Runtime& runtime, Books& books, const Round& round) {
  SupervisorOptions options;
  options.name = "soak-flaky";
  options.max_restarts = 1'000'000'000;  // restarts are the point: never escalate
  options.within = std::chrono::milliseconds(1);
  Supervisor supervisor(runtime, options);
  std::vector<ActorRef<Flaky>> actors;
  for (std::size_t i = 0; i < kFlakyActors; ++i) {
    actors.push_back(supervisor.start<Flaky>(
        actor_options("flaky-" + std::to_string(i), kFlakyMailbox),
        BooksRef{&books}));
  }
  std::vector<std::thread> producers;
  for (std::size_t p = 0; p < kFlakyProducers; ++p) {
    producers.emplace_back([&, p] {
      std::mt19937_64 rng = rng_for(round, 10 + p);
      // In the second half of the stream: the first half reaches every actor.
      const std::uint32_t half = round.flaky_messages / 2;
      const std::uint32_t terminate_at = half + static_cast<std::uint32_t>(rng() % half);
      const std::size_t victim = rng() % kFlakyActors;
      for (std::uint32_t i = 0; i < round.flaky_messages; ++i) {
        if (p == 0 && i == terminate_at) {
          (void)actors[victim].blocking_terminate();
          add(books.terminations);
        }
        book_tell(books, actors[rng() % kFlakyActors].tell(Job{roll(rng)}));
        if (i % 64 == 63) std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    });
  }
  for (std::thread& producer : producers) producer.join();
  (void)supervisor.blocking_stop();
  for (ActorRef<Flaky>& actor : actors) {
    (void)actor.blocking_terminate();
    book_exited(books, actor);
  }
}

// ---- stall: a slow consumer, its small mailbox full ------------------------------------------

class Staller {
 public:
  explicit Staller(BooksRef books) : books_(books) {}
  void handle(Job job) {
    add(books_->delivered);
    if (job.roll < kStallPerMille) {
      add(books_->stalls);
      std::this_thread::sleep_for(std::chrono::milliseconds(1 + job.roll % 3));
    }
  }

 private:
  BooksRef books_;
};

void run_stall(Runtime& runtime, Books& books, const Round& round) {
  std::mt19937_64 rng = rng_for(round, 20);
  ActorRef<Staller> actor = spawn_actor<Staller>(
      runtime,
      actor_options("staller", kStallMailbox, /*dedicated=*/true),
      BooksRef{&books});
  for (std::uint32_t i = 0; i < round.stall_messages; ++i) {
    // The first message always stalls (roll 0): a round stalls and fills the mailbox whenever
    // the staller takes its first message before it is terminated. At the default size it
    // usually does (not always: a busy machine may start its thread late); at size 1 it often
    // does not, and the 4 messages become dead letters.
    const std::uint32_t job_roll = i == 0 ? 0 : roll(rng);
    book_tell(books, actor.tell(Job{job_roll}));
    if (i % 16 == 15) std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
  // Terminated with messages still queued: they become dead letters.
  (void)actor.blocking_terminate();
  book_exited(books, actor);
}

// ---- pool: submissions while another thread closes it ----------------------------------------

void run_pool(Books& books, const Round& round) {
  std::mt19937_64 rng = rng_for(round, 30);
  // Closed once the submitter has offered this many tasks (it goes on offering the rest).
  const std::uint32_t close_at = static_cast<std::uint32_t>(rng() % round.pool_tasks);
  const bool force = rng() % 2 == 0;
  PoolOptions options;
  options.name = "soak-pool";
  options.min_workers = 1;
  options.max_workers = 2;
  options.max_queue = kPoolQueue;
  options.on_full = QueueFull::wait;
  Pool pool(options);
  std::atomic<std::uint32_t> offered{0};
  std::thread closer([&] {
    while (offered.load(std::memory_order_acquire) < close_at) std::this_thread::yield();
    pool.close(force);
    add(books.pool_closes);
    if (force) add(books.pool_forced_closes);
  });
  std::vector<PoolFuture<std::uint32_t>> futures;
  for (std::uint32_t i = 0; i < round.pool_tasks; ++i) {
    offered.store(i, std::memory_order_release);
    const std::uint32_t task_roll = roll(rng);
    auto submitted = pool.submit([task_roll]() -> std::uint32_t {
      std::this_thread::sleep_for(std::chrono::microseconds(task_roll % 50));
      if (task_roll < kPoolThrowPerMille) throw std::runtime_error("soak: injected task failure");
      return task_roll;
    });
    if (submitted) {
      futures.push_back(std::move(submitted).value());
    } else {
      add(books.submissions_refused);
    }
  }
  closer.join();
  add(books.futures_submitted, futures.size());
  for (PoolFuture<std::uint32_t>& future : futures) {
    try {
      (void)future.get();
      add(books.futures_value);
    } catch (const Error& error) {
      add(error.code() == ErrorCode::cancelled ? books.futures_cancelled : books.futures_other);
    } catch (const std::runtime_error&) {
      add(books.futures_error);
    } catch (...) {
      add(books.futures_other);
    }
  }
  const PoolStats stats = pool.stats();
  add(books.pool_submitted, stats.submitted);
  add(books.pool_completed, stats.completed);
  add(books.pool_failed, stats.failed);
  add(books.pool_cancelled, stats.cancelled);
  add(books.pool_timed_out, stats.timed_out);
  add(books.pool_deadline_exceeded, stats.deadline_exceeded);
  add(books.pool_rejected, stats.rejected);
}

// ---- chain: Buffers through a chain of actors and back ---------------------------------------

// Where a relay sends what it handled: the next relay, or home (the part's channel).
struct Next;

class Relay {
 public:
  Relay(BooksRef books, std::unique_ptr<Next> next) : books_(books), next_(std::move(next)) {}
  Relay(Relay&&) noexcept;
  Relay& operator=(Relay&&) noexcept;
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;
  ~Relay();
  void handle(Parcel parcel);

 private:
  BooksRef books_;
  std::unique_ptr<Next> next_;
};

struct Next {
  std::optional<ActorRef<Relay>> relay;
  std::optional<Sender<Parcel>> home;
};

Relay::Relay(Relay&&) noexcept = default;
Relay& Relay::operator=(Relay&&) noexcept = default;
Relay::~Relay() = default;

void Relay::handle(Parcel parcel) {
  add(books_->delivered);
  if (next_->relay) {
    add(books_->buffer_transfers);
    book_tell(*books_.books, next_->relay->tell(std::move(parcel)));
  } else {
    (void)next_->home->try_send(std::move(parcel));  // unbounded, and open until the end
  }
}

// A parcel home: its bytes must be its own.
void book_back(Books& books, Parcel& parcel) {
  add(books.parcels_back);
  const std::span<const std::byte> bytes = parcel.payload.buffer().bytes();
  const auto mark = static_cast<std::byte>(parcel.id % 256);
  if (bytes.size() != parcel.size ||
      !std::all_of(bytes.begin(), bytes.end(), [mark](std::byte b) { return b == mark; })) {
    add(books.parcels_corrupt);
  }
}

// Books every parcel waiting at home; returns how many.
std::uint32_t drain_home(Books& books, Receiver<Parcel>& home) {
  std::uint32_t back = 0;
  for (auto parcel = home.try_recv(); parcel; parcel = home.try_recv()) {
    book_back(books, parcel.value());
    ++back;
  }
  return back;
}

void run_chain(Runtime& runtime, Books& books, const Round& round) {
  std::mt19937_64 rng = rng_for(round, 40);
  auto [home_tx, home_rx] = unbounded_channel<Parcel>();
  std::vector<ActorRef<Relay>> relays(kRelays);
  std::optional<Sender<Parcel>> home = std::move(home_tx);
  for (std::size_t i = kRelays; i-- > 0;) {
    auto next = std::make_unique<Next>();
    if (i + 1 < kRelays) {
      next->relay = relays[i + 1];
    } else {
      next->home = std::move(home);
    }
    relays[i] = spawn_actor<Relay>(
        runtime, actor_options("relay-" + std::to_string(i), /*mailbox=*/0),
        BooksRef{&books}, std::move(next));
  }
  // In the last third: most parcels travel the whole chain.
  const std::uint32_t third = round.parcels / 3;
  const std::uint32_t terminate_at =
      round.parcels - third + static_cast<std::uint32_t>(rng() % third);
  const std::size_t victim = rng() % kRelays;
  std::uint32_t back = 0;
  for (std::uint32_t i = 0; i < round.parcels; ++i) {
    // Until the fault, at most kParcelWindow parcels in flight (the whole chain works, so
    // they all come back): otherwise the origin outruns the relays and the end of the round
    // finds most parcels still queued.
    while (i < terminate_at && i - back > kParcelWindow) {
      back += drain_home(books, home_rx);
      std::this_thread::yield();
    }
    if (i == terminate_at) {
      (void)relays[victim].blocking_terminate();
      add(books.terminations);
    }
    const std::uint64_t id = (round.index << kParcelIdBits) + i;
    const std::size_t size = 64 + rng() % kParcelBytes;
    Parcel parcel{.id = id, .size = size, .payload = TrackedBuffer(size, BooksRef{&books})};
    for (std::byte& b : parcel.payload.buffer().bytes()) b = static_cast<std::byte>(id % 256);
    add(books.parcels_launched);
    add(books.buffer_transfers);
    book_tell(books, relays[0].tell(std::move(parcel)));
    back += drain_home(books, home_rx);
  }
  // In chain order: once relay i has exited, nothing more reaches relay i + 1 from it.
  for (ActorRef<Relay>& relay : relays) (void)relay.blocking_terminate();
  drain_home(books, home_rx);
  for (const ActorRef<Relay>& relay : relays) {
    book_exited(books, relay);
    add(books.parcels_dead, relay.stats().dead_letters);
  }
}

// ---- rounds ----------------------------------------------------------------------------------

constexpr std::string_view kPartNames[] = {"flaky", "stall", "pool", "chain"};

// What a round's part threads share with the round: when each part is done, and the first
// exception one threw. Shared (not on the round's stack) so that a hung part may outlive it.
struct RoundState {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done[std::size(kPartNames)] = {};
  std::exception_ptr failure;
};

// Runs one round: the four parts at once, on threads of their own, over a fresh Runtime.
// Returns the name of a part that did not finish within kRoundTimeout ("" if all did); the
// round's threads and Runtime are then abandoned (detached, leaked) and the caller must end
// the process without waiting for them.
std::string run_round(Books& books, const Round& round) {
  RuntimeOptions options;
  options.min_threads = 2;
  auto runtime = std::make_unique<Runtime>(options);
  auto state = std::make_shared<RoundState>();
  std::vector<std::thread> parts;
  for (std::size_t part = 0; part < std::size(kPartNames); ++part) {
    parts.emplace_back([&books, state, part, round, rt = runtime.get()] {
      try {
        switch (part) {
          case 0: run_flaky(*rt, books, round); break;
          case 1: run_stall(*rt, books, round); break;
          case 2: run_pool(books, round); break;
          default: run_chain(*rt, books, round); break;
        }
      } catch (...) {
        const std::lock_guard lock(state->mutex);
        if (!state->failure) state->failure = std::current_exception();
      }
      const std::lock_guard lock(state->mutex);
      state->done[part] = true;
      state->done_cv.notify_all();
    });
  }
  std::string hung;
  {
    std::unique_lock lock(state->mutex);
    const bool all_done = state->done_cv.wait_for(lock, kRoundTimeout, [&] {
      return std::all_of(std::begin(state->done), std::end(state->done), [](bool d) { return d; });
    });
    for (std::size_t part = 0; !all_done && part < std::size(kPartNames); ++part) {
      if (!state->done[part]) hung = kPartNames[part];
    }
  }
  if (!hung.empty()) {
    for (std::thread& part : parts) part.detach();
    (void)runtime.release();  // NOLINT(bugprone-unused-return-value): a stuck part still uses it
    return hung;
  }
  for (std::thread& part : parts) part.join();
  runtime.reset();
  if (state->failure) std::rethrow_exception(state->failure);
  return {};
}

SoakSheet sheet_of(const Books& books) {
  const auto get = [](const Counter& counter) { return counter.load(std::memory_order_relaxed); };
  SoakSheet sheet;
  sheet.sent = get(books.sent);
  sheet.delivered = get(books.delivered);
  sheet.returned = get(books.returned);
  sheet.returned_closed = get(books.returned_closed);
  sheet.dead_letters = get(books.dead_letters);
  sheet.received = get(books.received);
  sheet.rejected = get(books.rejected);
  sheet.handler_throws = get(books.handler_throws);
  sheet.terminations = get(books.terminations);
  sheet.restarts = get(books.restarts);
  sheet.stalls = get(books.stalls);
  sheet.pool_closes = get(books.pool_closes);
  sheet.pool_forced_closes = get(books.pool_forced_closes);
  sheet.buffer_transfers = get(books.buffer_transfers);
  sheet.parcels_launched = get(books.parcels_launched);
  sheet.parcels_back = get(books.parcels_back);
  sheet.parcels_dead = get(books.parcels_dead);
  sheet.parcels_corrupt = get(books.parcels_corrupt);
  sheet.futures_submitted = get(books.futures_submitted);
  sheet.futures_value = get(books.futures_value);
  sheet.futures_error = get(books.futures_error);
  sheet.futures_cancelled = get(books.futures_cancelled);
  sheet.futures_other = get(books.futures_other);
  sheet.submissions_refused = get(books.submissions_refused);
  sheet.pool_submitted = get(books.pool_submitted);
  sheet.pool_completed = get(books.pool_completed);
  sheet.pool_failed = get(books.pool_failed);
  sheet.pool_cancelled = get(books.pool_cancelled);
  sheet.pool_timed_out = get(books.pool_timed_out);
  sheet.pool_deadline_exceeded = get(books.pool_deadline_exceeded);
  sheet.pool_rejected = get(books.pool_rejected);
  sheet.buffers_created = get(books.buffers_created);
  sheet.buffers_freed = get(books.buffers_freed);
  sheet.buffers_live = static_cast<std::int64_t>(sheet.buffers_created) -
                       static_cast<std::int64_t>(sheet.buffers_freed);
  return sheet;
}

// Runs rounds 0, 1, 2... of `seed` at `size`, at least one, for as long as `more(rounds run)`
// holds and no part hangs; returns their sheet. If a part hung (sheet.hang), its threads, its
// Runtime and the run's books are abandoned still in use: the caller must end the process
// without unwinding (std::_Exit).
template <class More>
SoakSheet run_rounds(std::uint64_t seed, std::uint64_t size, More more) {
  using Clock = std::chrono::steady_clock;
  // On the heap: a hung part may go on counting after this returns.
  auto books = std::make_unique<Books>();
  // One thread started and joined first: a sanitizer's helper thread (ThreadSanitizer starts
  // its background thread with the process's first new thread) is then counted at both ends.
  std::thread([] {}).join();
  const std::uint64_t threads_start = threads_alive();
  const Clock::time_point start = Clock::now();
  std::uint64_t rounds = 0;
  std::string hang;
  do {
    hang = run_round(*books, round_of(seed, rounds, size));
    ++rounds;
  } while (hang.empty() && more(rounds));
  SoakSheet sheet = sheet_of(*books);
  sheet.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  sheet.seed = seed;
  sheet.size = size;
  sheet.rounds = rounds;
  sheet.hang = hang;
  sheet.threads_start = threads_start;
  sheet.threads_end = threads_settled(threads_start);  // joined threads may linger a moment
  if (!hang.empty()) (void)books.release();  // NOLINT(bugprone-unused-return-value): still in use
  return sheet;
}

namespace {

std::string count(std::uint64_t value) { return format_count(value); }

// "a = b + c" when it holds, else the line that says it does not.
void expect_equal(std::vector<std::string>& broken, const std::string& book, std::uint64_t left,
                  std::uint64_t right, const std::string& right_terms) {
  if (left != right) {
    broken.push_back(book + ": " + count(left) + " != " + right_terms + " = " + count(right));
  }
}

std::vector<std::string> unbalanced(const SoakSheet& s) {
  std::vector<std::string> broken;
  if (!s.hang.empty()) broken.push_back("hang: part '" + s.hang + "' did not finish its round");
  if (s.rounds == 0) broken.push_back("rounds: none ran");
  expect_equal(broken, "messages: sent", s.sent, s.delivered + s.returned + s.dead_letters,
               "delivered + returned + dead letters");
  expect_equal(broken, "messages: ActorStats received", s.received, s.delivered,
               "delivered (handler entries)");
  expect_equal(broken, "messages: ActorStats rejected", s.rejected, s.returned,
               "returned (Full)");
  if (s.returned_closed > s.dead_letters) {
    broken.push_back("messages: Closed returns " + count(s.returned_closed) +
                     " > dead letters " + count(s.dead_letters));
  }
  expect_equal(broken, "parcels: launched", s.parcels_launched, s.parcels_back + s.parcels_dead,
               "back + dead letters");
  if (s.parcels_corrupt != 0) {
    broken.push_back("parcels: " + count(s.parcels_corrupt) + " came back with wrong bytes");
  }
  expect_equal(broken, "futures: submitted", s.futures_submitted,
               s.futures_value + s.futures_error + s.futures_cancelled + s.futures_other,
               "value + error + cancelled + other");
  if (s.futures_other != 0) {
    broken.push_back("futures: " + count(s.futures_other) + " resolved with an unexpected error");
  }
  expect_equal(broken, "pool: submitted", s.pool_submitted,
               s.pool_completed + s.pool_failed + s.pool_cancelled + s.pool_timed_out +
                   s.pool_deadline_exceeded,
               "completed + failed + cancelled + timed_out + deadline_exceeded");
  expect_equal(broken, "pool: submitted vs futures", s.pool_submitted, s.futures_submitted,
               "futures submitted");
  expect_equal(broken, "pool: completed vs futures", s.pool_completed, s.futures_value,
               "futures with a value");
  expect_equal(broken, "pool: failed vs futures", s.pool_failed, s.futures_error,
               "futures with the task's error");
  expect_equal(broken, "pool: cancelled vs futures", s.pool_cancelled, s.futures_cancelled,
               "futures cancelled");
  expect_equal(broken, "pool: rejected", s.pool_rejected, s.submissions_refused,
               "submissions refused");
  if (s.buffers_live != 0 || s.buffers_created != s.buffers_freed) {
    broken.push_back("Buffers: " + std::to_string(s.buffers_live) + " live at the end (created " +
                     count(s.buffers_created) + ", freed " + count(s.buffers_freed) + ")");
  }
  if (s.threads_end > s.threads_start) {
    broken.push_back("threads: " + count(s.threads_end) + " alive at the end, " +
                     count(s.threads_start) + " at the start");
  }
  return broken;
}

void print_soak_sheet(std::ostream& out, const SoakSheet& s, bool seed_given,
                      OutputFormat format) {
  // Qualified: unqualified, ADL would also find cli::unbalanced (which forwards here).
  const std::vector<std::string> broken = soak_impl::unbalanced(s);
  const bool ok = broken.empty();
  if (format == OutputFormat::json) {
    std::string failures = "[";
    for (const std::string& line : broken) {
      failures += (failures.size() > 1 ? "," : "") + json_string(line);
    }
    failures += "]";
    const auto n = [](std::uint64_t value) { return std::to_string(value); };
    JsonObject faults;
    faults.add("handler_throws", n(s.handler_throws))
        .add("terminations", n(s.terminations))
        .add("restarts", n(s.restarts))
        .add("stalls", n(s.stalls))
        .add("pool_closes", n(s.pool_closes))
        .add("pool_forced_closes", n(s.pool_forced_closes))
        .add("buffer_transfers", n(s.buffer_transfers));
    JsonObject json;
    json.add("workload", json_string("soak"))
        .add("seed", n(s.seed))
        .add("seed_given", json_bool(seed_given))
        .add("size", n(s.size))
        .add("duration", json_number(s.seconds))
        .add("rounds", n(s.rounds))
        .add("messages", JsonObject()
                             .add("sent", n(s.sent))
                             .add("delivered", n(s.delivered))
                             .add("returned", n(s.returned))
                             .add("returned_closed", n(s.returned_closed))
                             .add("dead_letters", n(s.dead_letters))
                             .add("received", n(s.received))
                             .add("rejected", n(s.rejected))
                             .close())
        .add("faults", faults.close())
        .add("parcels", JsonObject()
                            .add("launched", n(s.parcels_launched))
                            .add("back", n(s.parcels_back))
                            .add("dead_letters", n(s.parcels_dead))
                            .add("corrupt", n(s.parcels_corrupt))
                            .close())
        .add("futures", JsonObject()
                            .add("submitted", n(s.futures_submitted))
                            .add("value", n(s.futures_value))
                            .add("error", n(s.futures_error))
                            .add("cancelled", n(s.futures_cancelled))
                            .add("other", n(s.futures_other))
                            .add("refused", n(s.submissions_refused))
                            .close())
        .add("pool", JsonObject()
                         .add("submitted", n(s.pool_submitted))
                         .add("completed", n(s.pool_completed))
                         .add("failed", n(s.pool_failed))
                         .add("cancelled", n(s.pool_cancelled))
                         .add("timed_out", n(s.pool_timed_out))
                         .add("deadline_exceeded", n(s.pool_deadline_exceeded))
                         .add("rejected", n(s.pool_rejected))
                         .close())
        .add("buffers", JsonObject()
                            .add("created", n(s.buffers_created))
                            .add("freed", n(s.buffers_freed))
                            .add("live", std::to_string(s.buffers_live))
                            .close())
        .add("threads", JsonObject()
                            .add("start", n(s.threads_start))
                            .add("end", n(s.threads_end))
                            .close())
        .add("balanced", json_bool(ok))
        .add("failures", failures);
    out << json.close() << '\n';
    return;
  }
  const std::string size_flag =
      s.size == kSoakDefaultSize ? "" : " --size " + std::to_string(s.size);
  const Round counts = round_of(s.seed, 0, s.size);
  Rows rows = {
      {"seed", count(s.seed) + (seed_given ? "" : " (random; replay with --seed " +
                                                       std::to_string(s.seed) + size_flag + ")")},
      {"size", count(s.size) + ": a round tells " + count(kFlakyProducers) + " x " +
                   count(counts.flaky_messages) + " flaky and " + count(counts.stall_messages) +
                   " stall messages, submits " + count(counts.pool_tasks) + " pool tasks, sends " +
                   count(counts.parcels) + " parcels"},
      {"duration", format_seconds(s.seconds) + ", " + count(s.rounds) + " rounds"},
      {"messages", count(s.sent) + " sent = " + count(s.delivered) + " delivered + " +
                       count(s.returned) + " returned + " + count(s.dead_letters) +
                       " dead letters"},
      {"  cross-checks", "ActorStats received " + count(s.received) + ", rejected " +
                             count(s.rejected) + "; " + count(s.returned_closed) +
                             " Closed returns (among the dead letters)"},
      {"faults", count(s.handler_throws) + " handler throws (" + count(s.restarts) +
                     " restarts), " + count(s.terminations) + " terminations, " +
                     count(s.stalls) + " stalls, " + count(s.pool_closes) + " pool closes (" +
                     count(s.pool_forced_closes) + " forced), " + count(s.buffer_transfers) +
                     " Buffer transfers"},
      {"parcels", count(s.parcels_launched) + " launched = " + count(s.parcels_back) +
                      " back + " + count(s.parcels_dead) + " dead letters; " +
                      count(s.parcels_corrupt) + " corrupt"},
      {"futures", count(s.futures_submitted) + " submitted = " + count(s.futures_value) +
                      " value + " + count(s.futures_error) + " error + " +
                      count(s.futures_cancelled) + " cancelled + " + count(s.futures_other) +
                      " other; " + count(s.submissions_refused) + " refused"},
      {"pool books", count(s.pool_submitted) + " submitted = " + count(s.pool_completed) +
                         " completed + " + count(s.pool_failed) + " failed + " +
                         count(s.pool_cancelled) + " cancelled + " + count(s.pool_timed_out) +
                         " timed out + " + count(s.pool_deadline_exceeded) +
                         " past deadline; " + count(s.pool_rejected) + " rejected"},
      {"Buffers", count(s.buffers_created) + " created, " + count(s.buffers_freed) + " freed, " +
                      std::to_string(s.buffers_live) + " live (counted by the soak's wrapper)"},
      {"threads", count(s.threads_start) + " at the start, " + count(s.threads_end) +
                      " at the end"},
  };
  print_rows(out, rows);
  for (const std::string& line : broken) out << "UNBALANCED " << line << '\n';
  out << "verdict: "
      << (ok ? "every book balanced" : std::to_string(broken.size()) + " book(s) unbalanced")
      << '\n';
}

}  // namespace
}  // namespace soak_impl

std::vector<std::string> unbalanced(const SoakSheet& s) {
  return soak_impl::unbalanced(s);
}

void print_soak_sheet(std::ostream& out, const SoakSheet& s, bool seed_given,
                      OutputFormat format) {
  soak_impl::print_soak_sheet(out, s, seed_given, format);
}

void reject_soak_flags(const LoadRequest& request) {
  refuse_given({{"--seed", request.seed.has_value()}, {"--size", request.size.has_value()}},
               "applies only to 'troupe load soak', not to '" + request.workload + "'");
}

SoakPlan plan_soak(const LoadRequest& request) {
  refuse_given({{"--n", request.n.has_value()},
                {"--threads", request.threads.has_value()},
                {"--style", request.style.has_value()},
                {"--capacity", request.capacity.has_value()},
                {"--placement", request.placement.has_value()},
                {"--repeat", request.repeat.has_value()},
                {"--metrics", request.metrics.has_value()},
                {"--compare", request.compare.has_value()},
                {"--sweep", request.sweep.has_value()},
                {"--plot", request.plot.has_value()},
                {"--rate", request.rate.has_value()},
                {"--workload", request.request_kind.has_value()},
                {"--csv", request.csv},
                {"--quick", request.quick}},
               "does not apply to 'troupe load soak' (it takes --duration, --seed, --size, "
               "--json)");
  if (!request.duration) throw UsageError("load soak needs --duration D (seconds)");
  SoakPlan plan;
  plan.duration = parse_positive("--duration", *request.duration,
                                 {{"ms", 1e-3}, {"s", 1.0}, {"m", 60.0}, {"h", 3600.0}},
                                 "seconds (e.g. 0.5, 20s, 200ms, 10m, 2h)");
  if (plan.duration > soak_impl::kMaxDuration) {
    throw UsageError("--duration: " + *request.duration + " is too long (at most 24 h)");
  }
  if (request.seed) {
    plan.seed = parse_integer("--seed", *request.seed, 0, UINT64_MAX, "an integer >= 0");
    plan.seed_given = true;
  } else {
    std::random_device device;
    plan.seed = (static_cast<std::uint64_t>(device()) << 32U) | device();
  }
  if (request.size) {
    plan.size = parse_integer("--size", *request.size, 1, kSoakMaxSize,
                              "an integer from 1 to " + format_count(kSoakMaxSize));
  }
  plan.format = request.json ? OutputFormat::json : OutputFormat::human;
  return plan;
}

int run_soak(const SoakPlan& plan, std::ostream& out, std::ostream& err) {
  using Clock = std::chrono::steady_clock;
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(plan.duration));
  const SoakSheet sheet = soak_impl::run_rounds(
      plan.seed, plan.size, [until](std::uint64_t) { return Clock::now() < until; });
  print_soak_sheet(out, sheet, plan.seed_given, plan.format);
  out.flush();
  const std::vector<std::string> broken = unbalanced(sheet);
  if (!broken.empty() && plan.format == OutputFormat::json) {
    err << "troupe: error: soak: " << broken.size() << " book(s) unbalanced (seed "
        << plan.seed << ", size " << plan.size << "); the sheet lists them\n";
  }
  if (!sheet.hang.empty()) {
    // The stuck part still uses the round's Runtime and books: leave without unwinding them.
    err << "troupe: error: soak: part '" << sheet.hang << "' hung in round " << sheet.rounds - 1
        << " (seed " << plan.seed << ", size " << plan.size << ")\n";
    err.flush();
    std::_Exit(1);
  }
  return broken.empty() ? 0 : 1;
}

SoakSheet run_soak_rounds(std::uint64_t seed, std::uint64_t size, std::uint64_t rounds) {
  if (size < 1 || size > kSoakMaxSize) {
    throw std::invalid_argument("run_soak_rounds: size " + std::to_string(size) +
                                " is outside 1.." + std::to_string(kSoakMaxSize));
  }
  return soak_impl::run_rounds(seed, size, [rounds](std::uint64_t run) { return run < rounds; });
}

std::string soak_help() {
  return "troupe load soak --duration D [--seed S] [--size N] [--json]\n"
         "  Mixed workloads with fault injection, in rounds, for D seconds (0.3, 20s, 500ms,\n"
         "  10m, 2h; at most 24 h): handlers that throw under a supervisor, actors terminated\n"
         "  mid-stream, a stalling consumer with a full mailbox, a pool closed during\n"
         "  submission, Buffers told through a chain of actors. Prints the balance sheet:\n"
         "  sent = delivered + returned + dead letters, every future resolved, the pool's\n"
         "  books, Buffers created = freed, threads at the end <= at the start; exit 1 if a\n"
         "  book does not balance. --seed S replays a run (default: random, printed).\n"
         "  --size N (1.." + format_count(kSoakMaxSize) + ", default " +
         std::to_string(kSoakDefaultSize) + ") scales every round: " +
         std::to_string(soak_impl::kFlakyProducers) + " x " +
         std::to_string(soak_impl::kFlakyMessagesPerSize) + "N flaky messages,\n  " +
         std::to_string(soak_impl::kStallMessagesPerSize) + "N stall messages, " +
         std::to_string(soak_impl::kPoolTasksPerSize) + "N pool tasks, " +
         std::to_string(soak_impl::kParcelsPerSize) +
         "N parcels; a run replays with the same --seed and\n  --size.\n";
}

}  // namespace troupe::cli
