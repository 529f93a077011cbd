#include "tracker/metrics.h"

#include "tracker/tracker_impl.h"
#include "wire/crypto.h"

namespace spate {

spate::Metrics TrackerMetricsOf(const TrackerMetrics& m) {
  spate::Metrics w;
  w.Gauge("spate_tracker_swarms", "Info-hashes served (registered or whitelisted).", double(m.swarms))
      .Gauge("spate_tracker_peers", "Peers in all swarms.", double(m.peers))
      .Gauge("spate_tracker_seeds", "Peers with nothing left to download.", double(m.seeds));
  for (const auto& [rack, n] : m.peers_per_rack)
    w.Gauge("spate_tracker_rack_peers", "Peers by the rackmap location of their address.", double(n), {{"rack", rack}});
  const char* announces = "Announces answered with peers, by protocol.";
  const char* scrapes = "Scrapes answered, by protocol.";
  const char* failures = "Announces and scrapes answered with a failure (malformed, unregistered hash, key mismatch).";
  w.Counter("spate_tracker_announces_total", announces, double(m.announces_http), {{"protocol", "http"}})
      .Counter("spate_tracker_announces_total", announces, double(m.announces_udp), {{"protocol", "udp"}})
      .Counter("spate_tracker_scrapes_total", scrapes, double(m.scrapes_http), {{"protocol", "http"}})
      .Counter("spate_tracker_scrapes_total", scrapes, double(m.scrapes_udp), {{"protocol", "udp"}})
      .Counter("spate_tracker_failures_total", failures, double(m.failures_http), {{"protocol", "http"}})
      .Counter("spate_tracker_failures_total", failures,
               double(m.failures_udp + m.udp.malformed + m.udp.bad_connection_id), {{"protocol", "udp"}})
      .Gauge("spate_tracker_announces_per_second", "Announces per second over the last rate window.",
             m.announces_per_second)
      .Counter("spate_http_connections_rejected_total",
               "HTTP connections closed at once: over the per-address or the total limit.",
               double(m.http_connections_rejected))
      .Counter("spate_http_connections_accepted_total",
               "HTTP connections taken; against the requests served, how well clients keep theirs alive.",
               double(m.http_connections_accepted));
  w.Counter("spate_tracker_grants_revoked_total", "Origin grants taken from gateways that stopped making progress.",
               double(m.grants_revoked));
  if (m.udp_enabled) {
    const char* errors = "UDP requests refused, by reason.";
    w.Counter("spate_tracker_udp_packets_total", "UDP datagrams received.", double(m.udp.packets))
        .Counter("spate_tracker_udp_connects_total", "UDP connect requests answered.", double(m.udp.connects))
        .Counter("spate_tracker_udp_errors_total", errors, double(m.udp.malformed), {{"reason", "malformed"}})
        .Counter("spate_tracker_udp_errors_total", errors, double(m.udp.bad_connection_id),
                 {{"reason", "bad_connection_id"}})
        .Counter("spate_tracker_udp_errors_total", errors, double(m.udp.send_dropped), {{"reason", "send_dropped"}});
  }
  return w;
}

std::string RenderPrometheus(const TrackerMetrics& m) { return TrackerMetricsOf(m).Prometheus(); }

namespace {

TrackerMetrics Snapshot(const Tracker::Impl& t) {
  TrackerMetrics m;
  m.swarms = t.swarms.size();
  for (const auto& [h, sw] : t.swarms) {
    m.seeds += uint64_t(sw.seeds);
    for (const RackSpan& r : sw.peers.spans())
      if (r.count > 0) m.peers_per_rack[t.racks.Name(r.rack)] += r.count;
    m.peers += sw.peers.size();
  }
  m.announces_http = t.announces[int(Protocol::kHttp)];
  m.announces_udp = t.announces[int(Protocol::kUdp)];
  m.scrapes_http = t.scrapes[int(Protocol::kHttp)];
  m.scrapes_udp = t.scrapes[int(Protocol::kUdp)];
  m.failures_http = t.failures[int(Protocol::kHttp)];
  m.failures_udp = t.failures[int(Protocol::kUdp)];
  m.announces_per_second = t.announce_rate;
  m.grants_revoked = t.grants_revoked;
  if (t.http_counters) {
    HttpServerCounters c = t.http_counters();
    m.http_connections_rejected = c.connections_rejected;
    m.http_connections_accepted = c.connections_accepted;
  }
  if (t.udp) {
    m.udp_enabled = true;
    m.udp = t.udp->counters();
  }
  return m;
}

}  // namespace

spate::Metrics Tracker::Impl::MetricsSnapshot() const { return TrackerMetricsOf(Snapshot(*this)); }

nlohmann::json Tracker::Impl::Stats() const {
  TrackerMetrics m = Snapshot(*this);
  nlohmann::json racks = nlohmann::json::object(), swarm_list = nlohmann::json::array();
  for (const auto& [rack, n] : m.peers_per_rack) racks[rack] = n;
  for (const auto& [h, sw] : swarms) {
    size_t grants = 0;
    for (const RackSpan& r : sw.peers.spans()) grants += r.granted;
    swarm_list.push_back({{"artifact", sw.artifact},
                          {"info_hash", HexEncode(sw.info_hash)},
                          {"registered", sw.registered},
                          {"whitelisted", sw.whitelisted},
                          {"peers", sw.peers.size()},
                          {"seeds", sw.seeds},
                          {"completed", sw.completed},
                          {"origin_grants", grants},
                          {"interval", IntervalFor(sw.artifact)}});
  }
  nlohmann::json j = {{"swarms", m.swarms},
                      {"peers", m.peers},
                      {"seeds", m.seeds},
                      {"peers_per_rack", racks},
                      {"announces", announces_total},
                      {"announces_by_protocol", {{"http", m.announces_http}, {"udp", m.announces_udp}}},
                      {"announces_per_second", m.announces_per_second},
                      {"scrapes_by_protocol", {{"http", m.scrapes_http}, {"udp", m.scrapes_udp}}},
                      {"failures_by_protocol", {{"http", m.failures_http}, {"udp", m.failures_udp}}},
                      {"http_connections_rejected", m.http_connections_rejected},
                      {"http_connections_accepted", m.http_connections_accepted},
                      {"grants_revoked", m.grants_revoked},
                      {"policy", PolicyName(config.policy.policy)},
                      {"swarm_detail", swarm_list}};
  if (m.udp_enabled)
    j["udp"] = {{"packets", m.udp.packets},         {"connects", m.udp.connects},
                {"announces", m.udp.announces},     {"scrapes", m.udp.scrapes},
                {"errors_sent", m.udp.errors_sent}, {"bad_connection_id", m.udp.bad_connection_id},
                {"malformed", m.udp.malformed},     {"send_dropped", m.udp.send_dropped}};
  return j;
}

}  // namespace spate
