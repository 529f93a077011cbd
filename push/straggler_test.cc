#include "push/straggler.h"

#include <catch2/catch.hpp>

namespace spate {
namespace {

constexpr int64_t kNow = 1700000000000;
constexpr double kMiB = 1024 * 1024;
constexpr uint64_t kTotal = 64 * 1024 * 1024;

// A host downloading well: 8 MiB/s, 5 peers, reported and moved 1 s ago.
HostProgress Row(const std::string& host, const std::string& location, const std::string& state = kStateDownloading) {
  HostProgress h;
  h.host = host;
  h.location = location;
  h.state = state;
  h.bytes_done = 12 * 1024 * 1024;
  h.total = kTotal;
  h.rate = 8 * kMiB;
  h.peers = 5;
  h.updated_at = kNow - 1000;
  h.progress_at = kNow - 1000;
  return h;
}

// Three racks of five good hosts with rates spread +-20% around 8 MiB/s.
std::vector<HostProgress> Healthy() {
  std::vector<HostProgress> v;
  for (int r = 0; r < 3; ++r)
    for (int i = 0; i < 5; ++i) {
      v.push_back(Row("h" + std::to_string(r) + std::to_string(i), "dc/p/r" + std::to_string(r)));
      v.back().rate = (6.4 + 0.8 * i) * kMiB;
    }
  return v;
}

std::vector<std::string> Hosts(const std::vector<Straggler>& s) {
  std::vector<std::string> v;
  for (const auto& x : s) v.push_back(x.host);
  return v;
}

TEST_CASE("cause names are the words the dashboard shows") {
  CHECK(std::string(CauseName(StragglerCause::kNoContact)) == "no contact");
  CHECK(std::string(CauseName(StragglerCause::kNoPeers)) == "no peers");
  CHECK(std::string(CauseName(StragglerCause::kNoProgress)) == "no progress");
  CHECK(std::string(CauseName(StragglerCause::kSlow)) == "slow");
  CHECK(std::string(CauseName(StragglerCause::kVerifySlow)) == "verify slow");
}

TEST_CASE("a healthy push has no stragglers") {
  auto rows = Healthy();
  rows.push_back(Row("v", "dc/p/r0", kStateVerifying));
  rows.back().progress_at = kNow - 20000;
  rows.push_back(Row("p", "dc/p/r1", kStatePending));
  rows.back().updated_at = kNow - 2000;
  rows.push_back(Row("fresh", "dc/p/r2"));  // just started: no bytes, no peers yet
  rows.back().peers = 0;
  rows.back().bytes_done = 0;
  rows.back().progress_at = kNow - 3000;
  rows.back().rate = 7 * kMiB;
  CHECK(FindStragglers(rows, kNow).empty());
}

TEST_CASE("finished and staged rows are never stragglers however old") {
  std::vector<HostProgress> rows = Healthy();
  for (const char* st : {kStateStaged, kStateInstalled, kStateFailed, kStateSuperseded, kStateCancelled}) {
    rows.push_back(Row(st, "dc/p/r0", st));
    rows.back().rate = 0;
    rows.back().peers = 0;
    rows.back().updated_at = rows.back().progress_at = kNow - 3600000;
  }
  CHECK(FindStragglers(rows, kNow).empty());
}

TEST_CASE("no contact: a pending assignment or a silent host") {
  auto rows = Healthy();
  rows.push_back(Row("p", "dc/p/r0", kStatePending));
  rows.back().updated_at = kNow - 31000;
  rows.push_back(Row("d", "dc/p/r1"));
  rows.back().updated_at = rows.back().progress_at = kNow - 45500;
  rows.push_back(Row("edge", "dc/p/r1", kStatePending));  // exactly the limit is not over it
  rows.back().updated_at = kNow - 30000;
  auto s = FindStragglers(rows, kNow);
  REQUIRE(Hosts(s) == std::vector<std::string>{"d", "p"});
  CHECK(s[0].cause == StragglerCause::kNoContact);
  CHECK(s[0].reason == "no report for 45 s (downloading, 12.0 MiB of 64.0 MiB)");
  CHECK(s[0].location == "dc/p/r1");
  CHECK(s[0].state == "downloading");
  CHECK(s[0].peers == 5);
  CHECK(s[0].rate == 8 * kMiB);
  CHECK(s[1].cause == StragglerCause::kNoContact);
  CHECK(s[1].reason == "assignment not picked up for 31 s");
}

TEST_CASE("no peers: downloading with 0 peers and no bytes for a sixth of the progress window") {
  auto rows = Healthy();
  rows.push_back(Row("np", "dc/p/r0"));
  rows.back().peers = 0;
  rows.back().progress_at = kNow - 6000;
  rows.push_back(Row("early", "dc/p/r0"));  // 4 s: could still be waiting for the tracker
  rows.back().peers = 0;
  rows.back().progress_at = kNow - 4000;
  auto s = FindStragglers(rows, kNow);
  REQUIRE(Hosts(s) == std::vector<std::string>{"np"});
  CHECK(s[0].cause == StragglerCause::kNoPeers);
  CHECK(s[0].reason == "0 peers, no progress for 6 s (12.0 MiB of 64.0 MiB)");
  StragglerOptions o;
  o.no_progress_ms = 60000;  // no peers then waits 10 s
  CHECK(FindStragglers(rows, kNow, o).empty());
}

TEST_CASE("no progress: downloading with peers but no bytes moving") {
  auto rows = Healthy();
  rows.push_back(Row("stuck", "dc/p/r2"));
  rows.back().progress_at = kNow - 42000;
  rows.push_back(Row("slowish", "dc/p/r2"));  // 29 s still: not yet
  rows.back().progress_at = kNow - 29000;
  auto s = FindStragglers(rows, kNow);
  REQUIRE(Hosts(s) == std::vector<std::string>{"stuck"});
  CHECK(s[0].cause == StragglerCause::kNoProgress);
  CHECK(s[0].reason == "no progress for 42 s (12.0 MiB of 64.0 MiB)");
}

TEST_CASE("verify slow: verifying for longer than the limit") {
  auto rows = Healthy();
  rows.push_back(Row("v", "dc/p/r0", kStateVerifying));
  rows.back().bytes_done = kTotal;
  rows.back().rate = 0;
  rows.back().peers = 0;  // peers do not matter once the bytes are in
  rows.back().progress_at = kNow - 75000;
  rows.push_back(Row("v2", "dc/p/r0", kStateVerifying));
  rows.back().progress_at = kNow - 59000;
  auto s = FindStragglers(rows, kNow);
  REQUIRE(Hosts(s) == std::vector<std::string>{"v"});
  CHECK(s[0].cause == StragglerCause::kVerifySlow);
  CHECK(s[0].reason == "verifying for 75 s (64.0 MiB of 64.0 MiB)");
}

TEST_CASE("slow: under a quarter of the rack median when the rack has 3 or more downloading") {
  std::vector<HostProgress> rows;
  for (int i = 0; i < 3; ++i) rows.push_back(Row("a" + std::to_string(i), "dc/p/ra"));
  rows.push_back(Row("a-slow", "dc/p/ra"));
  rows.back().rate = 1 * kMiB;
  rows.push_back(Row("a-edge", "dc/p/ra"));  // exactly a quarter of the median is not under it
  rows.back().rate = 2 * kMiB;
  // Rack b is slow as a whole (a thin uplink): judged against itself, fine.
  for (int i = 0; i < 3; ++i) {
    rows.push_back(Row("b" + std::to_string(i), "dc/p/rb"));
    rows.back().rate = 1 * kMiB;
  }
  auto s = FindStragglers(rows, kNow);
  REQUIRE(Hosts(s) == std::vector<std::string>{"a-slow"});  // rack a: 1,2,8,8,8 -> median 8
  CHECK(s[0].cause == StragglerCause::kSlow);
  CHECK(s[0].reason == "1.0 MiB/s, 12% of the rack median 8.0 MiB/s (12.0 MiB of 64.0 MiB)");
}

TEST_CASE("slow: a rack with fewer than 3 downloading hosts is judged against the push median") {
  auto rows = Healthy();  // with the three below, the push median is 8 MiB/s
  rows.push_back(Row("lone", "dc/p/rx"));
  rows.back().rate = 0.5 * kMiB;
  rows.push_back(Row("pair", "dc/p/ry"));
  rows.back().rate = 0.25 * kMiB;
  rows.push_back(Row("pair-ok", "dc/p/ry"));
  auto s = FindStragglers(rows, kNow);
  REQUIRE(Hosts(s) == std::vector<std::string>{"pair", "lone"});  // the smaller share first
  CHECK(s[0].reason == "256.0 KiB/s, 3% of the push median 8.0 MiB/s (12.0 MiB of 64.0 MiB)");
  CHECK(s[1].reason == "512.0 KiB/s, 6% of the push median 8.0 MiB/s (12.0 MiB of 64.0 MiB)");
  StragglerOptions o;
  o.slow_factor = 0.05;
  CHECK(Hosts(FindStragglers(rows, kNow, o)) == std::vector<std::string>{"pair"});
}

TEST_CASE("the strongest cause wins when several apply") {
  auto rows = Healthy();
  auto all = Row("all", "dc/p/r0");  // silent, no peers, no progress, rate 0
  all.peers = 0;
  all.rate = 0;
  all.updated_at = all.progress_at = kNow - 40000;
  auto np = all;  // reporting, but no peers, no progress and rate 0
  np.host = "np";
  np.updated_at = kNow - 1000;
  auto stuck = np;  // peers, but no progress and rate 0
  stuck.host = "stuck";
  stuck.peers = 2;
  rows.insert(rows.end(), {stuck, np, all});
  auto s = FindStragglers(rows, kNow);
  REQUIRE(Hosts(s) == std::vector<std::string>{"all", "np", "stuck"});
  CHECK(s[0].cause == StragglerCause::kNoContact);
  CHECK(s[1].cause == StragglerCause::kNoPeers);
  CHECK(s[1].reason == "0 peers, no progress for 40 s (12.0 MiB of 64.0 MiB)");
  CHECK(s[2].cause == StragglerCause::kNoProgress);
}

TEST_CASE("stragglers are sorted by cause then by how long then by host") {
  auto rows = Healthy();
  // The slow ones share rack r1 with its five good hosts (median 6.8 MiB/s);
  // the stalled ones sit apart so their zero rates do not drag that median.
  auto add = [&](const std::string& host, const std::string& state, int64_t silent, int64_t still, int peers,
                 double rate) {
    rows.push_back(Row(host, rate > 0 ? "dc/p/r1" : "dc/p/r9", state));
    rows.back().updated_at = kNow - silent;
    rows.back().progress_at = kNow - still;
    rows.back().peers = peers;
    rows.back().rate = rate;
  };
  add("slow-b", kStateDownloading, 1000, 1000, 5, 1 * kMiB);
  add("slow-a", kStateDownloading, 1000, 1000, 5, 1 * kMiB);
  add("slower", kStateDownloading, 1000, 1000, 5, 0.5 * kMiB);
  add("verify", kStateVerifying, 1000, 90000, 0, 0);
  add("stuck-short", kStateDownloading, 1000, 35000, 5, 0);
  add("stuck-long", kStateDownloading, 1000, 50000, 5, 0);
  add("nopeers", kStateDownloading, 1000, 8000, 0, 0);
  add("silent-short", kStateDownloading, 31000, 31000, 5, 0);
  add("silent-long", kStatePending, 90000, 90000, 0, 0);
  CHECK(Hosts(FindStragglers(rows, kNow)) ==
        std::vector<std::string>{"silent-long", "silent-short", "nopeers", "stuck-long", "stuck-short", "verify",
                                 "slower", "slow-a", "slow-b"});
}

TEST_CASE("times of 0 are unknown: progress falls back to the last report, no report is no evidence") {
  auto rows = Healthy();
  rows.push_back(Row("old-tracker", "dc/p/r0"));  // no progress_at from an older tracker
  rows.back().progress_at = 0;
  rows.back().updated_at = kNow - 20000;
  rows.push_back(Row("never", "dc/p/r0", kStatePending));
  rows.back().updated_at = 0;
  CHECK(FindStragglers(rows, kNow).empty());
  rows[rows.size() - 2].updated_at = kNow - 31000;
  auto s = FindStragglers(rows, kNow);
  REQUIRE(Hosts(s) == std::vector<std::string>{"old-tracker"});
  CHECK(s[0].cause == StragglerCause::kNoContact);
}

}  // namespace
}  // namespace spate
