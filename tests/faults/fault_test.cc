// The fault suite: a push to 8 hosts in 2 racks (real processes on loopback)
// survives a fault injected while it runs. Each case checks both halves of the
// outcome: nothing lost or half-installed on any host, and the push's record
// and `spate push`'s exit code tell the truth about the fleet.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/support/spate_cluster.h"
#include "wire/http.h"

using namespace spate::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kSize = 24u << 20;
// Caps stretch a push over ~6-10 s, so a fault lands while it runs.
const std::vector<std::string> kHostCaps = {"--download-rate", "4MiB", "--upload-rate", "4MiB"};
const std::vector<std::string> kSeederCaps = {"--upload-rate", "8MiB"};

void StartFleet(SpateCluster& c, const std::vector<std::string>& host_flags = kHostCaps,
                const std::vector<std::string>& seeder_flags = kSeederCaps) {
  c.StartSeeder("", seeder_flags);
  for (int rack = 1; rack <= 2; ++rack)
    for (int host = 1; host <= 4; ++host) c.StartFetcher(rack, host, host_flags);
  c.WaitForHosts(8);
}

// `spate push` running in the background, as a release manager runs it.
struct PushRun {
  PushRun(SpateCluster& c, const std::string& artifact, const std::string& timeout, const std::string& hosts = "*")
      : log(c.dir / ("push-" + artifact + "-" + std::to_string(++count) + ".log")),
        proc({SpateBinary(), "push", artifact, "--tracker", c.tracker, "--timeout", timeout, "--hosts", hosts,
              "--interval", "500ms"},
             log, SpateCluster::kEnv) {}
  int Wait() { return proc.Wait(240s); }
  std::string Output() const { return ReadAll(log); }
  static inline int count = 0;
  std::string log;
  Process proc;
};

// The tracker's record of push `id`, or null while it cannot be read.
nlohmann::json PushRecord(const SpateCluster& c, int id) {
  auto r = spate::http::Call("GET", c.tracker + "/api/v1/pushes/" + std::to_string(id), "");
  if (!r.ok() || r->status != 200) return nullptr;
  return nlohmann::json::parse(r->body, nullptr, false);
}

int CountState(const nlohmann::json& push, const std::string& state) {
  int n = 0;
  if (push.is_object())
    for (const auto& h : push["hosts"]) n += h["state"] == state;
  return n;
}

// Polls until `pred` holds for push `id` (bounded); false on time-out.
template <typename Pred>
bool WaitPush(const SpateCluster& c, int id, Pred pred, std::chrono::seconds limit = 120s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    auto p = PushRecord(c, id);
    if (p.is_object() && pred(p)) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

// Nothing half-installed: no temp dirs, and `current`, when present, names a
// complete version holding exactly `want`.
void CheckHost(const std::string& install, const std::string& version, const std::string& want) {
  INFO(install);
  fs::path app = fs::path(install) / "app";
  if (fs::exists(app))
    for (const auto& e : fs::directory_iterator(app)) {
      INFO(e.path());
      CHECK(e.path().filename().string().rfind(".tmp-", 0) != 0);
    }
  REQUIRE(fs::is_symlink(app / "current"));
  CHECK(fs::read_symlink(app / "current") == version);
  CHECK(fs::exists(app / version / "manifest.json"));
  CHECK(ReadAll((app / version / "app.bin").string()) == want);
}

std::string Artifact(const TempDir& dir, uint32_t seed, uint64_t size = kSize) {
  std::string path = dir / ("app-" + std::to_string(seed) + ".bin");
  WriteRandomFile(path, size, seed);
  return path;
}

// Raw PUT that sends only the first half of the body, then leaves the socket open.
int StartPartialUpload(const std::string& seeder_base, uint64_t size) {
  auto ep = spate::http::ParseEndpoint(seeder_base.substr(std::string("http://").size()));
  REQUIRE(ep.ok());
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(ep->port());
  sa.sin_addr.s_addr = inet_addr(ep->address().to_string().c_str());
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  std::string head = "PUT /api/v1/artifacts/app/1.0?filename=app.bin HTTP/1.1\r\nHost: seeder\r\n"
                     "Authorization: Bearer test-upload\r\nContent-Length: " +
                     std::to_string(size) + "\r\n\r\n";
  std::string half(size / 2, 'x');
  REQUIRE(::send(fd, head.data(), head.size(), MSG_NOSIGNAL) == ssize_t(head.size()));
  size_t sent = 0;
  while (sent < half.size()) {
    ssize_t n = ::send(fd, half.data() + sent, half.size() - sent, MSG_NOSIGNAL);
    REQUIRE(n > 0);
    sent += size_t(n);
  }
  return fd;
}

}  // namespace

TEST_CASE("fault: seeder killed mid-upload stores nothing; after the acknowledgement the artifact survives",
          "[faults]") {
  TempDir dir("spate-fault-upload");
  SpateCluster c(dir);
  StartFleet(c, {}, {});
  int fd = StartPartialUpload(c.seeder, 64u << 20);
  std::this_thread::sleep_for(300ms);  // the seeder is streaming the body to disk
  c.seeder_proc->Kill();
  ::close(fd);
  c.StartSeeder();
  auto list = spate::http::Call("GET", c.seeder + "/api/v1/artifacts", "");
  REQUIRE(list.ok());
  CHECK(nlohmann::json::parse(list->body)["artifacts"].empty());
  CHECK_FALSE(fs::exists(dir / "seeder/artifacts/app"));
  auto one = spate::http::Call("GET", c.seeder + "/api/v1/artifacts/app/1.0", "");
  REQUIRE(one.ok());
  CHECK(one->status == 404);

  // The retried upload succeeds; the one acknowledged just before a crash is served after it.
  std::string v1 = Artifact(dir, 1, 4u << 20), v2 = Artifact(dir, 2, 4u << 20);
  c.Upload(v1, "1.0");
  c.Upload(v2, "2.0");
  c.seeder_proc->Kill();
  c.StartSeeder();
  auto torrent = spate::http::Call("GET", c.seeder + "/api/v1/artifacts/app/2.0/torrent", "");
  REQUIRE(torrent.ok());
  CHECK(torrent->status == 200);
  PushRun push(c, "app@2.0", "120s");
  int code = push.Wait();
  INFO(push.Output());
  INFO(c.Logs());
  CHECK(code == 0);
  for (const auto& install : c.installs) CheckHost(install, "2.0", ReadAll(v2));
}

TEST_CASE("fault: seeder killed once one host has a full copy; the push completes from peers", "[faults]") {
  TempDir dir("spate-fault-seeder");
  SpateCluster c(dir);
  StartFleet(c);
  std::string file = Artifact(dir, 3);
  c.Upload(file);
  PushRun push(c, "app@1.0", "150s");
  REQUIRE(WaitPush(c, 1, [](const nlohmann::json& p) { return CountState(p, "installed") >= 1; }));
  c.seeder_proc->Kill();
  int code = push.Wait();
  INFO(push.Output());
  INFO(c.Logs());
  CHECK(code == 0);
  CHECK(push.Output().find("8/8 hosts installed and verified") != std::string::npos);
  for (const auto& install : c.installs) CheckHost(install, "1.0", ReadAll(file));
}

TEST_CASE("fault: tracker killed mid-push and restarted on its database; the push completes with its history",
          "[faults]") {
  TempDir dir("spate-fault-tracker");
  SpateCluster c(dir);
  StartFleet(c);
  std::string file = Artifact(dir, 4);
  c.Upload(file);
  PushRun push(c, "app@1.0", "150s");
  nlohmann::json before;
  REQUIRE(WaitPush(c, 1, [&](const nlohmann::json& p) {
    before = p;
    for (const auto& h : p["hosts"])
      if (h["bytes_done"].get<uint64_t>() > kSize / 8) return true;
    return false;
  }));
  c.RestartTracker();
  int code = push.Wait();
  INFO(push.Output());
  INFO(c.Logs());
  CHECK(code == 0);
  auto after = PushRecord(c, 1);
  REQUIRE(after.is_object());
  CHECK(after["state"] == "succeeded");
  CHECK(after["artifact"] == before["artifact"]);
  CHECK(after["created_at"] == before["created_at"]);
  CHECK(CountState(after, "installed") == 8);
  for (const auto& install : c.installs) CheckHost(install, "1.0", ReadAll(file));
}

TEST_CASE("fault: tracker gone longer than the push's timeout; push fails, then the record converges", "[faults]") {
  TempDir dir("spate-fault-tracker-gone");
  SpateCluster c(dir);
  StartFleet(c);
  std::string file = Artifact(dir, 5);
  c.Upload(file);
  PushRun push(c, "app@1.0", "6s");
  REQUIRE(WaitPush(c, 1, [](const nlohmann::json& p) { return CountState(p, "pending") < 8; }, 30s));
  std::string listen = c.tracker.substr(std::string("http://").size());
  c.tracker_proc->Kill();
  int code = push.Wait();
  std::string out = push.Output();
  INFO(out);
  CHECK(code == 1);
  CHECK(out.find("progress unavailable") != std::string::npos);
  CHECK(out.find("timed out") != std::string::npos);
  // Back after the watcher gave up: fetchers kept going and report what they did.
  c.RestartTracker();
  INFO(c.Logs());
  CHECK(WaitPush(c, 1, [](const nlohmann::json& p) { return p["state"] == "succeeded"; }));
  for (const auto& install : c.installs) CheckHost(install, "1.0", ReadAll(file));
}

TEST_CASE("fault: fetcher killed mid-download resumes after restart with nothing partial", "[faults]") {
  TempDir dir("spate-fault-fetcher");
  SpateCluster c(dir);
  StartFleet(c);
  std::string file = Artifact(dir, 6);
  c.Upload(file);
  PushRun push(c, "app@1.0", "150s");
  REQUIRE(WaitPush(c, 1, [](const nlohmann::json& p) {
    for (const auto& h : p["hosts"])
      if (h["host"] == "r1h1") return h["state"] == "downloading" && h["bytes_done"].get<uint64_t>() > kSize / 8;
    return false;
  }));
  c.RestartFetcher(0);
  int code = push.Wait();
  INFO(push.Output());
  INFO(c.Logs());
  CHECK(code == 0);
  for (const auto& install : c.installs) CheckHost(install, "1.0", ReadAll(file));
}

TEST_CASE("fault: a peer serving corrupt pieces does not stop the others from installing the right bytes",
          "[faults]") {
  TempDir dir("spate-fault-corrupt");
  SpateCluster c(dir);
  // r1h1 serves without a cap, so the others ask it for much of the file.
  c.StartSeeder("", kSeederCaps);
  c.StartFetcher(1, 1, {"--log-level", "debug"});
  for (int rack = 1; rack <= 2; ++rack)
    for (int host = rack == 1 ? 2 : 1; host <= 4; ++host) c.StartFetcher(rack, host, {"--log-level", "debug"});
  c.WaitForHosts(8);
  std::string file = Artifact(dir, 7);
  c.Upload(file);
  PushRun first(c, "app@1.0", "60s", "r1h1");
  REQUIRE(first.Wait() == 0);
  // Its staging file (which it seeds from) and install share an inode: overwrite
  // every other 64 KiB block in place, as a failing disk would.
  std::string staged = c.installs[0] + "/app/1.0/app.bin";
  {
    std::fstream f(staged, std::ios::in | std::ios::out | std::ios::binary);
    REQUIRE(f.good());
    std::string junk(4096, '\x5a');
    for (uint64_t off = 0; off < kSize; off += 128 * 1024) {
      f.seekp(off);
      f.write(junk.data(), junk.size());
    }
  }
  PushRun push(c, "app@1.0", "150s", "r?h[234]");
  int code = push.Wait();
  INFO(c.Logs());
  INFO(push.Output());
  CHECK(code == 0);
  std::string want = ReadAll(file);
  std::string logs;
  for (size_t i = 1; i < c.installs.size(); ++i) {
    if (fs::path(c.installs[i]).parent_path().filename() == "r2h1") continue;  // not targeted by the glob
    CheckHost(c.installs[i], "1.0", want);
  }
  for (size_t i = 1; i < c.fetchers.size(); ++i) logs += c.fetchers[i].Log();
  // The fault was exercised: some host threw away a piece that failed its hash.
  CHECK(logs.find("failed") != std::string::npos);
  CHECK(logs.find("hash for piece") != std::string::npos);
}
