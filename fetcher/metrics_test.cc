#include "fetcher/metrics.h"

#include <catch2/catch.hpp>

namespace spate {
namespace {

double Get(const Metrics& m, const std::string& name, const MetricLabels& labels = {}) {
  auto parsed = ParsePrometheus(m.Prometheus());
  REQUIRE(parsed.ok());
  auto v = SampleValue(*parsed, name, labels);
  INFO(name);
  REQUIRE(v.ok());
  return *v;
}

TEST_CASE("fetcher metrics: traffic by rack side, jobs by phase, outcomes and durations") {
  FetcherStats st;
  st.outcomes["installed"] = 2;
  st.outcomes["failed"] = 1;
  st.verifies = 3;
  st.verify_seconds = 1.5;
  st.assignments_refused = 4;
  st.control_failovers = 2;
  TrafficCounters t;
  t.received[TrafficCounters::kSameRack] = 100;
  t.received[TrafficCounters::kCrossRack] = 40;
  t.sent[TrafficCounters::kSameRack] = 7;
  FetcherGauges g;
  g.jobs = {{"downloading", 2}, {"seeding", 1}};
  g.download_rate = 1024;
  g.disk_free = 5u << 20;
  Metrics m = FetcherMetrics(st, t, g);
  CHECK(Get(m, "spate_fetcher_received_bytes_total", {{"rack", "same"}}) == 100);
  CHECK(Get(m, "spate_fetcher_received_bytes_total", {{"rack", "cross"}}) == 40);
  CHECK(Get(m, "spate_fetcher_sent_bytes_total") == 7);
  CHECK(Get(m, "spate_fetcher_assignments", {{"phase", "downloading"}}) == 2);
  CHECK(Get(m, "spate_fetcher_assignments", {{"phase", "verifying"}}) == 0);
  CHECK(Get(m, "spate_fetcher_pushes_total", {{"state", "installed"}}) == 2);
  CHECK(Get(m, "spate_fetcher_pushes_total", {{"state", "staged"}}) == 0);
  CHECK(Get(m, "spate_fetcher_verify_seconds_total") == 1.5);
  CHECK(Get(m, "spate_fetcher_assignments_refused_total") == 4);
  CHECK(Get(m, "spate_fetcher_control_failovers_total") == 2);
  CHECK(Get(m, "spate_fetcher_download_rate_bytes_per_second") == 1024);
  CHECK(Get(m, "spate_fetcher_disk_free_bytes") == double(5u << 20));
}

TEST_CASE("fetcher metrics: hook results come from the activation's outcome") {
  FetcherStats st;
  CountHooks(st, true, "", true, true);
  CountHooks(st, false, "health check exited 3: refused", true, true);
  CountHooks(st, false, "activation hook timed out after 1s: x", true, true);
  CountHooks(st, false, "activation hook exited 1: y", true, false);
  CountHooks(st, true, "", false, true);
  using K = std::pair<std::string, std::string>;
  CHECK(st.hooks[K{"activate", "ok"}] == 2);  // the success, and the hook before the failed check
  CHECK(st.hooks[K{"activate", "timeout"}] == 1);
  CHECK(st.hooks[K{"activate", "failed"}] == 1);
  CHECK(st.hooks[K{"health_check", "ok"}] == 2);
  CHECK(st.hooks[K{"health_check", "failed"}] == 1);
}

}  // namespace
}  // namespace spate
