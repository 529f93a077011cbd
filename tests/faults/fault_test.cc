// The fault suite: a push to 8 hosts in 2 racks (real processes on loopback)
// survives a fault injected while it runs. Each case checks both halves of the
// outcome: nothing lost or half-installed on any host, and the push's record
// and `spate push`'s exit code tell the truth about the fleet.
#include <arpa/inet.h>
#include <sys/mount.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <sstream>
#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/support/spate_cluster.h"
#include "tests/support/tools.h"
#include "wire/http.h"

using namespace spate::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kSize = 16u << 20;
// Caps stretch a push over ~4-6 s (bound 4 s), so a fault lands while it runs.
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
  auto r = spate::http::Call("GET", c.tracker + "/api/v1/pushes/" + std::to_string(id), "", SpateCluster::As());
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

// Index in SpateCluster::fetchers/installs of host r<rack>h<host> (StartFleet's order).
size_t HostIndex(int rack, int host) { return size_t((rack - 1) * 4 + (host - 1)); }

// The state and error of host `name` in push record `p` ("" if absent).
std::pair<std::string, std::string> HostState(const nlohmann::json& p, const std::string& name) {
  if (p.is_object())
    for (const auto& h : p["hosts"])
      if (h["host"] == name) return {h["state"].get<std::string>(), h.value("error", std::string())};
  return {"", ""};
}

// No trace of a version on this host: no `current`, no version dir, no temp
// dir, no staging left behind.
void CheckHostHasNothing(const std::string& install, const std::string& version) {
  INFO(install);
  fs::path app = fs::path(install) / "app";
  CHECK_FALSE(fs::exists(app / "current"));
  CHECK_FALSE(fs::exists(app / version));
  if (fs::exists(app))
    for (const auto& e : fs::directory_iterator(app)) {
      INFO(e.path());
      CHECK(e.path().filename().string().rfind(".tmp-", 0) != 0);
      CHECK(e.path().filename().string().rfind(".current-", 0) != 0);
    }
  fs::path staging = fs::path(install) / ".spate" / "staging";
  if (fs::exists(staging)) CHECK(fs::is_empty(staging));
}

// A tmpfs of `size` bytes mounted at `path` for the test's life (root only).
struct TmpfsMount {
  TmpfsMount(const std::string& p, uint64_t size) : path(p) {
    fs::create_directories(path);
    std::string opts = "size=" + std::to_string(size) + ",mode=0755";
    if (::mount("spate-fault", path.c_str(), "tmpfs", 0, opts.c_str()) != 0)
      FAIL("mount tmpfs at " << path << ": " << std::strerror(errno) << " (the fault suite runs as root)");
    mounted = true;
  }
  void Resize(uint64_t size) {
    std::string opts = "size=" + std::to_string(size) + ",mode=0755";
    REQUIRE(::mount("spate-fault", path.c_str(), "tmpfs", MS_REMOUNT, opts.c_str()) == 0);
  }
  ~TmpfsMount() {
    if (mounted && ::umount2(path.c_str(), 0) != 0) ::umount2(path.c_str(), MNT_DETACH);
  }
  std::string path;
  bool mounted = false;
};

// An nftables table of its own (inet spate_fault_<pid>) holding `rules` in an
// input chain; rules must only match 127.0.0.0/8. Deleted on destruction, so
// every exit path of a test (a failed REQUIRE included) removes it.
struct NftTable {
  explicit NftTable(const std::vector<std::string>& rules)
      : nft(RequireTool("nft", "nftables")), name("spate_fault_" + std::to_string(::getpid())) {
    Run({nft, "delete", "table", "inet", name}, 10s);
    auto add = Run({nft, "add", "table", "inet", name}, 10s);
    INFO(add.output);
    REQUIRE(add.exit_code == 0);
    active = true;
    auto chain = Run({nft, "add", "chain", "inet", name, "in", "{ type filter hook input priority 0; policy accept; }"}, 10s);
    INFO(chain.output);
    REQUIRE(chain.exit_code == 0);
    for (const auto& r : rules) {
      std::vector<std::string> argv{nft, "add", "rule", "inet", name, "in"};
      std::istringstream words(r);
      for (std::string w; words >> w;) argv.push_back(w);
      auto res = Run(argv, 10s);
      INFO(r << ": " << res.output);
      REQUIRE(res.exit_code == 0);
    }
  }
  void Remove() {
    if (!active) return;
    active = false;
    Run({nft, "delete", "table", "inet", name}, 10s);
  }
  ~NftTable() { Remove(); }
  std::string nft, name;
  bool active = false;
};

}  // namespace

TEST_CASE("fault: seeder killed mid-upload stores nothing, after the acknowledgement the artifact survives",
          "[faults]") {
  TempDir dir("spate-fault-upload");
  SpateCluster c(dir);
  StartFleet(c, {}, {});
  int fd = StartPartialUpload(c.seeder, 64u << 20);
  std::this_thread::sleep_for(300ms);  // the seeder is streaming the body to disk
  c.seeder_proc->Kill();
  ::close(fd);
  c.StartSeeder();
  auto list = spate::http::Call("GET", c.seeder + "/api/v1/artifacts", "", SpateCluster::As());
  REQUIRE(list.ok());
  CHECK(nlohmann::json::parse(list->body)["artifacts"].empty());
  CHECK_FALSE(fs::exists(dir / "seeder/artifacts/app"));
  auto one = spate::http::Call("GET", c.seeder + "/api/v1/artifacts/app/1.0", "", SpateCluster::As());
  REQUIRE(one.ok());
  CHECK(one->status == 404);

  // The retried upload succeeds; the one acknowledged just before a crash is served after it.
  std::string v1 = Artifact(dir, 1, 4u << 20), v2 = Artifact(dir, 2, 4u << 20);
  c.Upload(v1, "1.0");
  c.Upload(v2, "2.0");
  c.seeder_proc->Kill();
  c.StartSeeder();
  auto torrent = spate::http::Call("GET", c.seeder + "/api/v1/artifacts/app/2.0/torrent", "", SpateCluster::As());
  REQUIRE(torrent.ok());
  CHECK(torrent->status == 200);
  PushRun push(c, "app@2.0", "120s");
  int code = push.Wait();
  INFO(push.Output());
  INFO(c.Logs());
  CHECK(code == 0);
  for (const auto& install : c.installs) CheckHost(install, "2.0", ReadAll(v2));
}

TEST_CASE("fault: seeder killed once one host has a full copy, the push completes from peers", "[faults]") {
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

TEST_CASE("fault: tracker killed mid-push and restarted on its database, the push completes with its history",
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

TEST_CASE("fault: tracker gone longer than the push's timeout, push fails, then the record converges", "[faults]") {
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
  auto manifest = c.Upload(file);
  PushRun first(c, "app@1.0", "60s", "r1h1");
  REQUIRE(first.Wait() == 0);
  // The staging file it seeds from (the install is a copy with its own inode):
  // overwrite every other 64 KiB block in place, as a failing disk would.
  std::string staged =
      c.installs[0] + "/.spate/staging/" + manifest["info_hash"].get<std::string>() + "/app.bin";
  REQUIRE(fs::exists(staged));
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

TEST_CASE("fault: fetcher killed mid-install (verifying) finishes after restart with nothing partial",
          "[faults]") {
  // Installing a few MiB takes milliseconds. A bigger artifact, uncapped, makes
  // the install (copy of the staging file with its sha256, fsync, rename) last
  // long enough to poll for r1h1's "verifying" report and kill it inside that window.
  constexpr uint64_t kBig = 96u << 20;
  TempDir dir("spate-fault-install");
  SpateCluster c(dir);
  StartFleet(c, {}, {});
  std::string file = Artifact(dir, 8, kBig);
  c.Upload(file);
  PushRun push(c, "app@1.0", "150s");
  size_t victim = HostIndex(1, 1);
  REQUIRE(WaitPush(c, 1, [](const nlohmann::json& p) { return HostState(p, "r1h1").first == "verifying"; }, 60s));
  // It copies the staging file into app/.tmp-1.0-*, hashing as it goes, fsyncs
  // and renames it into place. Aim for the temp dir (the harder case: something
  // on disk to clean up); if it never shows, kill anyway while still unswitched.
  fs::path app = fs::path(c.installs[victim]) / "app";
  auto has_tmp = [&] {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(app, ec))
      if (e.path().filename().string().rfind(".tmp-", 0) == 0) return true;
    return false;
  };
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!has_tmp() && !fs::exists(app / "current") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  c.fetchers[victim].Kill();
  bool tmp_dir = has_tmp();
  INFO("killed with a temp version dir present: " << tmp_dir);
  REQUIRE_FALSE(fs::exists(app / "current"));  // the kill landed mid-install
  c.RestartFetcher(victim);
  int code = push.Wait();
  INFO(push.Output());
  INFO(c.Logs());
  CHECK(code == 0);
  std::string want = ReadAll(file);
  for (const auto& install : c.installs) CheckHost(install, "1.0", want);
  WARN("kill landed " << (tmp_dir ? "after the temp version dir was made" : "before the temp version dir was made"));
  if (tmp_dir) CHECK(c.fetchers[victim].Log().find("left by an interrupted install") != std::string::npos);
}

TEST_CASE("fault: disk full on one host fails it with the reason, nothing partial stays, a retry succeeds",
          "[faults]") {
  TempDir dir("spate-fault-disk");
  // r2h4's install dir (staging lives in <install>/.spate/staging) holds half the artifact.
  TmpfsMount disk(dir / "hosts/r2h4/install", kSize / 2);
  SpateCluster c(dir);
  // The free-space floor would refuse the download before it starts; this case
  // is a disk that fills while it runs, so the floor is off everywhere.
  std::vector<std::string> flags = kHostCaps;
  flags.insert(flags.end(), {"--min-free", "off"});
  StartFleet(c, flags);
  std::string file = Artifact(dir, 9);
  c.Upload(file);
  PushRun push(c, "app@1.0", "150s");
  int code = push.Wait();
  std::string out = push.Output();
  INFO(out);
  INFO(c.Logs());
  CHECK(code == 1);
  CHECK(out.find("7/8 hosts installed") != std::string::npos);
  CHECK(out.find("FAILED     r2h4 (dc1/pod2/rack2): no space left on device: ") != std::string::npos);
  auto rec = PushRecord(c, 1);
  CHECK(rec["state"] == "failed");
  CHECK(CountState(rec, "installed") == 7);
  auto [state, error] = HostState(rec, "r2h4");
  CHECK(state == "failed");
  CHECK(error.rfind("no space left on device: ", 0) == 0);
  std::string want = ReadAll(file);
  for (size_t i = 0; i < c.installs.size(); ++i)
    if (i == HostIndex(2, 4))
      CheckHostHasNothing(c.installs[i], "1.0");
    else
      CheckHost(c.installs[i], "1.0", want);

  // Space comes back (for staging and the install's copy of it, fetcher/install.h);
  // a new push of the same version completes everywhere.
  disk.Resize(kSize * 3);
  PushRun retry(c, "app@1.0", "150s");
  int retry_code = retry.Wait();
  INFO(retry.Output());
  CHECK(retry_code == 0);
  CHECK(retry.Output().find("8/8 hosts installed and verified") != std::string::npos);
  for (const auto& install : c.installs) CheckHost(install, "1.0", want);
}

TEST_CASE("fault: a rack cut off from the other rack and the origin, the rest finishes, then the rack after the heal",
          "[faults]") {
  TempDir dir("spate-fault-partition");
  SpateCluster c(dir);
  StartFleet(c);
  std::string file = Artifact(dir, 10);
  c.Upload(file);
  PushRun push(c, "app@1.0", "150s");
  REQUIRE(WaitPush(c, 1, [](const nlohmann::json& p) {
    for (const auto& h : p["hosts"])
      if (h["host"].get<std::string>().rfind("r2", 0) == 0 && h["bytes_done"].get<uint64_t>() > kSize / 8)
        return true;
    return false;
  }));
  // Rack 2 (127.0.2.0/24) loses rack 1 and the seeder both ways; the tracker
  // (127.0.0.1) stays reachable, as a control plane on another path would.
  NftTable cut({"ip saddr 127.0.2.0/24 ip daddr 127.0.1.0/24 drop", "ip saddr 127.0.2.0/24 ip daddr 127.0.0.2 drop",
                "ip saddr 127.0.1.0/24 ip daddr 127.0.2.0/24 drop", "ip saddr 127.0.0.2 ip daddr 127.0.2.0/24 drop"});
  nlohmann::json during;
  bool rest_done = WaitPush(c, 1, [&](const nlohmann::json& p) {
    during = p;
    int n = 0;
    for (const auto& h : p["hosts"]) n += h["host"].get<std::string>().rfind("r1", 0) == 0 && h["state"] == "installed";
    return n == 4;
  });
  INFO(during.dump());
  INFO(c.Logs());
  CHECK(rest_done);
  int r2_installed = 0;
  for (const auto& h : during["hosts"])
    r2_installed += h["host"].get<std::string>().rfind("r2", 0) == 0 && h["state"] == "installed";
  CHECK(r2_installed < 4);  // the cut held rack 2 back: the fault landed mid-push
  cut.Remove();
  int code = push.Wait();
  INFO(push.Output());
  CHECK(code == 0);
  for (const auto& install : c.installs) CheckHost(install, "1.0", ReadAll(file));
}

TEST_CASE("fault: two versions pushed back to back, every host ends on the newer, the older push ends superseded",
          "[faults]") {
  TempDir dir("spate-fault-supersede");
  SpateCluster c(dir);
  StartFleet(c);
  std::string v1 = Artifact(dir, 11), v2 = Artifact(dir, 12);
  c.Upload(v1, "1.0");
  c.Upload(v2, "2.0");
  PushRun first(c, "app@1.0", "150s");
  REQUIRE(WaitPush(c, 1, [](const nlohmann::json& p) {
    for (const auto& h : p["hosts"])
      if (h["bytes_done"].get<uint64_t>() > kSize / 8) return true;
    return false;
  }));
  PushRun second(c, "app@2.0", "150s");
  int code1 = first.Wait(), code2 = second.Wait();
  INFO(first.Output());
  INFO(second.Output());
  INFO(c.Logs());
  CHECK(code1 == 1);
  CHECK(code2 == 0);
  auto rec1 = PushRecord(c, 1), rec2 = PushRecord(c, 2);
  CHECK(rec1["state"] == "superseded");
  CHECK(rec2["state"] == "succeeded");
  // Every host of push 1 either installed 1.0 before push 2 reached it, or
  // reports why not; none of them still downloads or is silent.
  int superseded = 0;
  for (const auto& h : rec1["hosts"]) {
    INFO(h.dump());
    if (h["state"] == "installed") continue;
    CHECK(h["state"] == "superseded");
    CHECK(h["error"] == "superseded by push 2 (app@2.0)");
    CHECK(first.Output().find("SUPERSEDED " + h["host"].get<std::string>()) != std::string::npos);
    ++superseded;
  }
  CHECK(superseded > 0);  // push 2 landed while push 1 was under way
  std::string want = ReadAll(v2);
  for (const auto& install : c.installs) CheckHost(install, "2.0", want);
}
