// Starts and stops the real `spate tracker` many times with SIGTERM while long
// polls, announces (HTTP and UDP) and reports are in flight, and requires a
// clean exit every time. Built with SPATE_SANITIZE=address,undefined
// (scripts/test --sanitize) this is the regression test for the heap
// corruption at shutdown: the tracker's timers, UDP socket and held long-poll
// replies outlived the io_context they belong to.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "tests/support/cluster.h"
#include "wire/api.h"
#include "wire/crypto.h"
#include "wire/http.h"

namespace spate {
namespace {

using testing::Process;
using testing::TempDir;
using namespace std::chrono_literals;

const char* kToken = "test-token";
const std::string kHashHex = "fedcba9876543210fedcba9876543210fedcba98";

http::ClientOptions Admin() {
  http::ClientOptions o;
  o.headers = {{"Authorization", "Bearer " + std::string(kToken)}};
  o.timeout = 5000ms;
  return o;
}

std::string Registration() {
  ArtifactRegistration r;
  r.manifest.name = "app";
  r.manifest.version = "1";
  r.manifest.filename = "app.bin";
  r.manifest.size = 1 << 20;
  r.manifest.sha256 = std::string(64, '0');
  r.manifest.info_hash = kHashHex;
  r.manifest.piece_size = 65536;
  r.manifest.created_at = 1700000000;
  r.manifest.signature = "c2ln";
  r.torrent = "t";
  r.origin = "127.0.9.1";
  return ToJson(r).dump();
}

// The load one tracker run sees until `stop`: per host a long poller, plus
// HTTP announcers, a reporter and a UDP announcer. Every client tolerates the
// tracker going away (errors just back off briefly).
class Load {
 public:
  Load(std::string base, std::string udp, std::vector<std::string> hosts, std::vector<std::string> addrs,
       int64_t push_id)
      : base_(std::move(base)), udp_(std::move(udp)), hosts_(std::move(hosts)), addrs_(std::move(addrs)),
        push_id_(push_id) {
    for (size_t i = 0; i < hosts_.size(); ++i) threads_.emplace_back([this, i] { Poll(i); });
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this, i] { Announce(i); });
    threads_.emplace_back([this] { Report(); });
    if (!udp_.empty()) threads_.emplace_back([this] { Udp(); });
  }
  ~Load() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }
  int polls_held() const { return polls_held_; }
  int requests() const { return requests_; }

 private:
  void Backoff() { std::this_thread::sleep_for(20ms); }

  void Poll(size_t i) {
    int64_t gen = -1;
    http::ClientOptions o;
    o.bind_address = addrs_[i];
    while (!stop_) {
      // Alternates a check-in (no wait) with a long poll that the tracker holds
      // until a push wakes it, or until it is stopped. Some polls give up
      // client-side (1.5 s) while the tracker still holds them, like a fetcher
      // that stops at the same moment.
      bool hold = gen >= 0;
      o.timeout = hold ? 1500ms : 3000ms;
      auto r = http::Call("GET",
                          base_ + "/api/v1/hosts/" + hosts_[i] + "/assignments?generation=" + std::to_string(gen) +
                              "&wait=" + (hold ? "30" : "0"),
                          "", o);
      ++requests_;
      if (hold) ++polls_held_;
      if (!r.ok() || r->status != 200) {
        gen = -1;
        Backoff();
        continue;
      }
      auto j = nlohmann::json::parse(r->body, nullptr, false);
      gen = j.is_object() && j.contains("generation") ? j["generation"].get<int64_t>() : -1;
    }
  }

  void Announce(int n) {
    std::mt19937 rng(uint32_t(n + 1));
    std::string hash = *HexDecode(kHashHex);
    while (!stop_) {
      size_t i = rng() % addrs_.size();
      http::ClientOptions o;
      o.bind_address = addrs_[i];
      o.timeout = 3000ms;
      std::string peer_id = (hosts_[i] + std::string(20, '-')).substr(0, 20);
      const char* events[] = {"", "&event=started", "&event=completed", "&event=stopped"};
      auto r = http::Call("GET",
                          base_ + "/announce?info_hash=" + http::UrlEncode(hash) + "&peer_id=" +
                              http::UrlEncode(peer_id) + "&port=7000&uploaded=0&downloaded=0&left=" +
                              std::to_string(rng() % 2 ? 0 : 4096) + "&compact=1&numwant=50" + events[rng() % 4],
                          "", o);
      ++requests_;
      if (!r.ok()) Backoff();
    }
  }

  void Report() {
    std::mt19937 rng(7);
    const char* states[] = {kStateDownloading, kStateDownloading, kStateVerifying, kStateInstalled};
    while (!stop_) {
      size_t i = rng() % hosts_.size();
      HostReport rep;
      rep.push_id = push_id_;
      rep.state = states[rng() % 4];
      rep.total = 1 << 20;
      rep.bytes_done = rng() % (1 << 20);
      http::ClientOptions o;
      o.bind_address = addrs_[i];
      o.timeout = 3000ms;
      auto r = http::Call("POST", base_ + "/api/v1/hosts/" + hosts_[i] + "/reports",
                          nlohmann::json{{"reports", {ToJson(rep)}}}.dump(), o);
      ++requests_;
      if (!r.ok()) Backoff();
    }
  }

  // BEP 15: connect, then announces with that connection id; replies are read
  // with a short timeout and never required.
  void Udp() {
    auto ep = http::ParseEndpoint(udp_);
    if (!ep.ok()) return;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) return;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(ep->port());
    inet_pton(AF_INET, ep->address().to_string().c_str(), &to.sin_addr);
    timeval tv{0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    auto u32 = [](uint32_t v) { return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; };
    auto u64 = [&](uint64_t v) { return u32(uint32_t(v >> 32)) + u32(uint32_t(v)); };
    auto exchange = [&](const std::string& p) {
      sendto(fd, p.data(), p.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
      char buf[2048];
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      return n > 0 ? std::string(buf, size_t(n)) : std::string();
    };
    std::string hash = *HexDecode(kHashHex);
    uint32_t peer = 0;
    while (!stop_) {
      std::string c = exchange(u64(0x41727101980ULL) + u32(0) + u32(1));
      ++requests_;
      if (c.size() != 16) {
        Backoff();
        continue;
      }
      std::string cid = c.substr(8, 8);
      for (int k = 0; k < 20 && !stop_; ++k, ++peer) {
        std::string peer_id = ("udp-" + std::to_string(peer % 50) + std::string(20, '-')).substr(0, 20);
        exchange(cid + u32(1) + u32(peer) + hash + peer_id + u64(0) + u64(peer % 3 ? 4096 : 0) + u64(0) + u32(0) +
                 u32(0) + u32(0) + u32(50) + std::string{char(0x1b), char(0x58)});
        ++requests_;
      }
    }
    close(fd);
  }

  const std::string base_, udp_;
  const std::vector<std::string> hosts_, addrs_;
  const int64_t push_id_;
  std::atomic<bool> stop_{false};
  std::atomic<int> polls_held_{0}, requests_{0};
  std::vector<std::thread> threads_;
};

TEST_CASE("tracker stops cleanly on SIGTERM with long polls, announces and reports in flight, many times") {
  TempDir dir("tracker-stop");
  std::ofstream(dir / "rack.map") << "127.0.1.0/24 dc1/pod1/rack1\n127.0.2.0/24 dc1/pod1/rack2\n"
                                     "127.0.3.0/24 dc1/pod2/rack3\n127.0.9.0/24 dc1/pod9/seed\n";
  std::vector<std::string> hosts, addrs;
  for (int rack = 1; rack <= 3; ++rack)
    for (int h = 1; h <= 3; ++h) {
      hosts.push_back("r" + std::to_string(rack) + "h" + std::to_string(h));
      addrs.push_back("127.0." + std::to_string(rack) + "." + std::to_string(h));
    }

  // Bounded in count and in time (a sanitizer build is slower).
  const int kCycles = 25;
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  std::mt19937 rng(42);
  int cycles = 0, polls_held = 0, requests = 0;
  for (; cycles < kCycles && std::chrono::steady_clock::now() < deadline; ++cycles) {
    std::string ready = dir / "t.ready";
    std::filesystem::remove(ready);
    std::string log = dir / ("t" + std::to_string(cycles) + ".log");
    Process p({testing::SpateBinary(), "tracker", "--listen", "127.0.0.1:0", "--udp-listen", "127.0.0.1:0", "--db",
               dir / "t.db", "--admin-token", kToken, "--ready-file", ready, "--rackmap", dir / "rack.map",
               "--announce-interval", "1s", "--idle-announce-interval", "2s"},
              log);
    auto j = testing::WaitReady(p, ready, 30s);
    std::string base = "http://" + j["http"].get<std::string>();
    std::string api = base + "/api/v1";
    if (cycles == 0) {
      REQUIRE(http::Call("POST", api + "/artifacts", Registration(), Admin())->status == 200);
      for (const auto& a : addrs) {
        http::ClientOptions o;
        o.bind_address = a;
        size_t i = &a - addrs.data();
        REQUIRE(http::Call("GET", api + "/hosts/" + hosts[i] + "/assignments?wait=0", "", o)->status == 200);
      }
    }
    // A push per run (pushes finished in earlier runs stay in the database).
    auto push = http::Call("POST", api + "/pushes", R"({"artifact":"app@1","hosts_glob":"r*"})", Admin());
    REQUIRE(push.ok());
    REQUIRE(push->status == 200);
    int64_t push_id = nlohmann::json::parse(push->body)["id"];
    {
      Load load(base, j.value("udp", ""), hosts, addrs, push_id);
      // Let the pollers park their long polls, then push again (waking them)
      // now and then, and stop the tracker at a random moment.
      std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 250));
      if (rng() % 2) http::Call("POST", api + "/pushes", R"({"artifact":"app@1","hosts_glob":"r*"})", Admin());
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 100));
      kill(p.pid(), SIGTERM);
      int rc = p.Wait(30s);
      INFO("run " << cycles << ", log " << log << ":\n" << p.Log());
      CHECK(rc == 0);
      CHECK(testing::SanitizerReport(p.Log()).empty());
      CHECK(p.Log().find("tracker stopped") != std::string::npos);
      if (rc != 0) break;
      polls_held += load.polls_held();
      requests += load.requests();
    }
  }
  INFO("cycles run: " << cycles << ", long polls held: " << polls_held << ", requests: " << requests);
  CHECK(cycles >= 10);
  CHECK(polls_held >= cycles);  // the load was there: long polls were parked when SIGTERM came
  CHECK(requests >= 20 * cycles);
}

}  // namespace
}  // namespace spate
