// End to end with real processes on loopback: tracker on 127.0.0.1, seeder on
// 127.0.0.2, fetchers on 127.0.R.H (rack R, host H).
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "tests/support/carbon.h"
#include "tests/support/scrape.h"
#include "tests/support/spate_cluster.h"
#include "wire/http.h"

using namespace spate::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;


TEST_CASE("an uploaded artifact is pushed to 8 hosts in 2 racks and every copy matches byte for byte") {
  TempDir dir("spate-e2e");
  SpateCluster c(dir);
  c.StartSeeder();
  std::vector<std::string> metrics;  // each fetcher's http://ADDR:PORT
  for (int rack = 1; rack <= 2; ++rack)
    for (int host = 1; host <= 4; ++host) {
      std::string addr = "127.0." + std::to_string(rack) + "." + std::to_string(host);
      c.StartFetcher(rack, host, {"--metrics-listen", addr + ":0"});
      auto ready = nlohmann::json::parse(ReadAll(dir / ("hosts/r" + std::to_string(rack) + "h" + std::to_string(host) + "/ready")));
      metrics.push_back("http://" + ready["metrics"].get<std::string>());
    }
  c.WaitForHosts(8);
  for (const auto& m : metrics) CHECK(Value(Scrape(m), "spate_fetcher_received_bytes_total") == 0);
  double announces_before = Value(Scrape(c.tracker), "spate_tracker_announces_total");

  const std::string artifact = dir / "app.bin";
  WriteRandomFile(artifact, 16u << 20, 42);
  c.Upload(artifact);

  auto push = Run({SpateBinary(), "push", "app@1.0", "--tracker", c.tracker, "--timeout", "150s"}, 180s, SpateCluster::kEnv);
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

  // Every daemon's /metrics parses, and the counters rose with the push.
  double same = 0, cross = 0;
  for (const auto& base : metrics) {
    auto m = ScrapeUntil(base, "spate_fetcher_pushes_total", {{"state", "installed"}}, 1);
    INFO(base);
    double got_same = Value(m, "spate_fetcher_received_bytes_total", {{"rack", "same"}});
    double got_cross = Value(m, "spate_fetcher_received_bytes_total", {{"rack", "cross"}});
    CHECK(got_same + got_cross >= double(want.size()));  // every piece came from some peer
    same += got_same;
    cross += got_cross;
    CHECK(Value(m, "spate_fetcher_pushes_total", {{"state", "installed"}}) == 1);
    CHECK(Value(m, "spate_fetcher_verifies_total") == 1);
    CHECK(Value(m, "spate_fetcher_disk_free_bytes") > 0);
  }
  CHECK(same > 0);   // rack peers fed each other
  CHECK(cross > 0);  // and something came from outside (the origin at least)
  CHECK(Value(Scrape(c.tracker), "spate_tracker_announces_total") > announces_before);
  CHECK(Value(Scrape(c.seeder), "spate_seeder_seeded_bytes_total") >= double(want.size()));
}

TEST_CASE("back-to-back pushes to 3 hosts: the newer push installs everywhere, the older one fails as superseded") {
  TempDir dir("spate-e2e-b2b");
  SpateCluster c(dir);
  c.StartSeeder();
  // Capped so app@1 (48 MiB, ~3 s) is still downloading when app@2 is pushed.
  for (int host = 1; host <= 3; ++host) c.StartFetcher(1, host, {"--download-rate", "16M"});
  c.WaitForHosts(3);
  WriteRandomFile(dir / "app1.bin", 48u << 20, 1);
  WriteRandomFile(dir / "app2.bin", 4u << 20, 2);
  c.Upload(dir / "app1.bin", "1");
  c.Upload(dir / "app2.bin", "2");

  auto push = [&](const std::string& artifact) {
    return Run({SpateBinary(), "push", artifact, "--tracker", c.tracker, "--timeout", "60s"}, 90s, SpateCluster::kEnv);
  };
  auto first = std::async(std::launch::async, push, "app@1");
  std::this_thread::sleep_for(1s);
  auto second = push("app@2");
  auto older = first.get();
  INFO("push app@1:\n" << older.output);
  INFO("push app@2:\n" << second.output);
  INFO(c.Logs());
  CHECK(second.exit_code == 0);
  CHECK(second.output.find("3/3 hosts installed and verified") != std::string::npos);
  // The older push does not claim success: its hosts moved on to the newer one.
  CHECK(older.exit_code == 1);
  CHECK(older.output.find("superseded by push") != std::string::npos);
  // Time for a stray app@1 download to have finished and switched current.
  std::this_thread::sleep_for(3s);
  const std::string want = ReadAll(dir / "app2.bin");
  for (const auto& install : c.installs) {
    INFO(install);
    CHECK(fs::read_symlink(install + "/app/current") == "2");
    CHECK(ReadAll(install + "/app/current/app.bin") == want);
  }
}

TEST_CASE("a push of an unknown artifact fails with a message naming it") {
  TempDir dir("spate-e2e-unknown");
  SpateCluster c(dir);
  auto push = Run({SpateBinary(), "push", "nope@9", "--tracker", c.tracker, "--timeout", "10s"}, 30s, SpateCluster::kEnv);
  INFO(push.output);
  CHECK(push.exit_code == 1);
  CHECK(push.output.find("nope@9") != std::string::npos);
}

TEST_CASE("a push without the admin token is refused") {
  TempDir dir("spate-e2e-auth");
  SpateCluster c(dir);
  auto push = Run({SpateBinary(), "push", "app@1", "--tracker", c.tracker, "--token", "wrong"}, 30s, {});
  INFO(push.output);
  CHECK(push.exit_code == 1);
  CHECK(push.output.find("401") != std::string::npos);
}

TEST_CASE("a fetcher's metrics reach a real Graphite (carbon) during a push and read back with whisper-fetch") {
  TempDir dir("spate-e2e-graphite");
  Carbon carbon(dir);
  SpateCluster c(dir);
  c.StartSeeder();
  const std::string graphite = "127.0.0.1:" + std::to_string(carbon.line_port);
  for (int host = 1; host <= 2; ++host)
    c.StartFetcher(1, host, {"--graphite", graphite, "--graphite-prefix", "spate.fetcher.r1h" + std::to_string(host),
                             "--graphite-interval", "1s"});
  c.WaitForHosts(2);
  WriteRandomFile(dir / "app.bin", 3u << 20, 7);
  c.Upload(dir / "app.bin");
  auto push = Run({SpateBinary(), "push", "app@1.0", "--tracker", c.tracker, "--timeout", "90s"}, 120s, SpateCluster::kEnv);
  INFO(push.output);
  INFO(carbon.Log());
  REQUIRE(push.exit_code == 0);
  for (const char* h : {"r1h1", "r1h2"}) {
    const std::string prefix = std::string("spate.fetcher.") + h + ".";
    INFO(h);
    CHECK(carbon.WaitFor(prefix + "spate_fetcher_pushes_total.state.installed", 1) == 1.0);
    CHECK(carbon.WaitFor(prefix + "spate_fetcher_verifies_total", 1) == 1.0);
    // Every byte came from some peer, same rack or not.
    auto same = carbon.Latest(prefix + "spate_fetcher_received_bytes_total.rack.same");
    auto cross = carbon.Latest(prefix + "spate_fetcher_received_bytes_total.rack.cross");
    CHECK(same.value_or(0) + cross.value_or(0) >= double(3u << 20));
  }
}
