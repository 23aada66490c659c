// Outcomes of the lock-free queue operations, shared by every queue flavor. Not API.
#pragma once

namespace troupe::detail {

enum class PushStatus { ok, full, closed };

enum class PopStatus {
  ok,       // a message was taken (try_pop) / is ready (poll)
  empty,    // nothing queued, channel open
  pending,  // a sender claimed a slot and is writing it: a message arrives momentarily
  closed,   // closed and fully drained: the end of the stream
};

}  // namespace troupe::detail
