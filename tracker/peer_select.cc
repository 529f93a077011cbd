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
  std::set<std::pair<std::string, uint16_t>> endpoints;
  std::set<std::string> present;  // peer ids still downloading, for counting live origin grants
  for (const Peer& p : *in.peers) {
    if (!p.seed()) present.insert(p.peer_id);
    if (p.peer_id == req.peer_id || (p.ip == req.ip && p.port == req.port)) continue;
    if (!endpoints.emplace(p.ip, p.port).second) continue;
    if (p.origin && opts.policy == Policy::kRack) {
      if (!origin) origin = &p;
      continue;
    }
    cands.push_back(&p);
  }

  if (opts.policy == Policy::kRandom) {
    std::shuffle(cands.begin(), cands.end(), rng);
    if (cands.size() > size_t(numwant)) cands.resize(numwant);
    for (const Peer* p : cands) out.peers.push_back(*p);
    return out;
  }
  // The origin connects to nobody: the hosts granted it connect to it.
  if (req.origin) return out;

  const uint64_t total = in.total_size;
  int budget = numwant;
  if (origin && !req.seed()) {
    bool already = in.origin_grants && in.origin_grants->count(req.peer_id);
    size_t granted = 0;
    if (in.origin_grants)
      for (const auto& id : *in.origin_grants) granted += present.count(id);
    bool within_ration = already || granted < size_t(opts.origin_per_rack);
    // A requester with nobody else to fetch from still gets the origin,
    // without using up the rack's ration.
    if (within_ration || cands.empty()) {
      out.peers.push_back(*origin);
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

  // Far peers: one per rack in turn, racks nearest first, so bridges reach
  // different racks. Stable per requester.
  std::map<std::tuple<int, uint64_t, std::string>, std::vector<const Peer*>> by_rack;
  for (const Peer* p : far) {
    std::string rack = p->location.ToString();
    by_rack[{int(LocationDistance(req.location, p->location)), StableHash(req.peer_id, rack), rack}].push_back(p);
  }
  // Within a rack, its bridge hosts first: bridges then link gateway to
  // gateway, so cross-rack traffic stays on a few hosts per rack instead of
  // landing on whichever host a far requester happened to pick.
  for (auto& [k, v] : by_rack) {
    std::vector<uint64_t> role;
    for (const Peer* p : v) role.push_back(StableHash("bridge", p->peer_id));
    std::sort(role.begin(), role.end());
    uint64_t cut = role.size() > size_t(opts.bridge_hosts) ? role[opts.bridge_hosts] : UINT64_MAX;
    const std::unordered_set<std::string>* gw = nullptr;
    if (in.grants_by_rack) {
      auto g = in.grants_by_rack->find(std::get<2>(k));
      static const std::unordered_set<std::string> kNone;
      gw = g == in.grants_by_rack->end() ? &kNone : &g->second;
    }
    auto gateway = [&](const Peer* p) {
      return gw ? gw->count(p->peer_id) > 0 : StableHash("bridge", p->peer_id) < cut;
    };
    auto key = [&](const Peer* p) { return std::make_pair(gateway(p) ? 0 : 1, StableHash(req.peer_id, p->peer_id)); };
    std::sort(v.begin(), v.end(), [&](const Peer* a, const Peer* b) { return key(a) < key(b); });
    // With recorded roles only gateways are bridge ends; a rack without one yet
    // is reached once it has one (its gateway will also link out by itself).
    if (gw) v.erase(std::remove_if(v.begin(), v.end(), [&](const Peer* p) { return !gateway(p); }), v.end());
  }
  size_t far_gateways = 0;
  for (auto& [k, v] : by_rack) far_gateways += v.size();
  // Top-up order (all far peers): the nearest level first, ties by the stable order.
  std::vector<const Peer*> topup_order(far.begin(), far.end()), bridge_order;
  auto near_key = [&](const Peer* p) {
    return std::make_pair(int(LocationDistance(req.location, p->location)), StableHash(req.peer_id, p->peer_id));
  };
  std::sort(topup_order.begin(), topup_order.end(), [&](const Peer* a, const Peer* b) { return near_key(a) < near_key(b); });
  // Bridge order: each rack once (nearest first) before any rack twice.
  for (size_t round = 0; bridge_order.size() < far_gateways; ++round)
    for (auto& [k, v] : by_rack)
      if (round < v.size()) bridge_order.push_back(v[round]);

  // Is the requester one of its rack's bridge hosts? Rank by stable hash of the peer id among the rack.
  auto own = StableHash("bridge", req.peer_id);
  int below = 0;
  for (const Peer* p : local)
    if (StableHash("bridge", p->peer_id) < own) ++below;
  bool bridge_host = below < opts.bridge_hosts;
  if (in.grants_by_rack) {
    bool granted = out.new_origin_grant || (in.origin_grants && in.origin_grants->count(req.peer_id));
    auto g = in.grants_by_rack->find(req.location.ToString());
    bridge_host = granted || (g != in.grants_by_rack->end() && g->second.count(req.peer_id));
  }

  // Bridges keep their slots even when the rack alone could fill numwant.
  int reserved = bridge_host ? std::min(opts.bridges, budget / 2) : 0;
  size_t n_local = std::min(local.size(), size_t(std::max(0, budget - reserved)));
  for (size_t i = 0; i < n_local; ++i) out.peers.push_back(*local[i]);
  budget -= int(n_local);
  // Top up a small rack from the nearest racks, then add the bridges.
  // A requester outside the rackmap has no rack to stay in: nearest peers up to numwant.
  bool unknown = LocationDistance(req.location, req.location) != kSameRack;
  int topup = std::min(budget, unknown ? budget : std::max(0, opts.min_local - int(n_local)));
  std::set<const Peer*> picked;
  for (size_t i = 0; i < topup_order.size() && topup > 0; ++i, --topup, --budget) {
    out.peers.push_back(*topup_order[i]);
    picked.insert(topup_order[i]);
  }
  int bridges = bridge_host ? std::min(budget, opts.bridges) : 0;
  for (size_t i = 0; i < bridge_order.size() && bridges > 0; ++i)
    if (!picked.count(bridge_order[i])) {
      out.peers.push_back(*bridge_order[i]);
      --bridges;
    }
  return out;
}

}  // namespace spate
