// The daemon in-process against a fake tracker (control API + /announce) and
// a seeding libtorrent session, all on 127.0.9.x with ephemeral ports.
#include "fetcher/fetcher.h"

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/bdecode.hpp>
#include <libtorrent/bencode.hpp>
#include <libtorrent/entry.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/torrent_flags.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>
#include <sys/mount.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <mutex>
#include <set>
#include <thread>

#include "fetcher/install.h"
#include "fetcher/retention.h"
#include "fetcher/test_artifact.h"
#include "tests/support/cluster.h"
#include "wire/fs.h"
#include "wire/http.h"
#include "wire/metrics.h"
#include "wire/swarm.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// Serves what a fetcher needs from the tracker: assignments, reports, and
// announces that always return one fixed peer.
class FakeTracker {
 public:
  FakeTracker() : server_(Options(), [this](spate::http::Request&& r, spate::http::Reply reply) {
                    reply(Handle(r));
                  }) {
    REQUIRE(server_.Start().ok());
    thread_ = std::thread([this] { server_.Run(); });
  }
  ~FakeTracker() {
    server_.Stop();
    thread_.join();
  }
  std::string url() const { return "http://" + spate::http::FormatEndpoint(server_.local_endpoint()); }

  void SetAssignments(std::vector<spate::Assignment> a) {
    std::lock_guard<std::mutex> l(mu_);
    list_.assignments = std::move(a);
    ++list_.generation;
  }
  void SetPeer(const std::string& ip, int port) {
    std::lock_guard<std::mutex> l(mu_);
    auto addr = boost::asio::ip::make_address_v4(ip).to_bytes();
    peer_.assign(addr.begin(), addr.end());
    peer_ += static_cast<char>(port >> 8);
    peer_ += static_cast<char>(port & 0xff);
  }
  std::vector<spate::HostReport> Reports() {
    std::lock_guard<std::mutex> l(mu_);
    return reports_;
  }
  std::string last_poll_addr() {
    std::lock_guard<std::mutex> l(mu_);
    return poll_addr_;
  }
  int announces() {
    std::lock_guard<std::mutex> l(mu_);
    return announces_;
  }
  // From now on, report answers carry the list's generation, as the real
  // tracker's do (the fetcher then rests its poll thread while it reports).
  void AnswerGeneration() {
    std::lock_guard<std::mutex> l(mu_);
    answer_generation_ = true;
  }
  // Every request to the control API in order: "poll WAIT" or "report STATES".
  std::vector<std::string> Calls() {
    std::lock_guard<std::mutex> l(mu_);
    return calls_;
  }
  // Waits for a report matching `pred`.
  bool WaitReport(const std::function<bool(const spate::HostReport&)>& pred, std::chrono::seconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      for (const auto& r : Reports())
        if (pred(r)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

 private:
  static spate::http::ServerOptions Options() {
    spate::http::ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.threads = 2;
    return o;
  }

  spate::http::Response Handle(const spate::http::Request& r) {
    std::lock_guard<std::mutex> l(mu_);
    if (r.path == "/announce") {
      ++announces_;
      std::string body = "d8:intervali1e5:peers" + std::to_string(peer_.size()) + ":" + peer_ + "e";
      return spate::http::Response::Text(200, body);
    }
    if (r.path.size() > 12 && r.path.compare(r.path.size() - 12, 12, "/assignments") == 0) {
      auto q = spate::http::ParseQuery(r.query);
      std::string wait = "?";
      if (q.ok())
        for (auto& [k, v] : *q) {
          if (k == "addr") poll_addr_ = v;
          if (k == "wait") wait = v;
        }
      calls_.push_back("poll " + wait);
      return spate::http::Response::Json(200, spate::ToJson(list_).dump());
    }
    if (r.path.size() > 8 && r.path.compare(r.path.size() - 8, 8, "/reports") == 0) {
      auto j = spate::ParseJson(r.body);
      if (!j.ok() || !j->contains("reports")) return spate::http::Response::Error(spate::Status::Invalid("bad"));
      std::string states;
      for (const auto& rj : (*j)["reports"]) {
        auto hr = spate::HostReportFromJson(rj);
        if (!hr.ok()) return spate::http::Response::Error(hr.status());
        reports_.push_back(*hr);
        states += (states.empty() ? "" : ",") + hr->state;
      }
      calls_.push_back("report " + states);
      if (answer_generation_)
        return spate::http::Response::Json(200, nlohmann::json{{"ok", true}, {"generation", list_.generation}}.dump());
      return spate::http::Response::Json(200, R"({"ok":true})");
    }
    return spate::http::Response::Error(spate::Status::NotFound("no route " + r.path));
  }

  std::mutex mu_;
  spate::AssignmentList list_;
  std::string peer_;
  std::vector<spate::HostReport> reports_;
  std::string poll_addr_;
  int announces_ = 0;
  bool answer_generation_ = false;
  std::vector<std::string> calls_;
  spate::http::Server server_;
  std::thread thread_;
};

struct Env {
  spate::testing::TempDir t;
  spate::SigningKey seeder_key = *spate::SigningKey::LoadOrCreate(t / "seeder.pem");
  spate::SigningKey tracker_key = *spate::SigningKey::LoadOrCreate(t / "tracker.key");
  FakeTracker tracker;

  Env() {
    REQUIRE(spate::WriteFileAtomic(t / "trusted.pem", seeder_key.PublicKeyPem()).ok());
    REQUIRE(spate::WriteFileAtomic(t / "tracker.pub", tracker_key.PublicKeyPem()).ok());
  }

  // `a` signed by the tracker's key for `host`, as push/hosts.cc hands it out.
  spate::Assignment SignFor(spate::Assignment a, const std::string& host) {
    a.signature = spate::Base64Encode(*tracker_key.Sign(spate::AssignmentSigningBytes(a, host)));
    return a;
  }

  spate::FetcherConfig Config() {
    spate::FetcherConfig c;
    c.host_id = "h1";
    c.bind_address = "127.0.9.12";
    c.tracker_urls = {tracker.url()};
    c.data_dir = t / "data";
    c.install_dir = t / "install";
    c.trusted_key_file = t / "trusted.pem";
    c.seed_time = std::chrono::seconds(1);
    c.report_interval = std::chrono::milliseconds(200);
    c.poll_wait_seconds = 1;
    c.retry_delay = std::chrono::milliseconds(200);  // attempts 200 ms then 400 ms apart
    return c;
  }

  // Seeds `art` from 127.0.9.11 and makes the fake tracker hand it out as the only peer.
  std::unique_ptr<lt::session> StartOrigin(const spate::testing::TestArtifact& art, const std::string& dir) {
    spate::SwarmOptions so;
    so.bind_address = "127.0.9.11";
    auto origin = spate::MakeSession(so);
    Seed(*origin, art, dir);
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (origin->listen_port() == 0 && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    REQUIRE(origin->listen_port() != 0);
    tracker.SetPeer("127.0.9.11", origin->listen_port());
    return origin;
  }

  // Adds `art` (its file in `dir`) to an origin session; returns its handle.
  static lt::torrent_handle Seed(lt::session& origin, const spate::testing::TestArtifact& art, const std::string& dir) {
    lt::add_torrent_params p;
    p.ti = std::make_shared<lt::torrent_info>(
        lt::span<const char>(art.torrent.data(), static_cast<std::ptrdiff_t>(art.torrent.size())), lt::from_span);
    p.save_path = dir;
    p.flags |= lt::torrent_flags::seed_mode;
    p.flags &= ~(lt::torrent_flags::auto_managed | lt::torrent_flags::paused);
    return origin.add_torrent(p);
  }

  spate::Assignment Assign(const spate::testing::TestArtifact& art, int64_t push_id, const spate::SigningKey& key,
                           bool activate = true) {
    spate::Assignment a;
    a.push_id = push_id;
    a.activate = activate;
    a.manifest = art.manifest;
    REQUIRE(a.manifest.Sign(key).ok());
    a.torrent = art.torrent;
    return a;
  }
};

auto StateIs(int64_t push_id, const std::string& state) {
  return [=](const spate::HostReport& r) { return r.push_id == push_id && r.state == state; };
}

auto FailedWith(int64_t push_id, const std::string& error) {
  return [=](const spate::HostReport& r) {
    return r.push_id == push_id && r.state == spate::kStateFailed && r.error == error;
  };
}

std::string Current(const fs::path& install) {
  std::error_code ec;
  return fs::read_symlink(install / "app" / "current", ec).string();
}

// A small tmpfs mounted on `dir` for the life of the object: a disk that really fills.
class Tmpfs {
 public:
  Tmpfs(const std::string& dir, const std::string& size) : dir_(dir) {
    fs::create_directories(dir);
    std::string opts = "size=" + size;
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) != 0)
      FAIL("cannot mount a tmpfs on " << dir << " (root needed): " << std::strerror(errno));
  }
  ~Tmpfs() { ::umount2(dir_.c_str(), MNT_DETACH); }
  Tmpfs(const Tmpfs&) = delete;

 private:
  std::string dir_;
};

bool WaitUntil(const std::function<bool()>& pred, std::chrono::seconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pred();
}

}  // namespace

TEST_CASE("fetcher refuses a manifest signed by a different key: no download, state failed") {
  Env env;
  auto stranger = *spate::SigningKey::LoadOrCreate(env.t / "stranger.pem");
  auto art = spate::testing::MakeArtifact(env.t / "origin", "app", "1.0", "app.bin", 200000, 3,
                                          env.tracker.url() + "/announce");
  env.tracker.SetAssignments({env.Assign(art, 7, stranger)});

  spate::Fetcher f(env.Config());
  REQUIRE(f.Start().ok());
  REQUIRE(env.tracker.WaitReport(StateIs(7, spate::kStateFailed), std::chrono::seconds(5)));
  for (const auto& r : env.tracker.Reports()) {
    CHECK(r.state == spate::kStateFailed);  // never downloading
    CHECK(r.error.find("signature") != std::string::npos);
    CHECK(r.tries == 1);  // another attempt would meet the same signature
  }
  CHECK(f.torrent_count() == 0);
  CHECK_FALSE(fs::exists(fs::path(env.t / "install") / ".spate" / "staging" / art.manifest.info_hash));
  CHECK_FALSE(fs::exists(fs::path(env.t / "install") / "app"));
  CHECK(env.tracker.last_poll_addr() == "127.0.9.12");
}

// spate_fetcher_assignments_refused_total from the fetcher's /metrics (ready file `ready`).
double RefusedAssignments(const fs::path& ready) {
  auto text = spate::ReadFile(ready.string());
  if (!text.ok()) return -1;
  auto j = spate::ParseJson(*text);
  if (!j.ok() || !j->contains("metrics")) return -1;
  auto r = spate::http::Call("GET", "http://" + (*j)["metrics"].get<std::string>() + "/metrics", "");
  if (!r.ok()) return -1;
  auto parsed = spate::ParsePrometheus(r->body);
  if (!parsed.ok()) return -1;
  auto v = spate::SampleValue(*parsed, "spate_fetcher_assignments_refused_total", {});
  return v.ok() ? *v : -1;
}

TEST_CASE("with a tracker key the fetcher ignores unsigned, altered and other hosts' assignments, then installs a signed one") {
  Env env;
  auto art = spate::testing::MakeArtifact(env.t / "origin", "app", "1.0", "app.bin", 200000, 61,
                                          env.tracker.url() + "/announce");
  auto origin = env.StartOrigin(art, env.t / "origin");
  spate::Assignment unsigned_one = env.Assign(art, 5, env.seeder_key);
  spate::Assignment other_host = env.SignFor(env.Assign(art, 6, env.seeder_key), "h2");
  spate::Assignment new_id = env.SignFor(env.Assign(art, 7, env.seeder_key), "h1");
  new_id.push_id = 8;  // a replay dressed as a newer push
  spate::Assignment activated = env.SignFor(env.Assign(art, 9, env.seeder_key, /*activate=*/false), "h1");
  activated.activate = true;  // skipping its wave
  spate::Assignment garbage = env.Assign(art, 10, env.seeder_key);
  garbage.signature = "not base64!";
  env.tracker.SetAssignments({unsigned_one, other_host, new_id, activated, garbage});

  auto c = env.Config();
  c.tracker_key_file = env.t / "tracker.pub";
  c.metrics_listen = "127.0.0.1:0";
  c.ready_file = env.t / "ready";
  spate::Fetcher f(c);
  REQUIRE(f.Start().ok());
  REQUIRE(WaitUntil([&] { return RefusedAssignments(env.t / "ready") >= 5; }, std::chrono::seconds(10)));
  fs::path install = env.t / "install";
  CHECK(f.torrent_count() == 0);
  CHECK_FALSE(fs::exists(install / "app"));
  CHECK_FALSE(fs::exists(install / ".spate" / "staging" / art.manifest.info_hash));
  // Not reported either: the tracker did not send them, and a "failed" would land on the genuine push's row.
  CHECK(env.tracker.Reports().empty());

  // The genuine assignment of a push id a forgery used first is not shadowed by it.
  env.tracker.SetAssignments({env.SignFor(env.Assign(art, 8, env.seeder_key), "h1")});
  REQUIRE(env.tracker.WaitReport(StateIs(8, spate::kStateInstalled), std::chrono::seconds(10)));
  CHECK(Current(install) == "1.0");
  for (const auto& r : env.tracker.Reports()) CHECK(r.push_id == 8);
}

TEST_CASE("with a tracker key a replayed old push cannot move current back, signed or re-numbered") {
  Env env;
  auto v1 = spate::testing::MakeArtifact(env.t / "origin1", "app", "1", "app.bin", 200000, 71,
                                         env.tracker.url() + "/announce");
  auto v2 = spate::testing::MakeArtifact(env.t / "origin2", "app", "2", "app.bin", 200000, 72,
                                         env.tracker.url() + "/announce");
  auto origin = env.StartOrigin(v1, env.t / "origin1");
  Env::Seed(*origin, v2, env.t / "origin2");
  fs::path install = env.t / "install";
  auto c = env.Config();
  c.tracker_key_file = env.t / "tracker.pub";
  spate::Assignment old = env.SignFor(env.Assign(v1, 4, env.seeder_key), "h1");
  env.tracker.SetAssignments({old});
  {
    spate::Fetcher f(c);
    REQUIRE(f.Start().ok());
    REQUIRE(env.tracker.WaitReport(StateIs(4, spate::kStateInstalled), std::chrono::seconds(10)));
    env.tracker.SetAssignments({env.SignFor(env.Assign(v2, 5, env.seeder_key), "h1")});
    REQUIRE(env.tracker.WaitReport(StateIs(5, spate::kStateInstalled), std::chrono::seconds(10)));
    CHECK(Current(install) == "2");
  }
  // Whoever answers as the tracker now replays push 4, as it was signed,
  // and as push 6 to look newer, to a freshly started fetcher.
  spate::Assignment renumbered = old;
  renumbered.push_id = 6;
  env.tracker.SetAssignments({old, renumbered});
  spate::Fetcher again(c);
  REQUIRE(again.Start().ok());
  REQUIRE(env.tracker.WaitReport(FailedWith(4, "superseded by push 5"), std::chrono::seconds(5)));
  CHECK_FALSE(env.tracker.WaitReport([](const spate::HostReport& r) { return r.push_id == 6; },
                                     std::chrono::seconds(2)));
  CHECK(Current(install) == "2");
}

TEST_CASE("fetcher downloads from a peer, verifies, installs, reports, stops seeding, and reports installed after a restart") {
  Env env;
  auto art = spate::testing::MakeArtifact(env.t / "origin", "app", "2.0", "app.bin", 3 * 1024 * 1024, 4,
                                          env.tracker.url() + "/announce");
  auto origin = env.StartOrigin(art, env.t / "origin");
  env.tracker.SetAssignments({env.Assign(art, 11, env.seeder_key)});

  fs::path install = env.t / "install";
  fs::path staging = install / ".spate" / "staging" / art.manifest.info_hash;
  {
    spate::Fetcher f(env.Config());
    REQUIRE(f.Start().ok());
    REQUIRE(env.tracker.WaitReport(StateIs(11, spate::kStateInstalled), std::chrono::seconds(10)));
    CHECK(spate::testing::ReadAll((install / "app" / "current" / "app.bin").string()) ==
          spate::testing::ReadAll(art.file));
    CHECK(fs::read_symlink(install / "app" / "current") == "2.0");
    CHECK(fs::exists(install / "app" / "2.0" / "manifest.json"));
    CHECK_FALSE(env.tracker.WaitReport(StateIs(11, spate::kStateFailed), std::chrono::seconds(1)));
    // Seed time is 1 s: then the torrent and staging go, the install stays.
    CHECK(WaitUntil([&] { return f.torrent_count() == 0 && !fs::exists(staging); }, std::chrono::seconds(5)));
    CHECK(fs::exists(install / "app" / "2.0" / "app.bin"));
  }

  // A restarted fetcher sees the same assignment and reports installed without downloading.
  size_t before = env.tracker.Reports().size();
  spate::Fetcher again(env.Config());
  REQUIRE(again.Start().ok());
  REQUIRE(WaitUntil([&] { return env.tracker.Reports().size() > before; }, std::chrono::seconds(5)));
  auto reports = env.tracker.Reports();
  CHECK(reports[before].push_id == 11);
  CHECK(reports[before].state == spate::kStateInstalled);
  CHECK(again.torrent_count() == 0);
}

TEST_CASE("while it reports the fetcher holds no long poll: quick looks only, then long polls again once it is done") {
  Env env;
  env.tracker.AnswerGeneration();
  auto art = spate::testing::MakeArtifact(env.t / "origin", "app", "2.0", "app.bin", 2 * 1024 * 1024, 4,
                                          env.tracker.url() + "/announce");
  auto origin = env.StartOrigin(art, env.t / "origin");
  env.tracker.SetAssignments({env.Assign(art, 12, env.seeder_key)});
  auto c = env.Config();  // reports every 200 ms, polls wait 1 s
  c.download_rate = 512 * 1024;  // about 4 s of reporting: several rests time out meanwhile
  spate::Fetcher f(c);
  REQUIRE(f.Start().ok());
  REQUIRE(env.tracker.WaitReport(StateIs(12, spate::kStateInstalled), std::chrono::seconds(20)));
  // A second past the end of reporting: its rest is over, and it polls as before.
  REQUIRE(WaitUntil(
      [&] {
        auto calls = env.tracker.Calls();
        auto installed = std::find(calls.begin(), calls.end(), "report installed");
        return installed != calls.end() && std::find(installed, calls.end(), "poll 1") != calls.end();
      },
      std::chrono::seconds(10)));
  auto calls = env.tracker.Calls();
  std::string all;
  for (const auto& x : calls) all += x + "; ";
  INFO(all);
  auto first_report =
      std::find_if(calls.begin(), calls.end(), [](const std::string& x) { return x.rfind("report", 0) == 0; });
  auto installed = std::find(calls.begin(), calls.end(), "report installed");
  REQUIRE(first_report != calls.end());
  REQUIRE(installed != calls.end());
  int quick_looks = 0;
  for (auto it = first_report; it != installed; ++it) {
    CHECK(*it != "poll 1");  // no long poll beside the reports
    quick_looks += *it == "poll 0";
  }
  CHECK(quick_looks >= 2);  // each rest timed out after a second and took a look
  // Reporting done: back to the long poll straight away, not another look first.
  auto next_poll = std::find_if(installed, calls.end(), [](const std::string& x) { return x.rfind("poll", 0) == 0; });
  REQUIRE(next_poll != calls.end());
  CHECK(*next_poll == "poll 1");
}

TEST_CASE("fetcher fails a download whose sha256 does not match the signed manifest after its last attempt and installs nothing") {
  Env env;
  auto art = spate::testing::MakeArtifact(env.t / "origin", "app", "3.0", "app.bin", 1024 * 1024, 5,
                                          env.tracker.url() + "/announce");
  auto origin = env.StartOrigin(art, env.t / "origin");
  std::string right = art.manifest.sha256;
  art.manifest.sha256 = std::string(64, 'e');  // signed, torrent matches, content does not
  env.tracker.SetAssignments({env.Assign(art, 12, env.seeder_key)});

  spate::Fetcher f(env.Config());
  REQUIRE(f.Start().ok());
  REQUIRE(env.tracker.WaitReport(StateIs(12, spate::kStateFailed), std::chrono::seconds(10)));
  for (const auto& r : env.tracker.Reports())
    if (r.state == spate::kStateFailed) {
      CHECK(r.error == "sha256 mismatch: expected " + art.manifest.sha256 + " got " + right);
      CHECK(r.tries == 3);  // the default: a mismatch may be damage on this disk, so it is tried again
    }
  CHECK_FALSE(env.tracker.WaitReport(StateIs(12, spate::kStateInstalled), std::chrono::seconds(2)));
  fs::path install = env.t / "install";
  CHECK_FALSE(fs::exists(install / "app"));
  CHECK(WaitUntil([&] { return f.torrent_count() == 0; }, std::chrono::seconds(3)));
  CHECK_FALSE(fs::exists(install / ".spate" / "staging" / art.manifest.info_hash));
}

TEST_CASE("fetcher stopped mid-download installs nothing and a restart resumes from staging") {
  Env env;
  auto art = spate::testing::MakeArtifact(env.t / "origin", "app", "4.0", "app.bin", 4 * 1024 * 1024, 6,
                                          env.tracker.url() + "/announce");
  auto origin = env.StartOrigin(art, env.t / "origin");
  env.tracker.SetAssignments({env.Assign(art, 13, env.seeder_key)});
  fs::path install = env.t / "install";
  fs::path staged = install / ".spate" / "staging" / art.manifest.info_hash / "app.bin";
  const uint64_t size = art.manifest.size;
  {
    auto c = env.Config();
    c.download_rate = 1024 * 1024;  // ~4 s for the whole file: time to interrupt it
    spate::Fetcher f(c);
    REQUIRE(f.Start().ok());
    // Past half, so a resume and a full re-download differ clearly in bytes sent by the origin.
    REQUIRE(env.tracker.WaitReport(
        [&](const spate::HostReport& r) { return r.state == spate::kStateDownloading && r.bytes_done >= size * 6 / 10; },
        std::chrono::seconds(10)));
    f.Stop();
    f.Wait();
  }
  CHECK_FALSE(env.tracker.WaitReport(StateIs(13, spate::kStateInstalled), std::chrono::seconds(1)));
  CHECK_FALSE(fs::exists(install / "app"));
  CHECK(fs::exists(staged));
  // The origin's own count of payload it sent: what the restarted fetcher downloads on top.
  lt::torrent_handle seed = origin->get_torrents().at(0);
  const int64_t sent_before = seed.status().total_payload_upload;
  CHECK(sent_before >= int64_t(size * 6 / 10));

  spate::Fetcher again(env.Config());
  REQUIRE(again.Start().ok());
  REQUIRE(env.tracker.WaitReport(StateIs(13, spate::kStateInstalled), std::chrono::seconds(10)));
  CHECK(spate::testing::ReadAll((install / "app" / "current" / "app.bin").string()) ==
        spate::testing::ReadAll(art.file));
  const int64_t sent_after_restart = seed.status().total_payload_upload - sent_before;
  INFO("origin sent " << sent_after_restart << " of " << size << " bytes after the restart");
  CHECK(sent_after_restart < int64_t(size / 2));
}

TEST_CASE("back-to-back pushes of one artifact: the newer push wins and the older download never switches current") {
  Env env;
  auto big = spate::testing::MakeArtifact(env.t / "origin1", "app", "1", "app.bin", 6 * 1024 * 1024, 21,
                                          env.tracker.url() + "/announce");
  auto small = spate::testing::MakeArtifact(env.t / "origin2", "app", "2", "app.bin", 256 * 1024, 22,
                                            env.tracker.url() + "/announce");
  auto origin = env.StartOrigin(big, env.t / "origin1");
  Env::Seed(*origin, small, env.t / "origin2");
  fs::path install = env.t / "install";
  auto c = env.Config();
  c.download_rate = 1024 * 1024;  // app@1 needs ~6 s: app@2 overtakes it
  spate::Fetcher f(c);
  REQUIRE(f.Start().ok());
  env.tracker.SetAssignments({env.Assign(big, 1, env.seeder_key)});
  REQUIRE(env.tracker.WaitReport(
      [](const spate::HostReport& r) { return r.push_id == 1 && r.state == spate::kStateDownloading && r.bytes_done > 0; },
      std::chrono::seconds(5)));
  // The tracker hands a host only the newest push per artifact name.
  env.tracker.SetAssignments({env.Assign(small, 2, env.seeder_key)});
  REQUIRE(env.tracker.WaitReport(StateIs(2, spate::kStateInstalled), std::chrono::seconds(10)));
  CHECK(Current(install) == "2");
  CHECK(env.tracker.WaitReport(FailedWith(1, "superseded by push 2"), std::chrono::seconds(5)));
  // Long enough for app@1 to have finished had it kept downloading.
  CHECK_FALSE(env.tracker.WaitReport(StateIs(1, spate::kStateInstalled), std::chrono::seconds(8)));
  CHECK(Current(install) == "2");
  CHECK(f.torrent_count() <= 1);  // app@2 may still seed; app@1 is gone
}

TEST_CASE("a rollback push of the installed version wins over a newer version still downloading") {
  Env env;
  auto v1 = spate::testing::MakeArtifact(env.t / "origin1", "app", "1", "app.bin", 256 * 1024, 31,
                                         env.tracker.url() + "/announce");
  auto v2 = spate::testing::MakeArtifact(env.t / "origin2", "app", "2", "app.bin", 6 * 1024 * 1024, 32,
                                         env.tracker.url() + "/announce");
  auto origin = env.StartOrigin(v1, env.t / "origin1");
  Env::Seed(*origin, v2, env.t / "origin2");
  fs::path install = env.t / "install";
  auto c = env.Config();
  c.download_rate = 1024 * 1024;  // app@2 needs ~6 s: time to roll back during it
  spate::Fetcher f(c);
  REQUIRE(f.Start().ok());
  env.tracker.SetAssignments({env.Assign(v1, 1, env.seeder_key)});
  REQUIRE(env.tracker.WaitReport(StateIs(1, spate::kStateInstalled), std::chrono::seconds(10)));
  env.tracker.SetAssignments({env.Assign(v2, 2, env.seeder_key)});
  REQUIRE(env.tracker.WaitReport(
      [](const spate::HostReport& r) { return r.push_id == 2 && r.state == spate::kStateDownloading && r.bytes_done > 0; },
      std::chrono::seconds(5)));
  env.tracker.SetAssignments({env.Assign(v1, 3, env.seeder_key)});  // the rollback
  REQUIRE(env.tracker.WaitReport(StateIs(3, spate::kStateInstalled), std::chrono::seconds(5)));
  CHECK(Current(install) == "1");
  CHECK(env.tracker.WaitReport(FailedWith(2, "superseded by push 3"), std::chrono::seconds(5)));
  // Long enough for app@2 to have finished had it kept downloading.
  CHECK_FALSE(env.tracker.WaitReport(StateIs(2, spate::kStateInstalled), std::chrono::seconds(8)));
  CHECK(Current(install) == "1");
}

TEST_CASE("a restarted fetcher never lets an older push's assignment switch current") {
  Env env;
  auto v1 = spate::testing::MakeArtifact(env.t / "origin1", "app", "1", "app.bin", 256 * 1024, 41,
                                         env.tracker.url() + "/announce");
  auto v2 = spate::testing::MakeArtifact(env.t / "origin2", "app", "2", "app.bin", 4 * 1024 * 1024, 42,
                                         env.tracker.url() + "/announce");
  auto origin = env.StartOrigin(v1, env.t / "origin1");
  Env::Seed(*origin, v2, env.t / "origin2");
  fs::path install = env.t / "install";
  env.tracker.SetAssignments({env.Assign(v2, 5, env.seeder_key)});
  {
    auto c = env.Config();
    c.download_rate = 512 * 1024;  // stopped long before app@2 completes
    spate::Fetcher f(c);
    REQUIRE(f.Start().ok());
    REQUIRE(env.tracker.WaitReport(StateIs(5, spate::kStateDownloading), std::chrono::seconds(5)));
    f.Stop();
    f.Wait();
  }
  // A stale assignment of an older push (a replay, or messages out of order) reaches the new process first.
  env.tracker.SetAssignments({env.Assign(v1, 4, env.seeder_key)});
  {
    spate::Fetcher again(env.Config());
    REQUIRE(again.Start().ok());
    REQUIRE(env.tracker.WaitReport(FailedWith(4, "superseded by push 5"), std::chrono::seconds(5)));
    CHECK_FALSE(env.tracker.WaitReport(StateIs(4, spate::kStateInstalled), std::chrono::seconds(2)));
    CHECK(Current(install) == "");
    CHECK_FALSE(fs::exists(install / "app" / "1"));
    // Then the newest push itself: it resumes and installs.
    env.tracker.SetAssignments({env.Assign(v1, 4, env.seeder_key), env.Assign(v2, 5, env.seeder_key)});
    REQUIRE(env.tracker.WaitReport(StateIs(5, spate::kStateInstalled), std::chrono::seconds(15)));
    CHECK(Current(install) == "2");
  }
}

TEST_CASE("a full disk fails the push with the reason, frees staging, and a new push succeeds once space is back") {
  Env env;
  auto art = spate::testing::MakeArtifact(env.t / "origin", "app", "1", "app.bin", 4 * 1024 * 1024, 51,
                                          env.tracker.url() + "/announce");
  auto origin = env.StartOrigin(art, env.t / "origin");
  fs::path install = env.t / "install";
  // Room for the 4 MiB download and the install's copy of it (install.h) once the filler goes.
  Tmpfs disk(install.string(), "10m");
  {
    // Leaves ~2 MiB: the download fills the disk halfway through.
    std::ofstream filler(install / "filler", std::ios::binary);
    std::string mib(1024 * 1024, 'x');
    for (int i = 0; i < 8; ++i) filler << mib;
    REQUIRE(filler.good());
  }
  auto c = env.Config();
  c.min_free.reset();  // the floor would refuse up front; this is about ENOSPC from a disk filled by others
  spate::Fetcher f(c);
  REQUIRE(f.Start().ok());
  env.tracker.SetAssignments({env.Assign(art, 1, env.seeder_key)});
  REQUIRE(env.tracker.WaitReport(StateIs(1, spate::kStateFailed), std::chrono::seconds(15)));
  for (const auto& r : env.tracker.Reports())
    if (r.push_id == 1 && r.state == spate::kStateFailed) {
      CHECK(r.error.rfind("no space left on device: ", 0) == 0);
      CHECK(r.tries == 1);  // a full disk is final at once
      CHECK(r.error.find(art.manifest.info_hash) != std::string::npos);  // names the staging file
    }
  fs::path staging = install / ".spate" / "staging" / art.manifest.info_hash;
  CHECK(WaitUntil([&] { return f.torrent_count() == 0 && !fs::exists(staging); }, std::chrono::seconds(3)));
  CHECK_FALSE(fs::exists(install / "app" / "1"));

  fs::remove(install / "filler");  // space is back
  env.tracker.SetAssignments({env.Assign(art, 2, env.seeder_key)});
  REQUIRE(env.tracker.WaitReport(StateIs(2, spate::kStateInstalled), std::chrono::seconds(15)));
  CHECK(Current(install) == "1");
  CHECK(spate::testing::ReadAll((install / "app" / "current" / "app.bin").string()) ==
        spate::testing::ReadAll(art.file));
}

namespace {

// v1..vN of "app", 256 KiB each, all seeded by one origin on 127.0.9.11.
struct Versions {
  std::vector<spate::testing::TestArtifact> arts;
  std::unique_ptr<lt::session> origin;

  Versions(Env& env, int n) {
    for (int i = 1; i <= n; ++i)
      arts.push_back(spate::testing::MakeArtifact(env.t / ("origin" + std::to_string(i)), "app", std::to_string(i),
                                                  "app.bin", 256 * 1024, uint32_t(100 + i),
                                                  env.tracker.url() + "/announce"));
    origin = env.StartOrigin(arts[0], env.t / "origin1");
    for (int i = 1; i < n; ++i) Env::Seed(*origin, arts[size_t(i)], env.t / ("origin" + std::to_string(i + 1)));
  }
  const spate::testing::TestArtifact& v(int version) const { return arts.at(size_t(version - 1)); }
};

std::string ReportError(FakeTracker& tracker, int64_t push_id) {
  for (const auto& r : tracker.Reports())
    if (r.push_id == push_id && r.state == spate::kStateFailed) return r.error;
  return "(no failed report)";
}

std::set<std::string> VersionDirs(const fs::path& install) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(install / "app"))
    if (e.path().filename() != "current") out.insert(e.path().filename().string());
  return out;
}

}  // namespace

TEST_CASE("a distribute-only push stages and seeds without switching current, the same push with activate makes it live") {
  Env env;
  Versions vs(env, 2);
  fs::path install = env.t / "install";
  std::string log = env.t / "hooks.log";
  auto c = env.Config();
  c.activate_hook = "echo \"hook $SPATE_NAME $SPATE_VERSION $SPATE_PATH previous=$SPATE_PREVIOUS\" >> " + log;
  c.health_check = "echo \"check $SPATE_VERSION previous=$SPATE_PREVIOUS\" >> " + log;
  spate::Fetcher f(c);
  REQUIRE(f.Start().ok());
  env.tracker.SetAssignments({env.Assign(vs.v(1), 1, env.seeder_key)});
  REQUIRE(env.tracker.WaitReport(StateIs(1, spate::kStateInstalled), std::chrono::seconds(10)));
  CHECK(Current(install) == "1");

  env.tracker.SetAssignments({env.Assign(vs.v(2), 2, env.seeder_key, /*activate=*/false)});
  REQUIRE(env.tracker.WaitReport(StateIs(2, spate::kStateStaged), std::chrono::seconds(10)));
  CHECK(spate::IsInstalled(vs.v(2).manifest, install.string()));
  CHECK(Current(install) == "1");
  // Seed time is 1 s: v1's torrent goes, the staged v2 keeps seeding.
  CHECK(WaitUntil([&] { return f.torrent_count() == 1; }, std::chrono::seconds(5)));
  CHECK_FALSE(env.tracker.WaitReport(StateIs(2, spate::kStateInstalled), std::chrono::seconds(2)));
  CHECK(f.torrent_count() == 1);
  CHECK(Current(install) == "1");

  env.tracker.SetAssignments({env.Assign(vs.v(2), 2, env.seeder_key, /*activate=*/true)});
  REQUIRE(env.tracker.WaitReport(StateIs(2, spate::kStateInstalled), std::chrono::seconds(10)));
  CHECK(Current(install) == "2");
  CHECK(spate::testing::ReadAll(log) == "hook app 1 " + (install / "app" / "1").string() + " previous=\n" +
                                            "check 1 previous=\n" + "hook app 2 " +
                                            (install / "app" / "2").string() + " previous=1\n" + "check 2 previous=1\n");
  CHECK_FALSE(env.tracker.WaitReport(StateIs(2, spate::kStateFailed), std::chrono::seconds(1)));
}

TEST_CASE("a failing health check leaves the host on its previous version, failed, with the check's output") {
  Env env;
  Versions vs(env, 2);
  fs::path install = env.t / "install";
  auto c = env.Config();
  c.health_check = "if [ \"$SPATE_VERSION\" = 2 ]; then echo starting; echo 'port 8080 refused' >&2; exit 3; fi";
  spate::Fetcher f(c);
  REQUIRE(f.Start().ok());
  env.tracker.SetAssignments({env.Assign(vs.v(1), 1, env.seeder_key)});
  REQUIRE(env.tracker.WaitReport(StateIs(1, spate::kStateInstalled), std::chrono::seconds(10)));
  env.tracker.SetAssignments({env.Assign(vs.v(2), 2, env.seeder_key)});
  REQUIRE(env.tracker.WaitReport(StateIs(2, spate::kStateFailed), std::chrono::seconds(10)));
  CHECK(ReportError(env.tracker, 2) == "health check exited 3: starting\nport 8080 refused");
  CHECK(env.tracker.WaitReport([](const spate::HostReport& r) { return r.push_id == 2 && r.state == spate::kStateFailed && r.tries == 1; },
                               std::chrono::seconds(1)));
  CHECK(Current(install) == "1");
  CHECK_FALSE(env.tracker.WaitReport(StateIs(2, spate::kStateInstalled), std::chrono::seconds(1)));
  CHECK(Current(install) == "1");
  CHECK(fs::is_empty(fs::path(env.t / "data") / "activating"));  // nothing left for a restart to undo
}

TEST_CASE("an activation hook past its timeout is killed and the host has no current, as before") {
  Env env;
  Versions vs(env, 1);
  fs::path install = env.t / "install";
  auto c = env.Config();
  c.activate_hook = "echo restarting app; sleep 30";
  c.health_check = "touch " + env.t / "check-ran";
  c.hook_timeout = std::chrono::seconds(1);
  spate::Fetcher f(c);
  REQUIRE(f.Start().ok());
  auto started = Clock::now();
  env.tracker.SetAssignments({env.Assign(vs.v(1), 1, env.seeder_key)});
  REQUIRE(env.tracker.WaitReport(StateIs(1, spate::kStateFailed), std::chrono::seconds(15)));
  CHECK(Clock::now() - started < std::chrono::seconds(10));
  CHECK(ReportError(env.tracker, 1) == "activation hook timed out after 1s: restarting app");
  CHECK_FALSE(fs::is_symlink(install / "app" / "current"));
  CHECK(fs::exists(install / "app" / "1" / "app.bin"));  // distributed, just not live
  CHECK_FALSE(fs::exists(env.t / "check-ran"));
}

TEST_CASE("retention: after K+2 pushes K versions remain, plus the previous one when it is older than those") {
  Env env;
  Versions vs(env, 6);
  fs::path install = env.t / "install";
  fs::path orphan = install / ".spate" / "staging" / std::string(40, 'f');
  fs::create_directories(orphan);  // staging of a download no job owns any more
  auto c = env.Config();
  c.keep_versions = 2;
  c.health_check = "[ \"$SPATE_VERSION\" != 5 ]";
  spate::Fetcher f(c);
  REQUIRE(f.Start().ok());
  for (int v = 1; v <= 4; ++v) {
    env.tracker.SetAssignments({env.Assign(vs.v(v), v, env.seeder_key)});
    REQUIRE(env.tracker.WaitReport(StateIs(v, spate::kStateInstalled), std::chrono::seconds(10)));
  }
  CHECK(VersionDirs(install) == std::set<std::string>{"3", "4"});
  CHECK(Current(install) == "4");
  CHECK_FALSE(fs::exists(orphan));

  // v5 fails its health check: installed on disk, never current. Then v6 goes
  // live: the two newest are 6 and 5, and 4 stays as the version before current.
  env.tracker.SetAssignments({env.Assign(vs.v(5), 5, env.seeder_key)});
  REQUIRE(env.tracker.WaitReport(StateIs(5, spate::kStateFailed), std::chrono::seconds(10)));
  CHECK(Current(install) == "4");
  env.tracker.SetAssignments({env.Assign(vs.v(6), 6, env.seeder_key)});
  REQUIRE(env.tracker.WaitReport(StateIs(6, spate::kStateInstalled), std::chrono::seconds(10)));
  CHECK(Current(install) == "6");
  CHECK(VersionDirs(install) == std::set<std::string>{"4", "5", "6"});
}

TEST_CASE("a download that would go below the free-space floor is refused with the reason, and runs once the floor allows") {
  Env env;
  Versions vs(env, 1);
  fs::path install = env.t / "install";
  fs::create_directories(install);
  auto c = env.Config();
  // Past any free space the disk may gain from other processes meanwhile.
  c.min_free = *spate::FreeBytes(install.string()) + (uint64_t(1) << 30);
  {
    spate::Fetcher f(c);
    REQUIRE(f.Start().ok());
    env.tracker.SetAssignments({env.Assign(vs.v(1), 1, env.seeder_key)});
    REQUIRE(env.tracker.WaitReport(StateIs(1, spate::kStateFailed), std::chrono::seconds(5)));
    std::string err = ReportError(env.tracker, 1);
    // The download and the install's own copy (install.h) of a 256 KiB artifact.
    CHECK(err.rfind("not enough disk space: need 512.0 KiB, ", 0) == 0);
    for (const auto& r : env.tracker.Reports()) CHECK(r.tries == 1);
    CHECK(err.find(" free, floor ") != std::string::npos);
    CHECK(err.substr(err.size() - install.string().size() - 4) == " at " + install.string());
    CHECK(f.torrent_count() == 0);
    CHECK_FALSE(fs::exists(install / ".spate" / "staging" / vs.v(1).manifest.info_hash));
    CHECK_FALSE(env.tracker.WaitReport(StateIs(1, spate::kStateDownloading), std::chrono::seconds(1)));
  }
  c.min_free = 0;
  spate::Fetcher again(c);
  REQUIRE(again.Start().ok());
  REQUIRE(env.tracker.WaitReport(StateIs(1, spate::kStateInstalled), std::chrono::seconds(10)));
  CHECK(Current(install) == "1");
}

TEST_CASE("a fetcher killed between switching current and the health check ends consistent after a restart") {
  Env env;
  Versions vs(env, 2);
  fs::path install = env.t / "install";
  std::string marker = env.t / "killed-once", previous_log = env.t / "previous.log";
  // The first health check of v2 kills the fetcher (its parent) outright: a
  // real crash after `current` moved. Run again, it passes.
  std::string check = "[ \"$SPATE_VERSION\" = 2 ] || exit 0; echo \"$SPATE_PREVIOUS\" >> " + previous_log +
                      "; [ -e " + marker + " ] && exit 0; touch " + marker + "; kill -9 $PPID; sleep 10";
  auto run = [&](const std::string& log) {
    std::string ready = env.t / "ready.json";
    fs::remove(ready);
    spate::testing::Process p({spate::testing::SpateBinary(), "fetcher", "--host-id", "h1", "--bind", "127.0.9.12",
                               "--tracker", env.tracker.url(), "--data-dir", env.t / "data", "--install-dir",
                               install.string(), "--trusted-key", env.t / "trusted.pem", "--seed-time", "1s",
                               "--report-interval", "200ms", "--health-check", check, "--ready-file", ready},
                              env.t / log);
    spate::testing::WaitReady(p, ready);
    return p;
  };
  {
    auto p = run("fetcher1.log");
    env.tracker.SetAssignments({env.Assign(vs.v(1), 1, env.seeder_key)});
    REQUIRE(env.tracker.WaitReport(StateIs(1, spate::kStateInstalled), std::chrono::seconds(10)));
    env.tracker.SetAssignments({env.Assign(vs.v(2), 2, env.seeder_key)});
    int code = p.Wait(std::chrono::seconds(15));
    INFO(p.Log());
    REQUIRE(code == 128 + SIGKILL);
  }
  // What the crash left: `current` on the new version and the record saying it was not finished.
  CHECK(Current(install) == "2");
  CHECK(fs::exists(fs::path(env.t / "data") / "activating" / "app.json"));
  CHECK_FALSE(env.tracker.WaitReport(StateIs(2, spate::kStateInstalled), std::chrono::seconds(1)));

  auto p = run("fetcher2.log");
  REQUIRE(env.tracker.WaitReport(StateIs(2, spate::kStateInstalled), std::chrono::seconds(10)));
  INFO(p.Log());
  CHECK(Current(install) == "2");
  CHECK_FALSE(fs::exists(fs::path(env.t / "data") / "activating" / "app.json"));
  // The restart rolled back first, so the redone activation saw v1 as previous again.
  CHECK(spate::testing::ReadAll(previous_log) == "1\n1\n");
  CHECK(p.Log().find("cut short by a restart; rolling current back to 1") != std::string::npos);
}

TEST_CASE("a staged push survives a restart: it seeds again from staging and activates when asked") {
  Env env;
  Versions vs(env, 1);
  fs::path install = env.t / "install";
  env.tracker.SetAssignments({env.Assign(vs.v(1), 1, env.seeder_key, /*activate=*/false)});
  {
    spate::Fetcher f(env.Config());
    REQUIRE(f.Start().ok());
    REQUIRE(env.tracker.WaitReport(StateIs(1, spate::kStateStaged), std::chrono::seconds(10)));
    f.Stop();
    f.Wait();
  }
  CHECK_FALSE(fs::is_symlink(install / "app" / "current"));
  size_t before = env.tracker.Reports().size();
  spate::Fetcher again(env.Config());
  REQUIRE(again.Start().ok());
  REQUIRE(WaitUntil([&] { return env.tracker.Reports().size() > before; }, std::chrono::seconds(10)));
  CHECK(env.tracker.WaitReport([&](const spate::HostReport& r) { return r.push_id == 1 && r.state == spate::kStateStaged; },
                               std::chrono::seconds(10)));
  // Past the 1 s seed time: a staged artifact keeps seeding.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  CHECK(again.torrent_count() == 1);
  CHECK_FALSE(fs::is_symlink(install / "app" / "current"));
  env.tracker.SetAssignments({env.Assign(vs.v(1), 1, env.seeder_key, /*activate=*/true)});
  REQUIRE(env.tracker.WaitReport(StateIs(1, spate::kStateInstalled), std::chrono::seconds(10)));
  CHECK(Current(install) == "1");
}

TEST_CASE("stopping the fetcher during a health check kills it and rolls current back") {
  Env env;
  Versions vs(env, 2);
  fs::path install = env.t / "install";
  auto c = env.Config();
  c.health_check = "[ \"$SPATE_VERSION\" = 2 ] || exit 0; sleep 30";
  spate::Fetcher f(c);
  REQUIRE(f.Start().ok());
  env.tracker.SetAssignments({env.Assign(vs.v(1), 1, env.seeder_key)});
  REQUIRE(env.tracker.WaitReport(StateIs(1, spate::kStateInstalled), std::chrono::seconds(10)));
  env.tracker.SetAssignments({env.Assign(vs.v(2), 2, env.seeder_key)});
  REQUIRE(WaitUntil([&] { return Current(install) == "2"; }, std::chrono::seconds(10)));  // the check is running
  auto stopping = Clock::now();
  f.Stop();
  f.Wait();
  CHECK(Clock::now() - stopping < std::chrono::seconds(10));
  CHECK(Current(install) == "1");
  CHECK(fs::is_empty(fs::path(env.t / "data") / "activating"));
  CHECK_FALSE(env.tracker.WaitReport(StateIs(2, spate::kStateInstalled), std::chrono::seconds(1)));
  CHECK_FALSE(env.tracker.WaitReport(StateIs(2, spate::kStateFailed), std::chrono::seconds(1)));
}

TEST_CASE("a newer push overtakes a staged one, and a late activate of the staged push never switches current") {
  Env env;
  Versions vs(env, 2);
  fs::path install = env.t / "install";
  std::string log = env.t / "hooks.log";
  auto c = env.Config();
  c.activate_hook = "echo $SPATE_VERSION >> " + log;
  spate::Fetcher f(c);
  REQUIRE(f.Start().ok());
  env.tracker.SetAssignments({env.Assign(vs.v(1), 1, env.seeder_key, /*activate=*/false)});
  REQUIRE(env.tracker.WaitReport(StateIs(1, spate::kStateStaged), std::chrono::seconds(10)));
  env.tracker.SetAssignments({env.Assign(vs.v(2), 2, env.seeder_key)});
  REQUIRE(env.tracker.WaitReport(StateIs(2, spate::kStateInstalled), std::chrono::seconds(10)));
  CHECK(env.tracker.WaitReport(FailedWith(1, "superseded by push 2"), std::chrono::seconds(5)));
  CHECK(Current(install) == "2");
  // A stale message: push 1 again, now with activate.
  env.tracker.SetAssignments({env.Assign(vs.v(1), 1, env.seeder_key, true), env.Assign(vs.v(2), 2, env.seeder_key)});
  CHECK_FALSE(env.tracker.WaitReport(StateIs(1, spate::kStateInstalled), std::chrono::seconds(3)));
  CHECK(Current(install) == "2");
  CHECK(spate::testing::ReadAll(log) == "2\n");
}

namespace {

bool AnyReport(FakeTracker& tracker, const std::function<bool(const spate::HostReport&)>& pred) {
  for (const auto& r : tracker.Reports())
    if (pred(r)) return true;
  return false;
}

// Indexes of the pieces of `staged` that already hold `want`'s bytes.
std::vector<size_t> PiecesWritten(const fs::path& staged, const std::string& want, size_t piece) {
  std::string have = spate::testing::ReadAll(staged.string());
  std::vector<size_t> out;
  for (size_t i = 0; (i + 1) * piece <= want.size() && (i + 1) * piece <= have.size(); ++i)
    if (have.compare(i * piece, piece, want, i * piece, piece) == 0) out.push_back(i);
  return out;
}

}  // namespace

TEST_CASE("a push withdrawn by the tracker mid-download stops, keeps staging and current, reports nothing, and a new push of that version resumes") {
  Env env;
  auto v1 = spate::testing::MakeArtifact(env.t / "origin1", "app", "1", "app.bin", 256 * 1024, 61,
                                         env.tracker.url() + "/announce");
  auto v2 = spate::testing::MakeArtifact(env.t / "origin2", "app", "2", "app.bin", 6 * 1024 * 1024, 62,
                                         env.tracker.url() + "/announce");
  auto origin = env.StartOrigin(v1, env.t / "origin1");
  lt::torrent_handle seed2 = Env::Seed(*origin, v2, env.t / "origin2");
  fs::path install = env.t / "install";
  fs::path staged = install / ".spate" / "staging" / v2.manifest.info_hash / "app.bin";
  const uint64_t size = v2.manifest.size;
  auto c = env.Config();
  c.download_rate = 1024 * 1024;  // app@2 needs ~6 s: time to withdraw it halfway
  spate::Fetcher f(c);
  REQUIRE(f.Start().ok());
  env.tracker.SetAssignments({env.Assign(v1, 1, env.seeder_key)});
  REQUIRE(env.tracker.WaitReport(StateIs(1, spate::kStateInstalled), std::chrono::seconds(10)));
  env.tracker.SetAssignments({env.Assign(v2, 2, env.seeder_key)});
  REQUIRE(env.tracker.WaitReport(
      [&](const spate::HostReport& r) { return r.push_id == 2 && r.state == spate::kStateDownloading && r.bytes_done >= size * 4 / 10; },
      std::chrono::seconds(10)));

  env.tracker.SetAssignments({});  // `spate push cancel 2`: the host's list no longer holds it
  // app@1 seeded for 1 s long ago, so an empty session means push 2's torrent is gone.
  REQUIRE(WaitUntil([&] { return f.torrent_count() == 0; }, std::chrono::seconds(5)));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const int64_t sent = seed2.status().total_payload_upload;
  const size_t reports_then = env.tracker.Reports().size();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  CHECK(seed2.status().total_payload_upload == sent);  // no more transfer
  auto reports = env.tracker.Reports();
  for (size_t i = reports_then; i < reports.size(); ++i) CHECK(reports[i].push_id != 2);
  CHECK_FALSE(AnyReport(env.tracker, [](const spate::HostReport& r) {
    return r.push_id == 2 && r.state != spate::kStateDownloading;
  }));
  CHECK(fs::exists(staged));
  CHECK(Current(install) == "1");
  CHECK_FALSE(fs::exists(install / "app" / "2"));

  // A later push of the same version picks up the staged bytes instead of starting over.
  env.tracker.SetAssignments({env.Assign(v2, 3, env.seeder_key)});
  REQUIRE(env.tracker.WaitReport(StateIs(3, spate::kStateInstalled), std::chrono::seconds(20)));
  CHECK(Current(install) == "2");
  CHECK(spate::testing::ReadAll((install / "app" / "current" / "app.bin").string()) ==
        spate::testing::ReadAll(v2.file));
  const int64_t resent = seed2.status().total_payload_upload - sent;
  INFO("origin sent " << sent << " bytes before the withdrawal and " << resent << " after, of " << size);
  CHECK(sent >= int64_t(size * 4 / 10));
  CHECK(resent < int64_t(size * 7 / 10));
  CHECK_FALSE(AnyReport(env.tracker, [](const spate::HostReport& r) { return r.push_id == 2 && r.state == spate::kStateInstalled; }));
}

TEST_CASE("a staged push withdrawn by the tracker stops seeding, keeps its data, and is never activated, not even by a replayed activate") {
  Env env;
  Versions vs(env, 2);
  fs::path install = env.t / "install";
  std::string log = env.t / "hooks.log";
  auto c = env.Config();
  c.activate_hook = "echo $SPATE_VERSION >> " + log;
  spate::Fetcher f(c);
  REQUIRE(f.Start().ok());
  env.tracker.SetAssignments({env.Assign(vs.v(1), 1, env.seeder_key)});
  REQUIRE(env.tracker.WaitReport(StateIs(1, spate::kStateInstalled), std::chrono::seconds(10)));
  env.tracker.SetAssignments({env.Assign(vs.v(2), 2, env.seeder_key, /*activate=*/false)});
  REQUIRE(env.tracker.WaitReport(StateIs(2, spate::kStateStaged), std::chrono::seconds(10)));
  REQUIRE(WaitUntil([&] { return f.torrent_count() == 1; }, std::chrono::seconds(5)));  // only the staged app@2 seeds

  env.tracker.SetAssignments({});
  REQUIRE(WaitUntil([&] { return f.torrent_count() == 0; }, std::chrono::seconds(5)));
  CHECK(spate::IsInstalled(vs.v(2).manifest, install.string()));
  CHECK(fs::exists(install / ".spate" / "staging" / vs.v(2).manifest.info_hash / "app.bin"));
  // A replay of push 2 asking to activate: the tracker ended it cancelled.
  env.tracker.SetAssignments({env.Assign(vs.v(2), 2, env.seeder_key, /*activate=*/true)});
  CHECK_FALSE(env.tracker.WaitReport(StateIs(2, spate::kStateInstalled), std::chrono::seconds(3)));
  CHECK_FALSE(AnyReport(env.tracker, StateIs(2, spate::kStateFailed)));
  CHECK(Current(install) == "1");
  CHECK(f.torrent_count() == 0);

  // A new push of the same version finds it staged: nothing to download.
  env.tracker.SetAssignments({env.Assign(vs.v(2), 3, env.seeder_key)});
  REQUIRE(env.tracker.WaitReport(StateIs(3, spate::kStateInstalled), std::chrono::seconds(10)));
  CHECK(Current(install) == "2");
  CHECK(spate::testing::ReadAll(log) == "1\n2\n");
  CHECK_FALSE(AnyReport(env.tracker, StateIs(3, spate::kStateDownloading)));
}

TEST_CASE("a download damaged on disk after libtorrent checked it fails verification, is fetched again, and installs at attempt 2") {
  Env env;
  auto art = spate::testing::MakeArtifact(env.t / "origin", "app", "1", "app.bin", 2 * 1024 * 1024, 71,
                                          env.tracker.url() + "/announce");
  auto origin = env.StartOrigin(art, env.t / "origin");
  fs::path install = env.t / "install";
  fs::path staged = install / ".spate" / "staging" / art.manifest.info_hash / "app.bin";
  const std::string want = spate::testing::ReadAll(art.file);
  auto c = env.Config();
  c.download_rate = 512 * 1024;  // ~4 s: time to damage a piece that already passed its hash check
  spate::Fetcher f(c);
  REQUIRE(f.Start().ok());
  env.tracker.SetAssignments({env.Assign(art, 1, env.seeder_key)});
  REQUIRE(env.tracker.WaitReport(
      [&](const spate::HostReport& r) { return r.state == spate::kStateDownloading && r.bytes_done >= want.size() / 4; },
      std::chrono::seconds(10)));
  auto written = PiecesWritten(staged, want, 64 * 1024);
  REQUIRE_FALSE(written.empty());
  // libtorrent hashes a piece right after writing it; damage it only once that is long done.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  {
    std::fstream out(staged, std::ios::in | std::ios::out | std::ios::binary);
    size_t at = written[0] * 64 * 1024 + 100;
    out.seekp(std::streamoff(at));
    out.put(char(~want[at]));
    REQUIRE(out.good());
  }
  REQUIRE(env.tracker.WaitReport(StateIs(1, spate::kStateInstalled), std::chrono::seconds(20)));
  CHECK(spate::testing::ReadAll((install / "app" / "current" / "app.bin").string()) == want);
  CHECK(env.tracker.WaitReport([](const spate::HostReport& r) { return r.state == spate::kStateInstalled && r.tries == 2; },
                               std::chrono::seconds(1)));
  // While waiting it says why, as a download still in progress, then the second attempt runs.
  CHECK(AnyReport(env.tracker, [](const spate::HostReport& r) {
    return r.state == spate::kStateDownloading && r.tries == 1 && r.error.rfind("retrying after: sha256 mismatch", 0) == 0;
  }));
  CHECK(AnyReport(env.tracker, [](const spate::HostReport& r) { return r.state == spate::kStateDownloading && r.tries == 2; }));
  CHECK_FALSE(AnyReport(env.tracker, StateIs(1, spate::kStateFailed)));
  // Only the damaged piece came again, not the whole file.
  const int64_t sent = origin->get_torrents().at(0).status().total_payload_upload;
  INFO("origin sent " << sent << " bytes for a " << want.size() << " byte file");
  CHECK(sent < int64_t(want.size() + want.size() / 4));
}

TEST_CASE("fetcher config bounds the attempts at a push and the retry delay") {
  Env env;
  auto c = env.Config();
  CHECK(c.Validate().ok());
  c.tries = 0;
  CHECK(c.Validate().message() == "--tries must be 1..10");
  c.tries = 11;
  CHECK_FALSE(c.Validate().ok());
  c.tries = 1;  // no retry at all
  CHECK(c.Validate().ok());
  c.retry_delay = std::chrono::milliseconds(-1);
  CHECK(c.Validate().message() == "--retry-delay must be 0..10m");
}

namespace {

// Whoever edits a torrent outside its info dict: counts the announces and
// web-seed requests it is sent, and serves neither.
class Hostile {
 public:
  Hostile() : server_(Options(), [this](spate::http::Request&& r, spate::http::Reply reply) {
                std::lock_guard<std::mutex> l(mu_);
                ++(r.path == "/announce" ? announces_ : web_seed_requests_);
                reply(spate::http::Response::Text(404, "no"));
              }) {
    REQUIRE(server_.Start().ok());
    thread_ = std::thread([this] { server_.Run(); });
  }
  ~Hostile() {
    server_.Stop();
    thread_.join();
  }
  std::string url() const { return "http://" + spate::http::FormatEndpoint(server_.local_endpoint()); }
  std::pair<int, int> counts() {
    std::lock_guard<std::mutex> l(mu_);
    return {announces_, web_seed_requests_};
  }

 private:
  static spate::http::ServerOptions Options() {
    spate::http::ServerOptions o;
    o.listen = "127.0.9.20:0";
    return o;
  }
  std::mutex mu_;
  int announces_ = 0, web_seed_requests_ = 0;
  spate::http::Server server_;
  std::thread thread_;
};

// `torrent` with its announce, announce-list and url-list replaced: the
// info dict, and so the info-hash the manifest signs, stays the same.
std::string Doctored(const std::string& torrent, const std::string& announce, const std::string& web_seed) {
  lt::error_code ec;
  lt::bdecode_node n = lt::bdecode(torrent, ec);
  REQUIRE_FALSE(ec);
  lt::entry e(n);
  e["announce"] = announce;
  e["announce-list"] = lt::entry::list_type{lt::entry::list_type{lt::entry(announce)}};
  e["url-list"] = lt::entry::list_type{lt::entry(web_seed)};
  std::string out;
  lt::bencode(std::back_inserter(out), e);
  return out;
}

}  // namespace

TEST_CASE("a torrent's announce, announce-list and web seeds are ignored: the fetcher announces to its configured tracker only") {
  Env env;
  Hostile hostile;
  // The origin seeds the torrent with no tracker at all, so every announce
  // the fake tracker counts is the fetcher's.
  auto art = spate::testing::MakeArtifact(env.t / "origin", "app", "5.0", "app.bin", 2 * 1024 * 1024, 9);
  auto origin = env.StartOrigin(art, env.t / "origin");
  art.torrent = Doctored(art.torrent, hostile.url() + "/announce", hostile.url() + "/seed/");

  // Negative control: a session that takes the torrent as it comes does
  // contact the hostile tracker and its web seed.
  {
    spate::SwarmOptions so;
    so.bind_address = "127.0.9.13";
    auto naive = spate::MakeSession(so);
    lt::add_torrent_params p;
    p.ti = std::make_shared<lt::torrent_info>(
        lt::span<const char>(art.torrent.data(), static_cast<std::ptrdiff_t>(art.torrent.size())), lt::from_span);
    p.save_path = env.t / "naive";
    p.flags &= ~(lt::torrent_flags::auto_managed | lt::torrent_flags::paused);
    naive->add_torrent(p);
    REQUIRE(WaitUntil([&] { return hostile.counts().first > 0 && hostile.counts().second > 0; },
                      std::chrono::seconds(15)));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // its "stopped" announce, in flight at shutdown
  auto before = hostile.counts();
  int announces_before = env.tracker.announces();

  env.tracker.SetAssignments({env.Assign(art, 21, env.seeder_key)});
  spate::Fetcher f(env.Config());
  REQUIRE(f.Start().ok());
  REQUIRE(env.tracker.WaitReport(StateIs(21, spate::kStateInstalled), std::chrono::seconds(15)));
  CHECK(spate::testing::ReadAll((fs::path(env.t / "install") / "app" / "current" / "app.bin").string()) ==
        spate::testing::ReadAll(art.file));
  // Time for a web seed or a second tracker to have been tried, had they been kept.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  CHECK(env.tracker.announces() > announces_before);
  CHECK(hostile.counts() == before);
}

TEST_CASE("a staging dir planted as a symlink to elsewhere fails the push and nothing is written where it points") {
  Env env;
  auto art = spate::testing::MakeArtifact(env.t / "origin", "app", "1.0", "app.bin", 200000, 81,
                                          env.tracker.url() + "/announce");
  auto origin = env.StartOrigin(art, env.t / "origin");
  spate::testing::TempDir elsewhere("spate-elsewhere");
  fs::path install = env.t / "install";
  fs::create_directories(install / ".spate" / "staging");
  fs::create_symlink(elsewhere.path(), install / ".spate" / "staging" / art.manifest.info_hash);
  env.tracker.SetAssignments({env.Assign(art, 1, env.seeder_key)});
  spate::Fetcher f(env.Config());
  REQUIRE(f.Start().ok());
  REQUIRE(env.tracker.WaitReport(StateIs(1, spate::kStateFailed), std::chrono::seconds(5)));
  CHECK_THAT(ReportError(env.tracker, 1), Catch::Contains("symlink"));
  CHECK(f.torrent_count() == 0);
  CHECK(fs::is_empty(elsewhere.path()));
  CHECK_FALSE(fs::exists(install / "app"));
}
