#include <doctest/doctest.h>

#include "troupe/channels/result.hpp"

TEST_CASE("error.codes have readable names") {
  CHECK(troupe::to_string(troupe::ErrorCode::invalid_argument) == "invalid_argument");
  CHECK(troupe::to_string(troupe::ErrorCode::detached) == "detached");
}

TEST_CASE("result.reading the wrong alternative throws instead of being undefined") {
  troupe::Result<int, std::string> ok = 7;
  CHECK(ok.has_value());
  CHECK(*ok == 7);
  CHECK_THROWS_AS(ok.error(), troupe::Error);
  troupe::Result<int, std::string> bad(troupe::failure, "why");
  CHECK_FALSE(bad);
  CHECK(bad.error() == "why");
  CHECK_THROWS_AS(bad.value(), troupe::Error);
  troupe::Result<void, int> nothing;
  CHECK(nothing);
  CHECK_THROWS_AS(nothing.error(), troupe::Error);
}
