#include "fetcher/control_client.h"

#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "wire/http.h"

namespace {

// Answers every report batch with `answer`, as a tracker answering per report does.
// `status` other than 200 answers every request with that status (a tracker
// failing with a 5xx, or refusing with a 4xx). GETs get an empty assignment list.
class ReportSink {
 public:
  explicit ReportSink(std::string answer, int status = 200)
      : answer_(std::move(answer)),
        server_(Options(), [this, status](spate::http::Request&& req, spate::http::Reply reply) {
          ++requests;
          std::lock_guard<std::mutex> lock(mu_);
          authorization_ = req.header("authorization");
          if (status != 200) return reply(spate::http::Response::Json(status, R"({"error":"not today"})"));
          if (req.method == "GET" && hold_polls && req.query.find("wait=0") == std::string::npos) {
            held_.push_back(std::move(reply));  // a long poll: answered by ReleasePolls
            return;
          }
          if (req.method == "GET")
            return reply(spate::http::Response::Json(200, R"({"generation":7,"assignments":[]})"));
          reply(spate::http::Response::Json(200, answer_));
        }) {
    REQUIRE(server_.Start().ok());
    thread_ = std::thread([this] { server_.Run(); });
  }
  ~ReportSink() {
    Stop();
    held_.clear();  // after the server's thread, before the server: a reply holds its session
  }
  // Gone: connections are refused from now on.
  void Stop() {
    if (!thread_.joinable()) return;
    server_.Stop();
    thread_.join();
  }
  std::atomic<int> requests{0};
  // Long polls (wait > 0) are held until ReleasePolls.
  std::atomic<bool> hold_polls{false};
  size_t held() {
    std::lock_guard<std::mutex> lock(mu_);
    return held_.size();
  }
  void ReleasePolls() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& r : held_) r(spate::http::Response::Json(200, R"({"generation":7,"assignments":[]})"));
    held_.clear();
  }
  std::string url() const { return "http://" + spate::http::FormatEndpoint(server_.local_endpoint()); }
  uint64_t connections() const { return server_.connections_accepted(); }
  // The Authorization header of the last request.
  std::string authorization() {
    std::lock_guard<std::mutex> lock(mu_);
    return authorization_;
  }

 private:
  static spate::http::ServerOptions Options() {
    spate::http::ServerOptions o;
    o.listen = "127.0.0.1:0";
    return o;
  }
  std::string answer_;
  std::mutex mu_;
  std::string authorization_;
  std::vector<spate::http::Reply> held_;
  spate::http::Server server_;
  std::thread thread_;
};

// A port that accepts connections and never answers: a hung tracker.
class Hung {
 public:
  Hung() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
  }
  ~Hung() { ::close(fd_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A URL nothing listens on: connections are refused.
std::string DeadUrl() {
  ReportSink gone(R"({"ok":true})");
  std::string url = gone.url();
  gone.Stop();
  return url;
}

spate::HostReport Downloading() {
  spate::HostReport r;
  r.push_id = 1;
  r.state = spate::kStateDownloading;
  return r;
}

}  // namespace

TEST_CASE("reports move past a refusing, a hung and a failing tracker to one that answers, and stay there") {
  Hung hung;
  ReportSink failing(R"({"ok":true})", 503), good(R"({"ok":true})");
  std::string dead = DeadUrl();
  spate::ControlClient client({dead, hung.url(), failing.url(), good.url()}, "h1", "127.0.0.1");
  CHECK(client.current() == dead);
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(client.PostReports({Downloading()}, std::chrono::milliseconds(500)).ok());
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(500));  // the hung one's timeout
  CHECK(client.current() == good.url());
  CHECK(client.failovers() == 1);
  CHECK(failing.requests == 1);
  CHECK(good.requests == 1);
  // Kept: the next calls go straight to it, without waiting on the hung one again.
  t0 = std::chrono::steady_clock::now();
  REQUIRE(client.PostReports({Downloading()}, std::chrono::milliseconds(500)).ok());
  auto poll = client.PollAssignments(0, 0);
  REQUIRE(poll.ok());
  CHECK(poll->generation == 7);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(400));
  CHECK(good.requests == 3);
  CHECK(failing.requests == 1);
  CHECK(client.failovers() == 1);
}

TEST_CASE("a long poll moves to the next tracker when the one in use dies, and copies of the client move with it") {
  ReportSink first(R"({"ok":true})"), second(R"({"ok":true})");
  spate::ControlClient client({first.url(), second.url()}, "h1", "127.0.0.1");
  spate::ControlClient poller = client;  // what the poll thread holds
  REQUIRE(poller.PollAssignments(0, 0).ok());
  CHECK(first.requests == 1);
  first.Stop();
  REQUIRE(poller.PollAssignments(0, 0).ok());
  CHECK(second.requests == 1);
  CHECK(client.current() == second.url());
  REQUIRE(client.PostReports({Downloading()}, std::chrono::seconds(2)).ok());
  CHECK(second.requests == 2);
  CHECK(client.failovers() == 1);
}

TEST_CASE("reports sent to one tracker (its swarm's) go only there and leave the tracker in use as it was") {
  ReportSink first(R"({"ok":true})"), swarm(R"({"ok":true,"gateways":[{"push_id":1,"slot":0,"slots":3}]})");
  spate::ControlClient client({first.url(), swarm.url()}, "h1", "127.0.0.1");
  auto a = client.PostReportsTo(1, {Downloading()}, std::chrono::seconds(2));
  REQUIRE(a.ok());
  REQUIRE(a->gateways.size() == 1);
  CHECK(a->gateways[0].slots == 3);
  CHECK(swarm.requests == 1);
  CHECK(first.requests == 0);
  CHECK(client.current_index() == 0);
  swarm.Stop();
  auto gone = client.PostReportsTo(1, {Downloading()}, std::chrono::seconds(2));
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.status().code() == spate::Status::Code::kUnavailable);  // no failover: the caller decides
  CHECK(first.requests == 0);
  CHECK(client.failovers() == 0);
}

TEST_CASE("a tracker that refuses a host (4xx) is not passed over, and all trackers down is one clear error") {
  ReportSink refusing(R"({"ok":true})", 403), good(R"({"ok":true})");
  spate::ControlClient client({refusing.url(), good.url()}, "h1", "127.0.0.1");
  auto r = client.PostReports({Downloading()}, std::chrono::seconds(2));
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == spate::Status::Code::kForbidden);
  CHECK(good.requests == 0);
  CHECK(client.failovers() == 0);

  spate::ControlClient none({DeadUrl(), DeadUrl()}, "h1", "127.0.0.1");
  auto down = none.PollAssignments(0, 0);
  REQUIRE_FALSE(down.ok());
  CHECK(down.status().code() == spate::Status::Code::kUnavailable);
  CHECK(down.status().message().find("all 2 trackers failed") != std::string::npos);
}

TEST_CASE("PostReports returns the gateway roles and the reports refused one by one") {
  ReportSink tracker(R"({"ok":true,"gateways":[{"push_id":3,"slot":1,"slots":2}],)"
                     R"("refused":[{"push_id":9,"error":"unknown push 9"}]})");
  spate::ControlClient client(tracker.url(), "h1", "127.0.0.1");
  spate::HostReport a, b;
  a.push_id = 3;
  a.state = spate::kStateDownloading;
  b.push_id = 9;
  b.state = spate::kStateInstalled;
  auto answer = client.PostReports({a, b}, std::chrono::seconds(5));
  REQUIRE(answer.ok());
  REQUIRE(answer->gateways.size() == 1);
  CHECK(answer->gateways[0].push_id == 3);
  CHECK(answer->gateways[0].slot == 1);
  REQUIRE(answer->refused.size() == 1);
  CHECK(answer->refused[0].push_id == 9);
  CHECK(answer->refused[0].error == "unknown push 9");
}

TEST_CASE("PostReports takes an answer without refusals (an older tracker)") {
  ReportSink tracker(R"({"ok":true})");
  spate::ControlClient client(tracker.url(), "h1", "127.0.0.1");
  spate::HostReport a;
  a.push_id = 1;
  a.state = spate::kStateDownloading;
  auto answer = client.PostReports({a}, std::chrono::seconds(5));
  REQUIRE(answer.ok());
  CHECK(answer->gateways.empty());
  CHECK(answer->refused.empty());
}

TEST_CASE("the host token goes as the bearer of reports and polls, and none is sent without one") {
  ReportSink tracker(R"({"ok":true})");
  spate::ControlClient with(tracker.url(), "h1", "127.0.0.1", "abc123");
  REQUIRE(with.PostReports({}, std::chrono::seconds(5)).ok());
  CHECK(tracker.authorization() == "Bearer abc123");
  (void)with.PollAssignments(0, 0);  // the sink's answer is no assignment list; only the header matters
  CHECK(tracker.authorization() == "Bearer abc123");
  spate::ControlClient without(tracker.url(), "h1", "127.0.0.1");
  REQUIRE(without.PostReports({}, std::chrono::seconds(5)).ok());
  CHECK(tracker.authorization().empty());
}

TEST_CASE("reports borrow the poll connection unless a poll holds it, and copies of the client share both") {
  ReportSink tracker(R"({"ok":true})");
  spate::ControlClient client(tracker.url(), "h1", "127.0.0.1");
  spate::ControlClient reporter = client;  // as the fetcher's poll thread and reporter hold it
  spate::HostReport a;
  a.push_id = 1;
  a.state = spate::kStateDownloading;
  for (int i = 0; i < 10; ++i) {
    REQUIRE(reporter.PostReports({a}, std::chrono::seconds(5)).ok());
    REQUIRE(client.PollAssignments(7, 0).ok());
  }
  CHECK(tracker.requests == 20);
  CHECK(tracker.connections() == 1);

  // A long poll holds the poll connection: reports take their own.
  tracker.hold_polls = true;
  auto poll = std::async(std::launch::async, [&] { return client.PollAssignments(7, 30).status(); });
  for (int i = 0; i < 100 && tracker.held() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(tracker.held() == 1);
  for (int i = 0; i < 3; ++i) REQUIRE(reporter.PostReports({a}, std::chrono::seconds(5)).ok());
  CHECK(tracker.connections() == 2);
  tracker.ReleasePolls();
  CHECK(poll.get().ok());

  // Nothing left to report: that one is closed, and the next report borrows again.
  reporter.CloseReportConnection();
  REQUIRE(reporter.PostReports({a}, std::chrono::seconds(5)).ok());
  REQUIRE(client.PollAssignments(7, 0).ok());
  CHECK(tracker.connections() == 2);
}
