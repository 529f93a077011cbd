// spate-control-load: the load generator of scripts/bench-control. It plays N
// fetchers against a real tracker's control API the way fetcher/fetcher.cc and
// fetcher/control_client.cc do, each from its own address 127.0.R.H:
//
//   - a check-in (GET /api/v1/hosts/{host}/assignments, wait=0), then a long
//     poll held open (wait=--poll-wait, generation as last seen), except
//     while reporting: then the report answers' generation stands in for it;
//   - once an assignment arrives: a report a second while "downloading"
//     (POST /api/v1/hosts/{host}/reports), then "installed", repeated until
//     the tracker took it; then the long poll again;
//   - announces for the assignment's info-hash, at the interval the tracker
//     answers (event=started, then completed): HTTP to /announce, or with
//     --announce udp://IP:PORT BEP 15 over UDP, as libtorrent does for a
//     udp:// tracker (a connection id kept for a minute, then a new one);
//   - polls and reports on kept-alive connections, as fetcher/control_client.cc's
//     http::Connection keeps them (reopened after 30 s idle or when the
//     tracker closed it); reports borrow the poll one while no poll is in
//     flight, and their own is closed once reporting ends; a new TCP connection per
//     announce, as libtorrent's HTTP announces do; the host token is the
//     bearer when --host-secret is given. --connections one-shot plays the
//     fetcher before it kept them: a new connection for every request.
//
//   run --tracker IP:PORT --hosts N --token PUSH [--register-token R] [--host-secret S]
//       [--announce udp://IP:PORT]   (announce over UDP there; default HTTP to --tracker)
//       [--download-seconds 10] [--poll-wait 25] [--seconds 120] [--threads 1]
//       [--ramp-seconds S] [--artifact NAME@VERSION] [--connections kept|one-shot]
//       [--watchers 1]   (release managers fetching the whole push each second, as `spate push`)
//
// `run` registers a fake artifact (the tracker checks neither torrent bytes
// nor signatures), checks every host in, waits until the tracker holds all N
// long polls, creates a push to every host, and plays the push out. It prints
// one JSON line: how long after the push was created each host had its
// assignment, report and announce latencies (connect to last byte), counts,
// and what the tracker's push view says at the end. Bounded in time by
// --seconds after the push; everything it talks to must be on 127.0.0.0/8.
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tracker/udp_proto.h"
#include "wire/api.h"
#include "wire/auth.h"
#include "wire/http.h"

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "spate-control-load: %s\n", msg.c_str());
  std::exit(2);
}

struct Args {
  std::string tracker, announce, token, register_token, host_secret, artifact = "ctlbench@1";
  int hosts = 100, download_seconds = 10, poll_wait = 25, seconds = 120, threads = 1;
  bool kept = true;  // --connections kept|one-shot
  int watchers = 1;  // --watchers: release managers running `spate push`, each fetching the push once a second
  double ramp_seconds = -1;  // -1: hosts / 1000
};

Args Parse(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) != "run") Die("usage: spate-control-load run --tracker IP:PORT --hosts N ...");
  Args a;
  for (int i = 2; i < argc; i += 2) {
    std::string k = argv[i];
    if (i + 1 >= argc) Die("missing value for " + k);
    std::string v = argv[i + 1];
    if (k == "--tracker")
      a.tracker = v;
    else if (k == "--announce")
      a.announce = v;
    else if (k == "--token")
      a.token = v;
    else if (k == "--register-token")
      a.register_token = v;
    else if (k == "--host-secret")
      a.host_secret = v;
    else if (k == "--artifact")
      a.artifact = v;
    else if (k == "--hosts")
      a.hosts = std::stoi(v);
    else if (k == "--download-seconds")
      a.download_seconds = std::stoi(v);
    else if (k == "--poll-wait")
      a.poll_wait = std::stoi(v);
    else if (k == "--seconds")
      a.seconds = std::stoi(v);
    else if (k == "--threads")
      a.threads = std::stoi(v);
    else if (k == "--ramp-seconds")
      a.ramp_seconds = std::stod(v);
    else if (k == "--watchers")
      a.watchers = std::stoi(v);
    else if (k == "--connections" && (v == "kept" || v == "one-shot"))
      a.kept = v == "kept";
    else
      Die("unknown flag " + k);
  }
  if (a.tracker.empty() || a.token.empty()) Die("run needs --tracker and --token");
  if (a.hosts < 1 || a.hosts > 250 * 250) Die("--hosts must be 1..62500 (addresses 127.0.R.H, R and H in 1..250)");
  if (a.threads < 1 || a.threads > 64) Die("--threads must be 1..64");
  if (a.watchers < 0 || a.watchers > 16) Die("--watchers must be 0..16");
  if (a.download_seconds < 0 || a.seconds < 1 || a.poll_wait < 1)
    Die("bad --download-seconds, --seconds or --poll-wait");
  if (a.ramp_seconds < 0) a.ramp_seconds = a.hosts / 1000.0;
  if (a.register_token.empty()) a.register_token = a.token;
  return a;
}

// A descriptor per held long poll, and one more per report or announce in
// flight. Returns the soft limit now in force.
size_t RaiseFileLimit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0) return 1024;
  r.rlim_cur = r.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &r);
  ::getrlimit(RLIMIT_NOFILE, &r);
  return r.rlim_cur == RLIM_INFINITY ? size_t(1) << 20 : size_t(r.rlim_cur);
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// --- one HTTP/1.1 request, on its own connection or a kept one ---------------------

struct Answer {
  bool ok = false;  // a whole HTTP response arrived
  int status = 0;
  std::string body;
  std::string error;
  double ms = 0;  // from when the request was wanted to its last byte
};

// A host's connection kept between requests, like http::Connection.
struct Kept {
  std::shared_ptr<tcp::socket> socket;
  Clock::time_point used;
};

class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  using Done = std::function<void(Answer)>;
  // `kept` (may be null): the connection to use if it is open, and where to
  // leave it afterwards if the answer allows keep-alive.
  // `idle` counts the kept connections not in use, descriptors the caller
  // must leave room for.
  Exchange(asio::io_context& io, asio::ip::address_v4 src, tcp::endpoint server, std::string request,
           Clock::duration timeout, Kept* kept, size_t* idle, Done done)
      : io_(io),
        kept_(kept),
        idle_(idle),
        timer_(io),
        src_(src),
        server_(server),
        request_(std::move(request)),
        done_(std::move(done)),
        timeout_(timeout) {}

  // When the request was wanted: latencies count from here.
  void Stamp() { started_ = Clock::now(); }
  void Start() {
    timer_.expires_after(timeout_);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code e) {
      if (!e) self->Finish("timed out");
    });
    if (kept_ && kept_->socket) --*idle_;
    if (Reusable(kept_)) {
      socket_ = std::move(kept_->socket);
      reused_ = true;
      return Write();
    }
    if (kept_ && kept_->socket) Close(*kept_->socket);
    Connect();
  }

  // 30 s: as http::Connection, well inside the tracker's 75 s idle timeout.
  static bool Reusable(const Kept* k) {
    return k && k->socket && Clock::now() - k->used < std::chrono::seconds(30);
  }

 private:
  static void Close(tcp::socket& s) {
    boost::system::error_code ignored;
    s.close(ignored);
  }

  void Connect() {
    if (kept_) kept_->socket.reset();
    socket_ = std::make_shared<tcp::socket>(io_);
    boost::system::error_code ec;
    socket_->open(tcp::v4(), ec);
    if (ec) return Finish("socket: " + ec.message());
    // The port is picked at connect, per 4-tuple: many hosts never run out of ports.
    int one = 1;
    ::setsockopt(socket_->native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    socket_->bind(tcp::endpoint(src_, 0), ec);
    if (ec) return Finish("bind " + src_.to_string() + ": " + ec.message());
    socket_->async_connect(server_, [self = shared_from_this(), s = socket_](boost::system::error_code e) {
      if (s != self->socket_) return;  // a retry replaced it
      if (e) return self->Finish("connect: " + e.message());
      self->Write();
    });
  }

  void Write() {
    asio::async_write(*socket_, asio::buffer(request_),
                      [self = shared_from_this(), s = socket_](boost::system::error_code e, size_t) {
      if (s != self->socket_) return;
      if (e) return self->Finish("write: " + e.message());
      self->Read();
    });
  }

  void Read() {
    if (buf_.size() - used_ < 4096) buf_.resize(std::max<size_t>(8192, buf_.size() * 2));
    socket_->async_read_some(asio::buffer(buf_.data() + used_, buf_.size() - used_),
                            [self = shared_from_this(), s = socket_](boost::system::error_code e, size_t n) {
                              if (s != self->socket_) return;
                              self->used_ += n;
                              if (self->Parsed()) return;
                              if (e) return self->Finish("read: " + e.message());
                              self->Read();
                            });
  }

  // True once the response is whole (and answered).
  bool Parsed() {
    std::string_view in(buf_.data(), used_);
    size_t end = in.find("\r\n\r\n");
    if (end == std::string_view::npos) return false;
    std::string_view head = in.substr(0, end);
    size_t length = 0;
    for (size_t pos = head.find("\r\n"); pos != std::string_view::npos; pos = head.find("\r\n", pos + 2)) {
      std::string_view line = head.substr(pos + 2, head.find("\r\n", pos + 2) - pos - 2);
      if (line.size() > 15 && strncasecmp(line.data(), "content-length:", 15) == 0)
        length = std::strtoul(std::string(line.substr(15)).c_str(), nullptr, 10);
      if (line.size() >= 17 && strncasecmp(line.data(), "connection: close", 17) == 0) closing_ = true;
    }
    if (in.size() < end + 4 + length) return false;
    Answer a;
    a.ok = true;
    a.status = head.size() > 12 ? std::atoi(std::string(head.substr(9, 3)).c_str()) : 0;
    a.body.assign(in.substr(end + 4, length));
    Finish(std::move(a));
    return true;
  }

  void Finish(std::string error) {
    // A kept connection the tracker closed before answering (its idle
    // timeout): sent once more on a new one, as http::Connection does.
    if (reused_ && used_ == 0 && error != "timed out" && !finished_) {
      reused_ = false;
      Close(*socket_);
      return Connect();
    }
    Answer a;
    a.error = std::move(error);
    Finish(std::move(a));
  }
  void Finish(Answer a) {
    if (finished_) return;
    finished_ = true;
    a.ms = Ms(Clock::now() - started_);
    timer_.cancel();
    if (kept_ && a.ok && !closing_) {
      kept_->socket = std::move(socket_);
      kept_->used = Clock::now();
      ++*idle_;
    } else if (socket_) {
      Close(*socket_);  // the client closes first, as the fetcher's one-shot calls do
    }
    done_(std::move(a));
  }

  asio::io_context& io_;
  Kept* kept_;
  size_t* idle_;
  std::shared_ptr<tcp::socket> socket_;
  bool reused_ = false, closing_ = false;
  asio::steady_timer timer_;
  asio::ip::address_v4 src_;
  tcp::endpoint server_;
  std::string request_;
  Done done_;
  Clock::duration timeout_;
  Clock::time_point started_;
  std::vector<char> buf_;
  size_t used_ = 0;
  bool finished_ = false;
};

// --- shared run state -------------------------------------------------------------

struct Shared {
  Args args;
  tcp::endpoint server;
  std::optional<asio::ip::udp::endpoint> udp_announce;  // --announce: BEP 15 there, else HTTP to `server`
  std::atomic<int64_t> push_id{0};          // the bench push, once created
  std::atomic<int64_t> push_created_ns{0};  // steady clock, just before the push was sent
  std::atomic<bool> stopping{false};
  std::atomic<int> checked_in{0}, notified{0}, done{0};
};

struct Stats {
  // lag_ms: how late the generator's own 10 ms beat fired. When it is large
  // the latencies above include waiting for this process's CPU, not the tracker.
  std::vector<double> notify_ms, report_ms, announce_ms, lag_ms;
  // Reports sent more than 2 s (the notification target) after the push was
  // created: past the burst of 10,000 hosts starting at once.
  std::vector<double> report_settled_ms;
  // Each report's latency by the second (since the push) it was sent in:
  // where in the push the slow ones fall.
  std::map<int, std::vector<double>> report_ms_by_second;
  uint64_t polls = 0, poll_errors = 0, reports = 0, report_entries_ok = 0, report_errors = 0, report_refused = 0,
           announces = 0, announce_errors = 0;
  std::vector<std::string> samples;  // a few error texts
  void Error(const std::string& what) {
    if (samples.size() < 5) samples.push_back(what);
  }
};

struct Worker;

// One simulated fetcher. All its state lives on its worker's io thread.
struct Host {
  Worker* w = nullptr;
  int index = 0;
  std::string id, token, peer_id;
  asio::ip::address_v4 addr;
  int64_t generation = -1;
  int failures = 0;
  bool checked_in = false;
  // The job: the bench push's assignment.
  int64_t push_id = 0;
  uint64_t total = 0;
  std::string info_hash;  // 20 raw bytes
  Clock::time_point job_started;
  bool installed_sent = false, installed_acked = false, report_in_flight = false;
  bool resting = false;  // no long poll held while reporting (kept mode)
  // Reports borrow the poll connection while no poll is in flight, as the
  // fetcher's do; a poll wanted meanwhile waits for it (poll_waiting: its wait).
  bool poll_in_flight = false, poll_conn_lent = false;
  int poll_waiting = -1;
  int announce_interval_s = 5;
  uint64_t udp_conn_id = 0;  // BEP 15: reused for a minute
  Clock::time_point udp_conn_at;
  std::unique_ptr<asio::steady_timer> poll_timer, report_timer, announce_timer;
  Kept poll_conn, report_conn;
};

struct Worker {
  Shared* sh = nullptr;
  asio::io_context io{1};
  std::vector<Host*> hosts;
  Stats stats;
  std::mt19937 rng{std::random_device{}()};

  std::string Request(const Host& h, const std::string& method, const std::string& target, const std::string& body) {
    std::string r =
        method + " " + target + " HTTP/1.1\r\nHost: " + sh->args.tracker + "\r\nUser-Agent: spate-control-load\r\n";
    if (!h.token.empty() && target.rfind("/api/", 0) == 0) r += "Authorization: Bearer " + h.token + "\r\n";
    if (method == "POST")
      r += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    r += "\r\n" + body;
    return r;
  }

  // Connections open at once stay within this worker's share of the
  // open-file limit; beyond it requests wait their turn, and the wait counts
  // in their latency (it is the generator's, so lag_ms says when it happens).
  size_t open_budget = 1000, open_now = 0, kept_idle = 0;
  std::deque<std::shared_ptr<Exchange>> queued;

  // The host's kept connection, or none when playing fetchers that open one per request.
  Kept* KeptOrNone(Kept& k) { return sh->args.kept ? &k : nullptr; }

  void Send(Host& h, Kept* kept, std::string request, Clock::duration timeout, Exchange::Done done) {
    const bool reuse = Exchange::Reusable(kept);
    auto x = std::make_shared<Exchange>(io, h.addr, sh->server, std::move(request), timeout, kept, &kept_idle,
                                        [this, done = std::move(done)](Answer a) {
                                          --open_now;
                                          if (!queued.empty() && !sh->stopping && open_now + kept_idle < open_budget) {
                                            auto next = std::move(queued.front());
                                            queued.pop_front();
                                            ++open_now;
                                            next->Start();
                                          }
                                          done(std::move(a));
                                        });
    x->Stamp();
    // A kept connection is a descriptor already held; a new one needs room.
    if (!reuse && open_now + kept_idle >= open_budget) return queued.push_back(std::move(x));
    ++open_now;
    x->Start();
  }

  void Poll(Host& h, int wait) {
    if (sh->stopping) return;
    std::string target = "/api/v1/hosts/" + h.id + "/assignments?addr=" + h.addr.to_string() +
                         "&generation=" + std::to_string(h.generation) + "&wait=" + std::to_string(wait);
    if (h.poll_conn_lent) {
      h.poll_waiting = wait;
      return;
    }
    ++stats.polls;
    h.poll_in_flight = true;
    auto started = Clock::now();
    Send(h, KeptOrNone(h.poll_conn), Request(h, "GET", target, ""), std::chrono::seconds(wait + 10), [this, &h, wait, started](Answer a) {
      h.poll_in_flight = false;
      if (sh->stopping) return;
      if (!a.ok || a.status != 200) {
        ++stats.poll_errors;
        stats.Error("poll " + h.id + ": " + (a.ok ? "HTTP " + std::to_string(a.status) + " " + a.body : a.error));
        // The fetcher's back-off: 0.5 s doubling to 5 s.
        int backoff = std::min(5000, 500 << std::min(h.failures++, 4));
        return After(*h.poll_timer, milliseconds(backoff), [this, &h] { Poll(h, sh->args.poll_wait); });
      }
      h.failures = 0;
      if (!h.checked_in) ++sh->checked_in;
      h.checked_in = true;
      OnAssignments(h, a.body);
      if (Rests(h)) {
        // As the fetcher's poll thread while its engine reports (fetcher.cc,
        // Inbox): no long poll held; a report answer with a newer generation,
        // the end of reporting or a poll interval brings a quick poll.
        h.resting = true;
        return After(*h.poll_timer, std::chrono::seconds(sh->args.poll_wait), [this, &h] { Wake(h); });
      }
      bool fast = Clock::now() - started < milliseconds(200);
      if (wait > 0 && fast && !changed_) {
        stats.Error("poll " + h.id + " answered at once without a change");
        return After(*h.poll_timer, milliseconds(1000), [this, &h] { Poll(h, sh->args.poll_wait); });
      }
      Poll(h, sh->args.poll_wait);
    });
  }

  bool changed_ = false;  // set by OnAssignments for the caller

  bool Rests(const Host& h) const { return sh->args.kept && h.push_id != 0 && !h.installed_acked; }
  void Wake(Host& h) {
    if (!h.resting) return;
    h.resting = false;
    h.poll_timer->cancel();
    // As the fetcher: a long poll, answered at once only if the generation
    // moved; a quick look if it is still reporting (its rest timed out).
    Poll(h, Rests(h) ? 0 : sh->args.poll_wait);
  }

  void OnAssignments(Host& h, const std::string& body) {
    changed_ = false;
    auto j = nlohmann::json::parse(body, nullptr, false);
    auto list = j.is_discarded() ? spate::Result<spate::AssignmentList>(spate::Status::Invalid("bad JSON"))
                                 : spate::AssignmentListFromJson(j);
    if (!list.ok()) {
      ++stats.poll_errors;
      stats.Error("assignments of " + h.id + ": " + list.status().message());
      return;
    }
    changed_ = list->generation != h.generation;
    h.generation = list->generation;
    const int64_t want = sh->push_id.load();
    for (const auto& asg : list->assignments) {
      if (h.push_id != 0 || asg.push_id < want || want == 0 || !asg.activate) continue;
      // The first sight of the bench push: the host is notified.
      auto since = Clock::now().time_since_epoch().count() - sh->push_created_ns.load();
      stats.notify_ms.push_back(double(since) / 1e6);
      ++sh->notified;
      h.push_id = asg.push_id;
      h.total = asg.manifest.size;
      h.info_hash.clear();
      for (size_t i = 0; i + 1 < asg.manifest.info_hash.size(); i += 2)
        h.info_hash += char(std::stoi(asg.manifest.info_hash.substr(i, 2), nullptr, 16));
      h.job_started = Clock::now();
      Announce(h, "started");
      // The fetcher's engine reports on its own one-second beat, whatever the phase.
      std::uniform_int_distribution<int> phase(0, 999);
      After(*h.report_timer, milliseconds(phase(rng)), [this, &h] { Report(h); });
    }
  }

  void Report(Host& h) {
    if (sh->stopping || h.installed_acked) return;
    After(*h.report_timer, milliseconds(1000), [this, &h] { Report(h); });
    if (h.report_in_flight) return;  // the fetcher's report is synchronous: the next waits for it
    double elapsed = std::chrono::duration<double>(Clock::now() - h.job_started).count();
    const bool done = elapsed >= sh->args.download_seconds;
    spate::HostReport r;
    r.push_id = h.push_id;
    r.total = h.total;
    r.tries = 1;
    if (done) {
      r.state = spate::kStateInstalled;
      r.bytes_done = h.total;
    } else {
      r.state = spate::kStateDownloading;
      r.bytes_done = uint64_t(double(h.total) * elapsed / std::max(1, sh->args.download_seconds));
      r.rate = double(h.total) / std::max(1, sh->args.download_seconds);
      r.peers = 20;
    }
    std::string body = nlohmann::json{{"reports", nlohmann::json::array({spate::ToJson(r)})}}.dump();
    ++stats.reports;
    h.report_in_flight = true;
    const bool borrowed = sh->args.kept && !h.poll_in_flight;
    Kept* conn = borrowed ? &h.poll_conn : &h.report_conn;
    h.poll_conn_lent = borrowed;
    const int64_t since_push_ns = Clock::now().time_since_epoch().count() - sh->push_created_ns.load();
    const bool settled = since_push_ns > 2'000'000'000;
    const int second = int(since_push_ns / 1'000'000'000);
    Send(
        h, KeptOrNone(*conn), Request(h, "POST", "/api/v1/hosts/" + h.id + "/reports", body), std::chrono::seconds(5),
        [this, &h, done, settled, second, borrowed](Answer a) {
          h.report_in_flight = false;
          if (borrowed) {
            h.poll_conn_lent = false;
            if (h.poll_waiting >= 0) {  // a poll wanted its connection meanwhile
              int wait = h.poll_waiting;
              h.poll_waiting = -1;
              Poll(h, wait);
            }
          }
          if (sh->stopping) return;
          if (!a.ok || a.status != 200) {
            ++stats.report_errors;
            stats.Error("report " + h.id + ": " + (a.ok ? "HTTP " + std::to_string(a.status) + " " + a.body : a.error));
            return;  // "installed" stays queued: the next beat sends it again
          }
          stats.report_ms.push_back(a.ms);
          if (settled) stats.report_settled_ms.push_back(a.ms);
          stats.report_ms_by_second[second].push_back(a.ms);
          if (a.body.find("\"refused\":[]") == std::string::npos) {
            ++stats.report_refused;
            stats.Error("report " + h.id + " refused: " + a.body);
            return;
          }
          ++stats.report_entries_ok;
          if (done && !h.installed_acked) {
            h.installed_acked = true;
            h.report_timer->cancel();
            ++sh->done;
            Announce(h, "completed");
            if (h.report_conn.socket) {  // as the fetcher: nothing left to report, one connection is enough
              boost::system::error_code ignored;
              h.report_conn.socket->close(ignored);
              h.report_conn.socket.reset();
              --kept_idle;
            }
            Wake(h);  // reporting ended: back to the long poll
          }
          size_t at = a.body.find("\"generation\":");
          if (at != std::string::npos && std::strtoll(a.body.c_str() + at + 13, nullptr, 10) > h.generation) Wake(h);
        });
  }

  void Announce(Host& h, const std::string& event) {
    if (sh->stopping) return;
    if (sh->udp_announce) return UdpAnnounce(h, event);
    std::string target =
        "/announce?info_hash=" + spate::http::UrlEncode(h.info_hash) + "&peer_id=" + h.peer_id +
        "&port=6881&uploaded=0&downloaded=0&left=" + (h.installed_acked ? "0" : std::to_string(h.total)) +
        "&compact=1&numwant=50";
    if (!event.empty()) target += "&event=" + event;
    ++stats.announces;
    Send(h, nullptr, Request(h, "GET", target, ""), std::chrono::seconds(15), [this, &h](Answer a) {
      if (sh->stopping) return;
      if (!a.ok || a.status != 200 || a.body.find("failure reason") != std::string::npos) {
        ++stats.announce_errors;
        stats.Error("announce " + h.id + ": " + (a.ok ? "HTTP " + std::to_string(a.status) + " " + a.body : a.error));
      } else {
        stats.announce_ms.push_back(a.ms);
        size_t at = a.body.find("8:intervali");
        if (at != std::string::npos) h.announce_interval_s = std::max(1, std::atoi(a.body.c_str() + at + 11));
      }
      After(*h.announce_timer, std::chrono::seconds(h.announce_interval_s), [this, &h] { Announce(h, ""); });
    });
  }

  // One BEP 15 exchange on a socket of its own from the host's address (a
  // connect first when the host's connection id is a minute old), closed
  // after the answer: 10,000 sockets kept would not fit the descriptor budget.
  struct UdpExchange {
    asio::ip::udp::socket socket;
    asio::steady_timer timer;
    Clock::time_point started = Clock::now();
    std::array<uint8_t, 2048> in{};
    std::vector<uint8_t> out;
    uint32_t tid = 0;
    bool counted = false;  // in open_now
    explicit UdpExchange(asio::io_context& io) : socket(io), timer(io) {}
  };
  static void Put(std::vector<uint8_t>& b, uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) b.push_back(uint8_t(v >> (8 * i)));
  }
  static uint64_t Get(const uint8_t* p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
    return v;
  }

  void UdpAnnounce(Host& h, const std::string& event) {
    auto x = std::make_shared<UdpExchange>(io);
    boost::system::error_code ec;
    x->socket.open(asio::ip::udp::v4(), ec);
    if (!ec) x->socket.bind(asio::ip::udp::endpoint(h.addr, 0), ec);
    if (ec) return UdpDone(h, x, "udp socket: " + ec.message());
    ++stats.announces;
    ++open_now;
    x->counted = true;
    x->timer.expires_after(std::chrono::seconds(15));
    x->timer.async_wait([x](boost::system::error_code e) {
      if (!e) x->socket.close();  // the pending receive ends with operation_aborted
    });
    if (h.udp_conn_id != 0 && Clock::now() - h.udp_conn_at < std::chrono::seconds(60)) return UdpSendAnnounce(h, x, event);
    x->out.clear();
    Put(x->out, spate::kUdpProtocolId, 8);
    Put(x->out, 0, 4);  // connect
    x->tid = uint32_t(rng());
    Put(x->out, x->tid, 4);
    UdpRoundTrip(h, x, [this, &h, x, event](size_t n) {
      if (n < 16 || Get(x->in.data(), 4) != 0) return UdpDone(h, x, "udp connect: unexpected answer");
      h.udp_conn_id = Get(x->in.data() + 8, 8);
      h.udp_conn_at = Clock::now();
      UdpSendAnnounce(h, x, event);
    });
  }

  void UdpSendAnnounce(Host& h, const std::shared_ptr<UdpExchange>& x, const std::string& event) {
    x->out.clear();
    Put(x->out, h.udp_conn_id, 8);
    Put(x->out, 1, 4);  // announce
    x->tid = uint32_t(rng());
    Put(x->out, x->tid, 4);
    x->out.insert(x->out.end(), h.info_hash.begin(), h.info_hash.end());
    x->out.insert(x->out.end(), h.peer_id.begin(), h.peer_id.end());
    Put(x->out, 0, 8);                                   // downloaded
    Put(x->out, h.installed_acked ? 0 : h.total, 8);     // left
    Put(x->out, 0, 8);                                   // uploaded
    Put(x->out, event == "completed" ? 1 : event == "started" ? 2 : 0, 4);
    Put(x->out, 0, 4);                                   // ip: the source address
    Put(x->out, uint32_t(h.index), 4);                   // key
    Put(x->out, 50, 4);                                  // num_want
    Put(x->out, 6881, 2);
    UdpRoundTrip(h, x, [this, &h, x](size_t n) {
      if (n < 20 || Get(x->in.data(), 4) != 1)
        return UdpDone(h, x, "udp announce: " + (n > 8 ? std::string(x->in.begin() + 8, x->in.begin() + n) : "short answer"));
      h.announce_interval_s = std::max(1, int(Get(x->in.data() + 8, 4)));
      UdpDone(h, x, "");
    });
  }

  template <typename F>
  void UdpRoundTrip(Host& h, const std::shared_ptr<UdpExchange>& x, F on_answer) {
    boost::system::error_code ec;
    x->socket.send_to(asio::buffer(x->out), *sh->udp_announce, 0, ec);
    if (ec) return UdpDone(h, x, "udp send: " + ec.message());
    x->socket.async_receive(asio::buffer(x->in), [this, &h, x, on_answer](boost::system::error_code e, size_t n) {
      if (e) return UdpDone(h, x, e == asio::error::operation_aborted ? "udp: no answer in 15 s" : "udp: " + e.message());
      if (n >= 8 && uint32_t(Get(x->in.data() + 4, 4)) != x->tid) return UdpDone(h, x, "udp: answer to another request");
      on_answer(n);
    });
  }

  void UdpDone(Host& h, const std::shared_ptr<UdpExchange>& x, const std::string& error) {
    if (x->counted) --open_now;
    x->counted = false;
    x->timer.cancel();
    boost::system::error_code ignored;
    x->socket.close(ignored);
    if (sh->stopping) return;
    if (!error.empty()) {
      ++stats.announce_errors;
      stats.Error("announce " + h.id + ": " + error);
    } else {
      stats.announce_ms.push_back(Ms(Clock::now() - x->started));
    }
    After(*h.announce_timer, std::chrono::seconds(h.announce_interval_s), [this, &h] { Announce(h, ""); });
  }

  // The beat that measures this thread's own scheduling lag.
  std::unique_ptr<asio::steady_timer> beat;
  Clock::time_point beat_due;
  void Beat() {
    if (!beat) beat = std::make_unique<asio::steady_timer>(io);
    auto now = Clock::now();
    if (beat_due != Clock::time_point{}) stats.lag_ms.push_back(Ms(now - beat_due));
    beat_due = now + milliseconds(10);
    beat->expires_at(beat_due);
    beat->async_wait([this](boost::system::error_code ec) {
      if (!ec && !sh->stopping) Beat();
    });
  }

  template <class F>
  void After(asio::steady_timer& t, Clock::duration d, F f) {
    t.expires_after(d);
    t.async_wait([f = std::move(f)](boost::system::error_code ec) {
      if (!ec) f();
    });
  }
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5))];
}

nlohmann::json Summary(const std::vector<double>& v) {
  return {{"n", v.size()}, {"p50", Percentile(v, 0.5)}, {"p99", Percentile(v, 0.99)}, {"max", Percentile(v, 1.0)}};
}

// p10, p20, ..., p100: how the notifications progress.
nlohmann::json Deciles(const std::vector<double>& v) {
  nlohmann::json out = nlohmann::json::array();
  for (int d = 1; d <= 10; ++d) out.push_back(Percentile(v, d / 10.0));
  return out;
}

// [[second, n, p50, p99, max], ...]
nlohmann::json BySecond(const std::map<int, std::vector<double>>& by) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [second, v] : by)
    out.push_back({second, v.size(), Percentile(v, 0.5), Percentile(v, 0.99), Percentile(v, 1.0),
                   std::count_if(v.begin(), v.end(), [](double ms) { return ms > 50; })});
  return out;
}

// Admin calls: plain blocking requests from 127.0.0.1.
spate::Result<spate::http::ClientResult> Admin(const Args& a, const std::string& method, const std::string& path,
                                               const std::string& body, const std::string& token = "") {
  spate::http::ClientOptions o;
  o.timeout = std::chrono::seconds(60);
  o.headers.emplace_back("Authorization", "Bearer " + (token.empty() ? a.token : token));
  if (!body.empty()) o.headers.emplace_back("Content-Type", "application/json");
  return spate::http::Call(method, "http://" + a.tracker + path, body, o);
}

std::string Hex(const std::string& bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) out += {d[c >> 4], d[c & 15]};
  return out;
}

void RegisterArtifact(const Args& a) {
  auto at = a.artifact.find('@');
  if (at == std::string::npos) Die("--artifact must be NAME@VERSION");
  // 20 printable bytes, so announces need no escaping; one per version.
  char ih[32];
  std::snprintf(ih, sizeof ih, "spatectl%012llu",
                static_cast<unsigned long long>(std::hash<std::string>{}(a.artifact) % 1000000000000ULL));
  nlohmann::json m{{"name", a.artifact.substr(0, at)},
                   {"version", a.artifact.substr(at + 1)},
                   {"filename", "ctlbench.bin"},
                   {"size", 1 << 30},
                   {"sha256", std::string(64, 'a')},
                   {"info_hash", Hex(ih)},
                   {"piece_size", 4 << 20},
                   {"created_at", 0}};
  nlohmann::json body{
      {"manifest", m}, {"torrent", spate::Base64Encode("d4:infod6:lengthi1073741824eee")}, {"origin", "127.0.0.2"}};
  auto r = Admin(a, "POST", "/api/v1/artifacts", body.dump(), a.register_token);
  if (!r.ok()) Die("register: " + r.status().message());
  if (r->status != 200) Die("register: HTTP " + std::to_string(r->status) + ": " + r->body);
}

int64_t LongPolls(const Args& a) {
  auto r = Admin(a, "GET", "/stats", "");
  if (!r.ok() || r->status != 200) return -1;
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  return j.is_object() && j.contains("long_polls") ? j["long_polls"].get<int64_t>() : -1;
}

// The tracker's own counters (/metrics), summed over labels.
std::map<std::string, double> Counters(const Args& a) {
  std::map<std::string, double> out;
  auto r = Admin(a, "GET", "/metrics", "");
  if (!r.ok() || r->status != 200) return out;
  std::istringstream in(r->body);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    auto name_end = line.find_first_of(" {");
    auto value_at = line.rfind(' ');
    if (name_end == std::string::npos || value_at == std::string::npos) continue;
    out[line.substr(0, name_end)] += std::strtod(line.c_str() + value_at + 1, nullptr);
  }
  return out;
}

int64_t NewestPush(const Args& a) {
  auto r = Admin(a, "GET", "/api/v1/pushes?limit=1", "");
  if (!r.ok() || r->status != 200) Die("listing pushes: " + (r.ok() ? r->body : r.status().message()));
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  int64_t newest = 0;
  if (j.is_object() && j.contains("pushes") && j["pushes"].is_array())
    for (const auto& p : j["pushes"]) newest = std::max<int64_t>(newest, p.value("id", int64_t(0)));
  return newest;
}

tcp::endpoint LoopbackEndpoint(const std::string& flag, const std::string& v) {
  auto colon = v.rfind(':');
  if (colon == std::string::npos) Die(flag + " must be IP:PORT");
  boost::system::error_code ec;
  auto ip = asio::ip::make_address_v4(v.substr(0, colon), ec);
  if (ec || (ip.to_uint() >> 24) != 127) Die(flag + " must be an IPv4 address on 127.0.0.0/8");
  return tcp::endpoint(ip, uint16_t(std::stoi(v.substr(colon + 1))));
}

int Run(const Args& a) {
  const size_t files = RaiseFileLimit();
  Shared sh;
  sh.args = a;
  std::vector<std::thread> watch_threads;
  std::mutex watch_mu;
  std::vector<double> watch_ms;  // each watcher fetch, send to last byte
  sh.server = LoopbackEndpoint("--tracker", a.tracker);
  if (!a.announce.empty()) {
    const std::string scheme = "udp://";
    if (a.announce.rfind(scheme, 0) != 0) Die("--announce must be udp://IP:PORT");
    tcp::endpoint to = LoopbackEndpoint("--announce", a.announce.substr(scheme.size()));
    sh.udp_announce = asio::ip::udp::endpoint(to.address(), to.port());
  }

  RegisterArtifact(a);

  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < a.threads; ++t) {
    workers.push_back(std::make_unique<Worker>());
    workers.back()->sh = &sh;
    workers.back()->open_budget = std::max<size_t>(64, (files - std::min<size_t>(files / 2, 256)) / size_t(a.threads));
  }
  std::vector<std::unique_ptr<Host>> hosts;
  for (int i = 0; i < a.hosts; ++i) {
    auto h = std::make_unique<Host>();
    h->index = i;
    char id[32], peer[32];
    std::snprintf(id, sizeof id, "host-%05d", i);
    std::snprintf(peer, sizeof peer, "-SC0001-%012d", i);
    h->id = id;
    h->peer_id = peer;
    h->addr = asio::ip::make_address_v4("127.0." + std::to_string(1 + i / 250) + "." + std::to_string(1 + i % 250));
    if (!a.host_secret.empty()) h->token = spate::auth::HostToken(a.host_secret, h->id);
    Worker* w = workers[size_t(i % a.threads)].get();
    h->w = w;
    h->poll_timer = std::make_unique<asio::steady_timer>(w->io);
    h->report_timer = std::make_unique<asio::steady_timer>(w->io);
    h->announce_timer = std::make_unique<asio::steady_timer>(w->io);
    w->hosts.push_back(h.get());
    hosts.push_back(std::move(h));
  }
  // Check-ins spread over the ramp, as a fleet's fetchers start at different times.
  for (auto& h : hosts) {
    auto delay =
        std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(a.ramp_seconds * h->index / a.hosts));
    Host* hp = h.get();
    h->w->After(*h->poll_timer, delay, [hp] { hp->w->Poll(*hp, 0); });
  }
  std::vector<std::thread> threads;
  for (auto& w : workers)
    threads.emplace_back([w = w.get()] {
      auto guard = asio::make_work_guard(w->io);
      w->Beat();
      w->io.run();
    });

  std::map<std::string, double> before;  // the tracker's counters when the push was created
  auto finish = [&](int rc, const std::string& why) {
    auto ended = std::chrono::system_clock::now().time_since_epoch();
    sh.stopping = true;
    for (auto& w : workers) w->io.stop();
    for (auto& t : threads) t.join();
    for (auto& t : watch_threads) t.join();
    Stats all;
    for (auto& w : workers) {
      Stats& s = w->stats;
      all.notify_ms.insert(all.notify_ms.end(), s.notify_ms.begin(), s.notify_ms.end());
      all.report_ms.insert(all.report_ms.end(), s.report_ms.begin(), s.report_ms.end());
      all.report_settled_ms.insert(all.report_settled_ms.end(), s.report_settled_ms.begin(),
                                   s.report_settled_ms.end());
      all.announce_ms.insert(all.announce_ms.end(), s.announce_ms.begin(), s.announce_ms.end());
      for (auto& [second, ms] : s.report_ms_by_second)
        all.report_ms_by_second[second].insert(all.report_ms_by_second[second].end(), ms.begin(), ms.end());
      all.lag_ms.insert(all.lag_ms.end(), s.lag_ms.begin(), s.lag_ms.end());
      all.polls += s.polls;
      all.poll_errors += s.poll_errors;
      all.reports += s.reports;
      all.report_entries_ok += s.report_entries_ok;
      all.report_errors += s.report_errors;
      all.report_refused += s.report_refused;
      all.announces += s.announces;
      all.announce_errors += s.announce_errors;
      for (auto& e : s.samples) all.Error(e);
    }
    nlohmann::json out{{"hosts", a.hosts},
                       {"push_id", sh.push_id.load()},
                       {"result", why},
                       {"checked_in", sh.checked_in.load()},
                       {"notified", sh.notified.load()},
                       {"installed_acked", sh.done.load()},
                       {"notify_ms", Summary(all.notify_ms)},
                       {"notify_ms_deciles", Deciles(all.notify_ms)},
                       {"report_ms", Summary(all.report_ms)},
                       {"report_settled_ms", Summary(all.report_settled_ms)},
                       {"watch_ms", Summary(watch_ms)},
                       {"report_ms_by_second", BySecond(all.report_ms_by_second)},
                       {"connections", a.kept ? "kept" : "one-shot"},
                       {"announce_ms", Summary(all.announce_ms)},
                       {"load_lag_ms", Summary(all.lag_ms)},
                       {"polls", all.polls},
                       {"poll_errors", all.poll_errors},
                       {"reports", all.reports},
                       {"reports_ok", all.report_entries_ok},
                       {"report_errors", all.report_errors},
                       {"report_refused", all.report_refused},
                       {"announces", all.announces},
                       {"announce_errors", all.announce_errors},
                       {"errors", all.samples}};
    // What the tracker says of the push: every row should be installed.
    if (sh.push_id > 0) {
      auto r = Admin(a, "GET", "/api/v1/pushes/" + std::to_string(sh.push_id.load()), "");
      auto j = r.ok() ? nlohmann::json::parse(r->body, nullptr, false) : nlohmann::json();
      int installed = 0;
      if (j.is_object() && j.contains("hosts") && j["hosts"].is_array())
        for (const auto& row : j["hosts"]) installed += row.value("state", "") == spate::kStateInstalled;
      out["tracker_installed"] = installed;
      out["tracker_state"] = j.is_object() ? j.value("state", "?") : "?";
    }
    // The tracker's counters over the push (creation to the last install, or the deadline).
    if (!before.empty()) {
      auto after = Counters(a);
      nlohmann::json d = nlohmann::json::object();
      for (const char* k : {"spate_tracker_store_transactions_total", "spate_tracker_store_rows_total",
                            "spate_tracker_store_seconds_total", "spate_tracker_reports_total",
                            "spate_http_connections_accepted_total"})
        d[k] = after[k] - before[k];
      out["tracker_during_push"] = d;
    }
    out["finished_unix_ms"] = std::chrono::duration_cast<milliseconds>(ended).count();
    std::printf("%s\n", out.dump().c_str());
    return rc;
  };

  // Every host checked in and holding its long poll, as the tracker counts them.
  auto ramp_end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(a.ramp_seconds + 30 + a.hosts / 500.0));
  while (sh.checked_in < a.hosts || LongPolls(a) < a.hosts) {
    if (Clock::now() > ramp_end)
      return finish(1, "only " + std::to_string(sh.checked_in.load()) + " hosts checked in and " +
                           std::to_string(LongPolls(a)) + " long polls held before the ramp timed out");
    std::this_thread::sleep_for(milliseconds(200));
  }
  std::fprintf(stderr, "spate-control-load: %d hosts checked in, %d long polls held; pushing\n", a.hosts, a.hosts);

  before = Counters(a);
  // By name, not "host-*": a database kept from a larger run knows more hosts than play here.
  nlohmann::json names = nlohmann::json::array();
  for (const auto& h : hosts) names.push_back(h->id);
  nlohmann::json push{{"artifact", a.artifact}, {"hosts", names}, {"started_by", "spate-control-load"}};
  auto wall = std::chrono::system_clock::now().time_since_epoch();
  int64_t created_unix_ms = std::chrono::duration_cast<milliseconds>(wall).count();
  sh.push_created_ns = Clock::now().time_since_epoch().count();
  // Hosts woken before the answer arrives need the id: the next one, as this
  // is the only client creating pushes.
  sh.push_id = NewestPush(a) + 1;
  auto r = Admin(a, "POST", "/api/v1/pushes", push.dump());
  if (!r.ok() || r->status != 200)
    return finish(
        1, "create push: " + (r.ok() ? "HTTP " + std::to_string(r->status) + " " + r->body : r.status().message()));
  auto pj = nlohmann::json::parse(r->body, nullptr, false);
  if (!pj.is_object() || !pj.contains("id")) return finish(1, "create push: no id in " + r->body);
  sh.push_id = pj["id"].get<int64_t>();
  std::printf("{\"push_created_unix_ms\":%lld}\n", static_cast<long long>(created_unix_ms));
  std::fflush(stdout);

  // The release manager's `spate push`: the whole push, once a second
  // (push/watch.cc), on a connection of its own.
  for (int i = 0; i < a.watchers; ++i)
    watch_threads.emplace_back([&a, &sh, &watch_ms, &watch_mu] {
      spate::http::Connection conn;
      spate::http::ClientOptions o;
      o.timeout = std::chrono::seconds(30);
      o.headers.emplace_back("Authorization", "Bearer " + a.token);
      const std::string url = "http://" + a.tracker + "/api/v1/pushes/" + std::to_string(sh.push_id.load());
      while (!sh.stopping) {
        auto t0 = Clock::now();
        auto r = conn.Call("GET", url, "", o);
        double ms = Ms(Clock::now() - t0);
        if (r.ok() && r->status == 200) {
          std::lock_guard<std::mutex> l(watch_mu);
          watch_ms.push_back(ms);
        }
        auto next = t0 + std::chrono::seconds(1);
        while (!sh.stopping && Clock::now() < next) std::this_thread::sleep_for(milliseconds(20));
      }
    });

  auto deadline = Clock::now() + std::chrono::seconds(a.seconds);
  while (sh.done < a.hosts) {
    if (Clock::now() > deadline)
      return finish(1, "deadline: " + std::to_string(sh.notified.load()) + " notified, " +
                           std::to_string(sh.done.load()) + " installed of " + std::to_string(a.hosts));
    std::this_thread::sleep_for(milliseconds(100));
  }
  return finish(0, "ok");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(Parse(argc, argv));
  } catch (const std::exception& e) {
    Die(e.what());
  }
}
