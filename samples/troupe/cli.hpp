// troupe/cli.hpp — the `troupe` command line, as a function that tests can call.
//
//   troupe load <workload> [--n N] [--threads T] [--style S] [--capacity C] [--placement P]
//               [--repeat K] [--json | --csv] [--metrics FILE] [--compare naive]
//   troupe load <workload> --sweep PARAM=V1,V2,... [--plot FILE.svg] [the flags above but
//               PARAM's own and --metrics]   once per value of threads, capacity or n, then a
//               table (--json: one line per value; --csv: one header, every value's lines);
//               --plot: an SVG chart of the rate against the value (sweep.hpp)
//   troupe load all [--quick] [--threads T] [--placement P] [--repeat K] [--json | --csv]
//               every runnable workload at its default n (--quick: a smaller n each, under a
//               minute on 2 cores), then one table (--json: one line per workload, its --json
//               object; --csv: the table) (all.hpp)
//   troupe load latency --rate R --duration D [--workload W] [--threads T] [--json | --csv]
//               [--plot FILE.svg]   open-loop latency (latency.hpp)
//   troupe load --list          workloads that can run, one per line
//   troupe demo <name> [--quick]  one demo (samples/demos/<name>.cpp): what it shows, printed
//               [--out PATH]  where a demo that writes a file (an image) writes it
//   troupe demo --list          the demos, one per line: name, two spaces, a summary
//   troupe --help, troupe load --help, troupe demo --help
//
// Exit codes: 0 every run's check held (or help/list), 1 a check failed or a run broke (`all`
// and a sweep print every result first), 2 a usage error (one line on `err`, then the usage
// line), found before any run: a bad argument, conflicting flags, an unwritable --metrics or
// --plot path, an unknown demo, or an --out path for a demo that writes no file or in a
// directory that does not exist.
//
// Commands of several runs draw a progress bar with an ETA on stderr once they have run for a
// second, only if `err` is the process's stderr and a terminal, and never with --json or --csv
// (progress.hpp); results go to `out` only.
//
// Thread-safety: run() may be called from any thread; concurrent calls share nothing but the
// (read-only) workload registry.
#pragma once

#include <ostream>

namespace troupe::cli {

// Runs the command `argv[0] argv[1] … argv[argc-1]`: results go to `out`, errors to `err`.
[[nodiscard]] int run(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace troupe::cli
