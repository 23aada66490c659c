// The progress bar of `troupe load` (samples/troupe/progress.hpp): its text, and that it stays
// silent unless stderr is a terminal and the output is for people.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "cli_test_support.hpp"
#include "troupe/load.hpp"
#include "troupe/progress.hpp"

using troupe::cli::OutputFormat;
using troupe::cli::Progress;
using troupe::cli::progress_line;

TEST_CASE("progress.the line shows the bar, the run running and an ETA from the runs done") {
  // 2 of 6 done in 4 s: 2 s a run, 4 runs left.
  CHECK(progress_line(3, 2, 6, 4.0, "pingpong/task") ==
        "[######..............] run 3/6 pingpong/task, ETA 8 s");
  CHECK(progress_line(6, 5, 6, 10.0, "") == "[################....] run 6/6, ETA 2 s");
  CHECK(progress_line(3, 3, 3, 10.0, "x") == "[####################] run 3/3 x, ETA 0 s");
}

TEST_CASE("progress.the line has no ETA before the first run is done") {
  CHECK(progress_line(1, 0, 4, 1.5, "fanin/thread warm-up") ==
        "[....................] run 1/4 fanin/thread warm-up");
}

TEST_CASE("progress.a long ETA is given in minutes or hours") {
  CHECK(progress_line(2, 1, 3, 70.0, "") == "[######..............] run 2/3, ETA 2 min 20 s");
  CHECK(progress_line(2, 1, 3, 1900.0, "") == "[######..............] run 2/3, ETA 1 h 03 min");
}

TEST_CASE("progress.it is allowed only on a terminal stderr and for human output") {
  std::ostringstream captured;
  CHECK_FALSE(troupe::cli::progress_allowed(captured, OutputFormat::human));
  CHECK_FALSE(troupe::cli::progress_allowed(std::cerr, OutputFormat::json));
  CHECK_FALSE(troupe::cli::progress_allowed(std::cerr, OutputFormat::csv));
  CHECK(troupe::cli::progress_allowed(std::cerr, OutputFormat::human) ==
        (::isatty(STDERR_FILENO) == 1));
}

TEST_CASE("progress.a disabled bar writes nothing, however long the runs take" *
          doctest::timeout(30)) {
  std::ostringstream err;
  {
    Progress progress(err, false, 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    progress.start_run("a");
    progress.finish_run();
    progress.start_run("b");
    progress.clear();
  }
  CHECK(err.str().empty());
}

TEST_CASE("progress.an enabled bar is drawn after a second, in place, and erased at the end" *
          doctest::timeout(30)) {
  std::ostringstream err;
  {
    Progress progress(err, true, 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    progress.start_run("a");
    CHECK(err.str() == "\r\033[K[....................] run 1/2 a");
    progress.finish_run();
    progress.start_run("b");
    CHECK(err.str().rfind("\r\033[K[##########..........] run 2/2 b, ETA ", 0) != 0);
    CHECK(err.str().find("\r\033[K[##########..........] run 2/2 b, ETA ") != std::string::npos);
  }
  // The destructor erased the line: the output that follows starts on a clean line.
  CHECK(err.str().substr(err.str().size() - 4) == "\r\033[K");
}

TEST_CASE("progress.a series run through the CLI prints nothing on a captured stderr" *
          doctest::timeout(60)) {
  const troupe::testing::CliRun run =
      troupe::testing::run_cli({"load", "pingpong", "--n", "100", "--repeat", "3"});
  CHECK(run.code == 0);
  CHECK(run.err.empty());
  CHECK(run.out.find("\r") == std::string::npos);
  CHECK(run.out.find("\033") == std::string::npos);
}
