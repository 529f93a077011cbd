// Rackmap: which datacenter, pod and rack an IP address lives in.
//
// File format (plain text, one range per line):
//   # comment (a '#' anywhere starts a comment that runs to the end of the line)
//   10.1.0.0/16      dc1/pod1/rack1
//   10.1.2.0/24      dc1/pod1/rack2     # more specific ranges win
//   2001:db8::/32    dc2/pod9/r4
// A CIDR without "/LEN" is a single host (/32 or /128). Host bits below the
// prefix must be zero: "10.1.2.3/24" is rejected rather than silently masked,
// because a typo there usually means a wrong prefix length. Location parts are
// 1-64 characters of [A-Za-z0-9._-]. Listing the same range twice is an error
// (naming both lines), even with the same location, so edits stay unambiguous.
//
// Thread-safety: a loaded Rackmap is immutable; const methods are safe from any thread.
#pragma once

#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "wire/api.h"
#include "wire/status.h"

namespace spate {

struct Location {
  std::string dc, pod, rack;  // all empty = unknown

  bool known() const { return !dc.empty(); }
  // "dc/pod/rack" or "unknown".
  std::string ToString() const;
  bool operator==(const Location& o) const { return dc == o.dc && pod == o.pod && rack == o.rack; }
};

// Network distance between two locations.
enum Distance : int { kSameRack = 0, kSamePod = 1, kSameDc = 2, kElsewhere = 3 };
// Unknown locations are always kElsewhere, even from another unknown location:
// two hosts missing from the map are no evidence of being close.
Distance LocationDistance(const Location& a, const Location& b);

struct RackmapSummary {
  size_t ranges = 0, dcs = 0, pods = 0, racks = 0;
};

class Rackmap {
 public:
  // An empty map: every address is unknown.
  Rackmap() = default;

  // Parses file contents; `filename` only labels errors ("file:line: what").
  static Result<Rackmap> Parse(const std::string& text, const std::string& filename);
  static Result<Rackmap> Load(const std::string& path);

  // Location of the longest matching prefix, or an unknown Location.
  // IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are looked up as IPv4.
  const Location& Lookup(const boost::asio::ip::address& addr) const;
  // Same for text; unparsable text is unknown.
  const Location& Lookup(const std::string& addr) const;

  RackmapSummary Summary() const;

  // The ranges that make up `rack`: its own (local) and, nested inside them,
  // more specific ranges of other locations (not local); shortest prefix
  // first, so applying them in order gives longest-prefix-wins membership.
  // Empty for an unknown location.
  std::vector<RackRange> RangesOf(const Location& rack) const;

 private:
  using Key = std::pair<uint64_t, uint64_t>;
  struct KeyHash {
    size_t operator()(const Key& k) const { return std::hash<uint64_t>()(k.first * 0x9e3779b97f4a7c15ULL ^ k.second); }
  };
  // All ranges of one prefix length; tables are kept longest prefix first so
  // the first hit is the answer (at most 33 or 129 hash probes per lookup).
  struct Level {
    int prefix = 0;
    std::unordered_map<Key, uint32_t, KeyHash> ranges;  // masked address -> index into locations_
  };
  const Location& Find(const std::vector<Level>& levels, Key key, int bits) const;

  std::vector<Level> v4_, v6_;
  std::vector<Location> locations_;
  size_t range_count_ = 0;
};

}  // namespace spate
