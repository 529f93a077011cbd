// TLS on every control-plane listener, real processes on loopback: the
// tracker's control port and the seeder's API speak only TLS with
// certificates from a throwaway CA; BitTorrent announces stay plaintext on
// the tracker's --announce-listen.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <libtorrent/bdecode.hpp>

#include "tests/support/certs.h"
#include "tests/support/spate_cluster.h"
#include "tests/support/tools.h"
#include "wire/http.h"

using namespace spate::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

nlohmann::json Json(const spate::Result<spate::http::ClientResult>& r) {
  REQUIRE(r.ok());
  REQUIRE(r->status == 200);
  return nlohmann::json::parse(r->body);
}

// What `announce` says about the torrent's own announce URL.
std::string TorrentAnnounce(const std::string& torrent) {
  lt::error_code ec;
  auto n = lt::bdecode(torrent, ec);
  REQUIRE_FALSE(ec);
  return std::string(n.dict_find_string_value("announce"));
}

}  // namespace

TEST_CASE("with TLS on the tracker and the seeder a push reaches 4 hosts in 2 racks and every copy matches") {
  TempDir dir("spate-tls-push");
  SpateCluster c(dir, /*tls=*/true);
  REQUIRE(c.tracker.rfind("https://127.0.0.1:", 0) == 0);
  c.StartSeeder();
  REQUIRE(c.seeder.rfind("https://127.0.0.2:", 0) == 0);
  for (int rack = 1; rack <= 2; ++rack)
    for (int host = 1; host <= 2; ++host) c.StartFetcher(rack, host);
  c.WaitForHosts(4);

  const std::string artifact = dir / "app.bin";
  WriteRandomFile(artifact, 8u << 20, 21);
  c.Upload(artifact);  // `spate upload` trusts the CA through SPATE_TLS_CA

  // Torrents name the plain announce listener, which stock clients can reach.
  auto torrent = spate::http::Call("GET", c.seeder + "/api/v1/artifacts/app/1.0/torrent", "", c.client());
  REQUIRE(torrent.ok());
  CHECK(TorrentAnnounce(torrent->body) == c.announce);

  auto push = Run({SpateBinary(), "push", "app@1.0", "--tracker", c.tracker, "--timeout", "120s"}, 150s, c.env);
  INFO(push.output);
  INFO(c.Logs());
  CHECK(push.exit_code == 0);
  CHECK(push.output.find("4/4 hosts installed and verified") != std::string::npos);
  const std::string want = ReadAll(artifact);
  for (const auto& install : c.installs) {
    INFO(install);
    CHECK(ReadAll(install + "/app/current/app.bin") == want);
  }
  // The swarm ran on the plain listener: the tracker counted the announces.
  CHECK(Json(spate::http::Call("GET", c.tracker + "/stats", "", c.client()))["announces"].get<int>() > 0);

  // Every other release-manager command goes through the same flags.
  auto fleet = Run({SpateBinary(), "fleet", "--tracker", c.tracker, "--tls-ca", c.ca.cert}, 30s, SpateCluster::kEnv);
  INFO(fleet.output);
  CHECK(fleet.exit_code == 0);
  CHECK(fleet.output.find("r2h2") != std::string::npos);
}

TEST_CASE(
    "a plaintext request to a TLS control port gets no HTTP answer, and announces live on the plain listener only") {
  TempDir dir("spate-tls-plain");
  SpateCluster c(dir, /*tls=*/true);
  const std::string control = c.tracker.substr(std::string("https://").size());
  const std::string announce_base = c.announce.substr(0, c.announce.size() - std::string("/announce").size());

  spate::http::ClientOptions quick;
  quick.timeout = 5s;
  auto plain = spate::http::Call("GET", "http://" + control + "/api/v1/hosts", "", quick);
  CHECK_FALSE(plain.ok());
  // curl in plaintext: no HTTP status either.
  auto curl = Run({RequireTool("curl", "curl"), "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                   "http://" + control + "/stats"},
                  20s);
  INFO(curl.output);
  CHECK(curl.exit_code != 0);
  CHECK(curl.output.size() >= 3);
  CHECK(curl.output.compare(curl.output.size() - 3, 3, "000") == 0);  // no HTTP status came back
  // The same over TLS works, and curl with the CA agrees.
  CHECK(Json(spate::http::Call("GET", c.tracker + "/stats", "", c.client())).contains("announces"));
  auto curl_tls = Run({RequireTool("curl", "curl"), "-sS", "--cacert", c.ca.cert, "-H",
                       std::string("Authorization: Bearer ") + SpateCluster::kReadToken, "-o", "/dev/null", "-w",
                       "%{http_code}", c.tracker + "/stats"},
                      20s);
  CHECK(curl_tls.output == "200");

  // The control port refuses announces and points to the plain listener ...
  auto on_control = spate::http::Call("GET", c.tracker + "/announce?info_hash=x", "", c.client());
  REQUIRE(on_control.ok());
  CHECK(on_control->status == 404);
  CHECK(on_control->body.find("served on --announce-listen") != std::string::npos);
  CHECK(spate::http::Call("GET", c.tracker + "/scrape", "", c.client())->status == 404);
  // ... which answers them in plaintext (the tracker's own refusal of an
  // unregistered hash) and nothing else.
  std::string hash(20, 'a');
  auto on_plain = spate::http::Call("GET",
                                    c.announce + "?info_hash=" + spate::http::UrlEncode(hash) +
                                        "&peer_id=-XX0001-abcdefghijkl&port=6881&uploaded=0&downloaded=0&left=1",
                                    "");
  REQUIRE(on_plain.ok());
  CHECK(on_plain->status == 200);
  CHECK(on_plain->body.find("failure reason") != std::string::npos);
  CHECK(spate::http::Call("GET", announce_base + "/scrape", "")->status == 200);
  CHECK(spate::http::Call("GET", announce_base + "/api/v1/hosts", "")->status == 404);
  CHECK(spate::http::Call("GET", announce_base + "/stats", "")->status == 404);
}

TEST_CASE("clients given the wrong CA refuse the tracker and the seeder and say why") {
  TempDir dir("spate-tls-wrong-ca");
  SpateCluster c(dir, /*tls=*/true);
  c.StartSeeder();
  auto stranger = MakeCa(dir, "stranger-ca");
  const std::string why = "TLS certificate rejected: unable to get local issuer certificate (checked against CA file " +
                          stranger.cert + ")";

  auto pushes =
      Run({SpateBinary(), "pushes", "--tracker", c.tracker, "--tls-ca", stranger.cert}, 30s, SpateCluster::kEnv);
  INFO(pushes.output);
  CHECK(pushes.exit_code != 0);
  CHECK(pushes.output.find("cannot reach the tracker") != std::string::npos);
  CHECK(pushes.output.find(why) != std::string::npos);

  // The environment's CA is the fallback; the flag wins over it.
  auto with_env = [&](const std::string& ca) {
    auto e = SpateCluster::kEnv;
    e.push_back("SPATE_TLS_CA=" + ca);
    return e;
  };
  auto env_wrong = Run({SpateBinary(), "pushes", "--tracker", c.tracker}, 30s, with_env(stranger.cert));
  CHECK(env_wrong.exit_code != 0);
  CHECK(env_wrong.output.find(why) != std::string::npos);
  auto flag_wins = Run({SpateBinary(), "pushes", "--tracker", c.tracker, "--tls-ca", c.ca.cert}, 30s,
                       with_env(stranger.cert));
  INFO(flag_wins.output);
  CHECK(flag_wins.exit_code == 0);

  WriteRandomFile(dir / "app.bin", 1u << 20, 5);
  auto up = Run({SpateBinary(), "upload", dir / "app.bin", "--name", "app", "--version", "1", "--seeder", c.seeder,
                 "--tls-ca", stranger.cert},
                30s, SpateCluster::kEnv);
  INFO(up.output);
  CHECK(up.exit_code == 1);
  CHECK(up.output.find(why) != std::string::npos);

  // A fetcher that does not trust the tracker never checks in, and its log says why.
  c.StartFetcher(1, 1, {"--tls-ca", stranger.cert});
  std::this_thread::sleep_for(1s);
  auto hosts = spate::http::Call("GET", c.tracker + "/api/v1/hosts", "", c.client());
  REQUIRE(hosts.ok());
  CHECK(nlohmann::json::parse(hosts->body)["hosts"].empty());
  CHECK(c.fetchers.back().Log().find(why) != std::string::npos);
}

TEST_CASE("daemons refuse TLS files that cannot serve, with exit 2 and the reason") {
  TempDir dir("spate-tls-files");
  auto ca = MakeCa(dir, "ca");
  auto a = MakeServerCert(dir, ca, "a", {"127.0.0.1"});
  auto b = MakeServerCert(dir, ca, "b", {"127.0.0.1"});
  auto mismatch = Run({SpateBinary(), "tracker", "--listen", "127.0.0.1:0", "--db", dir / "t.db", "--tls-cert", a.cert,
                       "--tls-key", b.key},
                      30s, SpateCluster::kEnv);
  CHECK(mismatch.exit_code == 2);
  CHECK(mismatch.output.find("TLS key " + b.key + " does not match the certificate " + a.cert) != std::string::npos);
  auto missing = Run(
      {SpateBinary(), "seeder", "--listen", "127.0.0.2:0", "--data-dir", dir / "s", "--tracker", "https://127.0.0.1:1",
       "--announce-url", "http://127.0.0.1:2/announce", "--tls-cert", dir / "gone.pem", "--tls-key", a.key},
      30s, SpateCluster::kEnv);
  CHECK(missing.exit_code == 2);
  CHECK(missing.output.find("cannot read TLS certificate " + (dir / "gone.pem") + ": No such file or directory") !=
        std::string::npos);
  auto half = Run({SpateBinary(), "tracker", "--listen", "127.0.0.1:0", "--db", dir / "t.db", "--tls-cert", a.cert},
                  30s, SpateCluster::kEnv);
  CHECK(half.exit_code == 2);
  CHECK(half.output.find("TLS needs both a certificate and its key") != std::string::npos);
}

TEST_CASE("aria2c, a stock client, downloads through the plain announce listener of a TLS tracker") {
  const std::string aria2c = RequireTool("aria2c", "aria2");
  TempDir dir("spate-tls-aria2");
  SpateCluster c(dir, /*tls=*/true);
  c.StartSeeder();
  const std::string artifact = dir / "app.bin";
  WriteRandomFile(artifact, 4u << 20, 8);
  c.Upload(artifact);
  auto torrent = spate::http::Call("GET", c.seeder + "/api/v1/artifacts/app/1.0/torrent", "", c.client());
  REQUIRE(torrent.ok());
  std::ofstream(dir / "app.torrent", std::ios::binary) << torrent->body;

  const std::string out_dir = dir / "aria2";
  auto r =
      Run({aria2c, "--no-conf", "--interface=127.0.3.1", "--listen-port=" + std::to_string(FreePort("127.0.3.1")),
           "--dir=" + out_dir, "--seed-time=0", "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
           "--enable-peer-exchange=false", "--disable-ipv6=true", "--file-allocation=none", "--summary-interval=0",
           "--console-log-level=notice", "--bt-stop-timeout=60", "--stop=90", dir / "app.torrent"},
          120s);
  INFO("aria2c output:\n" << r.output);
  INFO(c.Logs());
  REQUIRE(r.exit_code == 0);
  CHECK(ReadAll(out_dir + "/app.bin") == ReadAll(artifact));
  CHECK(Json(spate::http::Call("GET", c.tracker + "/stats", "", c.client()))["announces"].get<int>() >= 2);
}
