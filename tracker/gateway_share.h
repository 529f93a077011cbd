// The gateway-share rule as a pure function: which share of the pieces a
// rack's gateway brings in from outside its rack (see GatewayRole in
// wire/api.h and fetcher/far_filter.h). The tracker answers GatewayOf with it
// and `spate plan` (plan/model.h) runs it on simulated swarms, so a plan never
// follows a rule the tracker does not.
#pragma once

#include <algorithm>
#include <optional>

#include "tracker/peer_set.h"
#include "wire/push_facts.h"

namespace spate {

// `rec`'s share, or nullopt when it has none: not granted the origin, already
// a seed (its rack then holds every piece), or a gateway slot beyond the
// share count. The count is the smaller of origin_per_rack and the hosts the
// push targets in the rack (`rack_targets`), fixed for a push, so shares do
// not change as a rack's hosts arrive.
inline std::optional<GatewayShare> GatewayShareOf(const PeerRecord& rec, int origin_per_rack, int rack_targets) {
  if (!rec.granted || rec.seed()) return std::nullopt;
  int slots = std::min(origin_per_rack, rack_targets);
  if (int(rec.gateway_slot) >= slots) return std::nullopt;
  return GatewayShare{int(rec.gateway_slot), slots};
}

}  // namespace spate
