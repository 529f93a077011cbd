// What the fleet runs, as `spate fleet` shows it: the tracker's GET /fleet
// parsed into hosts and racks, then text. Skew (more than one version of an
// artifact name running) is what a release manager looks for, so it is
// marked per rack and summed up fleet-wide. Pure, tested as exact strings.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "wire/status.h"

namespace spate {

struct FleetHost {
  std::string host;
  std::string addr;
  std::string location;                         // "dc/pod/rack" or "unknown"
  int64_t last_seen = 0;                        // unix ms of the last check-in; 0 = never
  std::map<std::string, std::string> versions;  // artifact name -> version running
};

struct FleetRack {
  std::string location;
  int hosts = 0;
  std::map<std::string, std::map<std::string, int>> versions;  // name -> version -> hosts running it
};

struct Fleet {
  std::vector<FleetHost> hosts;
  std::vector<FleetRack> racks;
};

// Strict on each host's id and each rack's location; "racks" may be missing
// (an older tracker), and then the rack part of the view is empty.
Result<Fleet> FleetFromJson(const nlohmann::json& j);

// Three parts, blank-line apart:
//   hosts: HOST LOCATION <one column per artifact name> LAST SEEN, sorted by
//     location then host; "-" where a host runs nothing of that name;
//   racks: RACK HOSTS <per name "version xN" cells, most hosts first> SKEW,
//     where SKEW lists the names the rack runs in more than one version;
//   one summary line: "skew: NAME runs N versions (V on N hosts, ...), R of
//     M racks mixed; ..." for each name with more than one version fleet-wide,
//     or "no skew: ..." when there is none (or nothing is installed).
// "no hosts\n" for an empty fleet.
std::string RenderFleet(const Fleet& fleet, int64_t now_ms);

}  // namespace spate
