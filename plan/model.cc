#include "plan/model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "tracker/gateway_share.h"
#include "tracker/peer_set.h"
#include "wire/push_facts.h"

namespace spate::plan {

uint64_t DefaultPieceSize(uint64_t size) {
  uint64_t piece = 64 * 1024;
  while (piece < 16 * 1024 * 1024 && (size + piece - 1) / piece > 2000) piece *= 2;
  return piece;
}

Status PlanOptions::Validate() const {
  auto positive = [](double v) { return v > 0 && !std::isnan(v); };
  if (size == 0) return Status::Invalid("size must be > 0");
  if (!positive(nic_up) || !positive(nic_down) || std::isinf(nic_up) || std::isinf(nic_down))
    return Status::Invalid("nic caps must be positive and finite");
  if (!positive(origin_up)) return Status::Invalid("origin cap must be positive");
  if (uplink < 0 || oversub < 0) return Status::Invalid("uplink and oversub must be >= 0");
  if (max_chunks < 1 || max_chunks > 1 << 16) return Status::Invalid("max-chunks must be in [1, 65536]");
  if (numwant < 1 || connections_limit < 1 || origin_connections < 1)
    return Status::Invalid("numwant and connection limits must be >= 1");
  if (slots < 1 || origin_slots < 1) return Status::Invalid("slots must be >= 1");
  if (!positive(unchoke_interval_s) || !positive(announce_interval_s))
    return Status::Invalid("unchoke and announce intervals must be positive");
  if (startup_s < 0 || startup_spread_s < 0 || finish_s < 0) return Status::Invalid("latencies must be >= 0");
  if (!positive(verify_rate)) return Status::Invalid("verify rate must be positive");
  if (!(efficiency > 0 && efficiency <= 1)) return Status::Invalid("efficiency must be in (0, 1]");
  if (shared_cpus < 0) return Status::Invalid("shared cpus must be >= 0");
  if (step_s < 0) return Status::Invalid("step must be >= 0");
  return policy.Validate();
}

namespace {

constexpr int kInitialRandomChunks = 4;  // libtorrent's initial_picker_threshold: random pieces first
constexpr int kRarestSamples = 4;        // rarest of this many random candidates
constexpr int kFillRounds = 2;           // progressive-filling rounds per step
// End game: once every missing piece is on its way, a host also asks other
// peers for pieces in flight (libtorrent's end game), up to this many at once.
constexpr uint8_t kEndGameCopies = 2;

// One connection as seen from one end.
struct Edge {
  uint32_t peer = 0;
  uint32_t rev = 0;   // this connection's index in peer's list
  uint32_t flow = 0;  // with serving: the flow in Sim::flows_
  // The far peer's bitfield when the connection opened, or -1: the far filter
  // keeps bitfields whole, so those pieces stay visible outside the share.
  int32_t bitfield = -1;
  float recv = 0;             // bytes received from peer this unchoke interval (reciprocation)
  double last_unchoked = -1;  // when this end last unchoked peer (round robin for seeds)
  bool serving = false;       // this end uploads to peer now
};

struct Node {
  int rack = -1;  // index into Sim::racks_; -1 = not in a rack (unknown location, the origin)
  RackId rack_id = kUnknownRack;
  PeerId id{};
  PeerAddress ip;
  double up = 0, down = 0;
  bool origin = false;
  bool started = false;
  double start = 0, next_announce = kUnlimited, next_unchoke = kUnlimited;
  int count = 0;                        // chunks held
  int inflight = 0;                     // chunks on their way (each counted once)
  double done_at = -1;                  // last byte
  int local_flows = 0;                  // uploads that hold a slot
  bool fill_blocked = false;            // last scan found nobody to fill a slot with
  size_t cursor = 0;                    // where the next slot scan starts (round robin)
  int share_slot = 0, share_slots = 0;  // gateway share (far filter); slots 0 = none
  std::vector<Edge> edges;
};

struct Flow {
  uint32_t u, d;    // uploader, downloader
  uint32_t eu, ed;  // the edge in u's list (serving) and in d's (recv)
  int32_t res[4];   // capped resources it uses, -1 = none
  int32_t chunk;    // kRepick: another peer delivered it first
  double got;       // bytes of chunk delivered
  double rate;
  float recv;        // bytes moved since the last FlushRecv
  int32_t out_rack;  // u's rack when the flow leaves it, else -1
  int32_t in_rack;   // d's rack when the flow enters it from outside, else -1
  bool from_origin;
  bool local;  // holds one of u's slots
  bool frozen;
};
constexpr int32_t kRepick = -2;

struct Rack {
  std::string name;
  int hosts = 0;
  double out_cap = kUnlimited, in_cap = kUnlimited;
};

class Sim {
 public:
  explicit Sim(const PlanOptions& o) : o_(o), rng_(o.seed), tracker_rng_(o.seed ^ 0x5eed) {}
  Result<PlanResult> Run(const Fleet& fleet);

 private:
  uint64_t* Have(uint32_t n) { return &have_[size_t(n) * words_]; }
  uint64_t* Inflight(uint32_t n) { return &inflight_[size_t(n) * words_]; }
  static bool Bit(const uint64_t* b, int c) { return (b[c >> 6] >> (c & 63)) & 1; }
  static void Set(uint64_t* b, int c) { b[c >> 6] |= uint64_t(1) << (c & 63); }
  static void Clear(uint64_t* b, int c) { b[c >> 6] &= ~(uint64_t(1) << (c & 63)); }
  double ChunkBytes(int c) const {
    return c == chunks_ - 1 ? double(o_.size) - double(chunk_) * (chunks_ - 1) : double(chunk_);
  }
  bool Done(const Node& n) const { return n.done_at >= 0; }
  // d keeps far HAVEs only for its share: what it can ask u for.
  const uint64_t* Mask(uint32_t u, uint32_t d);
  bool SlotLimited(uint32_t u, uint32_t x) const;
  int SlotsOf(uint32_t u) const { return nodes_[u].origin ? o_.origin_slots : o_.slots; }
  // What d may ask u for; `ed` is d's edge to u (its bitfield snapshot).
  int Candidates(uint32_t u, uint32_t d, uint32_t ed, uint64_t* out);
  int Pick(uint32_t u, uint32_t d, uint32_t ed);
  const uint64_t* Seen(uint32_t d, uint32_t ed) const {
    int32_t b = nodes_[d].edges[ed].bitfield;
    return b < 0 ? nullptr : &bitfields_[size_t(b) * words_];
  }
  bool Serve(uint32_t u, uint32_t ei, int hint);
  void Carry(uint32_t d, int c) {
    if (carried_[size_t(d) * chunks_ + c]++ == 0) Set(Inflight(d), c), ++nodes_[d].inflight;
  }
  void Drop(uint32_t d, int c) {
    if (--carried_[size_t(d) * chunks_ + c] == 0) Clear(Inflight(d), c), --nodes_[d].inflight;
  }
  void EndFlow(size_t i, bool delivered);
  void Fill(uint32_t u);
  void Rotate(uint32_t u, double now);
  void Connect(uint32_t a, uint32_t b);
  void Announce(uint32_t n, double now);
  void Gain(uint32_t d, int c, double now);
  void Allocate();
  void FlushRecv() {
    for (Flow& f : flows_) nodes_[f.d].edges[f.ed].recv += f.recv, f.recv = 0;
  }
  void Advance(double now, double dt);

  PlanOptions o_;
  Rng rng_, tracker_rng_;
  int chunks_ = 0, words_ = 0;
  uint64_t chunk_ = 0;
  std::vector<Node> nodes_;  // hosts, then the origin
  uint32_t origin_ = 0;
  std::vector<Rack> racks_;
  std::vector<uint64_t> have_, inflight_;
  std::vector<uint8_t> carried_;
  std::vector<uint64_t> bitfields_;   // Edge::bitfield snapshots  // [node * chunks + c]: flows carrying c to node
  std::vector<uint32_t> rack_avail_;  // [rack * chunks + c]: copies in the rack
  std::vector<uint32_t> avail_;       // copies in the fleet
  std::map<std::pair<int, int>, std::vector<uint64_t>> masks_;
  std::unordered_set<uint64_t> linked_;
  std::vector<Flow> flows_;
  std::vector<uint32_t> freed_;  // uploaders with a freed slot this step
  // Capped resources: each node's up and down, each rack's out and in.
  std::vector<double> cap_, level_, frozen_load_, load_;
  std::vector<int32_t> count_;
  RackTable rack_table_;
  PeerSet peers_;
  std::vector<int> rack_targets_;
  Selection sel_;
  // Accounting.
  double cross_bytes_ = 0, origin_bytes_ = 0;
  std::vector<double> rack_out_bytes_, rack_in_bytes_;
  bool track_uplinks_ = false;
  std::vector<double> step_dt_;  // per step, with rack_step_bytes_
  double now_ = 0;
  std::vector<std::vector<double>> rack_step_bytes_;  // per step: out then in per rack (only when capped)
  int gateways_ = 0;
};

uint32_t NodeOf(const PeerId& id) {
  uint32_t n;
  std::memcpy(&n, id.data() + 12, 4);
  return n;
}

PeerId IdOf(uint32_t n) {
  PeerId id = MakePeerId("-SPLAN0-");
  std::memcpy(id.data() + 12, &n, 4);
  return id;
}

const uint64_t* Sim::Mask(uint32_t u, uint32_t d) {
  const Node& dn = nodes_[d];
  const Node& un = nodes_[u];
  // The origin's pieces are never filtered; neither are rack peers'.
  if (dn.share_slots <= 1 || un.origin || un.rack == dn.rack) return nullptr;
  auto key = std::make_pair(dn.share_slot, dn.share_slots);
  auto it = masks_.find(key);
  if (it == masks_.end()) {
    std::vector<uint64_t> m(words_, 0);
    for (int c = 0; c < chunks_; ++c)
      if (InShare(c, key.first, key.second)) Set(m.data(), c);
    it = masks_.emplace(key, std::move(m)).first;
  }
  return it->second.data();
}

// Uploads from a fetcher to peers outside its rack skip the slots (the
// cross-rack peer class); a fetcher outside the rackmap has no such class.
bool Sim::SlotLimited(uint32_t u, uint32_t x) const {
  const Node& un = nodes_[u];
  if (un.origin || !o_.far_ignores_slots || un.rack < 0) return true;
  return nodes_[x].rack == un.rack;
}

int Sim::Candidates(uint32_t u, uint32_t d, uint32_t ed, uint64_t* out) {
  const uint64_t* hu = Have(u);
  const uint64_t* hd = Have(d);
  const uint64_t* fd = Inflight(d);
  const uint64_t* m = Mask(u, d);
  const uint64_t* seen = m ? Seen(d, ed) : nullptr;
  int total = 0;
  for (int w = 0; w < words_; ++w) {
    out[w] = hu[w] & ~hd[w] & ~fd[w] & (m ? m[w] | (seen ? seen[w] : 0) : ~uint64_t(0));
    total += __builtin_popcountll(out[w]);
  }
  return total;
}

// Rarest first among a few random candidates, counting copies where the
// downloader's peers are: its rack under the rack policy, the fleet otherwise.
int Sim::Pick(uint32_t u, uint32_t d, uint32_t ed) {
  uint64_t cand[1024];
  int total = Candidates(u, d, ed, cand);
  const Node& dn = nodes_[d];
  if (total == 0 && dn.count + dn.inflight == chunks_ && dn.count < chunks_) {
    const uint64_t* hu = Have(u);
    const uint64_t* hd = Have(d);
    const uint64_t* m = Mask(u, d);
    const uint64_t* seen = m ? Seen(d, ed) : nullptr;
    for (int w = 0; w < words_; ++w) {
      uint64_t bits = hu[w] & ~hd[w] & (m ? m[w] | (seen ? seen[w] : 0) : ~uint64_t(0));
      for (; bits; bits &= bits - 1) {
        int c = w * 64 + __builtin_ctzll(bits);
        if (carried_[size_t(d) * chunks_ + c] < kEndGameCopies) return c;
      }
    }
    return -1;
  }
  if (total == 0) return -1;
  const bool by_rack = o_.policy.policy == Policy::kRack && dn.rack >= 0;
  int samples = dn.count < kInitialRandomChunks ? 1 : kRarestSamples;
  int best = -1;
  uint32_t best_avail = UINT32_MAX;
  for (int s = 0; s < samples; ++s) {
    int k = int(rng_() % uint64_t(total));
    int w = 0;
    for (;; ++w) {
      int p = __builtin_popcountll(cand[w]);
      if (k < p) break;
      k -= p;
    }
    uint64_t bits = cand[w];
    for (; k > 0; --k) bits &= bits - 1;
    int c = w * 64 + __builtin_ctzll(bits);
    uint32_t a = by_rack ? rack_avail_[size_t(dn.rack) * chunks_ + c] : avail_[c];
    if (a < best_avail) best_avail = a, best = c;
  }
  return best;
}

// u starts uploading to the peer of its edge ei, `hint` first if d may take it.
bool Sim::Serve(uint32_t u, uint32_t ei, int hint) {
  Node& un = nodes_[u];
  Edge& e = un.edges[ei];
  uint32_t d = e.peer;
  Node& dn = nodes_[d];
  if (e.serving || dn.origin || !dn.started || Done(dn)) return false;
  bool local = SlotLimited(u, d);
  if (local && un.local_flows >= SlotsOf(u)) return false;
  int c = hint;
  if (c >= 0) {
    const uint64_t* m = Mask(u, d);
    const uint64_t* seen = m ? Seen(d, e.rev) : nullptr;
    if (Bit(Have(d), c) || Bit(Inflight(d), c) || (m && !Bit(m, c) && !(seen && Bit(seen, c)))) c = -1;
  }
  if (c < 0) c = Pick(u, d, e.rev);
  if (c < 0) return false;
  Flow f{};
  f.u = u, f.d = d, f.eu = ei, f.ed = e.rev, f.chunk = c, f.got = 0, f.rate = 0, f.local = local;
  int n = 0;
  const int nn = int(nodes_.size());
  if (!std::isinf(un.up)) f.res[n++] = int32_t(u);
  if (!std::isinf(dn.down)) f.res[n++] = int32_t(nn + d);
  f.out_rack = un.rack >= 0 && un.rack != dn.rack ? un.rack : -1;
  f.in_rack = dn.rack >= 0 && un.rack != dn.rack ? dn.rack : -1;
  f.from_origin = un.origin;
  f.recv = 0;
  if (f.out_rack >= 0 && !std::isinf(racks_[f.out_rack].out_cap)) f.res[n++] = int32_t(2 * nn + 2 * f.out_rack);
  if (f.in_rack >= 0 && !std::isinf(racks_[f.in_rack].in_cap)) f.res[n++] = int32_t(2 * nn + 2 * f.in_rack + 1);
  for (; n < 4; ++n) f.res[n] = -1;
  e.flow = uint32_t(flows_.size());
  flows_.push_back(f);
  Carry(d, c);
  e.serving = true;
  e.last_unchoked = now_;
  if (local) ++un.local_flows;
  return true;
}

// Ends flow i; an undelivered chunk goes back to d's wanted set.
void Sim::EndFlow(size_t i, bool delivered) {
  Flow& f = flows_[i];
  if (!delivered && f.chunk >= 0) Drop(f.d, f.chunk);
  nodes_[f.d].edges[f.ed].recv += f.recv;
  Node& un = nodes_[f.u];
  un.edges[f.eu].serving = false;
  if (f.local) {
    --un.local_flows;
    freed_.push_back(f.u);
  }
  flows_[i] = flows_.back();
  flows_.pop_back();
  if (i < flows_.size()) nodes_[flows_[i].u].edges[flows_[i].eu].flow = uint32_t(i);
}

// Fills u's free slots from its rack peers, round robin from a cursor.
void Sim::Fill(uint32_t u) {
  Node& un = nodes_[u];
  if (un.fill_blocked || un.local_flows >= SlotsOf(u) || un.edges.empty()) return;
  size_t n = un.edges.size();
  for (size_t i = 0; i < n && un.local_flows < SlotsOf(u); ++i) {
    size_t ei = (un.cursor + i) % n;
    if (!SlotLimited(u, un.edges[ei].peer)) continue;
    if (Serve(u, uint32_t(ei), -1)) un.cursor = ei + 1;
  }
  if (un.local_flows < SlotsOf(u)) un.fill_blocked = true;
}

// Every unchoke interval: a leecher keeps the peers that sent it the most and
// one optimistic pick; a seed (and the origin) rotates round robin.
void Sim::Rotate(uint32_t u, double now) {
  Node& un = nodes_[u];
  un.next_unchoke = now + o_.unchoke_interval_s;
  const bool seed = un.origin || Done(un);
  struct Cand {
    double key;
    uint64_t tie;
    uint32_t edge;
  };
  std::vector<Cand> cands;
  uint64_t scratch[1024];
  for (uint32_t ei = 0; ei < un.edges.size(); ++ei) {
    Edge& e = un.edges[ei];
    const Node& x = nodes_[e.peer];
    if (!SlotLimited(u, e.peer) || x.origin || !x.started || Done(x)) continue;
    if (!e.serving && Candidates(u, e.peer, e.rev, scratch) == 0) continue;
    cands.push_back(Cand{seed ? e.last_unchoked : -double(e.recv), rng_(), ei});
  }
  for (Edge& e : un.edges) e.recv = 0;
  std::sort(cands.begin(), cands.end(),
            [](const Cand& a, const Cand& b) { return a.key != b.key ? a.key < b.key : a.tie < b.tie; });
  size_t keep = std::min(cands.size(), size_t(SlotsOf(u)));
  if (!seed && keep < cands.size() && keep > 0) {  // the last slot is the optimistic unchoke
    size_t pick = keep - 1 + size_t(rng_() % (cands.size() - keep + 1));
    std::swap(cands[keep - 1], cands[pick]);
  }
  std::vector<char> chosen(un.edges.size(), 0);
  for (size_t i = 0; i < keep; ++i) chosen[cands[i].edge] = 1;
  for (uint32_t ei = 0; ei < un.edges.size(); ++ei) {
    const Edge& e = un.edges[ei];
    if (e.serving && !chosen[ei] && flows_[e.flow].local) EndFlow(e.flow, false);
  }
  for (size_t i = 0; i < keep; ++i) Serve(u, cands[i].edge, -1);
  un.fill_blocked = false;
}

void Sim::Connect(uint32_t a, uint32_t b) {
  if (a == b) return;
  uint64_t key = (uint64_t(std::min(a, b)) << 32) | std::max(a, b);
  if (linked_.count(key)) return;
  auto limit = [&](uint32_t n) { return nodes_[n].origin ? o_.origin_connections : o_.connections_limit; };
  if (int(nodes_[a].edges.size()) >= limit(a) || int(nodes_[b].edges.size()) >= limit(b)) return;
  linked_.insert(key);
  Edge ea, eb;
  ea.peer = b, ea.rev = uint32_t(nodes_[b].edges.size());
  eb.peer = a, eb.rev = uint32_t(nodes_[a].edges.size());
  // Far peers exchange whole bitfields as the connection opens (only a far
  // filter cares, and only the rack policy hands out gateway shares).
  auto snapshot = [&](Edge& e, uint32_t peer) {
    if (nodes_[peer].count == 0) return;
    e.bitfield = int32_t(bitfields_.size() / words_);
    bitfields_.insert(bitfields_.end(), Have(peer), Have(peer) + words_);
  };
  const Node &na = nodes_[a], &nb = nodes_[b];
  if (o_.policy.policy == Policy::kRack && !na.origin && !nb.origin && na.rack != nb.rack) {
    if (na.rack >= 0) snapshot(ea, b);
    if (nb.rack >= 0) snapshot(eb, a);
  }
  nodes_[a].edges.push_back(ea);
  nodes_[b].edges.push_back(eb);
  nodes_[a].fill_blocked = nodes_[b].fill_blocked = false;
  Serve(a, uint32_t(nodes_[a].edges.size() - 1), -1);
  Serve(b, uint32_t(nodes_[b].edges.size() - 1), -1);
}

// What the tracker does on an announce (Tracker::Impl::Announce): record the
// peer and its `left`, select peers with the real policy, record a new origin
// grant. Every host is targeted by the push and never stalls, so a host not
// yet granted may take a grant (no GrantWatch revocation).
void Sim::Announce(uint32_t n, double now) {
  Node& node = nodes_[n];
  node.next_announce = now + o_.announce_interval_s;
  uint64_t left = node.origin || Done(node) ? 0 : o_.size - std::min<uint64_t>(o_.size, uint64_t(node.count) * chunk_);
  uint32_t slot = peers_.Find(node.id);
  if (slot == kNoSlot) {
    PeerRecord r;
    r.id = node.id;
    r.ip = node.ip;
    r.rack = node.rack_id;
    r.origin = node.origin;
    r.left = left;
    r.port = 6881;
    slot = peers_.Add(r);
    if (node.origin) peers_.RefreshOrigins();
  } else {
    peers_.SetLeft(slot, left);
  }
  const PeerRecord& rec = peers_[slot];
  SelectInput in;
  in.peers = &peers_;
  in.racks = &rack_table_;
  in.total_size = o_.size;
  in.roles_by_grants = true;
  in.grantable = !rec.seed() && !rec.granted && !peers_.origins().empty();
  SelectPeers(rec, in, o_.numwant, o_.policy, tracker_rng_, &sel_);
  std::vector<uint32_t> got;
  got.reserve(sel_.slots.size());
  for (uint32_t s : sel_.slots) got.push_back(NodeOf(peers_[s].id));
  if (sel_.new_origin_grant) {
    peers_.SetGranted(slot);
    ++gateways_;
    if (node.rack >= 0)
      if (auto share = GatewayShareOf(peers_[slot], o_.policy.origin_per_rack, rack_targets_[node.rack])) {
        node.share_slot = share->slot;
        node.share_slots = share->slots;
      }
  }
  for (uint32_t x : got) Connect(n, x);
}

void Sim::Gain(uint32_t d, int c, double now) {
  Node& dn = nodes_[d];
  Set(Have(d), c);
  Drop(d, c);
  if (carried_[size_t(d) * chunks_ + c] > 0) {
    // End game: other peers still carry c to d; they take another piece.
    for (const Edge& e : dn.edges) {
      const Edge& back = nodes_[e.peer].edges[e.rev];
      if (!back.serving || flows_[back.flow].chunk != c) continue;
      Drop(d, c);
      flows_[back.flow].chunk = kRepick;
    }
  }
  ++dn.count;
  ++avail_[c];
  if (dn.rack >= 0) ++rack_avail_[size_t(dn.rack) * chunks_ + c];
  if (dn.count == chunks_) {
    dn.done_at = now;
    dn.share_slots = 0;  // GatewayShareOf: a seed has no share
    Announce(d, now);    // libtorrent's "completed" announce
  }
  // HAVE: peers that lack c may now ask d for it.
  for (uint32_t ei = 0; ei < dn.edges.size(); ++ei) {
    const Edge& e = dn.edges[ei];
    if (e.serving) continue;
    const Node& x = nodes_[e.peer];
    if (x.origin || !x.started || Done(x) || Bit(Have(e.peer), c)) continue;
    Serve(d, ei, c);
  }
}

// Max-min fair rates by progressive filling in rounds: every flow not yet
// frozen gets the smallest fair level of its resources; flows on a saturated
// resource freeze; the rest share what is left.
void Sim::Allocate() {
  std::fill(count_.begin(), count_.end(), 0);
  std::fill(frozen_load_.begin(), frozen_load_.end(), 0.0);
  for (Flow& f : flows_) {
    f.frozen = false;
    for (int k = 0; k < 4 && f.res[k] >= 0; ++k) ++count_[f.res[k]];
  }
  for (int round = 0; round < kFillRounds; ++round) {
    for (size_t r = 0; r < cap_.size(); ++r)
      level_[r] = count_[r] > 0 ? std::max(0.0, cap_[r] - frozen_load_[r]) / count_[r] : kUnlimited;
    bool last = round == kFillRounds - 1;
    if (!last) std::copy(frozen_load_.begin(), frozen_load_.end(), load_.begin());
    for (Flow& f : flows_) {
      if (f.frozen) continue;
      double r = kUnlimited;
      for (int k = 0; k < 4 && f.res[k] >= 0; ++k) r = std::min(r, level_[f.res[k]]);
      f.rate = std::isinf(r) ? 1e15 : r;
      if (!last)
        for (int k = 0; k < 4 && f.res[k] >= 0; ++k) load_[f.res[k]] += f.rate;
    }
    if (last) break;
    bool any = false;
    for (Flow& f : flows_) {
      if (f.frozen) continue;
      bool sat = false;
      for (int k = 0; k < 4 && f.res[k] >= 0; ++k) sat |= load_[f.res[k]] >= cap_[f.res[k]] * (1 - 1e-9);
      if (!sat) continue;
      f.frozen = any = true;
      for (int k = 0; k < 4 && f.res[k] >= 0; ++k) {
        frozen_load_[f.res[k]] += f.rate;
        --count_[f.res[k]];
      }
    }
    if (!any) break;
  }
  // Rounds leave some capacity unused where bottlenecks interlock; hand what
  // is left to any flow that can take it, so no link idles while a transfer
  // through it waits (work conserving).
  std::fill(load_.begin(), load_.end(), 0.0);
  for (const Flow& f : flows_)
    for (int k = 0; k < 4 && f.res[k] >= 0; ++k) load_[f.res[k]] += f.rate;
  for (Flow& f : flows_) {
    if (f.res[0] < 0) continue;
    double slack = kUnlimited;
    for (int k = 0; k < 4 && f.res[k] >= 0; ++k) slack = std::min(slack, cap_[f.res[k]] - load_[f.res[k]]);
    if (slack <= 0) continue;
    f.rate += slack;
    for (int k = 0; k < 4 && f.res[k] >= 0; ++k) load_[f.res[k]] += slack;
  }
}

void Sim::Advance(double now, double dt) {
  std::vector<double>* step_bytes = nullptr;
  if (track_uplinks_) {
    rack_step_bytes_.emplace_back(racks_.size() * 2, 0.0);
    step_bytes = &rack_step_bytes_.back();
  }
  // Flows started during the step have rate 0 and move from the next one.
  for (size_t i = 0; i < flows_.size();) {
    if (flows_[i].chunk == kRepick) {
      // Another peer delivered this piece first (end game): take another.
      Flow& f = flows_[i];
      {
        int next = Done(nodes_[f.d]) ? -1 : Pick(f.u, f.d, f.ed);
        f.chunk = next;
        f.got = 0;
        if (next < 0) {
          EndFlow(i, true);
          continue;
        }
        Carry(f.d, next);
      }
    }
    double bytes = flows_[i].rate * dt;
    double spent = 0;
    bool ended = false;
    while (bytes > 0) {
      Flow& f = flows_[i];
      double need = ChunkBytes(f.chunk) - f.got;
      if (bytes < need) {
        f.got += bytes;
        spent += bytes;
        break;
      }
      bytes -= need;
      spent += need;
      // Chunk delivered: d has it at this point within the step.
      const uint32_t d = f.d, u = f.u, ed = f.ed;
      const int c = f.chunk;
      const double at = now + spent / f.rate;
      f.chunk = -1;
      Gain(d, c, at);  // may start flows (flows_ may move)
      int next = Done(nodes_[d]) ? -1 : Pick(u, d, ed);
      if (next < 0) {
        ended = true;
        break;
      }
      flows_[i].chunk = next;
      flows_[i].got = 0;
      Carry(d, next);
    }
    // Accounting reads only the flow: touching both hosts' records for
    // every transfer at every step was most of a large plan's time.
    Flow& f = flows_[i];
    f.recv += float(spent);
    if (f.from_origin) origin_bytes_ += spent;
    if (f.out_rack >= 0) {
      rack_out_bytes_[f.out_rack] += spent;
      if (step_bytes) (*step_bytes)[2 * f.out_rack] += spent;
    }
    if (f.in_rack >= 0) {
      cross_bytes_ += spent;
      rack_in_bytes_[f.in_rack] += spent;
      if (step_bytes) (*step_bytes)[2 * f.in_rack + 1] += spent;
    }
    if (ended) {
      EndFlow(i, true);  // the last flow moves into i
      continue;
    }
    ++i;
  }
}

Result<PlanResult> Sim::Run(const Fleet& fleet) {
  Status st = o_.Validate();
  if (!st.ok()) return st;
  if (fleet.hosts.empty()) return Status::Invalid("no hosts to plan for");
  const uint64_t piece = o_.piece_size ? o_.piece_size : DefaultPieceSize(o_.size);
  const uint64_t pieces = (o_.size + piece - 1) / piece;
  const uint64_t group = (pieces + o_.max_chunks - 1) / o_.max_chunks;
  chunk_ = piece * group;
  chunks_ = int((o_.size + chunk_ - 1) / chunk_);
  words_ = (chunks_ + 63) / 64;
  if (words_ > 1024) return Status::Invalid("too many chunks");

  // Racks and nodes.
  const int n_hosts = int(fleet.hosts.size());
  std::unordered_map<std::string, int> rack_index;
  std::unordered_set<std::string> addrs;
  nodes_.resize(n_hosts + 1);
  for (int i = 0; i < n_hosts; ++i) {
    const FleetHost& h = fleet.hosts[i];
    if (!addrs.insert(h.address).second) return Status::Invalid("host address " + h.address + " listed twice");
    auto ip = PeerAddress::Parse(h.address);
    if (!ip) return Status::Invalid("host address '" + h.address + "' is not an IP address");
    Node& n = nodes_[i];
    n.ip = *ip;
    n.id = IdOf(uint32_t(i));
    n.up = o_.nic_up * o_.efficiency;
    n.down = o_.nic_down * o_.efficiency;
    n.rack_id = rack_table_.Intern(h.location);
    if (h.location.known()) {
      auto [it, fresh] = rack_index.emplace(h.location.ToString(), int(racks_.size()));
      if (fresh) racks_.push_back(Rack{it->first});
      n.rack = it->second;
      ++racks_[n.rack].hosts;
    }
  }
  origin_ = uint32_t(n_hosts);
  Node& org = nodes_[origin_];
  org.origin = true;
  org.ip = *PeerAddress::Parse("fd00:5ea7::1");
  org.id = IdOf(origin_);
  org.up = o_.origin_up * o_.efficiency;
  org.down = kUnlimited;
  org.rack_id = rack_table_.Intern(fleet.origin_location);
  org.started = true;
  org.count = chunks_;
  org.done_at = 0;
  rack_targets_.resize(racks_.size());
  for (size_t r = 0; r < racks_.size(); ++r) {
    Rack& rk = racks_[r];
    rack_targets_[r] = rk.hosts;
    double cap = o_.uplink > 0 ? o_.uplink : o_.oversub > 0 ? rk.hosts * o_.nic_up / o_.oversub : kUnlimited;
    rk.out_cap = cap * o_.efficiency;
    rk.in_cap = o_.uplink_egress_only ? kUnlimited : cap * o_.efficiency;
    track_uplinks_ |= !std::isinf(cap);
  }
  rack_out_bytes_.assign(racks_.size(), 0);
  rack_in_bytes_.assign(racks_.size(), 0);

  have_.assign(nodes_.size() * words_, 0);
  inflight_.assign(nodes_.size() * words_, 0);
  carried_.assign(nodes_.size() * size_t(chunks_), 0);
  for (int c = 0; c < chunks_; ++c) Set(Have(origin_), c);
  avail_.assign(chunks_, 0);
  rack_avail_.assign(racks_.size() * chunks_, 0);
  const size_t nn = nodes_.size();
  cap_.assign(2 * nn + 2 * racks_.size(), kUnlimited);
  for (size_t i = 0; i < nn; ++i) cap_[i] = nodes_[i].up, cap_[nn + i] = nodes_[i].down;
  for (size_t r = 0; r < racks_.size(); ++r)
    cap_[2 * nn + 2 * r] = racks_[r].out_cap, cap_[2 * nn + 2 * r + 1] = racks_[r].in_cap;
  level_.assign(cap_.size(), 0);
  frozen_load_.assign(cap_.size(), 0);
  load_.assign(cap_.size(), 0);
  count_.assign(cap_.size(), 0);

  // The bound, and the step from it.
  const double F = double(o_.size);
  double sum_up = o_.nic_up * n_hosts;
  PlanResult res;
  res.bound_s = std::max({F / o_.origin_up, F / o_.nic_down, n_hosts * F / (o_.origin_up + sum_up)});
  // The step: fine while few transfers run, coarser with many (a 5,000-host
  // random swarm runs a million at once), so a plan costs about the same
  // whatever the fleet; never coarser than the bound / 60.
  auto step = [&] {
    if (o_.step_s > 0) return o_.step_s;
    double per_bound = std::clamp(2.5e6 / double(std::max<size_t>(1, flows_.size())), 60.0, 600.0);
    return std::max(1e-4, res.bound_s / per_bound);
  };
  double dt = step(), dt_sum = 0;
  std::uniform_real_distribution<double> spread(0.0, 1.0);
  for (int i = 0; i < n_hosts; ++i) {
    nodes_[i].start = o_.startup_s + o_.startup_spread_s * spread(rng_);
    nodes_[i].next_announce = nodes_[i].start;
  }
  // The origin seeds before the push starts: in the swarm before any host.
  Announce(origin_, 0);
  org.next_unchoke = o_.unchoke_interval_s;

  const double limit =
      50 * (res.bound_s / o_.efficiency) + 10 * (o_.startup_s + o_.startup_spread_s) + 4 * o_.announce_interval_s + 60;
  int finished = 0;
  double now = 0;
  int64_t steps = 0;
  while (finished < n_hosts && now < limit) {
    now_ = now;
    bool flushed = false;
    for (uint32_t i = 0; i < nn; ++i) {
      Node& n = nodes_[i];
      if (n.next_announce <= now) {
        if (!n.started) {
          n.started = true;
          n.next_unchoke = now + o_.unchoke_interval_s;
        }
        Announce(i, now);
      }
      if (n.next_unchoke <= now) {
        if (!flushed) FlushRecv(), flushed = true;  // reciprocation ranks by what each peer sent
        Rotate(i, now);
      }
    }
    dt = step();
    dt_sum += dt;
    if (track_uplinks_) step_dt_.push_back(dt);
    Allocate();
    Advance(now, dt);
    now += dt;
    ++steps;
    // Slots freed this step are filled before the next.
    std::vector<uint32_t> freed;
    freed.swap(freed_);
    std::sort(freed.begin(), freed.end());
    freed.erase(std::unique(freed.begin(), freed.end()), freed.end());
    for (uint32_t u : freed) {
      nodes_[u].fill_blocked = false;
      Fill(u);
    }
    finished = 0;
    for (int i = 0; i < n_hosts; ++i) finished += Done(nodes_[i]);
  }

  res.hosts = n_hosts;
  res.racks = int(racks_.size());
  res.size = o_.size;
  res.piece_size = piece;
  res.chunks = chunks_;
  res.step_s = steps ? dt_sum / double(steps) : dt;
  res.steps = steps;
  res.gateways = gateways_;
  const double tail = o_.finish_s + F / o_.verify_rate;
  std::vector<double> done;
  for (int i = 0; i < n_hosts; ++i) {
    if (Done(nodes_[i]))
      done.push_back(nodes_[i].done_at);
    else
      ++res.unfinished;
  }
  std::sort(done.begin(), done.end());
  if (!done.empty()) {
    res.last_byte_p50_s = done[size_t(std::llround(0.5 * double(done.size() - 1)))];
    res.last_byte_max_s = done.back();
  }
  if (o_.shared_cpus > 0 && !std::isinf(o_.verify_rate)) {
    // Hashes share the cores: each active one runs at min(1, cpus / active)
    // core. Event by event: the next arrival or the next hash to finish.
    const double work = F / o_.verify_rate;  // core-seconds per host
    std::vector<double> left;                // work left of active hashes
    size_t next = 0;
    double t = done.empty() ? 0 : done[0];
    while (next < done.size() || !left.empty()) {
      double speed = left.empty() ? 0 : std::min(1.0, double(o_.shared_cpus) / double(left.size()));
      double first_end = left.empty() ? kUnlimited : t + *std::min_element(left.begin(), left.end()) / speed;
      double arrive = next < done.size() ? done[next] : kUnlimited;
      double until = std::min(first_end, arrive);
      for (double& w : left) w -= (until - t) * speed;
      t = until;
      if (arrive <= first_end) {
        left.push_back(work);
        ++next;
      } else {
        for (size_t k = 0; k < left.size();)
          if (left[k] <= work * 1e-9) {
            res.finish_s.push_back(t + o_.finish_s);
            left[k] = left.back();
            left.pop_back();
          } else {
            ++k;
          }
      }
    }
  } else {
    for (double d : done) res.finish_s.push_back(d + tail);
  }
  std::sort(res.finish_s.begin(), res.finish_s.end());
  auto pct = [&](double q) {
    const auto& v = res.finish_s;
    if (v.empty()) return 0.0;
    size_t i = size_t(std::llround(q * double(v.size() - 1)));
    return v[std::min(i, v.size() - 1)];
  };
  res.p50_s = pct(0.5);
  res.p99_s = pct(0.99);
  res.max_s = res.finish_s.empty() ? 0 : res.finish_s.back();
  res.cross_bytes = cross_bytes_;
  res.cross_per_rf = racks_.empty() ? 0 : cross_bytes_ / (double(racks_.size()) * F);
  res.origin_bytes = origin_bytes_;
  res.origin_per_f = origin_bytes_ / F;
  // Busiest uplink direction: mean over the push and peak over windows.
  double end = done.empty() ? now : done.back();
  for (size_t r = 0; r < racks_.size(); ++r) {
    for (int dir = 0; dir < 2; ++dir) {
      double cap = dir == 0 ? racks_[r].out_cap : racks_[r].in_cap;
      if (std::isinf(cap) || end <= 0) continue;
      double bytes = dir == 0 ? rack_out_bytes_[r] : rack_in_bytes_[r];
      double mean = bytes / (cap * end);
      double peak = 0, acc = 0, span = 0;
      const double win = end / 20;
      for (size_t s = 0, first = 0; s < rack_step_bytes_.size(); ++s) {
        acc += rack_step_bytes_[s][2 * r + dir];
        span += step_dt_[s];
        while (first < s && span - step_dt_[first] >= win) {
          acc -= rack_step_bytes_[first][2 * r + dir];
          span -= step_dt_[first++];
        }
        if (span >= win) peak = std::max(peak, acc / (cap * span));
      }
      if (mean > res.uplink_util_mean) {
        res.uplink_util_mean = mean;
        res.uplink_util_peak = peak;
        res.busiest_uplink = racks_[r].name + (dir == 0 ? " out" : " in");
        res.uplink_cap = cap / o_.efficiency;
      }
    }
  }
  return res;
}

}  // namespace

Result<PlanResult> RunPlan(const Fleet& fleet, const PlanOptions& options) {
  Sim sim(options);
  return sim.Run(fleet);
}

std::string Assumptions() {
  return "The model runs the tracker's own peer selection (SelectPeers), origin grants and gateway shares\n"
         "(GatewayShareOf, InShare) on simulated announces. Everything else is modelled:\n"
         "  - every host is targeted, starts (first announce) after --startup plus up to --startup-spread,\n"
         "    announces every --announce-interval and on completion, and never fails or stalls\n"
         "    (no grant revocation, no restarts, no disk or CPU limits beyond --verify-rate);\n"
         "  - a host connects to every peer the tracker hands it, up to --connections per host;\n"
         "    connections open at once and never drop;\n"
         "  - bandwidth: each host's NIC up and down, each rack uplink each way (--uplink-egress-only:\n"
         "    out only), and the origin's cap, shared max-min fairly among the transfers using them;\n"
         "    payload gets --efficiency of every cap; latency and TCP slow start are ignored;\n"
         "  - choking: --slots upload slots per host rechosen every unchoke interval (most received\n"
         "    from first, one optimistic; seeds and the origin round robin), filled at once when one\n"
         "    frees; peers in other racks skip the slots (the fetcher's cross-rack class);\n"
         "  - pieces are simulated in groups of at most --max-chunks; a host asks a peer for the rarest\n"
         "    of a few random pieces it lacks (copies counted in its rack under the rack policy, in the\n"
         "    fleet under random), one piece per peer at a time; once every missing piece is on its way\n"
         "    a second peer may carry one too (end game); a choked transfer loses its partial piece;\n"
         "  - a gateway sees far peers' pieces only in its share (the far filter) or in the bitfield\n"
         "    they sent when the connection opened; the origin's all;\n"
         "  - after the last byte, a host reports installed --finish plus size / --verify-rate later\n"
         "    (--shared-cpus N: the hashes of all hosts share N cores, as on one test machine).\n"
         "Defaults of --startup, --startup-spread, --finish, --efficiency and --verify-rate were measured\n"
         "on a 30-host scripts/bench-swarm run (README, \"Planning a push\").\n";
}

}  // namespace spate::plan
