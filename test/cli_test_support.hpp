// Helpers shared by the tests that drive the `troupe` CLI through troupe::cli::run
// (test_cli, test_cli_*, test_demos): a run with its exit code and both streams, the shape of a
// usage error, a temporary directory for the files a run writes, and an implementation whose
// check is wrong.
#pragma once

#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "troupe/cli.hpp"
#include "troupe/load.hpp"

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

// A fresh directory for the files a test writes, removed with everything in it.
class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() /
              ("troupe_test_cli_" + std::to_string(::getpid()) + "_" + std::to_string(next_++))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }
  // The names of the files in the directory, sorted.
  [[nodiscard]] std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(path_)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  static inline int next_ = 0;
  std::filesystem::path path_;
};

inline std::string read_text(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
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

// What an implementation that computes the wrong sum returns: check 41 (whatever n is), the n
// items in 0.5 s (the rate is 2n), one thread, no failures.
inline troupe::cli::LoadResult wrong_sum(const troupe::cli::LoadParams& params) {
  troupe::cli::LoadResult result;
  result.items = params.n;
  result.seconds = 0.5;
  result.check = 41;
  result.threads = 1;
  return result;
}

}  // namespace troupe::testing
