#include "tracker/metrics.h"

#include <catch2/catch.hpp>

namespace spate {
namespace {

bool Has(const std::string& text, const std::string& line) { return text.find(line + "\n") != std::string::npos; }

TEST_CASE("prometheus text has typed series with protocol and rack labels") {
  TrackerMetrics m;
  m.swarms = 2;
  m.peers = 5;
  m.seeds = 1;
  m.peers_per_rack = {{"dc1/pod1/rack1", 3}, {"unknown", 2}};
  m.announces_http = 10;
  m.announces_udp = 20;
  m.scrapes_udp = 1;
  m.failures_http = 4;
  m.announces_per_second = 2.5;
  m.http_connections_rejected = 9;
  m.udp_enabled = true;
  m.udp.connects = 11;
  m.udp.bad_connection_id = 2;
  std::string t = RenderPrometheus(m);
  CHECK(Has(t, "# TYPE spate_tracker_swarms gauge"));
  CHECK(Has(t, "spate_tracker_swarms 2"));
  CHECK(Has(t, "spate_tracker_peers 5"));
  CHECK(Has(t, "spate_tracker_seeds 1"));
  CHECK(Has(t, "spate_tracker_rack_peers{rack=\"dc1/pod1/rack1\"} 3"));
  CHECK(Has(t, "spate_tracker_rack_peers{rack=\"unknown\"} 2"));
  CHECK(Has(t, "# TYPE spate_tracker_announces_total counter"));
  CHECK(Has(t, "spate_tracker_announces_total{protocol=\"http\"} 10"));
  CHECK(Has(t, "spate_tracker_announces_total{protocol=\"udp\"} 20"));
  CHECK(Has(t, "spate_tracker_scrapes_total{protocol=\"udp\"} 1"));
  CHECK(Has(t, "spate_tracker_failures_total{protocol=\"http\"} 4"));
  CHECK(Has(t, "spate_tracker_failures_total{protocol=\"udp\"} 2"));
  CHECK(Has(t, "spate_tracker_announces_per_second 2.500"));
  CHECK(Has(t, "spate_http_connections_rejected_total 9"));
  CHECK(Has(t, "spate_tracker_udp_connects_total 11"));
}

TEST_CASE("prometheus omits udp series when udp is off and escapes labels") {
  TrackerMetrics m;
  m.peers_per_rack = {{"a\"b\\c", 1}};
  std::string t = RenderPrometheus(m);
  CHECK(t.find("udp_connects") == std::string::npos);
  CHECK(Has(t, "spate_tracker_rack_peers{rack=\"a\\\"b\\\\c\"} 1"));
}

}  // namespace
}  // namespace spate
