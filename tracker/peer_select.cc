#include "tracker/peer_select.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>

namespace spate {

namespace {

// 0 = seed, 1 = has some data, 2 = nothing yet (or unknown). Coarse on
// purpose: ranking by exact bytes would hand every requester in a rack the
// same few peers and make hot spots.
int DataRank(const Peer& p, uint64_t total) {
  if (p.seed()) return 0;
  if (total > 0 && p.left < total) return 1;
  return 2;
}

// FNV-1a over "a\0b": a stable pseudo-random order per requester. Replies
// must not vary between announces (libtorrent accumulates every peer it is
// told about), yet different requesters should get different peers.
uint64_t StableHash(const std::string& a, const std::string& b) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](unsigned char c) {
    h ^= c;
    h *= 1099511628211ull;
  };
  for (unsigned char c : a) mix(c);
  mix(0);
  for (unsigned char c : b) mix(c);
  return h;
}

}  // namespace

Status PolicyOptions::Validate() const {
  if (bridges < 0) return Status::Invalid("bridges must be >= 0");
  if (bridge_hosts < 0) return Status::Invalid("bridge-hosts must be >= 0");
  if (min_local < 0) return Status::Invalid("min-local must be >= 0");
  if (origin_per_rack < 0) return Status::Invalid("origin-per-rack must be >= 0");
  return Status::Ok();
}

Result<Policy> ParsePolicy(const std::string& s) {
  if (s == "rack") return Policy::kRack;
  if (s == "random") return Policy::kRandom;
  return Status::Invalid("unknown policy '" + s + "' (want rack or random)");
}

const char* PolicyName(Policy p) { return p == Policy::kRack ? "rack" : "random"; }

Selection SelectPeers(const Peer& req, const SelectInput& in, int numwant, const PolicyOptions& opts, Rng& rng) {
  Selection out;
  if (numwant <= 0 || in.peers == nullptr) return out;

  // Candidates: everyone but the requester, one entry per endpoint.
  std::vector<const Peer*> cands;
  const Peer* origin = nullptr;
  for (const Peer& p : *in.peers) {
    if (p.peer_id == req.peer_id || (p.ip == req.ip && p.port == req.port)) continue;
    if (p.origin && opts.policy == Policy::kRack) {
      if (!origin) origin = &p;
      continue;
    }
    cands.push_back(&p);
  }

  // One entry per endpoint in the reply (a restarted peer may linger under its
  // old id); checked on output, which is small, not over the whole swarm.
  std::set<std::pair<std::string, uint16_t>> endpoints;
  auto emit = [&](const Peer* p) {
    if (!endpoints.emplace(p->ip, p->port).second) return false;
    out.peers.push_back(*p);
    return true;
  };

  if (opts.policy == Policy::kRandom) {
    std::shuffle(cands.begin(), cands.end(), rng);
    for (size_t i = 0; i < cands.size() && out.peers.size() < size_t(numwant); ++i) emit(cands[i]);
    return out;
  }
  // The origin connects to nobody: the hosts granted it connect to it.
  if (req.origin) return out;

  const uint64_t total = in.total_size;
  int budget = numwant;
  if (origin && !req.seed()) {
    bool already = in.origin_grants && in.origin_grants->count(req.peer_id);
    size_t granted = 0;  // grants held by peers still here and still downloading
    if (in.origin_grants && !already && !in.origin_grants->empty())
      for (const Peer* p : cands)
        if (!p->seed() && in.origin_grants->count(p->peer_id)) ++granted;
    bool within_ration = already || granted < size_t(opts.origin_per_rack);
    // A requester with nobody else to fetch from still gets the origin,
    // without using up the rack's ration.
    if (within_ration || cands.empty()) {
      emit(origin);
      out.new_origin_grant = within_ration && !already;
      --budget;
    }
  }

  // Same-rack peers: with data first, then a stable per-requester order.
  std::vector<const Peer*> local, far;
  for (const Peer* p : cands) (LocationDistance(req.location, p->location) == kSameRack ? local : far).push_back(p);
  auto rank = [&](const Peer* p) {
    return std::make_pair(DataRank(*p, total), StableHash(req.peer_id, p->peer_id));
  };
  std::sort(local.begin(), local.end(), [&](const Peer* a, const Peer* b) { return rank(a) < rank(b); });

  // Is the requester one of its rack's bridge hosts ("gateway")? With recorded
  // grants, the origin grantees are; otherwise rank by a stable hash of the peer id.
  bool bridge_host;
  const bool by_grants = in.grants_by_rack && origin;  // no origin here: no grants to go by
  if (by_grants) {
    bool granted = out.new_origin_grant || (in.origin_grants && in.origin_grants->count(req.peer_id));
    auto g = in.grants_by_rack->find(req.location.ToString());
    bridge_host = granted || (g != in.grants_by_rack->end() && g->second.count(req.peer_id));
  } else {
    auto own = StableHash("bridge", req.peer_id);
    int below = 0;
    for (const Peer* p : local)
      if (StableHash("bridge", p->peer_id) < own) ++below;
    bridge_host = below < opts.bridge_hosts;
  }

  // Bridges keep their slots even when the rack alone could fill numwant.
  int reserved = bridge_host ? std::min(opts.bridges, budget / 2) : 0;
  int want_local = std::max(0, budget - reserved);
  int n_local = 0;
  for (size_t i = 0; i < local.size() && n_local < want_local; ++i) n_local += emit(local[i]);
  budget -= n_local;
  // A requester outside the rackmap has no rack to stay in: nearest peers up to numwant.
  bool unknown = LocationDistance(req.location, req.location) != kSameRack;
  int topup = std::min(budget, unknown ? budget : std::max(0, opts.min_local - n_local));
  int bridges = bridge_host ? opts.bridges : 0;
  // Most requesters stop here: far peers are looked at only for gateways and small racks.
  if (far.empty() || (topup <= 0 && bridges <= 0)) return out;

  // Top up a small rack from the nearest racks: the nearest level first, ties by the stable order.
  std::set<const Peer*> picked;
  if (topup > 0) {
    auto near_key = [&](const Peer* p) {
      return std::make_pair(int(LocationDistance(req.location, p->location)), StableHash(req.peer_id, p->peer_id));
    };
    std::vector<const Peer*> order(far.begin(), far.end());
    std::sort(order.begin(), order.end(), [&](const Peer* a, const Peer* b) { return near_key(a) < near_key(b); });
    for (size_t i = 0; i < order.size() && topup > 0; ++i)
      if (emit(order[i])) {
        picked.insert(order[i]);
        --topup;
        --budget;
      }
  }
  bridges = std::min(budget, bridges);
  if (bridges <= 0) return out;

  // Bridge ends: other racks' gateways (recorded grants), or with no grants
  // each rack's lowest-hash peers first. A rack without a gateway yet is
  // reached once it has one (its gateway will also link out by itself).
  std::vector<const Peer*> ends;
  std::unordered_set<std::string> gateway_ids;
  if (by_grants) {
    for (const auto& [rack, ids] : *in.grants_by_rack) gateway_ids.insert(ids.begin(), ids.end());
    for (const Peer* p : far)
      if (gateway_ids.count(p->peer_id)) ends.push_back(p);
  } else {
    ends = far;
  }
  // Group by rack; racks nearest first, then in a stable per-requester order.
  std::map<std::tuple<int, uint64_t, std::string>, std::vector<const Peer*>> by_rack;
  for (const Peer* p : ends) {
    std::string rack = p->location.ToString();
    by_rack[{int(LocationDistance(req.location, p->location)), StableHash(req.peer_id, rack), rack}].push_back(p);
  }
  for (auto& [k, v] : by_rack) {
    uint64_t cut = UINT64_MAX;
    if (!by_grants) {  // the rack's bridge hosts by hash come first
      std::vector<uint64_t> role;
      for (const Peer* p : v) role.push_back(StableHash("bridge", p->peer_id));
      std::sort(role.begin(), role.end());
      if (role.size() > size_t(opts.bridge_hosts)) cut = role[opts.bridge_hosts];
    }
    auto key = [&](const Peer* p) {
      return std::make_pair(StableHash("bridge", p->peer_id) < cut ? 0 : 1, StableHash(req.peer_id, p->peer_id));
    };
    std::sort(v.begin(), v.end(), [&](const Peer* a, const Peer* b) { return key(a) < key(b); });
  }
  // Each rack once (nearest first) before any rack twice, so bridges reach different racks.
  for (size_t round = 0; bridges > 0; ++round) {
    bool any = false;
    for (auto& [k, v] : by_rack)
      if (round < v.size() && bridges > 0) {
        any = true;
        if (picked.insert(v[round]).second && emit(v[round])) --bridges;
      }
    if (!any) break;
  }
  return out;
}

}  // namespace spate
