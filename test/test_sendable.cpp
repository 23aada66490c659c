// The Sendable concept: what may travel through a channel. Nearly everything here is checked at
// compile time (a regression fails the build); the TEST_CASEs check the diagnostics.
#include <doctest/doctest.h>

#include <any>
#include <array>
#include <atomic>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <list>
#include <map>
#include <memory>
#include <memory_resource>
#include <mutex>
#include <optional>
#include <queue>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "troupe/channels/buffer.hpp"
#include "troupe/channels/channel.hpp"
#include "troupe/channels/sendable.hpp"
#include "troupe/channels/shared_buffer.hpp"

namespace {

using troupe::Sendable;
using troupe::SendableVerdict;

template <class T>
constexpr SendableVerdict verdict = troupe::sendable_diagnosis<T>.verdict;

// --- Test types -------------------------------------------------------------------------------

enum class Color { red, green };
enum Plain { plain_a };

struct Point {
  int x = 0;
  int y = 0;
};
struct Order {
  std::string symbol;
  std::vector<std::string> tags;
  Point at;
  double price = 0;
  Color color = Color::red;
};
struct Nested {  // an aggregate nested in an aggregate nested in an aggregate
  Order order;
  std::optional<Point> hint;
  std::map<std::string, std::vector<Point>> paths;
};
struct WithView {
  int id = 0;
  std::string_view name;
};
struct HoldsWithView {  // the view is one level down
  Point p;
  WithView inner;
};
struct DeeplyHoldsView {  // and two levels down, behind a vector
  std::vector<HoldsWithView> items;
};
struct WithPointer {
  int* data = nullptr;
  std::size_t size = 0;
};
struct WithConstPointer {
  const char* text = nullptr;
};
struct WithSharedMutable {
  std::shared_ptr<std::string> shared;
};
struct WithSharedConst {
  std::shared_ptr<const std::string> shared;
};
struct WithFunction {
  std::function<void()> callback;
};
struct WithSpanInArray {
  std::array<std::span<int>, 2> spans;
};
struct WithCArray {  // a C array counts as one field
  char name[16] = {};
  int values[2][3] = {};
  std::size_t length = 0;
};
struct WithPointerArray {
  int* slots[4] = {};
};
struct WithConstRef {
  const std::string& name;
};
struct WithRvalueRef {
  std::string&& name;
};
int g_value = 0;
struct WithRefAndDefault {  // a reference with a default member initializer
  int id = 0;
  int& counter = g_value;
};
struct NoDefault {
  explicit NoDefault(int v) : value(v) {}
  int value;
};
struct WithRefAndNoDefault {  // fields troupe cannot count with {}: the reference is still found
  NoDefault n;
  int& r;
};
struct TreeNode {  // recursive through unique_ptr and vector
  int value = 0;
  std::unique_ptr<TreeNode> left;
  std::unique_ptr<TreeNode> right;
  std::vector<TreeNode> children;
};
struct ManyFields {  // 32 fields: the most that is inspected
  int f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, f10, f11, f12, f13, f14, f15;
  int f16, f17, f18, f19, f20, f21, f22, f23, f24, f25, f26, f27, f28, f29, f30;
  std::string_view last;
};
class Opaque {  // private state: cannot be inspected, accepted (documented)
 public:
  Opaque() = default;

 private:
  int* hidden_ = nullptr;
};
struct Incomplete;
// Documented limitations, pinned so that a change in what is inspected is a visible decision.
struct PointerBehindBase : Point {  // a base class: the fields are not enumerated
  int* hidden = nullptr;
};
struct PointerBesideNoDefault {  // a field without a default constructor: not enumerated
  NoDefault n;
  int* hidden;
};

// Opt-in: the author promises that moving an Arena hands over what it points at.
struct Arena {
  std::byte* base = nullptr;
  std::size_t used = 0;
};
// Opt-out: a type that must never cross threads, and everything containing it.
struct ThreadBound {
  int id = 0;
};
struct HoldsThreadBound {
  ThreadBound bound;
};

}  // namespace

template <>
inline constexpr bool troupe::enable_sendable<Arena> = true;
template <>
inline constexpr bool troupe::disable_sendable<ThreadBound> = true;

namespace {

// --- Accepted ---------------------------------------------------------------------------------

static_assert(Sendable<int>);
static_assert(Sendable<const double>);
static_assert(Sendable<bool>);
static_assert(Sendable<Color> && Sendable<Plain>);
static_assert(Sendable<std::nullptr_t>);
static_assert(Sendable<void (*)(int)>);  // code, not state
static_assert(Sendable<int Point::*>);   // an offset, not state
static_assert(Sendable<std::string>);
static_assert(Sendable<std::vector<std::string>>);
static_assert(Sendable<std::vector<std::vector<int>>>);
static_assert(Sendable<std::map<std::string, std::vector<int>>>);
static_assert(Sendable<std::unordered_map<int, std::string>>);
static_assert(Sendable<std::set<std::string>>);
static_assert(Sendable<std::deque<Point>>);
static_assert(Sendable<std::list<Order>>);
static_assert(Sendable<std::queue<std::string>>);
static_assert(Sendable<std::priority_queue<int>>);
static_assert(Sendable<std::optional<std::string>>);
static_assert(Sendable<std::variant<std::monostate, int, std::string>>);
static_assert(Sendable<std::tuple<int, std::string, Point>>);
static_assert(Sendable<std::pair<const int, std::string>>);
static_assert(Sendable<std::array<Point, 3>>);
static_assert(Sendable<std::unique_ptr<std::string>>);
static_assert(Sendable<std::unique_ptr<int[]>>);
static_assert(Sendable<std::unique_ptr<Incomplete>>);  // a pimpl: not inspected
static_assert(Sendable<std::shared_ptr<const std::string>>);
static_assert(Sendable<std::shared_ptr<const Order>>);
static_assert(Sendable<std::weak_ptr<const Point>>);
static_assert(Sendable<troupe::Result<std::string, int>>);
static_assert(Sendable<Point>);
static_assert(Sendable<Order>);
static_assert(Sendable<Nested>);
static_assert(Sendable<WithSharedConst>);
static_assert(Sendable<WithCArray>);
static_assert(Sendable<TreeNode>);
static_assert(Sendable<Opaque>);
static_assert(Sendable<PointerBehindBase>);       // limitation (see sendable.hpp)
static_assert(Sendable<PointerBesideNoDefault>);  // limitation (see sendable.hpp)
static_assert(Sendable<Arena>);               // opted in despite its raw pointer
static_assert(Sendable<std::vector<Arena>>);  // and so are containers of it
static_assert(Sendable<std::unique_ptr<Arena>>);
static_assert(Sendable<troupe::Buffer>);
static_assert(Sendable<troupe::SharedBuffer>);
static_assert(Sendable<troupe::Sender<Order>>);  // handles travel too
static_assert(Sendable<troupe::Receiver<troupe::Buffer>>);
static_assert(Sendable<std::vector<troupe::Buffer>>);

// --- Rejected, by reason ----------------------------------------------------------------------

// References.
static_assert(!Sendable<int&>);
static_assert(!Sendable<const std::string&>);
static_assert(!Sendable<std::string&&>);
static_assert(!Sendable<std::reference_wrapper<int>>);
static_assert(!Sendable<std::atomic_ref<int>>);
static_assert(!Sendable<std::unique_lock<std::mutex>>);
static_assert(!Sendable<std::tuple<int, int&>>);
static_assert(!Sendable<WithConstRef>);
static_assert(!Sendable<WithRvalueRef>);
static_assert(!Sendable<WithRefAndDefault>);
static_assert(!Sendable<WithRefAndNoDefault>);
static_assert(verdict<int&> == SendableVerdict::reference);
static_assert(verdict<WithConstRef> == SendableVerdict::reference);
static_assert(verdict<WithRefAndNoDefault> == SendableVerdict::reference);

// Raw pointers, const or not; pointers to pointers; std::pmr allocators.
static_assert(!Sendable<int*>);
static_assert(!Sendable<const int*>);
static_assert(!Sendable<const char*>);
static_assert(!Sendable<void*>);
static_assert(!Sendable<int* const>);
static_assert(!Sendable<int**>);
static_assert(!Sendable<WithPointer>);
static_assert(!Sendable<WithConstPointer>);
static_assert(!Sendable<WithPointerArray>);
static_assert(!Sendable<std::vector<std::pair<int, int*>>>);
static_assert(!Sendable<std::map<int, const char*>>);
static_assert(!Sendable<std::optional<int*>>);
static_assert(!Sendable<std::unique_ptr<int*>>);
static_assert(!Sendable<std::shared_ptr<int* const>>);
static_assert(!Sendable<std::pmr::vector<int>>);
static_assert(!Sendable<std::pmr::string>);
static_assert(!Sendable<troupe::Result<int*, int>>);
static_assert(verdict<std::vector<std::pair<int, int*>>> == SendableVerdict::raw_pointer);
static_assert(verdict<WithPointerArray> == SendableVerdict::raw_pointer);
static_assert(verdict<std::pmr::vector<int>> == SendableVerdict::raw_pointer);

// Shared mutable state.
static_assert(!Sendable<std::shared_ptr<int>>);
static_assert(!Sendable<std::shared_ptr<std::string>>);
static_assert(!Sendable<std::weak_ptr<Point>>);
static_assert(!Sendable<std::vector<std::shared_ptr<Point>>>);
static_assert(!Sendable<WithSharedMutable>);
static_assert(!Sendable<std::shared_ptr<const WithPointer>>);  // const, but what it holds is not
static_assert(verdict<WithSharedMutable> == SendableVerdict::shared_mutable);
static_assert(verdict<std::shared_ptr<const WithPointer>> == SendableVerdict::raw_pointer);

// Borrowed views.
static_assert(!Sendable<std::string_view>);
static_assert(!Sendable<std::wstring_view>);
static_assert(!Sendable<std::span<int>>);
static_assert(!Sendable<std::span<const std::byte, 16>>);
static_assert(!Sendable<std::initializer_list<int>>);
static_assert(!Sendable<WithView>);
static_assert(!Sendable<HoldsWithView>);
static_assert(!Sendable<DeeplyHoldsView>);
static_assert(!Sendable<WithSpanInArray>);
static_assert(!Sendable<ManyFields>);  // the 32nd field is still inspected
static_assert(!Sendable<std::variant<int, std::string_view>>);
static_assert(!Sendable<std::unordered_map<std::string, std::string_view>>);
static_assert(verdict<DeeplyHoldsView> == SendableVerdict::borrowed_view);

// Type-erased values.
static_assert(!Sendable<std::function<void()>>);
static_assert(!Sendable<std::any>);
static_assert(!Sendable<std::packaged_task<int()>>);
static_assert(!Sendable<std::shared_ptr<const void>>);
static_assert(!Sendable<WithFunction>);
static_assert(verdict<WithFunction> == SendableVerdict::type_erased);

// Opted out, directly or inside something.
static_assert(!Sendable<ThreadBound>);
static_assert(!Sendable<HoldsThreadBound>);
static_assert(!Sendable<std::vector<ThreadBound>>);
static_assert(verdict<HoldsThreadBound> == SendableVerdict::opted_out);

// Not movable objects.
static_assert(!Sendable<void>);
static_assert(!Sendable<int()>);
static_assert(!Sendable<int[4]>);
static_assert(!Sendable<std::mutex>);
static_assert(!Sendable<std::atomic<int>>);
static_assert(!Sendable<const std::unique_ptr<int>>);
static_assert(verdict<std::mutex> == SendableVerdict::not_movable);

}  // namespace

TEST_CASE("sendable.the compile-time checks above hold at run time too") {
  CHECK(Sendable<Order>);
  CHECK(Sendable<TreeNode>);
  CHECK_FALSE(Sendable<HoldsWithView>);
  CHECK_FALSE(Sendable<std::vector<std::pair<int, int*>>>);
  CHECK(troupe::sendable_diagnosis<Nested>.sendable());
}

TEST_CASE("sendable.the diagnosis names the offending type nested inside a message") {
  constexpr troupe::SendableDiagnosis diagnosis = troupe::sendable_diagnosis<DeeplyHoldsView>;
  CHECK(diagnosis.verdict == SendableVerdict::borrowed_view);
  CHECK(diagnosis.culprit == "std::basic_string_view<char>");
  CHECK(troupe::sendable_diagnosis<WithPointer>.culprit == "int*");
  CHECK(troupe::sendable_diagnosis<Order>.culprit.empty());
}

TEST_CASE("sendable.why_not_sendable explains the reason in one sentence") {
  CHECK(troupe::why_not_sendable<Order>().empty());
  const std::string view = troupe::why_not_sendable<HoldsWithView>();
  CHECK(view.find("HoldsWithView is not Sendable") != std::string::npos);
  CHECK(view.find("std::basic_string_view<char>") != std::string::npos);
  CHECK(view.find("view") != std::string::npos);
  const std::string pointer = troupe::why_not_sendable<int*>();
  CHECK(pointer.rfind("int* is not Sendable: a raw pointer", 0) == 0);
  CHECK(troupe::why_not_sendable<HoldsThreadBound>().find("disable_sendable") != std::string::npos);
}

TEST_CASE("sendable.every verdict has a name and an explanation") {
  for (auto verdict :
       {SendableVerdict::sendable, SendableVerdict::reference, SendableVerdict::raw_pointer,
        SendableVerdict::shared_mutable, SendableVerdict::borrowed_view,
        SendableVerdict::type_erased, SendableVerdict::opted_out, SendableVerdict::not_movable}) {
    CHECK(troupe::to_string(verdict) != "unknown");
    CHECK_FALSE(troupe::explain(verdict).empty());
  }
  CHECK(troupe::to_string(SendableVerdict::raw_pointer) == "raw_pointer");
}
