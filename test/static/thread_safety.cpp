// test/static/thread_safety.cpp — compiled by scripts/check, never run.
//
// clang checks a template's locking only where the template is instantiated, and the library
// sources instantiate few of the public headers' templates (the tests, which do, use C++20
// features clang 14 lacks). This file instantiates each annotated class template in full, so
// that -Wthread-safety reads every member function that takes a lock.
#include "troupe/channels/broadcast.hpp"
#include "troupe/channels/detail/rendezvous.hpp"

template class troupe::detail::Rendezvous<int>;
template class troupe::detail::BroadcastState<int>;
