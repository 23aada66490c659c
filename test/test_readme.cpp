// The example in README.md, compiled and run here; and a check that README.md shows exactly the
// lines between the two markers below, so the example cannot drift from what compiles.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

// The example is a whole program; its main() becomes a function the test calls.
#define main readme_example_main
// README example: begin
#include <troupe/actors/actor.hpp>
#include <troupe/actors/pool.hpp>

#include <chrono>
#include <cstdio>

struct Add { int by; };
struct Get {};

class Counter {                                 // private state, one message at a time
 public:
  explicit Counter(int start) : n_(start) {}    // the spawn arguments: Node's workerData
  void handle(Add m) { n_ += m.by; }            // a message: tell(Add{...})
  int handle(Get) const { return n_; }          // a request: ask(Get{}) replies an int
 private:
  int n_;
};

int main() {
  troupe::Runtime rt;                                        // work-stealing, one worker per core
  auto counter = troupe::spawn_actor<Counter>(rt, {}, 40);   // ActorRef<Counter>
  (void)counter.tell(Add{2});                                // never blocks
  int n = counter.blocking_ask(Get{}, std::chrono::seconds(1)).value();   // 42

  troupe::Pool pool;                                         // threads of its own, for CPU work
  long square = pool.submit([n] { return long{n} * n; }).value().get();  // 1764
  std::printf("counter %d, square %ld\n", n, square);
  return counter.blocking_terminate() == troupe::ExitCode::terminated ? 0 : 1;
}
// README example: end
#undef main

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The lines of `text` strictly between the line starting with `begin` and the next line
// starting with `end`.
std::string between(const std::string& text, const std::string& begin, const std::string& end) {
  const auto first = text.find("\n" + begin);
  if (first == std::string::npos) return {};
  const auto from = text.find('\n', first + 1);
  const auto to = text.find("\n" + end, from);
  if (from == std::string::npos || to == std::string::npos) return {};
  return text.substr(from + 1, to - from);
}

}  // namespace

TEST_CASE("readme: the example runs and exits 0" * doctest::timeout(60)) {
  CHECK(readme_example_main() == 0);
}

TEST_CASE("readme: README.md shows the example above, line for line") {
  const std::filesystem::path here(__FILE__);
  const std::string source = read_file(here);
  const std::string readme = read_file(here.parent_path().parent_path() / "README.md");
  REQUIRE_MESSAGE(!readme.empty(), "README.md not found next to test/");
  const std::string example = between(source, "// README example: begin", "// README example: end");
  REQUIRE(!example.empty());
  const std::string shown = between(readme, "```cpp", "```");
  CHECK_MESSAGE(shown == example,
                "README.md's first ```cpp block differs from test/test_readme.cpp's example");
}
