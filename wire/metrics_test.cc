#include "wire/metrics.h"

#include <catch2/catch.hpp>

namespace spate {
namespace {

Metrics Sample() {
  Metrics m;
  m.Counter("spate_x_uploads_total", "Uploads by result.", 5, {{"result", "ok"}})
      .Counter("spate_x_uploads_total", "Uploads by result.", 2, {{"result", "failed"}})
      .Gauge("spate_x_rate_bytes_per_second", "Rate.", 1.5)
      .Gauge("spate_x_rack_peers", "Peers per rack.", 3, {{"rack", "dc1/pod.1/r\"1"}});
  return m;
}

TEST_CASE("metrics render as Prometheus text that the strict parser reads back") {
  std::string text = Sample().Prometheus();
  CHECK(text ==
        "# HELP spate_x_uploads_total Uploads by result.\n"
        "# TYPE spate_x_uploads_total counter\n"
        "spate_x_uploads_total{result=\"ok\"} 5\n"
        "spate_x_uploads_total{result=\"failed\"} 2\n"
        "# HELP spate_x_rate_bytes_per_second Rate.\n"
        "# TYPE spate_x_rate_bytes_per_second gauge\n"
        "spate_x_rate_bytes_per_second 1.500\n"
        "# HELP spate_x_rack_peers Peers per rack.\n"
        "# TYPE spate_x_rack_peers gauge\n"
        "spate_x_rack_peers{rack=\"dc1/pod.1/r\\\"1\"} 3\n");
  auto parsed = ParsePrometheus(text);
  REQUIRE(parsed.ok());
  REQUIRE(parsed->size() == 4);
  CHECK((*parsed)[3].labels == MetricLabels{{"rack", "dc1/pod.1/r\"1"}});
  CHECK((*parsed)[0].type == "counter");
  CHECK(*SampleValue(*parsed, "spate_x_uploads_total") == 7);
  CHECK(*SampleValue(*parsed, "spate_x_uploads_total", {{"result", "failed"}}) == 2);
  CHECK(SampleValue(*parsed, "spate_x_nope").status().code() == Status::Code::kNotFound);
}

TEST_CASE("the Prometheus parser refuses what a scraper would") {
  for (std::string bad : {"x 1\n",                                     // no TYPE before it
                          "# TYPE x gauge\nx{a=\"1} 2\n",              // unterminated value
                          "# TYPE x gauge\nx one\n",                   // not a number
                          "# TYPE x gauge\nx 1",                       // no final newline
                          "# TYPE x gauge\n# TYPE x gauge\nx 1\n",     // declared twice
                          "# TYPE x thing\nx 1\n",                     // unknown type
                          "# TYPE x gauge\n9x 1\n"}) {                 // bad name
    INFO(bad);
    CHECK_FALSE(ParsePrometheus(bad).ok());
  }
  auto ok = ParsePrometheus("# TYPE x counter\nx_total{a=\"b\\\\c\\n\"} 3 1700000000\n");
  REQUIRE(ok.ok());
  CHECK(ok->at(0).labels[0].second == "b\\c\n");
}

TEST_CASE("metrics render as Graphite plaintext with labels in the path") {
  CHECK(Sample().Graphite("spate.seeder.s1", 1700000000) ==
        "spate.seeder.s1.spate_x_uploads_total.result.ok 5 1700000000\n"
        "spate.seeder.s1.spate_x_uploads_total.result.failed 2 1700000000\n"
        "spate.seeder.s1.spate_x_rate_bytes_per_second 1.500 1700000000\n"
        "spate.seeder.s1.spate_x_rack_peers.rack.dc1_pod_1_r_1 3 1700000000\n");
}

}  // namespace
}  // namespace spate
