// End to end with real processes on loopback: tracker on 127.0.0.1, seeder on
// 127.0.0.2, fetchers on 127.0.R.H (rack R, host H).
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/support/cluster.h"
#include "wire/http.h"

using namespace spate::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kEnv = {"SPATE_ADMIN_TOKEN=e2e-admin", "SPATE_UPLOAD_TOKEN=e2e-upload"};

struct Cluster {
  explicit Cluster(const TempDir& d) : dir(d) {
    std::ofstream(dir / "rackmap.txt") << "127.0.0.0/24 dc1/core/origin\n"
                                          "127.0.1.0/24 dc1/pod1/rack1\n"
                                          "127.0.2.0/24 dc1/pod2/rack2\n";
    procs.emplace_back(std::vector<std::string>{SpateBinary(), "tracker", "--listen", "127.0.0.1:0", "--rackmap",
                                                dir / "rackmap.txt", "--db", dir / "tracker.db", "--ready-file",
                                                dir / "tracker.ready", "--announce-interval", "2s"},
                       dir / "tracker.log", kEnv);
    tracker = "http://" + WaitReady(procs.back(), dir / "tracker.ready")["http"].get<std::string>();
  }

  void StartSeeder() {
    procs.emplace_back(std::vector<std::string>{SpateBinary(), "seeder", "--listen", "127.0.0.2:0", "--data-dir",
                                                dir / "seeder", "--tracker", tracker, "--ready-file",
                                                dir / "seeder.ready"},
                       dir / "seeder.log", kEnv);
    seeder = "http://" + WaitReady(procs.back(), dir / "seeder.ready")["http"].get<std::string>();
  }

  void StartFetcher(int rack, int host) {
    std::string id = "r" + std::to_string(rack) + "h" + std::to_string(host);
    std::string home = dir / ("hosts/" + id);
    fs::create_directories(home);
    procs.emplace_back(
        std::vector<std::string>{SpateBinary(), "fetcher", "--host-id", id, "--bind",
                                 "127.0." + std::to_string(rack) + "." + std::to_string(host), "--tracker", tracker,
                                 "--data-dir", home + "/data", "--install-dir", home + "/install", "--trusted-key",
                                 dir / "seeder/seeder.pub", "--ready-file", home + "/ready", "--seed-time", "5m"},
        home + "/fetcher.log", kEnv);
    WaitReady(procs.back(), home + "/ready");
    installs.push_back(home + "/install");
  }

  // Waits until the tracker has seen `n` hosts check in.
  void WaitForHosts(size_t n) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto r = spate::http::Call("GET", tracker + "/api/v1/hosts", "");
      if (r.ok() && r->status == 200) {
        auto j = nlohmann::json::parse(r->body, nullptr, false);
        if (!j.is_discarded() && j.contains("hosts") && j["hosts"].size() >= n) return;
      }
      std::this_thread::sleep_for(100ms);
    }
    FAIL("hosts did not check in with the tracker");
  }

  std::string Logs() {
    std::string all;
    for (auto& p : procs) all += p.Log().substr(0, 20000);
    return all;
  }

  const TempDir& dir;
  std::vector<Process> procs;
  std::vector<std::string> installs;
  std::string tracker, seeder;
};

}  // namespace

TEST_CASE("an uploaded artifact is pushed to 8 hosts in 2 racks and every copy matches byte for byte") {
  TempDir dir("spate-e2e");
  Cluster c(dir);
  c.StartSeeder();
  for (int rack = 1; rack <= 2; ++rack)
    for (int host = 1; host <= 4; ++host) c.StartFetcher(rack, host);
  c.WaitForHosts(8);

  const std::string artifact = dir / "app.bin";
  WriteRandomFile(artifact, 16u << 20, 42);
  auto up = Run({SpateBinary(), "upload", artifact, "--name", "app", "--version", "1.0", "--filename", "app.bin", "--seeder", c.seeder}, 60s,
                kEnv);
  INFO(up.output);
  REQUIRE(up.exit_code == 0);

  auto push = Run({SpateBinary(), "push", "app@1.0", "--tracker", c.tracker, "--timeout", "150s"}, 180s, kEnv);
  INFO(push.output);
  INFO(c.Logs());
  CHECK(push.exit_code == 0);
  CHECK(push.output.find("8/8 hosts installed and verified") != std::string::npos);

  const std::string want = ReadAll(artifact);
  for (const auto& install : c.installs) {
    INFO(install);
    CHECK(fs::is_symlink(install + "/app/current"));
    CHECK(ReadAll(install + "/app/current/app.bin") == want);
  }
}

TEST_CASE("a push of an unknown artifact fails with a message naming it") {
  TempDir dir("spate-e2e-unknown");
  Cluster c(dir);
  auto push = Run({SpateBinary(), "push", "nope@9", "--tracker", c.tracker, "--timeout", "10s"}, 30s, kEnv);
  INFO(push.output);
  CHECK(push.exit_code == 1);
  CHECK(push.output.find("nope@9") != std::string::npos);
}

TEST_CASE("a push without the admin token is refused") {
  TempDir dir("spate-e2e-auth");
  Cluster c(dir);
  auto push = Run({SpateBinary(), "push", "app@1", "--tracker", c.tracker, "--token", "wrong"}, 30s, {});
  INFO(push.output);
  CHECK(push.exit_code == 1);
  CHECK(push.output.find("401") != std::string::npos);
}
