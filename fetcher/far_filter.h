// Which pieces a rack's gateways fetch from outside the rack.
//
// The tracker gives each gateway of a rack (a host handed the origin) a slot
// (GatewayRole in wire/api.h). A gateway keeps the HAVE messages of peers
// outside its rack only for its share of the pieces (index % slots == slot).
// libtorrent requests a piece only from peers it knows hold it, so each piece
// crosses into the rack through one gateway, and the rack's own peers spread
// it. Before a role is known, on hosts that are not gateways, and for peers
// inside the rack, nothing is filtered. Bitfields (sent when a connection
// opens, and by the origin) are kept whole: a bitfield cannot be trimmed, and
// dropping one would hide a peer's pieces for the life of the connection.
//
// Why: libtorrent requests from every peer that unchokes it, whatever the
// rack already holds. With five gateways per rack, over half of the bytes
// crossing into a rack were pieces a rack peer already had. Hiding a HAVE is
// the only lever: libtorrent 2.0.8 exports no way to withdraw one later.
#pragma once

#include <libtorrent/extensions.hpp>
#include <libtorrent/ip_filter.hpp>
#include <atomic>
#include <memory>
#include <vector>

#include "fetcher/metrics.h"
#include "wire/api.h"
#include "wire/push_facts.h"  // InShare
#include "wire/status.h"

namespace spate {

class FarFilter : public lt::torrent_plugin, public std::enable_shared_from_this<FarFilter> {
 public:
  // `ranges`: this host's rack (AssignmentList::rack_ranges); empty = no rack
  // known, nothing is far.
  // `traffic` (may be null) counts every connection's payload bytes as same-
  // or cross-rack.
  static Result<std::shared_ptr<FarFilter>> Make(const std::vector<RackRange>& ranges,
                                                 std::shared_ptr<TrafficCounters> traffic = nullptr);

  // From the tracker's answer to reports; any thread. slots 0 = no role.
  // Returns whether the role changed.
  bool SetRole(int slot, int slots);
  bool Far(const lt::address& a) const;
  // Whether a far peer's HAVE of `piece` is kept.
  bool Admit(int piece) const;
  // The per-connection part: what new_connection attaches to far peers.
  std::shared_ptr<lt::peer_plugin> FarPeer();
  const std::shared_ptr<TrafficCounters>& traffic() const { return traffic_; }

  std::shared_ptr<lt::peer_plugin> new_connection(lt::peer_connection_handle const& pc) override;

 private:
  static constexpr uint32_t kFarClass = 1;  // class id given to RackClassFilter
  lt::ip_filter far_;  // bit kFarClass set = outside the rack
  std::atomic<uint32_t> role_{0};  // slot << 16 | slots
  std::shared_ptr<TrafficCounters> traffic_;
};

}  // namespace spate
