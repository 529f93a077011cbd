// The push service on a real http::Server in this process, driven by real
// clients from 127.0.R.H: what only shows across turns of the io loop.
#include "push/service.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/cluster.h"
#include "wire/crypto.h"

namespace spate::push {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
using nlohmann::json;
using namespace std::chrono_literals;

const char* kAdmin = "service-test-admin-0123456789";

struct NoSwarms : Swarms {
  Status Serve(const std::string&, const std::string&, uint64_t, const std::string&) override { return Status::Ok(); }
  std::optional<GatewayShare> GatewayOf(const std::string&, const std::string&) const override { return std::nullopt; }
};

// A Service behind an http::Server on 127.0.0.1:0, its io on a thread of its
// own. Stops the server and joins the thread before the service goes, and the
// service (with the replies of any long polls it still holds) before the
// server and its io_context.
struct Served {
  testing::TempDir dir{"spate-service"};
  Rackmap rackmap;
  NoSwarms swarms;
  std::unique_ptr<http::Server> server;
  std::unique_ptr<Service> service;
  std::thread thread;

  explicit Served(ServiceOptions o) {
    spdlog::set_level(spdlog::level::err);  // the startup warnings about tokens are expected here
    o.db_path = dir / "t.db";
    REQUIRE(LoadAccess("", kAdmin, &o).ok());
    server = std::make_unique<http::Server>(http::ServerOptions{}, [this](http::Request&& req, http::Reply reply) {
      if (!service->Handle(req, reply)) reply(http::Response::Text(404, "no such page\n"));
    });
    auto s = Service::Create(o, rackmap, swarms, server->io());
    REQUIRE(s.ok());
    service = std::move(*s);
    service->Start();
    REQUIRE(server->Start().ok());
    thread = std::thread([this] { server->Run(); });
  }
  ~Served() {
    server->Stop();
    thread.join();
    service.reset();
    server.reset();
  }
  std::string base() const { return "http://" + http::FormatEndpoint(server->local_endpoint()); }
  // Held long polls, read on the io thread (the service is not thread-safe).
  size_t LongPolls() {
    std::promise<size_t> n;
    asio::post(server->io(), [&] { n.set_value(service->Stats()["long_polls"].get<size_t>()); });
    return n.get_future().get();
  }
  http::ClientOptions Admin() const {
    http::ClientOptions c;
    c.headers = {{"Authorization", std::string("Bearer ") + kAdmin}, {"Content-Type", "application/json"}};
    return c;
  }
  // A made-up artifact: the service checks neither torrent bytes nor hashes.
  void Register(const std::string& name, const std::string& version) {
    json m{{"name", name},
           {"version", version},
           {"filename", name + ".tar"},
           {"size", 1000},
           {"sha256", std::string(64, 'a')},
           {"info_hash", std::string(40, 'b')},
           {"piece_size", 16384},
           {"created_at", 0}};
    json body{{"manifest", m}, {"torrent", Base64Encode("d4:infod6:lengthi1000eee")}};
    auto r = http::Call("POST", base() + "/api/v1/artifacts", body.dump(), Admin());
    REQUIRE(r.ok());
    REQUIRE(r->status == 200);
  }
};

// One long poll on a connection of its own, from the host's own address.
struct Poll {
  tcp::socket socket;
  beast::flat_buffer buffer;
  beast::http::request<beast::http::string_body> request;
  beast::http::response<beast::http::string_body> response;
  boost::system::error_code ec;
  bool done = false;
  std::chrono::steady_clock::time_point done_at;

  Poll(asio::io_context& io, const std::string& from, const tcp::endpoint& to, const std::string& target)
      : socket(io), request(beast::http::verb::get, target, 11) {
    request.set(beast::http::field::host, http::FormatEndpoint(to));
    socket.open(tcp::v4());
    socket.bind({asio::ip::make_address(from), 0});
    socket.async_connect(to, [this](boost::system::error_code e) {
      if (e) return Finish(e);
      beast::http::async_write(socket, request, [this](boost::system::error_code e, size_t) {
        if (e) return Finish(e);
        beast::http::async_read(socket, buffer, response, [this](boost::system::error_code e, size_t) { Finish(e); });
      });
    });
  }
  void Finish(boost::system::error_code e) {
    ec = e;
    done = true;
    done_at = std::chrono::steady_clock::now();
  }
};

// Each held poll takes two descriptors here (client and server side).
void RaiseFileLimit(rlim_t want) {
  rlimit r{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &r) == 0);
  if (r.rlim_cur != RLIM_INFINITY && r.rlim_cur < want) {
    r.rlim_cur = r.rlim_max == RLIM_INFINITY ? want : std::min(want, r.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &r);
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &r) == 0);
  }
  INFO("open-file limit " << r.rlim_cur << ", the test needs " << want);
  REQUIRE((r.rlim_cur == RLIM_INFINITY || r.rlim_cur >= want));
}

// What a push to `hosts` held long polls saw: how many were answered with the
// push within 2 s, the time from just before the push was created to the last
// answer, and the first host that was not answered.
struct WakeResult {
  int notified = 0;
  std::chrono::milliseconds last{0};
  std::string first_problem;
  size_t held_after = 0;
};
WakeResult PushToHeldPolls(const ServiceOptions& o, int host_count) {
  RaiseFileLimit(2 * host_count + 200);
  Served s(o);
  s.Register("web", "1");

  // Each host checks in from its own 127.0.R.H, as a fetcher does, and learns
  // its generation; then it asks again with that generation, and is held.
  std::vector<std::string> hosts, addrs;
  std::vector<int64_t> generations;
  for (int i = 0; i < host_count; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "h%03d", i);
    hosts.push_back(id);
    addrs.push_back("127.0." + std::to_string(1 + i / 200) + "." + std::to_string(1 + i % 200));
    http::ClientOptions from;
    from.bind_address = addrs.back();
    auto r = http::Call("GET", s.base() + "/api/v1/hosts/" + id + "/assignments?wait=0", "", from);
    REQUIRE(r.ok());
    REQUIRE(r->status == 200);
    generations.push_back(json::parse(r->body)["generation"].get<int64_t>());
  }
  asio::io_context io;
  std::vector<std::unique_ptr<Poll>> polls;
  for (int i = 0; i < host_count; ++i)
    polls.push_back(std::make_unique<Poll>(
        io, addrs[i], s.server->local_endpoint(),
        "/api/v1/hosts/" + hosts[i] + "/assignments?wait=60&generation=" + std::to_string(generations[i])));
  auto count_done = [&] {
    int n = 0;
    for (const auto& p : polls) n += p->done;
    return n;
  };
  for (auto until = std::chrono::steady_clock::now() + 10s;
       s.LongPolls() < size_t(host_count) && std::chrono::steady_clock::now() < until;)
    io.run_for(10ms);
  REQUIRE(s.LongPolls() == size_t(host_count));
  REQUIRE(count_done() == 0);

  const auto before_push = std::chrono::steady_clock::now();
  auto r =
      http::Call("POST", s.base() + "/api/v1/pushes", json{{"artifact", "web@1"}, {"hosts", hosts}}.dump(), s.Admin());
  REQUIRE(r.ok());
  {
    INFO(r->body);
    REQUIRE(r->status == 200);
  }
  const int64_t push_id = json::parse(r->body)["id"].get<int64_t>();
  const auto pushed = std::chrono::steady_clock::now();

  // Nothing is sent from here on: only the service's own io loop can answer.
  while (count_done() < host_count && std::chrono::steady_clock::now() < pushed + 2s) io.run_for(5ms);
  WakeResult out;
  auto last = before_push;
  for (const auto& p : polls)
    if (p->done) last = std::max(last, p->done_at);
  out.last = std::chrono::duration_cast<std::chrono::milliseconds>(last - before_push);
  for (int i = 0; i < host_count; ++i) {
    const Poll& p = *polls[i];
    bool ok = p.done && !p.ec && p.response.result_int() == 200;
    if (ok) {
      auto j = json::parse(p.response.body(), nullptr, false);
      ok = j.is_object() && j.value("generation", int64_t(-1)) > generations[i] && j["assignments"].size() == 1 &&
           j["assignments"][0].value("push_id", int64_t(0)) == push_id;
    }
    out.notified += ok;
    if (!ok && out.first_problem.empty())
      out.first_problem = hosts[i] + (p.done ? ": " + p.ec.message() + ", HTTP " +
                                                   std::to_string(p.response.result_int()) + " " + p.response.body()
                                             : ": still held");
  }
  out.held_after = s.LongPolls();
  return out;
}

// A push wakes at most 200 held polls at once (WakeSlice, here); the rest must
// be answered by WakeSlice scheduling itself again, since nothing else
// arrives to wake them: no request follows the push, and the tick that
// would also wake them is an hour away.
TEST_CASE("a push to 450 held long polls answers them all within 2 s, with no request after it") {
  ServiceOptions o;
  o.flush_interval = std::chrono::hours(1);
  o.wake_slice_hosts = 200;  // past two slices: the continuation must run twice
  o.wake_rate = 0;
  WakeResult r = PushToHeldPolls(o, 450);
  INFO("last answered after " << r.last.count() << " ms; first host not notified: " << r.first_problem);
  CHECK(r.notified == 450);
  CHECK(r.held_after == 0);
}

// Paced: 400 hosts at 1,000 a second, 50 a slice: the first slice goes when
// the push is created, the last 0.35 s later, by the timer alone, and every
// poll is answered. A slow build only adds to that. (Unpaced, all 400 are
// answered within a few tens of ms.)
TEST_CASE("a wake rate spreads a push's answers over the time it allows, and answers every poll") {
  ServiceOptions o;
  o.flush_interval = std::chrono::hours(1);
  o.wake_slice_hosts = 50;
  o.wake_rate = 1000;
  WakeResult r = PushToHeldPolls(o, 400);
  INFO("last answered after " << r.last.count() << " ms; first host not notified: " << r.first_problem);
  CHECK(r.notified == 400);
  CHECK(r.held_after == 0);
  CHECK(r.last >= 350ms);
}

}  // namespace
}  // namespace spate::push
