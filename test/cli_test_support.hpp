// Helpers shared by the tests that drive the `troupe` CLI through troupe::cli::run
// (test_cli, test_demos): a run with its exit code and both streams, and the shape of a usage
// error.
#pragma once

#include <doctest/doctest.h>

#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "troupe/cli.hpp"

namespace troupe::testing {

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
};

// Runs `troupe <arguments...>` in this process.
inline CliRun run_cli(std::initializer_list<std::string> arguments) {
  std::vector<std::string> words{"troupe"};
  words.insert(words.end(), arguments);
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);
  std::ostringstream out;
  std::ostringstream err;
  const int code = troupe::cli::run(static_cast<int>(words.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}

// The number after the first `"key":` in `json` (a JSON object line); fails the test if absent.
inline double json_number_after(const std::string& json, const std::string& key) {
  const std::string quoted = "\"" + key + "\":";
  const std::size_t at = json.find(quoted);
  REQUIRE_MESSAGE(at != std::string::npos, key);
  return std::stod(json.substr(at + quoted.size()));
}

// How often `part` occurs in `text` (non-overlapping).
inline std::size_t count_of(const std::string& text, const std::string& part) {
  std::size_t count = 0;
  for (std::size_t at = text.find(part); at != std::string::npos;
       at = text.find(part, at + part.size())) {
    ++count;
  }
  return count;
}

// Exit code 2, nothing on stdout, and on stderr exactly: one error line holding `message`,
// then the usage line, which starts with `usage`.
inline void check_usage_error(const CliRun& run, const std::string& message,
                              std::string_view usage = "usage: troupe load <workload>") {
  CHECK(run.code == 2);
  CHECK(run.out.empty());
  const std::vector<std::string> lines = lines_of(run.err);
  REQUIRE(lines.size() == 2);
  CHECK(run.err.back() == '\n');
  CHECK(lines[0].rfind("troupe: error: ", 0) == 0);
  CHECK_MESSAGE(contains(lines[0], message), lines[0]);
  CHECK_MESSAGE(lines[1].rfind(usage, 0) == 0, lines[1]);
}

}  // namespace troupe::testing
