// The one seam between the swarm side (tracker/: announces, peer policy,
// origin grants) and the push controller (push/: pushes, hosts, waves). One
// daemon hosts both, but neither library includes the other: the daemon's
// main connects them through these two interfaces, so the gateway join (a
// grant from the swarm, a share count from the push) is assembled in one
// place, GatewayOf, from one fact each side owns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "wire/status.h"

namespace spate {

// What the swarm side may ask about pushes. Answered by the push controller.
class PushFacts {
 public:
  virtual ~PushFacts() = default;
  // Some push of `artifact` (name@version) is still open: its announces get
  // the short interval.
  virtual bool Active(const std::string& artifact) const = 0;
  // `addr` is the bound address of a host that an open push of `artifact`
  // targets and that is not done with it. Only such peers may take an origin
  // grant (and with it a gateway share): strangers must not use up a rack's.
  virtual bool Targeted(const std::string& artifact, const std::string& addr) const = 0;
  // Hosts the open pushes of `artifact` target in rack `location`, done or
  // not: fixed for a push, so gateway shares do not change as hosts arrive.
  virtual int RackTargets(const std::string& artifact, const std::string& location) const = 0;
};

// A gateway's share of the pieces that cross into its rack (see GatewayRole).
struct GatewayShare {
  int slot = 0;
  int slots = 1;
};

// Whether `piece` is the share of gateway `slot` of `slots`: the fetcher's
// far filter keeps far HAVEs by it, and `spate plan` simulates it.
inline bool InShare(int piece, int slot, int slots) { return slots <= 1 || piece % slots == slot; }

// What the push controller asks of the swarm side. Answered by the tracker.
class Swarms {
 public:
  virtual ~Swarms() = default;
  // Serve the swarm of a registered artifact. Conflict when the info-hash is
  // already served as another artifact.
  virtual Status Serve(const std::string& artifact, const std::string& info_hash_hex, uint64_t size,
                       const std::string& origin) = 0;
  // The peer at `addr` holds an origin grant in the artifact's swarm and is
  // still downloading: its gateway share. nullopt otherwise.
  virtual std::optional<GatewayShare> GatewayOf(const std::string& info_hash_hex, const std::string& addr) const = 0;
};

}  // namespace spate
