// Starts the real `spate tracker` and drives its UDP tracker, whitelist
// (with SIGHUP reloads) and /metrics.
#include <signal.h>

#include <boost/asio/ip/udp.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <libtorrent/bdecode.hpp>
#include <thread>

#include "tests/support/cluster.h"
#include "tracker/udp_proto.h"
#include "wire/api.h"
#include "wire/crypto.h"
#include "wire/http.h"

namespace spate {
namespace {

using testing::Process;
using testing::TempDir;
using namespace std::chrono_literals;
namespace asio = boost::asio;
using udp = asio::ip::udp;

const char* kToken = "test-token";

struct RunningTracker {
  std::unique_ptr<Process> proc;
  std::string base;  // http://ADDR:PORT
  udp::endpoint udp_ep;
  std::string log;
};

RunningTracker StartTracker(const TempDir& dir, std::vector<std::string> extra) {
  std::string ready = dir / "t.ready";
  std::vector<std::string> argv{testing::SpateBinary(), "tracker", "--listen", "127.0.0.1:0", "--db", dir / "t.db",
                                "--admin-token", kToken, "--ready-file", ready};
  argv.insert(argv.end(), extra.begin(), extra.end());
  RunningTracker t;
  t.log = dir / "t.log";
  t.proc = std::make_unique<Process>(argv, t.log);
  auto j = testing::WaitReady(*t.proc, ready, 10s);
  t.base = "http://" + j["http"].get<std::string>();
  if (j.contains("udp")) {
    auto ep = http::ParseEndpoint(j["udp"].get<std::string>());
    REQUIRE(ep.ok());
    t.udp_ep = udp::endpoint(ep->address(), ep->port());
  }
  return t;
}

std::string RegisterArtifact(const std::string& base, const std::string& hash_hex) {
  ArtifactRegistration r;
  r.manifest.name = "web";
  r.manifest.version = "1";
  r.manifest.filename = "web.tar";
  r.manifest.size = 4096;
  r.manifest.sha256 = std::string(64, '0');
  r.manifest.info_hash = hash_hex;
  r.manifest.piece_size = 16384;
  r.manifest.created_at = 1700000000;
  r.manifest.signature = "c2ln";
  r.torrent = "t";
  http::ClientOptions o;
  o.headers = {{"Authorization", "Bearer " + std::string(kToken)}};
  auto res = http::Call("POST", base + "/api/v1/artifacts", ToJson(r).dump(), o);
  REQUIRE(res.ok());
  REQUIRE(res->status == 200);
  return *HexDecode(hash_hex);
}

// An HTTP announce from `from`; returns the bencoded failure reason or "".
std::string HttpAnnounce(const std::string& base, const std::string& hash, const std::string& from, uint64_t left = 4096) {
  http::ClientOptions o;
  o.bind_address = from;
  std::string peer_id = ("http-" + from + std::string(20, '-')).substr(0, 20);
  auto r = http::Call("GET", base + "/announce?info_hash=" + http::UrlEncode(hash) + "&peer_id=" + http::UrlEncode(peer_id) +
                                 "&port=7000&uploaded=0&downloaded=0&left=" + std::to_string(left) + "&compact=1",
                      "", o);
  REQUIRE(r.ok());
  lt::error_code ec;
  auto n = lt::bdecode(r->body, ec);
  REQUIRE_FALSE(ec);
  return std::string(n.dict_find_string_value("failure reason"));
}

// A BEP 15 client on a real UDP socket bound to `from`.
class UdpClient {
 public:
  UdpClient(const std::string& from, udp::endpoint tracker) : socket_(io_), tracker_(tracker) {
    socket_.open(tracker.address().is_v6() ? udp::v6() : udp::v4());
    socket_.bind(udp::endpoint(asio::ip::make_address(from), 0));
    timeval tv{2, 0};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  // Sends `packet`, returns the reply (fails the test on timeout).
  std::string Exchange(const std::string& packet) {
    socket_.send_to(asio::buffer(packet), tracker_);
    char buf[2048];
    udp::endpoint from;
    boost::system::error_code ec;
    size_t n = socket_.receive_from(asio::buffer(buf), from, 0, ec);
    REQUIRE_FALSE(ec);
    return std::string(buf, n);
  }
  uint64_t Connect() {
    std::string r = Exchange(U64(kUdpProtocolId) + U32(0) + U32(101));
    REQUIRE(r.size() == 16);
    CHECK(Get32(r, 0) == 0);
    CHECK(Get32(r, 4) == 101);
    return uint64_t(Get32(r, 8)) << 32 | Get32(r, 12);
  }
  std::string Announce(uint64_t cid, const std::string& hash, const std::string& peer_id, uint64_t left, uint32_t event,
                       int32_t numwant, uint16_t port = 7000) {
    return Exchange(U64(cid) + U32(1) + U32(202) + hash + peer_id + U64(0) + U64(left) + U64(0) + U32(event) + U32(0) +
                    U32(0) + U32(uint32_t(numwant)) + std::string{char(port >> 8), char(port & 0xff)});
  }
  std::string Scrape(uint64_t cid, const std::vector<std::string>& hashes) {
    std::string p = U64(cid) + U32(2) + U32(303);
    for (const auto& h : hashes) p += h;
    return Exchange(p);
  }

  static std::string U32(uint32_t v) { return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; }
  static std::string U64(uint64_t v) { return U32(uint32_t(v >> 32)) + U32(uint32_t(v)); }
  static uint32_t Get32(const std::string& s, size_t at) {
    auto p = reinterpret_cast<const unsigned char*>(s.data() + at);
    return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
  }

 private:
  asio::io_context io_;
  udp::socket socket_;
  udp::endpoint tracker_;
};

TEST_CASE("udp tracker: connect, announce with rack-local peers, scrape, errors, and the same swarm as HTTP") {
  TempDir dir("tracker-udp-test");
  std::ofstream(dir / "rack.map") << "127.0.1.0/24 dc1/pod1/rack1\n127.0.2.0/24 dc1/pod1/rack2\n";
  auto t = StartTracker(dir, {"--rackmap", dir / "rack.map", "--udp-listen", "127.0.0.1:0", "--bridges", "1",
                              "--idle-announce-interval", "40s"});
  REQUIRE(t.udp_ep.port() != 0);
  std::string hash = RegisterArtifact(t.base, "00112233445566778899aabbccddeeff00112233");
  // Eight peers per rack announce over HTTP...
  for (int rack = 1; rack <= 2; ++rack)
    for (int h = 1; h <= 8; ++h)
      REQUIRE(HttpAnnounce(t.base, hash, "127.0." + std::to_string(rack) + "." + std::to_string(h)).empty());

  // ...and one over UDP from rack 1 sees them: same swarm, same policy.
  UdpClient c("127.0.1.50", t.udp_ep);
  uint64_t cid = c.Connect();
  std::string r = c.Announce(cid, hash, std::string(20, 'u'), 4096, 2, 6);
  REQUIRE(UdpClient::Get32(r, 0) == 1);  // announce, not error
  CHECK(UdpClient::Get32(r, 4) == 202);
  CHECK(UdpClient::Get32(r, 8) >= 40);   // the idle interval...
  CHECK(UdpClient::Get32(r, 8) <= 50);   // ...and up to a random quarter more
  CHECK(UdpClient::Get32(r, 12) == 17);  // leechers: 16 over HTTP plus the requester
  CHECK(UdpClient::Get32(r, 16) == 0);   // seeders
  REQUIRE(r.size() == 20 + 6 * 6);
  int same_rack = 0;
  for (size_t i = 20; i < r.size(); i += 6) {
    auto b = reinterpret_cast<const unsigned char*>(r.data() + i);
    CHECK(b[0] == 127);
    same_rack += b[2] == 1;
    CHECK_FALSE((b[2] == 1 && b[3] == 50));  // never itself
  }
  CHECK(same_rack >= 4);

  // Scrape: the registered hash has counts, an unknown one zeros.
  std::string s = c.Scrape(cid, {hash, std::string(20, 'z')});
  REQUIRE(s.size() == 8 + 24);
  CHECK(UdpClient::Get32(s, 0) == 2);
  CHECK(UdpClient::Get32(s, 8) == 0);    // seeders
  CHECK(UdpClient::Get32(s, 16) == 17);  // leechers, the UDP peer included
  CHECK(UdpClient::Get32(s, 20 + 8) == 0);

  // Errors: unregistered hash, forged connection id, another address's id, garbage.
  std::string e = c.Announce(cid, std::string(20, 'z'), std::string(20, 'u'), 1, 0, 5);
  CHECK(UdpClient::Get32(e, 0) == 3);
  CHECK(e.find("not registered") != std::string::npos);
  e = c.Announce(cid ^ 0x5555, hash, std::string(20, 'u'), 1, 0, 5);
  CHECK(UdpClient::Get32(e, 0) == 3);
  CHECK(e.find("connection id") != std::string::npos);
  UdpClient other("127.0.2.50", t.udp_ep);
  e = other.Announce(cid, hash, std::string(20, 'v'), 1, 0, 5);
  CHECK(UdpClient::Get32(e, 0) == 3);
  e = c.Exchange(UdpClient::U64(cid) + UdpClient::U32(9) + UdpClient::U32(7));
  CHECK(UdpClient::Get32(e, 0) == 3);
  CHECK(UdpClient::Get32(e, 4) == 7);

  // The UDP peer is visible to HTTP announcers; "stopped" over UDP removes it.
  REQUIRE(UdpClient::Get32(c.Announce(cid, hash, std::string(20, 'u'), 4096, 3, 0), 0) == 1);
  auto stats = nlohmann::json::parse(http::Call("GET", t.base + "/stats", "")->body);
  CHECK(stats["peers"] == 16);
  CHECK(stats["announces_by_protocol"]["udp"] == 2);
  CHECK(stats["announces_by_protocol"]["http"] == 16);
  CHECK(stats["udp"]["connects"] == 1);
  CHECK(stats["udp"]["bad_connection_id"] == 2);
  CHECK(stats["udp"]["malformed"] == 1);

  // Prometheus text.
  auto m = http::Call("GET", t.base + "/metrics", "");
  REQUIRE(m.ok());
  CHECK(m->status == 200);
  for (const char* line : {"spate_tracker_swarms 1", "spate_tracker_peers 16", "spate_tracker_seeds 0",
                           "spate_tracker_announces_total{protocol=\"http\"} 16",
                           "spate_tracker_announces_total{protocol=\"udp\"} 2",
                           "spate_tracker_scrapes_total{protocol=\"udp\"} 1",
                           "spate_tracker_rack_peers{rack=\"dc1/pod1/rack1\"} 8",
                           "spate_tracker_rack_peers{rack=\"dc1/pod1/rack2\"} 8", "spate_tracker_pushes_active 0",
                           "spate_tracker_hosts 0", "spate_tracker_long_polls 0",
                           "spate_http_connections_rejected_total 0", "spate_tracker_udp_connects_total 1"}) {
    INFO(line);
    CHECK(m->body.find(std::string(line) + "\n") != std::string::npos);
  }
  CHECK(m->body.find("spate_tracker_failures_total{protocol=\"udp\"}") != std::string::npos);
}

TEST_CASE("udp tracker on IPv6 answers with 18-byte peers") {
  TempDir dir("tracker-udp6-test");
  std::ofstream(dir / "wl.txt") << std::string(40, '6') << "\n";
  auto t = StartTracker(dir, {"--whitelist", dir / "wl.txt", "--udp-listen", "[::1]:0"});
  REQUIRE(t.udp_ep.address().is_v6());
  std::string h = *HexDecode(std::string(40, '6'));
  UdpClient a("::1", t.udp_ep), b("::1", t.udp_ep);
  uint64_t cid = a.Connect();
  REQUIRE(UdpClient::Get32(a.Announce(cid, h, std::string(20, 'a'), 10, 2, 50, 7001), 0) == 1);
  std::string r = b.Announce(b.Connect(), h, std::string(20, 'b'), 10, 2, 50, 7002);
  REQUIRE(UdpClient::Get32(r, 0) == 1);
  REQUIRE(r.size() == 20 + 18);
  CHECK(r.substr(20, 16) == std::string(15, '\0') + "\x01");  // ::1
  CHECK(r.substr(36) == "\x1b\x59");                          // port 7001
}

void WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds limit = 5s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!cond() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
}

TEST_CASE("whitelisted hashes are served, reloaded on SIGHUP, and a bad file keeps the old list") {
  TempDir dir("tracker-wl-test");
  const std::string a = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", b = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
  const std::string list = dir / "wl.txt";
  std::ofstream(list) << "# deploy torrents\n" << a << "\n";
  auto t = StartTracker(dir, {"--whitelist", list});
  std::string ra = *HexDecode(a), rb = *HexDecode(b);
  CHECK(HttpAnnounce(t.base, ra, "127.0.1.1").empty());
  CHECK(HttpAnnounce(t.base, rb, "127.0.1.1").find("not registered") != std::string::npos);

  // Swap a for b: b is served, a is not.
  std::ofstream(list) << b << "   # now b only\n";
  ::kill(t.proc->pid(), SIGHUP);
  WaitFor([&] { return HttpAnnounce(t.base, rb, "127.0.1.1").empty(); });
  CHECK(HttpAnnounce(t.base, rb, "127.0.1.1").empty());
  CHECK_FALSE(HttpAnnounce(t.base, ra, "127.0.1.1").empty());
  CHECK(testing::ReadAll(t.log).find("reloaded: 1 info-hashes") != std::string::npos);

  // A malformed file is logged with file:line and the old list (b) stays.
  std::ofstream(list) << b << "\nnot-a-hash\n";
  ::kill(t.proc->pid(), SIGHUP);
  WaitFor([&] { return testing::ReadAll(t.log).find(list + ":2:") != std::string::npos; });
  CHECK(testing::ReadAll(t.log).find(list + ":2:") != std::string::npos);
  CHECK(t.proc->Running());
  CHECK(HttpAnnounce(t.base, rb, "127.0.1.1").empty());

  // A registered artifact is served whatever the whitelist says.
  std::string rc = RegisterArtifact(t.base, "cccccccccccccccccccccccccccccccccccccccc");
  std::ofstream(list) << "# empty\n";
  ::kill(t.proc->pid(), SIGHUP);
  WaitFor([&] { return !HttpAnnounce(t.base, rb, "127.0.1.1").empty(); });
  CHECK_FALSE(HttpAnnounce(t.base, rb, "127.0.1.1").empty());
  CHECK(HttpAnnounce(t.base, rc, "127.0.1.1").empty());
}

TEST_CASE("a malformed whitelist at startup exits 2 naming file:line") {
  TempDir dir("tracker-wl-test");
  std::ofstream(dir / "wl.txt") << "# ok\n\n0123\n";
  auto r = testing::Run({testing::SpateBinary(), "tracker", "--listen", "127.0.0.1:0", "--db", dir / "t.db",
                         "--admin-token", kToken, "--whitelist", dir / "wl.txt"},
                        10s);
  CHECK(r.exit_code == 2);
  CHECK(r.output.find(dir / "wl.txt" + ":3:") != std::string::npos);
}

TEST_CASE("the ip parameter is ignored unless --trust-ip-param") {
  TempDir dir("tracker-ip-test");
  std::ofstream(dir / "wl.txt") << std::string(40, 'd') << "\n";
  for (bool trust : {false, true}) {
    TempDir sub("tracker-ip-test");
    std::vector<std::string> extra{"--whitelist", dir / "wl.txt"};
    if (trust) extra.push_back("--trust-ip-param");
    auto t = StartTracker(sub, extra);
    std::string h = *HexDecode(std::string(40, 'd'));
    http::ClientOptions o;
    o.bind_address = "127.0.1.1";
    auto q = [&](const std::string& pid, int port) {
      return "/announce?info_hash=" + http::UrlEncode(h) + "&peer_id=" + pid + "&port=" + std::to_string(port) +
             "&left=1&compact=0";
    };
    REQUIRE(http::Call("GET", t.base + q("aaaaaaaaaaaaaaaaaaaa", 7001) + "&ip=127.0.9.9", "", o).ok());
    auto r = http::Call("GET", t.base + q("bbbbbbbbbbbbbbbbbbbb", 7002), "", o);
    REQUIRE(r.ok());
    INFO(r->body);
    CHECK((r->body.find("127.0.9.9") != std::string::npos) == trust);
    CHECK((r->body.find("2:ip9:127.0.1.1") != std::string::npos) == !trust);
  }
}

TEST_CASE("a peer that announced a key cannot be moved or stopped from another address without it") {
  TempDir dir("tracker-key-test");
  std::ofstream(dir / "wl.txt") << std::string(40, 'e') << "\n";
  auto t = StartTracker(dir, {"--whitelist", dir / "wl.txt"});
  std::string h = http::UrlEncode(*HexDecode(std::string(40, 'e')));
  auto announce = [&](const std::string& from, const std::string& extra) {
    http::ClientOptions o;
    o.bind_address = from;
    auto r = http::Call("GET", t.base + "/announce?info_hash=" + h + "&peer_id=kkkkkkkkkkkkkkkkkkkk&port=7000&left=1" + extra,
                        "", o);
    REQUIRE(r.ok());
    return r->body;
  };
  CHECK(announce("127.0.1.1", "&key=secret1").find("failure") == std::string::npos);
  CHECK(announce("127.0.1.2", "&key=other&event=stopped").find("different key") != std::string::npos);
  CHECK(announce("127.0.1.2", "&event=stopped").find("different key") != std::string::npos);
  auto stats = nlohmann::json::parse(http::Call("GET", t.base + "/stats", "")->body);
  CHECK(stats["peers"] == 1);
  CHECK(announce("127.0.1.2", "&key=secret1").find("failure") == std::string::npos);  // moved, with its key
  CHECK(announce("127.0.1.1", "&event=stopped&key=secret1").find("failure") == std::string::npos);
  stats = nlohmann::json::parse(http::Call("GET", t.base + "/stats", "")->body);
  CHECK(stats["peers"] == 0);
}

TEST_CASE("seed and leecher counts follow completed and stopped announces") {
  TempDir dir("tracker-count-test");
  std::ofstream(dir / "wl.txt") << std::string(40, 'f') << "\n";
  auto t = StartTracker(dir, {"--whitelist", dir / "wl.txt"});
  std::string h = *HexDecode(std::string(40, 'f'));
  auto counts = [&] {
    auto r = http::Call("GET", t.base + "/scrape?info_hash=" + http::UrlEncode(h), "");
    REQUIRE(r.ok());
    lt::error_code ec;
    auto n = lt::bdecode(r->body, ec);
    REQUIRE_FALSE(ec);
    auto f = n.dict_find_dict("files").dict_find_dict(h);
    REQUIRE(f);
    return std::tuple{f.dict_find_int_value("complete"), f.dict_find_int_value("incomplete"),
                      f.dict_find_int_value("downloaded")};
  };
  REQUIRE(HttpAnnounce(t.base, h, "127.0.1.1", 100).empty());
  REQUIRE(HttpAnnounce(t.base, h, "127.0.1.2", 100).empty());
  CHECK(counts() == std::tuple<int64_t, int64_t, int64_t>{0, 2, 0});
  http::ClientOptions o;
  o.bind_address = "127.0.1.1";
  std::string pid = http::UrlEncode(("http-127.0.1.1" + std::string(20, '-')).substr(0, 20));
  REQUIRE(http::Call("GET", t.base + "/announce?info_hash=" + http::UrlEncode(h) + "&peer_id=" + pid +
                                "&port=7000&left=0&event=completed",
                     "", o)
              .ok());
  CHECK(counts() == std::tuple<int64_t, int64_t, int64_t>{1, 1, 1});
  REQUIRE(HttpAnnounce(t.base, h, "127.0.1.1", 0).empty());  // a seed re-announcing stays one seed
  CHECK(counts() == std::tuple<int64_t, int64_t, int64_t>{1, 1, 1});
  REQUIRE(http::Call("GET", t.base + "/announce?info_hash=" + http::UrlEncode(h) + "&peer_id=" + pid +
                                "&port=7000&left=0&event=stopped",
                     "", o)
              .ok());
  CHECK(counts() == std::tuple<int64_t, int64_t, int64_t>{0, 1, 1});
  auto full = http::Call("GET", t.base + "/scrape", "");  // full scrape lists it too
  REQUIRE(full.ok());
  CHECK(full->body.find(h) != std::string::npos);
}

}  // namespace
}  // namespace spate
