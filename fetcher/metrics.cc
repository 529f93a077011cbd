#include "fetcher/metrics.h"

namespace spate {

Metrics FetcherMetrics(const FetcherStats& stats, const TrafficCounters& traffic, const FetcherGauges& gauges) {
  Metrics m;
  const char* recv = "Payload bytes received from peers, by whether the peer is in this host's rack.";
  const char* sent = "Payload bytes sent to peers, by whether the peer is in this host's rack.";
  for (int i : {TrafficCounters::kSameRack, TrafficCounters::kCrossRack}) {
    const char* where = i == TrafficCounters::kSameRack ? "same" : "cross";
    m.Counter("spate_fetcher_received_bytes_total", recv, double(traffic.received[i].load()), {{"rack", where}});
    m.Counter("spate_fetcher_sent_bytes_total", sent, double(traffic.sent[i].load()), {{"rack", where}});
  }
  for (const char* phase : {"downloading", "verifying", "staged", "activating", "seeding"}) {
    auto it = gauges.jobs.find(phase);
    m.Gauge("spate_fetcher_assignments", "Artifacts in the session, by phase.", it == gauges.jobs.end() ? 0 : it->second,
            {{"phase", phase}});
  }
  m.Gauge("spate_fetcher_download_rate_bytes_per_second", "Payload download rate over all downloads.",
          gauges.download_rate);
  for (const char* state : {"installed", "staged", "failed"}) {
    auto it = stats.outcomes.find(state);
    m.Counter("spate_fetcher_pushes_total", "Pushes this host finished, by the state it reported.",
              it == stats.outcomes.end() ? 0 : double(it->second), {{"state", state}});
  }
  m.Counter("spate_fetcher_verify_seconds_total", "Time spent verifying SHA-256 and creating version dirs.",
            stats.verify_seconds)
      .Counter("spate_fetcher_verifies_total", "Downloads verified and installed (or refused).", double(stats.verifies))
      .Counter("spate_fetcher_activation_seconds_total", "Time spent activating: switch, hook, health check.",
               stats.activation_seconds)
      .Counter("spate_fetcher_activations_total", "Activations finished, successful or rolled back.",
               double(stats.activations))
      .Counter("spate_fetcher_assignments_refused_total",
               "Assignments ignored for a missing or bad tracker signature (--tracker-key).",
               double(stats.assignments_refused))
      .Counter("spate_fetcher_control_failovers_total",
               "Times polls and reports moved to the next --tracker after one failed (refused, timed out, 5xx).",
               double(stats.control_failovers));
  for (const char* hook : {"activate", "health_check"})
    for (const char* result : {"ok", "failed", "timeout"}) {
      auto it = stats.hooks.find({hook, result});
      m.Counter("spate_fetcher_hook_runs_total", "Activation hook and health check runs, by result.",
                it == stats.hooks.end() ? 0 : double(it->second), {{"hook", hook}, {"result", result}});
    }
  m.Gauge("spate_fetcher_disk_free_bytes", "Bytes available on the install directory's filesystem.",
          double(gauges.disk_free));
  return m;
}

void CountHooks(FetcherStats& stats, bool ok, const std::string& reason, bool has_hook, bool has_check) {
  if (ok) {
    if (has_hook) ++stats.hooks[{"activate", "ok"}];
    if (has_check) ++stats.hooks[{"health_check", "ok"}];
    return;
  }
  std::string result = reason.find("timed out") != std::string::npos ? "timeout" : "failed";
  if (reason.rfind("activation hook", 0) == 0) {
    ++stats.hooks[{"activate", result}];
  } else if (reason.rfind("health check", 0) == 0) {
    if (has_hook) ++stats.hooks[{"activate", "ok"}];
    ++stats.hooks[{"health_check", result}];
  }
}

void MetricsBoard::Publish(Metrics m) {
  std::lock_guard<std::mutex> l(mu_);
  latest_ = std::move(m);
}

Metrics MetricsBoard::Latest() const {
  std::lock_guard<std::mutex> l(mu_);
  return latest_;
}

}  // namespace spate
