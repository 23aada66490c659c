# Every dependency comes from a Debian package. A missing one stops configure and names the package
# to install (scripts/setup-deps installs them all). Nothing is fetched over the network.

function(troupe_require package debian_package)
  find_package(${package} ${ARGN} QUIET)
  if(NOT ${package}_FOUND)
    message(FATAL_ERROR
      "troupe needs ${package}, which was not found.\n"
      "Install it with:  sudo apt-get install ${debian_package}\n"
      "(or run scripts/setup-deps, which installs every dependency)")
  endif()
endfunction()

troupe_require(Threads "libc6-dev")
troupe_require(Boost "libboost-dev" 1.74)          # Boost.Lockfree (header-only)
troupe_require(absl "libabsl-dev" CONFIG)          # thread annotations, containers

if(TROUPE_BUILD_TESTS)
  troupe_require(doctest "doctest-dev" CONFIG)
endif()
if(TROUPE_BUILD_SAMPLES)
  troupe_require(CLI11 "libcli11-dev" CONFIG)
  troupe_require(benchmark "libbenchmark-dev" CONFIG)
endif()
