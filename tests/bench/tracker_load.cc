// spate-tracker-load: the load generator of scripts/bench-tracker.
//
//   register --tracker IP:PORT --token T --torrents N
//       registers N synthetic artifacts with Spate's control API (unsigned
//       manifests: the tracker does not verify signatures).
//   free-port
//       prints a TCP port on 127.0.0.1 that was free a moment ago (for opentracker,
//       which cannot bind port 0 and report it).
//   hashes --torrents N
//       prints the N info-hashes in hex, one a line (opentracker's -w whitelist).
//   preload --tracker IP:PORT --torrents N --peers P --racks R [--threads K]
//       announces P peers per torrent, each from its own 127.0.R.H address.
//   udp --tracker IP:PORT --torrents N --seconds S [--sockets K] [--window W]
//       BEP 15 connect + announce load for S seconds; prints one JSON line.
//
// Everything it talks to must be on 127.0.0.0/8. Loads are bounded in count
// (preload) or in time (udp). Plain POSIX sockets, so the generator costs little
// CPU next to the tracker it measures.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/bench/swarm_names.h"

namespace {

using Clock = std::chrono::steady_clock;
using spate::bench::Hex;
using spate::bench::InfoHash;

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "spate-tracker-load: %s\n", msg.c_str());
  std::exit(2);
}

struct Args {
  std::string cmd, tracker, token;
  int torrents = 1000, peers = 100, racks = 100, threads = 16, seconds = 10, sockets = 16, window = 32;
};

Args Parse(int argc, char** argv) {
  if (argc < 2) Die("usage: spate-tracker-load register|hashes|preload|udp [flags] (see the source header)");
  Args a;
  a.cmd = argv[1];
  for (int i = 2; i < argc; i += 2) {
    std::string k = argv[i];
    if (i + 1 >= argc) Die("missing value for " + k);
    std::string v = argv[i + 1];
    if (k == "--tracker") a.tracker = v;
    else if (k == "--token") a.token = v;
    else if (k == "--torrents") a.torrents = std::stoi(v);
    else if (k == "--peers") a.peers = std::stoi(v);
    else if (k == "--racks") a.racks = std::stoi(v);
    else if (k == "--threads") a.threads = std::stoi(v);
    else if (k == "--seconds") a.seconds = std::stoi(v);
    else if (k == "--sockets") a.sockets = std::stoi(v);
    else if (k == "--window") a.window = std::stoi(v);
    else Die("unknown flag " + k);
  }
  if (a.racks < 1 || a.racks > 250) Die("--racks must be 1..250 (addresses 127.0.R.H)");
  if (a.peers > a.racks * 250) Die("--peers must be at most racks*250");
  return a;
}

sockaddr_in Addr(const std::string& ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1) Die("bad IPv4 address " + ip);
  // Loopback only: a benchmark must never load a real network.
  if ((ntohl(a.sin_addr.s_addr) >> 24) != 127) Die(ip + " is not on 127.0.0.0/8");
  return a;
}

sockaddr_in Endpoint(const std::string& ip_port) {
  auto colon = ip_port.rfind(':');
  if (colon == std::string::npos) Die("--tracker must be IP:PORT");
  return Addr(ip_port.substr(0, colon), std::stoi(ip_port.substr(colon + 1)));
}

// --- HTTP/1.1 over one blocking TCP connection, bound to a source address ------

class HttpConn {
 public:
  HttpConn(sockaddr_in server, std::string src) : server_(server), src_(std::move(src)) {}
  ~HttpConn() { Close(); }

  // Sends one request and reads the reply body. Reconnects when the server closed
  // the connection (opentracker does after every reply). Returns false on failure.
  bool Request(const std::string& head_and_body, int* status, std::string* body) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (fd_ < 0 && !Connect()) return false;
      if (SendAll(head_and_body) && ReadReply(status, body)) return true;
      Close();  // stale keep-alive connection: retry once on a fresh one
    }
    return false;
  }

 private:
  bool Connect() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return false;
    sockaddr_in local = Addr(src_, 0);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
        connect(fd_, reinterpret_cast<const sockaddr*>(&server_), sizeof server_) != 0) {
      Close();
      return false;
    }
    buf_.clear();
    return true;
  }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  bool SendAll(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += size_t(n);
    }
    return true;
  }
  bool Fill() {
    char tmp[16384];
    ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, size_t(n));
    return true;
  }
  bool ReadReply(int* status, std::string* body) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!Fill()) return false;
    std::string head = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    for (auto& c : head) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (head.compare(0, 5, "http/") != 0) return false;
    *status = std::atoi(head.c_str() + head.find(' ') + 1);
    bool close_after = head.find("connection: close") != std::string::npos || head.compare(0, 8, "http/1.0") == 0;
    auto cl = head.find("content-length:");
    if (cl != std::string::npos) {
      size_t len = std::strtoul(head.c_str() + cl + 15, nullptr, 10);
      while (buf_.size() < len)
        if (!Fill()) return false;
      *body = buf_.substr(0, len);
      buf_.erase(0, len);
    } else {  // body runs to the end of the connection
      while (Fill()) {
      }
      *body = std::move(buf_);
      buf_.clear();
      close_after = true;
    }
    if (close_after) Close();
    return true;
  }

  sockaddr_in server_;
  std::string src_;
  int fd_ = -1;
  std::string buf_;
};

std::string UrlEncode(const std::string& s) {
  static const char* d = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += char(c);
    } else {
      out += '%';
      out += d[c >> 4];
      out += d[c & 15];
    }
  }
  return out;
}

std::string Base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += t[(v >> k) & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += t[(v >> 18) & 63];
    out += t[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += t[(v >> 18) & 63];
    out += t[(v >> 12) & 63];
    out += t[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// --- commands -------------------------------------------------------------------

int Register(const Args& a) {
  if (a.token.empty()) Die("register needs --token");
  HttpConn conn(Endpoint(a.tracker), "127.0.0.1");
  for (int t = 0; t < a.torrents; ++t) {
    // A syntactically valid manifest; sha256 and the torrent bytes are never
    // checked by the tracker, which only needs the info-hash and size.
    std::string hash = Hex(InfoHash(t));
    std::string body = R"({"manifest":{"name":"bench","version":"v)" + std::to_string(t) +
                       R"(","filename":"bench.bin","size":1073741824,"sha256":")" + std::string(64, 'a') +
                       R"(","info_hash":")" + hash + R"(","piece_size":4194304,"created_at":0},"torrent":")" +
                       Base64("d4:infod6:lengthi1073741824eee") + R"(","origin":"127.0.0.2"})";
    std::string req = "POST /api/v1/artifacts HTTP/1.1\r\nHost: " + a.tracker +
                      "\r\nContent-Type: application/json\r\nAuthorization: Bearer " + a.token +
                      "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    int status = 0;
    std::string reply;
    if (!conn.Request(req, &status, &reply)) Die("register: no reply from " + a.tracker);
    if (status != 200) Die("register: HTTP " + std::to_string(status) + ": " + reply);
  }
  std::printf("registered %d artifacts\n", a.torrents);
  return 0;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = Addr("127.0.0.1", 0);
  socklen_t len = sizeof a;
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    Die("free-port: cannot bind 127.0.0.1:0");
  close(fd);
  std::printf("%d\n", ntohs(a.sin_port));
  return 0;
}

int Hashes(const Args& a) {
  for (int t = 0; t < a.torrents; ++t) std::printf("%s\n", Hex(InfoHash(t)).c_str());
  return 0;
}

int Preload(const Args& a) {
  // Group announces by source address so one keep-alive connection carries all
  // of an address's announces (where the tracker keeps connections alive).
  std::map<std::string, std::vector<std::pair<int, int>>> by_src;
  for (int t = 0; t < a.torrents; ++t)
    for (int p = 0; p < a.peers; ++p) by_src[SourceIp(spate::bench::Slot(t, p, a.racks))].emplace_back(t, p);
  std::vector<const std::vector<std::pair<int, int>>*> work;
  std::vector<std::string> srcs;
  for (auto& [src, list] : by_src) {
    srcs.push_back(src);
    work.push_back(&list);
  }
  sockaddr_in server = Endpoint(a.tracker);
  std::atomic<size_t> next{0};
  std::atomic<long> ok{0}, failed{0};
  std::atomic<bool> reported{false};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int k = 0; k < a.threads; ++k)
    threads.emplace_back([&] {
      for (size_t i; (i = next++) < work.size();) {
        HttpConn conn(server, srcs[i]);
        for (auto [t, p] : *work[i]) {
          auto s = spate::bench::Slot(t, p, a.racks);
          // Every fourth peer a seed, the rest half done; numwant=0: the reply's
          // peer list is not needed to fill the swarm.
          long left = p % 4 == 0 ? 0 : 536870912;
          std::string req = "GET /announce?info_hash=" + UrlEncode(InfoHash(t)) + "&peer_id=" + UrlEncode(s.peer_id) +
                            "&port=" + std::to_string(s.port) + "&uploaded=0&downloaded=0&left=" + std::to_string(left) +
                            "&event=started&compact=1&numwant=0 HTTP/1.1\r\nHost: " + a.tracker + "\r\n\r\n";
          int status = 0;
          std::string body;
          // A loaded box can overflow a listen backlog (opentracker reconnects for
          // every announce): retry transport failures a few times before counting one.
          bool sent = false;
          for (int attempt = 0; attempt < 5 && !(sent = conn.Request(req, &status, &body)); ++attempt)
            std::this_thread::sleep_for(std::chrono::milliseconds(50 << attempt));
          bool good = sent && status == 200 && body.find("failure reason") == std::string::npos;
          (good ? ok : failed)++;
          if (!good && !reported.exchange(true))
            std::fprintf(stderr, "preload: announce from %s failed: HTTP %d %s\n", srcs[i].c_str(), status,
                         body.substr(0, 200).c_str());
        }
      }
    });
  for (auto& th : threads) th.join();
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("preloaded %ld peers (%ld failed) from %zu addresses in %.1f s\n", ok.load(), failed.load(), srcs.size(),
              secs);
  return failed == 0 ? 0 : 1;
}

// BEP 15 over a few UDP sockets, each with `window` announces in flight.
int Udp(const Args& a) {
  constexpr uint64_t kProtocolId = 0x41727101980ULL;
  sockaddr_in server = Endpoint(a.tracker);
  struct Sock {
    int fd;
    uint64_t conn_id = 0;
    bool connected = false;
    std::map<uint32_t, Clock::time_point> inflight;
  };
  std::vector<Sock> socks(a.sockets);
  std::mt19937 rng(12345);
  for (int i = 0; i < a.sockets; ++i) {
    socks[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    // One source address per socket, spread over racks, as many hosts would be.
    sockaddr_in local = Addr("127.0." + std::to_string(1 + i % a.racks) + "." + std::to_string(1 + i / a.racks % 250), 0);
    if (socks[i].fd < 0 || bind(socks[i].fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0)
      Die("udp: cannot bind a source socket");
  }
  auto put64 = [](uint8_t* p, uint64_t v) {
    for (int i = 7; i >= 0; --i, v >>= 8) p[i] = uint8_t(v);
  };
  auto put32 = [](uint8_t* p, uint32_t v) {
    for (int i = 3; i >= 0; --i, v >>= 8) p[i] = uint8_t(v);
  };
  auto get32 = [](const uint8_t* p) { return (uint32_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; };
  uint32_t next_tid = 1;
  auto send_connect = [&](Sock& s) {
    uint8_t pkt[16];
    put64(pkt, kProtocolId);
    put32(pkt + 8, 0);
    uint32_t tid = next_tid++;
    put32(pkt + 12, tid);
    s.inflight[tid] = Clock::now();
    sendto(s.fd, pkt, sizeof pkt, 0, reinterpret_cast<const sockaddr*>(&server), sizeof server);
  };
  auto send_announce = [&](Sock& s) {
    uint8_t pkt[98] = {};
    put64(pkt, s.conn_id);
    put32(pkt + 8, 1);
    uint32_t tid = next_tid++;
    put32(pkt + 12, tid);
    int t = int(rng() % uint32_t(a.torrents));
    int k = int(rng() % 16);  // a bounded pool of re-announcing peers per torrent
    std::memcpy(pkt + 16, InfoHash(t).data(), 20);
    char pid[32];
    std::snprintf(pid, sizeof pid, "-UDP001-%06u%06u", unsigned(t) % 1000000, unsigned(k));
    std::memcpy(pkt + 36, pid, 20);
    put64(pkt + 64, k % 4 == 0 ? 0 : 536870912);  // left
    put32(pkt + 92, 50);                           // num_want
    pkt[96] = uint8_t((20000 + k) >> 8);
    pkt[97] = uint8_t(20000 + k);
    s.inflight[tid] = Clock::now();
    sendto(s.fd, pkt, sizeof pkt, 0, reinterpret_cast<const sockaddr*>(&server), sizeof server);
  };
  for (auto& s : socks) send_connect(s);

  std::vector<uint32_t> lat_us;
  lat_us.reserve(4 << 20);
  long announces = 0, errors = 0, lost = 0;
  auto start = Clock::now(), end = start + std::chrono::seconds(a.seconds);
  std::vector<pollfd> pfds(socks.size());
  for (size_t i = 0; i < socks.size(); ++i) pfds[i] = {socks[i].fd, POLLIN, 0};
  uint8_t buf[2048];
  while (Clock::now() < end) {
    if (poll(pfds.data(), pfds.size(), 100) < 0) break;
    auto now = Clock::now();
    for (size_t i = 0; i < socks.size(); ++i) {
      Sock& s = socks[i];
      for (;;) {
        ssize_t n = recv(s.fd, buf, sizeof buf, 0);
        if (n < 8) break;
        uint32_t action = get32(buf), tid = get32(buf + 4);
        auto it = s.inflight.find(tid);
        if (it == s.inflight.end()) continue;
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - it->second).count();
        s.inflight.erase(it);
        if (action == 0 && n >= 16) {
          s.conn_id = (uint64_t(get32(buf + 8)) << 32) | get32(buf + 12);
          s.connected = true;
        } else if (action == 1 && n >= 20) {
          ++announces;
          lat_us.push_back(uint32_t(us));
        } else {
          ++errors;  // action 3: error (e.g. an expired connection id): connect again
          if (errors == 1) std::fprintf(stderr, "udp: error reply: %.*s\n", int(n - 8), buf + 8);
          s.connected = false;
        }
      }
      // Requests older than 1 s are lost (full socket buffer): forget them.
      for (auto it = s.inflight.begin(); it != s.inflight.end();)
        if (now - it->second > std::chrono::seconds(1)) {
          it = s.inflight.erase(it);
          ++lost;
        } else {
          ++it;
        }
      if (!s.connected) {
        if (s.inflight.empty()) send_connect(s);
        continue;
      }
      while (int(s.inflight.size()) < a.window) send_announce(s);
    }
  }
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(lat_us.begin(), lat_us.end());
  auto pct = [&](double q) { return lat_us.empty() ? 0.0 : lat_us[size_t(q * (lat_us.size() - 1))] / 1000.0; };
  std::printf("{\"announces\":%ld,\"seconds\":%.2f,\"per_second\":%.0f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,"
              "\"errors\":%ld,\"lost\":%ld}\n",
              announces, secs, announces / secs, pct(0.50), pct(0.99), errors, lost);
  for (auto& s : socks) close(s.fd);
  return announces > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args a = Parse(argc, argv);
  if (a.cmd == "register") return Register(a);
  if (a.cmd == "hashes") return Hashes(a);
  if (a.cmd == "free-port") return FreePort();
  if (a.cmd == "preload") return Preload(a);
  if (a.cmd == "udp") return Udp(a);
  Die("unknown command " + a.cmd);
}
