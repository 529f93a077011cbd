// Least-privilege roles and host identity (wire/auth.h), on real daemons on
// loopback: which token opens which endpoint of the tracker and the seeder,
// hosts that try to speak for another host, enrolment, and secret files.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>

#include "tests/support/spate_cluster.h"
#include "tests/support/tracker_process.h"
#include "tests/support/web_artifact.h"
#include "wire/api.h"
#include "wire/auth.h"
#include "wire/http.h"

using namespace spate;
using namespace spate::testing;
using namespace std::chrono_literals;
using auth::Role;
namespace fs = std::filesystem;

namespace {

// Fake hosts: requests bound to their own address, carrying their own token.
const char* kHostA = "hA";
const char* kAddrA = "127.0.1.8";
const char* kHostB = "hB";
const char* kAddrB = "127.0.2.8";

std::string HostTokenOf(const std::string& host) { return auth::HostToken(SpateCluster::kHostSecret, host); }

// One request; `token` empty sends no Authorization header.
http::ClientResult Call(const std::string& method, const std::string& url, const std::string& body,
                        const std::string& token, const std::string& from = "") {
  http::ClientOptions o;
  o.bind_address = from;
  if (!token.empty()) o.headers = {{"Authorization", "Bearer " + token}};
  auto r = http::Call(method, url, body, o);
  REQUIRE(r.ok());
  return *r;
}

nlohmann::json Json(const http::ClientResult& r) {
  INFO(r.body);
  REQUIRE(r.status / 100 == 2);
  return nlohmann::json::parse(r.body);
}

std::string Registration(const std::string& version) {
  return ToJson(WebRegistration(version, 'b', "127.0.0.2")).dump();
}

std::string Reports(int64_t push_id, const std::string& state) {
  return nlohmann::json{{"reports", {{{"push_id", push_id}, {"state", state}, {"bytes_done", 0}, {"total", 4096}}}}}
      .dump();
}

std::string PollPath(const std::string& host) { return "/api/v1/hosts/" + host + "/assignments?generation=-1&wait=0"; }

// A file only its owner may read, as the daemons want secrets.
std::string Private(const TempDir& dir, const std::string& name, const std::string& text, fs::perms perms) {
  std::string p = dir / name;
  std::ofstream(p) << text;
  fs::permissions(p, perms, fs::perm_options::replace);
  return p;
}
constexpr fs::perms kOwnerOnly = fs::perms::owner_read | fs::perms::owner_write;
constexpr fs::perms kWorldReadable = kOwnerOnly | fs::perms::group_read | fs::perms::others_read;

// THE ROLE TABLE. One row per control endpoint, in the order the walk calls
// them (a row's right-role call may need the state earlier rows made).
// `need` empty: the endpoint is open to anyone.
struct Row {
  enum Daemon { kTracker, kSeeder } daemon;
  std::string method, path;
  std::optional<Role> need;
  int want;  // the answer to the right token
  std::function<std::string()> body;
  std::string host, from;  // host endpoints: whose, and from which address
};

}  // namespace

TEST_CASE("role table: every control endpoint of the tracker and the seeder answers 401 without a token, 403 to the wrong role and 2xx to the right one") {
  TempDir dir("spate-roles");
  SpateCluster c(dir);
  c.StartSeeder();
  const std::string reg = SpateCluster::kRegisterToken, push = SpateCluster::kPushToken,
                    read = SpateCluster::kReadToken, upload = SpateCluster::kUploadToken;

  // State for the rows to act on: artifacts, two hosts, a push hB installed,
  // and a push in waves held after its canary failed.
  const std::string t = c.tracker;
  Json(Call("POST", t + "/api/v1/artifacts", Registration("1"), reg));
  Json(Call("POST", t + "/api/v1/artifacts", Registration("2"), reg));
  Json(Call("GET", t + PollPath(kHostA), "", HostTokenOf(kHostA), kAddrA));
  Json(Call("GET", t + PollPath(kHostB), "", HostTokenOf(kHostB), kAddrB));
  auto first = Json(Call("POST", t + "/api/v1/pushes", R"({"artifact":"web@2","hosts":["hB"]})", push));
  REQUIRE(first["id"] == 1);
  Json(Call("POST", t + "/api/v1/hosts/hB/reports", Reports(1, "installed"), HostTokenOf(kHostB), kAddrB));
  auto waved = Json(Call("POST", t + "/api/v1/pushes",
                         R"({"artifact":"web@1","hosts":["hA","hB"],"waves":"1,100%"})", push));
  REQUIRE(waved["id"] == 2);
  std::string canary;
  for (const auto& h : waved["hosts"])
    if (h["wave"] == 0) canary = h["host"];
  REQUIRE(!canary.empty());
  Json(Call("POST", t + "/api/v1/hosts/" + canary + "/reports", Reports(2, "failed"), HostTokenOf(canary),
            canary == kHostA ? kAddrA : kAddrB));
  REQUIRE(Json(Call("GET", t + "/api/v1/pushes/2", "", read))["state"] == "paused");

  const auto none = [] { return std::string(); };
  const std::vector<Row> table = {
      {Row::kTracker, "POST", "/api/v1/artifacts", Role::kRegister, 200, [] { return Registration("3"); }},
      {Row::kTracker, "GET", "/api/v1/artifacts", Role::kRead, 200, none},
      {Row::kTracker, "POST", "/api/v1/pushes", Role::kPush, 200, [] { return R"({"artifact":"web@3","hosts":["hA"]})"; }},
      {Row::kTracker, "GET", "/api/v1/pushes", Role::kRead, 200, none},
      {Row::kTracker, "GET", "/api/v1/pushes/2", Role::kRead, 200, none},
      {Row::kTracker, "GET", "/api/v1/pushes/2?since=1", Role::kRead, 200, none},
      {Row::kTracker, "POST", "/api/v1/pushes/2/resume", Role::kPush, 200, none},
      {Row::kTracker, "POST", "/api/v1/pushes/3/cancel", Role::kPush, 200, [] { return R"({"rollback":false})"; }},
      {Row::kTracker, "POST", "/api/v1/rollbacks", Role::kPush, 200, [] { return R"({"name":"web","to":"1"})"; }},
      {Row::kTracker, "POST", "/api/v1/hosts/hA/move", Role::kPush, 200, [] { return R"({"addr":"127.0.1.8"})"; }},
      {Row::kTracker, "GET", "/api/v1/fleet", Role::kRead, 200, none},
      {Row::kTracker, "GET", "/api/v1/hosts", Role::kRead, 200, none},
      {Row::kTracker, "GET", "/stats", Role::kRead, 200, none},
      {Row::kTracker, "GET", "/metrics", Role::kRead, 200, none},
      {Row::kTracker, "GET", PollPath(kHostA), Role::kHost, 200, none, kHostA, kAddrA},
      {Row::kTracker, "POST", "/api/v1/hosts/hA/reports", Role::kHost, 200, [] { return Reports(3, "downloading"); },
       kHostA, kAddrA},
      // The dashboard's pages hold no data; what they show comes from the read calls above.
      {Row::kTracker, "GET", "/", std::nullopt, 200, none},
      {Row::kTracker, "GET", "/fleet", std::nullopt, 200, none},
      {Row::kTracker, "GET", "/pushes/2", std::nullopt, 200, none},
      {Row::kTracker, "GET", "/static/app.js", std::nullopt, 200, none},
      {Row::kSeeder, "PUT", "/api/v1/artifacts/app/1.0?filename=app.bin", Role::kUpload, 201,
       [] { return std::string(100000, 'x'); }},
      {Row::kSeeder, "GET", "/api/v1/artifacts", Role::kRead, 200, none},
      {Row::kSeeder, "GET", "/api/v1/artifacts/app/1.0", Role::kRead, 200, none},
      {Row::kSeeder, "GET", "/api/v1/artifacts/app/1.0/torrent", Role::kRead, 200, none},
      {Row::kSeeder, "GET", "/api/v1/status", Role::kRead, 200, none},
      {Row::kSeeder, "GET", "/metrics", Role::kRead, 200, none},
      // Fetchers are configured with this key anyway: it is no secret.
      {Row::kSeeder, "GET", "/api/v1/pubkey", std::nullopt, 200, none},
  };
  // The tokens each daemon knows, by role. A token a daemon does not know is
  // a stranger's there (401), like a host token outside its host's endpoints.
  const std::map<Role, std::string> tracker_tokens = {
      {Role::kRegister, reg}, {Role::kPush, push}, {Role::kRead, read}};
  const std::map<Role, std::string> seeder_tokens = {{Role::kUpload, upload}, {Role::kRead, read}};

  for (const Row& row : table) {
    const bool at_tracker = row.daemon == Row::kTracker;
    const std::string url = (at_tracker ? c.tracker : c.seeder) + row.path;
    const auto& known = at_tracker ? tracker_tokens : seeder_tokens;
    auto call = [&](const std::string& token) { return Call(row.method, url, row.body(), token, row.from); };
    INFO(row.method << " " << row.path);
    if (!row.need) {
      CHECK(call("").status == row.want);
      continue;
    }
    CHECK(call("").status == 401);
    if (*row.need == Role::kHost) {
      // Nobody's token but the host's own: no role's, not another host's.
      for (const auto& [role, token] : known) {
        INFO("with the " << auth::RoleName(role) << " token");
        CHECK(call(token).status == 403);
      }
      CHECK(call(HostTokenOf(kHostB)).status == 403);
      CHECK(call("not-a-token").status == 403);
      CHECK(call(HostTokenOf(row.host)).status == row.want);
      continue;
    }
    CHECK(call("not-a-token").status == 401);
    CHECK(call(HostTokenOf(kHostA)).status == 401);
    for (const auto& [role, token] : known) {
      if (role == *row.need || (*row.need == Role::kRead && role == Role::kPush)) continue;
      INFO("with the " << auth::RoleName(role) << " token");
      CHECK(call(token).status == 403);
    }
    auto right = call(known.at(*row.need));
    INFO(right.body);
    CHECK(right.status == row.want);
    if (*row.need == Role::kRead && at_tracker) CHECK(call(push).status == row.want);  // a push token may read
  }

  // Refusals changed nothing: the table's POST /pushes made push 3 and the rollback push 4, once each.
  auto list = Json(Call("GET", c.tracker + "/api/v1/pushes", "", read));
  std::set<int64_t> ids;
  for (const auto& p : list["pushes"]) ids.insert(p["id"].get<int64_t>());
  CHECK(ids == std::set<int64_t>{1, 2, 3, 4});
  CHECK(Json(Call("GET", c.tracker + "/api/v1/hosts", "", read))["hosts"].size() == 2);

  // Each refusal was logged with the caller's address and counted; no secret was logged.
  auto stats = Json(Call("GET", c.tracker + "/stats", "", read));
  INFO(stats["control_refused"].dump());
  CHECK(stats["control_refused"]["register"] == 5);  // no token, unknown, host, push, read
  CHECK(stats["control_refused"]["push"].get<int>() == 5 * 5);
  CHECK(stats["control_refused"]["read"].get<int>() == 8 * 4);
  CHECK(stats["control_refused"]["poll"].get<int>() == 6);
  CHECK(stats["control_refused"]["report"].get<int>() == 6);
  const std::string tracker_log = c.tracker_proc->Log(), seeder_log = c.seeder_proc->Log();
  CHECK_THAT(tracker_log,
             Catch::Contains("refused POST /api/v1/pushes from 127.0.0.1: this needs the push role; the token given is a read token"));
  CHECK_THAT(tracker_log, Catch::Contains("refused poll for host hA from 127.0.1.8: the token is not host hA's"));
  CHECK_THAT(seeder_log, Catch::Contains("refused GET /api/v1/status from 127.0.0."));
  for (const std::string& secret : {reg, push, read, upload, std::string(SpateCluster::kHostSecret),
                                    HostTokenOf(kHostA), HostTokenOf(kHostB)}) {
    CHECK(tracker_log.find(secret) == std::string::npos);
    CHECK(seeder_log.find(secret) == std::string::npos);
  }
}

TEST_CASE("spoofed host: a report for host A with host B's token is refused, counted, and A is never installed") {
  TempDir dir("spate-spoof");
  SpateCluster c(dir);
  const std::string api = c.tracker + "/api/v1";
  Json(Call("POST", api + "/artifacts", Registration("1"), SpateCluster::kRegisterToken));
  Json(Call("GET", c.tracker + PollPath(kHostA), "", HostTokenOf(kHostA), kAddrA));
  Json(Call("GET", c.tracker + PollPath(kHostB), "", HostTokenOf(kHostB), kAddrB));
  auto p = Json(Call("POST", api + "/pushes", R"({"artifact":"web@1","hosts":["hA","hB"]})", SpateCluster::kPushToken));
  const int64_t id = p["id"];

  // B, holding only its own token, claims A installed: from A's address, from its own.
  CHECK(Call("POST", api + "/hosts/hA/reports", Reports(id, "installed"), HostTokenOf(kHostB), kAddrA).status == 403);
  CHECK(Call("POST", api + "/hosts/hA/reports", Reports(id, "installed"), HostTokenOf(kHostB), kAddrB).status == 403);
  // Nor may it read A's assignments.
  CHECK(Call("GET", c.tracker + PollPath(kHostA), "", HostTokenOf(kHostB), kAddrB).status == 403);
  // A's own token is not enough from elsewhere: the address binding still holds.
  CHECK(Call("POST", api + "/hosts/hA/reports", Reports(id, "installed"), HostTokenOf(kHostA), kAddrB).status == 403);
  Json(Call("POST", api + "/hosts/hB/reports", Reports(id, "installed"), HostTokenOf(kHostB), kAddrB));

  auto record = Json(Call("GET", api + "/pushes/" + std::to_string(id), "", SpateCluster::kReadToken));
  CHECK(record["state"] == "active");
  for (const auto& h : record["hosts"])
    CHECK(h["state"] == (h["host"] == kHostA ? "pending" : "installed"));
  auto metrics = Call("GET", c.tracker + "/metrics", "", SpateCluster::kReadToken);
  CHECK_THAT(metrics.body, Catch::Contains("spate_tracker_control_refused_total{request=\"report\"} 3\n"));
  CHECK_THAT(metrics.body, Catch::Contains("spate_tracker_control_refused_total{request=\"poll\"} 1\n"));
  CHECK_THAT(c.tracker_proc->Log(),
             Catch::Contains("refused report for host hA from 127.0.1.8: the token is not host hA's"));
  CHECK_THAT(c.tracker_proc->Log(), Catch::Contains("refused report for host hA from 127.0.2.8: the token is not host hA's"));

  // The real A, with its own token from its own address, is believed.
  Json(Call("POST", api + "/hosts/hA/reports", Reports(id, "installed"), HostTokenOf(kHostA), kAddrA));
  CHECK(Json(Call("GET", api + "/pushes/" + std::to_string(id), "", SpateCluster::kReadToken))["state"] == "succeeded");
}

TEST_CASE("enrolment: a host id outside --enrol or an address outside the rackmap cannot check in, so strangers cannot fill the host table") {
  TempDir dir("spate-enrol");
  std::ofstream(dir / "rack.map") << "127.0.1.0/24 dc1/pod1/rack1\n";
  std::string tokens = Private(dir, "tokens", "register r-token\npush p-token\nread q-token\nhost-secret s3cret\n", kOwnerOnly);
  TrackerProcess tracker(dir, "t",
                         {"--db", dir / "t.db", "--rackmap", dir / "rack.map", "--token-file", tokens, "--enrol",
                          "web-*", "--enrol-rackmap"});
  const std::string base = tracker.base;
  auto poll = [&](const std::string& host, const std::string& from) {
    return Call("GET", base + PollPath(host), "", auth::HostToken("s3cret", host), from).status;
  };
  // A valid host token does not make an id welcome: enrolment is its own rule.
  CHECK(poll("db-1", "127.0.1.5") == 403);
  CHECK(poll("web-1", "127.0.7.1") == 403);  // not in the rackmap
  CHECK(poll("web-1", "127.0.1.1") == 200);
  CHECK(poll("web-1", "127.0.1.1") == 200);  // known now: enrolment is for the first check-in only
  auto hosts = Json(Call("GET", base + "/api/v1/hosts", "", "q-token"))["hosts"];
  REQUIRE(hosts.size() == 1);
  CHECK(hosts[0]["host"] == "web-1");
  CHECK_THAT(tracker.proc->Log(),
             Catch::Contains("refused poll for host db-1 from 127.0.1.5: host id db-1 may not enrol: it "
                             "does not match 'web-*' (--enrol)"));
  CHECK_THAT(tracker.proc->Log(), Catch::Contains("host web-1 may not enrol from 127.0.7.1: the address is not in the "
                                                  "rackmap (--enrol-rackmap)"));
  auto metrics = Call("GET", base + "/metrics", "", "q-token");
  CHECK_THAT(metrics.body, Catch::Contains("spate_tracker_control_refused_total{request=\"poll\"} 2\n"));
}

TEST_CASE("secret files readable by group or other are refused at startup by every command, with the mode and the fix") {
  TempDir dir("spate-secret-mode");
  std::string open_tokens = Private(dir, "tokens", "register r\npush p\n", kWorldReadable);
  std::string open_token = Private(dir, "token", "p\n", kWorldReadable);
  auto expect_refused = [&](const std::vector<std::string>& argv, const std::string& file) {
    auto r = Run(argv, 20s, {"SPATE_ADMIN_TOKEN=", "SPATE_PUSH_TOKEN=", "SPATE_READ_TOKEN="});
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains(file + " is readable or writable by group or other (mode 0644); run chmod 600 " + file));
  };
  expect_refused({SpateBinary(), "tracker", "--listen", "127.0.0.1:0", "--db", dir / "t.db", "--token-file", open_tokens},
                 open_tokens);
  expect_refused({SpateBinary(), "fetcher", "--bind", "127.0.0.1", "--tracker", "http://127.0.0.1:1", "--data-dir",
                  dir / "f", "--install-dir", dir / "i", "--trusted-key", dir / "k.pub", "--host-token-file", open_token},
                 open_token);
  expect_refused({SpateBinary(), "seeder", "--data-dir", dir / "s", "--tracker", "http://127.0.0.1:1", "--upload-token",
                  "u", "--read-token-file", open_token},
                 open_token);
  expect_refused({SpateBinary(), "pushes", "--tracker", "http://127.0.0.1:1", "--token-file", open_token}, open_token);
  expect_refused({SpateBinary(), "host-token", "h1", "--secret-file", open_token}, open_token);

  // Contradictions in the access flags are usage errors too.
  std::string tokens = Private(dir, "tokens-ok", "register r\npush p\nread q\n", kOwnerOnly);
  auto both = Run({SpateBinary(), "tracker", "--listen", "127.0.0.1:0", "--db", dir / "t.db", "--token-file", tokens,
                   "--admin-token", "a"},
                  20s);
  CHECK(both.exit_code == 2);
  CHECK_THAT(both.output, Catch::Contains("--token-file and --admin-token both given"));
  auto open = Run({SpateBinary(), "tracker", "--listen", "127.0.0.1:0", "--db", dir / "t.db", "--token-file", tokens,
                   "--open-reads"},
                  20s);
  CHECK(open.exit_code == 2);
  CHECK_THAT(open.output, Catch::Contains("--open-reads contradicts the read token"));
}

TEST_CASE("one admin token still serves register and push, with reads open and a warning for each") {
  TempDir dir("spate-admin-token");
  TrackerProcess tracker(dir, "t", {"--db", dir / "t.db"}, {"SPATE_ADMIN_TOKEN=old-admin"});
  const std::string base = tracker.base;
  CHECK(Call("POST", base + "/api/v1/artifacts", Registration("1"), "old-admin").status == 200);
  CHECK(Call("POST", base + "/api/v1/pushes", R"({"artifact":"web@1","hosts":["h1"]})", "old-admin").status == 200);
  CHECK(Call("GET", base + "/api/v1/pushes", "", "").status == 200);
  CHECK(Call("GET", base + "/stats", "", "").status == 200);
  // Without a host secret a host is known by its address alone, as before.
  CHECK(Call("GET", base + PollPath("h1"), "", "", "127.0.1.1").status == 200);
  CHECK_THAT(tracker.proc->Log(), Catch::Contains("one admin token serves two roles"));
  CHECK_THAT(tracker.proc->Log(),
             Catch::Contains("reads (pushes, fleet, hosts, artifacts, /stats, /metrics) are open"));
  CHECK_THAT(tracker.proc->Log(), Catch::Contains("no host-secret"));
}

TEST_CASE("the CLI reads with the read token, pushes only with the push token, and spate host-token prints the HMAC") {
  TempDir dir("spate-cli-tokens");
  SpateCluster c(dir);
  Json(Call("POST", c.tracker + "/api/v1/artifacts", Registration("1"), SpateCluster::kRegisterToken));
  const std::vector<std::string> only_read = {std::string("SPATE_READ_TOKEN=") + SpateCluster::kReadToken,
                                              "SPATE_PUSH_TOKEN=", "SPATE_ADMIN_TOKEN="};
  auto pushes = Run({SpateBinary(), "pushes", "--tracker", c.tracker}, 20s, only_read);
  INFO(pushes.output);
  CHECK(pushes.exit_code == 0);
  auto denied = Run({SpateBinary(), "push", "web@1", "--tracker", c.tracker, "--timeout", "5s"}, 20s, only_read);
  INFO(denied.output);
  CHECK(denied.exit_code == 1);
  CHECK_THAT(denied.output, Catch::Contains("tracker answered 401"));
  // The read token presented to a push endpoint: a known token, the wrong role.
  std::string read_file = Private(dir, "read.token", std::string(SpateCluster::kReadToken) + "\n", kOwnerOnly);
  auto wrong_role = Run({SpateBinary(), "push", "web@1", "--tracker", c.tracker, "--token-file", read_file}, 20s,
                        only_read);
  INFO(wrong_role.output);
  CHECK(wrong_role.exit_code == 1);
  CHECK_THAT(wrong_role.output, Catch::Contains("tracker answered 403: this needs the push role; the token given is a read token"));
  CHECK(Run({SpateBinary(), "fleet", "--tracker", c.tracker, "--token-file", read_file}, 20s, {"SPATE_READ_TOKEN="})
            .exit_code == 0);

  // Provisioning: from the host secret alone, or from the tracker's own token file.
  std::string secret = Private(dir, "host.secret", std::string(SpateCluster::kHostSecret) + "\n", kOwnerOnly);
  auto tok = Run({SpateBinary(), "host-token", "r1h1", "--secret-file", secret}, 20s);
  CHECK(tok.exit_code == 0);
  CHECK(tok.output == HostTokenOf("r1h1") + "\n");
  auto from_tokens = Run({SpateBinary(), "host-token", "r1h1", "--secret-file", dir / "tracker.tokens"}, 20s);
  CHECK(from_tokens.output == HostTokenOf("r1h1") + "\n");
}
