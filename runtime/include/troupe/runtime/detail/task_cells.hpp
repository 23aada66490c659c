// The typed RawTasks: a spawned coroutine, a blocking function. Not API.
#pragma once

#include <exception>
#include <optional>
#include <stop_token>
#include <type_traits>
#include <utility>
#include <variant>

#include "troupe/runtime/detail/raw_task.hpp"
#include "troupe/runtime/task.hpp"

namespace troupe::detail {

template <class T>
using Stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

// A RawTask that produces a T: the result waits here for the JoinHandle.
template <class T>
class TypedTask : public RawTask {
 public:
  std::optional<Stored<T>> result;  // written before kComplete (ending == value)

  // Cancels the task when `token` is stopped (std::stop_callback; may run at once).
  void watch(const std::stop_token& token) {
    if (token.stop_possible()) on_stop_.emplace(token, CancelOnStop{this});
  }

 protected:
  template <class F>
  void store_result(F&& produce) noexcept {
    try {
      if constexpr (std::is_void_v<T>) {
        std::forward<F>(produce)();
        result.emplace();
      } else {
        result.emplace(std::forward<F>(produce)());
      }
      ending = Ending::value;
    } catch (...) {
      error = std::current_exception();
      ending = Ending::exception;
    }
  }

 private:
  struct CancelOnStop {
    RawTask* task;
    void operator()() const noexcept { task->request_cancel(); }
  };
  std::optional<std::stop_callback<CancelOnStop>> on_stop_;
};

// A spawned Task<T>: the root of a chain of coroutine frames.
template <class T>
class CoroutineTask final : public TypedTask<T> {
 public:
  explicit CoroutineTask(Task<T> task) : task_(std::move(task)) {
    auto handle = task_.handle();
    handle.promise().set_context(&this->context);
    this->context.leaf = handle;
  }

  bool run() override {
    AwaitContext& context = this->context;
    try {
      if (context.pending != nullptr) {
        if (!context.pending->poll(*this)) return false;  // still waiting: woken spuriously
        context.pending = nullptr;
      }
      context.leaf.resume();
    } catch (...) {
      // Only an operation's poll can throw here (the coroutine body's exceptions are caught
      // by its promise): the task fails with that error.
      this->error = std::current_exception();
      this->ending = Ending::exception;
      drop_frames();
      return true;
    }
    if (!task_.handle().done()) return false;
    this->store_result([&] { return task_.handle().promise().take(); });
    task_ = Task<T>();  // free the frame now; only the result is kept
    return true;
  }

  void drop() noexcept override {
    drop_frames();
    this->ending = Ending::cancelled;
  }

 private:
  void drop_frames() noexcept {
    AwaitContext& context = this->context;
    if (context.pending != nullptr) {
      context.pending->cancel(*this);
      context.pending = nullptr;
    }
    task_ = Task<T>();  // destroys every frame of the chain, running the locals' destructors
  }

  Task<T> task_;
};

// A function run by spawn_blocking on the blocking pool. It is never woken: its state keeps
// kScheduled until it completes, so wakes only set kNotified.
template <class T, class F>
class BlockingTask final : public TypedTask<T> {
 public:
  explicit BlockingTask(F function) : function_(std::move(function)) {}

  bool run() override {
    this->store_result([&]() -> decltype(auto) { return std::move(*function_)(); });
    function_.reset();
    return true;
  }
  void drop() noexcept override {
    function_.reset();
    this->ending = Ending::cancelled;
  }

 private:
  std::optional<F> function_;
};

}  // namespace troupe::detail
