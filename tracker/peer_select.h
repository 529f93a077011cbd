// Which peers the tracker hands to an announcing peer. Pure functions of their
// inputs (the swarm, the requester, options and a seeded Rng), so policies are
// tested exhaustively on synthetic swarms.
//
// libtorrent ignores the order of peers in a tracker reply and connects to all
// it hears of, so locality comes from WHICH peers are returned: mostly the
// requester's own rack, then pod, then dc, plus a few deliberate "bridge"
// peers from other racks so pieces enter every rack.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <unordered_set>
#include <vector>

#include "rackmap/rackmap.h"
#include "wire/status.h"

namespace spate {

struct Peer {
  std::string peer_id;  // 20 raw bytes as announced
  std::string ip;       // text form, v4 or v6
  uint16_t port = 0;
  Location location;
  uint64_t left = 0;  // bytes still missing (0 = seed)
  bool origin = false;  // the artifact's origin seeder

  bool seed() const { return left == 0; }
};

enum class Policy { kRack, kRandom };

struct PolicyOptions {
  Policy policy = Policy::kRack;
  // Peers from outside the requester's rack added on purpose, so every rack
  // gets pieces from elsewhere even when it has enough local peers. Capped at
  // half of numwant so a small numwant stays mostly local.
  int bridges = 2;
  // How many requesters per rack are handed the origin seeder. Keeps the
  // origin's uplink spread across racks instead of saturated by one.
  int origin_per_rack = 2;

  Status Validate() const;
};

using Rng = std::mt19937_64;

struct SelectInput {
  const std::vector<Peer>* peers = nullptr;  // the whole swarm, the requester possibly included
  uint64_t total_size = 0;                   // artifact size; 0 = unknown
  // Requesters in the requester's rack already granted the origin (peer ids).
  const std::unordered_set<std::string>* origin_grants = nullptr;
};

struct Selection {
  std::vector<Peer> peers;
  // True when the origin is in `peers` and the requester was not granted it
  // before: the caller records the grant in the swarm state.
  bool new_origin_grant = false;
};

// Never the requester itself (same peer id or same ip:port), no duplicates, at most numwant.
Selection SelectPeers(const Peer& requester, const SelectInput& in, int numwant, const PolicyOptions& opts, Rng& rng);

// "rack" / "random".
Result<Policy> ParsePolicy(const std::string& s);
const char* PolicyName(Policy p);

}  // namespace spate
