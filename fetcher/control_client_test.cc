#include "fetcher/control_client.h"

#include <catch2/catch.hpp>
#include <mutex>
#include <thread>

#include "wire/http.h"

namespace {

// Answers every report batch with `answer`, as a tracker answering per report does.
class ReportSink {
 public:
  explicit ReportSink(std::string answer)
      : answer_(std::move(answer)),
        server_(Options(), [this](spate::http::Request&& req, spate::http::Reply reply) {
          std::lock_guard<std::mutex> lock(mu_);
          authorization_ = req.header("authorization");
          reply(spate::http::Response::Json(200, answer_));
        }) {
    REQUIRE(server_.Start().ok());
    thread_ = std::thread([this] { server_.Run(); });
  }
  ~ReportSink() {
    server_.Stop();
    thread_.join();
  }
  std::string url() const { return "http://" + spate::http::FormatEndpoint(server_.local_endpoint()); }
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
  spate::http::Server server_;
  std::thread thread_;
};

}  // namespace

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
