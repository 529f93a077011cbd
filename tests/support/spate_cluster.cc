#include "tests/support/spate_cluster.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "wire/http.h"

namespace spate::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::vector<std::string> SpateCluster::kEnv = {"SPATE_ADMIN_TOKEN=test-admin",
                                                     "SPATE_UPLOAD_TOKEN=test-upload"};

SpateCluster::SpateCluster(const TempDir& d) : dir(d) {
  std::ofstream(dir / "rackmap.txt") << "127.0.0.0/24 dc1/core/origin\n"
                                        "127.0.1.0/24 dc1/pod1/rack1\n"
                                        "127.0.2.0/24 dc1/pod2/rack2\n"
                                        "127.0.3.0/24 dc1/pod3/rack3\n";
  StartTracker("127.0.0.1:0");
}

void SpateCluster::StartTracker(const std::string& listen) {
  fs::remove(dir / "tracker.ready");
  tracker_proc = std::make_unique<Process>(
      std::vector<std::string>{SpateBinary(), "tracker", "--listen", listen, "--rackmap", dir / "rackmap.txt",
                               "--db", dir / "tracker.db", "--ready-file", dir / "tracker.ready",
                               "--announce-interval", "2s"},
      dir / "tracker.log", kEnv);
  tracker = "http://" + WaitReady(*tracker_proc, dir / "tracker.ready")["http"].get<std::string>();
}

void SpateCluster::RestartTracker() {
  tracker_proc->Kill();
  StartTracker(tracker.substr(std::string("http://").size()));
}

SpateCluster::~SpateCluster() {
  // All at once: a fetcher takes ~2 s to stop (its long poll), 16 s one by one.
  for (auto& f : fetchers) f.SignalTerm();
  fetchers.clear();
  seeder_proc.reset();
}

void SpateCluster::StartSeeder(const std::string& announce_url, const std::vector<std::string>& extra) {
  std::vector<std::string> argv{SpateBinary(), "seeder", "--listen", "127.0.0.2:0", "--data-dir", dir / "seeder",
                                "--tracker", tracker, "--ready-file", dir / "seeder.ready"};
  if (!announce_url.empty()) argv.insert(argv.end(), {"--announce-url", announce_url});
  argv.insert(argv.end(), extra.begin(), extra.end());
  fs::remove(dir / "seeder.ready");
  seeder_proc = std::make_unique<Process>(argv, dir / "seeder.log", kEnv);
  seeder = "http://" + WaitReady(*seeder_proc, dir / "seeder.ready")["http"].get<std::string>();
}

void SpateCluster::StopSeeder() { seeder_proc.reset(); }

void SpateCluster::StartFetcher(int rack, int host, const std::vector<std::string>& extra) {
  std::string id = "r" + std::to_string(rack) + "h" + std::to_string(host);
  std::string home = dir / ("hosts/" + id);
  fs::create_directories(home);
  std::vector<std::string> argv{SpateBinary(), "fetcher", "--host-id", id, "--bind",
                                "127.0." + std::to_string(rack) + "." + std::to_string(host), "--tracker", tracker,
                                "--data-dir", home + "/data", "--install-dir", home + "/install", "--trusted-key",
                                dir / "seeder/seeder.pub", "--tracker-key", dir / "tracker.pub", "--ready-file",
                                home + "/ready", "--seed-time", "5m"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  fs::remove(home + "/ready");
  fetchers.emplace_back(argv, home + "/fetcher.log", kEnv);
  WaitReady(fetchers.back(), home + "/ready");
  installs.push_back(home + "/install");
  fetcher_argv.push_back(argv);
}

void SpateCluster::RestartFetcher(size_t i) {
  fetchers[i].Kill();
  std::string ready = fs::path(installs[i]).parent_path() / "ready";
  fs::remove(ready);
  fetchers[i] = Process(fetcher_argv[i], fs::path(installs[i]).parent_path() / "fetcher.log", kEnv);
  WaitReady(fetchers[i], ready);
}

nlohmann::json SpateCluster::Upload(const std::string& path, const std::string& version) {
  auto up = Run({SpateBinary(), "upload", path, "--name", "app", "--version", version, "--filename", "app.bin",
                 "--seeder", seeder},
                60s, kEnv);
  INFO(up.output);
  REQUIRE(up.exit_code == 0);
  auto m = http::Call("GET", seeder + "/api/v1/artifacts/app/" + version, "");
  REQUIRE(m.ok());
  REQUIRE(m->status == 200);
  return nlohmann::json::parse(m->body);
}

void SpateCluster::WaitForHosts(size_t n) {
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = http::Call("GET", tracker + "/api/v1/hosts", "");
    if (r.ok() && r->status == 200) {
      auto j = nlohmann::json::parse(r->body, nullptr, false);
      if (!j.is_discarded() && j.contains("hosts") && j["hosts"].size() >= n) return;
    }
    std::this_thread::sleep_for(100ms);
  }
  FAIL("hosts did not check in with the tracker");
}

std::string SpateCluster::Logs() {
  std::string all = tracker_proc->Log().substr(0, 20000);
  if (seeder_proc) all += seeder_proc->Log().substr(0, 20000);
  for (auto& p : fetchers) all += p.Log().substr(0, 10000);
  return all;
}

}  // namespace spate::testing
