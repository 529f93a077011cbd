// What the swarm side (announce, peer policy) may ask about pushes. One narrow
// interface, so the announce path does not reach into push state, which is
// to move to its own folder.
#pragma once

#include <string>

#include "tracker/peer_set.h"

namespace spate {

class PushFacts {
 public:
  virtual ~PushFacts() = default;
  // Some push of `artifact` (name@version) is still running: announces get
  // the short interval.
  virtual bool Active(const std::string& artifact) const = 0;
  // `addr` is the bound address of a host that a running push of `artifact`
  // targets and that is not done with it. Only such peers may take an origin
  // grant (and with it a gateway share): strangers must not use up a rack's.
  virtual bool Targeted(const std::string& artifact, const PeerAddress& addr) const = 0;
};

}  // namespace spate
