// troupe/actors/registry.hpp — the process's actors: names, look-up, a live list and a dump.
//
//   ActorOptions options;
//   options.name = "db";
//   options.register_name = true;               // unique among registered live actors
//   auto db = troupe::spawn_actor<Db>(rt, options, config);
//   std::optional<troupe::ActorRef<Db>> again = troupe::lookup<Db>("db");
//   for (const troupe::ActorInfo& a : troupe::live_actors()) ...   // id, name, state, depth
//   std::string report = troupe::dump_actors();                    // one line per live actor
//
// Every actor is listed from its spawn until its cell is gone (its exit, and the last
// ActorRef to it dropped). A registered name belongs to the actor until it exits; look-up keeps
// a sending handle, so a registered actor does not end when its last ActorRef is dropped (it
// ends by terminate(), failure, its supervisor, a link or shutdown; then the name is free).
// Spawning with a name already registered throws Error(invalid_argument) naming the holder.
//
// Thread-safety: every function may be called from any thread. The lists are snapshots: an
// actor may change state, or exit, right after.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <typeindex>
#include <vector>

#include "troupe/actors/actor.hpp"

namespace troupe {

struct ActorInfo {
  std::uint64_t id = 0;
  std::string name;
  ActorState state = ActorState::starting;
  std::size_t mailbox_depth = 0;
  std::uint64_t received = 0;
  std::uint64_t dead_letters = 0;
  std::uint64_t dropped = 0;
  std::uint64_t rejected = 0;
  std::uint64_t restarts = 0;
  std::uint64_t slow_messages = 0;
  std::size_t bytes_held = 0;
  bool registered = false;  // reachable by name
  bool timed = false;       // the histograms are kept (ActorOptions::timing)
  TimeHistogram processing;    // handler run times
  TimeHistogram mailbox_wait;  // from the send to the handler's start (handler actors)
};

// Runtime::metrics() gains an "actors" section (JSON: an array of these; Prometheus: one
// gauge per counter, labelled actor="<id>",name="<name>", and for timed actors two histograms
// with cumulative buckets, actor_processing_ns_bucket{...,le="<2^(i+1)>"} and
// actor_mailbox_wait_ns_bucket, each with _count and _sum) for every actor not yet exited,
// once the first actor has been spawned.

// Every actor whose cell still exists, by id.
[[nodiscard]] std::vector<ActorInfo> live_actors();
// One line per actor of live_actors() that has not exited: "actor 7 'db': handling, mailbox
// 3, received 120, restarts 1", or "no live actors". For shutdown reports and debugging.
[[nodiscard]] std::string dump_actors();

namespace detail {
// The registered sending handle for `name`, if its type is `type`. Throws Error(invalid_argument)
// if the name is registered to an actor of another type.
std::shared_ptr<void> lookup_sender(std::string_view name, std::type_index type,
                                    std::shared_ptr<ActorCell>& cell);
}  // namespace detail

// The registered actor `name`, if it is live and registered; std::nullopt if not. Throws
// Error(invalid_argument) if `name` belongs to an actor of another type than A.
template <class A>
std::optional<ActorRef<A>> lookup(std::string_view name) {
  std::shared_ptr<detail::ActorCell> cell;
  std::shared_ptr<void> sender = detail::lookup_sender(name, typeid(A), cell);
  if (sender == nullptr) return std::nullopt;
  return detail::ActorRefAccess::make<A>(*static_cast<Sender<detail::Envelope<A>>*>(sender.get()),
                                         std::move(cell));
}

}  // namespace troupe
