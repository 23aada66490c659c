// test/fuzz/fuzz_actors.cpp — a libFuzzer target (scripts/fuzz): random bytes become a program
// of actor and port operations run by two plain threads over a small Runtime, and the books
// must balance afterwards.
//
// Input: byte 0 configures the run, bytes 1-3 the mailboxes of the three workers, and every
// further pair of bytes (operation, argument) is one operation, dealt round-robin to the two
// driver threads, which run theirs at once (at most kMaxOps operations):
//
//   byte 0    bits 0-1 the ending (below); bit 2 the workers are children of a Supervisor,
//             bit 3 its strategy is one_for_all (else one_for_one), bits 6-7 its
//             max_restarts (0-3); bit 4 worker 0 keeps timing histograms; bit 5 worker 1 has a
//             byte quota (kQuota bytes); and worker 2 runs on a dedicated thread when bit 4 of
//             its mailbox byte is set.
//   bytes 1-3 worker i's mailbox: capacity b % 5 (0 = unbounded), overflow policy
//             (b >> 5) % 4 (backpressure, reject, drop_newest, drop_oldest).
//
// The actors: three Workers (handler style) in a chain w0 -> w1 -> w2 -> home (a channel the
// harness drains), and a ghost, a Worker terminated before the drivers start. The operations:
//   tell / blocking_send a Note (to any of the four; some are poison: the handler throws, the
//   actor fails, or its supervisor rebuilds it), blocking_ask a Query (poison too) or a Nap (a
//   coroutine handler that sleeps) with timeouts of 0.1-1.6 ms, tell a Parcel (a Buffer in a
//   counting wrapper) into the chain, introduce a new port pair (message_channel, unbounded or
//   bounded) to two workers, which send Pings (Buffers too) to each other through it whenever
//   they are told to Pump, and blocking_terminate a worker (rarely).
// The ending: 0 and 3 drop every ActorRef and wait for the chain to end by itself
// (ExitCode::normal); 1 terminates the workers in chain order; 2 shuts the Runtime down with
// the actors alive.
//
// What must hold (a violation aborts, which libFuzzer reports as a crash with the input):
//   mailboxes every message offered to an actor (tell, send or ask, by a driver or a worker)
//             is accounted for exactly once by its ActorStats: attempts = received + dropped +
//             rejected + dead_letters; received equals the handler entries the harness
//             counted, rejected the Full refusals it was handed back (with the asks that
//             timed out still waiting for room: timed_out_unqueued); a Note from one driver
//             is handled in the order sent; the outcomes fit the policy (Full only under
//             backpressure or reject, Told::dropped only under drop_newest, none on an
//             unbounded mailbox);
//   asks      every ask returns (value, failed, dead, timeout, full or dropped: a timeout is
//             always allowed, never asserted), a value is the right reply, failed only for
//             poison;
//   parcels   launched = arrived home + handed back to a relay + destroyed on the way (a dead
//             letter, dropped by a policy); every parcel that is looked at has its own bytes;
//   ports     Pings sent = received + destroyed with a port, each direction in order;
//   Buffers   every tracked Buffer created is destroyed by the end (live 0), and its wrapper
//             still owned its bytes then;
//   exits     every actor exits, with a code its history explains (failed only after poison,
//             resource_exhausted only under a quota, terminated only if terminated, stopped
//             only under a supervisor, normal only in the waiting ending, shut_down only in
//             the shutdown ending); restarts only under a supervisor;
//   the end   the home channel is closed (every worker's Sender went with it), no actor cell
//             is left (ActorCell::live() as at the start) and no thread is left running
//             (/proc/self/task).
//
// The program runs under AddressSanitizer and UBSan (the fuzz preset; this file without
// -fsanitize=function, see CMakeLists.txt), so a use after free, a leak or undefined behaviour
// in the library fails it too.
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "troupe/actors/actor.hpp"
#include "troupe/actors/supervisor.hpp"
#include "troupe/channels/buffer.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/channels/port.hpp"
#include "troupe/runtime/runtime.hpp"
#include "troupe/runtime/time.hpp"

#include "fuzz_support.hpp"

namespace {

using namespace std::chrono_literals;
using troupe::fuzz::ops_for;
using troupe::fuzz::require;
using troupe::fuzz::threads_alive;

constexpr std::size_t kWorkers = 3;
constexpr std::size_t kGhost = kWorkers;  // the index of the actor dead from the start
constexpr std::size_t kActors = kWorkers + 1;
constexpr std::size_t kDrivers = 2;
constexpr std::size_t kMaxOps = 256;
constexpr std::size_t kQuota = 32;  // worker 1's byte quota when bit 5 of byte 0 is set

// The harness's side of one actor's mailbox. Counters: relaxed atomics, read after every
// actor has exited (the exit waits order them).
struct MailBook {
  troupe::Overflow policy = troupe::Overflow::backpressure;  // set before the actors start
  bool bounded = false;
  std::atomic<std::uint64_t> attempts{0};      // tells, sends and asks offered
  std::atomic<std::uint64_t> told_dropped{0};  // Told::dropped and AskErrc::dropped
  std::atomic<std::uint64_t> full{0};          // Full handed back, AskErrc::full
  std::atomic<std::uint64_t> closed{0};        // tells handed back Closed
  std::atomic<std::uint64_t> entered{0};       // handler entries
  std::atomic<std::uint64_t> poison_entered{0};
  std::atomic<bool> terminated{false};         // a driver terminated it
  // The last Note seq handled from each driver: the actor's own task only.
  std::array<std::uint64_t, kDrivers> last_seq{};
};

// Where a tracked Buffer is when its wrapper is destroyed: nowhere in particular, in the
// actor chain, or in a port.
enum class Route : std::uint8_t { none, chain, port };

struct Books {
  std::array<MailBook, kActors> mail;
  std::atomic<std::uint64_t> created{0}, freed{0}, lost_chain{0}, lost_port{0};
  std::atomic<std::uint64_t> launched{0}, home{0}, returned{0};
  std::atomic<std::uint64_t> port_sent{0}, port_received{0};
};

// How actors reach the books: a pointer to atomics that outlive every actor of the run.
// Opted in as Sendable on that promise.
struct BooksRef {
  Books* books = nullptr;
  Books* operator->() const noexcept { return books; }
};

// A Buffer in a wrapper that counts it: created when the wrapper allocates, freed when the
// wrapper that owns it (not a moved-from one) is destroyed, with the route it was on then.
class Tracked {
 public:
  Tracked(BooksRef books, std::size_t size, std::uint8_t fill)
      : buffer_(size), books_(books.books) {
    for (std::byte& b : buffer_.bytes()) b = static_cast<std::byte>(fill);
    books_->created.fetch_add(1, std::memory_order_relaxed);
  }
  Tracked(Tracked&& other) noexcept
      : route(other.route),
        buffer_(std::move(other.buffer_)),
        books_(std::exchange(other.books_, nullptr)) {}
  Tracked& operator=(Tracked&&) = delete;
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
  ~Tracked() {
    if (books_ == nullptr) return;  // moved from
    require(!buffer_.detached(), "a tracked Buffer was detached while its wrapper owned it");
    books_->freed.fetch_add(1, std::memory_order_relaxed);
    if (route == Route::chain) books_->lost_chain.fetch_add(1, std::memory_order_relaxed);
    if (route == Route::port) books_->lost_port.fetch_add(1, std::memory_order_relaxed);
  }

  // Its own bytes: `size` of them, each `fill`.
  [[nodiscard]] bool intact(std::size_t size, std::uint8_t fill) const {
    if (books_ == nullptr || buffer_.detached() || buffer_.size() != size) return false;
    for (const std::byte b : buffer_.bytes()) {
      if (b != static_cast<std::byte>(fill)) return false;
    }
    return true;
  }

  Route route = Route::none;

 private:
  troupe::Buffer buffer_;
  Books* books_;  // null once moved from
};

// ---- messages -----------------------------------------------------------------------------------

struct Note {
  std::uint32_t from;  // the driver
  std::uint64_t seq;   // from 1, per driver and actor
  bool poison;
};
struct Query {  // ask: 3x + 1
  std::uint64_t x;
  bool poison;
};
struct Nap {  // ask, a coroutine handler: sleeps, replies micros
  std::uint32_t micros;
};
struct Parcel {
  std::uint64_t id;
  std::uint8_t size;
  std::uint8_t fill;
  Tracked payload;
};
struct Ping {
  std::uint64_t seq;  // from 1, per port end
  Tracked payload;
};
using PingPort = troupe::Port<Ping, Ping>;
struct Introduce {
  PingPort port;
};
struct Pump {  // send `count` Pings through the port, then receive what has arrived
  std::uint32_t count;
};

}  // namespace

template <>
inline constexpr bool troupe::enable_sendable<BooksRef> = true;
static_assert(troupe::Sendable<Parcel> && troupe::Sendable<Ping>);

namespace {

constexpr std::uint64_t reply_to(std::uint64_t x) { return 3 * x + 1; }

// Books a tell's outcome in `book`; returns the message if it was handed back.
template <class M>
std::optional<M> booked(MailBook& book, troupe::TellResult<M>&& told) {
  if (told) {
    if (told.value() == troupe::Told::dropped) {
      require(book.bounded && book.policy == troupe::Overflow::drop_newest,
              "Told::dropped other than under drop_newest", static_cast<std::uint64_t>(book.policy));
      book.told_dropped.fetch_add(1, std::memory_order_relaxed);
    }
    return std::nullopt;
  }
  if (told.error().is_closed()) {
    book.closed.fetch_add(1, std::memory_order_relaxed);
  } else {
    require(told.error().is_full(), "a tell failed other than Full or Closed");
    require(book.bounded && (book.policy == troupe::Overflow::backpressure ||
                             book.policy == troupe::Overflow::reject),
            "a tell came back Full under a dropping policy or an unbounded mailbox",
            static_cast<std::uint64_t>(book.policy));
    book.full.fetch_add(1, std::memory_order_relaxed);
  }
  return std::move(told).error().into_message();
}

// ---- the worker ---------------------------------------------------------------------------------

class Worker {
 public:
  Worker(BooksRef books, std::size_t index, troupe::ActorRef<Worker> next,
         troupe::Sender<Parcel> home)
      : books_(books), index_(index), next_(std::move(next)), home_(std::move(home)) {}

  void handle(Note note) {
    MailBook& book = enter();
    require(note.from < kDrivers && note.seq > book.last_seq[note.from],
            "a driver's Notes handled out of order", note.seq, book.last_seq[note.from % kDrivers]);
    book.last_seq[note.from] = note.seq;
    if (note.poison) {
      book.poison_entered.fetch_add(1, std::memory_order_relaxed);
      throw std::runtime_error("poison note");
    }
  }

  std::uint64_t handle(Query query) {
    MailBook& book = enter();
    if (query.poison) {
      book.poison_entered.fetch_add(1, std::memory_order_relaxed);
      throw std::runtime_error("poison query");
    }
    return reply_to(query.x);
  }

  // Not a coroutine itself, so that the entry is counted when the message is taken.
  troupe::Task<std::uint32_t> handle(Nap nap) {
    (void)enter();
    return nap_for(nap.micros);
  }

  void handle(Parcel parcel) {
    (void)enter();
    require(parcel.payload.route == Route::chain, "a parcel off its route", parcel.id);
    require(parcel.payload.intact(parcel.size, parcel.fill), "a parcel lost its bytes", parcel.id);
    if (next_.valid()) {
      MailBook& book = books_->mail[index_ + 1];
      book.attempts.fetch_add(1, std::memory_order_relaxed);
      if (std::optional<Parcel> back = booked(book, next_.tell(std::move(parcel)))) {
        send_back(*back);
      }
      return;
    }
    auto sent = home_.try_send(std::move(parcel));
    if (!sent) {
      Parcel back = std::move(sent).error().into_message();
      send_back(back);
    }
  }

  void handle(Introduce introduce) {
    (void)enter();
    port_.emplace(std::move(introduce.port));  // the old port, if any, closes
    sent_seq_ = 0;
    received_seq_ = 0;
  }

  void handle(Pump pump) {
    (void)enter();
    if (!port_) return;
    for (std::uint32_t i = 0; i < pump.count; ++i) {
      const std::uint64_t seq = ++sent_seq_;
      Ping ping{seq, Tracked(books_, 8, static_cast<std::uint8_t>(seq))};
      ping.payload.route = Route::port;
      auto sent = port_->try_send(std::move(ping));
      if (sent) {
        books_->port_sent.fetch_add(1, std::memory_order_relaxed);
      } else {
        Ping back = std::move(sent).error().into_message();
        require(back.seq == seq, "a port handed back another Ping", back.seq, seq);
        back.payload.route = Route::none;
      }
    }
    while (auto got = port_->try_recv()) {
      require(got->seq > received_seq_, "a port's Pings out of order", got->seq, received_seq_);
      received_seq_ = got->seq;
      require(got->payload.route == Route::port, "a Ping off its route", got->seq);
      require(got->payload.intact(8, static_cast<std::uint8_t>(got->seq)), "a Ping lost its bytes",
              got->seq);
      got->payload.route = Route::none;
      books_->port_received.fetch_add(1, std::memory_order_relaxed);
    }
  }

 private:
  MailBook& enter() {
    MailBook& book = books_->mail[index_];
    book.entered.fetch_add(1, std::memory_order_relaxed);
    return book;
  }
  void send_back(Parcel& back) {
    back.payload.route = Route::none;
    books_->returned.fetch_add(1, std::memory_order_relaxed);
  }
  static troupe::Task<std::uint32_t> nap_for(std::uint32_t micros) {
    co_await troupe::sleep_for(std::chrono::microseconds(micros));
    co_return micros;
  }

  BooksRef books_;
  std::size_t index_;
  troupe::ActorRef<Worker> next_;  // empty for the last of the chain
  troupe::Sender<Parcel> home_;
  std::optional<PingPort> port_;
  std::uint64_t sent_seq_ = 0;
  std::uint64_t received_seq_ = 0;
};

// ---- the drivers --------------------------------------------------------------------------------

struct Run {
  Books books;
  std::array<troupe::ActorRef<Worker>, kActors> actors;
};

// Books an ask's outcome: `expected` is the right reply, `poison` whether the handler throws.
template <class R>
void book_ask(MailBook& book, troupe::AskResult<R>&& asked, R expected, bool poison) {
  if (asked) {
    require(!poison, "a poison ask gave a value");
    require(asked.value() == expected, "an ask gave the wrong reply",
            static_cast<std::uint64_t>(asked.value()), static_cast<std::uint64_t>(expected));
    return;
  }
  switch (asked.error().code()) {
    case troupe::AskErrc::failed:
      require(poison, "an ask failed that does not throw");
      require(asked.error().exception() != nullptr, "a failed ask without its exception");
      break;
    case troupe::AskErrc::full:
      require(book.bounded && book.policy == troupe::Overflow::reject,
              "an ask refused Full other than under reject", static_cast<std::uint64_t>(book.policy));
      book.full.fetch_add(1, std::memory_order_relaxed);
      break;
    case troupe::AskErrc::dropped:
      require(book.bounded && book.policy == troupe::Overflow::drop_newest,
              "an ask dropped other than under drop_newest",
              static_cast<std::uint64_t>(book.policy));
      book.told_dropped.fetch_add(1, std::memory_order_relaxed);
      break;
    case troupe::AskErrc::timeout:  // never asserted either way
      if (asked.error().timed_out_unqueued()) {  // refused in effect: the mailbox stayed full
        require(book.bounded && book.policy == troupe::Overflow::backpressure,
                "an ask timed out waiting for room other than under backpressure",
                static_cast<std::uint64_t>(book.policy));
        book.full.fetch_add(1, std::memory_order_relaxed);
      }
      break;
    case troupe::AskErrc::dead:  // stopped, or its request was evicted: allowed
      break;
  }
}

void launch_parcel(Run& run, std::size_t target, std::uint64_t id, std::uint8_t arg) {
  const auto size = static_cast<std::uint8_t>(1 + arg % 64);
  Parcel parcel{id, size, arg, Tracked(BooksRef{&run.books}, size, arg)};
  parcel.payload.route = Route::chain;
  MailBook& book = run.books.mail[target];
  book.attempts.fetch_add(1, std::memory_order_relaxed);
  if (std::optional<Parcel> back = booked(book, run.actors[target].tell(std::move(parcel)))) {
    require(back->id == id, "a tell handed back another parcel", back->id, id);
    back->payload.route = Route::none;
  } else {
    run.books.launched.fetch_add(1, std::memory_order_relaxed);
  }
}

void introduce(Run& run, std::uint8_t arg) {
  const std::size_t a = arg % kWorkers;
  const std::size_t b = (a + 1 + (arg >> 2) % 2) % kWorkers;
  const std::int64_t capacity = (arg >> 4) % 3;
  auto [left, right] = capacity == 0 ? troupe::message_channel<Ping, Ping>()
                                     : troupe::message_channel<Ping, Ping>(capacity);
  MailBook& book_a = run.books.mail[a];
  book_a.attempts.fetch_add(1, std::memory_order_relaxed);
  (void)booked(book_a, run.actors[a].tell(Introduce{std::move(left)}));  // back: closes
  MailBook& book_b = run.books.mail[b];
  book_b.attempts.fetch_add(1, std::memory_order_relaxed);
  (void)booked(book_b, run.actors[b].tell(Introduce{std::move(right)}));
}

void drive(Run& run, std::uint32_t driver, const std::vector<std::span<const std::uint8_t>>& ops) {
  std::array<std::uint64_t, kActors> seq{};
  std::uint64_t parcels = 0;
  for (const std::span<const std::uint8_t> unit : ops) {
    const std::uint8_t op = unit[0];
    const std::uint8_t arg = unit[1];
    const std::size_t target = arg % kActors;
    MailBook& book = run.books.mail[target];
    troupe::ActorRef<Worker>& ref = run.actors[target];
    const bool poison = arg >= 248;
    switch (op % 12) {
      case 0:
      case 1:
      case 2:
      case 3: {
        book.attempts.fetch_add(1, std::memory_order_relaxed);
        Note note{driver, ++seq[target], poison};
        (void)booked(book, op % 12 == 3 ? ref.blocking_send(note) : ref.tell(note));
        break;
      }
      case 4: {
        book.attempts.fetch_add(1, std::memory_order_relaxed);
        const auto timeout = std::chrono::microseconds(100 << ((arg >> 2) % 5));
        book_ask(book, ref.blocking_ask(Query{arg, poison}, timeout), reply_to(arg), poison);
        break;
      }
      case 5: {
        book.attempts.fetch_add(1, std::memory_order_relaxed);
        const auto micros = static_cast<std::uint32_t>(arg % 4 * 100);
        const auto timeout = std::chrono::microseconds(200 << ((arg >> 2) % 4));
        book_ask(book, ref.blocking_ask(Nap{micros}, timeout), micros, false);
        break;
      }
      case 6:
        launch_parcel(run, 0, (std::uint64_t{driver} << 32) | ++parcels, arg);
        break;
      case 7:
        launch_parcel(run, arg % kWorkers, (std::uint64_t{driver} << 32) | ++parcels, arg);
        break;
      case 8: {
        const std::size_t worker = arg % kWorkers;
        MailBook& pumped = run.books.mail[worker];
        pumped.attempts.fetch_add(1, std::memory_order_relaxed);
        (void)booked(pumped, run.actors[worker].tell(Pump{1u + arg % 4u}));
        break;
      }
      case 9:
        introduce(run, arg);
        break;
      case 10:
        if (arg >= 224) {  // rarely: a worker ends mid-stream
          const std::size_t worker = arg % kWorkers;
          run.books.mail[worker].terminated.store(true, std::memory_order_relaxed);
          (void)run.actors[worker].blocking_terminate();
        }
        break;
      default:
        std::this_thread::yield();
        break;
    }
  }
}

// ---- the checks ---------------------------------------------------------------------------------

enum class Ending : std::uint8_t { wait, terminate, shutdown };

void check_mailbox(const MailBook& book, const troupe::ActorStats& stats, std::size_t index) {
  const std::uint64_t attempts = book.attempts.load(std::memory_order_relaxed);
  require(attempts == stats.received + stats.dropped + stats.rejected + stats.dead_letters,
          "attempts != received + dropped + rejected + dead letters", attempts, index);
  require(stats.received == book.entered.load(std::memory_order_relaxed),
          "received differs from the handler entries", stats.received,
          book.entered.load(std::memory_order_relaxed));
  require(stats.rejected == book.full.load(std::memory_order_relaxed),
          "rejected differs from the Full refusals", stats.rejected,
          book.full.load(std::memory_order_relaxed));
  require(stats.dead_letters >= book.closed.load(std::memory_order_relaxed),
          "fewer dead letters than tells handed back Closed", stats.dead_letters, index);
  const std::uint64_t told_dropped = book.told_dropped.load(std::memory_order_relaxed);
  if (book.policy == troupe::Overflow::drop_oldest) {
    require(told_dropped == 0, "a drop_oldest mailbox dropped a new message", told_dropped);
  } else {
    require(stats.dropped == told_dropped, "dropped differs from the drops seen", stats.dropped,
            told_dropped);
  }
  if (!book.bounded) require(stats.dropped + stats.rejected == 0, "an unbounded mailbox was full");
  require(stats.mailbox_depth == 0, "an exited actor's mailbox is not empty", stats.mailbox_depth);
}

void check_exit(const MailBook& book, troupe::ExitCode code, Ending ending, bool supervised,
                bool quota) {
  using troupe::ExitCode;
  bool explained = false;
  switch (code) {
    case ExitCode::normal: explained = ending == Ending::wait; break;
    case ExitCode::failed: explained = book.poison_entered.load(std::memory_order_relaxed) > 0; break;
    case ExitCode::terminated:
      explained = ending == Ending::terminate || book.terminated.load(std::memory_order_relaxed);
      break;
    case ExitCode::start_failed: explained = false; break;
    case ExitCode::shut_down: explained = ending == Ending::shutdown; break;
    case ExitCode::resource_exhausted: explained = quota; break;
    case ExitCode::stopped: explained = supervised; break;
  }
  require(explained, "an exit code the actor's history does not explain",
          static_cast<std::uint64_t>(code), static_cast<std::uint64_t>(ending));
}

troupe::ActorOptions mailbox_options(std::size_t index, std::uint8_t config, MailBook& book) {
  troupe::ActorOptions options;
  options.name = "w" + std::to_string(index);
  options.mailbox_capacity = config % 5;
  options.overflow = static_cast<troupe::Overflow>((config >> 5) % 4);
  book.bounded = options.mailbox_capacity != 0;
  book.policy = options.overflow;
  return options;
}

void run_actors(std::span<const std::uint8_t> config, std::span<const std::uint8_t> ops) {
  const std::uint64_t threads_start = threads_alive();
  const std::uint64_t cells_start = troupe::detail::ActorCell::live();
  const auto ending = static_cast<Ending>(config[0] % 4 == 3 ? 0 : config[0] % 4);
  const bool supervised = (config[0] & 4) != 0;
  const bool quota = (config[0] & 32) != 0;
  auto run = std::make_unique<Run>();
  auto [home_tx, home_rx] = troupe::unbounded_channel<Parcel>();
  std::array<troupe::ActorHandle, kActors> handles;
  std::array<troupe::ExitCode, kActors> codes{};
  std::array<troupe::ActorStats, kActors> stats{};
  {
    troupe::RuntimeOptions runtime_options;
    runtime_options.min_threads = 2;
    runtime_options.max_threads = 2;
    troupe::Runtime rt(runtime_options);
    std::optional<troupe::Supervisor> supervisor;
    if (supervised) {
      troupe::SupervisorOptions options;
      options.name = "fuzz";
      options.strategy = (config[0] & 8) != 0 ? troupe::Strategy::one_for_all
                                              : troupe::Strategy::one_for_one;
      options.max_restarts = config[0] >> 6;
      supervisor.emplace(rt, options);
    }
    const BooksRef books{&run->books};
    for (std::size_t i = kWorkers; i-- > 0;) {  // the chain's end first
      troupe::ActorOptions options = mailbox_options(i, config[1 + i], run->books.mail[i]);
      options.timing = i == 0 && (config[0] & 16) != 0;
      options.byte_quota = i == 1 && quota ? kQuota : 0;
      options.dedicated_thread = i == 2 && (config[1 + i] & 16) != 0;
      troupe::ActorRef<Worker> next = i + 1 < kWorkers ? run->actors[i + 1] : troupe::ActorRef<Worker>();
      run->actors[i] = supervisor ? supervisor->start<Worker>(options, books, i, next, home_tx)
                                  : troupe::spawn_actor<Worker>(rt, options, books, i, next, home_tx);
    }
    run->actors[kGhost] = troupe::spawn_actor<Worker>(
        rt, mailbox_options(kGhost, config[1], run->books.mail[kGhost]), books, kGhost,
        troupe::ActorRef<Worker>(), home_tx);
    require(run->actors[kGhost].blocking_terminate() == troupe::ExitCode::terminated,
            "the ghost did not end terminated");
    home_tx = troupe::Sender<Parcel>();  // the workers hold the home channel open

    std::array<std::thread, kDrivers> drivers;
    for (std::uint32_t d = 0; d < kDrivers; ++d) {
      drivers[d] = std::thread([&run, d, mine = ops_for(ops, d, kDrivers, 2)] {
        drive(*run, d, mine);
      });
    }
    for (std::thread& driver : drivers) driver.join();

    for (std::size_t i = 0; i < kActors; ++i) handles[i] = run->actors[i];
    switch (ending) {
      case Ending::wait:
        run->actors = {};  // the chain ends by itself, each link once its senders are gone
        break;
      case Ending::terminate:
        for (std::size_t i = 0; i < kWorkers; ++i) (void)run->actors[i].blocking_terminate();
        break;
      case Ending::shutdown:
        rt.shutdown();
        break;
    }
    for (std::size_t i = 0; i < kActors; ++i) codes[i] = handles[i].blocking_wait_exit();
    run->actors = {};
    // Every actor has exited: nothing sends any more, the counters are final.
    for (std::size_t i = 0; i < kActors; ++i) stats[i] = handles[i].stats();
  }  // the supervisor, then the Runtime

  Books& books = run->books;
  for (std::size_t i = 0; i < kActors; ++i) {
    check_mailbox(books.mail[i], stats[i], i);
    if (i == kGhost) {
      require(codes[i] == troupe::ExitCode::terminated, "the ghost's exit code changed");
    } else {
      check_exit(books.mail[i], codes[i], ending, supervised, quota && i == 1);
    }
    require(supervised || stats[i].restarts == 0, "an unsupervised actor restarted", i);
  }
  while (auto parcel = home_rx.try_recv()) {
    require(parcel->payload.route == Route::chain, "a parcel came home off its route", parcel->id);
    require(parcel->payload.intact(parcel->size, parcel->fill), "a parcel came home without its bytes",
            parcel->id);
    parcel->payload.route = Route::none;
    books.home.fetch_add(1, std::memory_order_relaxed);
  }
  require(home_rx.try_recv().error() == troupe::RecvError::closed,
          "the home channel is open after every worker exited");
  handles = {};

  const std::uint64_t launched = books.launched.load(std::memory_order_relaxed);
  const std::uint64_t home = books.home.load(std::memory_order_relaxed);
  const std::uint64_t returned = books.returned.load(std::memory_order_relaxed);
  const std::uint64_t lost_chain = books.lost_chain.load(std::memory_order_relaxed);
  require(launched == home + returned + lost_chain,
          "parcels launched != home + handed back + destroyed on the way", launched,
          home + returned + lost_chain);
  const std::uint64_t port_sent = books.port_sent.load(std::memory_order_relaxed);
  const std::uint64_t port_received = books.port_received.load(std::memory_order_relaxed);
  const std::uint64_t lost_port = books.lost_port.load(std::memory_order_relaxed);
  require(port_sent == port_received + lost_port,
          "Pings sent != received + destroyed with a port", port_sent, port_received + lost_port);
  require(books.created.load(std::memory_order_relaxed) == books.freed.load(std::memory_order_relaxed),
          "tracked Buffers live at the end", books.created.load(std::memory_order_relaxed),
          books.freed.load(std::memory_order_relaxed));
  require(troupe::detail::ActorCell::live() == cells_start, "actor cells left at the end",
          troupe::detail::ActorCell::live(), cells_start);
  troupe::fuzz::require_no_thread_left(threads_start);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const std::span<const std::uint8_t> input(data, size);
  run_actors(input.first(4), input.subspan(4, std::min<std::size_t>(size - 4, 2 * kMaxOps)));
  return 0;
}
