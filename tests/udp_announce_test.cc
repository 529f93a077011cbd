// A push whose swarm meets over UDP announces (BEP 15), as README recommends
// for large fleets: the tracker with --udp-listen, the seeder's torrents and
// every fetcher's --announce-url naming its udp:// address. Real processes on
// loopback: tracker 127.0.0.1, seeder 127.0.0.2, 12 fetchers on 127.0.R.H in
// 3 racks, 4 MiB/s per host, seeder 8 MiB/s.
//
// The tracker learns a UDP announcer's rack only from the datagram's source
// address, so a fetcher announcing from the wrong address would land in the
// wrong rack and the policy would quietly stop acting. Hence the checks: the
// push completes, every announce came over UDP (none over HTTP), each rack
// holds its own four hosts, the origin was granted to at most one host per
// rack (--origin-per-rack 1), and cross-rack bytes are at most 0.6 x those of
// the same push with --policy random, also over UDP (as swarm_affinity_test,
// whose setup this is, with the fetchers' own byte counters instead of nft).
#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <thread>

#include "tests/support/scrape.h"
#include "tests/support/spate_cluster.h"
#include "wire/http.h"

using namespace spate::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kSize = 8u << 20;
constexpr int kRacks = 3, kHostsPerRack = 4;

nlohmann::json Stats(const SpateCluster& c) {
  auto r = spate::http::Call("GET", c.tracker + "/stats", "", SpateCluster::As());
  if (!r.ok() || r->status != 200) return nullptr;
  return nlohmann::json::parse(r->body, nullptr, false);
}

// Origin grants the tracker holds for the swarm of `info_hash`; 0 if unknown.
int Grants(const nlohmann::json& stats, const std::string& info_hash) {
  if (!stats.is_object()) return 0;
  for (const auto& sw : stats["swarm_detail"])
    if (sw["info_hash"] == info_hash) return sw["origin_grants"].get<int>();
  return 0;
}

struct PushFigures {
  double seconds = 0;  // push started -> `spate push` exited
  int grants = 0;      // most origin grants the tracker held during the push
  double cross = 0;    // payload bytes hosts received from outside their rack (the origin included)
  double same = 0;
};

// One push of the same artifact on a fresh cluster whose swarm announces over
// UDP only, with the tracker's peer selection `policy` ("rack" or "random").
PushFigures RunPush(const std::string& policy) {
  TempDir dir("spate-udp-" + policy);
  ClusterOptions o;
  o.tracker_args = {"--udp-listen", "127.0.0.1:0", "--policy", policy, "--origin-per-rack", "1"};
  SpateCluster c(dir, o);
  auto ready = nlohmann::json::parse(ReadAll(dir / "tracker.ready"));
  REQUIRE(ready.contains("udp"));
  const std::string announce = "udp://" + ready["udp"].get<std::string>();
  INFO("policy " << policy << ", announces to " << announce);

  c.StartSeeder(announce, {"--upload-rate", "8MiB"});
  std::vector<std::string> metrics;
  for (int rack = 1; rack <= kRacks; ++rack)
    for (int host = 1; host <= kHostsPerRack; ++host) {
      std::string addr = "127.0." + std::to_string(rack) + "." + std::to_string(host);
      c.StartFetcher(rack, host,
                     {"--announce-url", announce, "--download-rate", "4MiB", "--upload-rate", "4MiB",
                      "--metrics-listen", addr + ":0"});
      auto r = nlohmann::json::parse(
          ReadAll(dir / ("hosts/r" + std::to_string(rack) + "h" + std::to_string(host) + "/ready")));
      metrics.push_back("http://" + r["metrics"].get<std::string>());
    }
  c.WaitForHosts(kRacks * kHostsPerRack);

  const std::string file = dir / "app.bin";
  WriteRandomFile(file, kSize, 10);  // the same bytes in both runs
  const std::string info_hash = c.Upload(file)["info_hash"].get<std::string>();

  PushFigures out;
  auto t0 = std::chrono::steady_clock::now();
  Process push({SpateBinary(), "push", "app@1.0", "--tracker", c.tracker, "--timeout", "90s", "--interval", "500ms"},
               dir / "push.log", c.env);
  while (push.Running() && std::chrono::steady_clock::now() - t0 < 120s) {
    out.grants = std::max(out.grants, Grants(Stats(c), info_hash));
    std::this_thread::sleep_for(100ms);
  }
  int code = push.Wait(5s);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(push.Log());
  INFO(c.Logs());
  CHECK(code == 0);
  CHECK(push.Log().find("12/12 hosts installed and verified") != std::string::npos);

  const std::string want = ReadAll(file);
  for (const auto& install : c.installs) {
    INFO(install);
    REQUIRE(fs::is_symlink(install + "/app/current"));
    CHECK(ReadAll(install + "/app/current/app.bin") == want);
  }

  // The swarm met over UDP alone, and the tracker placed each host in its rack
  // by the datagrams' source addresses.
  auto stats = Stats(c);
  INFO(stats.dump());
  REQUIRE(stats.is_object());
  CHECK(stats["announces_by_protocol"]["udp"].get<int>() > 0);
  CHECK(stats["announces_by_protocol"]["http"].get<int>() == 0);
  CHECK(stats["udp"]["announces"].get<int>() > 0);
  CHECK(stats["failures_by_protocol"]["udp"].get<int>() == 0);
  for (int rack = 1; rack <= kRacks; ++rack) {
    std::string name = "dc1/pod" + std::to_string(rack) + "/rack" + std::to_string(rack);
    CHECK(stats["peers_per_rack"][name] == kHostsPerRack);
  }
  out.grants = std::max(out.grants, Grants(stats, info_hash));
  // With the rack policy, each rack's gateway is one of its own hosts, known by
  // the address its UDP announces came from.
  if (policy == "rack") {
    const std::string log = c.tracker_proc->Log();
    for (int rack = 1; rack <= kRacks; ++rack) {
      std::string r = std::to_string(rack);
      INFO("rack " << r);
      CHECK(std::regex_search(log, std::regex("app@1\\.0: origin granted to 127\\.0\\." + r + "\\.[1-" +
                                              std::to_string(kHostsPerRack) + "] in dc1/pod" + r + "/rack" + r + " ")));
    }
  }
  auto m = Scrape(c.tracker, SpateCluster::As());
  CHECK(Value(m, "spate_tracker_announces_total", {{"protocol", "udp"}}) > 0);
  CHECK(Value(m, "spate_tracker_announces_total", {{"protocol", "http"}}) == 0);

  for (const auto& base : metrics) {
    auto fm = ScrapeUntil(base, "spate_fetcher_pushes_total", {{"state", "installed"}}, 1);
    INFO(base);
    double cross = Value(fm, "spate_fetcher_received_bytes_total", {{"rack", "cross"}});
    double same = Value(fm, "spate_fetcher_received_bytes_total", {{"rack", "same"}});
    CHECK(cross + same >= double(kSize));  // every piece came from some peer
    out.cross += cross;
    out.same += same;
  }
  return out;
}

}  // namespace

TEST_CASE("a push to 12 hosts in 3 racks completes with every announce over UDP and the rack policy acting") {
  PushFigures rack = RunPush("rack");
  // The rack policy acted: the origin was granted, to one gateway per rack at most.
  CHECK(rack.grants > 0);
  CHECK(rack.grants <= kRacks);
  CHECK(rack.same > 0);  // rack peers fed each other

  PushFigures random = RunPush("random");
  const double rf = double(kRacks) * double(kSize);
  std::printf(
      "udp announces: push %.1f s with the rack policy (%d origin grants), %.1f s with random selection; cross-rack "
      "bytes %.2f x racks*F vs %.2f (ratio %.2f)\n",
      rack.seconds, rack.grants, random.seconds, rack.cross / rf, random.cross / rf,
      rack.cross / std::max(1.0, random.cross));
  REQUIRE(random.cross > 0);  // else the counters are broken, and the ratio proves nothing
  CHECK(rack.cross <= 0.6 * random.cross);
}
