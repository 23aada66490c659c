// The `troupe` command: load experiments for the troupe actor framework (see cli.hpp).
#include <iostream>

#include "troupe/cli.hpp"

int main(int argc, char** argv) { return troupe::cli::run(argc, argv, std::cout, std::cerr); }
