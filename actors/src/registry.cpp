#include "troupe/actors/registry.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace troupe {
namespace detail {
namespace {

// Cells by id, in shards so that spawning on many threads does not meet on one lock.
struct Shard {
  std::mutex mutex;
  std::map<std::uint64_t, ActorCell*> cells;  // guarded by mutex
};
constexpr std::size_t kShards = 16;

struct Name {
  std::uint64_t id;
  std::type_index type;
  std::weak_ptr<ActorCell> cell;
  std::shared_ptr<void> sender;  // a Sender<Envelope<A>>
};

struct Registry {
  std::array<Shard, kShards> shards;
  std::mutex names_mutex;
  std::unordered_map<std::string, Name> names;  // guarded by names_mutex

  Shard& shard_of(std::uint64_t id) noexcept { return shards[id % kShards]; }
};

// Never destroyed: cells may be destroyed during static destruction.
Registry& registry() {
  static Registry* const instance = new Registry();
  return *instance;
}

std::string describe(std::uint64_t id, const std::string& name) {
  return "actor " + std::to_string(id) + (name.empty() ? "" : " '" + name + "'");
}

}  // namespace

void registry_add(ActorCell& cell) {
  Shard& shard = registry().shard_of(cell.id);
  std::lock_guard lock(shard.mutex);
  shard.cells.emplace(cell.id, &cell);
}

void registry_remove(ActorCell& cell) noexcept {
  Shard& shard = registry().shard_of(cell.id);
  std::lock_guard lock(shard.mutex);
  shard.cells.erase(cell.id);
}

void register_name(const std::shared_ptr<ActorCell>& cell, std::type_index type,
                   std::shared_ptr<void> sender) {
  if (cell->name.empty()) {
    throw Error(ErrorCode::invalid_argument,
                "spawn: ActorOptions::register_name needs a non-empty name");
  }
  Registry& r = registry();
  {
    std::lock_guard lock(r.names_mutex);
    auto [at, added] = r.names.try_emplace(cell->name, Name{cell->id, type, cell, sender});
    if (!added) {
      throw Error(ErrorCode::invalid_argument, "spawn: the name '" + cell->name +
                                                   "' is registered to " +
                                                   describe(at->second.id, cell->name));
    }
  }
  cell->registered = true;
  cell->on_exit([name = cell->name, id = cell->id](const ActorDown&) {
    Registry& reg = registry();
    std::shared_ptr<void> dropped;  // destroyed after the lock: it may be the last sender
    std::lock_guard lock(reg.names_mutex);
    auto it = reg.names.find(name);
    if (it != reg.names.end() && it->second.id == id) {
      dropped = std::move(it->second.sender);
      reg.names.erase(it);
    }
  });
}

std::shared_ptr<void> lookup_sender(std::string_view name, std::type_index type,
                                    std::shared_ptr<ActorCell>& cell) {
  Registry& r = registry();
  std::lock_guard lock(r.names_mutex);
  auto it = r.names.find(std::string(name));
  if (it == r.names.end()) return nullptr;
  if (it->second.type != type) {
    throw Error(ErrorCode::invalid_argument,
                "lookup: '" + std::string(name) + "' is " + describe(it->second.id, it->first) +
                    ", of type " + it->second.type.name() + ", not " + type.name());
  }
  cell = it->second.cell.lock();
  if (cell == nullptr) return nullptr;
  return it->second.sender;
}

}  // namespace detail

std::vector<ActorInfo> live_actors() {
  std::vector<ActorInfo> out;
  for (detail::Shard& shard : detail::registry().shards) {
    std::lock_guard lock(shard.mutex);  // a listed cell is not destroyed meanwhile
    for (const auto& [id, cell] : shard.cells) {
      ActorInfo info;
      info.id = id;
      info.name = cell->name;
      info.state = cell->state.load(std::memory_order_relaxed);
      info.mailbox_depth = info.state == ActorState::exited ? 0 : cell->mailbox_depth();
      info.received = cell->received.load(std::memory_order_relaxed);
      info.dead_letters = cell->dead_letters.load(std::memory_order_relaxed);
      info.restarts = cell->restarts.load(std::memory_order_relaxed);
      info.bytes_held = cell->account == nullptr ? 0 : cell->account->used();
      info.registered = cell->registered;
      out.push_back(std::move(info));
    }
  }
  std::sort(out.begin(), out.end(),
            [](const ActorInfo& a, const ActorInfo& b) { return a.id < b.id; });
  return out;
}

std::string dump_actors() {
  std::string out;
  for (const ActorInfo& a : live_actors()) {
    if (a.state == ActorState::exited) continue;
    out += detail::describe(a.id, a.name) + ": " + std::string(to_string(a.state)) +
           ", mailbox " + std::to_string(a.mailbox_depth) + ", received " +
           std::to_string(a.received) + ", restarts " + std::to_string(a.restarts) + "\n";
  }
  return out.empty() ? "no live actors\n" : out;
}

}  // namespace troupe
