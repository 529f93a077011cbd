// Cross-rack shaping: peers outside this host's rack (the origin included) go
// in a "cross-rack" peer class on top of the global one, so what this host
// sends and fetches over the rack uplink can be capped apart from its NIC
// caps. The class also keeps far peers unchoked (see SetRanges).
#pragma once

#include <libtorrent/ip_filter.hpp>
#include <libtorrent/session.hpp>
#include <utility>
#include <vector>

#include "wire/api.h"
#include "wire/status.h"

namespace spate {

// First and last address of "ADDR/LEN" (no "/LEN": one host).
Result<std::pair<lt::address, lt::address>> CidrBounds(const std::string& cidr);

// The peer-class filter for a host in a rack: every address in the global
// class plus `cross_class`, except the rack's own ranges (global only).
// `ranges` are applied in order, so a nested range of another rack listed
// after its rack's range is carved back out.
Result<lt::ip_filter> RackClassFilter(const std::vector<RackRange>& ranges, uint32_t cross_class);

class CrossRack {
 public:
  explicit CrossRack(lt::session& ses) : ses_(ses) {}

  // Classifies peers that connect from now on (a peer's class is fixed when
  // it connects, so call before adding torrents). `ranges` come from the
  // tracker (AssignmentList::rack_ranges); `rate` is the cap in bytes/s each
  // way, 0 = none. Empty ranges put every peer in the global class only.
  Status SetRanges(const std::vector<RackRange>& ranges, int rate);

 private:
  lt::session& ses_;
  lt::peer_class_t cls_{0};
  bool created_ = false;
};

}  // namespace spate
