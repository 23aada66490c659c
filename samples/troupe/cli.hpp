// troupe/cli.hpp — the `troupe` command line, as a function that tests can call.
//
//   troupe load <workload> [--n N] [--threads T] [--style S] [--capacity C] [--placement P]
//               [--repeat K] [--json | --csv] [--metrics FILE]
//   troupe load --list          workloads that can run, one per line
//   troupe demo <name> [--quick]  one demo (samples/demos/<name>.cpp): what it shows, printed
//               [--out PATH]  where a demo that writes a file (an image) writes it
//   troupe demo --list          the demos, one per line: name, two spaces, a summary
//   troupe --help, troupe load --help, troupe demo --help
//
// Exit codes: 0 every run's check held (or help/list), 1 a check failed or a run broke,
// 2 a usage error (one line on `err`, then the usage line), found before any run: a bad
// argument, conflicting flags, an unwritable --metrics path, an unknown demo, or an --out path
// for a demo that writes no file or in a directory that does not exist.
//
// Thread-safety: run() may be called from any thread; concurrent calls share nothing but the
// (read-only) workload registry.
#pragma once

#include <ostream>

namespace troupe::cli {

// Runs the command `argv[0] argv[1] … argv[argc-1]`: results go to `out`, errors to `err`.
[[nodiscard]] int run(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace troupe::cli
