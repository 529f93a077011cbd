#include "tracker/peer_set.h"

#include <catch2/catch.hpp>
#include <map>
#include <random>

namespace spate {
namespace {

// Every invariant the policy relies on: racks contiguous in span order, each
// record findable by id at its slot, per-rack counts right.
void CheckConsistent(const PeerSet& set, const std::map<std::string, PeerRecord>& want) {
  REQUIRE(set.size() == want.size());
  uint32_t next = 0;
  for (const RackSpan& s : set.spans()) {
    CHECK(s.begin == next);
    int granted = 0;
    for (uint32_t i = s.begin; i < s.begin + s.count; ++i) {
      CHECK(set[i].rack == s.rack);
      granted += set[i].granted;
    }
    CHECK(s.granted == granted);
    next = s.begin + s.count;
  }
  CHECK(next == set.size());
  for (const auto& [id, r] : want) {
    uint32_t slot = set.Find(r.id);
    REQUIRE(slot != kNoSlot);
    CHECK(set[slot].rack == r.rack);
    CHECK(set[slot].left == r.left);
    CHECK(set[slot].port == r.port);
  }
}

TEST_CASE("peer set keeps racks contiguous and ids findable through adds, moves and removals") {
  std::mt19937 rng(42);
  PeerSet set;
  std::map<std::string, PeerRecord> want;
  for (int step = 0; step < 20000; ++step) {
    std::string id = "p" + std::to_string(rng() % 500);
    PeerId pid = MakePeerId(id);
    uint32_t slot = set.Find(pid);
    REQUIRE((slot == kNoSlot) == (want.count(id) == 0));
    int op = int(rng() % 10);
    if (slot == kNoSlot) {
      PeerRecord r;
      r.id = pid;
      r.port = uint16_t(rng());
      r.rack = RackId(rng() % 12);
      r.left = rng() % 3;
      want[id] = set[set.Add(r)];
    } else if (op < 3) {
      set.Remove(slot);
      want.erase(id);
    } else if (op < 6) {
      RackId rack = RackId(rng() % 12);
      slot = set.SetRack(slot, rack);
      want[id].rack = rack;
      CHECK(set[slot].id == pid);
    } else if (op < 8) {
      set.SetGranted(slot);
    } else {
      uint64_t left = rng() % 3;
      set.SetLeft(slot, left);
      want[id].left = left;
    }
    if (step % 997 == 0) CheckConsistent(set, want);
  }
  CheckConsistent(set, want);
  CHECK(set.Find(MakePeerId("never")) == kNoSlot);
}

TEST_CASE("peer set keeps keys and origins across moves") {
  PeerSet set;
  PeerRecord a;
  a.id = MakePeerId("a");
  a.origin = true;
  PeerRecord b;
  b.id = MakePeerId("b");
  b.rack = 1;
  set.Add(a);
  uint32_t sb = set.Add(b);
  set.SetKey(sb, "secret");
  sb = set.SetRack(sb, 0);  // moves in front of the other rack
  CHECK(set.Key(sb) == "secret");
  CHECK(set.Key(set.Find(a.id)).empty());
  REQUIRE(set.origins().size() == 1);
  CHECK(set.origins()[0] == a.id);
  set.Remove(set.Find(a.id));
  CHECK(set.origins().empty());
  CHECK(set.Key(set.Find(b.id)) == "secret");
}

TEST_CASE("gateways of a rack get the lowest share no other gateway holds") {
  PeerSet set;
  auto add = [&](const std::string& id, RackId rack) {
    PeerRecord r;
    r.id = MakePeerId(id);
    r.rack = rack;
    r.left = 100;
    return set.Add(r);
  };
  for (const char* id : {"a", "b", "c"}) set.SetGranted(add(id, 1));
  set.SetGranted(add("x", 2));  // another rack counts apart
  auto share = [&](const char* id) { return int(set[set.Find(MakePeerId(id))].gateway_slot); };
  CHECK(share("a") == 0);
  CHECK(share("b") == 1);
  CHECK(share("c") == 2);
  CHECK(share("x") == 0);
  set.SetLeft(set.Find(MakePeerId("b")), 0);  // finished: keeps its share
  set.SetGranted(add("d", 1));
  CHECK(share("d") == 3);
  set.Remove(set.Find(MakePeerId("a")));  // gone: its share is free
  set.SetGranted(add("e", 1));
  CHECK(share("e") == 0);
  CHECK(set.FindAt(1, set[set.Find(MakePeerId("e"))].ip) != kNoSlot);
  CHECK(set.FindAt(3, set[set.Find(MakePeerId("e"))].ip) == kNoSlot);
}

TEST_CASE("addresses are binary and compare by address") {
  auto v4 = PeerAddress::Parse("127.0.1.2");
  auto mapped = PeerAddress::Parse("::ffff:127.0.1.2");
  auto v6 = PeerAddress::Parse("2001:db8::1");
  REQUIRE(v4);
  REQUIRE(mapped);
  REQUIRE(v6);
  CHECK(*v4 == *mapped);  // v4-mapped peers are IPv4 peers
  CHECK_FALSE(v4->v6);
  CHECK(v6->v6);
  CHECK(v6->ToString() == "2001:db8::1");
  CHECK(*v4 == *PeerAddress::Parse("127.0.1.2"));  // by address, not by spelling
  CHECK_FALSE(PeerAddress::Parse("not an address"));
  CHECK_FALSE(PeerAddress::Parse("example.com"));
}

TEST_CASE("rack table distances match LocationDistance") {
  RackTable t;
  std::vector<Location> locs{{"dc1", "p1", "r1"}, {"dc1", "p1", "r2"}, {"dc1", "p2", "r1"}, {"dc2", "p1", "r1"}, {}};
  for (const auto& a : locs)
    for (const auto& b : locs) CHECK(t.Between(t.Intern(a), t.Intern(b)) == LocationDistance(a, b));
  CHECK(t.Name(t.Intern(locs[0])) == "dc1/p1/r1");
  CHECK(t.Name(kUnknownRack) == "unknown");
}

}  // namespace
}  // namespace spate
