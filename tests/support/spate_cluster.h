// A Spate cluster of real processes on loopback for tests: tracker on 127.0.0.1,
// seeder on 127.0.0.2, fetchers on 127.0.R.H (rack R, host H), three racks in the
// rackmap. Processes stop in reverse order of start.
//
// TLS mode: a throwaway CA signs the tracker's and the seeder's certificates;
// their HTTP ports speak only TLS, every client trusts the CA (--tls-ca, or
// SPATE_TLS_CA in `env`), and torrents announce to the tracker's plain
// --announce-listen.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/certs.h"
#include "tests/support/cluster.h"
#include "wire/http.h"

namespace spate::testing {

class SpateCluster {
 public:
  // Tokens every process and client in the cluster uses.
  static const std::vector<std::string> kEnv;

  // Starts the tracker (2 s announce interval during pushes).
  explicit SpateCluster(const TempDir& dir, bool tls = false);
  ~SpateCluster();

  // `announce_url` empty: torrents announce to Spate's own tracker.
  void StartSeeder(const std::string& announce_url = "", const std::vector<std::string>& extra = {});
  void StopSeeder();
  // kill -9, then a start on the same database and address.
  void RestartTracker();
  // Starts a fetcher as host "r<R>h<H>" on 127.0.R.H and records its install dir.
  // `extra` flags are appended (e.g. rate caps); RestartFetcher reuses them.
  void StartFetcher(int rack, int host, const std::vector<std::string>& extra = {});
  // The fetchers[i] process again, same host, dirs and flags.
  void RestartFetcher(size_t i);
  // Uploads `path` as app@VERSION (file app.bin) and returns the seeder's manifest JSON.
  nlohmann::json Upload(const std::string& path, const std::string& version = "1.0");
  // Waits until the tracker has seen `n` hosts check in.
  void WaitForHosts(size_t n);
  // The head of every process's log, for failure messages.
  std::string Logs();
  // Options for calls to the tracker and the seeder (the CA in TLS mode).
  http::ClientOptions client() const;

  const TempDir& dir;
  const bool tls;
  TestCa ca;                            // TLS mode only
  ServerCert tracker_cert, seeder_cert;  // TLS mode only
  // kEnv, plus SPATE_TLS_CA in TLS mode: for the CLI commands tests run.
  std::vector<std::string> env;
  std::string announce;  // TLS mode: http://ADDR:PORT/announce, the tracker's plain listener
  std::unique_ptr<Process> tracker_proc, seeder_proc;
  std::vector<Process> fetchers;
  std::vector<std::string> installs;
  std::vector<std::vector<std::string>> fetcher_argv;  // by fetchers index
  std::string tracker, seeder;  // http://ADDR:PORT

 private:
  void StartTracker(const std::string& listen, const std::string& announce_listen);
};

}  // namespace spate::testing
