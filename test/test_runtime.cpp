// The runtime's core: spawning, joining, nesting, exceptions, cancellation, shutdown, options.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "test_support.hpp"
#include "troupe/runtime/detail/raw_task.hpp"
#include "troupe/runtime/runtime.hpp"

using namespace std::chrono_literals;
using troupe::ErrorCode;
using troupe::Runtime;
using troupe::RuntimeOptions;
using troupe::Task;
using troupe::testing::error_code_of;
using troupe::testing::error_message_of;
using troupe::testing::spin_until;

namespace {

Task<int> forty_two() { co_return 42; }

Task<int> add_children(int n) {
  int sum = 0;
  for (int i = 0; i < n; ++i) sum += co_await forty_two();
  co_return sum;
}

Task<void> throws_runtime_error() {
  throw std::runtime_error("boom");
  co_return;
}

// An operation that completes only when `open` is set and the test wakes it.
struct Gate {
  std::atomic<bool> open{false};
  troupe::WakerRef waiter;
  std::mutex mutex;
  void release() {
    open.store(true);
    std::lock_guard lock(mutex);
    waiter.wake();
  }
};
struct GateOp {
  Gate* gate;
  bool poll(troupe::Waker& waker) {
    std::lock_guard lock(gate->mutex);
    if (gate->open.load()) return true;
    gate->waiter = troupe::WakerRef::share(&waker);
    return false;
  }
  void cancel(troupe::Waker&) noexcept {
    std::lock_guard lock(gate->mutex);
    gate->waiter = {};
  }
  void take() {}
};
troupe::Awaitable<GateOp> wait_for_gate(Gate& gate) {
  return troupe::Awaitable<GateOp>(std::in_place, GateOp{&gate});
}
// 7, once `gate` opens.
Task<int> seven_after(Gate& gate) {
  co_await wait_for_gate(gate);
  co_return 7;
}

RuntimeOptions small(std::size_t threads = 2) {
  RuntimeOptions options;
  options.min_threads = threads;
  options.max_threads = threads + 2;
  return options;
}

}  // namespace

TEST_CASE("block_on runs a task and returns its value" * doctest::timeout(30)) {
  Runtime rt(small());
  CHECK(rt.block_on(forty_two()) == 42);
}

TEST_CASE("a task awaiting other tasks runs them inline and gets their values" *
          doctest::timeout(30)) {
  Runtime rt(small());
  CHECK(rt.block_on(add_children(10)) == 420);
}

TEST_CASE("an exception leaves a task through its JoinHandle" * doctest::timeout(30)) {
  Runtime rt(small());
  auto handle = rt.spawn(throws_runtime_error());
  CHECK_THROWS_WITH_AS(handle.get(), "boom", std::runtime_error);
}

TEST_CASE("an exception in an awaited child reaches the parent's catch" * doctest::timeout(30)) {
  Runtime rt(small());
  auto parent = []() -> Task<int> {
    try {
      co_await throws_runtime_error();
    } catch (const std::runtime_error&) {
      co_return 1;
    }
    co_return 0;
  };
  CHECK(rt.block_on(parent()) == 1);
}

TEST_CASE("a JoinHandle can be taken once; the second take is a clear error" *
          doctest::timeout(30)) {
  Runtime rt(small());
  auto handle = rt.spawn(forty_two());
  CHECK(handle.get() == 42);
  CHECK_FALSE(handle.valid());
  CHECK(error_code_of([&] { (void)handle.get(); }) == ErrorCode::invalid_handle);
  CHECK(error_message_of([&] { (void)handle.get(); }).find("already taken") != std::string::npos);
}

TEST_CASE("a task awaits the JoinHandle of a task it spawned" * doctest::timeout(30)) {
  Runtime rt(small());
  auto parent = []() -> Task<int> {
    auto child = troupe::spawn(forty_two());
    co_return co_await child + 1;
  };
  CHECK(rt.block_on(parent()) == 43);
}

TEST_CASE("a hundred thousand spawned tasks all complete and are joined" * doctest::timeout(60)) {
  Runtime rt(small());
  auto parent = []() -> Task<std::int64_t> {
    std::vector<troupe::JoinHandle<int>> handles;
    handles.reserve(100'000);
    for (int i = 0; i < 100'000; ++i) {
      handles.push_back(troupe::spawn([](int v) -> Task<int> { co_return v; }(i)));
    }
    std::int64_t sum = 0;
    for (auto& h : handles) sum += co_await h;
    co_return sum;
  };
  CHECK(rt.block_on(parent()) == std::int64_t{99'999} * 100'000 / 2);
  const auto m = rt.metrics();
  CHECK(m.tasks_spawned == 100'001);
}

TEST_CASE("a task suspended on an operation is woken from another thread" * doctest::timeout(30)) {
  Runtime rt(small());
  Gate gate;
  auto handle = rt.spawn(seven_after(gate));
  std::thread opener([&] { gate.release(); });
  CHECK(handle.get() == 7);
  opener.join();
}

TEST_CASE("cancelling a suspended task drops it at its await point and runs its destructors" *
          doctest::timeout(30)) {
  Runtime rt(small());
  Gate gate;
  std::atomic<int> destroyed{0};
  struct Guard {
    std::atomic<int>* counter;
    ~Guard() { counter->fetch_add(1); }
  };
  std::latch started(1);
  auto handle = rt.spawn([](Gate& g, std::atomic<int>& d, std::latch& s) -> Task<int> {
    Guard guard{&d};
    s.count_down();
    co_await wait_for_gate(g);
    co_return 1;
  }(gate, destroyed, started));
  started.wait();
  handle.cancel();
  CHECK(error_code_of([&] { (void)handle.get(); }) == ErrorCode::cancelled);
  CHECK(destroyed.load() == 1);
}

TEST_CASE("a stop token given to spawn cancels the task" * doctest::timeout(30)) {
  Runtime rt(small());
  Gate gate;
  std::stop_source source;
  auto handle = rt.spawn([](Gate& g) -> Task<int> {
    co_await wait_for_gate(g);
    co_return 1;
  }(gate), {.name = "waiter", .stop_token = source.get_token()});
  source.request_stop();
  CHECK(error_code_of([&] { (void)handle.get(); }) == ErrorCode::cancelled);
}

TEST_CASE("yield_now lets the other tasks run" * doctest::timeout(30)) {
  Runtime rt(small(1));
  std::atomic<int> order{0};
  auto body = [](std::atomic<int>& o) -> Task<int> {
    for (int i = 0; i < 100; ++i) {
      o.fetch_add(1);
      co_await troupe::this_task::yield_now();
    }
    co_return o.load();
  };
  auto a = rt.spawn(body(order));
  auto b = rt.spawn(body(order));
  CHECK(a.get() >= 100);
  CHECK(b.get() == 200);
}

TEST_CASE("spawn_blocking runs a function off the workers and returns its value" *
          doctest::timeout(30)) {
  Runtime rt(small());
  auto handle = rt.spawn_blocking([] {
    std::this_thread::sleep_for(10ms);
    return std::string("done");
  });
  CHECK(handle.get() == "done");
  auto failing = rt.spawn_blocking([]() -> int { throw std::logic_error("nope"); });
  CHECK_THROWS_AS(failing.get(), std::logic_error);
}

TEST_CASE("shutdown with tasks still suspended cancels them and reports them" *
          doctest::timeout(30)) {
  Gate gate;
  troupe::JoinHandle<int> handle;
  troupe::ShutdownReport report;
  {
    Runtime rt(small());
    handle = rt.spawn([](Gate& g) -> Task<int> {
      co_await wait_for_gate(g);
      co_return 1;
    }(gate), {.name = "stuck", .stop_token = {}});
    for (int i = 0; i < 10; ++i) {
      rt.spawn([](Gate& g) -> Task<int> {
        co_await wait_for_gate(g);
        co_return 1;
      }(gate)).detach();
    }
    rt.shutdown();
    report = rt.shutdown_report();
    CHECK(error_code_of([&] { rt.spawn(forty_two()).detach(); }) == ErrorCode::shut_down);
  }
  CHECK(report.cancelled == 11);
  CHECK(error_code_of([&] { (void)handle.get(); }) == ErrorCode::cancelled);
}

TEST_CASE("invalid runtime options are refused with a message naming the field" *
          doctest::timeout(30)) {
  RuntimeOptions zero;
  zero.min_threads = 0;
  CHECK(error_message_of([&] { Runtime rt(zero); }).find("min_threads") != std::string::npos);
  RuntimeOptions inverted;
  inverted.min_threads = 4;
  inverted.max_threads = 2;
  CHECK(error_message_of([&] { Runtime rt(inverted); }) ==
        "RuntimeOptions: min_threads 4 is greater than max_threads 2");
  RuntimeOptions negative;
  negative.idle_timeout = -5ms;
  CHECK(error_message_of([&] { Runtime rt(negative); }) ==
        "RuntimeOptions::idle_timeout: -5ms is not positive");
  RuntimeOptions no_stall;
  no_stall.stall_threshold = 0ms;
  CHECK(error_code_of([&] { Runtime rt(no_stall); }) == ErrorCode::invalid_argument);
}

TEST_CASE("every runtime option out of range is refused naming the field and the value" *
          doctest::timeout(30)) {
  const auto message_of = [](auto change) {
    RuntimeOptions options;
    change(options);
    CHECK(error_code_of([&] { Runtime rt(options); }) == ErrorCode::invalid_argument);
    return error_message_of([&] { Runtime rt(options); });
  };
  CHECK(message_of([](RuntimeOptions& o) { o.min_threads = 300; }) ==
        "RuntimeOptions::min_threads: 300 is above the limit of 256");
  CHECK(message_of([](RuntimeOptions& o) { o.max_threads = 0; }).find("max_threads: 0") !=
        std::string::npos);
  CHECK(message_of([](RuntimeOptions& o) { o.max_threads = 257; }) ==
        "RuntimeOptions::max_threads: 257 is above the limit of 256");
  CHECK(message_of([](RuntimeOptions& o) { o.stall_threshold = -1ms; }) ==
        "RuntimeOptions::stall_threshold: -1ms is not positive");
  CHECK(message_of([](RuntimeOptions& o) { o.blocking_idle_timeout = 0ms; }) ==
        "RuntimeOptions::blocking_idle_timeout: 0ms is not positive");
  CHECK(message_of([](RuntimeOptions& o) { o.max_blocking_threads = 0; })
            .find("max_blocking_threads: 0") != std::string::npos);
}

TEST_CASE("spawning an empty Task, or spawning off the runtime, is refused" *
          doctest::timeout(30)) {
  Runtime rt(small());
  CHECK(error_code_of([&] { (void)rt.spawn(Task<int>{}); }) == ErrorCode::invalid_handle);
  CHECK(error_message_of([&] { (void)rt.spawn(Task<int>{}); }).find("the Task is empty") !=
        std::string::npos);
  CHECK(error_code_of([] { (void)troupe::spawn(forty_two()); }) == ErrorCode::invalid_argument);
  CHECK(error_message_of([] { (void)troupe::spawn(forty_two()); })
            .find("not called from a runtime thread") != std::string::npos);
}

TEST_CASE("awaiting an empty Task is invalid_handle, not a crash" * doctest::timeout(30)) {
  Runtime rt(small());
  auto awaits_nothing = []() -> Task<int> {
    Task<int> empty;
    co_return co_await std::move(empty);
  };
  CHECK(error_code_of([&] { (void)rt.block_on(awaits_nothing()); }) == ErrorCode::invalid_handle);
  CHECK(error_message_of([&] { (void)rt.block_on(awaits_nothing()); }) ==
        "co_await Task: the Task is empty");
}

TEST_CASE("shutdown from one of the runtime's own tasks is refused: it would join itself" *
          doctest::timeout(30)) {
  Runtime rt(small());
  auto inside = rt.block_on([](Runtime& rt) -> Task<std::string> {
    co_return error_message_of([&] { rt.shutdown(); });
  }(rt));
  CHECK(inside.find("it would join itself") != std::string::npos);
  rt.shutdown();  // from outside it works
}

TEST_CASE("JoinHandle::wait_for refuses a negative timeout and waits out a huge one" *
          doctest::timeout(30)) {
  Runtime rt(small());
  Gate gate;
  auto handle = rt.spawn(seven_after(gate));
  CHECK(error_code_of([&] { (void)handle.wait_for(-1ms); }) == ErrorCode::invalid_argument);
  CHECK(error_message_of([&] { (void)handle.wait_for(-1ms); }) ==
        "JoinHandle::wait_for: timeout -1000000 ns is negative");
  CHECK_FALSE(handle.wait_for(0ms));
  std::thread opener([&gate] {
    std::this_thread::sleep_for(10ms);  // not a timing assertion: the wait is open-ended
    gate.release();
  });
  // hours::max() in nanoseconds overflows 64 bits: it must mean "forever", not a deadline past.
  CHECK(handle.wait_for(std::chrono::hours::max()));
  opener.join();
  CHECK(handle.get() == 7);
  CHECK(error_code_of([&] { (void)handle.wait_for(1ms); }) == ErrorCode::invalid_handle);
}

TEST_CASE("blocking get on a worker thread is refused" * doctest::timeout(30)) {
  Runtime rt(small());
  auto outer = []() -> Task<ErrorCode> {
    auto inner = troupe::spawn(forty_two());
    co_return error_code_of([&] { (void)inner.get(); });
  };
  CHECK(rt.block_on(outer()) == ErrorCode::invalid_argument);
}

TEST_CASE("wakes racing with the Runtime's destruction, and after it, are harmless" *
          doctest::timeout(60)) {
  // A thread keeps waking suspended tasks through references to their wakers (a sender that
  // took a receiver's waker holds one just like this) while the Runtime is destroyed, and
  // goes on after it. ASan and TSan check that nothing freed is touched and nothing leaks.
  constexpr int kTasks = 64;
  for (int round = 0; round < 20; ++round) {
    std::vector<Gate> gates(kTasks);
    std::vector<troupe::WakerRef> wakers(kTasks);
    std::atomic<bool> stop{false};
    std::thread waker;
    {
      Runtime rt(small());
      std::vector<troupe::JoinHandle<int>> handles;
      for (Gate& gate : gates) {
        handles.push_back(rt.spawn([](Gate& g) -> Task<int> {
          co_await wait_for_gate(g);
          co_return 1;
        }(gate)));
      }
      for (int i = 0; i < kTasks; ++i) {
        spin_until([&] {
          std::lock_guard lock(gates[i].mutex);
          return static_cast<bool>(gates[i].waiter);
        });
        std::lock_guard lock(gates[i].mutex);
        wakers[i] = gates[i].waiter;
      }
      waker = std::thread([&] {
        while (!stop.load()) {
          for (const troupe::WakerRef& w : wakers) w.wake();
        }
      });
      handles.clear();  // detached: the Runtime is destroyed with every task still suspended
    }
    stop.store(true);
    waker.join();
    for (const troupe::WakerRef& w : wakers) w.wake();  // after: the tasks are cancelled
    wakers.clear();  // the last references: the tasks, then their scheduler, are freed
  }
}


namespace {

// The hook below holds the first external wake in its window until the drain has completed
// the task (test_hooks::external_wake_queuing).
std::atomic<int> hook_calls{0};
std::atomic<bool> hook_holding{false};
std::atomic<bool> shutdown_returned{false};
void hold_until_complete(troupe::detail::RawTask* task) {
  if (hook_calls.fetch_add(1) != 0) return;
  hook_holding.store(true);
  // The drain completes the task while this wake still holds it unqueued...
  while (!task->is_complete()) std::this_thread::yield();
  // ...and must then wait for this wake before it drops the last reference. Give it the time
  // to (wrongly) finish: shutdown returning first means the task was freed under us, and the
  // wake's next read of it is a use after free (ASan reports it).
  for (int i = 0; i < 20'000 && !shutdown_returned.load(); ++i) std::this_thread::yield();
}

}  // namespace

TEST_CASE("a plain thread's wake that is queueing a task when shutdown drains it is waited for" *
          doctest::timeout(60)) {
  // The waker hands its reference over to the queue (wake_and_release, as a channel's sender
  // does), and the task has no other: detached, its operation's registration taken out.
  hook_calls.store(0);
  hook_holding.store(false);
  shutdown_returned.store(false);
  troupe::detail::test_hooks::external_wake_queuing.store(&hold_until_complete);
  struct ResetHook {
    ~ResetHook() { troupe::detail::test_hooks::external_wake_queuing.store(nullptr); }
  } reset_hook;
  Gate gate;
  std::thread waker;
  const auto registered = [&] {
    std::lock_guard lock(gate.mutex);
    return static_cast<bool>(gate.waiter);
  };
  {
    Runtime rt(small());
    rt.spawn(seven_after(gate)).detach();
    for (;;) {
      spin_until(registered);
      troupe::WakerRef reference;
      {
        std::lock_guard lock(gate.mutex);
        reference = std::move(gate.waiter);
      }
      waker = std::thread([reference = std::move(reference)]() mutable {
        reference.wake_and_reset();  // the task goes idle -> scheduled; the hook holds us there
      });
      // A wake that came before the task's poll had ended only marked it (no queueing, no
      // hook): it is polled again and registers anew. Then wake it again.
      spin_until([&] { return hook_holding.load() || registered(); });
      if (hook_holding.load()) break;
      waker.join();
    }
    rt.shutdown();  // the drain cancels the task while the wake above still holds it
    shutdown_returned.store(true);
    CHECK(rt.shutdown_report().cancelled == 1);
  }
  waker.join();
  CHECK(hook_calls.load() == 1);
}
