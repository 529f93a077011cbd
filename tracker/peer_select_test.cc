#include "tracker/peer_select.h"

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace spate {
namespace {

constexpr uint64_t kSize = 1000;

// A peer described by value, as the tests build swarms; Build() turns a list
// of them into the PeerSet the policy reads, and results come back as Peers.
struct Peer {
  std::string peer_id;
  std::string ip;
  uint16_t port = 0;
  Location location;
  uint64_t left = 0;
  bool origin = false;
};

// A synthetic swarm: `per_rack` leechers in each of racks r0..r{racks-1}
// (two pods of dc1 alternate), plus the origin seeder in its own rack.
std::vector<Peer> MakeSwarm(int racks, int per_rack, uint64_t left = kSize) {
  std::vector<Peer> v;
  for (int r = 0; r < racks; ++r)
    for (int h = 0; h < per_rack; ++h) {
      Peer p;
      p.peer_id = "peer-" + std::to_string(r) + "-" + std::to_string(h);
      p.ip = "127." + std::to_string(r / 200) + "." + std::to_string(r % 200 + 1) + "." + std::to_string(h % 250 + 1);
      p.port = uint16_t(6881 + h / 250);
      p.location = Location{"dc1", "pod" + std::to_string(r % 2), "r" + std::to_string(r)};
      p.left = left;
      v.push_back(p);
    }
  Peer o;
  o.peer_id = "origin";
  o.ip = "127.0.0.100";
  o.port = 7000;
  o.location = Location{"dc1", "seed", "seedrack"};
  o.left = 0;
  o.origin = true;
  v.push_back(o);
  return v;
}

using Grants = std::unordered_set<std::string>;                  // peer ids granted the origin
using GrantsByRack = std::unordered_map<std::string, Grants>;    // by Location::ToString()

struct Built {
  RackTable racks;
  PeerSet set;
  std::unordered_map<std::string, Peer> by_id;  // by the 20-byte PeerId

  PeerRecord Record(const Peer& p) {
    PeerRecord r;
    r.id = MakePeerId(p.peer_id);
    r.ip = *PeerAddress::Parse(p.ip);
    r.port = p.port;
    r.rack = racks.Intern(p.location);
    r.left = p.left;
    r.origin = p.origin;
    return r;
  }
  // The requester as the policy sees it: its record when it is in the swarm.
  PeerRecord Requester(const Peer& p) {
    uint32_t s = set.Find(MakePeerId(p.peer_id));
    return s == kNoSlot ? Record(p) : set[s];
  }
  std::vector<Peer> Peers(const Selection& sel) const {
    std::vector<Peer> out;
    for (uint32_t s : sel.slots) out.push_back(by_id.at(std::string(IdView(set[s].id))));
    return out;
  }
};

// Grants become the holders' `granted` flags, as the tracker records them.
void Build(const std::vector<Peer>& swarm, const Grants* grants, Built* b) {
  for (const Peer& p : swarm) {
    PeerRecord r = b->Record(p);
    b->set.Add(r);
    b->by_id[std::string(IdView(r.id))] = p;
  }
  if (grants)
    for (const auto& id : *grants) {
      uint32_t s = b->set.Find(MakePeerId(id));
      if (s != kNoSlot) b->set.SetGranted(s);  // "gone" peers hold nothing
    }
}

struct Picked {
  std::vector<Peer> peers;
  bool new_origin_grant = false;
  size_t examined = 0;
};

Picked Pick(const Peer& req, const std::vector<Peer>& swarm, int numwant, const PolicyOptions& o = {},
            const Grants* grants = nullptr, uint64_t seed = 1, bool roles_by_grants = false) {
  Rng rng(seed);
  Built b;
  Build(swarm, grants, &b);
  SelectInput in;
  in.peers = &b.set;
  in.racks = &b.racks;
  in.total_size = kSize;
  in.roles_by_grants = roles_by_grants;
  Selection sel;
  SelectPeers(b.Requester(req), in, numwant, o, rng, &sel);
  return Picked{b.Peers(sel), sel.new_origin_grant, sel.examined};
}

void CheckBasics(const Peer& req, const Picked& s, int numwant) {
  CHECK(s.peers.size() <= size_t(numwant));
  std::set<std::string> ids, endpoints;
  for (const auto& p : s.peers) {
    CHECK(p.peer_id != req.peer_id);
    CHECK_FALSE((p.ip == req.ip && p.port == req.port));
    CHECK(ids.insert(p.peer_id).second);
    CHECK(endpoints.insert(p.ip + ":" + std::to_string(p.port)).second);
  }
}

TEST_CASE("selection never returns the requester, duplicates or more than numwant") {
  auto swarm = MakeSwarm(4, 5);
  swarm.push_back(swarm[3]);  // a restarted peer lingering under its old id: same endpoint
  swarm.back().peer_id = "restarted-3";
  for (Policy pol : {Policy::kRack, Policy::kRandom})
    for (int numwant : {0, 1, 2, 3, 5, 8, 50})
      for (const auto& req : swarm) {
        PolicyOptions o;
        o.policy = pol;
        auto s = Pick(req, swarm, numwant, o);
        CheckBasics(req, s, numwant);
        if (numwant >= 50 && pol == Policy::kRandom) CHECK(s.peers.size() >= swarm.size() - 2);  // all but self and the dup
      }
}

TEST_CASE("selection excludes a requester announcing under a new peer id from the same endpoint") {
  auto swarm = MakeSwarm(1, 3);
  Peer req = swarm[0];
  req.peer_id = "restarted";
  auto s = Pick(req, swarm, 50);
  for (const auto& p : s.peers) CHECK(p.ip + std::to_string(p.port) != req.ip + std::to_string(req.port));
}

TEST_CASE("policy returns mostly same-rack peers when enough exist") {
  auto swarm = MakeSwarm(6, 20);
  const Peer& req = swarm[0];  // rack r0
  auto s = Pick(req, swarm, 10);
  CheckBasics(req, s, 10);
  REQUIRE(s.peers.size() == 10);
  int same = 0, far = 0;
  for (const auto& p : s.peers) (LocationDistance(req.location, p.location) == kSameRack ? same : far)++;
  const int bridges = PolicyOptions{}.bridges;
  CHECK(same >= 10 - bridges - 1);
  CHECK(far <= bridges + 1);  // at most the bridges and the origin
}

TEST_CASE("policy fills with same pod before same dc before elsewhere") {
  auto swarm = MakeSwarm(4, 3);  // r0,r2 in pod0; r1,r3 in pod1
  Peer far;
  far.peer_id = "far";
  far.ip = "127.9.9.9";
  far.port = 1;
  far.location = Location{"dc9", "p", "r"};
  far.left = kSize;
  swarm.push_back(far);
  const Peer& req = swarm[0];
  PolicyOptions o;
  o.bridges = 0;
  o.min_local = 4;
  auto s = Pick(req, swarm, 5, o);
  REQUIRE(s.peers.size() == 5);
  std::map<int, int> by;
  for (const auto& p : s.peers)
    if (!p.origin) by[LocationDistance(req.location, p.location)]++;
  // The origin takes one slot (nobody else has data); then all of r0 but self, then r2 (same pod).
  CHECK(std::any_of(s.peers.begin(), s.peers.end(), [](const Peer& p) { return p.origin; }));
  CHECK(by[kSameRack] == 2);
  CHECK(by[kSamePod] == 2);
  CHECK(by[kSameDc] == 0);
  CHECK(by[kElsewhere] == 0);
}

TEST_CASE("policy prefers seeds and peers with data within a level when numwant is tight") {
  auto swarm = MakeSwarm(1, 10);
  swarm[5].left = 0;    // a seed
  swarm[7].left = 500;  // half done
  PolicyOptions o;
  o.bridges = 0;
  o.origin_per_rack = 0;
  auto s = Pick(swarm[0], swarm, 2, o);
  REQUIRE(s.peers.size() == 2);
  std::set<std::string> ids{s.peers[0].peer_id, s.peers[1].peer_id};
  CHECK(ids == std::set<std::string>{swarm[5].peer_id, swarm[7].peer_id});
}

TEST_CASE("origin is rationed per rack and kept for those granted it") {
  auto swarm = MakeSwarm(3, 10);
  swarm[1].left = 0;  // rack r0 has data elsewhere, so nobody is starving
  swarm[11].left = 0;
  swarm[21].left = 0;
  PolicyOptions o;
  o.origin_per_rack = 2;
  std::map<std::string, std::unordered_set<std::string>> grants;  // rack -> granted requesters
  std::map<std::string, int> got;
  for (int round = 0; round < 3; ++round)
    for (const auto& req : swarm) {
      if (req.origin) continue;
      auto& g = grants[req.location.ToString()];
      auto s = Pick(req, swarm, 8, o, &g, round * 1000 + std::hash<std::string>()(req.peer_id));
      bool has = std::any_of(s.peers.begin(), s.peers.end(), [](const Peer& p) { return p.origin; });
      if (has) got[req.peer_id]++;
      if (s.new_origin_grant) {
        CHECK(has);
        g.insert(req.peer_id);
      }
    }
  for (auto& [rack, g] : grants) CHECK(g.size() == 2);
  // Exactly the granted requesters got the origin, every round.
  for (auto& [rack, g] : grants)
    for (const auto& id : g) CHECK(got[id] == 3);
  CHECK(got.size() == 6);
}

TEST_CASE("a requester with no other peer gets the origin without using the ration") {
  std::vector<Peer> swarm = MakeSwarm(1, 1);  // one leecher and the origin
  PolicyOptions o;
  o.origin_per_rack = 0;
  std::unordered_set<std::string> g;
  auto s = Pick(swarm[0], swarm, 3, o, &g);
  REQUIRE(s.peers.size() == 1);
  CHECK(s.peers[0].origin);
  CHECK_FALSE(s.new_origin_grant);
}

TEST_CASE("at push start only origin_per_rack requesters per rack get the origin") {
  auto swarm = MakeSwarm(6, 10);  // nobody but the origin has data
  std::map<std::string, std::unordered_set<std::string>> grants;
  int with_origin = 0;
  PolicyOptions o;  // default ration
  for (const auto& req : swarm) {
    if (req.origin) continue;
    auto& g = grants[req.location.ToString()];
    auto s = Pick(req, swarm, 200, o, &g);
    if (s.new_origin_grant) g.insert(req.peer_id);
    with_origin += std::any_of(s.peers.begin(), s.peers.end(), [](const Peer& p) { return p.origin; });
  }
  CHECK(with_origin == 6 * o.origin_per_rack);
}

TEST_CASE("a grant held by a peer that left frees the rack's origin slot, a finished one keeps it") {
  auto swarm = MakeSwarm(1, 4);
  PolicyOptions o;
  o.origin_per_rack = 1;
  auto has_origin = [](const Picked& s) {
    return std::any_of(s.peers.begin(), s.peers.end(), [](const Peer& p) { return p.origin; });
  };
  std::unordered_set<std::string> left_swarm{"gone"};
  auto s = Pick(swarm[1], swarm, 10, o, &left_swarm);
  CHECK(has_origin(s));
  CHECK(s.new_origin_grant);
  // A finished gateway: its rack holds every piece, so nobody else needs the origin.
  std::unordered_set<std::string> finished{swarm[0].peer_id};
  swarm[0].left = 0;
  s = Pick(swarm[1], swarm, 10, o, &finished);
  CHECK_FALSE(has_origin(s));
  CHECK_FALSE(s.new_origin_grant);
}

TEST_CASE("the origin itself is handed no peers") {
  auto swarm = MakeSwarm(3, 5);
  auto s = Pick(swarm.back(), swarm, 200);
  REQUIRE(swarm.back().origin);
  CHECK(s.peers.empty());
}

TEST_CASE("rack policy does not fill numwant with far peers") {
  auto swarm = MakeSwarm(6, 10);
  PolicyOptions o;
  o.origin_per_rack = 0;
  std::map<std::string, int> bridge_hosts;  // rack -> requesters handed far peers
  for (const auto& req : swarm) {
    if (req.origin) continue;
    auto s = Pick(req, swarm, 200, o);
    int same = 0, far = 0;
    for (const auto& p : s.peers) (LocationDistance(req.location, p.location) == kSameRack ? same : far)++;
    CHECK(same == 9);
    CHECK((far == 0 || far == o.bridges));
    if (far) bridge_hosts[req.location.ToString()]++;
  }
  CHECK(bridge_hosts.size() == 6);
  for (auto& [rack, n] : bridge_hosts) CHECK(n == o.bridge_hosts);
}

TEST_CASE("bridges of one requester come from different racks, the pod's sibling first") {
  auto swarm = MakeSwarm(6, 10);  // pods alternate: r0,r2,r4 in pod0
  PolicyOptions o;
  o.bridge_hosts = 100;  // everyone is a bridge host
  o.bridges = 3;
  o.origin_per_rack = 0;
  for (const auto& req : swarm) {
    if (req.origin) continue;
    auto s = Pick(req, swarm, 200, o);
    std::set<std::string> racks;
    int pod = 0;
    for (const auto& p : s.peers) {
      auto d = LocationDistance(req.location, p.location);
      if (d == kSameRack) continue;
      racks.insert(p.location.ToString());
      pod += d == kSamePod;
    }
    CHECK(racks.size() == 3);
    CHECK(pod == 2);  // both sibling racks of the pod, then one of another pod
  }
}

TEST_CASE("bridges link a rack's bridge hosts to other racks' bridge hosts") {
  auto swarm = MakeSwarm(6, 10);
  PolicyOptions o;
  o.origin_per_rack = 0;
  std::set<std::string> gateways;
  std::vector<std::string> far_ends;
  for (const auto& req : swarm) {
    if (req.origin) continue;
    auto s = Pick(req, swarm, 200, o);
    bool any = false;
    for (const auto& p : s.peers)
      if (LocationDistance(req.location, p.location) != kSameRack) {
        far_ends.push_back(p.peer_id);
        any = true;
      }
    if (any) gateways.insert(req.peer_id);
  }
  CHECK(gateways.size() == 12);
  REQUIRE(far_ends.size() == 12 * size_t(o.bridges));
  for (const auto& id : far_ends) CHECK(gateways.count(id) == 1);
}

TEST_CASE("origin grantees are the bridge hosts and link to other racks' grantees, however racks fill") {
  auto full = MakeSwarm(6, 10);
  PolicyOptions o;
  o.origin_per_rack = 2;
  GrantsByRack grants;
  std::map<std::string, std::set<std::string>> far_of;  // requester -> far peers ever handed
  // Peers arrive one by one, as at push start, and everyone re-announces each round.
  std::vector<Peer> swarm{full.back()};
  for (size_t i = 0; i + 1 < full.size(); ++i) {
    swarm.push_back(full[i]);
    for (const auto& req : swarm) {
      if (req.origin) continue;
      Grants all;
      for (const auto& [rack, g] : grants) all.insert(g.begin(), g.end());
      auto s = Pick(req, swarm, 200, o, &all, i, /*roles_by_grants=*/true);
      if (s.new_origin_grant) grants[req.location.ToString()].insert(req.peer_id);
      for (const auto& p : s.peers)
        if (!p.origin && LocationDistance(req.location, p.location) != kSameRack) far_of[req.peer_id].insert(p.peer_id);
    }
  }
  std::set<std::string> gateways;
  for (auto& [rack, g] : grants) {
    CHECK(g.size() == 2);
    gateways.insert(g.begin(), g.end());
  }
  for (auto& [req, far] : far_of) {
    CHECK(gateways.count(req) == 1);  // nobody else was ever handed a far peer
    // A few bridges, not numwant; more than `bridges` because a nearer
    // rack's gateway can appear after the first choice was handed out.
    CHECK(far.size() <= 8);
    for (const auto& id : far) CHECK(gateways.count(id) == 1);
  }
}

TEST_CASE("the reply is the same on every announce while the swarm is unchanged") {
  auto swarm = MakeSwarm(4, 30);
  for (int i : {0, 17, 45, 99}) {
    std::set<std::string> first;
    for (uint64_t seed = 1; seed < 6; ++seed) {
      auto s = Pick(swarm[i], swarm, 12, {}, nullptr, seed);
      std::set<std::string> ids;
      for (const auto& p : s.peers) ids.insert(p.peer_id);
      if (seed == 1) first = ids;
      CHECK(ids == first);
    }
  }
}

TEST_CASE("a rack smaller than min_local is topped up from the same pod first") {
  auto swarm = MakeSwarm(4, 2);  // r0 has one other peer
  PolicyOptions o;
  o.bridges = 0;
  o.origin_per_rack = 0;
  o.min_local = 4;
  auto s = Pick(swarm[0], swarm, 200, o);
  std::map<int, int> by;
  for (const auto& p : s.peers) by[LocationDistance(swarm[0].location, p.location)]++;
  CHECK(by[kSameRack] == 1);
  CHECK(by[kSamePod] == 2);  // all of r2
  CHECK(by[kSameDc] == 1);
  CHECK(s.peers.size() == 4);
}

TEST_CASE("every rack gets at least one bridge or the origin") {
  auto swarm = MakeSwarm(8, 30);
  for (auto& p : swarm)
    if (p.peer_id.back() == '0') p.left = 0;  // some seeds in every rack
  std::map<std::string, std::unordered_set<std::string>> grants;
  std::map<std::string, int> outside;  // rack -> peers handed in from other racks
  for (const auto& req : swarm) {
    if (req.origin) continue;
    auto& g = grants[req.location.ToString()];
    auto s = Pick(req, swarm, 10, {}, &g, std::hash<std::string>()(req.peer_id));
    if (s.new_origin_grant) g.insert(req.peer_id);
    int local = 0;
    for (const auto& p : s.peers) {
      if (LocationDistance(req.location, p.location) != kSameRack) outside[req.location.ToString()]++;
      else ++local;
    }
    CHECK(local >= 10 - PolicyOptions{}.bridges - 1);
    CHECK(s.peers.size() == 10);
  }
  CHECK(outside.size() == 8);
  for (auto& [rack, n] : outside) CHECK(n >= 1);
}

TEST_CASE("random policy ignores racks") {
  auto swarm = MakeSwarm(10, 10);
  PolicyOptions o;
  o.policy = Policy::kRandom;
  int same = 0;
  for (int i = 0; i < 20; ++i) {
    auto s = Pick(swarm[0], swarm, 10, o, nullptr, i);
    for (const auto& p : s.peers) same += LocationDistance(swarm[0].location, p.location) == kSameRack;
  }
  CHECK(same < 60);  // ~9% expected, rack policy would give ~80%
  CHECK(ParsePolicy("random").ok());
  CHECK_FALSE(ParsePolicy("nearest").ok());
}

TEST_CASE("a requester with unknown location still gets peers") {
  auto swarm = MakeSwarm(2, 5);
  Peer req;
  req.peer_id = "stranger";
  req.ip = "10.0.0.1";
  req.port = 1;
  req.left = kSize;
  auto s = Pick(req, swarm, 4);
  CheckBasics(req, s, 4);
  CHECK(s.peers.size() == 4);
}

TEST_CASE("a reply from a 10000-peer swarm looks at a few racks not the whole swarm") {
  auto swarm = MakeSwarm(100, 100);
  Built b;
  Build(swarm, nullptr, &b);
  for (bool by_grants : {false, true}) {
    if (by_grants)  // every rack's first host holds a grant: gateways at both ends of each bridge
      for (int r = 0; r < 100; ++r) b.set.SetGranted(b.set.Find(MakePeerId("peer-" + std::to_string(r) + "-0")));
    SelectInput in;
    in.peers = &b.set;
    in.racks = &b.racks;
    in.total_size = kSize;
    in.roles_by_grants = by_grants;
    int bridge_hosts = 0;
    for (int i = 0; i < 10000; i += 37) {
      Rng rng(i);
      Selection sel;
      PeerRecord req = b.Requester(swarm[i]);
      SelectPeers(req, in, 50, {}, rng, &sel);
      CHECK(sel.slots.size() <= 50);
      // Its own rack (100), the racks it bridges to (bridges x 100) and a little more.
      CHECK(sel.examined <= 100 * (1 + size_t(PolicyOptions{}.bridges)) + 20);
      auto got = b.Peers(sel);
      int far = 0;
      for (const auto& p : got) far += !p.origin && LocationDistance(swarm[i].location, p.location) != kSameRack;
      bridge_hosts += far > 0;
    }
    CHECK(bridge_hosts > 0);  // the bridge path was measured too
  }
  PolicyOptions random;
  random.policy = Policy::kRandom;
  SelectInput in;
  in.peers = &b.set;
  in.racks = &b.racks;
  Rng rng(7);
  Selection sel;
  SelectPeers(b.Requester(swarm[5]), in, 50, random, rng, &sel);
  CHECK(sel.slots.size() == 50);
  CHECK(sel.examined <= 4 * 50);
}

}  // namespace
}  // namespace spate
