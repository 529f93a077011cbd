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
#include <vector>

#include "tracker/peer_set.h"
#include "wire/status.h"

namespace spate {

enum class Policy { kRack, kRandom };

struct PolicyOptions {
  Policy policy = Policy::kRack;
  // Peers from other racks handed to each bridge host (gateway). Each
  // gateway fetches only its share of the pieces from them (GatewayRole in
  // wire/api.h), so more bridges add sources, not duplicate bytes. 60 hosts
  // in 6 racks with shares, max/bound and cross-rack / (racks x F): 2 ->
  // 1.48 / 1.26, 3 -> 1.44 / 1.28, 5 -> 1.42 / 1.37.
  int bridges = 3;
  // Hosts per rack that get bridges when roles go by hash (roles_by_grants off):
  // a stable hash of the peer id, so the same hosts keep the role across
  // announces (libtorrent keeps every peer it ever heard of and connects to
  // all of them, so a reply that varies between announces leaks far peers).
  // With roles_by_grants the origin grantees are the bridge hosts.
  int bridge_hosts = 2;
  // A rack with fewer other peers than this is topped up with the nearest
  // peers of other racks (same pod, then dc, then elsewhere). Off by default:
  // at push start every rack looks small to its first announcers, and the
  // far peers they are handed stay connected for the whole push (measured:
  // half of all connections crossed racks). Bridges already reach small racks.
  int min_local = 0;
  // How many requesters per rack are handed the origin seeder; they are also
  // the rack's gateways, and the number of shares the pieces are split into
  // (one per gateway). Keeps the origin's uplink spread across racks instead
  // of saturated by one. Before shares, more gateways filled a rack sooner but
  // carried more bytes across racks (scripts/bench-swarm, 60 hosts in 6
  // racks: 2 -> 2.1-2.2x the bound / 1.5 x racks*F, 4 -> 1.6x / 1.8-2.2,
  // 5 -> 1.4-1.5x / 2.3).
  int origin_per_rack = 5;

  Status Validate() const;
};

using Rng = std::mt19937_64;

struct SelectInput {
  const PeerSet* peers = nullptr;    // the whole swarm, the requester possibly included
  const RackTable* racks = nullptr;  // where the records' rack ids come from
  uint64_t total_size = 0;           // artifact size; 0 = unknown
  // Roles by recorded origin grants (PeerRecord::granted): the hosts granted
  // the origin are also their rack's bridge hosts ("gateways"). The role is
  // first come and recorded, so it does not move as a rack fills up at push
  // start (a role by rank among the peers present would, and every host that
  // once held it would keep its far peers). Only applies while the swarm has
  // an origin. False: roles by hash. Grants count against a rack's origin
  // ration while their holder is in the swarm, finished or not.
  bool roles_by_grants = false;
  // The requester may take a new origin grant if its rack has one free. The
  // tracker allows it only for hosts a running push targets (PushFacts), so
  // strangers cannot use up a rack's grants. Others still get the origin
  // when nobody else has anything for them, without a grant.
  bool grantable = true;
};

struct Selection {
  std::vector<uint32_t> slots;  // into *SelectInput::peers, valid until it changes
  // True when the origin is in `slots` and the requester was not granted it
  // before: the caller records the grant (PeerSet::SetGranted).
  bool new_origin_grant = false;
  // Records looked at: what a reply costs, so tests can bound it.
  size_t examined = 0;
};

// Never the requester itself (same peer id or same ip:port), no duplicates
// (one entry per endpoint), at most numwant.
// Rack policy: the requester's rack (peers with data first, then a stable
// per-requester order; topped up to min_local from the nearest racks), plus
// `bridges` far peers if the requester is one of its rack's bridge hosts, plus
// the origin if granted. It does NOT fill numwant with far peers. The origin
// itself gets no peers: the hosts granted it connect to it. Bridges go to
// other racks' bridge hosts, nearest racks first, each rack once before any
// rack twice. The reply is the same on every announce while the swarm is
// unchanged.
// Cost: O(requester's rack + racks in the swarm + numwant), plus the racks
// the bridges come from; never a pass over the swarm's peers.
// Random policy: numwant peers sampled uniformly, O(numwant).
void SelectPeers(const PeerRecord& requester, const SelectInput& in, int numwant, const PolicyOptions& opts, Rng& rng,
                 Selection* out);

// "rack" / "random".
Result<Policy> ParsePolicy(const std::string& s);
const char* PolicyName(Policy p);

}  // namespace spate
