// Compact swarm state for the announce hot path: one 64-byte record per peer,
// an open-addressing index by peer id (4 bytes per table entry), and records
// kept grouped by rack so peer selection reads one rack's records instead of
// the whole swarm. Rack ids are small integers interned once per address in a
// RackTable shared by all swarms.
//
// Memory: 64 B per record + 8-16 B of index per peer + 16 B per rack present
// in the swarm (1M peers in 10,000 swarms: ~150 MB RSS in scripts/bench-tracker). Adding or removing a peer moves at most one record per rack
// (racks stay contiguous), so it costs O(racks in the swarm), not O(peers).
//
// Not thread-safe; the tracker uses it from its io thread only.
#pragma once

#include <array>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "rackmap/rackmap.h"

namespace spate {

// A BitTorrent peer id: 20 raw bytes (shorter input is zero-padded).
using PeerId = std::array<char, 20>;
PeerId MakePeerId(std::string_view raw);
inline std::string_view IdView(const PeerId& id) { return std::string_view(id.data(), id.size()); }
uint64_t IdHash(const PeerId& id);
// Inline compare: the index compares ids on every probe.
inline bool SameId(const PeerId& a, const PeerId& b) {
  uint64_t a0, a1, b0, b1;
  uint32_t a2, b2;
  __builtin_memcpy(&a0, a.data(), 8);
  __builtin_memcpy(&a1, a.data() + 8, 8);
  __builtin_memcpy(&a2, a.data() + 16, 4);
  __builtin_memcpy(&b0, b.data(), 8);
  __builtin_memcpy(&b1, b.data() + 8, 8);
  __builtin_memcpy(&b2, b.data() + 16, 4);
  return ((a0 ^ b0) | (a1 ^ b1) | (a2 ^ b2)) == 0;
}
// A 64-bit mixer (splitmix64's finalizer) for deriving stable orders from ids.
uint64_t Mix64(uint64_t x);

// A peer's address in binary. IPv4 sits in the first 4 bytes; IPv4-mapped
// IPv6 addresses are stored as IPv4, as peers expect them in replies.
struct PeerAddress {
  std::array<uint8_t, 16> bytes{};
  bool v6 = false;

  static PeerAddress From(const boost::asio::ip::address& a);
  static std::optional<PeerAddress> Parse(const std::string& text);
  boost::asio::ip::address ToAddress() const;
  std::string ToString() const;
  bool operator==(const PeerAddress& o) const { return v6 == o.v6 && bytes == o.bytes; }
  bool operator!=(const PeerAddress& o) const { return !(*this == o); }
};

// dc/pod/rack interned to small ids. Id 0 is the unknown location.
using RackId = uint32_t;
inline constexpr RackId kUnknownRack = 0;

class RackTable {
 public:
  RackTable();
  RackId Intern(const Location& loc);
  // Same as LocationDistance on the interned locations.
  Distance Between(RackId a, RackId b) const;
  // "dc/pod/rack" or "unknown".
  const std::string& Name(RackId r) const { return racks_[r].name; }

 private:
  struct Info {
    uint32_t pod = 0, dc = 0;  // interned "dc/pod" and "dc"
    std::string name;
  };
  std::vector<Info> racks_;
  std::unordered_map<std::string, RackId> by_name_;
  std::unordered_map<std::string, uint32_t> pods_, dcs_;
};

struct PeerRecord {
  PeerId id{};
  PeerAddress ip;
  bool origin = false;   // the artifact's origin seeder
  bool granted = false;  // handed the origin: its rack's gateway (see peer_select.h)
  bool has_key = false;  // announced a BEP 3 key (held by the PeerSet)
  // With `granted`: which share of the pieces this gateway brings into its
  // rack (see GatewayRole in wire/api.h). Set by SetGranted.
  uint8_t gateway_slot = 0;
  uint16_t port = 0;
  RackId rack = kUnknownRack;
  uint32_t expires_at = 0;  // unix seconds
  uint32_t index_pos = 0;   // the PeerSet's: its index cell, so moving a record needs no lookup
  uint64_t left = 0;        // bytes still missing (0 = seed)

  bool seed() const { return left == 0; }
};
static_assert(sizeof(PeerRecord) <= 64, "a peer record should fit a cache line");

// One rack's records: [begin, begin + count) of the PeerSet.
struct RackSpan {
  RackId rack = kUnknownRack;
  uint32_t begin = 0, count = 0;
  uint16_t granted = 0;  // records with `granted`: the rack's gateways, finished or not
};

inline constexpr uint32_t kNoSlot = UINT32_MAX;

class PeerSet {
 public:
  size_t size() const { return records_.size(); }
  bool empty() const { return records_.empty(); }
  const PeerRecord& operator[](uint32_t slot) const { return records_[slot]; }
  // Mutable access is for ip, port and expires_at; rack, left, granted and
  // origin change through the methods below, which keep the counts. After
  // setting `origin` directly (the control API does), call RefreshOrigins().
  PeerRecord& at(uint32_t slot) { return records_[slot]; }
  PeerRecord* begin() { return records_.data(); }
  PeerRecord* end() { return records_.data() + records_.size(); }
  const PeerRecord* begin() const { return records_.data(); }
  const PeerRecord* end() const { return records_.data() + records_.size(); }

  uint32_t Find(const PeerId& id) const;
  // The record of `rack` at address `ip` (any port), kNoSlot if none. O(rack).
  uint32_t FindAt(RackId rack, const PeerAddress& ip) const;
  // Adds a peer whose id is not present; returns its slot. Slots of other
  // records may change on Add, SetRack and Remove.
  uint32_t Add(const PeerRecord& r);
  // Moves a peer to another rack; returns its new slot.
  uint32_t SetRack(uint32_t slot, RackId rack);
  void Remove(uint32_t slot);
  void SetLeft(uint32_t slot, uint64_t left);
  // Makes the peer a gateway with the lowest gateway slot no other gateway
  // of its rack holds. O(rack).
  void SetGranted(uint32_t slot);
  // Takes the grant (and gateway slot) away; frees one of the rack's grants.
  void RevokeGrant(uint32_t slot);
  void SetOrigin(uint32_t slot, bool origin);
  void RefreshOrigins();

  // The key a peer announced with, "" if none.
  const std::string& Key(uint32_t slot) const;
  void SetKey(uint32_t slot, const std::string& key);

  const std::vector<RackSpan>& spans() const { return spans_; }
  const RackSpan* Span(RackId rack) const;
  // Peer ids of the records flagged origin (few: usually one).
  const std::vector<PeerId>& origins() const { return origins_; }

 private:
  struct IdHasher {
    size_t operator()(const PeerId& id) const { return size_t(IdHash(id)); }
  };
  size_t SpanIndex(RackId rack) const;  // spans_.size() when absent
  void Place(uint32_t slot, PeerRecord&& r);
  uint32_t* IndexEntry(const PeerId& id);  // the table cell holding id's slot + 1
  void GrowIndex();  // room for one more id
  void IndexInsert(const PeerId& id, uint32_t slot);
  void IndexErase(const PeerId& id);
  void Count(const PeerRecord& r, RackSpan& s, int sign);

  std::vector<PeerRecord> records_;  // grouped by rack, in spans_ order
  std::vector<RackSpan> spans_;      // racks in order of first appearance
  std::vector<uint32_t> table_;      // slot + 1, 0 = empty; size a power of two
  std::vector<PeerId> origins_;
  std::unordered_map<PeerId, std::string, IdHasher> keys_;
};

}  // namespace spate
