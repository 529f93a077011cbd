// Several trackers: the tracker that owns a swarm is killed mid-download and
// the push still completes on every host, its swarm rebuilt on the next
// tracker of its order (wire/tracker_order.h) from the announces it receives.
//
// Three trackers on loopback, 12 hosts in 3 racks, 4 MiB/s per host. The same
// push runs three times on fresh clusters: undisturbed, with the owner
// SIGKILLed once a host has 1/16 of the bytes, and with it SIGSTOPped then (a
// hung tracker: connections accepted, never answered). Printed: the extra
// time and the cross-rack bytes of each run; asserted: every copy verified,
// the swarm on the owner before and wholly on the next tracker after, which
// grants the origin anew, cross-rack bytes within 1.5x of the undisturbed run.
//
// The trackers share one real PostgreSQL (tests/support/postgres.h), so each
// knows the push (origin grants, gateway shares) and any of them may be killed:
// when the owner is tracker 0, the fetchers' polls and reports fail over too.
#include <signal.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "tests/support/postgres.h"
#include "tests/support/scrape.h"
#include "tests/support/spate_cluster.h"
#include "wire/http.h"
#include "wire/tracker_order.h"

using namespace spate::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// 32 MiB at 4 MiB/s per host (bound 8 s): the swarm runs on the next
// tracker for most of the push, long enough for it to grant the origin anew.
constexpr uint64_t kSize = 32u << 20;
constexpr int kRacks = 3, kHostsPerRack = 4;

nlohmann::json Get(const std::string& url) {
  auto r = spate::http::Call("GET", url, "", SpateCluster::As());
  if (!r.ok() || r->status != 200) return nullptr;
  return nlohmann::json::parse(r->body, nullptr, false);
}

// What tracker `base` holds of the swarm of `info_hash` (its /stats detail): `field` is
// "peers" or "origin_grants"; -1 if it cannot be asked.
int Swarm(const std::string& base, const std::string& info_hash, const char* field = "peers") {
  auto s = Get(base + "/stats");
  if (!s.is_object()) return -1;
  for (const auto& sw : s["swarm_detail"])
    if (sw["info_hash"] == info_hash) return sw[field].get<int>();
  return 0;
}

int CountState(const nlohmann::json& push, const std::string& state) {
  int n = 0;
  if (push.is_object())
    for (const auto& h : push["hosts"]) n += h["state"] == state;
  return n;
}

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(100ms);
  }
  return true;
}

struct PushFigures {
  double seconds = 0;      // push created -> every host installed
  double rebuilt = 0;      // kill -> every host in the swarm on the next tracker
  double kill_at = 0;      // push created -> kill
  int grants = 0;          // most origin grants the next tracker held
  double cross_bytes = 0;  // payload bytes hosts received from outside their rack (the origin included)
  double same_bytes = 0;
};

// What happens to the swarm's owner mid-download.
enum class Fault { kNone, kKill, kHang };

// One push on a fresh cluster and database, with `fault` done to the swarm's owner.
PushFigures RunPush(PostgresServer& pg, Fault fault) {
  const bool kill = fault != Fault::kNone;
  const std::string tag = fault == Fault::kNone ? "base" : fault == Fault::kKill ? "kill" : "hang";
  TempDir dir("spate-failover-" + tag);
  ClusterOptions o;
  o.trackers = 3;
  o.db = pg.CreateDatabase("failover_" + tag);
  SpateCluster c(dir, o);
  c.StartSeeder("", {"--upload-rate", "8MiB"});
  std::vector<std::string> metrics;
  for (int rack = 1; rack <= kRacks; ++rack)
    for (int host = 1; host <= kHostsPerRack; ++host) {
      std::string addr = "127.0." + std::to_string(rack) + "." + std::to_string(host);
      c.StartFetcher(rack, host, {"--download-rate", "4MiB", "--upload-rate", "4MiB", "--metrics-listen", addr + ":0"});
      auto ready = nlohmann::json::parse(
          ReadAll(dir / ("hosts/r" + std::to_string(rack) + "h" + std::to_string(host) + "/ready")));
      metrics.push_back("http://" + ready["metrics"].get<std::string>());
    }
  c.WaitForHosts(kRacks * kHostsPerRack);

  std::vector<std::string> announces;
  for (const auto& t : c.trackers) announces.push_back(t + "/announce");
  // The same artifact in both runs.
  const std::string file = dir / "app.bin", version = "1.0";
  WriteRandomFile(file, kSize, 1);
  const std::string info_hash = c.Upload(file, version)["info_hash"].get<std::string>();
  const std::vector<size_t> order = spate::TrackerOrder(info_hash, announces);
  const size_t owner = order[0], next = order[1];
  // Pushes are watched on a tracker that stays up (they are in the shared database).
  const std::string control = c.trackers[owner == 0 ? next : 0];
  INFO("swarm " << info_hash << " owned by tracker " << owner << ", then " << next);

  // With a kill, `spate push` is given the owner first: its watch must move on
  // to the next tracker in its list when the owner dies.
  const std::string watch = fault == Fault::kKill ? c.trackers[owner] + "," + control : control;
  auto t0 = std::chrono::steady_clock::now();
  Process push(
      {SpateBinary(), "push", "app@" + version, "--tracker", watch, "--timeout", "150s", "--interval", "500ms"},
      dir / "push.log", c.env);
  // Mid-download: some host has a sixteenth of the bytes, none has all.
  nlohmann::json p;
  bool mid = false;
  while (!mid && std::chrono::steady_clock::now() - t0 < 60s) {
    std::this_thread::sleep_for(100ms);
    p = Get(control + "/api/v1/pushes/1");
    if (!p.is_object()) continue;
    for (const auto& h : p["hosts"])
      if (h["bytes_done"].get<uint64_t>() > kSize / 16) mid = true;
  }
  INFO(c.Logs());
  REQUIRE(mid);
  // The swarm met on its owner: every host there, none elsewhere (the origin
  // may be on every tracker: a registration that lands late re-announces it to all).
  CHECK(WaitFor([&] { return Swarm(c.trackers[owner], info_hash) >= kRacks * kHostsPerRack; }, 5s));
  for (size_t i = 0; i < c.trackers.size(); ++i)
    if (i != owner) CHECK(Swarm(c.trackers[i], info_hash) <= 1);
  PushFigures out;
  if (kill) {
    CHECK(CountState(p, "installed") == 0);
    auto killed_at = std::chrono::steady_clock::now();
    out.kill_at = std::chrono::duration<double>(killed_at - t0).count();
    // SIGKILL: its port refuses connections. SIGSTOP: the kernel still
    // accepts them and nothing answers, as with a hung tracker; only time-outs tell.
    if (fault == Fault::kKill)
      c.KillTracker(owner);
    else
      REQUIRE(::kill(c.TrackerProcess(owner).pid(), SIGSTOP) == 0);
    // The next tracker of the order rebuilds the swarm from announces, and
    // grants the origin anew (it knows the push from the shared database).
    int grants = 0;
    bool rebuilt = false;
    while (push.Running() && std::chrono::steady_clock::now() - killed_at < 60s) {
      if (!rebuilt && Swarm(c.trackers[next], info_hash) >= kRacks * kHostsPerRack) {
        rebuilt = true;
        out.rebuilt = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed_at).count();
      }
      grants = std::max(grants, Swarm(c.trackers[next], info_hash, "origin_grants"));
      std::this_thread::sleep_for(50ms);
    }
    CHECK(rebuilt);
    out.grants = grants;
    // A hung owner holds its peers until their announces time out, by when
    // the hosts may be nearly done; a killed one lets go at once.
    if (fault == Fault::kKill) CHECK(grants > 0);
  }
  int code = push.Wait(150s);
  if (fault == Fault::kHang) c.KillTracker(owner);  // SIGKILL ends a stopped process too
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(push.Log());
  CHECK(code == 0);
  if (fault == Fault::kKill)
    CHECK(push.Log().find("spate: tracker " + c.trackers[owner] + " failed (cannot reach the tracker: GET ") !=
          std::string::npos);

  const std::string want = ReadAll(file);
  for (const auto& install : c.installs) {
    INFO(install);
    REQUIRE(fs::is_symlink(install + "/app/current"));
    CHECK(fs::read_symlink(install + "/app/current") == version);
    CHECK(ReadAll(install + "/app/current/app.bin") == want);
  }
  for (const auto& base : metrics) {
    auto m = ScrapeUntil(base, "spate_fetcher_pushes_total", {{"state", "installed"}}, 1);
    out.cross_bytes += Value(m, "spate_fetcher_received_bytes_total", {{"rack", "cross"}});
    out.same_bytes += Value(m, "spate_fetcher_received_bytes_total", {{"rack", "same"}});
  }
  return out;
}

}  // namespace

TEST_CASE(
    "tracker failover: the swarm's owner is killed (or hangs) mid-download and the push completes on every host") {
  PostgresServer pg;
  PushFigures base = RunPush(pg, Fault::kNone);
  PushFigures killed = RunPush(pg, Fault::kKill);
  const double rf = double(kRacks) * double(kSize);
  std::printf(
      "failover: push %.1f s without the kill, %.1f s with it (+%.1f s; owner killed at %.1f s, every host on the "
      "next tracker %.1f s later, %d origin grants there); cross-rack bytes %.2f x racks*F without, %.2f with "
      "(ratio %.2f)\n",
      base.seconds, killed.seconds, killed.seconds - base.seconds, killed.kill_at, killed.rebuilt, killed.grants,
      base.cross_bytes / rf, killed.cross_bytes / rf, killed.cross_bytes / base.cross_bytes);
  CHECK(killed.cross_bytes <= 1.5 * base.cross_bytes);

  // A hung owner (SIGSTOP) fails only on time-outs (wire/swarm.cc: 5 s for an announce).
  PushFigures hung = RunPush(pg, Fault::kHang);
  std::printf(
      "failover, owner hung: push %.1f s (+%.1f s; owner stopped at %.1f s, every host on the next tracker %.1f s "
      "later, %d origin grants there); cross-rack bytes %.2f x racks*F (ratio %.2f)\n",
      hung.seconds, hung.seconds - base.seconds, hung.kill_at, hung.rebuilt, hung.grants, hung.cross_bytes / rf,
      hung.cross_bytes / base.cross_bytes);
  CHECK(hung.cross_bytes <= 1.5 * base.cross_bytes);
}
