#include "push/tracker_client.h"

#include <catch2/catch.hpp>
#include <atomic>
#include <cstdlib>
#include <thread>

using namespace spate;

namespace {

// A tracker stand-in on a free loopback port that answers by path.
struct FakeTracker {
  std::string seen_auth;
  std::atomic<int> calls{0};
  std::atomic<bool> failing{false};  // every answer a 503, as a tracker whose database is away
  http::Server server;
  std::thread thread;
  FakeTracker()
      : server(http::ServerOptions{}, [this](http::Request&& r, http::Reply reply) {
          ++calls;
          seen_auth = r.header("authorization");
          if (failing) return reply(http::Response::Error(Status::Unavailable("database unavailable")));
          if (r.path == "/api/v1/pushes/404") return reply(http::Response::Error(Status::NotFound("unknown push 404")));
          if (r.path == "/api/v1/pushes/401")
            return reply(http::Response::Error(Status::Unauthorized("bad admin token")));
          if (r.path == "/api/v1/pushes/500") return reply(http::Response::Text(500, "boom\n"));
          if (r.path == "/api/v1/pushes/text") return reply(http::Response::Text(200, "not json"));
          reply(http::Response::Json(
              200, R"({"id":3,"artifact":"web@1","size":1,"state":"active","created_at":1,"hosts":[]})"));
        }) {
    REQUIRE(server.Start().ok());
    thread = std::thread([this] { server.Run(); });
  }
  ~FakeTracker() {
    server.Stop();
    thread.join();
  }
  std::string url() const { return "http://" + http::FormatEndpoint(server.local_endpoint()); }
};

}  // namespace

TEST_CASE("tracker client sends the token only in the header and never in a message") {
  FakeTracker t;
  TrackerClient c(t.url() + "/", "s3cret");
  auto ok = c.CallForPush("GET", "/pushes/3");
  REQUIRE(ok.ok());
  CHECK(ok->id == 3);
  CHECK(t.seen_auth == "Bearer s3cret");

  auto denied = c.Call("GET", "/pushes/401");
  CHECK(denied.status().code() == Status::Code::kUnauthorized);
  CHECK(denied.status().message() ==
        "tracker answered 401: bad admin token (the token comes from --token-file, SPATE_PUSH_TOKEN or "
        "SPATE_ADMIN_TOKEN; read commands try SPATE_READ_TOKEN first)");

  TrackerClient anonymous(t.url(), "");
  REQUIRE(anonymous.Call("GET", "/pushes/3").ok());
  CHECK(t.seen_auth.empty());
}

TEST_CASE("tracker client names the problem for each kind of bad answer") {
  FakeTracker t;
  TrackerClient c(t.url(), "s3cret");
  auto missing = c.Call("GET", "/pushes/404");
  CHECK(missing.status().code() == Status::Code::kNotFound);
  CHECK(missing.status().message() == "tracker answered 404: unknown push 404");
  CHECK(c.Call("GET", "/pushes/500").status().message() == "tracker answered 500: boom");
  auto garbled = c.Call("GET", "/pushes/text");
  CHECK(garbled.status().code() == Status::Code::kCorrupt);
  CHECK(garbled.status().message() == "tracker answered 200 with a body that is not JSON");
}

TEST_CASE("tracker client says when the tracker cannot be reached or the URL is bad") {
  // Port 1 (tcpmux) has no listener here, and binding it needs root.
  auto down = TrackerClient("http://127.0.0.1:1", "s3cret").Call("GET", "/pushes");
  CHECK(down.status().code() == Status::Code::kUnavailable);
  CHECK(down.status().message().rfind("cannot reach the tracker: GET http://127.0.0.1:1/api/v1/pushes: ", 0) == 0);
  CHECK(down.status().message().find("s3cret") == std::string::npos);
  auto bad = TrackerClient("127.0.0.1:7070", "").Call("GET", "/pushes");
  CHECK(bad.status().code() == Status::Code::kInvalid);
  CHECK(bad.status().message() == "bad URL '127.0.0.1:7070/api/v1/pushes': only http:// and https:// are supported");
}

TEST_CASE("started_by is SPATE_USER when set, else the user at the host name") {
  const char* old_user = std::getenv("USER");
  const std::string saved = old_user ? old_user : "";
  setenv("SPATE_USER", "release-bot", 1);
  CHECK(StartedBy() == "release-bot");
  unsetenv("SPATE_USER");
  setenv("USER", "alice", 1);
  CHECK(StartedBy().rfind("alice@", 0) == 0);
  CHECK(StartedBy().size() > 6);
  unsetenv("USER");
  CHECK(StartedBy().rfind("unknown@", 0) != 0);  // the account's name instead
  if (old_user)
    setenv("USER", saved.c_str(), 1);
  else
    unsetenv("USER");
}

namespace {

// Takes one request and hangs up without an answer, as a tracker killed
// while it handled it: the request may have been applied.
struct HangsUp {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor{io, {boost::asio::ip::make_address("127.0.0.1"), 0}};
  std::thread thread{[this] {
    auto s = acceptor.accept();
    char buf[4096];
    boost::system::error_code ec;
    s.read_some(boost::asio::buffer(buf), ec);
  }};
  ~HangsUp() { thread.join(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()); }
};

}  // namespace

TEST_CASE("with several trackers a call moves past a dead one and stays on the one that answered") {
  FakeTracker live;
  TrackerClient c("http://127.0.0.1:1, " + live.url() + "/", "s3cret");
  std::vector<std::string> said;
  c.OnFailover([&](const std::string& line) { said.push_back(line); });
  CHECK(c.url() == "http://127.0.0.1:1");
  auto got = c.CallForPush("GET", "/pushes/3");
  REQUIRE(got.ok());
  CHECK(got->id == 3);
  CHECK(c.url() == live.url());
  REQUIRE(said.size() == 1);
  CHECK(said[0].rfind("tracker http://127.0.0.1:1 failed (cannot reach the tracker: "
                      "GET http://127.0.0.1:1/api/v1/pushes/3: no connection: ",
                      0) == 0);
  CHECK(said[0].find("); now " + live.url()) != std::string::npos);
  // Stays there: the dead one is not tried first again.
  REQUIRE(c.Call("GET", "/pushes/3").ok());
  CHECK(said.size() == 1);
  CHECK(live.calls == 2);
  // An answer other than 2xx is an answer, not a failure: no move.
  CHECK(c.Call("GET", "/pushes/404").status().code() == Status::Code::kNotFound);
  CHECK(c.url() == live.url());

  // A POST that never left goes to the next one too.
  TrackerClient post("http://127.0.0.1:1," + live.url(), "s3cret");
  REQUIRE(post.Call("POST", "/pushes", nlohmann::json{{"artifact", "web@1"}}).ok());
  CHECK(live.calls == 4);
}

TEST_CASE("a GET moves past a tracker answering 5xx, a POST sent and unanswered or 5xx does not") {
  FakeTracker failing, live;
  failing.failing = true;
  TrackerClient c(failing.url() + "," + live.url(), "s3cret");
  REQUIRE(c.Call("GET", "/pushes/3").ok());
  CHECK(c.url() == live.url());

  TrackerClient post(failing.url() + "," + live.url(), "s3cret");
  auto refused = post.Call("POST", "/pushes", nlohmann::json{{"artifact", "web@1"}});
  CHECK(refused.status().message() == "tracker answered 503: database unavailable");
  CHECK(live.calls == 1);  // the GET above only

  {
    HangsUp gone;
    TrackerClient after_send(gone.url() + "," + live.url(), "s3cret");
    auto lost = after_send.Call("POST", "/pushes", nlohmann::json{{"artifact", "web@1"}});
    REQUIRE_FALSE(lost.ok());
    CHECK(lost.status().message().rfind("cannot reach the tracker: POST " + gone.url() + "/api/v1/pushes: ", 0) == 0);
    CHECK(live.calls == 1);  // not sent a second time
  }
  {
    HangsUp gone;
    TrackerClient read(gone.url() + "," + live.url(), "s3cret");
    CHECK(read.Call("GET", "/pushes/3").ok());  // reads are safe to repeat
    CHECK(live.calls == 2);
  }

  auto none = TrackerClient("http://127.0.0.1:1,http://127.0.0.2:1", "").Call("GET", "/pushes");
  CHECK(none.status().code() == Status::Code::kUnavailable);
  CHECK(none.status().message().rfind(
            "all 2 trackers failed; first: cannot reach the tracker: GET http://127.0.0.1:1/api/v1/pushes: ", 0) == 0);
}
