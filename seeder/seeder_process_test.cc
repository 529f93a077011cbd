// End to end against the real `spate seeder` and `spate upload` processes.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/torrent_flags.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>

#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <mutex>
#include <thread>

#include "tests/support/carbon.h"
#include "tests/support/cluster.h"
#include "tests/support/scrape.h"
#include "wire/api.h"
#include "wire/crypto.h"
#include "wire/fs.h"
#include "wire/http.h"
#include "wire/swarm.h"

namespace spate::seeder {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using spate::testing::Process;
using spate::testing::Run;
using spate::testing::Scrape;
using spate::testing::Value;
using spate::testing::Carbon;
using spate::testing::SpateBinary;
using spate::testing::TempDir;

const char* kToken = "upload-secret";

// A port nothing listens on: bind port 0, read it back, close.
int ClosedPort() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  int port = a.local_endpoint().port();
  a.close();
  return port;
}

struct SeederProc {
  Process proc;
  std::string base;  // http://127.0.0.1:PORT
  std::string peer;  // 127.0.0.1:PORT of its BitTorrent listener
};

SeederProc StartSeeder(const TempDir& dir, const std::string& tracker, const std::string& tag,
                       const std::vector<std::string>& extra = {}) {
  std::string ready = dir / ("ready-" + tag + ".json");
  fs::remove(ready);
  std::vector<std::string> argv{SpateBinary(), "seeder", "--listen", "127.0.0.1:0", "--data-dir", dir / "data",
                                "--tracker", tracker, "--upload-token", kToken, "--tracker-token", "admin-secret",
                                "--ready-file", ready, "--log-level", "debug"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Process p(argv, dir / ("seeder-" + tag + ".log"));
  auto j = spate::testing::WaitReady(p, ready, 15s);
  REQUIRE(j.contains("peer"));
  return SeederProc{std::move(p), "http://" + j["http"].get<std::string>(), j["peer"].get<std::string>()};
}

size_t CountEntries(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

Result<http::ClientResult> Put(const std::string& url, const std::string& body, const std::string& token) {
  http::ClientOptions o;
  if (!token.empty()) o.headers.emplace_back("Authorization", "Bearer " + token);
  return http::Call("PUT", url, body, o);
}

std::vector<std::string> Upload(const TempDir& dir, const SeederProc& s, const std::string& file,
                                const std::string& version) {
  return {SpateBinary(), "upload", file, "--name", "app", "--version", version, "--filename", "app.bin", "--seeder",
          s.base, "--token", kToken};
}

TEST_CASE("seeder process: wrong token is 401 and bad names are 400, with nothing stored") {
  TempDir dir("spate-seeder-proc");
  auto s = StartSeeder(dir, "http://127.0.0.1:" + std::to_string(ClosedPort()), "a");
  std::string body(256 * 1024, 'x');
  std::string url = s.base + "/api/v1/artifacts/app/1.0";

  auto wrong = Put(url, body, "not-the-token");
  REQUIRE(wrong.ok());
  CHECK(wrong->status == 401);
  auto missing = Put(url, body, "");
  REQUIRE(missing.ok());
  CHECK(missing->status == 401);

  for (const char* bad : {"/api/v1/artifacts/../1.0", "/api/v1/artifacts/a%2Fb/1.0", "/api/v1/artifacts/app/..",
                          "/api/v1/artifacts/app/1.0?filename=..%2Fx"}) {
    INFO(bad);
    auto r = Put(s.base + bad, body, kToken);
    REQUIRE(r.ok());
    CHECK(r->status == 400);
    CHECK_THAT(r->body, Catch::Contains("error"));
  }
  CHECK(CountEntries(dir / "data/artifacts") == 0);
  CHECK(CountEntries(dir / "data/tmp") == 0);

  // spate upload reports the refusal with the server's message and exit 1.
  spate::testing::WriteRandomFile(dir / "f.bin", 1000, 1);
  auto up = Run({SpateBinary(), "upload", dir / "f.bin", "--name", "app", "--version", "1", "--seeder", s.base,
                 "--token", "nope"},
                10s);
  CHECK(up.exit_code == 1);
  CHECK_THAT(up.output, Catch::Contains("upload refused: 401"));
  // Bigger than socket buffers: the refusal must still name the reason, not a broken pipe.
  spate::testing::WriteRandomFile(dir / "big.bin", 24 << 20, 2);
  auto big = Run({SpateBinary(), "upload", dir / "big.bin", "--name", "app", "--version", "1", "--seeder", s.base,
                  "--token", "nope"},
                 10s);
  CHECK(big.exit_code == 1);
  CHECK_THAT(big.output, Catch::Contains("upload refused: 401 missing or wrong upload token"));
  // Usage errors are exit 2 and never reach the server.
  auto usage = Run({SpateBinary(), "upload", dir / "f.bin", "--name", "../x", "--version", "1", "--seeder", s.base,
                    "--token", kToken},
                   10s);
  CHECK(usage.exit_code == 2);
  auto nofile = Run({SpateBinary(), "upload", dir / "missing", "--name", "x", "--version", "1", "--seeder", s.base,
                     "--token", kToken},
                    10s);
  CHECK(nofile.exit_code == 2);
  CHECK(CountEntries(dir / "data/artifacts") == 0);
}

TEST_CASE("seeder process: an artifact over --max-upload-size is refused with the limit before a byte is stored") {
  TempDir dir("spate-seeder-proc");
  auto s = StartSeeder(dir, "http://127.0.0.1:" + std::to_string(ClosedPort()), "a", {"--max-upload-size", "1MiB"});
  const std::string why = "app@1 is 2.0 MiB, over this seeder's --max-upload-size of 1.0 MiB";
  spate::testing::WriteRandomFile(dir / "big.bin", 2 << 20, 3);
  // spate upload learns it from the dry run, before sending the body.
  auto up = Run(Upload(dir, s, dir / "big.bin", "1"), 30s);
  INFO(up.output);
  CHECK(up.exit_code == 1);
  CHECK_THAT(up.output, Catch::Contains("upload refused: 413 " + why));
  // A client that skips the dry run hears the same from its Content-Length.
  auto direct = Put(s.base + "/api/v1/artifacts/app/1?filename=app.bin", std::string(2 << 20, 'x'), kToken);
  REQUIRE(direct.ok());
  CHECK(direct->status == 413);
  CHECK_THAT(direct->body, Catch::Contains(why));
  CHECK(CountEntries(dir / "data/tmp") == 0);
  CHECK(CountEntries(dir / "data/artifacts") == 0);

  spate::testing::WriteRandomFile(dir / "small.bin", 1 << 20, 4);  // exactly the limit
  auto ok = Run(Upload(dir, s, dir / "small.bin", "2"), 30s);
  INFO(ok.output);
  CHECK(ok.exit_code == 0);
  CHECK(Run({SpateBinary(), "seeder", "--data-dir", dir / "x", "--tracker", "http://127.0.0.1:1", "--upload-token", "t",
             "--max-upload-size", "lots"},
            10s)
            .exit_code == 2);
}

TEST_CASE("seeder process: upload, verify, idempotent retry, conflict, restart") {
  TempDir dir("spate-seeder-proc");
  std::string tracker = "http://127.0.0.1:" + std::to_string(ClosedPort());
  auto s = StartSeeder(dir, tracker, "a");
  std::string file = dir / "app.bin";
  spate::testing::WriteRandomFile(file, 3 << 20, 42);

  auto up = Run(Upload(dir, s, file, "1.0"), 20s);
  INFO(up.output);
  REQUIRE(up.exit_code == 0);
  CHECK_THAT(up.output, Catch::Contains("uploaded app@1.0"));

  std::string vdir = dir / "data/artifacts/app/1.0";
  auto vk = VerifyKey::Load(dir / "data/seeder.pub");
  REQUIRE(vk.ok());
  auto text = ReadFile(vdir + "/manifest.json");
  REQUIRE(text.ok());
  auto m = ManifestFromJson(nlohmann::json::parse(*text));
  REQUIRE(m.ok());
  CHECK(m->Verify(*vk).ok());
  CHECK(m->sha256 == *Sha256File(file));
  CHECK(m->size == (3u << 20));
  CHECK(m->filename == "app.bin");
  CHECK(*Sha256File(vdir + "/app.bin") == m->sha256);
  auto torrent = ReadFile(vdir + "/app.bin.torrent");
  REQUIRE(torrent.ok());
  lt::torrent_info ti(torrent->data(), static_cast<int>(torrent->size()));
  auto v1 = ti.info_hashes().v1;
  CHECK(HexEncode(std::string_view(reinterpret_cast<const char*>(v1.data()), v1.size())) == m->info_hash);
  CHECK(ti.priv());
  CHECK(CountEntries(dir / "data/tmp") == 0);

  // The seeder serves what it stored, and the key fetchers must trust.
  auto pub = http::Call("GET", s.base + "/api/v1/pubkey", "");
  REQUIRE(pub.ok());
  CHECK(pub->body == *ReadFile(dir / "data/seeder.pub"));
  auto t = http::Call("GET", s.base + "/api/v1/artifacts/app/1.0/torrent", "");
  REQUIRE(t.ok());
  CHECK(t->body == *torrent);
  auto st = http::Call("GET", s.base + "/api/v1/status", "");
  REQUIRE(st.ok());
  auto sj = nlohmann::json::parse(st->body);
  REQUIRE(sj["artifacts"].size() == 1);
  CHECK(sj["artifacts"][0]["registered"] == false);  // the tracker is down
  // Not seeding until registered: an unregistered hash gets no peers anyway.
  CHECK(sj["artifacts"][0]["seeding"].is_null());

  auto again = Run(Upload(dir, s, file, "1.0"), 20s);
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.output, Catch::Contains("already stored"));

  std::string other = dir / "other.bin";
  spate::testing::WriteRandomFile(other, 3 << 20, 43);
  auto conflict = Run(Upload(dir, s, other, "1.0"), 20s);
  CHECK(conflict.exit_code == 1);
  CHECK_THAT(conflict.output, Catch::Contains("409"));
  CHECK(*Sha256File(vdir + "/app.bin") == m->sha256);
  // The same through the raw endpoint (no dry run): the body is read, then refused.
  auto raw = Put(s.base + "/api/v1/artifacts/app/1.0?filename=app.bin", "different bytes", kToken);
  REQUIRE(raw.ok());
  CHECK(raw->status == 409);
  auto same = http::Call("PUT", s.base + "/api/v1/artifacts/app/1.0?filename=app.bin", *ReadFile(file),
                         {"", 10s, {{"Authorization", std::string("Bearer ") + kToken}}});
  REQUIRE(same.ok());
  CHECK(same->status == 200);
  CHECK(CountEntries(dir / "data/tmp") == 0);

  // SIGTERM is a clean stop (exit 0), not death by signal.
  ::kill(s.proc.pid(), SIGTERM);
  CHECK(s.proc.Wait(15s) == 0);
  auto s2 = StartSeeder(dir, tracker, "b");
  auto list = http::Call("GET", s2.base + "/api/v1/artifacts", "");
  REQUIRE(list.ok());
  auto lj = nlohmann::json::parse(list->body);
  REQUIRE(lj["artifacts"].size() == 1);
  auto listed = ManifestFromJson(lj["artifacts"][0]);
  REQUIRE(listed.ok());
  CHECK(listed->info_hash == m->info_hash);
  CHECK(listed->Verify(*vk).ok());  // same key after restart
}

TEST_CASE("seeder process: a BitTorrent peer downloads the stored artifact from the origin") {
  TempDir dir("spate-seeder-proc");
  // A stand-in tracker that accepts registrations (seeding starts once registered).
  http::ServerOptions to;
  to.listen = "127.0.0.1:0";
  to.max_body = 8 << 20;
  http::Server tracker(to, [](http::Request&&, http::Reply reply) { reply(http::Response::Json(200, "{}")); });
  REQUIRE(tracker.Start().ok());
  std::thread tracker_thread([&] { tracker.Run(); });
  auto s = StartSeeder(dir, "http://" + http::FormatEndpoint(tracker.local_endpoint()), "a");
  std::string file = dir / "app.bin";
  spate::testing::WriteRandomFile(file, 3 << 20, 9);
  REQUIRE(Run(Upload(dir, s, file, "1.0"), 20s).exit_code == 0);
  auto torrent = http::Call("GET", s.base + "/api/v1/artifacts/app/1.0/torrent", "");
  REQUIRE(torrent.ok());
  REQUIRE(torrent->status == 200);

  // The stand-in tracker hands out no peers, so introduce the peer to the seeder by hand.
  SwarmOptions so;
  so.bind_address = "127.0.0.1";
  auto ses = MakeSession(so);
  lt::add_torrent_params p;
  p.ti = std::make_shared<lt::torrent_info>(torrent->body.data(), static_cast<int>(torrent->body.size()));
  p.save_path = dir / "dl";
  p.flags &= ~(lt::torrent_flags::auto_managed | lt::torrent_flags::paused);
  lt::torrent_handle h = ses->add_torrent(std::move(p));
  auto ep = http::ParseEndpoint(s.peer);
  REQUIRE(ep.ok());
  bool done = false;
  for (int i = 0; i < 120 && !done; ++i) {
    if (i % 10 == 0) h.connect_peer(lt::tcp::endpoint(ep->address(), ep->port()));
    std::this_thread::sleep_for(100ms);
    done = h.status().is_seeding;
  }
  REQUIRE(done);
  CHECK(*Sha256File(dir / "dl/app.bin") == *Sha256File(file));
  ses.reset();

  // /status reads a cache the seeder refreshes about once a second.
  nlohmann::json sj;
  for (int i = 0; i < 30; ++i) {
    auto st = http::Call("GET", s.base + "/api/v1/status", "");
    REQUIRE(st.ok());
    sj = nlohmann::json::parse(st->body);
    if (sj["session"]["total_uploaded"].get<int64_t>() >= (3 << 20)) break;
    std::this_thread::sleep_for(100ms);
  }
  CHECK(sj["artifacts"][0]["seeding"]["total_uploaded"].get<int64_t>() >= (3 << 20));
  CHECK(sj["session"]["total_uploaded"].get<int64_t>() >= (3 << 20));
  auto m = Scrape(s.base);
  CHECK(Value(m, "spate_seeder_seeded_bytes_total") >= (3 << 20));
  CHECK(Value(m, "spate_seeder_torrents") == 1);
  CHECK(Value(m, "spate_seeder_registrations", {{"state", "registered"}}) == 1);
  tracker.Stop();
  tracker_thread.join();
}

TEST_CASE("seeder process: /metrics counts uploads by result and what is stored") {
  TempDir dir("spate-seeder-proc");
  auto s = StartSeeder(dir, "http://127.0.0.1:" + std::to_string(ClosedPort()), "a");
  auto before = Scrape(s.base);
  CHECK(Value(before, "spate_seeder_uploads_total") == 0);
  CHECK(Value(before, "spate_seeder_artifacts") == 0);
  std::string body(200000, 'b');
  auto first = Put(s.base + "/api/v1/artifacts/app/1.0", body, kToken);
  REQUIRE(first.ok());
  REQUIRE(first->status == 201);
  auto again = Put(s.base + "/api/v1/artifacts/app/1.0", body, kToken);
  REQUIRE(again.ok());
  REQUIRE(again->status == 200);  // identical to the stored one
  auto wrong = Put(s.base + "/api/v1/artifacts/app/2.0", "x", "not-the-token");
  REQUIRE(wrong.ok());
  REQUIRE(wrong->status == 401);
  auto after = Scrape(s.base);
  CHECK(Value(after, "spate_seeder_uploads_total", {{"result", "stored"}}) == 1);
  CHECK(Value(after, "spate_seeder_uploads_total", {{"result", "identical"}}) == 1);
  CHECK(Value(after, "spate_seeder_uploads_total", {{"result", "refused"}}) == 1);
  CHECK(Value(after, "spate_seeder_uploads_total", {{"result", "failed"}}) == 0);
  CHECK(Value(after, "spate_seeder_upload_bytes_total") == 200000);
  CHECK(Value(after, "spate_seeder_artifacts") == 1);
  CHECK(Value(after, "spate_seeder_artifact_bytes") == 200000);
  CHECK(Value(after, "spate_seeder_registrations", {{"state", "pending"}}) == 1);
}

TEST_CASE("seeder process: metrics reach a real Graphite (carbon) and read back with whisper-fetch") {
  TempDir dir("spate-seeder-graphite");
  Carbon carbon(dir);
  std::string ready = dir / "ready.json";
  Process p({SpateBinary(), "seeder", "--listen", "127.0.0.1:0", "--data-dir", dir / "data", "--tracker",
             "http://127.0.0.1:" + std::to_string(ClosedPort()), "--upload-token", kToken, "--ready-file", ready,
             "--graphite", "127.0.0.1:" + std::to_string(carbon.line_port), "--graphite-prefix", "spate.seeder.t1",
             "--graphite-interval", "1s"},
            dir / "seeder.log");
  auto j = spate::testing::WaitReady(p, ready, 15s);
  std::string base = "http://" + j["http"].get<std::string>();
  auto up = Put(base + "/api/v1/artifacts/app/1.0", std::string(12345, 'g'), kToken);
  REQUIRE(up.ok());
  REQUIRE(up->status == 201);
  // carbon takes a second or two to start; the sender reconnects each round until it is up.
  INFO(p.Log());
  INFO(carbon.Log());
  CHECK(carbon.WaitFor("spate.seeder.t1.spate_seeder_artifacts", 1) == 1.0);
  CHECK(carbon.WaitFor("spate.seeder.t1.spate_seeder_upload_bytes_total", 12345) == 12345.0);
  CHECK(carbon.Latest("spate.seeder.t1.spate_seeder_uploads_total.result.stored") == 1.0);
}

// A stand-in tracker that refuses the first registration, then accepts.
TEST_CASE("seeder process: registration retries until the tracker accepts it") {
  TempDir dir("spate-seeder-proc");
  std::mutex mu;
  std::vector<std::string> bodies, tokens;
  std::atomic<int> calls{0};
  http::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.max_body = 8 << 20;
  http::Server tracker(so, [&](http::Request&& req, http::Reply reply) {
    if (req.method != "POST" || req.path != "/api/v1/artifacts") return reply(http::Response::Json(404, "{}"));
    if (calls++ == 0) return reply(http::Response::Error(Status::Unavailable("warming up")));
    std::lock_guard<std::mutex> lock(mu);
    bodies.push_back(req.body);
    tokens.push_back(req.bearer_token());
    reply(http::Response::Json(200, "{\"ok\":true}"));
  });
  REQUIRE(tracker.Start().ok());
  std::thread th([&] { tracker.Run(); });
  struct Joiner {
    http::Server& s;
    std::thread& t;
    ~Joiner() {
      s.Stop();
      t.join();
    }
  } joiner{tracker, th};

  auto s = StartSeeder(dir, "http://" + http::FormatEndpoint(tracker.local_endpoint()), "a");
  std::string file = dir / "app.bin";
  spate::testing::WriteRandomFile(file, 100000, 5);
  auto up = Run(Upload(dir, s, file, "2.0"), 20s);
  REQUIRE(up.exit_code == 0);

  bool registered = false;
  for (int i = 0; i < 100 && !registered; ++i) {
    auto st = http::Call("GET", s.base + "/api/v1/status", "");
    if (st.ok()) registered = nlohmann::json::parse(st->body)["artifacts"][0]["registered"] == true;
    if (!registered) std::this_thread::sleep_for(100ms);
  }
  REQUIRE(registered);
  std::lock_guard<std::mutex> lock(mu);
  REQUIRE(bodies.size() >= 1);
  CHECK(calls >= 2);
  CHECK(tokens[0] == "admin-secret");
  auto reg = RegistrationFromJson(nlohmann::json::parse(bodies[0]));
  REQUIRE(reg.ok());
  CHECK(reg->manifest.id() == "app@2.0");
  CHECK(reg->origin == "127.0.0.1");
  CHECK(reg->torrent == *ReadFile(dir / "data/artifacts/app/2.0/app.bin.torrent"));
}

}  // namespace
}  // namespace spate::seeder
