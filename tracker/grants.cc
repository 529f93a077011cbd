// Origin grants that stopped earning their place (see grant_watch.h).
#include <spdlog/spdlog.h>

#include "tracker/tracker_impl.h"

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

}  // namespace spate
