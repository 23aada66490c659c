// troupe/channels/sendable.hpp — which types may travel through a channel: Rust's `Send` for C++.
//
//   static_assert(troupe::Sendable<Order>);       // checked for you where a channel is declared
//   troupe::why_not_sendable<Order>()              // "" or which member is the problem, and why
//
// Messages are *moved* from one thread (or actor) to another. A type is Sendable when moving
// it hands over everything it refers to, so that after the send the sender keeps nothing the
// receiver can see: no reference, no pointer, no view into memory the sender still owns, no
// mutable object both sides could reach without synchronization.
//
// Rejected (each is a `SendableVerdict`, reported by `sendable_diagnosis<T>`):
//  * references: T&, T&&, std::reference_wrapper, std::atomic_ref, std::unique_lock and
//    std::shared_lock (they refer to a mutex the sender locked), and reference members;
//  * raw object pointers, including `const T*` and `void*`: the pointee is neither owned nor
//    kept alive by the message (own it with std::unique_ptr; share it read-only with
//    std::shared_ptr<const T>). A std::pmr allocator inside a container counts as one: it
//    points at a memory_resource the sender owns;
//  * std::shared_ptr<T> and std::weak_ptr<T> to non-const T: both sides could mutate the
//    pointee without synchronization;
//  * borrowed views: std::string_view, std::span, std::initializer_list;
//  * type-erased values: std::function (and anything with `target_type()`), std::any,
//    std::packaged_task — they can capture references or pointers troupe cannot see;
//  * types that are not movable objects (void, functions, C arrays at top level, std::mutex,
//    std::atomic<T>): messages are moved;
//  * anything containing one of these where troupe can look inside (below).
//
// Accepted: arithmetic types, enums, std::nullptr_t, function pointers and pointers to members
// (they address code or offsets, not state), and every type built from Sendable parts:
//  * containers that own their elements (any type with `value_type` and `allocator_type`:
//    std::vector, std::string, std::deque, std::list, std::map, std::unordered_set, ...) and
//    container adaptors (std::queue, std::stack, std::priority_queue);
//  * tuple-like types (std::tuple, std::pair, std::array, anything with std::tuple_size),
//    std::optional, std::variant, troupe::Result, C arrays as members;
//  * std::unique_ptr<T, D> (T and D Sendable); std::shared_ptr<const T> and
//    std::weak_ptr<const T> (T Sendable);
//  * aggregates (plain structs) whose fields are all Sendable, found by aggregate reflection:
//    up to 32 fields, nested aggregates and recursive types (a tree of std::unique_ptr<Node>)
//    included.
//
// Opting in and out. Specialize one of two variable templates, next to the type's definition
// (before anything checks it: the answer is computed once per type):
//
//   struct Arena { std::byte* base; std::size_t used; };  // owns `base`; moved, never shared
//   template <> inline constexpr bool troupe::enable_sendable<Arena> = true;   // I promise
//
//   struct Cursor { std::vector<int> rows; std::size_t at; };  // pointless to send
//   template <> inline constexpr bool troupe::disable_sendable<Cursor> = true;  // forbid it
//
// enable_sendable<T> is a promise by the author of T that moving a T hands over everything it
// refers to (or that what stays shared is synchronized — troupe's own handles such as Sender,
// Port and SharedBuffer opt in this way). troupe then skips the inspection of T, but T must
// still be a movable object. disable_sendable<T> rejects T and everything containing it.
// Specializing both for one type is a compile error.
//
// Diagnostics. `Sendable<T>` is a conjunction of one named concept per reason
// (`NoReferenceInside`, `NoRawPointerInside`, ...), so a failed check names the reason;
// `sendable_diagnosis<T>` gives the reason and the offending type at compile time, and
// `why_not_sendable<T>()` spells both out as a sentence.
//
// What this does not guarantee. The check is a safety net, not a proof:
//  * A class with private members cannot be looked inside and is accepted: a class that
//    privately holds a raw pointer, a lambda that captured a reference, an iterator, a
//    std::shared_ptr<const T> whose T has `mutable` members. Such classes should be written
//    to be safe to move between threads, or opt out.
//  * Aggregates troupe cannot enumerate are accepted without inspection: more than 32 fields,
//    a base class, a field of a type without a default constructor (lvalue-reference fields
//    are still detected there); so are unions. An aggregate with an anonymous union member
//    cannot be reflected at all ("cannot decompose class type ... anonymous union member" is
//    reported from inside this header): opt such a type in or out explicitly.
//  * An incomplete type (a forward-declared pimpl behind std::unique_ptr) is accepted.
//  * A value reached through a std::shared_ptr<const T> is immutable only if T says so.
// Thread-safety: compile-time only; nothing here runs or allocates except why_not_sendable().
#pragma once

#include <any>
#include <atomic>
#include <cstddef>
#include <functional>
#include <future>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>

#include "troupe/channels/result.hpp"

namespace troupe {

// Opt-in: the author of T promises that moving a T shares nothing unsynchronized.
template <class T>
inline constexpr bool enable_sendable = false;

// Opt-out: T, and everything containing it, is not Sendable.
template <class T>
inline constexpr bool disable_sendable = false;

// Why a type is or is not Sendable (the first problem found, depth first, in field order).
enum class SendableVerdict : unsigned char {
  sendable,
  reference,       // a reference, reference_wrapper, atomic_ref, lock, or reference member
  raw_pointer,     // an object pointer (const or not, void*), or a std::pmr allocator
  shared_mutable,  // std::shared_ptr<T> / std::weak_ptr<T> with non-const T
  borrowed_view,   // std::string_view, std::span, std::initializer_list
  type_erased,     // std::function, std::any, std::packaged_task
  opted_out,       // disable_sendable<T> is true
  not_movable,     // not a move-constructible, destructible object type
};

// The verdict's name, e.g. "raw_pointer". Never allocates.
[[nodiscard]] constexpr std::string_view to_string(SendableVerdict verdict) noexcept {
  switch (verdict) {
    case SendableVerdict::sendable: return "sendable";
    case SendableVerdict::reference: return "reference";
    case SendableVerdict::raw_pointer: return "raw_pointer";
    case SendableVerdict::shared_mutable: return "shared_mutable";
    case SendableVerdict::borrowed_view: return "borrowed_view";
    case SendableVerdict::type_erased: return "type_erased";
    case SendableVerdict::opted_out: return "opted_out";
    case SendableVerdict::not_movable: return "not_movable";
  }
  return "unknown";
}

// One sentence on why a verdict rejects a type. Never allocates.
[[nodiscard]] constexpr std::string_view explain(SendableVerdict verdict) noexcept {
  switch (verdict) {
    case SendableVerdict::sendable: return "it can be moved to another thread";
    case SendableVerdict::reference:
      return "a reference refers to an object the sender keeps; send the value instead";
    case SendableVerdict::raw_pointer:
      return "a raw pointer neither owns nor keeps alive what it points at; own it with "
             "std::unique_ptr or share it read-only with std::shared_ptr<const T>";
    case SendableVerdict::shared_mutable:
      return "a shared_ptr/weak_ptr to non-const lets both sides mutate the object without "
             "synchronization; use std::shared_ptr<const T> or SharedBuffer";
    case SendableVerdict::borrowed_view:
      return "a view points into memory the sender keeps; send an owning std::string, "
             "std::vector or troupe::Buffer instead";
    case SendableVerdict::type_erased:
      return "a type-erased callable or value may hide references or pointers that cannot be "
             "checked";
    case SendableVerdict::opted_out: return "its author opted it out with disable_sendable";
    case SendableVerdict::not_movable:
      return "messages are moved, and this is not a move-constructible, destructible object "
             "type";
  }
  return "unknown";
}

// The result of checking a type: a verdict and the type that caused it, as the compiler spells
// it (e.g. "std::basic_string_view<char>").
struct SendableDiagnosis {
  SendableVerdict verdict = SendableVerdict::sendable;
  std::string_view culprit;

  [[nodiscard]] constexpr bool sendable() const noexcept {
    return verdict == SendableVerdict::sendable;
  }
};

namespace detail::sendable {

template <class... Ts>
struct TypeList {};

template <class T, class List>
inline constexpr bool contains = false;
template <class T, class... Ts>
inline constexpr bool contains<T, TypeList<Ts...>> = (std::is_same_v<T, Ts> || ...);

template <class T, class List>
struct PushImpl;
template <class T, class... Ts>
struct PushImpl<T, TypeList<Ts...>> {
  using type = TypeList<T, Ts...>;
};
template <class T, class List>
using Push = typename PushImpl<T, List>::type;

// The compiler's spelling of T, cut out of __PRETTY_FUNCTION__ ("... [with T = int*; ...]"
// for GCC, "... [T = int *]" for Clang). Never allocates.
template <class T>
constexpr std::string_view type_name() noexcept {
  const std::string_view signature = __PRETTY_FUNCTION__;
  const std::size_t begin = signature.find("T = ");
  if (begin == std::string_view::npos) return signature;
  const std::size_t end = signature.find_first_of(";]", begin + 4);
  return signature.substr(begin + 4, end - (begin + 4));
}

template <class T>
constexpr SendableDiagnosis reject(SendableVerdict verdict) noexcept {
  return {verdict, type_name<T>()};
}

// --- Matching standard templates ------------------------------------------------------------

template <class T, template <class...> class Template>
inline constexpr bool is_instance_of = false;
template <template <class...> class Template, class... Args>
inline constexpr bool is_instance_of<Template<Args...>, Template> = true;

template <class T>
struct TemplateArgs;
template <template <class...> class Template, class... Args>
struct TemplateArgs<Template<Args...>> {
  using type = TypeList<Args...>;
};

template <class T>
inline constexpr bool is_span = false;
template <class T, std::size_t Extent>
inline constexpr bool is_span<std::span<T, Extent>> = true;

template <class T>
inline constexpr bool is_packaged_task = false;
template <class Signature>
inline constexpr bool is_packaged_task<std::packaged_task<Signature>> = true;

template <class T>
concept TupleLike = requires { std::tuple_size<T>::value; };
template <class T>
concept OwningContainer = requires {
  typename T::value_type;
  typename T::allocator_type;
};
template <class T>
concept ContainerAdaptor = requires { typename T::container_type; };
// std::pmr::polymorphic_allocator and its kind: an allocator that points at a memory resource.
template <class A>
concept ResourcePointingAllocator = requires(const A& a) {
  { a.resource() } -> std::convertible_to<const volatile void*>;
};
// std::function, boost::function and their kind.
template <class T>
concept TypeErasedCallable = requires(const T& t) { t.target_type(); };
template <class T>
concept Complete = requires { sizeof(T); };

// --- Aggregate reflection ---------------------------------------------------------------------
//
// The fields of an aggregate are counted by brace-initialising it with N empty braces `{}`
// (an empty brace initialises exactly one field, never part of one, so a C array counts once),
// the count is proved exact by showing that one more initialiser does not fit, and the field
// types are read through a structured binding of that many names.

inline constexpr std::size_t kMaxFields = 32;
inline constexpr std::size_t kNoCount = static_cast<std::size_t>(-1);

// Converts to any non-reference type (and binds const& and && fields).
struct ToValue {
  template <class U>
  constexpr operator U() const noexcept;  // NOLINT(google-explicit-constructor)
};
// Binds a non-const lvalue-reference field (and copies into any copyable field).
struct ToLvalue {
  template <class U>
  constexpr operator U&() const noexcept;  // NOLINT(google-explicit-constructor)
};
// Converts only to a base class of T: it fits the first initialiser iff T has a base.
template <class T>
struct ToBaseOf {
  template <class U>
    requires(std::is_base_of_v<U, T> && !std::is_same_v<U, T>)
  constexpr operator U() const noexcept;  // NOLINT(google-explicit-constructor)
};

template <std::size_t I, class Probe>
struct Repeat {
  using type = Probe;
};

template <class T, class Probe, std::size_t... Is>
constexpr bool probe_initializable(std::index_sequence<Is...>) noexcept {
  return requires { T{typename Repeat<Is, Probe>::type{}...}; };
}

// The two tables below are mechanical, one case per field count up to kMaxFields: neither a
// list of N empty braces nor a structured binding of N names can come from a pack expansion.

// Whether T{{}, ..., {}, Tail{}...} with N empty braces compiles.
template <class T, std::size_t N, class... Tail>
constexpr bool brace_initializable() noexcept {
  if constexpr (N == 0) {
    return requires { T{Tail{}...}; };
  } else if constexpr (N == 1) {
    return requires { T{{}, Tail{}...}; };
  } else if constexpr (N == 2) {
    return requires { T{{}, {}, Tail{}...}; };
  } else if constexpr (N == 3) {
    return requires { T{{}, {}, {}, Tail{}...}; };
  } else if constexpr (N == 4) {
    return requires { T{{}, {}, {}, {}, Tail{}...}; };
  } else if constexpr (N == 5) {
    return requires { T{{}, {}, {}, {}, {}, Tail{}...}; };
  } else if constexpr (N == 6) {
    return requires { T{{}, {}, {}, {}, {}, {}, Tail{}...}; };
  } else if constexpr (N == 7) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, Tail{}...}; };
  } else if constexpr (N == 8) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, Tail{}...}; };
  } else if constexpr (N == 9) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, Tail{}...}; };
  } else if constexpr (N == 10) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, Tail{}...}; };
  } else if constexpr (N == 11) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, Tail{}...}; };
  } else if constexpr (N == 12) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, Tail{}...}; };
  } else if constexpr (N == 13) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, Tail{}...}; };
  } else if constexpr (N == 14) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, Tail{}...}; };
  } else if constexpr (N == 15) {
    return requires { T{{}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, Tail{}...}; };
  } else if constexpr (N == 16) {
    return requires {
      T{
        {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, Tail{}...
      };
    };
  } else if constexpr (N == 17) {
    return requires {
      T{
        {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, Tail{}...
      };
    };
  } else if constexpr (N == 18) {
    return requires {
      T{
        {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, Tail{}...
      };
    };
  } else if constexpr (N == 19) {
    return requires {
      T{
        {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, Tail{}...
      };
    };
  } else if constexpr (N == 20) {
    return requires {
      T{
        {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, Tail{}...
      };
    };
  } else if constexpr (N == 21) {
    return requires {
      T{
        {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
        Tail{}...
      };
    };
  } else if constexpr (N == 22) {
    return requires {
      T{
        {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
        Tail{}...
      };
    };
  } else if constexpr (N == 23) {
    return requires {
      T{
        {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
        Tail{}...
      };
    };
  } else if constexpr (N == 24) {
    return requires {
      T{
        {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
        {}, Tail{}...
      };
    };
  } else if constexpr (N == 25) {
    return requires {
      T{
        {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
        {}, {}, Tail{}...
      };
    };
  } else if constexpr (N == 26) {
    return requires {
      T{
        {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
        {}, {}, {}, Tail{}...
      };
    };
  } else if constexpr (N == 27) {
    return requires {
      T{
        {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
        {}, {}, {}, {}, Tail{}...
      };
    };
  } else if constexpr (N == 28) {
    return requires {
      T{
        {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
        {}, {}, {}, {}, {}, Tail{}...
      };
    };
  } else if constexpr (N == 29) {
    return requires {
      T{
        {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
        {}, {}, {}, {}, {}, {}, Tail{}...
      };
    };
  } else if constexpr (N == 30) {
    return requires {
      T{
        {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
        {}, {}, {}, {}, {}, {}, {}, Tail{}...
      };
    };
  } else if constexpr (N == 31) {
    return requires {
      T{
        {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
        {}, {}, {}, {}, {}, {}, {}, {}, Tail{}...
      };
    };
  } else if constexpr (N == 32) {
    return requires {
      T{
        {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {},
        {}, {}, {}, {}, {}, {}, {}, {}, {}, Tail{}...
      };
    };
  } else {
    return false;
  }
}

// The declared types of T's N fields, through a structured binding (N == field count).
template <std::size_t N, class T>
auto field_types(T& t) {
  if constexpr (N == 1) {
    auto& [f0] = t;
    return TypeList<decltype(f0)>{};
  } else if constexpr (N == 2) {
    auto& [f0, f1] = t;
    return TypeList<decltype(f0), decltype(f1)>{};
  } else if constexpr (N == 3) {
    auto& [f0, f1, f2] = t;
    return TypeList<decltype(f0), decltype(f1), decltype(f2)>{};
  } else if constexpr (N == 4) {
    auto& [f0, f1, f2, f3] = t;
    return TypeList<decltype(f0), decltype(f1), decltype(f2), decltype(f3)>{};
  } else if constexpr (N == 5) {
    auto& [f0, f1, f2, f3, f4] = t;
    return TypeList<decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4)>{};
  } else if constexpr (N == 6) {
    auto& [f0, f1, f2, f3, f4, f5] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5)
    >{};
  } else if constexpr (N == 7) {
    auto& [f0, f1, f2, f3, f4, f5, f6] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6)
    >{};
  } else if constexpr (N == 8) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7)
    >{};
  } else if constexpr (N == 9) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8)
    >{};
  } else if constexpr (N == 10) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9)
    >{};
  } else if constexpr (N == 11) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10)
    >{};
  } else if constexpr (N == 12) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11)
    >{};
  } else if constexpr (N == 13) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12)
    >{};
  } else if constexpr (N == 14) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13)
    >{};
  } else if constexpr (N == 15) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14)
    >{};
  } else if constexpr (N == 16) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15)
    >{};
  } else if constexpr (N == 17) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16)
    >{};
  } else if constexpr (N == 18) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17)
    >{};
  } else if constexpr (N == 19) {
    auto& [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17),
        decltype(f18)
    >{};
  } else if constexpr (N == 20) {
    auto& [
        f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19
    ] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17),
        decltype(f18), decltype(f19)
    >{};
  } else if constexpr (N == 21) {
    auto& [
        f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19,
        f20
    ] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17),
        decltype(f18), decltype(f19), decltype(f20)
    >{};
  } else if constexpr (N == 22) {
    auto& [
        f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19,
        f20, f21
    ] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17),
        decltype(f18), decltype(f19), decltype(f20), decltype(f21)
    >{};
  } else if constexpr (N == 23) {
    auto& [
        f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19,
        f20, f21, f22
    ] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17),
        decltype(f18), decltype(f19), decltype(f20), decltype(f21), decltype(f22)
    >{};
  } else if constexpr (N == 24) {
    auto& [
        f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19,
        f20, f21, f22, f23
    ] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17),
        decltype(f18), decltype(f19), decltype(f20), decltype(f21), decltype(f22), decltype(f23)
    >{};
  } else if constexpr (N == 25) {
    auto& [
        f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19,
        f20, f21, f22, f23, f24
    ] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17),
        decltype(f18), decltype(f19), decltype(f20), decltype(f21), decltype(f22), decltype(f23),
        decltype(f24)
    >{};
  } else if constexpr (N == 26) {
    auto& [
        f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19,
        f20, f21, f22, f23, f24, f25
    ] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17),
        decltype(f18), decltype(f19), decltype(f20), decltype(f21), decltype(f22), decltype(f23),
        decltype(f24), decltype(f25)
    >{};
  } else if constexpr (N == 27) {
    auto& [
        f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19,
        f20, f21, f22, f23, f24, f25, f26
    ] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17),
        decltype(f18), decltype(f19), decltype(f20), decltype(f21), decltype(f22), decltype(f23),
        decltype(f24), decltype(f25), decltype(f26)
    >{};
  } else if constexpr (N == 28) {
    auto& [
        f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19,
        f20, f21, f22, f23, f24, f25, f26, f27
    ] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17),
        decltype(f18), decltype(f19), decltype(f20), decltype(f21), decltype(f22), decltype(f23),
        decltype(f24), decltype(f25), decltype(f26), decltype(f27)
    >{};
  } else if constexpr (N == 29) {
    auto& [
        f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19,
        f20, f21, f22, f23, f24, f25, f26, f27, f28
    ] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17),
        decltype(f18), decltype(f19), decltype(f20), decltype(f21), decltype(f22), decltype(f23),
        decltype(f24), decltype(f25), decltype(f26), decltype(f27), decltype(f28)
    >{};
  } else if constexpr (N == 30) {
    auto& [
        f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19,
        f20, f21, f22, f23, f24, f25, f26, f27, f28, f29
    ] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17),
        decltype(f18), decltype(f19), decltype(f20), decltype(f21), decltype(f22), decltype(f23),
        decltype(f24), decltype(f25), decltype(f26), decltype(f27), decltype(f28), decltype(f29)
    >{};
  } else if constexpr (N == 31) {
    auto& [
        f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19,
        f20, f21, f22, f23, f24, f25, f26, f27, f28, f29, f30
    ] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17),
        decltype(f18), decltype(f19), decltype(f20), decltype(f21), decltype(f22), decltype(f23),
        decltype(f24), decltype(f25), decltype(f26), decltype(f27), decltype(f28), decltype(f29),
        decltype(f30)
    >{};
  } else if constexpr (N == 32) {
    auto& [
        f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15, f16, f17, f18, f19,
        f20, f21, f22, f23, f24, f25, f26, f27, f28, f29, f30, f31
    ] = t;
    return TypeList<
        decltype(f0), decltype(f1), decltype(f2), decltype(f3), decltype(f4), decltype(f5),
        decltype(f6), decltype(f7), decltype(f8), decltype(f9), decltype(f10), decltype(f11),
        decltype(f12), decltype(f13), decltype(f14), decltype(f15), decltype(f16), decltype(f17),
        decltype(f18), decltype(f19), decltype(f20), decltype(f21), decltype(f22), decltype(f23),
        decltype(f24), decltype(f25), decltype(f26), decltype(f27), decltype(f28), decltype(f29),
        decltype(f30), decltype(f31)
    >{};
  } else {
    return TypeList<>{};
  }
}

// --- Inspection -----------------------------------------------------------------------------

template <class T, class Visited>
constexpr SendableDiagnosis inspect() noexcept;

template <class Visited, class List>
struct InspectAll;
template <class Visited, class... Ts>
struct InspectAll<Visited, TypeList<Ts...>> {
  static constexpr SendableDiagnosis run() noexcept {
    SendableDiagnosis result{};
    (void)(((result = inspect<Ts, Visited>()).sendable()) && ...);  // stops at the first failure
    return result;
  }
};
template <class Visited, class List>
constexpr SendableDiagnosis inspect_all() noexcept {
  return InspectAll<Visited, List>::run();
}

template <class T, std::size_t... Is>
TypeList<std::tuple_element_t<Is, T>...> tuple_elements(std::index_sequence<Is...>);

// The largest N <= kMaxFields for which T{{}, ... N times} compiles, or kNoCount. The N that
// compile form an interval: a reference field without a default member initialiser needs an
// explicit `{}` (so N must reach it), a field without a default constructor stops it.
template <class T, std::size_t N = 0, bool Seen = false>
constexpr std::size_t brace_count() noexcept {
  constexpr bool fits = brace_initializable<T, N>();
  if constexpr (Seen && !fits) {
    return N - 1;
  } else if constexpr (N == kMaxFields) {
    return fits ? N : kNoCount;
  } else {
    return brace_count<T, N + 1, fits>();
  }
}

// T's number of fields if it can be proved, else kNoCount.
template <class T>
constexpr std::size_t exact_field_count() noexcept {
  if constexpr (requires { T{ToBaseOf<T>{}}; }) {
    return kNoCount;  // a base class: a structured binding would not see its fields
  } else {
    constexpr std::size_t count = brace_count<T>();
    if constexpr (count == kNoCount) {
      return kNoCount;
    } else if constexpr (brace_initializable<T, count, ToValue>() ||
                         brace_initializable<T, count, ToLvalue>()) {
      return kNoCount;  // a field follows that {} cannot initialise, or more than kMaxFields
    } else {
      return count;
    }
  }
}

// For an aggregate whose fields cannot be counted: is one of them an lvalue reference? A field
// that an lvalue binds to but a value does not is one — tried after a prefix of empty braces,
// and with a probe for every field.
template <class T, std::size_t... Is>
constexpr bool has_lvalue_reference_field(std::index_sequence<Is...>) noexcept {
  return ((brace_initializable<T, Is, ToLvalue>() && !brace_initializable<T, Is, ToValue>()) ||
          ...) ||
         ((probe_initializable<T, ToLvalue>(std::make_index_sequence<Is + 1>{}) &&
           !probe_initializable<T, ToValue>(std::make_index_sequence<Is + 1>{})) ||
          ...);
}

template <class T, class Visited>
constexpr SendableDiagnosis inspect_aggregate() noexcept {
  constexpr std::size_t count = exact_field_count<T>();
  if constexpr (count == kNoCount) {
    if constexpr (has_lvalue_reference_field<T>(std::make_index_sequence<kMaxFields + 1>{})) {
      return reject<T>(SendableVerdict::reference);
    } else {
      return {};  // cannot be enumerated: accepted (see "What this does not guarantee")
    }
  } else if constexpr (count == 0) {
    return {};
  } else {
    return inspect_all<Push<T, Visited>, decltype(field_types<count>(std::declval<T&>()))>();
  }
}

template <class U, class Visited>
constexpr SendableDiagnosis inspect_class() noexcept {
  using Inner = Push<U, Visited>;
  if constexpr (is_instance_of<U, std::shared_ptr> || is_instance_of<U, std::weak_ptr>) {
    using Pointee = typename U::element_type;
    if constexpr (std::is_void_v<Pointee>) {
      return reject<U>(SendableVerdict::type_erased);
    } else if constexpr (!std::is_const_v<Pointee>) {
      return reject<U>(SendableVerdict::shared_mutable);
    } else {
      return inspect<Pointee, Inner>();
    }
  } else if constexpr (is_instance_of<U, std::unique_ptr>) {
    using Pointee = typename U::element_type;
    if constexpr (std::is_void_v<Pointee>) {
      return reject<U>(SendableVerdict::type_erased);
    } else {
      return inspect_all<Inner, TypeList<Pointee, typename U::deleter_type>>();
    }
  } else if constexpr (is_instance_of<U, std::reference_wrapper> ||
                       is_instance_of<U, std::atomic_ref> || is_instance_of<U, std::unique_lock> ||
                       is_instance_of<U, std::shared_lock>) {
    return reject<U>(SendableVerdict::reference);
  } else if constexpr (is_instance_of<U, std::basic_string_view> || is_span<U> ||
                       is_instance_of<U, std::initializer_list>) {
    return reject<U>(SendableVerdict::borrowed_view);
  } else if constexpr (std::is_same_v<U, std::any> || is_packaged_task<U>) {
    return reject<U>(SendableVerdict::type_erased);
  } else if constexpr (is_instance_of<U, std::optional> || is_instance_of<U, std::variant> ||
                       is_instance_of<U, Result>) {
    return inspect_all<Inner, typename TemplateArgs<U>::type>();
  } else if constexpr (!Complete<U>) {
    return {};  // a forward-declared type (pimpl): nothing to look at
  } else if constexpr (TypeErasedCallable<U>) {
    return reject<U>(SendableVerdict::type_erased);
  } else if constexpr (TupleLike<U>) {
    return inspect_all<Inner, decltype(tuple_elements<U>(
                                  std::make_index_sequence<std::tuple_size<U>::value>{}))>();
  } else if constexpr (OwningContainer<U>) {
    if constexpr (ResourcePointingAllocator<typename U::allocator_type>) {
      return reject<typename U::allocator_type>(SendableVerdict::raw_pointer);
    } else {
      return inspect<typename U::value_type, Inner>();
    }
  } else if constexpr (ContainerAdaptor<U>) {
    return inspect<typename U::container_type, Inner>();
  } else if constexpr (std::is_union_v<U> || std::is_empty_v<U> || !std::is_aggregate_v<U>) {
    return {};  // nothing inside, or private state that cannot be inspected: accepted
  } else {
    return inspect_aggregate<U, Visited>();
  }
}

template <class T, class Visited>
constexpr SendableDiagnosis inspect() noexcept {
  if constexpr (std::is_reference_v<T>) {
    return reject<T>(SendableVerdict::reference);
  } else {
    using U = std::remove_cv_t<T>;
    static_assert(!(enable_sendable<U> && disable_sendable<U>),
                  "troupe: a type specializes both enable_sendable and disable_sendable");
    if constexpr (disable_sendable<U>) {
      return reject<U>(SendableVerdict::opted_out);
    } else if constexpr (enable_sendable<U> || contains<U, Visited>) {
      return {};  // opted in, or already being inspected further up (a recursive type)
    } else if constexpr (std::is_pointer_v<U>) {
      if constexpr (std::is_function_v<std::remove_pointer_t<U>>) {
        return {};
      } else {
        return reject<U>(SendableVerdict::raw_pointer);
      }
    } else if constexpr (std::is_array_v<U>) {
      return inspect<std::remove_extent_t<U>, Visited>();
    } else if constexpr (std::is_class_v<U> || std::is_union_v<U>) {
      return inspect_class<U, Visited>();
    } else {
      return {};  // arithmetic, enum, nullptr_t, pointer to member; void holds nothing
    }
  }
}

template <class T>
constexpr SendableDiagnosis diagnose() noexcept {
  if constexpr (std::is_reference_v<T>) {
    return reject<T>(SendableVerdict::reference);
  } else if constexpr (!std::is_object_v<T>) {
    return reject<T>(SendableVerdict::not_movable);
  } else {
    static_assert(!std::is_class_v<T> || requires { sizeof(T); },
                  "troupe::Sendable<T>: T is incomplete here. Check it where T is complete "
                  "(a Sender<T> member inside T itself is checked while T is incomplete)");
    constexpr SendableDiagnosis contents = inspect<T, TypeList<>>();
    if constexpr (!contents.sendable()) {
      return contents;
    } else if constexpr (!std::is_move_constructible_v<T> || !std::is_destructible_v<T>) {
      return reject<T>(SendableVerdict::not_movable);
    } else {
      return contents;
    }
  }
}

}  // namespace detail::sendable

// The verdict on T and the type that decided it, at compile time:
//   static_assert(troupe::sendable_diagnosis<Msg>.verdict == troupe::SendableVerdict::sendable);
template <class T>
inline constexpr SendableDiagnosis sendable_diagnosis = detail::sendable::diagnose<T>();

// One concept per reason, so that a failed `Sendable<T>` names what is wrong.
namespace sendable_checks {
template <class T>
concept NoReferenceInside = sendable_diagnosis<T>.verdict != SendableVerdict::reference;
template <class T>
concept NoRawPointerInside = sendable_diagnosis<T>.verdict != SendableVerdict::raw_pointer;
template <class T>
concept NoMutableSharedPointerInside =
    sendable_diagnosis<T>.verdict != SendableVerdict::shared_mutable;
template <class T>
concept NoBorrowedViewInside = sendable_diagnosis<T>.verdict != SendableVerdict::borrowed_view;
template <class T>
concept NoTypeErasedValueInside = sendable_diagnosis<T>.verdict != SendableVerdict::type_erased;
template <class T>
concept NotOptedOut = sendable_diagnosis<T>.verdict != SendableVerdict::opted_out;
template <class T>
concept MovableObject = sendable_diagnosis<T>.verdict != SendableVerdict::not_movable;
}  // namespace sendable_checks

// T may be moved through a channel or port (see the top of this file).
template <class T>
concept Sendable =
    sendable_checks::NoReferenceInside<T> && sendable_checks::NoRawPointerInside<T> &&
    sendable_checks::NoMutableSharedPointerInside<T> && sendable_checks::NoBorrowedViewInside<T> &&
    sendable_checks::NoTypeErasedValueInside<T> && sendable_checks::NotOptedOut<T> &&
    sendable_checks::MovableObject<T>;

// "" if T is Sendable, else a sentence naming T, the offending type and the reason, e.g.
// "Msg is not Sendable: it contains int*; a raw pointer neither owns ...". Allocates.
template <class T>
[[nodiscard]] std::string why_not_sendable() {
  constexpr SendableDiagnosis diagnosis = sendable_diagnosis<T>;
  if constexpr (diagnosis.sendable()) {
    return {};
  } else {
    const std::string_view name = detail::sendable::type_name<T>();
    std::string text(name);
    text += " is not Sendable: ";
    if (diagnosis.culprit != name) {
      text += "it contains ";
      text += diagnosis.culprit;
      text += "; ";
    }
    text += explain(diagnosis.verdict);
    return text;
  }
}

}  // namespace troupe
