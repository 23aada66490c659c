#include "troupe/actors/registry.hpp"

#include "metrics_text.hpp"

#include "troupe/channels/detail/config.hpp"
#include "troupe/channels/detail/mutex.hpp"
#include "troupe/runtime/metrics.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <unordered_map>
#include <utility>

namespace troupe {
namespace detail {
namespace {

// Cells in intrusive lists (ActorCell::registry_prev/next), in shards so that spawning on
// many threads does not meet on one lock: keyed by id block (actor.hpp), a cache line each.
// No allocation per actor.
struct alignas(kCacheLine) Shard {
  detail::SpinMutex mutex;  // held for a link or an unlink, or to read the list
  // Guarded by mutex, as the cells' links (ActorCell::registry_prev/next and listed, which the
  // analysis cannot tie to a shard's lock: registry_add and registry_remove take it).
  ActorCell* head ABSL_GUARDED_BY(mutex) = nullptr;
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
  detail::PlainMutex names_mutex;
  std::unordered_map<std::string, Name> names ABSL_GUARDED_BY(names_mutex);

  Shard& shard_of(std::uint64_t id) noexcept { return shards[actor_id_block(id) % kShards]; }
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

MetricsSection actor_metrics();

void registry_add(ActorCell& cell) {
  static const bool exported = (add_metrics_source(&actor_metrics), true);
  (void)exported;
  Shard& shard = registry().shard_of(cell.id);
  detail::MutexLock lock(shard.mutex);
  cell.registry_next = shard.head;
  if (shard.head != nullptr) shard.head->registry_prev = &cell;
  shard.head = &cell;
  cell.listed = true;
}

void registry_remove(ActorCell& cell) noexcept {
  Shard& shard = registry().shard_of(cell.id);
  detail::MutexLock lock(shard.mutex);
  if (!cell.listed) return;  // never spawned (spawn failed before it was listed)
  if (cell.registry_prev != nullptr) {
    cell.registry_prev->registry_next = cell.registry_next;
  } else {
    shard.head = cell.registry_next;
  }
  if (cell.registry_next != nullptr) cell.registry_next->registry_prev = cell.registry_prev;
  cell.listed = false;
}

void register_name(const std::shared_ptr<ActorCell>& cell, std::type_index type,
                   std::shared_ptr<void> sender) {
  if (cell->name.empty()) {
    throw Error(ErrorCode::invalid_argument,
                "spawn: ActorOptions::register_name needs a non-empty name");
  }
  Registry& r = registry();
  {
    detail::MutexLock lock(r.names_mutex);
    auto [at, added] = r.names.try_emplace(cell->name, Name{cell->id, type, cell, std::move(sender)});
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
    detail::MutexLock lock(reg.names_mutex);
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
  detail::MutexLock lock(r.names_mutex);
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
    detail::MutexLock lock(shard.mutex);  // a listed cell is not destroyed meanwhile
    for (const detail::ActorCell* cell = shard.head; cell != nullptr;
         cell = cell->registry_next) {
      ActorInfo info;
      info.id = cell->id;
      info.name = cell->name;
      info.state = cell->state.load(std::memory_order_relaxed);
      info.mailbox_depth = info.state == ActorState::exited ? 0 : cell->mailbox_depth();
      info.received = cell->received.load(std::memory_order_relaxed);
      info.dead_letters = cell->dead_letters.load(std::memory_order_relaxed);
      info.dropped = cell->dropped.load(std::memory_order_relaxed);
      info.rejected = cell->rejected.load(std::memory_order_relaxed);
      info.restarts = cell->restarts.load(std::memory_order_relaxed);
      info.slow_messages = cell->slow_messages.load(std::memory_order_relaxed);
      info.bytes_held = cell->account == nullptr ? 0 : cell->account->used();
      info.registered = cell->registered;
      info.timed = cell->timing != nullptr;
      info.processing = cell->processing_times();
      info.mailbox_wait = cell->mailbox_waits();
      out.push_back(std::move(info));
    }
  }
  std::sort(out.begin(), out.end(),
            [](const ActorInfo& a, const ActorInfo& b) { return a.id < b.id; });
  return out;
}

namespace detail {

MetricsSection actor_metrics() {
  MetricsSection section;
  section.name = "actors";
  section.help = {
      {"actor_mailbox_depth", "Messages queued in the actor's mailbox"},
      {"actor_received", "Messages the actor took from its mailbox"},
      {"actor_dead_letters", "Messages to the actor that were not delivered"},
      {"actor_dropped", "Messages dropped by the drop_newest overflow policy"},
      {"actor_rejected", "Messages handed back because the mailbox was full"},
      {"actor_restarts", "Times a supervisor rebuilt the actor"},
      {"actor_slow_messages", "Handlers that ran past the message budget"},
      {"actor_bytes_held", "Bytes of Buffers charged to the actor"},
      {"actor_processing_ns_bucket", "Handler run times: runs shorter than le nanoseconds"},
      {"actor_processing_ns_count", "Handler runs timed"},
      {"actor_processing_ns_sum", "Total handler run time in nanoseconds"},
      {"actor_mailbox_wait_ns_bucket",
       "Mailbox waits (send to handler start): waits shorter than le nanoseconds"},
      {"actor_mailbox_wait_ns_count", "Mailbox waits timed"},
      {"actor_mailbox_wait_ns_sum", "Total mailbox wait in nanoseconds"},
  };
  std::string json = "[";
  for (const ActorInfo& a : live_actors()) {
    if (a.state == ActorState::exited) continue;
    const std::string labels =
        "actor=\"" + std::to_string(a.id) + "\",name=\"" + label_value(a.name) + "\"";
    const auto sample = [&](const char* name, double value) {
      section.samples.push_back({name, labels, value});
    };
    sample("actor_mailbox_depth", static_cast<double>(a.mailbox_depth));
    sample("actor_received", static_cast<double>(a.received));
    sample("actor_dead_letters", static_cast<double>(a.dead_letters));
    sample("actor_dropped", static_cast<double>(a.dropped));
    sample("actor_rejected", static_cast<double>(a.rejected));
    sample("actor_restarts", static_cast<double>(a.restarts));
    sample("actor_slow_messages", static_cast<double>(a.slow_messages));
    sample("actor_bytes_held", static_cast<double>(a.bytes_held));
    if (json.size() > 1) json += ",";
    json += "{\"id\":" + std::to_string(a.id) + ",\"name\":" + json_string(a.name) +
            ",\"state\":\"" + std::string(to_string(a.state)) + "\"" +
            ",\"mailbox_depth\":" + std::to_string(a.mailbox_depth) +
            ",\"received\":" + std::to_string(a.received) +
            ",\"dead_letters\":" + std::to_string(a.dead_letters) +
            ",\"dropped\":" + std::to_string(a.dropped) +
            ",\"rejected\":" + std::to_string(a.rejected) +
            ",\"restarts\":" + std::to_string(a.restarts) +
            ",\"slow_messages\":" + std::to_string(a.slow_messages) +
            ",\"bytes_held\":" + std::to_string(a.bytes_held);
    if (a.timed) {
      add_histogram(section, json, labels, "actor_processing_ns", "processing_ns", a.processing);
      add_histogram(section, json, labels, "actor_mailbox_wait_ns", "mailbox_wait_ns",
                    a.mailbox_wait);
    }
    json += "}";
  }
  section.json = json + "]";
  return section;
}
}  // namespace detail

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
