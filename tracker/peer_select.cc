#include "tracker/peer_select.h"

#include <algorithm>
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

}  // namespace

Status PolicyOptions::Validate() const {
  if (bridges < 0) return Status::Invalid("bridges must be >= 0");
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
  for (const Peer& p : *in.peers) {
    if (p.peer_id == req.peer_id || (p.ip == req.ip && p.port == req.port)) continue;
    if (!endpoints.emplace(p.ip, p.port).second) continue;
    if (p.origin && opts.policy == Policy::kRack) {
      if (!origin) origin = &p;
      continue;
    }
    cands.push_back(&p);
  }
  std::shuffle(cands.begin(), cands.end(), rng);

  if (opts.policy == Policy::kRandom) {
    if (cands.size() > size_t(numwant)) cands.resize(numwant);
    for (const Peer* p : cands) out.peers.push_back(*p);
    return out;
  }

  const uint64_t total = in.total_size;
  int budget = numwant;
  if (origin && !req.seed()) {
    bool already = in.origin_grants && in.origin_grants->count(req.peer_id);
    size_t granted = in.origin_grants ? in.origin_grants->size() : 0;
    bool within_ration = already || granted < size_t(opts.origin_per_rack);
    // A requester nobody else can feed always gets the origin, without using up the rack's ration.
    bool starving = std::none_of(cands.begin(), cands.end(), [&](const Peer* p) { return DataRank(*p, total) < 2; });
    if (within_ration || starving) {
      out.peers.push_back(*origin);
      out.new_origin_grant = within_ration && !already;
      --budget;
    }
  }

  // Nearest first; within a level, peers with more data first; random otherwise (pre-shuffled, stable sort).
  auto key = [&](const Peer* p) { return int(LocationDistance(req.location, p->location)) * 3 + DataRank(*p, total); };
  std::stable_sort(cands.begin(), cands.end(), [&](const Peer* a, const Peer* b) { return key(a) < key(b); });

  int bridges = std::min(opts.bridges, budget / 2);
  int local = budget - bridges;
  std::vector<bool> taken(cands.size(), false);
  size_t next = 0;
  for (; next < cands.size() && local > 0; ++next, --local) {
    out.peers.push_back(*cands[next]);
    taken[next] = true;
  }
  // Bridges: out-of-rack peers not already chosen, those with data first, then nearer.
  std::vector<size_t> pool;
  for (size_t i = next; i < cands.size(); ++i)
    if (LocationDistance(req.location, cands[i]->location) != kSameRack) pool.push_back(i);
  std::stable_sort(pool.begin(), pool.end(), [&](size_t a, size_t b) {
    return DataRank(*cands[a], total) < DataRank(*cands[b], total);
  });
  for (size_t k = 0; k < pool.size() && bridges > 0; ++k, --bridges) {
    out.peers.push_back(*cands[pool[k]]);
    taken[pool[k]] = true;
  }
  // Whatever budget is left (too few bridges available): nearest remaining.
  int rest = local + bridges;
  for (size_t i = next; i < cands.size() && rest > 0; ++i)
    if (!taken[i]) {
      out.peers.push_back(*cands[i]);
      --rest;
    }
  return out;
}

}  // namespace spate
