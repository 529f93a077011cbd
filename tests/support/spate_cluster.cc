#include "tests/support/spate_cluster.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "wire/auth.h"
#include "wire/http.h"

namespace spate::testing {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::vector<std::string> SpateCluster::kEnv = {
    std::string("SPATE_PUSH_TOKEN=") + kPushToken, std::string("SPATE_READ_TOKEN=") + kReadToken,
    std::string("SPATE_UPLOAD_TOKEN=") + kUploadToken, std::string("SPATE_REGISTER_TOKEN=") + kRegisterToken};

namespace {

// A secret file as the daemons accept it: mode 600.
void WritePrivate(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
}

}  // namespace

http::ClientOptions SpateCluster::As(const std::string& token) {
  http::ClientOptions o;
  o.headers = {{"Authorization", "Bearer " + token}};
  return o;
}

std::string SpateCluster::Page(const std::string& path) const { return tracker + path + "#token=" + kReadToken; }

SpateCluster::SpateCluster(const TempDir& d, bool with_tls) : SpateCluster(d, [with_tls] {
      ClusterOptions o;
      o.tls = with_tls;
      return o;
    }()) {}

SpateCluster::SpateCluster(const TempDir& d, ClusterOptions o) : dir(d), tls(o.tls), env(kEnv), options_(std::move(o)) {
  std::ofstream(dir / "rackmap.txt") << "127.0.0.0/24 dc1/core/origin\n"
                                        "127.0.1.0/24 dc1/pod1/rack1\n"
                                        "127.0.2.0/24 dc1/pod2/rack2\n"
                                        "127.0.3.0/24 dc1/pod3/rack3\n";
  WritePrivate(dir / "tracker.tokens", std::string("register ") + kRegisterToken + "\npush " + kPushToken + "\nread " +
                                           kReadToken + "\nhost-secret " + kHostSecret + "\n");
  if (tls) {
    ca = MakeCa(dir, "ca");
    tracker_cert = MakeServerCert(dir, ca, "tracker", {"127.0.0.1", "127.0.0.3", "127.0.0.4", "127.0.0.5"});
    seeder_cert = MakeServerCert(dir, ca, "seeder", {"127.0.0.2"});
    env.push_back("SPATE_TLS_CA=" + ca.cert);
  }
  trackers.resize(std::max(1, options_.trackers));
  more_trackers.resize(trackers.size() - 1);
  for (size_t i = 0; i < trackers.size(); ++i) {
    std::string ip = i == 0 ? "127.0.0.1" : "127.0.0." + std::to_string(i + 2);
    StartTracker(ip + ":0", ip + ":0", i);
  }
}

void SpateCluster::StartTracker(const std::string& listen, const std::string& announce_listen, size_t i) {
  // Tracker 0 keeps the names single-tracker tests know (tracker.db, tracker.log).
  std::string name = i == 0 ? "tracker" : "tracker" + std::to_string(i + 1);
  fs::remove(dir / (name + ".ready"));
  std::string db = options_.db.empty() ? dir / (name + ".db") : options_.db;
  std::vector<std::string> argv{SpateBinary(), "tracker", "--listen", listen, "--rackmap", dir / "rackmap.txt",
                                "--db", db, "--ready-file", dir / (name + ".ready"),
                                "--announce-interval", "2s", "--token-file", dir / "tracker.tokens"};
  // One key for all, so fetchers' --tracker-key holds whichever tracker answers.
  if (trackers.size() > 1 || !options_.db.empty()) argv.insert(argv.end(), {"--key", dir / "tracker.sign.key"});
  if (tls)
    argv.insert(argv.end(),
                {"--tls-cert", tracker_cert.cert, "--tls-key", tracker_cert.key, "--announce-listen", announce_listen});
  argv.insert(argv.end(), options_.tracker_args.begin(), options_.tracker_args.end());
  auto proc = std::make_unique<Process>(argv, dir / (name + ".log"), kEnv);
  auto ready = WaitReady(*proc, dir / (name + ".ready"));
  std::string url = (tls ? "https://" : "http://") + ready["http"].get<std::string>();
  if (i == 0) {
    tracker_proc = std::move(proc);
    tracker = url;
    if (tls) announce = "http://" + ready["announce"].get<std::string>() + "/announce";
  } else {
    more_trackers[i - 1] = std::move(proc);
  }
  trackers[i] = url;
}

std::string SpateCluster::TrackerList() const {
  std::string out;
  for (const auto& t : trackers) out += (out.empty() ? "" : ",") + t;
  return out;
}

void SpateCluster::KillTracker(size_t i) { TrackerProcess(i).Kill(); }

Process& SpateCluster::TrackerProcess(size_t i) { return i == 0 ? *tracker_proc : *more_trackers.at(i - 1); }

void SpateCluster::RestartTracker() {
  tracker_proc->Kill();
  std::string announce_listen;
  if (tls) announce_listen = announce.substr(7, announce.size() - 7 - std::string("/announce").size());
  StartTracker(tracker.substr(tracker.find("://") + 3), announce_listen);
}

http::ClientOptions SpateCluster::client(const std::string& token) const {
  http::ClientOptions o = As(token);
  if (tls) o.ca_file = ca.cert;
  return o;
}

SpateCluster::~SpateCluster() {
  // All at once: a fetcher takes ~2 s to stop (its long poll), 16 s one by one.
  for (auto& f : fetchers) f.SignalTerm();
  fetchers.clear();
  seeder_proc.reset();
}

void SpateCluster::StartSeeder(const std::string& announce_url, const std::vector<std::string>& extra) {
  std::vector<std::string> argv{SpateBinary(), "seeder", "--listen", "127.0.0.2:0", "--data-dir", dir / "seeder",
                                "--tracker", TrackerList(), "--ready-file", dir / "seeder.ready"};
  if (!announce_url.empty() || tls)
    argv.insert(argv.end(), {"--announce-url", announce_url.empty() ? announce : announce_url});
  if (tls) argv.insert(argv.end(), {"--tls-cert", seeder_cert.cert, "--tls-key", seeder_cert.key, "--tls-ca", ca.cert});
  argv.insert(argv.end(), extra.begin(), extra.end());
  fs::remove(dir / "seeder.ready");
  seeder_proc = std::make_unique<Process>(argv, dir / "seeder.log", kEnv);
  seeder = (tls ? "https://" : "http://") + WaitReady(*seeder_proc, dir / "seeder.ready")["http"].get<std::string>();
}

void SpateCluster::StopSeeder() { seeder_proc.reset(); }

void SpateCluster::StartFetcher(int rack, int host, const std::vector<std::string>& extra) {
  std::string id = "r" + std::to_string(rack) + "h" + std::to_string(host);
  std::string home = dir / ("hosts/" + id);
  fs::create_directories(home);
  WritePrivate(home + "/host.token", auth::HostToken(kHostSecret, id) + "\n");
  std::vector<std::string> argv{SpateBinary(), "fetcher", "--host-id", id, "--bind",
                                "127.0." + std::to_string(rack) + "." + std::to_string(host), "--tracker", TrackerList(),
                                "--data-dir", home + "/data", "--install-dir", home + "/install", "--trusted-key",
                                dir / "seeder/seeder.pub", "--tracker-key", dir / "tracker.sign.pub", "--ready-file",
                                home + "/ready", "--seed-time", "5m", "--host-token-file", home + "/host.token"};
  if (tls) argv.insert(argv.end(), {"--tls-ca", ca.cert, "--announce-url", announce});
  argv.insert(argv.end(), extra.begin(), extra.end());
  fs::remove(home + "/ready");
  fetchers.emplace_back(argv, home + "/fetcher.log", kEnv);
  WaitReady(fetchers.back(), home + "/ready");
  installs.push_back(home + "/install");
  fetcher_argv.push_back(argv);
}

void SpateCluster::RestartFetcher(size_t i) {
  fetchers[i].Kill();
  std::string ready = fs::path(installs[i]).parent_path() / "ready";
  fs::remove(ready);
  fetchers[i] = Process(fetcher_argv[i], fs::path(installs[i]).parent_path() / "fetcher.log", kEnv);
  WaitReady(fetchers[i], ready);
}

nlohmann::json SpateCluster::Upload(const std::string& path, const std::string& version) {
  auto up = Run({SpateBinary(), "upload", path, "--name", "app", "--version", version, "--filename", "app.bin",
                 "--seeder", seeder},
                60s, env);
  INFO(up.output);
  REQUIRE(up.exit_code == 0);
  auto m = http::Call("GET", seeder + "/api/v1/artifacts/app/" + version, "", client());
  REQUIRE(m.ok());
  REQUIRE(m->status == 200);
  return nlohmann::json::parse(m->body);
}

void SpateCluster::WaitForHosts(size_t n) {
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = http::Call("GET", tracker + "/api/v1/hosts", "", client());
    if (r.ok() && r->status == 200) {
      auto j = nlohmann::json::parse(r->body, nullptr, false);
      if (!j.is_discarded() && j.contains("hosts") && j["hosts"].size() >= n) return;
    }
    std::this_thread::sleep_for(100ms);
  }
  FAIL("hosts did not check in with the tracker");
}

std::string SpateCluster::Logs() {
  std::string all = tracker_proc->Log().substr(0, 20000);
  for (auto& t : more_trackers)
    if (t) all += t->Log().substr(0, 20000);
  if (seeder_proc) all += seeder_proc->Log().substr(0, 20000);
  for (auto& p : fetchers) all += p.Log().substr(0, 10000);
  return all;
}

}  // namespace spate::testing
