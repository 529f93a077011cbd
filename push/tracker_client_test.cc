#include "push/tracker_client.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <thread>

using namespace spate;

namespace {

// A tracker stand-in on a free loopback port that answers by path.
struct FakeTracker {
  std::string seen_auth;
  http::Server server;
  std::thread thread;
  FakeTracker()
      : server(http::ServerOptions{}, [this](http::Request&& r, http::Reply reply) {
          seen_auth = r.header("authorization");
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
        "tracker answered 401: bad admin token (the admin token comes from --token or SPATE_ADMIN_TOKEN)");

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
