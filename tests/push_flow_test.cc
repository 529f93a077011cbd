// The release manager's workflow end to end, with real processes on loopback
// (tracker 127.0.0.1, seeder 127.0.0.2, fetchers 127.0.R.H): waves with a
// canary, cancel, rollback.
#include <catch2/catch.hpp>
#include <filesystem>
#include <future>
#include <thread>

#include "tests/support/scrape.h"
#include "tests/support/spate_cluster.h"
#include "wire/http.h"

using namespace spate::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

std::string Current(const std::string& install) {
  std::error_code ec;
  auto target = fs::read_symlink(install + "/app/current", ec);
  return ec ? "" : target.filename().string();
}

nlohmann::json Api(const SpateCluster& c, const std::string& path) {
  auto r = spate::http::Call("GET", c.tracker + "/api/v1" + path, "", SpateCluster::As());
  REQUIRE(r.ok());
  REQUIRE(r->status == 200);
  return nlohmann::json::parse(r->body);
}

RunResult Spate(const SpateCluster& c, std::vector<std::string> args, std::chrono::seconds timeout = 120s) {
  args.insert(args.begin(), SpateBinary());
  args.push_back("--tracker");
  args.push_back(c.tracker);
  return Run(args, timeout, SpateCluster::kEnv);
}

// Sum of every fetcher's received artifact bytes.
double Received(const std::vector<std::string>& metrics) {
  double sum = 0;
  for (const auto& m : metrics) sum += Value(Scrape(m), "spate_fetcher_received_bytes_total");
  return sum;
}

// Starts `n` fetchers per rack in racks 1 and 2, each with a metrics listener.
std::vector<std::string> StartHosts(SpateCluster& c, const TempDir& dir, int per_rack,
                                    const std::vector<std::string>& extra = {}) {
  std::vector<std::string> metrics;
  for (int rack = 1; rack <= 2; ++rack)
    for (int host = 1; host <= per_rack; ++host) {
      std::string addr = "127.0." + std::to_string(rack) + "." + std::to_string(host);
      auto args = extra;
      args.insert(args.end(), {"--metrics-listen", addr + ":0", "--min-free", "off"});
      c.StartFetcher(rack, host, args);
      auto ready = nlohmann::json::parse(
          ReadAll(dir / ("hosts/r" + std::to_string(rack) + "h" + std::to_string(host) + "/ready")));
      metrics.push_back("http://" + ready["metrics"].get<std::string>());
    }
  c.WaitForHosts(size_t(2 * per_rack));
  return metrics;
}

}  // namespace

TEST_CASE("a canary that fails its health check halts the push: later waves keep the old version with the new one staged") {
  TempDir dir("spate-flow-canary");
  SpateCluster c(dir);
  c.StartSeeder();
  // Version 2 fails the health check on every host, so whichever host is the
  // canary fails, and no other host may activate it.
  StartHosts(c, dir, 2, {"--health-check", "[ \"$SPATE_VERSION\" != 2 ] || { echo port 8080 refused; exit 3; }"});
  WriteRandomFile(dir / "app1.bin", 2u << 20, 1);
  WriteRandomFile(dir / "app2.bin", 2u << 20, 2);
  c.Upload(dir / "app1.bin", "1");
  c.Upload(dir / "app2.bin", "2");
  auto first = Spate(c, {"push", "app@1", "--timeout", "90s"});
  INFO(first.output);
  REQUIRE(first.exit_code == 0);

  auto push = Spate(c, {"push", "app@2", "--waves", "1,100%", "--timeout", "90s"});
  INFO(push.output);
  INFO(c.Logs());
  CHECK(push.exit_code == 1);
  CHECK(push.output.find("paused") != std::string::npos);
  CHECK(push.output.find("port 8080 refused") != std::string::npos);
  auto p = Api(c, "/pushes/2");
  REQUIRE(p["state"] == "paused");
  std::string canary;
  int staged = 0;
  for (const auto& h : p["hosts"]) {
    if (h["wave"] == 0) {
      canary = h["host"];
      CHECK(h["state"] == "failed");
      CHECK(h["error"].get<std::string>().find("port 8080 refused") != std::string::npos);
    } else {
      CHECK(h["state"] == "staged");
      staged += h["state"] == "staged";
    }
  }
  CHECK(staged == 3);
  CHECK(push.output.find(canary) != std::string::npos);
  // Every host still runs version 1; the three behind the canary hold 2, staged.
  for (const auto& install : c.installs) {
    INFO(install);
    CHECK(Current(install) == "1");
    if (install.find("/" + canary + "/") == std::string::npos) CHECK(fs::exists(install + "/app/2/app.bin"));
  }

  // The release manager decides: cancel. The push ends cancelled, nothing moves.
  auto cancel = Spate(c, {"push", "cancel", "2"});
  INFO(cancel.output);
  CHECK(cancel.exit_code == 0);
  CHECK(Api(c, "/pushes/2")["state"] == "cancelled");
  auto status = Spate(c, {"push", "status", "2"});
  CHECK(status.exit_code == 1);
  CHECK(status.output.find("cancelled") != std::string::npos);
  for (const auto& install : c.installs) CHECK(Current(install) == "1");
}

TEST_CASE("rollback after two pushes returns every host to the first version without moving artifact bytes") {
  TempDir dir("spate-flow-rollback");
  SpateCluster c(dir);
  c.StartSeeder();
  auto metrics = StartHosts(c, dir, 2);
  WriteRandomFile(dir / "app1.bin", 4u << 20, 1);
  WriteRandomFile(dir / "app2.bin", 4u << 20, 2);
  c.Upload(dir / "app1.bin", "1");
  c.Upload(dir / "app2.bin", "2");
  for (const char* v : {"app@1", "app@2"}) {
    auto r = Spate(c, {"push", v, "--timeout", "90s"});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
  }
  for (const auto& install : c.installs) REQUIRE(Current(install) == "2");
  // The counters trail the transfer a little (under a sanitizer, by seconds):
  // wait until they hold still, so what follows measures the rollback alone.
  double before = Received(metrics);
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(1500ms);
    double now = Received(metrics);
    if (now == before) break;
    before = now;
  }

  auto start = std::chrono::steady_clock::now();
  auto rb = Spate(c, {"rollback", "app", "--timeout", "60s"});
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO(rb.output);
  INFO(c.Logs());
  CHECK(rb.exit_code == 0);
  WARN("rollback of 4 hosts took " << secs << " s");
  for (const auto& install : c.installs) CHECK(Current(install) == "1");
  CHECK(Received(metrics) == before);  // every host still held version 1
  auto p = Api(c, "/pushes/3");
  CHECK(p["kind"] == "rollback");
  CHECK(p["artifact"] == "app@1");
  CHECK(p["state"] == "succeeded");
  // The fleet view says so too.
  auto fleet = Api(c, "/fleet");
  for (const auto& h : fleet["hosts"]) CHECK(h["versions"]["app"] == "1");
}

TEST_CASE("cancel mid-download stops the fetchers: no host activates and the push shows cancelled") {
  TempDir dir("spate-flow-cancel");
  SpateCluster c(dir);
  c.StartSeeder();
  // Slow enough that the push is mid-download when cancelled.
  auto metrics = StartHosts(c, dir, 2, {"--download-rate", "1M"});
  WriteRandomFile(dir / "app.bin", 32u << 20, 3);
  c.Upload(dir / "app.bin", "1");
  auto watcher = std::async(std::launch::async, [&] { return Spate(c, {"push", "app@1", "--timeout", "120s"}); });
  // Wait until every host is downloading.
  auto deadline = std::chrono::steady_clock::now() + 30s;
  bool downloading = false;
  while (!downloading && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);
    auto r = spate::http::Call("GET", c.tracker + "/api/v1/pushes/1", "", SpateCluster::As());
    if (!r.ok() || r->status != 200) continue;
    auto p = nlohmann::json::parse(r->body);
    downloading = true;
    for (const auto& h : p["hosts"]) downloading = downloading && h["state"] == "downloading" && h["bytes_done"] > 0;
  }
  REQUIRE(downloading);
  // Hosts that report every second learn of changes from the answers: the
  // tracker holds no long poll of theirs while they download.
  CHECK(Value(Scrape(c.tracker, SpateCluster::As()), "spate_tracker_long_polls") == 0);
  auto cancel = Spate(c, {"push", "cancel", "1"});
  INFO(cancel.output);
  CHECK(cancel.exit_code == 0);
  auto push = watcher.get();
  INFO(push.output);
  INFO(c.Logs());
  CHECK(push.exit_code == 1);
  CHECK(push.output.find("cancelled") != std::string::npos);
  auto p = Api(c, "/pushes/1");
  CHECK(p["state"] == "cancelled");
  for (const auto& h : p["hosts"]) CHECK(h["state"] == "cancelled");
  // The fetchers stopped: once they took the withdrawal in (their next poll
  // answer, a moment), their byte counters no longer move, and nothing went live.
  std::this_thread::sleep_for(2s);
  double at_cancel = Received(metrics);
  std::this_thread::sleep_for(3s);
  CHECK(Received(metrics) - at_cancel < double(1u << 20));
  CHECK(at_cancel < double(4 * (32u << 20)));
  for (const auto& install : c.installs) CHECK(Current(install) == "");
}
