#include "tracker/grant_watch.h"

namespace spate {

void GrantWatch::Start(const PeerId& id, uint64_t left, int64_t now_ms) { watched_[id] = Entry{left, now_ms, false}; }

void GrantWatch::Observe(const PeerId& id, uint64_t left, int64_t now_ms) {
  auto it = watched_.find(id);
  if (it == watched_.end() || left >= it->second.best_left) return;
  it->second = Entry{left, now_ms, false};
}

bool GrantWatch::Stalled(const PeerId& id, uint64_t left, int64_t now_ms, int64_t stall_ms) const {
  if (left == 0) return false;  // a finished gateway keeps its grant: its rack has every piece
  auto it = watched_.find(id);
  return it != watched_.end() && !it->second.revoked && now_ms - it->second.since_ms >= stall_ms;
}

void GrantWatch::Revoke(const PeerId& id) {
  auto it = watched_.find(id);
  if (it != watched_.end()) it->second.revoked = true;
}

bool GrantWatch::Barred(const PeerId& id) const {
  auto it = watched_.find(id);
  return it != watched_.end() && it->second.revoked;
}

void GrantWatch::Forget(const PeerId& id) { watched_.erase(id); }

}  // namespace spate
