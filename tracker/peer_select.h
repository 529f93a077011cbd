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
#include <unordered_map>
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
  // Peers from other racks handed to each bridge host. Few on purpose: every
  // cross-rack connection carries data both ways, and rarest-first makes a
  // rack's few bridge links pull exactly the pieces the rack lacks.
  int bridges = 2;
  // Hosts per rack that get bridges when roles go by hash (no grants_by_rack):
  // a stable hash of the peer id, so the same hosts keep the role across
  // announces (libtorrent keeps every peer it ever heard of and connects to
  // all of them, so a reply that varies between announces leaks far peers).
  // With grants_by_rack the origin grantees are the bridge hosts.
  int bridge_hosts = 2;
  // A rack with fewer other peers than this is topped up with the nearest
  // peers of other racks (same pod, then dc, then elsewhere). Off by default:
  // at push start every rack looks small to its first announcers, and the
  // far peers they are handed stay connected for the whole push (measured:
  // half of all connections crossed racks). Bridges already reach small racks.
  int min_local = 0;
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
  // Only grants to peers still in the swarm and still downloading count.
  const std::unordered_set<std::string>* origin_grants = nullptr;
  // Every rack's origin grants, keyed by Location::ToString(). The hosts
  // granted the origin are also their rack's bridge hosts ("gateways"): the
  // role is first come and recorded, so it does not move as a rack fills up
  // at push start (a role by rank among the peers present would, and every
  // host that once held it would keep its far peers). Null: roles by hash.
  const std::unordered_map<std::string, std::unordered_set<std::string>>* grants_by_rack = nullptr;
};

struct Selection {
  std::vector<Peer> peers;
  // True when the origin is in `peers` and the requester was not granted it
  // before: the caller records the grant in the swarm state.
  bool new_origin_grant = false;
};

// Never the requester itself (same peer id or same ip:port), no duplicates, at most numwant.
// Rack policy: the requester's rack (topped up to min_local from the nearest
// racks), plus `bridges` far peers if the requester is one of its rack's
// bridge hosts, plus the origin if granted. It does NOT fill numwant with far
// peers. The origin itself gets no peers: the hosts granted it connect to it.
// The reply is the same on every announce while the swarm is unchanged.
Selection SelectPeers(const Peer& requester, const SelectInput& in, int numwant, const PolicyOptions& opts, Rng& rng);

// "rack" / "random".
Result<Policy> ParsePolicy(const std::string& s);
const char* PolicyName(Policy p);

}  // namespace spate
