// `spate plan`: how long a push will take and what it does to rack uplinks,
// predicted before it starts by a time-stepped, piece-level model of the
// swarm.
//
// The model runs the tracker's own code for everything the tracker decides:
// SelectPeers (tracker/peer_select.h) on a PeerSet built from the simulated
// announces, origin grants recorded with PeerSet::SetGranted, and gateway
// shares from GatewayShareOf (tracker/gateway_share.h) with the far filter's
// InShare (wire/push_facts.h). That is why spate_plan links spate_tracker:
// the one edge from one component to another, so a plan cannot drift from
// the policy the tracker runs. The tracker never includes plan/.
//
// What the fetchers' libtorrent does is modelled, not run (see Assumptions()):
// per-host NIC caps up and down, rack uplinks each way (or out only), the
// origin's cap, pieces (grouped into at most max_chunks units), a fixed number
// of upload slots rechosen every unchoke interval (reciprocation first, one
// optimistic; seeds round robin), far peers exempt from slots (the fetcher's
// cross-rack peer class), rarest-first picking within what a host sees,
// connections from the tracker's replies (announce at start, every announce
// interval and on completion), a start-up latency before the first announce
// and a finish latency (verify, install, report) after the last byte.
// Bandwidth is shared by progressive filling (max-min fairness in rounds)
// over every NIC, uplink and the origin at each time step.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "rackmap/rackmap.h"
#include "tracker/peer_select.h"
#include "wire/status.h"

namespace spate::plan {

inline constexpr double kUnlimited = std::numeric_limits<double>::infinity();

// One host the push targets.
struct FleetHost {
  std::string address;  // its bound address (only needs to be unique)
  Location location;    // unknown = not in the rackmap: no rack, no uplink
};

struct Fleet {
  std::vector<FleetHost> hosts;
  Location origin_location;  // where the origin seeder sits (unknown = outside every rack)
};

// N hosts dealt round-robin over R racks like scripts/bench-swarm (host i in
// rack i % R), two racks per pod, one dc; the origin in its own rack.
Fleet SyntheticFleet(int hosts, int racks);
// A real fleet: `hosts_text` lists one host per line (an IP address, optionally
// beside a name; '#' comments), located with `rackmap`. Errors name file:line.
Result<Fleet> FleetFromHosts(const Rackmap& rackmap, const std::string& hosts_text, const std::string& filename);

struct PlanOptions {
  uint64_t size = 0;  // F, bytes (required)
  // Piece size; 0 = what the seeder picks (seeder/piece_size.cc: 64 KiB-16 MiB,
  // at most 2000 pieces).
  uint64_t piece_size = 0;
  // Pieces are simulated in groups ("chunks") so that there are at most this
  // many; a group's gateway share is that of its index. Cost grows with it.
  int max_chunks = 1024;

  // Caps in bytes/s; kUnlimited for none.
  double nic_up = 0, nic_down = 0;  // every host's NIC
  double origin_up = 0;             // the origin seeder's upload
  // Each rack's uplink, each way. 0 with oversub > 0: hosts in the rack x
  // nic_up / oversub (what scripts/bench-swarm --oversub emulates). Both 0 =
  // unlimited.
  double uplink = 0;
  double oversub = 0;
  // Cap only what leaves a rack (scripts/bench-swarm's tc shapes rack egress;
  // origin -> rack and rack ingress are unshaped there). A real uplink caps both.
  bool uplink_egress_only = false;

  PolicyOptions policy;         // the tracker's (--policy, --origin-per-rack, --bridges, ...)
  int numwant = 200;            // peers asked for per announce (libtorrent's num_want)
  int connections_limit = 200;  // per fetcher (libtorrent's connections_limit)
  int origin_connections = 8000;
  int slots = 8;         // upload slots per fetcher (libtorrent's unchoke_slots_limit)
  int origin_slots = 8;  // the seeder's
  // Far peers are unchoked outside the slots (the fetcher's cross-rack class,
  // fetcher/cross_rack.cc), for hosts in the rackmap.
  bool far_ignores_slots = true;
  double unchoke_interval_s = 5;   // wire/swarm.cc
  double announce_interval_s = 5;  // the tracker's --announce-interval during a push

  // Push created -> a host's first announce (assignment poll, manifest check,
  // torrent added), spread uniformly over [startup_s, startup_s + startup_spread_s].
  double startup_s = 0;
  double startup_spread_s = 0;
  // Last byte -> install reported: finish_s + size / verify_rate (hash the
  // staged file, copy it into the version dir, report).
  double finish_s = 0;
  double verify_rate = kUnlimited;
  // 0: every host hashes on its own CPU. N: all hosts share N cores for it
  // (scripts/bench-swarm's loopback hosts share one machine), each hash
  // taking at most one core, processor sharing among those hashing at once.
  int shared_cpus = 0;
  // Fraction of a cap that payload gets (protocol and TCP/IP overhead the
  // rate limiters count, request gaps). 1 = the caps are payload.
  double efficiency = 1;

  double step_s = 0;  // time step; 0 = chosen from the bound (about 600 steps)
  uint64_t seed = 1;  // the model's Rng (piece picks, start times, the random policy)

  // Resolves derived defaults (piece size); Invalid names the bad field.
  Status Validate() const;
};

struct PlanResult {
  int hosts = 0, racks = 0;  // racks with targeted hosts
  uint64_t size = 0, piece_size = 0;
  int chunks = 0;
  double step_s = 0;
  int64_t steps = 0;
  double bound_s = 0;  // T_min = max(F/u_seed, F/d_min, N F / (u_seed + sum u_i))
  // Push creation -> each host's install report, sorted.
  std::vector<double> finish_s;
  double p50_s = 0, p99_s = 0, max_s = 0;
  // Push creation -> last byte (before hashing and reporting): p50 and max.
  double last_byte_p50_s = 0, last_byte_max_s = 0;
  double cross_bytes = 0;   // bytes entering racks from outside (origin included)
  double cross_per_rf = 0;  // cross_bytes / (racks x F); 1.0 = each rack gets F once
  double origin_bytes = 0;
  double origin_per_f = 0;
  // The busiest rack uplink direction: bytes / (cap x max_s), and its peak
  // over windows of max_s / 20. 0 when uplinks are unlimited.
  double uplink_util_mean = 0, uplink_util_peak = 0;
  std::string busiest_uplink;  // "dc1/pod1/rack3 out"
  double uplink_cap = 0;       // of the busiest rack (0 = unlimited)
  int unfinished = 0;          // hosts that never finished (a stuck swarm)
  int gateways = 0;            // hosts granted the origin
};

Result<PlanResult> RunPlan(const Fleet& fleet, const PlanOptions& options);

// The piece size the seeder picks for `size` (same rule as
// seeder/piece_size.cc; plan/model_test.cc checks they agree).
uint64_t DefaultPieceSize(uint64_t size);

// The model's assumptions and what it leaves out, one per line, for --help.
std::string Assumptions();

}  // namespace spate::plan
