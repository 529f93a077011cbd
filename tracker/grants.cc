// Origin grants that stopped earning their place (see grant_watch.h).
#include <spdlog/spdlog.h>

#include "tracker/gateway_share.h"
#include "tracker/tracker_impl.h"
#include "wire/crypto.h"

namespace spate {

void Tracker::Impl::RevokeStalledGrants(SwarmState& sw, RackId rack, int64_t now_ms) {
  const RackSpan* span = sw.peers.Span(rack);
  if (!span || span->granted == 0) return;
  const int64_t stall_ms = int64_t(config.grant_stall.count()) * 1000;
  for (uint32_t s = span->begin; s < span->begin + span->count; ++s) {
    const PeerRecord& p = sw.peers[s];
    if (!p.granted || !sw.grants.Stalled(p.id, p.left, now_ms, stall_ms)) continue;
    sw.peers.RevokeGrant(s);  // keeps the slot: records do not move
    sw.grants.Revoke(p.id);
    ++grants_revoked;
    spdlog::info("{}: origin grant of {} in {} revoked: left {} has not decreased for {} s", sw.artifact,
                 p.ip.ToString(), racks.Name(rack), p.left, config.grant_stall.count());
  }
}

// The one place a gateway role is assembled: the grant is the swarm's, the
// share count comes from the push (hosts targeted in the rack), so a rack
// with fewer targets than origin_per_rack has every host a gateway. Counted
// from the push, not from the peers seen so far, so shares do not change as
// a rack's hosts arrive (a HAVE dropped under a passing split would hide
// that piece for good).
std::optional<GatewayShare> Tracker::Impl::GatewayOf(const std::string& info_hash_hex, const std::string& addr) {
  auto raw = HexDecode(info_hash_hex);
  auto ip = PeerAddress::Parse(addr);
  if (!raw.ok() || !ip) return std::nullopt;
  auto sw = swarms.find(*raw);
  if (sw == swarms.end()) return std::nullopt;
  const Location& loc = rackmap.Lookup(ip->ToAddress());
  RackId rack = racks.Intern(loc);
  if (rack == kUnknownRack) return std::nullopt;
  uint32_t slot = sw->second.peers.FindAt(rack, *ip);
  if (slot == kNoSlot) return std::nullopt;
  return GatewayShareOf(sw->second.peers[slot], config.policy.origin_per_rack,
                        push_facts->RackTargets(sw->second.artifact, loc.ToString()));
}

}  // namespace spate
