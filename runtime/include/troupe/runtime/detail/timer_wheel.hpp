// TimerWheel: the hierarchical timing wheel behind the runtime's timers (sleep_for, timeouts,
// intervals). Not API.
//
//   struct Sleeper : TimerEntry { Waker* waker; };
//   wheel.insert(sleeper, wheel.now() + 250);             // O(1), no allocation
//   wheel.remove(sleeper);                                // O(1), cancels; a no-op if fired
//   std::optional<std::uint64_t> at = wheel.next_deadline();   // sleep until then (or forever)
//   wheel.advance(clock_ms(), [](TimerEntry& e) { static_cast<Sleeper&>(e).waker->wake(); });
//
// Time is a count of ticks of one millisecond on a clock of the runtime's choosing (typically
// milliseconds of steady_clock since the runtime started); the wheel never reads a clock itself.
// Entries are intrusive: the runtime derives its timer objects from TimerEntry (or embeds one and
// recovers the owner from it), so inserting and cancelling allocate nothing, and a million
// pending timers cost their entries plus a fixed ~6 KiB of wheel.
//
// Algorithm: the hashed hierarchical timing wheel of Varghese & Lauck ("Hashed and hierarchical
// timing wheels", SOSP 1987), in the form of tokio's timer wheel: levels of 64 slots, slot i of
// level L covering 64^L ticks, one intrusive list per slot, and per level a 64-bit bitmap of
// non-empty slots, so that the next slot to process is found with two bit scans (first level
// with a non-empty slot, then its first slot). An entry goes to the level of the highest bit in
// which its deadline differs from now(): it shares every higher bit with now() and lies in a
// later slot of that level than now() does. That makes each level hold only the current
// revolution of its ring, and the first non-empty slot of the lowest non-empty level is the
// earliest one. Advancing time processes occupied slots in that order: it moves now() to the
// slot's start, fires the entries due and re-inserts the others, which now land on a lower
// level ("cascading"); an entry cascades at most once per level it starts above level 0.
// Deviations from tokio:
//  * 11 levels instead of 6 (11 × 6 bits ≥ 64), so that every 64-bit deadline has an exact place
//    and nothing is clamped: a deadline of days or years is as exact as one of milliseconds
//    (tokio clamps at ~2 years). The extra levels cost 2.5 KiB of list heads and nothing per
//    operation: the lowest non-empty level comes from one more bitmap, not from a loop.
//  * A deadline that has already passed is accepted (tokio refuses it): the entry waits on an
//    "overdue" list and fires on the next advance(), whatever time that advance is given.
//  * The fire callback runs for one entry at a time, with the entry already unlinked and the
//    wheel consistent, so the callback may insert, remove and re-insert freely, even the entry
//    it was called for (an interval re-arming itself) or entries due in the same advance.
//
// Thread-safety: none; the runtime guards a wheel with a mutex. Entries may only be touched
// (inserted, removed, destroyed) under the same guard as the wheel they are linked into.
#pragma once

#include <array>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace troupe::detail {

class TimerWheel;

// A timer, as the wheel sees it: a deadline and the links of the list it waits on. Derive from
// it (the fire callback gets a TimerEntry& back: static_cast it to the derived type) or embed it.
// Neither copyable nor movable: the wheel points at it while it is linked. It must be removed
// (or have fired, or its wheel be cleared or destroyed) before it is destroyed; a debug build
// asserts this.
class TimerEntry {
 public:
  TimerEntry() noexcept = default;
  TimerEntry(const TimerEntry&) = delete;
  TimerEntry& operator=(const TimerEntry&) = delete;
  ~TimerEntry() { assert(!linked() && "TimerEntry destroyed while still in a TimerWheel"); }

  // True while the entry waits in a wheel: from insert until it is removed or, just before its
  // fire callback runs, unlinked to fire.
  [[nodiscard]] bool linked() const noexcept { return list_ != kUnlinked; }
  // The deadline given to the last insert (ticks of the wheel's clock); 0 if never inserted.
  // Kept as given, also when it was already in the past.
  [[nodiscard]] std::uint64_t deadline_ms() const noexcept { return deadline_; }

 private:
  friend class TimerWheel;
  static constexpr std::uint16_t kUnlinked = 0xFFFF;

  TimerEntry* next_ = nullptr;
  TimerEntry* prev_ = nullptr;
  std::uint64_t deadline_ = 0;
  std::uint16_t list_ = kUnlinked;  // index of the list it is on (a slot, or overdue/due)
};

class TimerWheel {
 public:
  static constexpr unsigned kSlotBits = 6;
  static constexpr unsigned kSlots = 1u << kSlotBits;  // per level
  static constexpr unsigned kLevels = 11;              // 11 × 6 bits cover every uint64 deadline

  // An empty wheel whose clock reads now_ms.
  explicit TimerWheel(std::uint64_t now_ms = 0) noexcept : now_(now_ms) {}
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;
  // Unlinks the entries still pending, without firing them (see clear()).
  ~TimerWheel() { clear(); }

  // Schedules `e` to fire at `deadline_ms` (absolute ticks). O(1), no allocation, never fails.
  // A deadline in the future fires in the first advance() given a time at or after it. A
  // deadline at or before now() is overdue: it fires in the next advance(), whatever time that
  // is given, counting as due at now() for the order of firing. Inserting an entry that is
  // already in this wheel reschedules it (a remove, then an insert). The entry must not be linked
  // into another wheel.
  void insert(TimerEntry& e, std::uint64_t deadline_ms) noexcept {
    if (e.linked()) {
      unlink(e);
    } else {
      ++size_;
    }
    e.deadline_ = deadline_ms;
    if (deadline_ms <= now_) {
      push_overdue(kOverdue, e);
    } else {
      place(e);
    }
  }

  // Cancels `e`: it will not fire. O(1), no allocation. A no-op for an entry that is not linked
  // (never inserted, already fired, already removed), so cancelling races with firing harmlessly
  // as long as both happen under the wheel's guard. Safe from inside a fire callback, also for
  // entries due in the same advance() that have not fired yet: they no longer fire.
  void remove(TimerEntry& e) noexcept {
    if (!e.linked()) return;
    unlink(e);
    --size_;
  }

  // Moves the clock to now_ms and fires every entry due by then, calling fire(TimerEntry&) once
  // for each, in deadline order (entries of one tick in any order; overdue entries first).
  // Returns how many fired. An entry never fires before its deadline and always fires in the
  // first advance() given a time at or after its deadline. A now_ms earlier than now() does not
  // move the clock back: only the overdue entries fire.
  //
  // Each entry is unlinked (linked() is false) before its callback runs, and the wheel is in a
  // consistent state during the callback, with now() reading the tick being fired (the entry's
  // deadline, or the old now() for an overdue entry). So the callback may insert, remove, and
  // re-insert any entry, including this one: a deadline after now() and at or before now_ms
  // fires later in this same advance(), a deadline at or before now() waits for the next
  // advance() (so that an entry re-armed for "now" cannot loop forever). The callback must not
  // call advance() or clear(). If it throws, the exception propagates: the entry it was called
  // for stays unlinked, the entries not yet fired stay linked, the clock stays at the tick being
  // fired, and the next advance() (given a time not before now()) fires them.
  //
  // Cost: O(1) per occupied slot passed plus O(1) per fired entry, plus O(1) per cascade of an
  // entry (at most one per level it started above level 0, i.e. at most ~log64 of its
  // distance in ticks). A jump of days costs no more than the entries it passes.
  template <class F>
  std::size_t advance(std::uint64_t now_ms, F&& fire) {
    assert(!advancing_ && "TimerWheel::advance called from a fire callback");
    AdvanceScope scope(advancing_);
    // Overdue entries first: they are earlier than anything in the slots. Moved to the due list
    // as one batch, so that the callbacks' own overdue insertions wait for the next advance.
    TimerEntry* e = heads_[kOverdue];
    heads_[kOverdue] = nullptr;
    while (e != nullptr) {
      TimerEntry* next = e->next_;
      push_front(kDue, *e);
      e = next;
    }
    std::size_t fired = fire_list(kDue, fire);
    while (levels_occupied_ != 0) {
      const unsigned level = static_cast<unsigned>(std::countr_zero(levels_occupied_));
      const unsigned slot = static_cast<unsigned>(std::countr_zero(occupied_[level]));
      const std::uint64_t start = slot_start(level, slot);
      if (start > now_ms) break;
      now_ = start;
      if (level == 0) {
        // Every entry of a level-0 slot is due at its start, and no insert can land in the slot
        // while now_ is its start (a later deadline goes to another slot, an earlier one is
        // overdue): fire straight from it, saving a pass over the list.
        fired += fire_list(static_cast<std::uint16_t>(slot), fire);
      } else {
        cascade(level, slot);
        fired += fire_list(kDue, fire);
      }
    }
    if (now_ms > now_) now_ = now_ms;
    return fired;
  }

  // The earliest time at which an entry may be due, or nullopt if the wheel is empty: sleeping
  // until then and calling advance() misses nothing. O(1). Never later than the earliest pending
  // deadline, and exact when that deadline lies in the same aligned block of 64 ticks as now()
  // (the entry is on level 0); otherwise it may be earlier, down to the start of the slot that
  // holds the entry: an advance() to that time fires nothing but re-files the slot's entries one
  // level down, and the next call is finer (at most one such early wake-up per level). With
  // overdue entries pending it is at or before the earliest overdue deadline, so at or before
  // now(): don't sleep.
  [[nodiscard]] std::optional<std::uint64_t> next_deadline() const noexcept {
    if (heads_[kOverdue] != nullptr || heads_[kDue] != nullptr) return overdue_floor_;
    if (levels_occupied_ == 0) return std::nullopt;
    const unsigned level = static_cast<unsigned>(std::countr_zero(levels_occupied_));
    const unsigned slot = static_cast<unsigned>(std::countr_zero(occupied_[level]));
    return slot_start(level, slot);
  }

  // Unlinks every pending entry without firing it; the clock keeps its time. O(entries).
  void clear() noexcept {
    assert(!advancing_ && "TimerWheel::clear called from a fire callback");
    for (TimerEntry*& head : heads_) {
      for (TimerEntry* e = head; e != nullptr;) {
        TimerEntry* next = e->next_;
        reset(*e);
        e = next;
      }
      head = nullptr;
    }
    occupied_ = {};
    levels_occupied_ = 0;
    size_ = 0;
  }

  // Entries pending (inserted, not yet removed or fired). O(1).
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  // The wheel's clock: the time of the last advance() (or of the constructor), never decreasing.
  [[nodiscard]] std::uint64_t now() const noexcept { return now_; }

 private:
  static constexpr std::uint16_t kSlotLists = kLevels * kSlots;
  static constexpr std::uint16_t kOverdue = kSlotLists;  // inserted at or before now()
  static constexpr std::uint16_t kDue = kSlotLists + 1;  // due in this advance, not yet fired
  static_assert(kDue < TimerEntry::kUnlinked);
  static_assert(kLevels * kSlotBits >= 64 && (kLevels - 1) * kSlotBits < 64);

  struct AdvanceScope {
    explicit AdvanceScope(bool& flag) noexcept : flag_(flag) { flag_ = true; }
    ~AdvanceScope() { flag_ = false; }
    AdvanceScope(const AdvanceScope&) = delete;
    AdvanceScope& operator=(const AdvanceScope&) = delete;
    bool& flag_;
  };

  // The start of `slot` in `level`'s current revolution: now()'s bits above the level, the
  // slot's index in the level's 6 bits, zeros below.
  [[nodiscard]] std::uint64_t slot_start(unsigned level, unsigned slot) const noexcept {
    const unsigned shift = level * kSlotBits;
    const unsigned above = shift + kSlotBits;
    const std::uint64_t high = above >= 64 ? 0 : now_ & ~((std::uint64_t{1} << above) - 1);
    return high | (std::uint64_t{slot} << shift);
  }

  // Files an entry whose deadline is after now_ into its slot.
  void place(TimerEntry& e) noexcept {
    assert(e.deadline_ > now_);
    // The highest bit where deadline and now differ decides the level: above it they agree, and
    // in it the deadline has the 1, so its slot comes after now's slot on that level.
    const unsigned top_bit = static_cast<unsigned>(std::bit_width(e.deadline_ ^ now_)) - 1;
    const unsigned level = top_bit / kSlotBits;
    const unsigned slot = static_cast<unsigned>(e.deadline_ >> (level * kSlotBits)) & (kSlots - 1);
    push_front(static_cast<std::uint16_t>(level * kSlots + slot), e);
    occupied_[level] |= std::uint64_t{1} << slot;
    levels_occupied_ |= 1u << level;
  }

  // Puts an entry due at or before now_ on the overdue or due list, keeping overdue_floor_ a
  // lower bound of the deadlines on those two lists.
  void push_overdue(std::uint16_t list, TimerEntry& e) noexcept {
    if (heads_[kOverdue] == nullptr && heads_[kDue] == nullptr) {
      overdue_floor_ = e.deadline_;
    } else if (e.deadline_ < overdue_floor_) {
      overdue_floor_ = e.deadline_;
    }
    push_front(list, e);
  }

  void push_front(std::uint16_t list, TimerEntry& e) noexcept {
    TimerEntry* head = heads_[list];
    e.prev_ = nullptr;
    e.next_ = head;
    if (head != nullptr) head->prev_ = &e;
    heads_[list] = &e;
    e.list_ = list;
  }

  void unlink(TimerEntry& e) noexcept {
    const std::uint16_t list = e.list_;
    if (e.prev_ != nullptr) {
      e.prev_->next_ = e.next_;
    } else {
      heads_[list] = e.next_;
    }
    if (e.next_ != nullptr) e.next_->prev_ = e.prev_;
    if (list < kSlotLists && heads_[list] == nullptr) {
      const unsigned level = list / kSlots;
      occupied_[level] &= ~(std::uint64_t{1} << (list % kSlots));
      if (occupied_[level] == 0) levels_occupied_ &= ~(1u << level);
    }
    reset(e);
  }

  static void reset(TimerEntry& e) noexcept {
    e.next_ = nullptr;
    e.prev_ = nullptr;
    e.list_ = TimerEntry::kUnlinked;
  }

  // Empties a slot whose start now_ has reached: entries due go to the due list, the others to
  // their slot on a lower level.
  void cascade(unsigned level, unsigned slot) noexcept {
    const std::uint16_t list = static_cast<std::uint16_t>(level * kSlots + slot);
    TimerEntry* e = heads_[list];
    heads_[list] = nullptr;
    occupied_[level] &= ~(std::uint64_t{1} << slot);
    if (occupied_[level] == 0) levels_occupied_ &= ~(1u << level);
    while (e != nullptr) {
      TimerEntry* next = e->next_;
      if (e->deadline_ <= now_) {
        push_overdue(kDue, *e);
      } else {
        place(*e);
      }
      e = next;
    }
  }

  // Fires a list (the due list, or a level-0 slot whose tick has come) one entry at a time, each
  // unlinked before its callback, until the list is empty.
  template <class F>
  std::size_t fire_list(std::uint16_t list, F& fire) {
    std::size_t fired = 0;
    while (TimerEntry* e = heads_[list]) {
      unlink(*e);
      --size_;
      ++fired;
      fire(*e);
    }
    return fired;
  }

  std::array<TimerEntry*, kSlotLists + 2> heads_{};  // per slot, then overdue and due
  std::array<std::uint64_t, kLevels> occupied_{};    // bit s of [L]: slot s of level L non-empty
  std::uint32_t levels_occupied_ = 0;                // bit L: occupied_[L] != 0
  std::uint64_t now_;
  std::uint64_t overdue_floor_ = 0;  // lower bound of the deadlines on the overdue and due lists
  std::size_t size_ = 0;
  bool advancing_ = false;
};

}  // namespace troupe::detail
