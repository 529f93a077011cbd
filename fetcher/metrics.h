// The fetcher's figures, for GET /metrics (--metrics-listen) and Graphite.
//
// The engine thread owns most of them and publishes a whole snapshot about
// once a second (MetricsBoard), so a scrape never touches job state. Payload
// bytes are counted per peer connection by libtorrent plugins on its network
// thread, hence atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "wire/metrics.h"

namespace spate {

// Payload bytes by where the peer is: index kSameRack or kCrossRack (outside
// this host's rack, the origin included).
struct TrafficCounters {
  static constexpr int kSameRack = 0, kCrossRack = 1;
  std::atomic<uint64_t> received[2] = {0, 0};
  std::atomic<uint64_t> sent[2] = {0, 0};
};

// Engine-thread counters.
struct FetcherStats {
  std::map<std::string, uint64_t> outcomes;  // terminal reports by state (installed, failed, staged)
  uint64_t verifies = 0;
  double verify_seconds = 0;  // hashing + version dir, summed
  uint64_t activations = 0;
  double activation_seconds = 0;  // switch + hook + health check, summed
  // (hook, result) -> runs; hook "activate" or "health_check", result "ok", "failed" or "timeout".
  std::map<std::pair<std::string, std::string>, uint64_t> hooks;
  // Assignments ignored for a missing or bad tracker signature (--tracker-key).
  uint64_t assignments_refused = 0;
  // Times polls and reports moved to another --tracker (ControlClient::failovers).
  uint64_t control_failovers = 0;
};

// What the engine sees at one moment.
struct FetcherGauges {
  std::map<std::string, int> jobs;  // by phase: downloading, verifying, staged, seeding, activating
  double download_rate = 0;         // payload bytes/s over all downloads
  uint64_t disk_free = 0;           // bytes available on the install filesystem
};

Metrics FetcherMetrics(const FetcherStats& stats, const TrafficCounters& traffic, const FetcherGauges& gauges);

// Counts a finished activation's hooks from its outcome. The reason texts are
// activate.h's: "activation hook ..." or "health check ...", "timed out" for a
// time-out; a success ran every configured hook.
void CountHooks(FetcherStats& stats, bool ok, const std::string& reason, bool has_hook, bool has_check);

// The latest snapshot, published by the engine, read by any thread.
class MetricsBoard {
 public:
  void Publish(Metrics m);
  Metrics Latest() const;

 private:
  mutable std::mutex mu_;
  Metrics latest_;
};

}  // namespace spate
