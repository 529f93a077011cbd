// A Spate cluster of real processes on loopback for tests: tracker on 127.0.0.1,
// seeder on 127.0.0.2, fetchers on 127.0.R.H (rack R, host H), three racks in the
// rackmap. Processes stop in reverse order of start.
//
// Every role has its own token, as in production (wire/auth.h): the tracker
// reads a token file (register, push, read, host-secret), so its reads need
// the read token; the seeder holds the register and read tokens; each fetcher
// its own host token; the CLI gets the push and read tokens from kEnv.
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

struct ClusterOptions {
  bool tls = false;  // with one tracker only (`announce` names one listener)
  // Trackers on 127.0.0.1, 127.0.0.3, 127.0.0.4, ... (127.0.0.2 is the
  // seeder), started one after another, all signing with one key
  // (tracker.sign.key) and one token file. The seeder and every fetcher are
  // given them all, in this order.
  int trackers = 1;
  // "" = each tracker its own SQLite file (tracker.db, tracker2.db, ...);
  // else every tracker's --db (e.g. postgresql://...), shared.
  std::string db;
  // Appended to every tracker's flags.
  std::vector<std::string> tracker_args;
};

class SpateCluster {
 public:
  static constexpr const char* kRegisterToken = "test-register";
  static constexpr const char* kPushToken = "test-push";
  static constexpr const char* kReadToken = "test-read";
  static constexpr const char* kUploadToken = "test-upload";
  static constexpr const char* kHostSecret = "test-host-secret";
  // The environment of every process and CLI run in the cluster: the push,
  // read, upload and register tokens (no SPATE_ADMIN_TOKEN: nothing here
  // leans on the old single token).
  static const std::vector<std::string> kEnv;
  // Client options carrying `token` as the bearer (default: the read token).
  static http::ClientOptions As(const std::string& token = kReadToken);
  // The tracker's dashboard page `path`, handing the page the read token.
  std::string Page(const std::string& path) const;

  // Starts the tracker (2 s announce interval during pushes).
  explicit SpateCluster(const TempDir& dir, bool tls = false);
  SpateCluster(const TempDir& dir, ClusterOptions options);
  ~SpateCluster();

  // `announce_url` empty: torrents announce to Spate's own tracker.
  void StartSeeder(const std::string& announce_url = "", const std::vector<std::string>& extra = {});
  void StopSeeder();
  // kill -9, then a start on the same database and address (tracker 0).
  void RestartTracker();
  // kill -9 of trackers[i], for good.
  void KillTracker(size_t i);
  // The process of trackers[i].
  Process& TrackerProcess(size_t i);
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
  // Options for calls to the tracker and the seeder: As(token), and the CA in TLS mode.
  http::ClientOptions client(const std::string& token = kReadToken) const;

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
  std::vector<std::string> trackers;                    // every tracker's URL; trackers[0] == tracker
  std::vector<std::unique_ptr<Process>> more_trackers;  // trackers[1..]'s processes

 private:
  // Tracker i (0 = `tracker`, `tracker_proc`).
  void StartTracker(const std::string& listen, const std::string& announce_listen, size_t i = 0);
  std::string TrackerList() const;  // "URL1,URL2,..."
  ClusterOptions options_;
};

}  // namespace spate::testing
