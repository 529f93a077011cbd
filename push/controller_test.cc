// The push controller's rules as plain units: a fake clock, a fake swarm side
// and a real SQLite store in a temp file; no sockets.
#include "push/controller.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <random>
#include <sstream>
#include <spdlog/spdlog.h>

#include "push/host_state.h"
#include "wire/crypto.h"

namespace spate::push {
namespace {

namespace fs = std::filesystem;

const char* kRackmap = "127.0.1.0/24 dc1/pod1/rack1\n127.0.2.0/24 dc1/pod1/rack2\n127.0.3.0/24 dc1/pod1/rack3\n";

struct FakeSwarms : Swarms {
  std::map<std::string, std::string> served;  // info_hash -> artifact
  std::optional<GatewayShare> share;
  Status Serve(const std::string& artifact, const std::string& hash, uint64_t, const std::string&) override {
    served[hash] = artifact;
    return Status::Ok();
  }
  std::optional<GatewayShare> GatewayOf(const std::string&, const std::string&) const override { return share; }
};

// A controller over N hosts h<rack><i> at 127.0.<rack>.<i>, three racks.
struct Fixture {
  fs::path db;
  Rackmap rackmap = *Rackmap::Parse(kRackmap, "test");
  FakeSwarms swarms;
  int64_t now = 1'700'000'000'000;
  std::unique_ptr<Controller> c;
  std::vector<std::string> hosts;
  std::function<std::string(const std::string&)> sign;  // ControllerOptions::sign from the next Open()

  explicit Fixture(int per_rack = 2) {
    spdlog::set_level(spdlog::level::err);  // the random walk logs thousands of transitions
    static int n = 0;
    db = fs::temp_directory_path() / ("spate-controller-" + std::to_string(::getpid()) + "-" + std::to_string(++n) + ".db");
    Remove();
    Open();
    for (int r = 1; r <= 3; ++r)
      for (int i = 1; i <= per_rack; ++i) {
        std::string h = "h" + std::to_string(r) + std::to_string(i);
        REQUIRE(c->CheckIn(h, "127.0." + std::to_string(r) + "." + std::to_string(i)).ok());
        hosts.push_back(h);
      }
    for (const char* v : {"1", "2", "3"}) Register(v);
  }
  ~Fixture() {
    c.reset();
    Remove();
  }
  void Remove() {
    for (const char* s : {"", "-wal", "-shm"}) fs::remove(db.string() + s);
  }
  void Open() {
    ControllerOptions o;
    o.now_ms = [this] { return now; };
    o.sign = sign;
    auto store = Store::Open(db.string());
    REQUIRE(store.ok());
    c = std::make_unique<Controller>(o, std::move(*store), rackmap, swarms);
    REQUIRE(c->Load().ok());
  }
  // A throwaway assignment-signing key; its file is gone once loaded.
  SigningKey TrackerKey() {
    fs::path file = db.string() + ".key";
    auto key = SigningKey::LoadOrCreate(file.string());
    REQUIRE(key.ok());
    fs::remove(file);
    return *key;
  }
  // Reopens the controller signing with `key`, each signing counted in *signs.
  void SignCounting(const SigningKey& key, int* signs) {
    sign = [key, signs](const std::string& bytes) {
      ++*signs;
      return *key.Sign(bytes);
    };
    Reopen();
  }
  // A restart: everything the controller knows comes back from the store.
  void Reopen() {
    REQUIRE(c->Flush().ok());
    c.reset();
    Open();
  }
  void Register(const std::string& v) {
    ArtifactRegistration r;
    r.manifest.name = "web";
    r.manifest.version = v;
    r.manifest.filename = "web.tar";
    r.manifest.size = 1000;
    r.manifest.sha256 = std::string(64, '0');
    r.manifest.info_hash = std::string(39, 'a') + v;
    r.manifest.piece_size = 16384;
    r.manifest.signature = "c2ln";
    REQUIRE(c->RegisterArtifact(r).ok());
  }
  int64_t Start(const std::string& version, const std::string& waves = "", const std::string& budget = "0",
               int64_t pause_ms = 0) {
    PushRequest r;
    r.artifact = "web@" + version;
    r.waves = waves;
    r.max_failures = budget;
    r.wave_pause_ms = pause_ms;
    auto p = c->CreatePush(r);
    REQUIRE(p.ok());
    return p->id;
  }
  void Report(const std::string& host, int64_t id, const char* state, const std::string& error = "") {
    HostReport r;
    r.push_id = id;
    r.state = state;
    r.error = error;
    auto a = c->Reports(host, {r});
    REQUIRE(a.ok());
    REQUIRE(a->refused.empty());
  }
  const Push& P(int64_t id) { return *c->FindPush(id); }
  const HostProgress& Row(int64_t id, const std::string& host) {
    const Push& p = P(id);
    return p.rec.hosts[p.index.at(host)];
  }
  // The assignment of push `id` the host sees now; nullopt when withdrawn.
  std::optional<Assignment> Assigned(const std::string& host, int64_t id) {
    for (const auto& a : c->AssignmentsFor(host).assignments)
      if (a.push_id == id) return a;
    return std::nullopt;
  }
  std::vector<std::string> InWave(int64_t id, int wave) {
    std::vector<std::string> out;
    for (const auto& h : P(id).rec.hosts)
      if (h.wave == wave) out.push_back(h.host);
    return out;
  }
};

TEST_CASE("without waves every host activates at once, as before") {
  Fixture f;
  int64_t id = f.Start("1");
  CHECK(f.P(id).waves() == 1);
  for (const auto& h : f.hosts) {
    auto a = f.Assigned(h, id);
    REQUIRE(a);
    CHECK(a->activate);
  }
  for (const auto& h : f.hosts) f.Report(h, id, kStateInstalled);
  CHECK(f.P(id).status() == PushStatus::kSucceeded);
}

TEST_CASE("every assignment is signed for its host over what it asks: push id, artifact, activate and kind") {
  Fixture f;
  auto key = f.TrackerKey();
  auto pub = *VerifyKey::FromPem(key.PublicKeyPem());
  CHECK(f.Assigned("h11", f.Start("1"))->signature.empty());  // no signer: unsigned, as before
  f.sign = [&key](const std::string& bytes) { return *key.Sign(bytes); };
  f.Reopen();

  int64_t id = f.Start("2", "1,100%");
  std::string canary = f.InWave(id, 0).at(0), later = f.InWave(id, 1).at(0);
  auto a = f.Assigned(canary, id);
  REQUIRE(a);
  CHECK(a->kind == "push");
  CHECK(a->activate);
  CHECK(VerifyAssignment(*a, canary, pub).ok());
  CHECK_FALSE(VerifyAssignment(*a, later, pub).ok());  // one host's assignment is no good to another
  // The later wave's distribute-only assignment: turning on activate breaks it.
  auto b = f.Assigned(later, id);
  REQUIRE(b);
  CHECK_FALSE(b->activate);
  CHECK(VerifyAssignment(*b, later, pub).ok());
  b->activate = true;
  CHECK_FALSE(VerifyAssignment(*b, later, pub).ok());
  // Once the canary is healthy the next wave's answer is signed afresh with activate.
  f.Report(canary, id, kStateInstalled);
  f.c->Tick();
  auto c = f.Assigned(later, id);
  REQUIRE(c);
  CHECK(c->activate);
  CHECK(VerifyAssignment(*c, later, pub).ok());

  for (const auto& h : f.hosts) f.Report(h, id, kStateInstalled);
  RollbackRequest r;
  r.name = "web";
  r.to = "1";
  auto rb = f.c->Rollback(r);
  REQUIRE(rb.ok());
  auto back = f.Assigned(canary, rb->id);
  REQUIRE(back);
  CHECK(back->kind == "rollback");
  CHECK(back->manifest.version == "1");
  CHECK(VerifyAssignment(*back, canary, pub).ok());
}

TEST_CASE("an unchanged assignment is not signed again, a changed one is") {
  Fixture f;
  auto key = f.TrackerKey();
  auto pub = *VerifyKey::FromPem(key.PublicKeyPem());
  int signs = 0;
  f.SignCounting(key, &signs);
  int64_t id = f.Start("2", "1,100%");
  std::string canary = f.InWave(id, 0).at(0), later = f.InWave(id, 1).at(0);
  auto first = f.Assigned(later, id);
  REQUIRE(first);
  CHECK(first->proof.empty());  // one host alone: signed as before batches
  const int after_first = signs;
  CHECK(after_first == 1);
  for (int i = 0; i < 3; ++i) {  // a timed-out long poll, a reconnect: the same bytes
    auto again = f.Assigned(later, id);
    REQUIRE(again);
    CHECK(again->signature == first->signature);
  }
  CHECK(signs == after_first);
  // The next wave opens: activate changes, so the bytes do, and a new signature is made.
  f.Report(canary, id, kStateInstalled);
  f.c->Tick();
  auto opened = f.Assigned(later, id);
  REQUIRE(opened);
  CHECK(opened->activate);
  CHECK(signs == after_first + 1);
  CHECK(VerifyAssignment(*opened, later, pub).ok());
  // Another host's signature is never handed over: each host signs its own.
  auto other = f.Assigned(canary, id);
  REQUIRE(other);
  CHECK(VerifyAssignment(*other, canary, pub).ok());
  CHECK(other->signature != opened->signature);
}

TEST_CASE("hosts answered together share one signature, each bound to its host by its proof") {
  Fixture f;  // 6 hosts over 3 racks
  auto key = f.TrackerKey();
  auto pub = *VerifyKey::FromPem(key.PublicKeyPem());
  int signs = 0;
  f.SignCounting(key, &signs);
  int64_t id = f.Start("2", "1,100%");
  const std::string canary = f.InWave(id, 0).at(0);
  auto lists = f.c->AssignmentsFor(f.hosts);
  CHECK(signs == 1);
  REQUIRE(lists.size() == f.hosts.size());
  for (size_t i = 0; i < f.hosts.size(); ++i) {
    INFO(f.hosts[i]);
    REQUIRE(lists[i].assignments.size() == 1);
    const Assignment& a = lists[i].assignments[0];
    CHECK(a.activate == (f.hosts[i] == canary));
    CHECK_FALSE(a.proof.empty());
    CHECK(VerifyAssignment(a, f.hosts[i], pub).ok());
    CHECK_FALSE(VerifyAssignment(a, f.hosts[(i + 1) % f.hosts.size()], pub).ok());
    // Asked again on its own, a host gets the same signature and proof, not a new signing.
    auto alone = f.Assigned(f.hosts[i], id);
    REQUIRE(alone);
    CHECK(alone->signature == a.signature);
    CHECK(alone->proof == a.proof);
  }
  CHECK(signs == 1);
  // The next wave: the five whose activate changed are signed together again.
  f.Report(canary, id, kStateInstalled);
  f.c->Tick();
  lists = f.c->AssignmentsFor(f.hosts);
  CHECK(signs == 2);
  for (size_t i = 0; i < f.hosts.size(); ++i) {
    INFO(f.hosts[i]);
    CHECK(lists[i].assignments.at(0).activate);
    CHECK(VerifyAssignment(lists[i].assignments.at(0), f.hosts[i], pub).ok());
  }
  // A host never checked in gets an empty list and costs no signing.
  auto unknown = f.c->AssignmentsFor(std::vector<std::string>{"nobody", canary});
  CHECK(unknown[0].assignments.empty());
  CHECK(signs == 2);
}

TEST_CASE("a failed signing is not remembered: the next answer signs again") {
  Fixture f;
  int signs = 0;
  f.sign = [&](const std::string&) { return ++signs == 1 ? std::string() : std::string(64, 's'); };
  f.Reopen();
  int64_t id = f.Start("2", "100%");
  auto first = f.Assigned(f.hosts[0], id);
  REQUIRE(first);
  CHECK(first->signature.empty());
  auto second = f.Assigned(f.hosts[0], id);
  REQUIRE(second);
  CHECK(second->signature == Base64Encode(std::string(64, 's')));
  CHECK(signs == 2);
}

TEST_CASE("waves: only the current wave activates, the rest distribute, and the next wave starts when it is healthy") {
  Fixture f;  // 6 hosts over 3 racks
  int64_t id = f.Start("1", "1,50%,100%");
  REQUIRE(f.P(id).rec.plan.waves == std::vector<int>{1, 2, 3});
  auto first = f.InWave(id, 0);
  REQUIRE(first.size() == 1);
  for (const auto& h : f.hosts) CHECK(f.Assigned(h, id)->activate == (h == first[0]));

  // The others stage; that alone starts nothing.
  for (const auto& h : f.hosts)
    if (h != first[0]) f.Report(h, id, kStateStaged);
  f.c->TakeChangedHosts();
  CHECK(f.P(id).rec.plan.wave == 0);

  auto second = f.InWave(id, 1);
  REQUIRE(second.size() == 2);
  const int64_t before = f.c->AssignmentsFor(second[0]).generation;
  HostReport staged;
  staged.push_id = id;
  staged.state = kStateStaged;
  CHECK(f.c->Reports(second[0], {staged})->generation == before);  // a report answer says the generation
  f.Report(first[0], id, kStateInstalled);
  CHECK(f.P(id).rec.plan.wave == 1);
  // ... and, once the wave opened, the new one: a host that reports learns of it there.
  const int64_t after = f.c->AssignmentsFor(second[0]).generation;
  CHECK(after > before);
  CHECK(f.c->Reports(second[0], {staged})->generation == after);
  auto changed = f.c->TakeChangedHosts();
  std::sort(changed.begin(), changed.end());
  std::sort(second.begin(), second.end());
  CHECK(changed == second);  // exactly the new wave's long polls wake
  for (const auto& h : second) CHECK(f.Assigned(h, id)->activate);
  for (const auto& h : f.InWave(id, 2)) CHECK_FALSE(f.Assigned(h, id)->activate);
  CHECK(f.P(id).status() == PushStatus::kActive);
}

TEST_CASE("a wave spans racks: the second wave of two hosts covers two racks") {
  Fixture f;
  int64_t id = f.Start("1", "1,50%,100%");
  std::set<std::string> racks;
  for (const auto& h : f.P(id).rec.hosts)
    if (h.wave == 1) racks.insert(h.location);
  CHECK(racks.size() == 2);
}

TEST_CASE("a wave pause holds the next wave until the clock passes it") {
  Fixture f;
  int64_t id = f.Start("1", "1,100%", "0", 10'000);
  f.Report(f.InWave(id, 0)[0], id, kStateInstalled);
  CHECK(f.P(id).rec.plan.wave == 0);
  CHECK(f.P(id).rec.plan.next_wave_at == f.now + 10'000);
  f.now += 9'999;
  f.c->Tick();
  CHECK(f.P(id).rec.plan.wave == 0);
  f.now += 1;
  f.c->Tick();
  CHECK(f.P(id).rec.plan.wave == 1);
  CHECK(f.P(id).rec.plan.next_wave_at == 0);
}

TEST_CASE("a failed canary pauses the push: later waves stay staged, the reason names the host and its error") {
  Fixture f;
  int64_t id = f.Start("1", "1,100%");
  std::string canary = f.InWave(id, 0)[0];
  for (const auto& h : f.hosts)
    if (h != canary) f.Report(h, id, kStateStaged);
  f.Report(canary, id, kStateFailed, "health check exited 3: port 80 refused");
  const Push& p = f.P(id);
  CHECK(p.status() == PushStatus::kPaused);
  CHECK(p.rec.plan.wave == 0);
  CHECK(p.rec.plan.reason.find(canary + ": health check exited 3: port 80 refused") != std::string::npos);
  for (const auto& h : f.hosts)
    if (h != canary) {
      CHECK_FALSE(f.Assigned(h, id)->activate);
      CHECK(f.Row(id, h).state == kStateStaged);
    }
  CHECK(f.c->Active("web@1"));  // still open: staged hosts keep seeding

  SECTION("the pause survives a restart") {
    f.Reopen();
    CHECK(f.P(id).status() == PushStatus::kPaused);
    CHECK_FALSE(f.Assigned(f.hosts.back() == canary ? f.hosts.front() : f.hosts.back(), id)->activate);
  }
  SECTION("resume accepts the failure and starts the next wave") {
    auto r = f.c->Resume(id, "rm");
    REQUIRE(r.ok());
    CHECK(r->state == "active");
    CHECK(f.P(id).rec.plan.wave == 1);
    for (const auto& h : f.hosts)
      if (h != canary) {
        CHECK(f.Assigned(h, id)->activate);
        f.Report(h, id, kStateInstalled);
      }
    CHECK(f.P(id).status() == PushStatus::kFailed);  // the canary's failure still counts against the push
  }
  SECTION("resume of a push that is not paused is refused") {
    REQUIRE(f.c->Resume(id, "rm").ok());
    auto again = f.c->Resume(id, "rm");
    REQUIRE_FALSE(again.ok());
    CHECK(again.status().message() == "push 1 is active, not paused");
  }
}

TEST_CASE("the failure budget: N failures are tolerated, the N+1th pauses") {
  Fixture f;  // 6 hosts
  int64_t id = f.Start("1", "2,50%,100%", "1");
  REQUIRE(f.P(id).rec.plan.waves == std::vector<int>{2, 1, 3});
  auto w0 = f.InWave(id, 0);
  REQUIRE(w0.size() == 2);
  f.Report(w0[0], id, kStateFailed, "hook exited 1");
  f.Report(w0[1], id, kStateInstalled);
  CHECK(f.P(id).status() == PushStatus::kActive);
  CHECK(f.P(id).rec.plan.wave == 1);
  auto w1 = f.InWave(id, 1);
  f.Report(w1[0], id, kStateFailed, "hook exited 1");
  CHECK(f.P(id).status() == PushStatus::kPaused);
}

TEST_CASE("failures in the last wave end the push failed, not paused: there is nothing left to hold back") {
  Fixture f;
  int64_t id = f.Start("1");
  f.Report(f.hosts[0], id, kStateFailed, "hook exited 1");
  CHECK(f.P(id).status() == PushStatus::kActive);
  for (size_t i = 1; i < f.hosts.size(); ++i) f.Report(f.hosts[i], id, kStateInstalled);
  CHECK(f.P(id).status() == PushStatus::kFailed);
}

TEST_CASE("a percentage budget counts targets, rounding down") {
  Fixture f;
  int64_t id = f.Start("1", "", "34%");  // 34% of 6 = 2
  CHECK(f.P(id).rec.plan.max_failures == 2);
  PushRequest bad;
  bad.artifact = "web@1";
  bad.max_failures = "x";
  auto r = f.c->CreatePush(bad);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().rfind("max_failures: ", 0) == 0);
  bad.max_failures = "0";
  bad.waves = "0,100%";
  r = f.c->CreatePush(bad);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().rfind("waves: ", 0) == 0);
}

TEST_CASE("cancel: open rows end cancelled and their assignments are withdrawn, activated hosts stay") {
  Fixture f;
  int64_t id = f.Start("1", "1,100%");
  std::string canary = f.InWave(id, 0)[0];
  f.Report(canary, id, kStateInstalled);
  std::string staged = f.InWave(id, 1)[0];
  f.Report(staged, id, kStateStaged);
  f.c->TakeChangedHosts();
  std::map<std::string, int64_t> before;
  for (const auto& h : f.hosts) before[h] = f.c->Generation(h);

  auto p = f.c->Cancel(id, false, "rm", nullptr);
  REQUIRE(p.ok());
  CHECK(p->state == "cancelled");
  CHECK(f.Row(id, canary).state == kStateInstalled);
  CHECK(f.Row(id, staged).state == kStateCancelled);
  CHECK(f.Row(id, staged).error == "push cancelled while staged");
  for (const auto& h : f.hosts) {
    if (h == canary) {
      CHECK(f.Assigned(h, id));
      CHECK(f.c->Generation(h) == before[h]);
    } else {
      CHECK_FALSE(f.Assigned(h, id));  // withdrawn: the fetcher stops, keeps its staging
      CHECK(f.c->Generation(h) > before[h]);
    }
  }
  CHECK_FALSE(f.c->Active("web@1"));
  // A late report cannot bring a cancelled row back.
  HostReport late;
  late.push_id = id;
  late.state = kStateInstalled;
  REQUIRE(f.c->Reports(staged, {late}).ok());
  CHECK(f.Row(id, staged).state == kStateCancelled);
  // Nor can a second cancel or a resume.
  CHECK_FALSE(f.c->Cancel(id, false, "rm", nullptr).ok());
  CHECK_FALSE(f.c->Resume(id, "rm").ok());
  f.Reopen();
  CHECK(f.P(id).status() == PushStatus::kCancelled);
  CHECK_FALSE(f.Assigned(staged, id));
}

TEST_CASE("cancel with rollback sends each activated host back to the version it ran before") {
  Fixture f;
  int64_t one = f.Start("1");
  for (const auto& h : f.hosts) f.Report(h, one, kStateInstalled);
  int64_t two = f.Start("2", "2,100%");
  auto w0 = f.InWave(two, 0);
  for (const auto& h : w0) f.Report(h, two, kStateInstalled);
  CHECK(f.P(two).rec.plan.wave == 1);
  std::vector<int64_t> rollbacks;
  auto p = f.c->Cancel(two, true, "rm", &rollbacks);
  REQUIRE(p.ok());
  REQUIRE(rollbacks.size() == 1);
  const Push& rb = f.P(rollbacks[0]);
  CHECK(rb.rec.artifact == "web@1");
  CHECK(rb.rec.plan.kind == "rollback");
  std::vector<std::string> targets;
  for (const auto& h : rb.rec.hosts) targets.push_back(h.host);
  std::sort(w0.begin(), w0.end());
  CHECK(targets == w0);
  for (const auto& h : w0) CHECK(f.Assigned(h, rollbacks[0])->activate);
}

TEST_CASE("rollback picks the version before the newest one installed, on the hosts that run the name") {
  Fixture f;
  int64_t one = f.Start("1");
  for (const auto& h : f.hosts) f.Report(h, one, kStateInstalled);
  int64_t two = f.Start("2");
  for (const auto& h : f.hosts) f.Report(h, two, kStateInstalled);
  RollbackRequest r;
  r.name = "web";
  r.hosts_glob = "h1*";
  auto rb = f.c->Rollback(r);
  REQUIRE(rb.ok());
  CHECK(rb->artifact == "web@1");
  CHECK(rb->kind == "rollback");
  CHECK(rb->hosts.size() == 2);
  for (const auto& h : rb->hosts) CHECK(h.host.rfind("h1", 0) == 0);
  // The fleet view follows the newest push installed per host.
  for (const auto& h : rb->hosts) f.Report(h.host, rb->id, kStateInstalled);
  auto fleet = f.c->Fleet("");
  for (const auto& h : fleet["hosts"])
    CHECK(h["versions"]["web"] == (h["host"].get<std::string>().rfind("h1", 0) == 0 ? "1" : "2"));
  for (const auto& rack : fleet["racks"])
    if (rack["location"] == "dc1/pod1/rack1") CHECK(rack["versions"]["web"]["1"] == 2);

  r.to = "9";
  CHECK(f.c->Rollback(r).status().message() == "unknown artifact web@9: not registered");
  r.to = "";
  r.name = "db";
  CHECK(f.c->Rollback(r).status().message() == "no push ever installed db anywhere: nothing to roll back");
}

TEST_CASE("a newer push supersedes the open rows of an older one, on every host") {
  Fixture f;
  int64_t one = f.Start("1", "1,100%");
  int64_t two = f.Start("2");
  for (const auto& h : f.hosts) {
    CHECK(f.Row(one, h).state == kStateSuperseded);
    CHECK_FALSE(f.Assigned(h, one));
    CHECK(f.Assigned(h, two)->activate);
  }
  CHECK(f.P(one).status() == PushStatus::kSuperseded);
}

TEST_CASE("a push's answer names its stragglers with the cause the rows support") {
  Fixture f;
  int64_t id = f.Start("1");
  HostReport r;
  r.push_id = id;
  r.state = kStateDownloading;
  r.bytes_done = 100;
  r.total = 1000;
  r.peers = 3;
  r.rate = 1e6;
  for (const auto& h : f.hosts) REQUIRE(f.c->Reports(h, {r}).ok());
  f.now += 40'000;
  r.bytes_done = 900;
  for (size_t i = 1; i < f.hosts.size(); ++i) REQUIRE(f.c->Reports(f.hosts[i], {r}).ok());
  // hosts[0] reported 40 s ago and has not moved since.
  auto j = f.c->GetPush(id, 0);
  REQUIRE(j.ok());
  REQUIRE((*j)["stragglers"].size() == 1);
  CHECK((*j)["stragglers"][0]["host"] == f.hosts[0]);
  CHECK((*j)["stragglers"][0]["cause"] == "no contact");
  // A since poll leaves the stuck host's unchanged row out, and still names it:
  // stragglers are judged on every row.
  auto since = f.c->GetPush(id, f.now);
  REQUIRE(since.ok());
  CHECK((*since)["hosts"].size() == f.hosts.size() - 1);
  for (const auto& row : (*since)["hosts"]) CHECK(row["host"] != f.hosts[0]);
  REQUIRE((*since)["stragglers"].size() == 1);
  CHECK((*since)["stragglers"][0]["host"] == f.hosts[0]);
}

// What one dashboard poll weighs (push/assets/app.js passes back the last
// answer's "now" as ?since=). Fetchers report once a second while they
// download or verify and fall quiet once staged or done, so a since poll
// weighs the hosts still moving, not the hosts the push holds.
TEST_CASE("a since poll of a 200-host push carries the rows that reported since, not all 200") {
  Fixture f(67);  // 201 hosts in 3 racks; the push takes 200
  PushRequest req;
  req.artifact = "web@1";
  req.hosts.assign(f.hosts.begin(), f.hosts.begin() + 200);
  req.waves = "10%,100%";
  auto created = f.c->CreatePush(req);
  REQUIRE(created.ok());
  const int64_t id = created->id;
  auto report = [&](size_t from, size_t to, const char* state, uint64_t done) {
    for (size_t i = from; i < to; ++i) {
      HostReport r;
      r.push_id = id;
      r.state = state;
      r.bytes_done = done + i * 4099;
      r.total = 1000;
      r.rate = 3'456'789.5 + double(i);
      r.peers = 12;
      r.tries = 1;
      REQUIRE(f.c->Reports(f.hosts[i], {r}).ok());
    }
  };
  // A poll half a second after the reports before it (a report in the same
  // millisecond as a poll comes again in the next one: "since" is inclusive);
  // its rows and its size in bytes.
  int64_t since = 0;
  auto poll = [&](size_t* rows) {
    f.now += 500;
    auto j = f.c->GetPush(id, since);
    REQUIRE(j.ok());
    REQUIRE((*j)["stragglers"].empty());  // nobody is late here: only rows weigh
    *rows = (*j)["hosts"].size();
    since = (*j)["now"];
    f.now += 500;
    return j->dump().size();
  };
  size_t rows = 0;
  report(0, 200, kStateDownloading, 100'000);
  const size_t full = poll(&rows);
  CHECK(rows == 200);
  // Everyone downloading: every host reported in the last second, so the poll is the full answer again.
  report(0, 200, kStateDownloading, 200'000);
  const size_t all_moving = poll(&rows);
  CHECK(rows == 200);
  report(20, 200, kStateStaged, 1000);
  report(0, 20, kStateDownloading, 300'000);
  poll(&rows);
  // 180 staged and quiet, 20 still downloading.
  report(0, 20, kStateDownloading, 400'000);
  const size_t twenty_moving = poll(&rows);
  CHECK(rows == 20);
  // Nothing moved (a paused push, or every host between reports).
  const size_t none_moving = poll(&rows);
  CHECK(rows == 0);

  const double per_row = double(full - none_moving) / 200;
  CAPTURE(full, all_moving, twenty_moving, none_moving, per_row);
  CHECK(none_moving < 600);  // the push's own fields, no rows
  CHECK(all_moving >= full - 200);
  CHECK(double(twenty_moving) < double(none_moving) + 20 * per_row * 1.05);
  CHECK(twenty_moving * 8 < full);
}

// Random sequences of reports, cancels, resumes, restarts and ticks against
// the invariants: generations never go back, a host activates only in a
// started wave, counts match the rows, and an ended push stays ended.
TEST_CASE("controller invariants hold over random event sequences") {
  const char* states[] = {kStateDownloading, kStateVerifying, kStateStaged, kStateInstalled, kStateFailed};
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    std::mt19937 rng(seed);
    Fixture f(3);  // 9 hosts
    std::map<std::string, int64_t> gen;
    std::vector<int64_t> ids;
    auto pick = [&](size_t n) { return size_t(rng() % n); };
    for (int step = 0; step < 120; ++step) {
      int e = int(pick(100));
      if (ids.empty() || e < 6) {
        const char* specs[] = {"", "1,100%", "1,5%,25%,100%", "2,50%"};
        ids.push_back(f.Start(std::to_string(1 + pick(3)), specs[pick(4)], std::to_string(pick(3)), int64_t(pick(2)) * 5000));
      } else if (e < 8) {
        f.c->Cancel(ids[pick(ids.size())], pick(2) == 0, "t", nullptr);
      } else if (e < 11) {
        f.c->Resume(ids[pick(ids.size())], "t");
      } else if (e < 13) {
        f.Reopen();
      } else if (e < 20) {
        f.now += 3000;
        f.c->Tick();
      } else {
        // A host reports on its newest assignment, as a fetcher would.
        const std::string& h = f.hosts[pick(f.hosts.size())];
        auto list = f.c->AssignmentsFor(h).assignments;
        if (list.empty()) continue;
        const Assignment& a = list[pick(list.size())];
        const char* s = states[pick(5)];
        if (!a.activate && s == std::string(kStateInstalled)) s = kStateStaged;  // a fetcher never activates early
        HostReport r;
        r.push_id = a.push_id;
        r.state = s;
        REQUIRE(f.c->Reports(h, {r}).ok());
      }
      for (const auto& h : f.hosts) {
        int64_t g = f.c->Generation(h);
        CHECK(g >= gen[h]);
        gen[h] = g;
        for (const auto& a : f.c->AssignmentsFor(h).assignments) {
          const Push& p = f.P(a.push_id);
          const HostProgress& row = p.rec.hosts[p.index.at(h)];
          CHECK(a.activate == (row.wave <= p.rec.plan.wave));
          CHECK(row.state != kStateCancelled);
        }
      }
      for (int64_t id : ids) {
        const Push& p = f.P(id);
        Push copy;
        copy.rec = p.rec;
        copy.Index();
        CHECK(copy.installed == p.installed);
        CHECK(copy.failed == p.failed);
        CHECK(copy.superseded == p.superseded);
        CHECK(copy.cancelled == p.cancelled);
        CHECK(copy.staged == p.staged);
        CHECK(copy.open_in_wave == p.open_in_wave);
        CHECK(p.rec.plan.wave < p.waves());
        if (p.rec.plan.cancelled) CHECK(p.status() == PushStatus::kCancelled);
        for (const auto& row : p.rec.hosts)
          if (row.state == kStateInstalled) CHECK(row.wave <= p.rec.plan.wave);
      }
    }
  }
}

// The store's counters from /metrics, summed over labels.
double StoreCounter(const Controller& c, const std::string& name) {
  double sum = 0;
  std::istringstream in(c.MetricsSnapshot(0).Prometheus());
  for (std::string line; std::getline(in, line);)
    if (line.rfind(name + " ", 0) == 0) sum += std::stod(line.substr(line.rfind(' ')));
  return sum;
}

// A crash: the controller goes away without Flush, and a new one loads the store.
void Crash(Fixture& f) {
  f.c.reset();
  f.Open();
}

TEST_CASE("reported outcomes wait for WriteOutcomes, and are durable once it returns") {
  Fixture f;
  int64_t id = f.Start("1");
  f.Report(f.hosts[0], id, kStateInstalled);
  CHECK(f.c->OutcomesPending() == 1);
  Crash(f);  // before the write: lost, and the host was never answered (push/service.cc holds it)
  CHECK(f.Row(id, f.hosts[0]).state != kStateInstalled);

  f.Report(f.hosts[0], id, kStateInstalled);
  REQUIRE(f.c->WriteOutcomes().ok());
  CHECK(f.c->OutcomesPending() == 0);
  Crash(f);
  CHECK(f.Row(id, f.hosts[0]).state == kStateInstalled);
}

TEST_CASE("outcomes of many hosts go to the store in one transaction") {
  Fixture f(4);  // 12 hosts
  int64_t id = f.Start("1");
  const double tx = StoreCounter(*f.c, "spate_tracker_store_transactions_total");
  const double rows = StoreCounter(*f.c, "spate_tracker_store_rows_total");
  for (const auto& h : f.hosts) f.Report(h, id, h == f.hosts[0] ? kStateFailed : kStateInstalled, "x");
  CHECK(f.c->OutcomesPending() == f.hosts.size());
  CHECK(StoreCounter(*f.c, "spate_tracker_store_transactions_total") == tx);  // nothing written yet
  REQUIRE(f.c->WriteOutcomes().ok());
  CHECK(StoreCounter(*f.c, "spate_tracker_store_transactions_total") == tx + 1);
  CHECK(StoreCounter(*f.c, "spate_tracker_store_rows_total") == rows + double(f.hosts.size()));
  REQUIRE(f.c->WriteOutcomes().ok());  // nothing pending: no empty transaction
  CHECK(StoreCounter(*f.c, "spate_tracker_store_transactions_total") == tx + 1);
  Crash(f);
  CHECK(f.Row(id, f.hosts[0]).state == kStateFailed);
  for (size_t i = 1; i < f.hosts.size(); ++i) CHECK(f.Row(id, f.hosts[i]).state == kStateInstalled);
}

TEST_CASE("an outcome's row is written as it is at the write, not as it was reported") {
  Fixture f;
  int64_t id = f.Start("1");
  f.Report(f.hosts[0], id, kStateInstalled);
  REQUIRE(f.c->MoveHost(f.hosts[0], "127.0.3.9").ok());  // changes the row after the report
  REQUIRE(f.c->WriteOutcomes().ok());
  Crash(f);
  CHECK(f.Row(id, f.hosts[0]).state == kStateInstalled);
  CHECK(f.Row(id, f.hosts[0]).addr == "127.0.3.9");
}

TEST_CASE("Flush writes pending outcomes too") {
  Fixture f;
  int64_t id = f.Start("1");
  f.Report(f.hosts[1], id, kStateInstalled);
  REQUIRE(f.c->Flush().ok());
  CHECK(f.c->OutcomesPending() == 0);
  Crash(f);
  CHECK(f.Row(id, f.hosts[1]).state == kStateInstalled);
}

TEST_CASE("Flush with a row limit writes that many progress rows a call until none is left") {
  Fixture f(4);  // 12 hosts
  int64_t id = f.Start("1");
  REQUIRE(f.c->Flush().ok());
  CHECK_FALSE(f.c->FlushPending());
  const double rows = StoreCounter(*f.c, "spate_tracker_store_rows_total");
  for (const auto& h : f.hosts) f.Report(h, id, kStateDownloading);
  CHECK(f.c->FlushPending());
  REQUIRE(f.c->Flush(5).ok());
  CHECK(StoreCounter(*f.c, "spate_tracker_store_rows_total") == rows + 5);
  CHECK(f.c->FlushPending());
  REQUIRE(f.c->Flush(5).ok());
  CHECK(StoreCounter(*f.c, "spate_tracker_store_rows_total") == rows + 10);
  REQUIRE(f.c->Flush(5).ok());
  CHECK(StoreCounter(*f.c, "spate_tracker_store_rows_total") == rows + 12);
  CHECK_FALSE(f.c->FlushPending());
  Crash(f);  // every row made it, none twice
  for (const auto& h : f.hosts) CHECK(f.Row(id, h).state == kStateDownloading);
}

TEST_CASE("a host's last_seen is written at most once a minute, whatever it sends") {
  Fixture f;
  int64_t id = f.Start("1");
  REQUIRE(f.c->Flush().ok());
  const double rows = StoreCounter(*f.c, "spate_tracker_store_rows_total");
  for (int s = 1; s <= 30; ++s) {  // a report a second, as fetchers send them
    f.now += 1000;
    f.Report(f.hosts[0], id, kStateDownloading);
    REQUIRE(f.c->CheckIn(f.hosts[0], "127.0.1.1").ok());
    REQUIRE(f.c->Flush().ok());
  }
  // Only the push row, once a flush: the host row waits for its minute.
  CHECK(StoreCounter(*f.c, "spate_tracker_store_rows_total") == rows + 30);
  f.now += 31'000;
  f.Report(f.hosts[0], id, kStateDownloading);
  REQUIRE(f.c->Flush().ok());
  CHECK(StoreCounter(*f.c, "spate_tracker_store_rows_total") == rows + 32);  // the push row and the host row
  const int64_t seen = f.now;
  Crash(f);
  CHECK(f.c->FindHost(f.hosts[0])->rec.last_seen == seen);
}

}  // namespace
}  // namespace spate::push
