// troupe/runtime/task.hpp — Task<T>, the coroutine type of troupe's runtime.
//
//   troupe::Task<int> answer(troupe::Receiver<int>& rx) {
//     int sum = 0;
//     while (auto m = co_await rx.recv()) sum += *m;   // suspends while the channel is empty
//     co_return sum;
//   }
//   troupe::Runtime rt;
//   int total = rt.block_on(answer(rx));              // or: auto h = rt.spawn(answer(rx));
//
// A Task is lazy: creating one runs nothing. It runs when spawned (Runtime::spawn, which
// returns a JoinHandle) or when another task awaits it (`co_await child()`), in which case it
// runs inline, in the awaiting task, with no scheduling cost — like calling an async function
// in Rust. Inside a task, `co_await` accepts troupe's awaitable operations (channel send/recv,
// select, sleeps, joins, locks; see channels/awaitable.hpp) and other Tasks. An exception that
// leaves a task is stored and rethrown to whoever awaits it (the parent task or the
// JoinHandle).
//
// Cancellation: a spawned task can be cancelled (JoinHandle::cancel, a stop token given to
// spawn, runtime shutdown). It is dropped at its next await point: its frames are destroyed,
// which runs the destructors of its locals, exactly as if every suspended co_await had
// returned through an invisible exit. Code between two awaits always runs to the next one;
// a long computation can check `this_task::cancelled()`.
//
// Thread-safety: a Task object is a move-only, single-owner value. A running task executes on
// one worker thread at a time, but successive polls may run on different workers (after a
// steal); everything one poll wrote happens-before the next poll (the scheduler's queues and
// the task's state word carry that ordering).
#pragma once

#include <coroutine>
#include <cstddef>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "troupe/channels/awaitable.hpp"
#include "troupe/channels/detail/line_alloc.hpp"
#include "troupe/channels/error.hpp"

namespace troupe {

template <class T = void>
class Task;

namespace detail {

class PromiseBase {
 public:
  AwaitContext& await_context() noexcept { return *context_; }
  void set_context(AwaitContext* context) noexcept { context_ = context; }
  void set_continuation(std::coroutine_handle<> continuation) noexcept {
    continuation_ = continuation;
  }

  // Coroutine frames: the plain operator new, and the sized delete. Without these GCC frees a
  // frame with the unsized delete, which jemalloc serves on a slower path (it must look the
  // size up). (Only the sized delete: at class scope an unsized one would be chosen over it.)
  // NOLINTNEXTLINE(misc-new-delete-overloads): the sized delete below is the matching one
  static void* operator new(std::size_t size) { return ::operator new(size); }
  static void operator delete(void* frame, std::size_t size) noexcept {
    delete_sized(frame, size);
  }

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> self) noexcept {
      PromiseBase& promise = self.promise();
      if (promise.continuation_) {
        // Back to the awaiting coroutine, in the same task: symmetric transfer, no stack growth.
        promise.context_->leaf = promise.continuation_;
        return promise.continuation_;
      }
      return std::noop_coroutine();  // a spawned task's root: control returns to the scheduler
    }
    void await_resume() noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }

  void unhandled_exception() noexcept { error_ = std::current_exception(); }
  [[nodiscard]] const std::exception_ptr& error() const noexcept { return error_; }

 private:
  AwaitContext* context_ = nullptr;
  std::coroutine_handle<> continuation_;
  std::exception_ptr error_;
};

template <class T>
class Promise : public PromiseBase {
 public:
  Task<T> get_return_object() noexcept;
  template <class U = T>
    requires std::is_convertible_v<U&&, T>
  void return_value(U&& value) {
    value_.emplace(std::forward<U>(value));
  }
  // The result: rethrows the coroutine's exception. Once.
  T take() {
    if (error()) std::rethrow_exception(error());
    return std::move(*value_);
  }

 private:
  std::optional<T> value_;
};

template <>
class Promise<void> : public PromiseBase {
 public:
  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void take() {
    if (error()) std::rethrow_exception(error());
  }
};

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
 public:
  using promise_type = detail::Promise<T>;
  using value_type = T;

  Task() noexcept = default;
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task&& other) noexcept {
    Task(std::move(other)).swap(*this);
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() {
    if (handle_) handle_.destroy();  // destroys the whole chain of frames it is awaiting
  }
  void swap(Task& other) noexcept { std::swap(handle_, other.handle_); }

  [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(handle_); }

  // Awaiting a Task runs it inline in the awaiting task and yields its result (or rethrows).
  class Awaiter {
   public:
    explicit Awaiter(std::coroutine_handle<promise_type> child) noexcept : child_(child) {}
    bool await_ready() noexcept { return false; }
    template <detail::AwaitingPromise P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> parent) noexcept {
      detail::AwaitContext& context = parent.promise().await_context();
      child_.promise().set_context(&context);
      child_.promise().set_continuation(parent);
      context.leaf = child_;
      return child_;
    }
    T await_resume() { return child_.promise().take(); }

   private:
    std::coroutine_handle<promise_type> child_;
  };
  Awaiter operator co_await() && {
    if (!handle_) throw Error(ErrorCode::invalid_handle, "co_await Task: the Task is empty");
    return Awaiter(handle_);
  }

  // For the runtime: the coroutine's handle (ownership stays with the Task).
  [[nodiscard]] std::coroutine_handle<promise_type> handle() const noexcept { return handle_; }

 private:
  friend class detail::Promise<T>;
  explicit Task(std::coroutine_handle<promise_type> handle) noexcept : handle_(handle) {}
  std::coroutine_handle<promise_type> handle_;
};

namespace detail {
template <class T>
Task<T> Promise<T>::get_return_object() noexcept {
  return Task<T>(std::coroutine_handle<Promise<T>>::from_promise(*this));
}
inline Task<void> Promise<void>::get_return_object() noexcept {
  return Task<void>(std::coroutine_handle<Promise<void>>::from_promise(*this));
}
}  // namespace detail

}  // namespace troupe
