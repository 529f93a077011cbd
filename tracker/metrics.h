// A snapshot of the tracker's counters and gauges, and its Prometheus text
// rendering (exposition format 0.0.4). Pure: tested on values, no server.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "tracker/udp_server.h"
#include "wire/metrics.h"

namespace spate {

struct TrackerMetrics {
  uint64_t swarms = 0, peers = 0, seeds = 0;
  std::map<std::string, uint64_t> peers_per_rack;  // "dc/pod/rack" or "unknown"
  uint64_t announces_http = 0, announces_udp = 0;
  uint64_t scrapes_http = 0, scrapes_udp = 0;
  uint64_t failures_http = 0, failures_udp = 0;
  double announces_per_second = 0;
  uint64_t http_connections_rejected = 0;
  uint64_t http_connections_accepted = 0;
  uint64_t grants_revoked = 0;    // origin grants taken from gateways that stopped progressing
  bool udp_enabled = false;
  UdpCounters udp;
};

// The spate_tracker_* series, for Prometheus text and Graphite alike.
Metrics TrackerMetricsOf(const TrackerMetrics& m);
// Prometheus text: spate_tracker_* series with HELP and TYPE lines.
std::string RenderPrometheus(const TrackerMetrics& m);

}  // namespace spate
