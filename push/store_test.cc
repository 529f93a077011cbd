#include "push/store.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <unistd.h>

namespace spate {
namespace {

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

TEST_CASE("store keeps artifacts, pushes, host progress and hosts across reopen") {
  auto path = (std::filesystem::temp_directory_path() / ("spate-store-" + std::to_string(::getpid()) + ".db")).string();
  std::filesystem::remove(path);
  int64_t id1 = 0, id2 = 0;
  {
    auto s = Store::Open(path);
    REQUIRE(s.ok());
    Store& st = **s;
    REQUIRE(st.PutArtifact(ArtifactRecord{FakeManifest("1"), std::string("d8:\0binary", 10), "127.0.0.9", 5}).ok());
    HostProgress a, b;
    a.host = "h1";
    a.location = "dc/p/r";
    b.host = "h2";
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
    a.progress_at = 77;
    plan.wave = 1;
    plan.paused = true;
    plan.reason = "1 failure";
    REQUIRE(st.SavePlan(id1, plan).ok());
    REQUIRE(st.SavePushHosts({{id1, a}}).ok());
    REQUIRE(st.SaveHosts({HostRecord{"h1", "127.0.1.1", "dc/p/r", 99}}).ok());
  }
  auto s = Store::Open(path);
  REQUIRE(s.ok());
  auto snap = (*s)->Load();
  REQUIRE(snap.ok());
  REQUIRE(snap->artifacts.size() == 1);
  CHECK(snap->artifacts[0].manifest.id() == "web@1");
  CHECK(snap->artifacts[0].torrent == std::string("d8:\0binary", 10));
  CHECK(snap->artifacts[0].origin == "127.0.0.9");
  REQUIRE(snap->pushes.size() == 2);
  CHECK(snap->pushes[0].id == id1);
  REQUIRE(snap->pushes[0].hosts.size() == 2);
  CHECK(snap->pushes[0].hosts[0].state == kStateInstalled);
  CHECK(snap->pushes[0].hosts[0].bytes_done == 1234);
  CHECK(snap->pushes[0].hosts[0].rate == 2.5);
  CHECK(snap->pushes[0].hosts[0].wave == 1);
  CHECK(snap->pushes[0].hosts[0].tries == 2);
  CHECK(snap->pushes[0].hosts[0].progress_at == 77);
  CHECK(snap->pushes[0].plan.waves == std::vector<int>{1, 1});
  CHECK(snap->pushes[0].plan.wave == 1);
  CHECK(snap->pushes[0].plan.paused);
  CHECK(snap->pushes[0].plan.reason == "1 failure");
  CHECK(snap->pushes[0].plan.started_by == "rm@desk");
  CHECK(snap->pushes[1].plan.kind == "push");
  CHECK(snap->pushes[0].hosts[1].state == kStatePending);
  CHECK(snap->pushes[1].hosts.size() == 1);
  REQUIRE(snap->hosts.size() == 1);
  CHECK(snap->hosts[0].addr == "127.0.1.1");
  s->reset();
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
}

TEST_CASE("store reports an unopenable path") {
  auto s = Store::Open("/nonexistent-dir/x/tracker.db");
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().message().find("/nonexistent-dir/x/tracker.db") != std::string::npos);
}

}  // namespace
}  // namespace spate
