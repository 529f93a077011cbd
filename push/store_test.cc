// The store contract, run on both backends: SQLite (a file) and PostgreSQL
// (a real server started by the test, tests/support/postgres.h).
#include "push/store.h"

#include <poll.h>

#include <catch2/catch.hpp>
#include <functional>
#include <set>
#include <thread>

#include "push/store_backends.h"
#include "tests/support/cluster.h"
#include "tests/support/postgres.h"

namespace spate {
namespace {

using testing::TempDir;

Manifest FakeManifest(const std::string& version) {
  Manifest m;
  m.name = "web";
  m.version = version;
  m.filename = "web.tar";
  m.size = 1234;
  m.sha256 = std::string(64, 'a');
  m.info_hash = std::string(40, 'b');
  m.piece_size = 16384;
  m.created_at = 1700000000;
  m.signature = "c2ln";
  return m;
}

std::unique_ptr<Store> MustOpen(const std::string& where) {
  auto s = Store::Open(where);
  INFO(s.status().message());
  REQUIRE(s.ok());
  return std::move(*s);
}

HostProgress Row(const std::string& host, const std::string& state = kStatePending) {
  HostProgress h;
  h.host = host;
  h.state = state;
  h.location = "dc/p/r";
  return h;
}

// Each contract part gets the address of a new, empty database.
void KeepsEverythingAcrossReopen(const std::string& where) {
  int64_t id1 = 0, id2 = 0;
  {
    auto s = MustOpen(where);
    Store& st = *s;
    REQUIRE(st.PutArtifact(ArtifactRecord{FakeManifest("1"), std::string("d8:\0binary\xff", 11), "127.0.0.9", 5}).ok());
    HostProgress a = Row("h1"), b = Row("h2");
    b.location = "";
    PushPlan plan;
    plan.waves = {1, 1};
    plan.started_by = "rm@desk";
    auto p1 = st.CreatePush("web@1", 10, {a, b}, plan);
    auto p2 = st.CreatePush("web@1", 11, {a}, PushPlan{});
    REQUIRE(p1.ok());
    REQUIRE(p2.ok());
    id1 = *p1;
    id2 = *p2;
    CHECK(id2 > id1);
    a.state = kStateInstalled;
    a.bytes_done = 1234;
    a.rate = 2.5;
    a.wave = 1;
    a.tries = 2;
    a.peers = 7;
    a.error = "it's \"quoted\" \\ ok";
    a.progress_at = 77;
    auto stored = st.UpdatePlan(id1, [](PushPlan& p) {
      p.wave = 1;
      p.paused = true;
      p.reason = "1 failure";
      return true;
    });
    REQUIRE(stored.ok());
    CHECK(stored->waves == std::vector<int>{1, 1});  // the change saw the stored plan
    REQUIRE(st.SavePushHosts({{id1, a}}).ok());
    REQUIRE(st.SaveHosts({HostRecord{"h1", "127.0.1.1", "dc/p/r", 99}}).ok());
  }
  auto s = MustOpen(where);
  auto snap = s->Load();
  REQUIRE(snap.ok());
  REQUIRE(snap->artifacts.size() == 1);
  CHECK(snap->artifacts[0].manifest.id() == "web@1");
  CHECK(snap->artifacts[0].torrent == std::string("d8:\0binary\xff", 11));
  CHECK(snap->artifacts[0].origin == "127.0.0.9");
  CHECK(snap->artifacts[0].registered_at == 5);
  REQUIRE(snap->pushes.size() == 2);
  CHECK(snap->pushes[0].id == id1);
  CHECK(snap->pushes[0].created_at == 10);
  REQUIRE(snap->pushes[0].hosts.size() == 2);
  const HostProgress& h1 = snap->pushes[0].hosts[0];
  CHECK(h1.state == kStateInstalled);
  CHECK(h1.bytes_done == 1234);
  CHECK(h1.rate == 2.5);
  CHECK(h1.wave == 1);
  CHECK(h1.tries == 2);
  CHECK(h1.peers == 7);
  CHECK(h1.error == "it's \"quoted\" \\ ok");
  CHECK(h1.progress_at == 77);
  CHECK(snap->pushes[0].plan.waves == std::vector<int>{1, 1});
  CHECK(snap->pushes[0].plan.wave == 1);
  CHECK(snap->pushes[0].plan.paused);
  CHECK(snap->pushes[0].plan.reason == "1 failure");
  CHECK(snap->pushes[0].plan.started_by == "rm@desk");
  CHECK(snap->pushes[1].plan.kind == "push");
  CHECK(snap->pushes[0].hosts[1].state == kStatePending);
  CHECK(snap->pushes[0].hosts[1].location.empty());
  CHECK(snap->pushes[1].hosts.size() == 1);
  REQUIRE(snap->hosts.size() == 1);
  CHECK(snap->hosts[0].addr == "127.0.1.1");
  CHECK(snap->hosts[0].last_seen == 99);
}

void OutcomesStand(const std::string& where) {
  auto s = MustOpen(where);
  auto id = s->CreatePush("web@1", 10, {Row("h1"), Row("h2"), Row("h3")}, PushPlan{});
  REQUIRE(id.ok());
  HostProgress installed = Row("h1", kStateInstalled), late = Row("h1", kStateDownloading);
  installed.bytes_done = 1234;
  late.bytes_done = 10;
  HostProgress moved = installed;  // the same outcome, rewritten (a host's new address)
  moved.addr = "127.0.1.9";
  HostProgress superseded = Row("h1", kStateSuperseded);
  REQUIRE(s->SavePushHosts({{*id, installed}}).ok());
  // A writer that had not seen the outcome: its rows are dropped, not errors.
  REQUIRE(s->SavePushHosts({{*id, late}, {*id, Row("h2", kStateStaged)}}).ok());
  REQUIRE(s->SavePushHosts({{*id, superseded}}).ok());
  REQUIRE(s->SavePushHosts({{*id, moved}}).ok());
  // One batch naming a row twice: the last one wins.
  REQUIRE(s->SavePushHosts({{*id, Row("h3", kStateDownloading)}, {*id, Row("h3", kStateVerifying)}}).ok());
  auto p = s->LoadPush(*id, nullptr);
  REQUIRE(p.ok());
  REQUIRE(*p);
  REQUIRE((*p)->hosts.size() == 3);
  CHECK((*p)->hosts[0].state == kStateInstalled);
  CHECK((*p)->hosts[0].bytes_done == 1234);
  CHECK((*p)->hosts[0].addr == "127.0.1.9");
  CHECK((*p)->hosts[1].state == kStateStaged);
  CHECK((*p)->hosts[2].state == kStateVerifying);
}

void PlansChangeOnTheStoredCopy(const std::string& where) {
  auto s = MustOpen(where);
  auto id = s->CreatePush("web@1", 10, {Row("h1")}, PushPlan{});
  REQUIRE(id.ok());
  auto first = s->UpdatePlan(*id, [](PushPlan& p) {
    p.wave = 2;
    return true;
  });
  REQUIRE(first.ok());
  // A change that declines writes nothing, and still returns what is stored.
  auto declined = s->UpdatePlan(*id, [](PushPlan& p) {
    p.wave = 9;
    return false;
  });
  REQUIRE(declined.ok());
  auto back = s->LoadPush(*id, nullptr);
  REQUIRE(back.ok());
  CHECK((*back)->plan.wave == 2);
  auto unknown = s->UpdatePlan(*id + 1000, [](PushPlan&) { return true; });
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.status().code() == Status::Code::kNotFound);
}

void ReadsOneItemBack(const std::string& where) {
  auto s = MustOpen(where);
  REQUIRE(s->PutArtifact(ArtifactRecord{FakeManifest("2"), "torrent", "127.0.0.9", 5}).ok());
  auto id = s->CreatePush("web@2", 10, {Row("a"), Row("b"), Row("c")}, PushPlan{});
  REQUIRE(id.ok());
  std::vector<std::string> some{"c", "a", "zz"};
  auto rows = s->LoadPush(*id, &some);
  REQUIRE(rows.ok());
  REQUIRE(*rows);
  CHECK((*rows)->artifact == "web@2");
  std::set<std::string> got;
  for (const auto& h : (*rows)->hosts) got.insert(h.host);
  CHECK(got == std::set<std::string>{"a", "c"});
  std::vector<std::string> none;
  auto plan_only = s->LoadPush(*id, &none);
  REQUIRE(plan_only.ok());
  CHECK((*plan_only)->hosts.empty());
  auto missing = s->LoadPush(*id + 1000, nullptr);
  REQUIRE(missing.ok());
  CHECK_FALSE(*missing);
  auto art = s->LoadArtifact("web@2");
  REQUIRE(art.ok());
  REQUIRE(*art);
  CHECK((*art)->torrent == "torrent");
  auto no_art = s->LoadArtifact("web@3");
  REQUIRE(no_art.ok());
  CHECK_FALSE(*no_art);
  REQUIRE(s->BindHost(HostRecord{"h1", "127.0.1.1", "dc/p/r", 5}).ok());
  auto h = s->LoadHost("h1");
  REQUIRE(h.ok());
  REQUIRE(*h);
  CHECK((*h)->addr == "127.0.1.1");
  auto no_host = s->LoadHost("h2");
  REQUIRE(no_host.ok());
  CHECK_FALSE(*no_host);
}

void OnlyBindsMoveHosts(const std::string& where) {
  auto s = MustOpen(where);
  REQUIRE(s->BindHost(HostRecord{"h1", "127.0.1.1", "dc/p/r1", 50}).ok());
  // A last-seen write from a process that has not seen a newer bind keeps the binding.
  REQUIRE(s->SaveHosts({HostRecord{"h1", "127.0.9.9", "dc/p/r9", 60}}).ok());
  REQUIRE(s->SaveHosts({HostRecord{"h1", "127.0.9.9", "dc/p/r9", 40}}).ok());  // never backwards
  auto h = s->LoadHost("h1");
  REQUIRE(h.ok());
  CHECK((*h)->addr == "127.0.1.1");
  CHECK((*h)->location == "dc/p/r1");
  CHECK((*h)->last_seen == 60);
  REQUIRE(s->BindHost(HostRecord{"h1", "127.0.2.1", "dc/p/r2", 70}).ok());
  CHECK((*s->LoadHost("h1"))->addr == "127.0.2.1");
}

// Two handles on one database, as two control-plane processes: ids never
// collide, and each sees what the other wrote.
void TwoWritersShareIt(const std::string& where) {
  auto a = MustOpen(where), b = MustOpen(where);
  auto p1 = a->CreatePush("web@1", 10, {Row("h1")}, PushPlan{});
  auto p2 = b->CreatePush("web@1", 11, {Row("h2")}, PushPlan{});
  REQUIRE(p1.ok());
  REQUIRE(p2.ok());
  CHECK(*p1 != *p2);
  REQUIRE(b->SavePushHosts({{*p1, Row("h1", kStateInstalled)}}).ok());
  auto seen = a->LoadPush(*p1, nullptr);
  REQUIRE(seen.ok());
  CHECK((*seen)->hosts[0].state == kStateInstalled);
  auto snap = a->Load();
  REQUIRE(snap.ok());
  CHECK(snap->pushes.size() == 2);
}

void Contract(const std::function<std::string(const std::string&)>& fresh) {
  KeepsEverythingAcrossReopen(fresh("reopen"));
  OutcomesStand(fresh("outcomes"));
  PlansChangeOnTheStoredCopy(fresh("plans"));
  ReadsOneItemBack(fresh("reads"));
  OnlyBindsMoveHosts(fresh("binds"));
  TwoWritersShareIt(fresh("two"));
}

TEST_CASE("store contract on SQLite") {
  TempDir dir("spate-store");
  Contract([&](const std::string& name) { return dir / (name + ".db"); });
  auto s = MustOpen(dir / "x.db");
  CHECK(std::string(s->backend()) == "sqlite");
  CHECK_FALSE(s->shared());
  CHECK(s->ChangeFd() == -1);
}

TEST_CASE("store contract on PostgreSQL") {
  testing::PostgresServer pg;
  Contract([&](const std::string& name) { return pg.CreateDatabase(name); });
  auto s = MustOpen(pg.CreateDatabase("x"));
  CHECK(std::string(s->backend()) == "postgresql");
  CHECK(s->shared());
  CHECK(s->ChangeFd() >= 0);
}

// Waits until `s` has changes from others (its descriptor turns readable), up to `ms`.
std::vector<StoreChange> WaitChanges(Store& s, int ms) {
  std::vector<StoreChange> all;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{s.ChangeFd(), POLLIN, 0};
    ::poll(&pfd, 1, 50);
    auto c = s.Changes();
    REQUIRE(c.ok());
    all.insert(all.end(), c->begin(), c->end());
    if (!all.empty()) {
      // Whatever else the same commit sent arrives with it.
      ::poll(&pfd, 1, 100);
      auto more = s.Changes();
      REQUIRE(more.ok());
      all.insert(all.end(), more->begin(), more->end());
      return all;
    }
  }
  return all;
}

TEST_CASE("PostgreSQL store: every write tells the other processes what changed, never the writer itself") {
  testing::PostgresServer pg;
  const std::string url = pg.CreateDatabase("notices");
  auto a = MustOpen(url), b = MustOpen(url);
  REQUIRE(a->PutArtifact(ArtifactRecord{FakeManifest("1"), "t", "", 1}).ok());
  auto changes = WaitChanges(*b, 5000);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].kind == StoreChange::Kind::kArtifact);
  CHECK(changes[0].names == std::vector<std::string>{"web@1"});

  auto id = a->CreatePush("web@1", 10, {Row("h1"), Row("h2")}, PushPlan{});
  REQUIRE(id.ok());
  changes = WaitChanges(*b, 5000);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].kind == StoreChange::Kind::kPush);
  CHECK(changes[0].push_id == *id);

  REQUIRE(a->SavePushHosts({{*id, Row("h2", kStateDownloading)}, {*id, Row("h1", kStateStaged)}}).ok());
  changes = WaitChanges(*b, 5000);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].kind == StoreChange::Kind::kRows);
  CHECK(changes[0].names == std::vector<std::string>{"h1", "h2"});

  REQUIRE(a->UpdatePlan(*id, [](PushPlan& p) { return ++p.wave, true; }).ok());
  REQUIRE(a->BindHost(HostRecord{"h1", "127.0.1.1", "dc/p/r", 1}).ok());
  REQUIRE(a->SaveHosts({HostRecord{"h1", "127.0.1.1", "dc/p/r", 2}}).ok());  // last seen: no notice
  changes = WaitChanges(*b, 5000);
  REQUIRE(changes.size() == 2);
  CHECK(changes[0].kind == StoreChange::Kind::kPlan);
  CHECK(changes[1].kind == StoreChange::Kind::kHosts);
  CHECK(changes[1].names == std::vector<std::string>{"h1"});

  // The writer hears none of its own.
  auto own = a->Changes();
  REQUIRE(own.ok());
  CHECK(own->empty());
}

TEST_CASE("PostgreSQL store: concurrent writers lose no row, no plan change and never share a push id") {
  testing::PostgresServer pg;
  const std::string url = pg.CreateDatabase("concurrent");
  auto setup = MustOpen(url);
  std::vector<HostProgress> hosts;
  for (int i = 0; i < 200; ++i) hosts.push_back(Row("h" + std::to_string(i)));
  auto shared = setup->CreatePush("web@1", 10, hosts, PushPlan{});
  REQUIRE(shared.ok());
  constexpr int kWriters = 4, kEach = 25;
  std::vector<std::vector<int64_t>> ids(kWriters);
  std::vector<std::string> errors(kWriters);
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w)
    threads.emplace_back([&, w] {
      auto s = Store::Open(url);
      if (!s.ok()) return void(errors[w] = s.status().message());
      for (int i = 0; i < kEach; ++i) {
        auto id = (*s)->CreatePush("web@1", 20, {Row("x")}, PushPlan{});
        if (!id.ok()) return void(errors[w] = id.status().message());
        ids[w].push_back(*id);
        // Each writer reports its own hosts of the shared push (h{w}, h{w+4}, ...), one by one.
        for (int h = w + i * kWriters * 2; h < w + (i + 1) * kWriters * 2 && h < 200; h += kWriters) {
          Status st = (*s)->SavePushHosts({{*shared, Row("h" + std::to_string(h), kStateInstalled)}});
          if (!st.ok()) return void(errors[w] = st.message());
        }
        auto plan = (*s)->UpdatePlan(*shared, [](PushPlan& p) { return ++p.accepted_failures, true; });
        if (!plan.ok()) return void(errors[w] = plan.status().message());
      }
    });
  for (auto& t : threads) t.join();
  for (const auto& e : errors) CHECK(e.empty());
  std::set<int64_t> unique;
  for (const auto& v : ids) unique.insert(v.begin(), v.end());
  CHECK(unique.size() == size_t(kWriters * kEach));
  auto p = setup->LoadPush(*shared, nullptr);
  REQUIRE(p.ok());
  int installed = 0;
  for (const auto& h : (*p)->hosts) installed += h.state == kStateInstalled;
  CHECK(installed == 200);
  CHECK((*p)->plan.accepted_failures == kWriters * kEach);  // no read-modify-write lost
}

TEST_CASE("store change notices round-trip and split long host lists under the payload limit") {
  StoreChange rows{StoreChange::Kind::kRows, 42, {}};
  for (int i = 0; i < 3000; ++i) rows.names.push_back("host-" + std::to_string(i));
  auto payloads = ChangePayloads(rows);
  CHECK(payloads.size() > 1);
  std::vector<std::string> back;
  for (const auto& p : payloads) {
    CHECK(p.size() < 8000);
    auto c = ParseChangePayload(p);
    REQUIRE(c);
    CHECK(c->kind == StoreChange::Kind::kRows);
    CHECK(c->push_id == 42);
    back.insert(back.end(), c->names.begin(), c->names.end());
  }
  CHECK(back == rows.names);
  auto push = ParseChangePayload(ChangePayloads(StoreChange{StoreChange::Kind::kPush, 7, {}})[0]);
  REQUIRE(push);
  CHECK(push->kind == StoreChange::Kind::kPush);
  CHECK(push->push_id == 7);
  CHECK_FALSE(ParseChangePayload(""));
  CHECK_FALSE(ParseChangePayload("r x h1"));
  CHECK_FALSE(ParseChangePayload("r 5"));
  CHECK_FALSE(ParseChangePayload("zz 5"));
}

TEST_CASE("store reports an unopenable path, and a database URL without its password") {
  auto s = Store::Open("/nonexistent-dir/x/tracker.db");
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().message().find("/nonexistent-dir/x/tracker.db") != std::string::npos);
  // Nothing listens on port 1.
  auto pg = Store::Open("postgresql://spate:s3cret@127.0.0.1:1/spate?connect_timeout=2");
  REQUIRE_FALSE(pg.ok());
  CHECK(pg.status().message().find("postgresql://spate:***@127.0.0.1:1/spate") != std::string::npos);
  CHECK(pg.status().message().find("s3cret") == std::string::npos);
  CHECK(Store::Redacted("postgres://u@h/db") == "postgres://u@h/db");
  CHECK(Store::Redacted("/var/lib/spate/tracker.db") == "/var/lib/spate/tracker.db");
}

}  // namespace
}  // namespace spate
