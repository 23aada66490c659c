# troupe_add_component(<name> [DEPENDS <targets>...])
#
# Creates the library target troupe_<name> (alias troupe::<name>) from the folder's
# include/troupe/<name>/ (public) and src/ (private) trees, the same way for every layer.
# A folder with no sources yet becomes an INTERFACE target.

# Compile options shared by every troupe target (libraries, tests, samples).
add_library(troupe_build_options INTERFACE)
target_compile_options(troupe_build_options INTERFACE -Wall -Wextra -Wpedantic
  $<$<BOOL:${TROUPE_WERROR}>:-Werror>)
# clang checks the locking annotations (detail/mutex.hpp, ABSL_GUARDED_BY…); scripts/check.
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  target_compile_options(troupe_build_options INTERFACE -Wthread-safety)
endif()
# The fuzz preset: the libraries' branches are measured for libFuzzer (scripts/fuzz).
if(TROUPE_FUZZ)
  target_compile_options(troupe_build_options INTERFACE -fsanitize=fuzzer-no-link)
endif()
if(TROUPE_SANITIZER STREQUAL "thread")
  target_compile_options(troupe_build_options INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
  target_link_options(troupe_build_options INTERFACE -fsanitize=thread)
elseif(TROUPE_SANITIZER STREQUAL "address")
  # UBSan's null check is left out: ASan already stops on a null dereference (SEGV, with the
  # stack), and the check, instrumenting every member access at -O0, was 18% of this build's
  # compile time (test_pipeline.cpp: 57 s with it, 47 s without). CI builds three times.
  target_compile_options(troupe_build_options INTERFACE
    -fsanitize=address,undefined -fno-sanitize=null -fno-sanitize-recover=undefined
    -fno-omit-frame-pointer)
  target_link_options(troupe_build_options INTERFACE -fsanitize=address,undefined)
elseif(NOT TROUPE_SANITIZER STREQUAL "")
  message(FATAL_ERROR "TROUPE_SANITIZER must be empty, 'thread' or 'address', not '${TROUPE_SANITIZER}'")
endif()

function(troupe_add_component name)
  cmake_parse_arguments(arg "" "" "DEPENDS" ${ARGN})
  set(target troupe_${name})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/src/*.cpp")
  if(sources)
    add_library(${target} ${sources})
    target_include_directories(${target}
      PUBLIC
        $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
        $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
      PRIVATE
        ${CMAKE_CURRENT_SOURCE_DIR}/src)
    target_link_libraries(${target} PUBLIC ${arg_DEPENDS} PRIVATE $<BUILD_INTERFACE:troupe_build_options>)
    target_compile_features(${target} PUBLIC cxx_std_20)
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  else()
    add_library(${target} INTERFACE)
    if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/include)
      target_include_directories(${target} INTERFACE
        $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
        $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
    endif()
    target_link_libraries(${target} INTERFACE ${arg_DEPENDS})
    target_compile_features(${target} INTERFACE cxx_std_20)
  endif()
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
  add_library(troupe::${name} ALIAS ${target})
  # A layer that has no public header yet has no include/ folder in a clone (git keeps no
  # empty folders): install headers only where there are some.
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/include)
    install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.hpp")
  endif()
  set_property(GLOBAL APPEND PROPERTY TROUPE_COMPONENTS ${target})
endfunction()
