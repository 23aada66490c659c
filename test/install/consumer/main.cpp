// A separate project that found troupe with find_package(troupe CONFIG REQUIRED).
#include <cstdio>
#include <troupe/channels/error.hpp>

int main() {
  std::printf("consumer linked troupe: %s\n", troupe::to_string(troupe::ErrorCode::closed).data());
  return troupe::to_string(troupe::ErrorCode::closed) == "closed" ? 0 : 1;
}
