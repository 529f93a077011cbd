#include "tracker/peer_select.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace spate {

namespace {

// 0 = seed, 1 = has some data, 2 = nothing yet (or unknown). Coarse on
// purpose: ranking by exact bytes would hand every requester in a rack the
// same few peers and make hot spots.
int DataRank(const PeerRecord& p, uint64_t total) {
  if (p.seed()) return 0;
  if (total > 0 && p.left < total) return 1;
  return 2;
}

// A stable pseudo-random order per requester. Replies must not vary between
// announces (libtorrent accumulates every peer it is told about), yet
// different requesters should get different peers.
uint64_t PairHash(uint64_t requester, uint64_t other) { return Mix64(requester ^ Mix64(other + 0x9e3779b97f4a7c15ULL)); }
// The bridge-host role by hash: the same for every requester.
uint64_t BridgeHash(uint64_t id_hash) { return Mix64(id_hash ^ 0x62726964676521ULL); }

bool SameEndpoint(const PeerRecord& a, const PeerRecord& b) { return a.port == b.port && a.ip == b.ip; }

// A candidate with its sort key: smaller first.
struct Cand {
  uint64_t major, minor;
  uint32_t slot;
  bool operator<(const Cand& o) const { return major != o.major ? major < o.major : minor < o.minor; }
};

// The reply being built: one entry per endpoint (a restarted peer may linger
// under its old id), checked in a small open-addressing set sized to numwant,
// not over the swarm.
class Reply {
 public:
  Reply(const PeerSet& peers, Selection* out, int numwant) : peers_(peers), out_(out), keys_(Scratch()) {
    size_t n = 16;
    while (n < size_t(numwant) * 4) n *= 2;
    keys_.assign(n, 0);
  }
  bool Emit(uint32_t slot) {
    const PeerRecord& p = peers_[slot];
    uint64_t a, b;
    std::memcpy(&a, p.ip.bytes.data(), 8);
    std::memcpy(&b, p.ip.bytes.data() + 8, 8);
    uint64_t key = Mix64(a ^ Mix64(b ^ Mix64((uint64_t(p.port) << 1) | p.ip.v6))) | 1;
    size_t mask = keys_.size() - 1;
    for (size_t i = key & mask;; i = (i + 1) & mask) {
      if (keys_[i] == key) return false;
      if (keys_[i] == 0) {
        keys_[i] = key;
        break;
      }
    }
    out_->slots.push_back(slot);
    return true;
  }

 private:
  // Per-thread buffers here and below keep their capacity between calls, so a
  // steady stream of announces does not allocate.
  static std::vector<uint64_t>& Scratch() {
    thread_local std::vector<uint64_t> keys;
    return keys;
  }

  const PeerSet& peers_;
  Selection* out_;
  std::vector<uint64_t>& keys_;
};

void SelectRandom(const PeerRecord& req, const PeerSet& peers, int numwant, Rng& rng, Reply& reply, Selection* out) {
  const size_t n = peers.size();
  if (n == 0) return;
  auto take = [&](uint32_t s) {
    ++out->examined;
    const PeerRecord& p = peers[s];
    return !SameId(p.id, req.id) && !SameEndpoint(p, req) && reply.Emit(s);
  };
  size_t want = size_t(numwant);
  if (want * 2 >= n) {  // most of the swarm goes out anyway: one shuffled pass
    std::vector<uint32_t> order(n);
    for (uint32_t i = 0; i < n; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i = 0; i < n && out->slots.size() < want; ++i) take(order[i]);
    return;
  }
  // Sparse: draw slots until numwant distinct endpoints; a draw that repeats
  // one is simply discarded. Bounded, then a pass from a random start.
  std::uniform_int_distribution<uint32_t> pick(0, uint32_t(n - 1));
  for (size_t tries = 0; tries < 8 * want + 32 && out->slots.size() < want; ++tries) take(pick(rng));
  uint32_t start = pick(rng);
  for (size_t i = 0; i < n && out->slots.size() < want; ++i) take(uint32_t((start + i) % n));
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

void SelectPeers(const PeerRecord& req, const SelectInput& in, int numwant, const PolicyOptions& opts, Rng& rng,
                 Selection* out) {
  out->slots.clear();
  out->new_origin_grant = false;
  out->examined = 0;
  if (numwant <= 0 || in.peers == nullptr || in.racks == nullptr) return;
  const PeerSet& peers = *in.peers;
  const RackTable& racks = *in.racks;
  Reply reply(peers, out, numwant);
  if (opts.policy == Policy::kRandom) return SelectRandom(req, peers, numwant, rng, reply, out);
  // The origin connects to nobody: the hosts granted it connect to it.
  if (req.origin) return;

  auto excluded = [&](const PeerRecord& p) { return p.origin || SameId(p.id, req.id) || SameEndpoint(p, req); };
  uint32_t origin = kNoSlot;
  for (const PeerId& id : peers.origins()) {
    uint32_t s = peers.Find(id);
    if (s != kNoSlot && !SameId(peers[s].id, req.id) && !SameEndpoint(peers[s], req)) {
      origin = s;
      break;
    }
  }

  const uint64_t total = in.total_size;
  const uint64_t rh = IdHash(req.id);
  const bool unknown = racks.Between(req.rack, req.rack) != kSameRack;
  const RackSpan* own = unknown ? nullptr : peers.Span(req.rack);
  int budget = numwant;
  if (origin != kNoSlot && !req.seed()) {
    bool already = req.granted;
    // Grants held in the rack, finished gateways included: a rack with a
    // finished gateway holds every piece, and new grants near the end only
    // opened far links for hosts about to finish. A gateway that leaves the
    // swarm frees its grant.
    size_t granted = own ? own->granted : 0;
    bool within_ration = already || (in.grantable && granted < size_t(opts.origin_per_rack));
    // A requester with nobody else to fetch from still gets the origin,
    // without using up the rack's ration.
    bool nobody_else = true;
    for (const PeerRecord& p : peers) {
      ++out->examined;
      if (!excluded(p)) {
        nobody_else = false;
        break;
      }
    }
    if (within_ration || nobody_else) {
      reply.Emit(origin);
      out->new_origin_grant = within_ration && !already;
      --budget;
    }
  }

  // Same-rack peers: with data first, then a stable per-requester order.
  // Is the requester one of its rack's bridge hosts ("gateway")? With recorded
  // grants, the origin grantees are; otherwise the `bridge_hosts` lowest by hash.
  const bool by_grants = in.roles_by_grants && origin != kNoSlot;  // no origin here: no grants to go by
  const uint64_t own_bridge = BridgeHash(rh);
  int below = 0;
  thread_local std::vector<Cand> local;
  local.clear();
  if (own)
    for (uint32_t s = own->begin; s < own->begin + own->count; ++s) {
      ++out->examined;
      const PeerRecord& p = peers[s];
      if (excluded(p)) continue;
      uint64_t ih = IdHash(p.id);
      local.push_back(Cand{uint64_t(DataRank(p, total)), PairHash(rh, ih), s});
      if (!by_grants) below += BridgeHash(ih) < own_bridge;
    }
  bool bridge_host = by_grants ? (out->new_origin_grant || req.granted) : below < opts.bridge_hosts;

  // Bridges keep their slots even when the rack alone could fill numwant.
  int reserved = bridge_host ? std::min(opts.bridges, budget / 2) : 0;
  int want_local = std::max(0, budget - reserved);
  int n_local = 0;
  // Only the best want_local are needed (none when the whole rack fits); the
  // rest is ordered only if duplicate endpoints leave the reply short.
  size_t sorted = local.size() <= size_t(want_local) ? local.size() : size_t(want_local);
  if (sorted < local.size()) std::partial_sort(local.begin(), local.begin() + sorted, local.end());
  for (size_t i = 0; i < local.size() && n_local < want_local; ++i) {
    if (i == sorted) std::sort(local.begin() + i, local.end());
    n_local += reply.Emit(local[i].slot);
  }
  budget -= n_local;
  // A requester outside the rackmap has no rack to stay in: nearest peers up to numwant.
  int topup = std::min(budget, unknown ? budget : std::max(0, opts.min_local - n_local));
  int bridges = bridge_host ? opts.bridges : 0;
  // Most requesters stop here: other racks are looked at only for gateways and small racks.
  if (topup <= 0 && bridges <= 0) return;

  // Other racks, nearest first, then in a stable per-requester order.
  const auto& spans = peers.spans();
  thread_local std::vector<Cand> far;  // major = distance, slot = span index
  far.clear();
  for (uint32_t i = 0; i < spans.size(); ++i) {
    auto d = racks.Between(req.rack, spans[i].rack);
    if (d != kSameRack && spans[i].count > 0) far.push_back(Cand{uint64_t(d), PairHash(rh, ~uint64_t(spans[i].rack)), i});
  }

  // Top up a small rack from the nearest racks: each rack from a stable
  // per-requester starting point, so a large rack costs only what it gives.
  if (topup > 0) {
    std::sort(far.begin(), far.end());
    for (size_t r = 0; r < far.size() && topup > 0; ++r) {
      const RackSpan& sp = spans[far[r].slot];
      uint32_t start = uint32_t(far[r].minor % sp.count);
      for (uint32_t i = 0; i < sp.count && topup > 0; ++i) {
        uint32_t s = sp.begin + (start + i) % sp.count;
        ++out->examined;
        if (excluded(peers[s]) || !reply.Emit(s)) continue;
        --topup;
        --budget;
      }
    }
  }
  bridges = std::min(budget, bridges);
  if (bridges <= 0) return;

  // Bridge ends: other racks' gateways (recorded grants), or with no grants
  // each rack's lowest-hash peers first. A rack without a gateway yet is
  // reached once it has one (its gateway will also link out by itself).
  if (by_grants) far.erase(std::remove_if(far.begin(), far.end(), [&](const Cand& c) { return spans[c.slot].granted == 0; }), far.end());
  // Usually `bridges` racks suffice: order only those, the rest on demand.
  size_t racks_sorted = std::min(far.size(), size_t(bridges));
  std::partial_sort(far.begin(), far.begin() + racks_sorted, far.end());
  // Each visited rack's ends in order, built when the rack is first visited.
  struct Ends {
    size_t begin = 0, size = 0;
    bool built = false;
  };
  thread_local std::vector<Cand> ends;
  thread_local std::vector<Ends> ends_of;
  ends.clear();
  ends_of.assign(far.size(), Ends{});
  auto build = [&](size_t r) {
    const RackSpan& sp = spans[far[r].slot];
    Ends& e = ends_of[r];
    e.begin = ends.size();
    thread_local std::vector<uint64_t> role;
    role.clear();
    for (uint32_t s = sp.begin; s < sp.begin + sp.count; ++s) {
      ++out->examined;
      const PeerRecord& p = peers[s];
      if (excluded(p) || (by_grants && !p.granted)) continue;
      uint64_t ih = IdHash(p.id);
      ends.push_back(Cand{BridgeHash(ih), PairHash(rh, ih), s});
      role.push_back(ends.back().major);
    }
    e.size = ends.size() - e.begin;
    // The rack's bridge hosts by hash come first; with grants every end is one.
    uint64_t cut = UINT64_MAX;
    if (!by_grants && role.size() > size_t(opts.bridge_hosts)) {
      std::nth_element(role.begin(), role.begin() + opts.bridge_hosts, role.end());
      cut = role[opts.bridge_hosts];
    }
    for (size_t i = e.begin; i < ends.size(); ++i) ends[i].major = by_grants || ends[i].major < cut ? 0 : 1;
    std::sort(ends.begin() + e.begin, ends.end());
    e.built = true;
  };
  // Each rack once (nearest first) before any rack twice, so bridges reach different racks.
  for (size_t round = 0; bridges > 0; ++round) {
    bool any = false;
    for (size_t r = 0; r < far.size() && bridges > 0; ++r) {
      if (r == racks_sorted) {
        std::sort(far.begin() + r, far.end());
        racks_sorted = far.size();
      }
      if (!ends_of[r].built) build(r);
      if (round < ends_of[r].size) {
        any = true;
        if (reply.Emit(ends[ends_of[r].begin + round].slot)) --bridges;
      }
    }
    if (!any) break;
  }
}

}  // namespace spate
