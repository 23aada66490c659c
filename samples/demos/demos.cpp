// demos.cpp — the registry of `troupe demo`, and the Outcome every demo reports with.
#include "demos/demos.hpp"

#include <algorithm>
#include <array>

namespace troupe::demos {
namespace {

constexpr std::array kDemos{
    Demo{"hello", "spawn an actor with initial data, a message each way, online and exit events",
         run_hello},
};

}  // namespace

std::span<const Demo> all_demos() noexcept { return kDemos; }

const Demo* find_demo(std::string_view name) noexcept {
  const auto found =
      std::find_if(kDemos.begin(), kDemos.end(), [name](const Demo& d) { return d.name == name; });
  return found == kDemos.end() ? nullptr : &*found;
}

bool Outcome::expect(bool held, std::string_view what) {
  *out_ << (held ? "[ok] " : "[FAILED] ") << what << '\n';
  if (!held) ++failed_;
  return held;
}

int Outcome::finish() {
  if (failed_ == 0) {
    *out_ << "outcome: ok\n";
    return 0;
  }
  *out_ << "outcome: FAILED (" << failed_ << (failed_ == 1 ? " check)\n" : " checks)\n");
  return 1;
}

}  // namespace troupe::demos
