// Interop with stock BitTorrent software from Debian, real processes on loopback:
// Spate's tracker on 127.0.0.1, its seeder on 127.0.0.2, opentracker on 127.0.0.1,
// aria2c and fetchers on 127.0.R.H (rack R, host H). A missing tool fails the
// test with the package to install; it never passes silently.
#include <signal.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "tests/support/spate_cluster.h"
#include "tests/support/tools.h"
#include "wire/http.h"

using namespace spate::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST_CASE("aria2c downloads a Spate artifact through Spate's tracker and seeder and gets the same bytes") {
  const std::string aria2c = RequireTool("aria2c", "aria2");
  TempDir dir("spate-interop-aria2");
  SpateCluster s(dir);
  s.StartSeeder();
  const std::string artifact = dir / "app.bin";
  WriteRandomFile(artifact, 8u << 20, 7);
  s.Upload(artifact);

  auto torrent = spate::http::Call("GET", s.seeder + "/api/v1/artifacts/app/1.0/torrent", "");
  REQUIRE(torrent.ok());
  REQUIRE(torrent->status == 200);
  std::ofstream(dir / "app.torrent", std::ios::binary) << torrent->body;

  // Private v1 torrent: aria2 must not need DHT, LPD or PEX to find the seeder; the
  // tracker alone hands it out. --interface binds both the announce and the peer
  // sockets, so the tracker sees 127.0.3.1 (rack3), not 127.0.0.1.
  const std::string out_dir = dir / "aria2";
  auto r = Run({aria2c, "--no-conf", "--interface=127.0.3.1", "--listen-port=" + std::to_string(FreePort("127.0.3.1")),
                "--dir=" + out_dir, "--seed-time=0", "--enable-dht=false", "--enable-dht6=false",
                "--bt-enable-lpd=false", "--enable-peer-exchange=false", "--disable-ipv6=true",
                "--file-allocation=none", "--summary-interval=0", "--console-log-level=notice",
                "--bt-stop-timeout=60", "--stop=90", "--log=" + (dir / "aria2.log"), "--log-level=info",
                dir / "app.torrent"},
               120s);
  INFO("aria2c output:\n" << r.output);
  INFO("aria2c log:\n" << ReadAll(dir / "aria2.log").substr(0, 20000));
  INFO(s.Logs());
  REQUIRE(r.exit_code == 0);
  REQUIRE(fs::exists(out_dir + "/app.bin"));
  CHECK(fs::file_size(out_dir + "/app.bin") == fs::file_size(artifact));
  CHECK(ReadAll(out_dir + "/app.bin") == ReadAll(artifact));

  // The tracker served aria2 as a peer of the swarm: it counted its announces.
  auto stats = spate::http::Call("GET", s.tracker + "/stats", "");
  REQUIRE(stats.ok());
  CHECK(nlohmann::json::parse(stats->body)["announces"].get<int>() >= 2);
}

TEST_CASE("a push completes on 4 hosts in 2 racks when torrents announce to a stock opentracker") {
  const std::string opentracker = RequireTool("opentracker", "opentracker");
  TempDir dir("spate-interop-ot");
  SpateCluster s(dir);
  const int ot_port = FreePort("127.0.0.1");
  const std::string announce = "http://127.0.0.1:" + std::to_string(ot_port) + "/announce";
  s.StartSeeder(announce);
  const std::string artifact = dir / "app.bin";
  WriteRandomFile(artifact, 8u << 20, 11);
  auto manifest = s.Upload(artifact);

  // Debian builds opentracker with a whitelist (access.whitelist), so only listed
  // info-hashes are served; the hash exists only after the upload. opentracker
  // chroots to -d and reads -w relative to it.
  fs::create_directories(dir / "ot");
  std::ofstream(dir / "ot/whitelist") << manifest["info_hash"].get<std::string>() << "\n";
  Process ot({opentracker, "-i", "127.0.0.1", "-p", std::to_string(ot_port), "-P", std::to_string(ot_port), "-d",
              dir / "ot", "-w", "whitelist"},
             dir / "opentracker.log");
  REQUIRE(WaitForTcp("127.0.0.1", ot_port, 10s));
  // The seeder's first announce went to a tracker that was not there yet, and
  // libtorrent backs off for ~17 s after a failure. A restart announces at once.
  s.StopSeeder();
  s.StartSeeder(announce);

  // Fetchers announce where they are told, never where a torrent says.
  for (int rack = 1; rack <= 2; ++rack)
    for (int host = 1; host <= 2; ++host) s.StartFetcher(rack, host, {"--announce-url", announce});
  s.WaitForHosts(4);

  auto push = Run({SpateBinary(), "push", "app@1.0", "--tracker", s.tracker, "--timeout", "120s"}, 150s, SpateCluster::kEnv);
  INFO(push.output);
  INFO("opentracker log:\n" << ot.Log());
  INFO(s.Logs());
  CHECK(push.exit_code == 0);
  CHECK(push.output.find("4/4 hosts installed and verified") != std::string::npos);
  const std::string want = ReadAll(artifact);
  for (const auto& install : s.installs) {
    INFO(install);
    CHECK(ReadAll(install + "/app/current/app.bin") == want);
  }

  // The swarm ran on opentracker, not on Spate's tracker: Spate saw no announces.
  auto stats = spate::http::Call("GET", s.tracker + "/stats", "");
  REQUIRE(stats.ok());
  CHECK(nlohmann::json::parse(stats->body)["announces"].get<int>() == 0);
}
