// Hooks, activation with roll back, crash recovery and retention, on real
// files and real child processes (no fetcher, no network).
#include "fetcher/activate.h"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "fetcher/hook.h"
#include "fetcher/install.h"
#include "fetcher/retention.h"
#include "tests/support/cluster.h"
#include "wire/crypto.h"
#include "wire/fs.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

spate::Manifest Installed(const std::string& install, const std::string& version) {
  spate::Manifest m;
  m.name = "app";
  m.version = version;
  m.filename = "app.bin";
  std::string body = "v" + version;
  m.size = body.size();
  m.sha256 = spate::Sha256Hex(body);
  m.info_hash = std::string(40, 'a');
  fs::create_directories(install);
  std::string staging = install + "/.staging-" + version;
  REQUIRE(spate::WriteFileAtomic(staging, body).ok());
  REQUIRE(spate::InstallVersion(staging, m, install).ok());
  return m;
}

}  // namespace

TEST_CASE("a hook gets the env, no inherited fds, and its output tail") {
  spate::testing::TempDir t;
  int leaked = ::open("/dev/null", O_RDONLY);  // like libtorrent's files: no O_CLOEXEC
  REQUIRE(leaked > 2);
  auto r = spate::RunHook("echo start; echo \"$SPATE_NAME@$SPATE_VERSION\"; ls /proc/self/fd | sort -n | tr '\\n' ' '; exit 4",
                          {{"SPATE_NAME", "app"}, {"SPATE_VERSION", "2"}}, 5s);
  ::close(leaked);
  REQUIRE(r.ok());
  CHECK(r->exit_code == 4);
  CHECK_FALSE(r->ok());
  // ls itself holds one more fd (its directory); 0-2 plus that, never `leaked`.
  CHECK(r->tail == "start\napp@2\n0 1 2 3");
  CHECK(spate::DescribeFailure("health check", *r, 5s) == "health check exited 4: start\napp@2\n0 1 2 3");
}

TEST_CASE("a hook past its timeout is killed with its whole process group") {
  spate::testing::TempDir t;
  std::string marker = t / "grandchild-survived";
  auto started = std::chrono::steady_clock::now();
  auto r = spate::RunHook("(sleep 2; touch " + marker + ") & echo waiting; sleep 30", {}, 500ms);
  REQUIRE(r.ok());
  CHECK(r->timed_out);
  CHECK(std::chrono::steady_clock::now() - started < 5s);
  CHECK(spate::DescribeFailure("activation hook", *r, 60s) == "activation hook timed out after 60s: waiting");
  std::this_thread::sleep_for(2500ms);
  CHECK_FALSE(fs::exists(marker));
}

TEST_CASE("the output tail keeps the last 20 lines and at most 2 KiB") {
  std::string many;
  for (int i = 1; i <= 30; ++i) many += "line " + std::to_string(i) + "\n";
  std::string tail = spate::Tail(many, 20, 2048);
  CHECK(tail.rfind("line 11\n", 0) == 0);
  CHECK(tail.substr(tail.size() - 7) == "line 30");
  CHECK(spate::Tail(std::string(5000, 'x'), 20, 2048).size() == 2048);
  CHECK(spate::Tail("one", 20, 2048) == "one");
  CHECK(spate::Tail("\n\n", 20, 2048) == "");
}

TEST_CASE("a failing health check puts current back on the previous version and clears the record") {
  spate::testing::TempDir t;
  std::string install = t / "install", data = t / "data";
  auto v1 = Installed(install, "1");
  auto v2 = Installed(install, "2");
  REQUIRE(spate::SetCurrent(install, "app", "1").ok());
  spate::ActivationConfig c{install, data, "echo hook ran > " + t / "hook.out", "echo unhealthy; exit 3", 5s};
  auto r = spate::Activate(c, 9, v2);
  CHECK(r.status.message() == "health check exited 3: unhealthy");
  CHECK(r.previous == "1");
  CHECK(spate::CurrentVersion(install, "app") == "1");
  CHECK(fs::exists(t / "hook.out"));
  CHECK(spate::LoadActivationRecords(data)->empty());

  // No previous version: `current` goes away entirely.
  fs::remove(fs::path(install) / "app" / "current");
  r = spate::Activate(c, 10, v1);
  CHECK_FALSE(r.status.ok());
  CHECK_FALSE(fs::is_symlink(fs::path(install) / "app" / "current"));
}

TEST_CASE("a record left by a dead process is rolled back at start") {
  spate::testing::TempDir t;
  std::string install = t / "install", data = t / "data";
  Installed(install, "1");
  Installed(install, "2");
  // What a crash between the switch and the health check leaves behind.
  REQUIRE(spate::SaveActivationRecord(data, {7, "app", "2", "1"}).ok());
  REQUIRE(spate::SetCurrent(install, "app", "2").ok());
  REQUIRE(spate::RecoverActivations(install, data).ok());
  CHECK(spate::CurrentVersion(install, "app") == "1");
  CHECK(spate::LoadActivationRecords(data)->empty());
}

TEST_CASE("retention keeps the newest K by install time plus whatever is protected") {
  spate::testing::TempDir t;
  std::string install = t / "install";
  for (const char* v : {"1", "2", "3", "4", "5"}) {
    Installed(install, v);
    std::this_thread::sleep_for(20ms);  // distinct install times
  }
  fs::create_directories(fs::path(install) / "app" / ".tmp-6-abc");  // an install in progress
  auto removed = spate::PruneVersions(install, "app", 3, {"1"});
  REQUIRE(removed.ok());
  CHECK(*removed == std::vector<std::string>{"2"});
  std::set<std::string> left;
  for (const auto& e : fs::directory_iterator(fs::path(install) / "app")) left.insert(e.path().filename().string());
  CHECK(left == std::set<std::string>{"1", "3", "4", "5", ".tmp-6-abc"});
}

TEST_CASE("the free-space check names need, free, floor and path") {
  spate::testing::TempDir t;
  auto free = spate::FreeBytes(t.path().string());
  REQUIRE(free.ok());
  CHECK(*free > 0);
  CHECK(spate::CheckFreeSpace(t.path().string(), 0, 0).ok());
  auto s = spate::CheckFreeSpace(t.path().string(), 1024, *free);
  CHECK(s.message().rfind("not enough disk space: need 1.0 KiB, ", 0) == 0);
  CHECK(s.message().find(" at " + t.path().string()) != std::string::npos);
}
