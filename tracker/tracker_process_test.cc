// Starts the real `spate tracker` and drives it over HTTP.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <future>
#include <libtorrent/bdecode.hpp>
#include <set>

#include "tests/support/cluster.h"
#include "wire/api.h"
#include "wire/http.h"

namespace spate {
namespace {

using testing::Process;
using testing::TempDir;
using namespace std::chrono_literals;

const char* kToken = "test-token";

struct RunningTracker {
  std::unique_ptr<Process> proc;
  std::string base;  // http://ADDR:PORT
};

RunningTracker StartTracker(const TempDir& dir, const std::string& tag, std::vector<std::string> extra = {}) {
  std::string ready = dir / (tag + ".ready");
  std::filesystem::remove(ready);
  std::vector<std::string> argv{testing::SpateBinary(), "tracker", "--listen", "127.0.0.1:0", "--db", dir / "t.db",
                                "--admin-token", kToken, "--ready-file", ready};
  argv.insert(argv.end(), extra.begin(), extra.end());
  RunningTracker t;
  t.proc = std::make_unique<Process>(argv, dir / (tag + ".log"));
  auto j = testing::WaitReady(*t.proc, ready, 10s);
  t.base = "http://" + j["http"].get<std::string>();
  return t;
}

http::ClientOptions Admin(const std::string& token = kToken) {
  http::ClientOptions o;
  o.headers = {{"Authorization", "Bearer " + token}};
  return o;
}

std::string Registration(const std::string& version) {
  ArtifactRegistration r;
  r.manifest.name = "web";
  r.manifest.version = version;
  r.manifest.filename = "web.tar";
  r.manifest.size = 4096;
  r.manifest.sha256 = std::string(64, '0');
  r.manifest.info_hash = "0123456789abcdef0123456789abcdef0123456" + version.substr(0, 1);
  r.manifest.piece_size = 16384;
  r.manifest.created_at = 1700000000;
  r.manifest.signature = "c2ln";
  r.torrent = "arbitrary torrent bytes";
  r.origin = "127.0.0.1";
  return ToJson(r).dump();
}

// Requests from a host's own address.
http::ClientOptions From(const std::string& addr) {
  http::ClientOptions o;
  o.bind_address = addr;
  return o;
}

nlohmann::json Body(const Result<http::ClientResult>& r) {
  REQUIRE(r.ok());
  return nlohmann::json::parse(r->body);
}

TEST_CASE("tracker refuses a malformed rackmap with file:line and exit 2") {
  TempDir dir("tracker-test");
  std::ofstream(dir / "bad.map") << "10.0.0.0/8 dc/pod/rack\n# fine\n10.1.0.0/16 dc/pod\n";
  auto r = testing::Run({testing::SpateBinary(), "tracker", "--listen", "127.0.0.1:0", "--db", dir / "t.db",
                         "--admin-token", kToken, "--rackmap", dir / "bad.map"},
                        10s);
  CHECK(r.exit_code == 2);
  CHECK(r.output.find(dir / "bad.map" + ":3:") != std::string::npos);
}

TEST_CASE("tracker refuses to start without an admin token") {
  TempDir dir("tracker-test");
  auto r = testing::Run({testing::SpateBinary(), "tracker", "--listen", "127.0.0.1:0", "--db", dir / "t.db"}, 10s,
                        {"SPATE_ADMIN_TOKEN="});
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("admin token") != std::string::npos);
}

TEST_CASE("tracker: register, push, long-poll assignment, report, progress, restart") {
  TempDir dir("tracker-test");
  std::ofstream(dir / "rack.map") << "127.0.1.0/24 dc1/pod1/rack1\n127.0.2.0/24 dc1/pod1/rack2\n";
  auto t = StartTracker(dir, "a", {"--rackmap", dir / "rack.map"});
  const std::string api = t.base + "/api/v1";

  // Auth.
  CHECK(http::Call("POST", api + "/artifacts", Registration("1"))->status == 401);
  CHECK(http::Call("POST", api + "/artifacts", Registration("1"), Admin("wrong"))->status == 401);
  CHECK(http::Call("POST", api + "/pushes", R"({"artifact":"web@1"})")->status == 401);
  auto reg = http::Call("POST", api + "/artifacts", Registration("1"), Admin());
  REQUIRE(reg.ok());
  CHECK(reg->status == 200);
  CHECK(Body(reg)["ok"] == true);
  CHECK(Body(http::Call("GET", api + "/artifacts", ""))["artifacts"].size() == 1);

  // Unknown artifact: 404 naming it and what is registered.
  auto unknown = http::Call("POST", api + "/pushes", R"({"artifact":"web@9"})", Admin());
  REQUIRE(unknown.ok());
  CHECK(unknown->status == 404);
  std::string err = Body(unknown)["error"];
  CHECK(err.find("web@9") != std::string::npos);
  CHECK(err.find("web@1") != std::string::npos);

  // No host has checked in yet: 400.
  auto none = http::Call("POST", api + "/pushes", R"({"artifact":"web@1"})", Admin());
  CHECK(none->status == 400);

  // A host checks in (generation 0, no wait), then long-polls.
  // Hosts speak from their own address (127.0.R.H): a host id is bound to it.
  http::ClientOptions h1;
  h1.bind_address = "127.0.1.5";
  auto first = Body(http::Call("GET", api + "/hosts/h1/assignments?addr=127.0.1.5&generation=-1&wait=0", "", h1));
  int64_t gen = first["generation"];
  CHECK(first["assignments"].empty());
  // Its rack's ranges, so it can shape traffic leaving the rack.
  CHECK(first["rack_ranges"] == nlohmann::json::parse(R"([{"cidr":"127.0.1.0/24","local":true}])"));
  auto hosts = Body(http::Call("GET", api + "/hosts", ""))["hosts"];
  REQUIRE(hosts.size() == 1);
  CHECK(hosts[0]["location"] == "dc1/pod1/rack1");

  auto start = std::chrono::steady_clock::now();
  auto poll = std::async(std::launch::async, [&] {
    http::ClientOptions o = h1;
    o.timeout = 20s;
    return http::Call("GET", api + "/hosts/h1/assignments?addr=127.0.1.5&generation=" + std::to_string(gen) + "&wait=30",
                      "", o);
  });
  std::this_thread::sleep_for(300ms);
  CHECK(poll.wait_for(0s) == std::future_status::timeout);  // held
  auto push = http::Call("POST", api + "/pushes", R"({"artifact":"web@1","hosts_glob":"h*"})", Admin());
  REQUIRE(push.ok());
  INFO(push->body);
  REQUIRE(push->status == 200);
  auto pj = Body(push);
  int64_t push_id = pj["id"];
  CHECK(pj["state"] == "active");
  REQUIRE(pj["hosts"].size() == 1);
  CHECK(pj["hosts"][0]["location"] == "dc1/pod1/rack1");

  auto polled = poll.get();
  CHECK(std::chrono::steady_clock::now() - start < 5s);  // answered by the push, not the 30 s wait
  auto list = AssignmentListFromJson(Body(polled));
  REQUIRE(list.ok());
  CHECK(list->generation != gen);
  REQUIRE(list->assignments.size() == 1);
  CHECK(list->assignments[0].push_id == push_id);
  CHECK(list->assignments[0].manifest.id() == "web@1");
  CHECK(list->assignments[0].torrent == "arbitrary torrent bytes");

  // Reports.
  HostReport rep;
  rep.push_id = push_id;
  rep.state = kStateDownloading;
  rep.bytes_done = 1000;
  rep.total = 4096;
  auto post = [&](const HostReport& r) {
    return http::Call("POST", api + "/hosts/h1/reports", nlohmann::json{{"reports", {ToJson(r)}}}.dump(), h1);
  };
  CHECK(post(rep)->status == 200);
  auto mid = Body(http::Call("GET", api + "/pushes/" + std::to_string(push_id), ""));
  CHECK(mid["state"] == "active");
  CHECK(mid["hosts"][0]["state"] == "downloading");
  CHECK(mid["hosts"][0]["bytes_done"] == 1000);
  rep.state = kStateInstalled;
  rep.bytes_done = 4096;
  CHECK(post(rep)->status == 200);
  HostReport bogus = rep;
  bogus.push_id = 999;
  auto refused = post(bogus);  // answered per report: refused, the batch still 200
  CHECK(refused->status == 200);
  CHECK(Body(refused)["refused"][0]["push_id"] == 999);
  auto done = Body(http::Call("GET", api + "/pushes/" + std::to_string(push_id), ""));
  CHECK(done["state"] == "succeeded");
  CHECK(done["hosts"][0]["state"] == "installed");
  CHECK(http::Call("GET", api + "/pushes/12345", "")->status == 404);

  auto stats = Body(http::Call("GET", t.base + "/stats", ""));
  CHECK(stats["swarms"] == 1);
  CHECK(stats["pushes"] == 1);

  // Announce for an unregistered hash is a bencoded failure.
  auto ann = http::Call("GET", t.base + "/announce?info_hash=" + http::UrlEncode(std::string(20, 'x')) +
                                   "&peer_id=" + http::UrlEncode(std::string(20, 'p')) + "&port=1&left=0",
                        "");
  REQUIRE(ann.ok());
  CHECK(ann->body.find("failure reason") != std::string::npos);

  // Restart on the same db: artifact and push are still there.
  t.proc->Terminate();
  auto t2 = StartTracker(dir, "b", {"--rackmap", dir / "rack.map"});
  auto again = Body(http::Call("GET", t2.base + "/api/v1/pushes/" + std::to_string(push_id), ""));
  CHECK(again["state"] == "succeeded");
  CHECK(again["artifact"] == "web@1");
  CHECK(Body(http::Call("GET", t2.base + "/api/v1/artifacts", ""))["artifacts"].size() == 1);
  auto after =
      AssignmentListFromJson(Body(http::Call("GET", t2.base + "/api/v1/hosts/h1/assignments?generation=-1", "", h1)));
  REQUIRE(after.ok());
  CHECK(after->generation == list->generation);
  CHECK(after->assignments.size() == 1);
}

struct Announced {
  int64_t interval = 0, complete = 0, incomplete = 0;
  std::vector<std::string> peers;  // "ip:port"
  std::string failure;
};

Announced Announce(const std::string& base, const std::string& info_hash_hex, const std::string& from, int port,
                   uint64_t left, const std::string& extra = "") {
  http::ClientOptions o;
  o.bind_address = from;
  std::string peer_id = ("peer-" + from + "-" + std::to_string(port) + std::string(20, '-')).substr(0, 20);
  auto r = http::Call("GET",
                      base + "/announce?info_hash=" + http::UrlEncode(*HexDecode(info_hash_hex)) + "&peer_id=" +
                          http::UrlEncode(peer_id) + "&port=" + std::to_string(port) + "&uploaded=0&downloaded=0&left=" +
                          std::to_string(left) + "&compact=1" + extra,
                      "", o);
  REQUIRE(r.ok());
  REQUIRE(r->status == 200);
  lt::error_code ec;
  auto n = lt::bdecode(r->body, ec);
  REQUIRE_FALSE(ec);
  Announced a;
  a.failure = std::string(n.dict_find_string_value("failure reason"));
  a.interval = n.dict_find_int_value("interval");
  a.complete = n.dict_find_int_value("complete");
  a.incomplete = n.dict_find_int_value("incomplete");
  std::string peers(n.dict_find_string_value("peers"));
  for (size_t i = 0; i + 6 <= peers.size(); i += 6) {
    auto b = reinterpret_cast<const unsigned char*>(peers.data() + i);
    a.peers.push_back(std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + "." +
                      std::to_string(b[3]) + ":" + std::to_string(b[4] << 8 | b[5]));
  }
  return a;
}

TEST_CASE("tracker announces: registered hashes only, rack-local peers, push-driven interval, stopped") {
  TempDir dir("tracker-test");
  std::ofstream(dir / "rack.map") << "127.0.1.0/24 dc1/pod1/rack1\n127.0.2.0/24 dc1/pod1/rack2\n127.0.9.0/24 dc1/pod9/seed\n";
  auto t = StartTracker(dir, "a", {"--rackmap", dir / "rack.map", "--announce-interval", "3s",
                                   "--idle-announce-interval", "30s", "--bridges", "1"});
  const std::string api = t.base + "/api/v1";
  auto j = nlohmann::json::parse(Registration("2"));
  j["origin"] = "127.0.9.1";
  REQUIRE(http::Call("POST", api + "/artifacts", j.dump(), Admin())->status == 200);
  std::string hash = j["manifest"]["info_hash"];

  CHECK(Announce(t.base, std::string(40, 'f'), "127.0.1.1", 7000, 4096).failure.find("not registered") !=
        std::string::npos);

  // The origin seeder: the short interval even with no push, so a tracker
  // taking the swarm over (tracker/tracker.cc) soon learns where it is.
  CHECK(Announce(t.base, hash, "127.0.9.1", 7000, 0).interval == 3);  // 3 s and a random quarter of it (0 s)
  std::set<int> intervals;
  for (int rack = 1; rack <= 2; ++rack)
    for (int h = 1; h <= 8; ++h) {
      auto a = Announce(t.base, hash, "127.0." + std::to_string(rack) + "." + std::to_string(h), 7000, 4096);
      CHECK(a.failure.empty());
      CHECK(a.interval >= 30);  // no active push yet: the idle 30 s...
      CHECK(a.interval <= 37);  // ...and up to a quarter more, at random
      intervals.insert(a.interval);
    }
  CHECK(intervals.size() > 1);  // so peers that started together drift apart (1 in 8^15 to fail by chance)
  auto a = Announce(t.base, hash, "127.0.1.1", 7000, 4096, "&numwant=6");
  CHECK(a.complete == 1);
  CHECK(a.incomplete == 16);
  REQUIRE(a.peers.size() == 6);
  std::set<std::string> uniq(a.peers.begin(), a.peers.end());
  CHECK(uniq.size() == 6);
  int same_rack = 0;
  for (const auto& p : a.peers) {
    CHECK(p != "127.0.1.1:7000");
    same_rack += p.rfind("127.0.1.", 0) == 0;
  }
  CHECK(same_rack >= 4);

  // A push of this artifact makes the interval short.
  http::ClientOptions h1;
  h1.bind_address = "127.0.1.1";
  REQUIRE(http::Call("GET", api + "/hosts/h1/assignments", "", h1)->status == 200);
  REQUIRE(http::Call("POST", api + "/pushes", R"({"artifact":"web@2"})", Admin())->status == 200);
  CHECK(Announce(t.base, hash, "127.0.1.1", 7000, 4096).interval == 3);

  // stopped removes the peer.
  Announce(t.base, hash, "127.0.2.8", 7000, 4096, "&event=stopped");
  auto stats = Body(http::Call("GET", t.base + "/stats", ""));
  CHECK(stats["peers"] == 16);
  CHECK(stats["peers_per_rack"]["dc1/pod1/rack2"] == 7);
  CHECK(stats["active_pushes"] == 1);
  CHECK(stats["announces"].get<int>() >= 19);

  // scrape
  http::ClientResult sc = *http::Call("GET", t.base + "/scrape?info_hash=" + http::UrlEncode(*HexDecode(hash)), "");
  lt::error_code ec;
  auto n = lt::bdecode(sc.body, ec);
  REQUIRE_FALSE(ec);
  auto f = n.dict_find_dict("files").dict_find_dict(*HexDecode(hash));
  REQUIRE(f);
  CHECK(f.dict_find_int_value("incomplete") == 15);
  CHECK(f.dict_find_int_value("complete") == 1);
}

TEST_CASE("tracker drops peers that stop announcing after --peer-ttl") {
  TempDir dir("tracker-test");
  auto t = StartTracker(dir, "a", {"--announce-interval", "1s", "--idle-announce-interval", "1s", "--peer-ttl", "1s"});
  auto j = nlohmann::json::parse(Registration("3"));
  REQUIRE(http::Call("POST", t.base + "/api/v1/artifacts", j.dump(), Admin())->status == 200);
  std::string hash = j["manifest"]["info_hash"];
  Announce(t.base, hash, "127.0.1.1", 7000, 4096);
  Announce(t.base, hash, "127.0.1.2", 7000, 4096);
  CHECK(Body(http::Call("GET", t.base + "/stats", ""))["peers"] == 2);
  auto deadline = std::chrono::steady_clock::now() + 5s;
  int peers = 2;
  while (peers > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);
    peers = Body(http::Call("GET", t.base + "/stats", ""))["peers"];
  }
  CHECK(peers == 0);
  CHECK(std::chrono::steady_clock::now() + 3s > deadline);  // not before the ttl (>= ~1 s)
}

TEST_CASE("tracker with --announce-listen serves announces and scrapes on a second port, and the control port stops serving them") {
  TempDir dir("tracker-test");
  auto t = StartTracker(dir, "a", {"--announce-listen", "127.0.0.1:0"});
  auto ready = nlohmann::json::parse(testing::ReadAll(dir / "a.ready"));
  REQUIRE(ready.contains("announce"));
  const std::string plain = "http://" + ready["announce"].get<std::string>();
  CHECK(plain != t.base);
  auto j = nlohmann::json::parse(Registration("4"));
  REQUIRE(http::Call("POST", t.base + "/api/v1/artifacts", j.dump(), Admin())->status == 200);
  std::string hash = j["manifest"]["info_hash"];

  // One swarm behind both doors: a peer announced on the plain port is in the
  // control port's figures.
  Announce(plain, hash, "127.0.1.1", 7000, 4096);
  auto a = Announce(plain, hash, "127.0.1.2", 7000, 4096);
  CHECK(a.failure.empty());
  CHECK(a.peers == std::vector<std::string>{"127.0.1.1:7000"});
  CHECK(Body(http::Call("GET", t.base + "/stats", ""))["peers"] == 2);
  CHECK(http::Call("GET", plain + "/scrape", "")->status == 200);

  auto moved = http::Call("GET", t.base + "/announce?info_hash=x", "");
  REQUIRE(moved.ok());
  CHECK(moved->status == 404);
  CHECK(moved->body.find("/announce is served on --announce-listen") != std::string::npos);
  CHECK(http::Call("GET", t.base + "/scrape", "")->status == 404);
  // The plain port has nothing else.
  CHECK(http::Call("GET", plain + "/api/v1/hosts", "")->status == 404);
  CHECK(http::Call("GET", plain + "/metrics", "")->status == 404);
}

}  // namespace
}  // namespace spate

namespace spate {
namespace {

TEST_CASE("tracker tells each gateway of a rack its share in the report reply") {
  TempDir dir("tracker-test");
  std::ofstream(dir / "rack.map") << "127.0.1.0/24 dc1/pod1/rack1\n127.0.9.0/24 dc1/pod9/seed\n";
  auto t = StartTracker(dir, "a", {"--rackmap", dir / "rack.map", "--origin-per-rack", "3"});
  const std::string api = t.base + "/api/v1";
  auto j = nlohmann::json::parse(Registration("3"));
  j["origin"] = "127.0.9.1";
  REQUIRE(http::Call("POST", api + "/artifacts", j.dump(), Admin())->status == 200);
  std::string hash = j["manifest"]["info_hash"];
  for (int h = 1; h <= 4; ++h)
    http::Call("GET", api + "/hosts/h" + std::to_string(h) + "/assignments?generation=-1&wait=0", "",
               From("127.0.1." + std::to_string(h)));
  auto push = Body(http::Call("POST", api + "/pushes", R"({"artifact":"web@3","hosts_glob":"h*"})", Admin()));
  int64_t push_id = push["id"];
  Announce(t.base, hash, "127.0.9.1", 7000, 0);  // origin
  for (int h = 1; h <= 4; ++h) Announce(t.base, hash, "127.0.1." + std::to_string(h), 7000, 4096);
  // -> the slot each host is told, -1 for none.
  auto role = [&](int h) {
    HostReport r;
    r.push_id = push_id;
    r.state = kStateDownloading;
    r.total = 4096;
    auto reply = Body(http::Call("POST", api + "/hosts/h" + std::to_string(h) + "/reports",
                                 nlohmann::json{{"reports", {ToJson(r)}}}.dump(), From("127.0.1." + std::to_string(h))));
    CHECK(reply["ok"] == true);
    if (reply["gateways"].empty()) return -1;
    auto g = GatewayRoleFromJson(reply["gateways"][0]);
    REQUIRE(g.ok());
    CHECK(g->push_id == push_id);
    CHECK(g->slots == 3);  // --origin-per-rack, the rack being larger
    return g->slot;
  };
  // The first three to announce are the rack's gateways, each with its own share.
  std::set<int> slots{role(1), role(2), role(3)};
  CHECK(slots == std::set<int>{0, 1, 2});
  CHECK(role(4) == -1);
  // A finished gateway keeps its grant (its rack now holds every piece) and
  // has no share left to fetch; one that leaves frees its share.
  Announce(t.base, hash, "127.0.1.2", 7000, 0);
  CHECK(role(2) == -1);
  Announce(t.base, hash, "127.0.1.4", 7000, 4096);
  CHECK(role(4) == -1);
  int freed = role(3);
  Announce(t.base, hash, "127.0.1.3", 7000, 4096, "&event=stopped");
  Announce(t.base, hash, "127.0.1.4", 7000, 4096);
  CHECK(role(4) == freed);
}

}  // namespace
}  // namespace spate

namespace spate {
namespace {

TEST_CASE("gateway shares count hosts a push named before they checked in") {
  TempDir dir("tracker-test");
  std::ofstream(dir / "rack.map") << "127.0.1.0/24 dc1/pod1/rack1\n127.0.9.0/24 dc1/pod9/seed\n";
  auto t = StartTracker(dir, "a", {"--rackmap", dir / "rack.map", "--origin-per-rack", "3"});
  const std::string api = t.base + "/api/v1";
  auto j = nlohmann::json::parse(Registration("4"));
  j["origin"] = "127.0.9.1";
  REQUIRE(http::Call("POST", api + "/artifacts", j.dump(), Admin())->status == 200);
  std::string hash = j["manifest"]["info_hash"];
  // Named before check-in: the push learns their rack only when they check in.
  auto push = Body(http::Call("POST", api + "/pushes", R"({"artifact":"web@4","hosts":["h1","h2"]})", Admin()));
  int64_t push_id = push["id"];
  for (int h = 1; h <= 2; ++h)
    http::Call("GET", api + "/hosts/h" + std::to_string(h) + "/assignments?generation=-1&wait=0", "",
               From("127.0.1." + std::to_string(h)));
  Announce(t.base, hash, "127.0.9.1", 7000, 0);
  Announce(t.base, hash, "127.0.1.1", 7000, 4096);
  HostReport r;
  r.push_id = push_id;
  r.state = kStateDownloading;
  r.total = 4096;
  auto reply = Body(
      http::Call("POST", api + "/hosts/h1/reports", nlohmann::json{{"reports", {ToJson(r)}}}.dump(), From("127.0.1.1")));
  REQUIRE(reply["gateways"].size() == 1);
  auto g = GatewayRoleFromJson(reply["gateways"][0]);
  REQUIRE(g.ok());
  CHECK(g->slot == 0);
  CHECK(g->slots == 2);  // two targets in the rack, fewer than --origin-per-rack
}

}  // namespace
}  // namespace spate

namespace spate {
namespace {

TEST_CASE("tracker process: --graphite sends the /metrics figures, taken on the io thread") {
  TempDir dir("spate-tracker-graphite");
  int carbon = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(carbon, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(carbon, 4) == 0);
  socklen_t len = sizeof a;
  ::getsockname(carbon, reinterpret_cast<sockaddr*>(&a), &len);
  auto t = StartTracker(dir, "g", {"--graphite", "127.0.0.1:" + std::to_string(ntohs(a.sin_port)),
                                   "--graphite-prefix", "spate.tracker.t", "--graphite-interval", "200ms"});
  pollfd p{carbon, POLLIN, 0};
  REQUIRE(::poll(&p, 1, 10000) == 1);
  int conn = ::accept(carbon, nullptr, nullptr);
  REQUIRE(conn >= 0);
  std::string got;
  char buf[4096];
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (got.find("spate.tracker.t.spate_tracker_hosts ") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    pollfd c{conn, POLLIN, 0};
    if (::poll(&c, 1, 500) != 1) continue;
    ssize_t n = ::recv(conn, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, size_t(n));
  }
  ::close(conn);
  ::close(carbon);
  INFO(got.substr(0, 2000));
  CHECK(got.find("spate.tracker.t.spate_tracker_swarms 0 ") != std::string::npos);
  CHECK(got.find("spate.tracker.t.spate_tracker_announces_total.protocol.http 0 ") != std::string::npos);
  CHECK(got.find("spate.tracker.t.spate_tracker_hosts 0 ") != std::string::npos);
  t.proc->Terminate();
  CHECK(t.proc->Wait(1s) == 0);  // stops cleanly with the sender running
}

TEST_CASE("a long poll whose host gives up is dropped at once, not held until its wait ends") {
  TempDir dir("tracker-hangup");
  auto t = StartTracker(dir, "a", {});
  const std::string api = t.base + "/api/v1";
  http::ClientOptions h1;
  h1.bind_address = "127.0.1.5";
  auto first = Body(http::Call("GET", api + "/hosts/h1/assignments?generation=-1&wait=0", "", h1));
  int64_t gen = first["generation"];
  auto long_polls = [&] {
    auto m = http::Call("GET", t.base + "/metrics", "");
    REQUIRE(m.ok());
    return m->body.find("\nspate_tracker_long_polls 1\n") != std::string::npos ? 1 : 0;
  };
  h1.timeout = 1s;  // gives up long before the 30 s wait
  auto poll = std::async(std::launch::async, [&] {
    return http::Call("GET", api + "/hosts/h1/assignments?generation=" + std::to_string(gen) + "&wait=30", "", h1);
  });
  std::this_thread::sleep_for(300ms);
  CHECK(long_polls() == 1);
  CHECK_FALSE(poll.get().ok());
  int held = 1;
  for (int i = 0; i < 50 && held; ++i) {
    std::this_thread::sleep_for(50ms);
    held = long_polls();
  }
  CHECK(held == 0);
}

}  // namespace
}  // namespace spate
