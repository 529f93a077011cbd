// Two controllers on one PostgreSQL database, as two control-plane processes:
// what one writes, the other follows (push/follow.cc). A real postgres
// (tests/support/postgres.h), fake clocks, no sockets of ours.
#include <poll.h>
#include <spdlog/spdlog.h>

#include <catch2/catch.hpp>

#include "push/controller.h"
#include "push/host_state.h"
#include "tests/support/postgres.h"

namespace spate::push {
namespace {

const char* kRackmap = "127.0.1.0/24 dc1/pod1/rack1\n127.0.2.0/24 dc1/pod1/rack2\n";

struct NoSwarms : Swarms {
  Status Serve(const std::string&, const std::string&, uint64_t, const std::string&) override { return Status::Ok(); }
  std::optional<GatewayShare> GatewayOf(const std::string&, const std::string&) const override { return std::nullopt; }
};

struct Plane {
  NoSwarms swarms;
  int64_t now = 1'700'000'000'000;
  std::unique_ptr<Controller> c;
};

struct TwoPlanes {
  testing::PostgresServer pg;
  Rackmap rackmap = *Rackmap::Parse(kRackmap, "test");
  std::string url;
  Plane a, b;
  std::vector<std::string> hosts{"h1", "h2", "h3", "h4"};

  TwoPlanes() {
    spdlog::set_level(spdlog::level::err);
    url = pg.CreateDatabase("follow");
    Open(a);
    Open(b);
    for (size_t i = 0; i < hosts.size(); ++i) {
      // h1, h3 check in on A; h2, h4 on B.
      Plane& p = i % 2 ? b : a;
      REQUIRE(p.c->CheckIn(hosts[i], "127.0." + std::to_string(1 + i % 2) + "." + std::to_string(i + 1)).ok());
    }
    ArtifactRegistration r;
    r.manifest.name = "web";
    r.manifest.filename = "web.tar";
    r.manifest.size = 1000;
    r.manifest.sha256 = std::string(64, '0');
    r.manifest.piece_size = 16384;
    r.manifest.signature = "c2ln";
    for (const char* v : {"1", "2"}) {
      r.manifest.version = v;
      r.manifest.info_hash = std::string(39, 'a') + v;
      REQUIRE(a.c->RegisterArtifact(r).ok());
    }
    REQUIRE(Follow(b, [&] { return b.c->FindHost("h1") && b.c->FindHost("h3"); }));
    REQUIRE(Follow(a, [&] { return a.c->FindHost("h2") && a.c->FindHost("h4"); }));
  }
  void Open(Plane& p) {
    ControllerOptions o;
    o.now_ms = [&p] { return p.now; };
    auto store = Store::Open(url);
    REQUIRE(store.ok());
    p.c = std::make_unique<Controller>(o, std::move(*store), rackmap, p.swarms);
    REQUIRE(p.c->Load().ok());
  }
  // Follows the other plane's writes until `done`, up to 5 s.
  bool Follow(Plane& p, const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{p.c->ChangeFd(), POLLIN, 0};
      ::poll(&pfd, 1, 50);
      REQUIRE(p.c->FollowChanges().ok());
      if (done()) return true;
    }
    return false;
  }
  int64_t Start(Plane& p, const std::string& version, const std::string& waves = "", const std::string& budget = "0") {
    PushRequest r;
    r.artifact = "web@" + version;
    r.hosts = hosts;
    r.waves = waves;
    r.max_failures = budget;
    auto res = p.c->CreatePush(r);
    REQUIRE(res.ok());
    return res->id;
  }
  void Report(Plane& p, const std::string& host, int64_t id, const char* state) {
    HostReport r;
    r.push_id = id;
    r.state = state;
    auto res = p.c->Reports(host, {r});
    REQUIRE(res.ok());
    REQUIRE(res->refused.empty());
    // What the service's group commit does before it answers the report.
    REQUIRE(p.c->WriteOutcomes().ok());
  }
  static const HostProgress& Row(Plane& p, int64_t id, const std::string& host) {
    const Push& push = *p.c->FindPush(id);
    return push.rec.hosts[push.index.at(host)];
  }
};

bool Assigned(Plane& p, const std::string& host, int64_t id) {
  for (const auto& asg : p.c->AssignmentsFor(host).assignments)
    if (asg.push_id == id) return true;
  return false;
}

TEST_CASE("controllers sharing PostgreSQL: a push made on one is served by the other, whose hosts are woken") {
  TwoPlanes t;
  t.b.c->TakeChangedHosts();
  const int64_t id = t.Start(t.a, "1");
  REQUIRE(t.Follow(t.b, [&] { return t.b.c->FindPush(id) != nullptr; }));
  auto changed = t.b.c->TakeChangedHosts();
  CHECK(std::set<std::string>(changed.begin(), changed.end()) == std::set<std::string>(t.hosts.begin(), t.hosts.end()));
  for (const auto& h : t.hosts) CHECK(Assigned(t.b, h, id));
  CHECK(t.b.c->Generation("h2") == t.a.c->Generation("h2"));  // derived from stored state alone

  // Reports to each plane for its own hosts: both count all of them.
  t.Report(t.a, "h1", id, kStateInstalled);
  t.Report(t.a, "h3", id, kStateInstalled);
  t.Report(t.b, "h2", id, kStateInstalled);
  t.Report(t.b, "h4", id, kStateFailed);
  for (Plane* p : {&t.a, &t.b}) {
    REQUIRE(t.Follow(*p, [&] { return !p->c->FindPush(id)->open(); }));
    CHECK(p->c->FindPush(id)->installed == 3);
    CHECK(p->c->FindPush(id)->failed == 1);
    CHECK(p->c->FindPush(id)->status() == PushStatus::kFailed);
  }
}

TEST_CASE("controllers sharing PostgreSQL: a wave both see done opens once, and a pause and a resume cross over") {
  TwoPlanes t;
  // Waves of 1, 2 and the rest: a second opening of wave 2 would skip to 3.
  const int64_t id = t.Start(t.a, "1", "1,2,100%", "0");
  REQUIRE(t.Follow(t.b, [&] { return t.b.c->FindPush(id) != nullptr; }));
  std::string canary;
  for (const auto& h : t.b.c->FindPush(id)->rec.hosts)
    if (h.wave == 0) canary = h.host;
  t.Report(t.a, canary, id, kStateInstalled);
  REQUIRE(t.Follow(t.b, [&] { return TwoPlanes::Row(t.b, id, canary).state == kStateInstalled; }));
  // Both tick before either followed the other's plan: the stored plan decides.
  t.a.c->Tick();
  t.b.c->Tick();
  CHECK(t.a.c->FindPush(id)->rec.plan.wave == 1);
  CHECK(t.b.c->FindPush(id)->rec.plan.wave == 1);
  t.b.c->Tick();
  CHECK(t.b.c->FindPush(id)->rec.plan.wave == 1);

  // A failure in wave 1 pauses the push (budget 0) where it was reported, B follows.
  std::string second;
  for (const auto& h : t.a.c->FindPush(id)->rec.hosts)
    if (h.wave == 1 && second.empty()) second = h.host;
  t.Report(t.a, second, id, kStateFailed);
  CHECK(t.a.c->FindPush(id)->status() == PushStatus::kPaused);
  REQUIRE(t.Follow(t.b, [&] { return t.b.c->FindPush(id)->status() == PushStatus::kPaused; }));
  CHECK_FALSE(t.b.c->FindPush(id)->rec.plan.reason.empty());
  // Resumed on B; A follows and opens no wave while it was paused.
  REQUIRE(t.b.c->Resume(id, "rm").ok());
  REQUIRE(t.Follow(t.a, [&] { return t.a.c->FindPush(id)->status() == PushStatus::kActive; }));
  CHECK(t.a.c->FindPush(id)->rec.plan.accepted_failures == 1);
  // A resume of a push no longer paused (resumed elsewhere) is a conflict, not a second resume.
  auto again = t.a.c->Resume(id, "rm");
  CHECK(again.status().code() == Status::Code::kConflict);
}

TEST_CASE("controllers sharing PostgreSQL: an outcome stored by one is not undone by the other's stale state") {
  TwoPlanes t;
  const int64_t id = t.Start(t.a, "1");
  REQUIRE(t.Follow(t.b, [&] { return t.b.c->FindPush(id) != nullptr; }));
  // h2 reports progress to B (not flushed yet), then its outcome to A (a failover).
  t.Report(t.b, "h2", id, kStateDownloading);
  t.Report(t.a, "h2", id, kStateInstalled);
  REQUIRE(t.Follow(t.b, [&] { return TwoPlanes::Row(t.b, id, "h2").state == kStateInstalled; }));
  REQUIRE(t.b.c->Flush().ok());  // B's stale progress is not written over the outcome
  REQUIRE(t.a.c->Flush().ok());
  auto check = Store::Open(t.url);
  REQUIRE(check.ok());
  auto stored = (*check)->LoadPush(id, nullptr);
  REQUIRE(stored.ok());
  for (const auto& h : (*stored)->hosts)
    if (h.host == "h2") CHECK(h.state == kStateInstalled);

  // A newer push made on B supersedes the open rows on A too; a cancel on A withdraws it from B's hosts.
  const int64_t newer = t.Start(t.b, "2");
  REQUIRE(
      t.Follow(t.a, [&] { return t.a.c->FindPush(newer) && TwoPlanes::Row(t.a, id, "h1").state == kStateSuperseded; }));
  CHECK(TwoPlanes::Row(t.a, id, "h2").state == kStateInstalled);
  REQUIRE(t.a.c->Cancel(newer, false, "rm", nullptr).ok());
  REQUIRE(t.Follow(t.b, [&] { return !Assigned(t.b, "h4", newer); }));
  CHECK(t.b.c->FindPush(newer)->status() == PushStatus::kCancelled);
}

}  // namespace
}  // namespace spate::push
