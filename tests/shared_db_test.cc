// Several control-plane processes on one PostgreSQL database: two real
// `spate tracker` processes and a real postgres (tests/support/postgres.h),
// hosts simulated over HTTP from their own loopback addresses (127.0.R.H).
#include <catch2/catch.hpp>
#include <fstream>
#include <future>
#include <thread>

#include "tests/support/cluster.h"
#include "tests/support/postgres.h"
#include "tests/support/tracker_process.h"
#include "tests/support/web_artifact.h"
#include "wire/api.h"
#include "wire/http.h"

namespace spate {
namespace {

using testing::TempDir;
using namespace std::chrono_literals;
using nlohmann::json;

const char* kToken = "shared-db-token";

using Tracker = testing::TrackerProcess;

Tracker StartTracker(const TempDir& dir, const std::string& tag, const std::string& db) {
  std::ofstream(dir / "rack.map") << "127.0.1.0/24 dc1/pod1/rack1\n127.0.2.0/24 dc1/pod1/rack2\n";
  // One signing key for both: fetchers trust whichever tracker answers.
  return Tracker(dir, tag,
                 {"--db", db, "--key", dir / "tracker.sign.key", "--admin-token", kToken, "--open-reads", "--rackmap",
                  dir / "rack.map", "--announce-interval", "1s"});
}

http::ClientOptions Admin() {
  http::ClientOptions o;
  o.headers = {{"Authorization", "Bearer " + std::string(kToken)}};
  return o;
}

http::ClientOptions From(const std::string& addr, std::chrono::milliseconds timeout = 10s) {
  http::ClientOptions o;
  o.bind_address = addr;
  o.timeout = timeout;
  return o;
}

json GetJson(const std::string& url) {
  auto r = http::Call("GET", url, "");
  REQUIRE(r.ok());
  INFO(url << ": " << r->body);
  REQUIRE(r->status == 200);
  return json::parse(r->body);
}

void Register(const Tracker& t, const std::string& version) {
  testing::Register(t.api, testing::WebRegistration(version), Admin());
}

int64_t CreatePush(const Tracker& t, const json& body) {
  auto r = http::Call("POST", t.api + "/pushes", body.dump(), Admin());
  REQUIRE(r.ok());
  INFO(r->body);
  REQUIRE(r->status == 200);
  return json::parse(r->body)["id"].get<int64_t>();
}

struct Host {
  std::string name, addr;
};

// Catch2's macros are not thread-safe, so the calls that tests make from
// their own threads return what went wrong, and the asserting wrappers below
// check it on the test's thread.
Result<AssignmentList> TryPoll(const Tracker& t, const Host& h, int64_t generation = -1, int wait = 0) {
  auto r = http::Call("GET",
                      t.api + "/hosts/" + h.name + "/assignments?generation=" + std::to_string(generation) +
                          "&wait=" + std::to_string(wait),
                      "", From(h.addr, std::chrono::seconds(wait + 10)));
  if (!r.ok()) return r.status();
  if (r->status != 200) return Status::Unavailable(h.name + " polling " + t.api + ": HTTP " + std::to_string(r->status) + " " + r->body);
  return AssignmentListFromJson(json::parse(r->body));
}

AssignmentList Poll(const Tracker& t, const Host& h, int64_t generation = -1, int wait = 0) {
  auto a = TryPoll(t, h, generation, wait);
  INFO((a.ok() ? "" : a.status().message()));
  REQUIRE(a.ok());
  return *a;
}

// POSTs one report; a refused report is an error: every report must count.
Status TryReport(const Tracker& t, const Host& h, int64_t push_id, const std::string& state) {
  json rep{
      {"push_id", push_id}, {"state", state}, {"bytes_done", state == kStateInstalled ? 4096 : 0}, {"total", 4096}};
  auto r = http::Call("POST", t.api + "/hosts/" + h.name + "/reports", json{{"reports", {rep}}}.dump(), From(h.addr));
  if (!r.ok()) return r.status();
  const std::string what = h.name + " reporting to " + t.api + ": HTTP " + std::to_string(r->status) + " " + r->body;
  if (r->status != 200) return Status::Unavailable(what);
  auto j = json::parse(r->body, nullptr, false);
  if (j.is_discarded() || (j.contains("refused") && !j["refused"].empty())) return Status::Unavailable(what);
  return Status::Ok();
}

void Report(const Tracker& t, const Host& h, int64_t push_id, const std::string& state) {
  Status s = TryReport(t, h, push_id, state);
  INFO(s.message());
  REQUIRE(s.ok());
}

std::vector<Host> Hosts(int n) {
  std::vector<Host> out;
  for (int i = 1; i <= n; ++i)
    out.push_back({"h" + std::to_string(i), "127.0." + std::to_string(1 + (i - 1) % 2) + "." + std::to_string(i)});
  return out;
}

// The hosts' names as a push's "hosts" list.
json Names(const std::vector<Host>& hosts) {
  json names = json::array();
  for (const auto& h : hosts) names.push_back(h.name);
  return names;
}

// Waits until `pred` holds for GET url, up to `timeout`; returns the last answer.
json WaitFor(const std::string& url, const std::function<bool(const json&)>& pred, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  json j;
  while (true) {
    j = GetJson(url);
    if (pred(j) || std::chrono::steady_clock::now() > deadline) return j;
    std::this_thread::sleep_for(50ms);
  }
}

int Count(const json& push, const std::string& state) {
  int n = 0;
  for (const auto& h : push["hosts"]) n += h["state"] == state;
  return n;
}

size_t Occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST_CASE(
    "two trackers on one PostgreSQL: a push created on one shows on the other and wakes a host's long poll there at "
    "once") {
  testing::PostgresServer pg;
  const std::string db = pg.CreateDatabase("shared");
  TempDir dir("shared-db");
  Tracker a = StartTracker(dir, "a", db), b = StartTracker(dir, "b", db);
  Register(a, "1");
  const Host h1{"h1", "127.0.1.1"}, h2{"h2", "127.0.2.2"};
  const int64_t g1 = Poll(b, h1).generation;  // h1 checks in on B,
  Poll(a, h2);                                // h2 on A
  // Each tracker learns the other's bindings: a glob push on A finds h1.
  auto hosts = WaitFor(
      a.api + "/hosts", [](const json& j) { return j.dump().find("127.0.1.1") != std::string::npos; }, 5s);
  INFO(hosts.dump());
  REQUIRE(hosts.dump().find("127.0.1.1") != std::string::npos);

  auto held = std::async(std::launch::async, [&] {
    auto start = std::chrono::steady_clock::now();
    auto l = TryPoll(b, h1, g1, 30);
    return std::make_pair(l, std::chrono::steady_clock::now() - start);
  });
  std::this_thread::sleep_for(500ms);  // the poll is held on B
  const auto created = std::chrono::steady_clock::now();
  const int64_t id = CreatePush(a, {{"artifact", "web@1"}, {"hosts_glob", "h*"}});
  auto [polled, held_for] = held.get();
  INFO((polled.ok() ? "" : polled.status().message()));
  REQUIRE(polled.ok());
  const AssignmentList& list = *polled;
  const auto woke_after =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - created);
  WARN("B answered h1's long poll " << woke_after.count() << " ms after the push was created on A (held "
                                    << std::chrono::duration_cast<std::chrono::milliseconds>(held_for).count()
                                    << " ms, of 30 s)");
  REQUIRE(list.assignments.size() == 1);
  CHECK(list.assignments[0].push_id == id);
  CHECK(list.assignments[0].manifest.id() == "web@1");
  CHECK(list.generation != g1);
  CHECK(woke_after < 2s);

  auto on_b = GetJson(b.api + "/pushes/" + std::to_string(id));
  CHECK(on_b["artifact"] == "web@1");
  CHECK(on_b["hosts"].size() == 2);
  CHECK(GetJson(b.api + "/pushes")["pushes"].size() == 1);
  // A poll on B for h2, bound on A, is served (same address), and one from elsewhere is not.
  CHECK(Poll(b, h2).assignments.size() == 1);
  auto stolen = http::Call("GET", b.api + "/hosts/h2/assignments?generation=-1&wait=0", "", From("127.0.2.99"));
  REQUIRE(stolen.ok());
  CHECK(stolen->status == 403);
}

TEST_CASE("two trackers on one PostgreSQL: reports sent to both for different hosts are all counted on both") {
  testing::PostgresServer pg;
  const std::string db = pg.CreateDatabase("reports");
  TempDir dir("shared-db");
  Tracker a = StartTracker(dir, "a", db), b = StartTracker(dir, "b", db);
  Register(b, "1");
  auto hosts = Hosts(16);
  auto tracker_of = [&](size_t i) -> const Tracker& { return i % 2 ? b : a; };
  for (size_t i = 0; i < hosts.size(); ++i) Poll(tracker_of(i), hosts[i]);
  const int64_t id = CreatePush(a, {{"artifact", "web@1"}, {"hosts", Names(hosts)}});
  // Every host reports at once, each to its own tracker, right after the push
  // was created on A: B takes reports for a push it may not have followed yet.
  std::vector<std::thread> threads;
  std::vector<Status> sent(hosts.size());
  for (size_t i = 0; i < hosts.size(); ++i)
    threads.emplace_back([&, i] {
      sent[i] = TryReport(tracker_of(i), hosts[i], id, kStateDownloading);
      if (sent[i].ok()) sent[i] = TryReport(tracker_of(i), hosts[i], id, kStateInstalled);
    });
  for (auto& t : threads) t.join();
  for (const Status& s : sent) {
    INFO(s.message());
    REQUIRE(s.ok());
  }
  const std::string path = "/pushes/" + std::to_string(id);
  for (const Tracker* t : {&a, &b}) {
    auto p = WaitFor(
        t->api + path, [](const json& j) { return j["state"] == "succeeded"; }, 5s);
    INFO(t->tag() << ": " << p.dump());
    CHECK(Count(p, kStateInstalled) == 16);
    CHECK(p["state"] == "succeeded");
  }
}

TEST_CASE("control-plane restart mid-push on PostgreSQL: no report is lost, waves open once, the history stays") {
  testing::PostgresServer pg;
  const std::string db = pg.CreateDatabase("restart");
  TempDir dir("shared-db");
  Tracker a = StartTracker(dir, "a", db), b = StartTracker(dir, "b", db);
  Register(a, "1");
  Register(a, "2");
  auto hosts = Hosts(8);
  // Hosts 1-4 talk to A, 5-8 to B; while A is down, A's hosts fail over to B.
  bool a_down = false;
  auto tracker_of = [&](size_t i) -> const Tracker& { return i < 4 && !a_down ? a : b; };
  for (size_t i = 0; i < hosts.size(); ++i) Poll(tracker_of(i), hosts[i]);
  const json names = Names(hosts);

  // One round of every host: poll, then report what the assignment allows.
  auto round = [&](int64_t id) {
    for (size_t i = 0; i < hosts.size(); ++i) {
      const Tracker& t = tracker_of(i);
      for (const auto& asg : Poll(t, hosts[i]).assignments)
        if (asg.push_id == id) Report(t, hosts[i], id, asg.activate ? kStateInstalled : kStateStaged);
    }
  };
  auto run_until = [&](int64_t id, const std::function<bool(const json&)>& done, std::chrono::seconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    json p;
    while (std::chrono::steady_clock::now() < deadline) {
      round(id);
      p = GetJson(b.api + "/pushes/" + std::to_string(id));
      if (done(p)) return p;
      std::this_thread::sleep_for(100ms);
    }
    return p;
  };

  // The history: push 1 to all, done.
  const int64_t first = CreatePush(a, {{"artifact", "web@1"}, {"hosts", names}});
  auto p1 = run_until(
      first, [](const json& j) { return j["state"] == "succeeded"; }, 20s);
  REQUIRE(p1["state"] == "succeeded");

  // Push 2 in waves 1, 50%, 100%. Once the canary wave is done, A is killed.
  const int64_t second = CreatePush(a, {{"artifact", "web@2"}, {"hosts", names}, {"waves", "1,50%,100%"}});
  auto p2 = run_until(
      second, [](const json& j) { return Count(j, kStateInstalled) >= 1; }, 20s);
  REQUIRE(Count(p2, kStateInstalled) >= 1);
  a.proc->Kill();
  a_down = true;
  p2 = run_until(
      second, [](const json& j) { return Count(j, kStateInstalled) >= 4; }, 20s);
  REQUIRE(Count(p2, kStateInstalled) >= 4);
  a.Restart();
  a_down = false;
  p2 = run_until(
      second, [](const json& j) { return j["state"] == "succeeded"; }, 30s);
  INFO(p2.dump());
  REQUIRE(p2["state"] == "succeeded");

  // Both trackers, the restarted one too, hold every outcome and the history.
  for (const Tracker* t : {&a, &b}) {
    auto now2 = WaitFor(
        t->api + "/pushes/" + std::to_string(second), [](const json& j) { return j["state"] == "succeeded"; }, 5s);
    INFO(t->tag() << ": " << now2.dump());
    CHECK(Count(now2, kStateInstalled) == 8);
    CHECK(now2["wave"] == 2);
    auto now1 = GetJson(t->api + "/pushes/" + std::to_string(first));
    CHECK(now1["state"] == "succeeded");
    CHECK(Count(now1, kStateInstalled) == 8);
    auto list = GetJson(t->api + "/pushes");
    CHECK(list["pushes"].size() == 2);
  }
  // Each wave opened on exactly one tracker, once.
  const std::string logs = a.proc->Log() + b.proc->Log();
  CHECK(Occurrences(logs, "push " + std::to_string(second) + ": wave 2/3 activating") == 1);
  CHECK(Occurrences(logs, "push " + std::to_string(second) + ": wave 3/3 activating") == 1);
}

TEST_CASE("two trackers ride out a PostgreSQL restart: they reconnect, write again and follow each other again") {
  testing::PostgresServer pg;
  const std::string db = pg.CreateDatabase("outage");
  TempDir dir("shared-db");
  Tracker a = StartTracker(dir, "a", db), b = StartTracker(dir, "b", db);
  Register(a, "1");
  const Host h1{"h1", "127.0.1.1"};
  Poll(b, h1);
  pg.Stop();
  std::this_thread::sleep_for(1500ms);  // both notice: their listeners see the connection close
  pg.Start();
  // The first write after the restart reconnects and succeeds.
  const int64_t id = CreatePush(a, {{"artifact", "web@1"}, {"hosts", {"h1"}}});
  // B's listener reconnects (at most every 3 s), reads everything back and serves the push.
  auto start = std::chrono::steady_clock::now();
  bool served = false;
  while (!served && std::chrono::steady_clock::now() - start < 10s) {
    for (const auto& asg : Poll(b, h1).assignments) served = served || asg.push_id == id;
    if (!served) std::this_thread::sleep_for(100ms);
  }
  WARN("B served the push made after the restart "
       << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count()
       << " ms after it was created");
  CHECK(served);
  // And notices flow again: a report on B reaches A.
  Report(b, h1, id, kStateInstalled);
  auto on_a = WaitFor(
      a.api + "/pushes/" + std::to_string(id), [](const json& j) { return j["state"] == "succeeded"; }, 5s);
  CHECK(on_a["state"] == "succeeded");
  CHECK(b.proc->Log().find("reading all push state back") != std::string::npos);
}

}  // namespace
}  // namespace spate
