// A Spate cluster of real processes on loopback for tests: tracker on 127.0.0.1,
// seeder on 127.0.0.2, fetchers on 127.0.R.H (rack R, host H), three racks in the
// rackmap. Processes stop in reverse order of start.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/cluster.h"

namespace spate::testing {

class SpateCluster {
 public:
  // Tokens every process and client in the cluster uses.
  static const std::vector<std::string> kEnv;

  // Starts the tracker (2 s announce interval during pushes).
  explicit SpateCluster(const TempDir& dir);
  ~SpateCluster();

  // `announce_url` empty: torrents announce to Spate's own tracker.
  void StartSeeder(const std::string& announce_url = "");
  void StopSeeder();
  // Starts a fetcher as host "r<R>h<H>" on 127.0.R.H and records its install dir;
  // `extra` flags go last (e.g. a download cap).
  void StartFetcher(int rack, int host, const std::vector<std::string>& extra = {});
  // Uploads `path` as app@VERSION (file app.bin) and returns the seeder's manifest JSON.
  nlohmann::json Upload(const std::string& path, const std::string& version = "1.0");
  // Waits until the tracker has seen `n` hosts check in.
  void WaitForHosts(size_t n);
  // The head of every process's log, for failure messages.
  std::string Logs();

  const TempDir& dir;
  std::unique_ptr<Process> tracker_proc, seeder_proc;
  std::vector<Process> fetchers;
  std::vector<std::string> installs;
  std::string tracker, seeder;  // http://ADDR:PORT
};

}  // namespace spate::testing
