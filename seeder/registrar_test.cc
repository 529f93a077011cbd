#include "seeder/registrar.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "wire/http.h"

namespace spate::seeder {
namespace {

using namespace std::chrono_literals;

Manifest Sample(const std::string& version) {
  Manifest m;
  m.name = "app";
  m.version = version;
  m.filename = "app";
  m.size = 1;
  m.sha256 = std::string(64, '0');
  m.info_hash = std::string(40, '0');
  m.signature = "sig-" + version;
  return m;
}

// A stand-in tracker answering every registration with `status`.
struct FakeTracker {
  explicit FakeTracker(int status) : server(Options(), [this, status](http::Request&& req, http::Reply reply) {
    ++calls;
    reply(http::Response::Json(status, status == 200 ? "{\"ok\":true}\n" : "{\"error\":\"wrong admin token\"}\n"));
  }) {
    REQUIRE(server.Start().ok());
    thread = std::thread([this] { server.Run(); });
  }
  ~FakeTracker() {
    server.Stop();
    thread.join();
  }
  static http::ServerOptions Options() {
    http::ServerOptions so;
    so.listen = "127.0.0.1:0";
    return so;
  }
  std::string url() { return "http://" + http::FormatEndpoint(server.local_endpoint()); }
  std::atomic<int> calls{0};
  http::Server server;
  std::thread thread;
};

Registration WaitFor(const Registrar& r, const std::string& id, int attempts) {
  for (int i = 0; i < 200; ++i) {
    Registration g = r.Get(id);
    if (g.attempts >= attempts) return g;
    std::this_thread::sleep_for(20ms);
  }
  return r.Get(id);
}

TEST_CASE("registrar: a refusal is an error retried slowly, not a loop of requests") {
  FakeTracker tracker(401);
  RegistrarOptions o;
  o.tracker_url = tracker.url();
  o.retry_interval = 20ms;  // what a 5xx would get
  Registrar r(o);
  r.Start();
  r.Add(Sample("1"), "torrent");
  Registration g = WaitFor(r, "app@1", 1);
  CHECK(g.state == Registration::State::kRefused);
  CHECK(g.error == "tracker answered 401: {\"error\":\"wrong admin token\"}");
  std::this_thread::sleep_for(600ms);  // 30 retries at the transient pace
  CHECK(tracker.calls == 1);
  CHECK_FALSE(r.Registered("app@1"));
}

TEST_CASE("registrar: an unavailable tracker is retried at the short interval until it accepts") {
  FakeTracker down(503);
  RegistrarOptions o;
  o.tracker_url = down.url();
  o.retry_interval = 20ms;
  Registrar r(o);
  r.Start();
  r.Add(Sample("1"), "torrent");
  Registration g = WaitFor(r, "app@1", 3);
  CHECK(g.state == Registration::State::kPending);
  CHECK(g.attempts >= 3);
  CHECK(g.error.rfind("tracker answered 503", 0) == 0);
}

TEST_CASE("registrar: an accepted registration is reported registered") {
  FakeTracker tracker(200);
  RegistrarOptions o;
  o.tracker_url = tracker.url();
  std::atomic<int> callbacks{0};
  o.on_registered = [&](const std::string& id) { callbacks += id == "app@2"; };
  Registrar r(o);
  r.Start();
  r.Add(Sample("2"), "torrent");
  Registration g = WaitFor(r, "app@2", 1);
  CHECK(g.state == Registration::State::kRegistered);
  CHECK(g.error.empty());
  CHECK(r.Registered("app@2"));
  CHECK(callbacks == 1);
}

}  // namespace
}  // namespace spate::seeder
