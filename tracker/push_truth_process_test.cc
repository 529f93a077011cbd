// "A push must never lie": a real `spate tracker` (and `spate push`) driven
// over HTTP from per-host loopback addresses (127.0.R.H), one test per defect:
// superseded pushes end, strangers cannot take a rack's origin grants, a host
// is bound to its address and its state only moves forward, and report
// batches are answered per report.
// Written against wire types that predate the fixes (state names as text), so
// the same file builds on the commit before them and shows each defect.
#include <catch2/catch.hpp>
#include <fstream>
#include <libtorrent/bdecode.hpp>
#include <thread>

#include "tests/support/cluster.h"
#include "tests/support/tracker_process.h"
#include "tests/support/web_artifact.h"
#include "push/store.h"
#include "wire/api.h"
#include "wire/crypto.h"
#include "wire/http.h"

namespace spate {
namespace {

using testing::Process;
using testing::TempDir;
using namespace std::chrono_literals;

const char* kToken = "test-token";
const char* kRackmap = "127.0.1.0/24 dc1/pod1/rack1\n127.0.2.0/24 dc1/pod1/rack2\n127.0.9.0/24 dc1/pod9/seed\n";
const char* kOrigin = "127.0.9.1";

using Tracker = testing::TrackerProcess;

Tracker Start(const TempDir& dir, const std::string& tag, std::vector<std::string> extra = {}) {
  std::ofstream(dir / "rack.map") << kRackmap;
  std::vector<std::string> flags{"--db", dir / "t.db", "--admin-token", kToken, "--rackmap", dir / "rack.map"};
  flags.insert(flags.end(), extra.begin(), extra.end());
  return Tracker(dir, tag, flags);
}

http::ClientOptions From(const std::string& addr, bool admin = false) {
  http::ClientOptions o;
  o.bind_address = addr;
  if (admin) o.headers = {{"Authorization", "Bearer " + std::string(kToken)}};
  return o;
}
http::ClientOptions Admin() {
  http::ClientOptions o;
  o.headers = {{"Authorization", "Bearer " + std::string(kToken)}};
  return o;
}

// Registers web@VERSION with its own info-hash and the origin at kOrigin; returns the hash (hex).
std::string Register(const Tracker& t, const std::string& version) {
  return testing::Register(t.api, testing::WebRegistration(version, 'a', kOrigin), Admin());
}

// GET .../assignments as `host` from `from`; returns the HTTP status.
int Poll(const Tracker& t, const std::string& host, const std::string& from, const std::string& extra = "") {
  auto r = http::Call("GET", t.api + "/hosts/" + host + "/assignments?generation=-1&wait=0" + extra, "", From(from));
  REQUIRE(r.ok());
  return r->status;
}

int64_t Push(const Tracker& t, const std::string& body) {
  auto r = http::Call("POST", t.api + "/pushes", body, Admin());
  REQUIRE(r.ok());
  INFO(r->body);
  REQUIRE(r->status == 200);
  return nlohmann::json::parse(r->body)["id"].get<int64_t>();
}

nlohmann::json GetJson(const std::string& url) {
  auto r = http::Call("GET", url, "");
  REQUIRE(r.ok());
  INFO(r->body);
  REQUIRE(r->status == 200);
  return nlohmann::json::parse(r->body);
}

nlohmann::json Report(int64_t push_id, const std::string& state) {
  return {{"push_id", push_id}, {"state", state}, {"bytes_done", 0}, {"total", 4096}};
}

// POSTs reports as `host` from `from`.
http::ClientResult PostReports(const Tracker& t, const std::string& host, const std::string& from,
                               const nlohmann::json& reports) {
  // A one-element braced list arrives as that element, not as an array.
  nlohmann::json list = reports.is_array() ? reports : nlohmann::json::array({reports});
  auto r = http::Call("POST", t.api + "/hosts/" + host + "/reports", nlohmann::json{{"reports", list}}.dump(),
                      From(from));
  REQUIRE(r.ok());
  return *r;
}

struct Announced {
  int64_t interval = 0;
  std::vector<std::string> peers;  // "ip:port"
};

Announced Announce(const Tracker& t, const std::string& hash_hex, const std::string& from, int port, uint64_t left) {
  std::string peer_id = ("p-" + from + "-" + std::to_string(port) + std::string(20, '-')).substr(0, 20);
  auto r = http::Call("GET",
                      t.base + "/announce?info_hash=" + http::UrlEncode(*HexDecode(hash_hex)) + "&peer_id=" +
                          http::UrlEncode(peer_id) + "&port=" + std::to_string(port) + "&left=" + std::to_string(left) +
                          "&compact=1&numwant=50",
                      "", From(from));
  REQUIRE(r.ok());
  lt::error_code ec;
  auto n = lt::bdecode(r->body, ec);
  REQUIRE_FALSE(ec);
  REQUIRE(std::string(n.dict_find_string_value("failure reason")).empty());
  Announced a;
  a.interval = n.dict_find_int_value("interval");
  std::string peers(n.dict_find_string_value("peers"));
  for (size_t i = 0; i + 6 <= peers.size(); i += 6) {
    auto b = reinterpret_cast<const unsigned char*>(peers.data() + i);
    a.peers.push_back(std::to_string(b[0]) + "." + std::to_string(b[1]) + "." + std::to_string(b[2]) + "." +
                      std::to_string(b[3]) + ":" + std::to_string(b[4] << 8 | b[5]));
  }
  return a;
}

bool HasOrigin(const Announced& a) {
  return std::find(a.peers.begin(), a.peers.end(), std::string(kOrigin) + ":7000") != a.peers.end();
}

TEST_CASE("a push superseded on a host ends, its row marked superseded, and spate push exits 1 saying so") {
  TempDir dir("push-truth");
  auto t = Start(dir, "a", {"--announce-interval", "2s", "--idle-announce-interval", "30s"});
  std::string hash1 = Register(t, "1");
  Register(t, "2");
  REQUIRE(Poll(t, "h1", "127.0.1.1") == 200);
  REQUIRE(Poll(t, "h2", "127.0.1.2") == 200);

  // `spate push web@1` watches push 1; h1 is offline and never picks it up.
  Process push({testing::SpateBinary(), "push", "web@1", "--tracker", t.base, "--hosts", "h1", "--timeout", "25s",
                "--interval", "200ms"},
               dir / "push.log", {"SPATE_ADMIN_TOKEN=" + std::string(kToken)});
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (http::Call("GET", t.api + "/pushes/1", "")->status != 200 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  CHECK(Announce(t, hash1, "127.0.1.1", 7000, 4096).interval == 2);  // active: short interval
  // A second push of the same artifact name reaches h1 (and h2) first.
  int64_t second = Push(t, R"({"artifact":"web@2","hosts":["h1","h2"]})");
  CHECK(second == 2);

  auto first = GetJson(t.api + "/pushes/1");
  INFO(first.dump());
  CHECK(first["state"] == "superseded");
  CHECK(first["hosts"][0]["state"] == "superseded");
  CHECK(GetJson(t.api + "/pushes/2")["state"] == "active");
  // No longer active: its swarm gets the idle interval again.
  const int idle = Announce(t, hash1, "127.0.1.1", 7000, 4096).interval;
  CHECK(idle >= 30);
  CHECK(idle <= 37);  // 30 s and up to a random quarter more
  CHECK(GetJson(t.base + "/stats")["active_pushes"] == 1);

  // The watcher stops at once and does not claim success.
  int code = push.Wait(10s);
  INFO(push.Log());
  CHECK(code == 1);
  CHECK(push.Log().find("superseded") != std::string::npos);

  // The outcome survives a restart.
  t.proc->Terminate();
  auto t2 = Start(dir, "b");
  CHECK(GetJson(t2.api + "/pushes/1")["state"] == "superseded");
}

TEST_CASE("rows a tracker left pending under a newer push of the same name end superseded on load") {
  TempDir dir("push-truth");
  {
    // A database as the tracker wrote it before superseding: h1 pending in both pushes.
    auto store = Store::Open(dir / "t.db");
    REQUIRE(store.ok());
    for (const std::string v : {"1", "2"}) {
      ArtifactRecord a;
      a.manifest = testing::WebRegistration(v).manifest;
      REQUIRE((*store)->PutArtifact(a).ok());
      HostProgress row;
      row.host = "h1";
      row.addr = "127.0.1.1";
      row.location = "dc1/pod1/rack1";
      REQUIRE((*store)->CreatePush("web@" + v, 1700000000000, {row}, PushPlan{}).ok());
    }
  }
  auto t = Start(dir, "a");
  auto first = GetJson(t.api + "/pushes/1");
  CHECK(first["state"] == "superseded");
  CHECK(first["hosts"][0]["state"] == "superseded");
  CHECK(GetJson(t.api + "/pushes/2")["state"] == "active");
}

TEST_CASE("announces from an unknown address do not take a rack's origin grants") {
  TempDir dir("push-truth");
  auto t = Start(dir, "a", {"--origin-per-rack", "2"});
  std::string hash = Register(t, "1");
  REQUIRE(Poll(t, "h1", "127.0.1.1") == 200);
  REQUIRE(Poll(t, "h2", "127.0.1.2") == 200);
  int64_t id = Push(t, R"({"artifact":"web@1","hosts_glob":"h*"})");
  Announce(t, hash, kOrigin, 7000, 0);
  // A stranger inside rack 1 announces five times, as five peers.
  // (The first, alone in the swarm, may be handed the origin, but never a grant.)
  for (int i = 0; i < 5; ++i) Announce(t, hash, "127.0.1.50", 7100 + i, 4096);
  CHECK(GetJson(t.base + "/stats")["swarm_detail"][0]["origin_grants"] == 0);
  // The rack's targeted hosts still get the origin, and are its gateways.
  CHECK(HasOrigin(Announce(t, hash, "127.0.1.1", 7000, 4096)));
  CHECK(HasOrigin(Announce(t, hash, "127.0.1.2", 7000, 4096)));
  auto reply = PostReports(t, "h1", "127.0.1.1", {Report(id, "downloading")});
  REQUIRE(reply.status == 200);
  CHECK(nlohmann::json::parse(reply.body)["gateways"].size() == 1);
  auto stats = GetJson(t.base + "/stats");
  CHECK(stats["swarm_detail"][0]["origin_grants"] == 2);
}

TEST_CASE("an origin grantee whose left does not decrease loses its grant to another host of its rack") {
  TempDir dir("push-truth");
  auto t = Start(dir, "a", {"--origin-per-rack", "1", "--grant-stall", "1s"});
  std::string hash = Register(t, "1");
  REQUIRE(Poll(t, "h1", "127.0.1.1") == 200);
  REQUIRE(Poll(t, "h2", "127.0.1.2") == 200);
  int64_t id = Push(t, R"({"artifact":"web@1","hosts_glob":"h*"})");
  Announce(t, hash, kOrigin, 7000, 0);
  CHECK(HasOrigin(Announce(t, hash, "127.0.1.1", 7000, 4096)));
  CHECK_FALSE(HasOrigin(Announce(t, hash, "127.0.1.2", 7000, 4096)));  // the rack's one grant is taken
  std::this_thread::sleep_for(1500ms);
  CHECK(HasOrigin(Announce(t, hash, "127.0.1.2", 7000, 4096)));  // h1 stalled: h2 takes it over
  auto roles = [&](const std::string& host, const std::string& from) {
    return nlohmann::json::parse(PostReports(t, host, from, {Report(id, "downloading")}).body)["gateways"].size();
  };
  CHECK(roles("h1", "127.0.1.1") == 0);
  CHECK(roles("h2", "127.0.1.2") == 1);
  CHECK(GetJson(t.base + "/stats")["grants_revoked"] == 1);
}

TEST_CASE("a host is bound to the address it checked in from, others are refused, counted, and only an admin moves it") {
  TempDir dir("push-truth");
  auto t = Start(dir, "a");
  Register(t, "1");
  REQUIRE(Poll(t, "h1", "127.0.1.1") == 200);
  int64_t id = Push(t, R"({"artifact":"web@1","hosts":["h1"]})");

  // Someone else claims h1 is installed: refused, and the push stays honest.
  CHECK(PostReports(t, "h1", "127.0.0.1", {Report(id, "installed")}).status == 403);
  CHECK(PostReports(t, "h1", "127.0.2.7", {Report(id, "installed")}).status == 403);
  CHECK(GetJson(t.api + "/pushes/" + std::to_string(id))["state"] == "active");
  // Nor may anyone else poll as h1, whatever address the query claims.
  CHECK(Poll(t, "h1", "127.0.1.2") == 403);
  CHECK(Poll(t, "h1", "127.0.1.2", "&addr=127.0.1.1") == 403);
  CHECK(Poll(t, "h1", "127.0.1.1", "&addr=127.0.1.9") == 403);
  CHECK(Poll(t, "h1", "127.0.1.1", "&addr=127.0.1.1") == 200);
  // A host that never checked in cannot report either.
  CHECK(PostReports(t, "h9", "127.0.1.9", {Report(id, "installed")}).status == 403);
  auto stats = GetJson(t.base + "/stats");
  CHECK(stats["control_refused"]["report"] == 3);
  CHECK(stats["control_refused"]["poll"] == 3);
  auto metrics = http::Call("GET", t.base + "/metrics", "");
  REQUIRE(metrics.ok());
  CHECK(metrics->body.find("spate_tracker_control_refused_total{request=\"report\"} 3\n") != std::string::npos);

  // The binding survives a restart.
  t.proc->Terminate();
  t = Start(dir, "b");
  CHECK(PostReports(t, "h1", "127.0.1.2", {Report(id, "downloading")}).status == 403);
  CHECK(GetJson(t.api + "/hosts")["hosts"][0]["addr"] == "127.0.1.1");

  // Moving the host takes the admin token and an explicit call.
  auto move = [&](bool admin) {
    auto r = http::Call("POST", t.api + "/hosts/h1/move", R"({"addr":"127.0.1.2"})", admin ? Admin() : From("127.0.1.2"));
    REQUIRE(r.ok());
    return r->status;
  };
  CHECK(move(false) == 401);
  CHECK(move(true) == 200);
  CHECK(Poll(t, "h1", "127.0.1.2") == 200);
  CHECK(Poll(t, "h1", "127.0.1.1") == 403);
  CHECK(PostReports(t, "h1", "127.0.1.2", {Report(id, "installed")}).status == 200);
  CHECK(GetJson(t.api + "/pushes/" + std::to_string(id))["state"] == "succeeded");
}

TEST_CASE("a report cannot move a host's state back") {
  TempDir dir("push-truth");
  auto t = Start(dir, "a");
  Register(t, "1");
  REQUIRE(Poll(t, "h1", "127.0.1.1") == 200);
  int64_t id = Push(t, R"({"artifact":"web@1","hosts":["h1"]})");
  auto state = [&] { return GetJson(t.api + "/pushes/" + std::to_string(id))["hosts"][0]["state"]; };
  REQUIRE(PostReports(t, "h1", "127.0.1.1", {Report(id, "verifying")}).status == 200);
  CHECK(PostReports(t, "h1", "127.0.1.1", {Report(id, "downloading")}).status == 200);  // ignored, not an error
  CHECK(state() == "verifying");
  REQUIRE(PostReports(t, "h1", "127.0.1.1", {Report(id, "installed")}).status == 200);
  CHECK(PostReports(t, "h1", "127.0.1.1", {Report(id, "downloading")}).status == 200);
  CHECK(PostReports(t, "h1", "127.0.1.1", {Report(id, "failed")}).status == 200);
  CHECK(state() == "installed");
  CHECK(GetJson(t.api + "/pushes/" + std::to_string(id))["state"] == "succeeded");
}

TEST_CASE("a report batch with one unknown push is answered per report and keeps the others' gateway roles") {
  TempDir dir("push-truth");
  auto t = Start(dir, "a", {"--origin-per-rack", "3"});
  std::string hash = Register(t, "1");
  REQUIRE(Poll(t, "h1", "127.0.1.1") == 200);
  int64_t id = Push(t, R"({"artifact":"web@1","hosts":["h1"]})");
  Announce(t, hash, kOrigin, 7000, 0);
  REQUIRE(HasOrigin(Announce(t, hash, "127.0.1.1", 7000, 4096)));
  auto r = PostReports(t, "h1", "127.0.1.1", {Report(id, "downloading"), Report(999, "installed")});
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto j = nlohmann::json::parse(r.body);
  REQUIRE(j["gateways"].size() == 1);
  CHECK(j["gateways"][0]["push_id"] == id);
  REQUIRE(j["refused"].size() == 1);
  CHECK(j["refused"][0]["push_id"] == 999);
  CHECK(j["refused"][0]["error"].get<std::string>().find("999") != std::string::npos);
  CHECK(GetJson(t.api + "/pushes/" + std::to_string(id))["hosts"][0]["state"] == "downloading");
}

}  // namespace
}  // namespace spate
