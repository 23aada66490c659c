// troupe/channels/byte_account.hpp — counts the bytes of the Buffers one owner holds, against a
// limit (an actor's byte quota, Node's resourceLimits done per actor).
//
// Which Buffers count. The thread's *current account* (ByteAccount::Scope; the runtime installs
// a task's account around each of its polls, see SpawnOptions::byte_account) is charged for
//  - every Buffer allocated on that thread (constructor, copy_of, clone): past the limit the
//    allocation fails with Error(resource_exhausted) naming the owner, nothing allocated;
//  - every Buffer moved on that thread that belonged to another account or none (a transfer
//    in: a received message moved out of its channel, into a handler). Moves cannot fail, so
//    a transfer past the limit is recorded (exceeded()) for the owner to act on.
// A Buffer moved on a thread with no current account leaves its account (code outside every
// owner took it). The bytes are refunded when the Buffer is destroyed or leaves.
// Once a charge is refused or a transfer goes past the limit, exceeded() stays true until
// reset_exceeded() (the actors fail the actor with ExitCode::resource_exhausted).
//
// Thread-safety: every member function may be called from any thread. The counters are
// relaxed atomics (statistics); the limit is enforced by a CAS on `used` for allocations.
// Lifetime: reference-counted (each charged Buffer and each Scope holds a reference).
#pragma once

#include <atomic>
#include <cstddef>
#include <string>

namespace troupe {

class ByteAccount {
 public:
  // A new account with one reference (the caller's). Throws Error(invalid_argument) for a
  // zero limit.
  static ByteAccount* create(std::size_t limit, std::string owner);
  void retain() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept;

  [[nodiscard]] std::size_t limit() const noexcept { return limit_; }
  [[nodiscard]] std::size_t used() const noexcept { return used_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::size_t peak() const noexcept { return peak_.load(std::memory_order_relaxed); }
  [[nodiscard]] bool exceeded() const noexcept {
    return exceeded_.load(std::memory_order_relaxed);
  }
  void reset_exceeded() noexcept { exceeded_.store(false, std::memory_order_relaxed); }
  [[nodiscard]] const std::string& owner() const noexcept { return owner_; }
  // "byte quota of <owner> exceeded: holds N bytes (peak P), limit L"
  [[nodiscard]] std::string describe() const;

  // An allocation of `bytes`: charged, or Error(resource_exhausted) (and exceeded()).
  void charge_allocation(std::size_t bytes);
  // A transfer in of `bytes`: always charged; past the limit, exceeded() becomes true.
  void charge_transfer(std::size_t bytes) noexcept;
  void refund(std::size_t bytes) noexcept {
    used_.fetch_sub(bytes, std::memory_order_relaxed);
  }

  // The calling thread's current account (nullptr: none).
  [[nodiscard]] static ByteAccount* current() noexcept { return tls_current; }

  // Makes `account` (may be null) the thread's current account while alive; restores the
  // previous one after. Does not take a reference: the account must outlive the scope.
  class Scope {
   public:
    explicit Scope(ByteAccount* account) noexcept : previous_(tls_current) {
      tls_current = account;
    }
    ~Scope() { tls_current = previous_; }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    ByteAccount* previous_;
  };

  // For the runtime's poll loop: sets the current account without a scope object.
  static void set_current(ByteAccount* account) noexcept { tls_current = account; }

 private:
  ByteAccount(std::size_t limit, std::string owner) : limit_(limit), owner_(std::move(owner)) {}
  void note_peak(std::size_t now) noexcept;

  static inline thread_local ByteAccount* tls_current = nullptr;

  const std::size_t limit_;
  const std::string owner_;
  std::atomic<std::size_t> refs_{1};
  std::atomic<std::size_t> used_{0};
  std::atomic<std::size_t> peak_{0};
  std::atomic<bool> exceeded_{false};
};

}  // namespace troupe
