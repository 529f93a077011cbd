// Origin grants must keep earning their place: a gateway whose `left` has not
// gone down for a while loses its grant, so a stuck host cannot hold one of
// its rack's few origin shares for the whole push. Kept beside the PeerSet
// (a record has no room left) and only for peers that were granted.
#pragma once

#include <cstdint>
#include <unordered_map>

#include "tracker/peer_set.h"

namespace spate {

class GrantWatch {
 public:
  // `id` was just granted the origin with `left` bytes missing.
  void Start(const PeerId& id, uint64_t left, int64_t now_ms);
  // `id` announced `left`; less than its best so far is progress.
  void Observe(const PeerId& id, uint64_t left, int64_t now_ms);
  // Granted, not done, and no progress for `stall_ms`.
  bool Stalled(const PeerId& id, uint64_t left, int64_t now_ms, int64_t stall_ms) const;
  // Its grant was taken away: it may not take one again until it progresses.
  void Revoke(const PeerId& id);
  bool Barred(const PeerId& id) const;
  void Forget(const PeerId& id);
  size_t size() const { return watched_.size(); }

 private:
  struct Hasher {
    size_t operator()(const PeerId& id) const { return size_t(IdHash(id)); }
  };
  struct Entry {
    uint64_t best_left = 0;
    int64_t since_ms = 0;  // when best_left was reached
    bool revoked = false;
  };
  std::unordered_map<PeerId, Entry, Hasher> watched_;
};

}  // namespace spate
