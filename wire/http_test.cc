#include "wire/http.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <unistd.h>
#include <thread>
#include <sys/resource.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <ctime>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <atomic>

using namespace spate;
using namespace spate::http;

TEST_CASE("query parsing decodes binary percent-escapes and rejects bad ones") {
  auto q = ParseQuery("info_hash=%00%ff%41b&port=6881&empty=&flag");
  REQUIRE(q.ok());
  REQUIRE(q->size() == 4);
  CHECK((*q)[0].second == std::string("\0\xff" "Ab", 4));
  CHECK((*q)[1] == std::pair<std::string, std::string>("port", "6881"));
  CHECK((*q)[2].second.empty());
  CHECK((*q)[3].first == "flag");
  CHECK_FALSE(ParseQuery("a=%4").ok());
  CHECK_FALSE(ParseQuery("a=%zz").ok());
  CHECK(*UrlDecode(UrlEncode(std::string("\x01 /?&=", 6))) == std::string("\x01 /?&=", 6));
}

TEST_CASE("endpoints parse for v4 and v6 and reject junk") {
  CHECK(ParseEndpoint("127.0.1.2:80")->port() == 80);
  CHECK(ParseEndpoint("[::1]:0")->address().is_v6());
  CHECK_FALSE(ParseEndpoint("localhost:80").ok());
  CHECK_FALSE(ParseEndpoint("1.2.3.4").ok());
  CHECK_FALSE(ParseEndpoint("1.2.3.4:99999").ok());
}

TEST_CASE("server answers a real client, including a delayed reply and a streamed body") {
  auto dir = std::filesystem::temp_directory_path() / ("spate-http-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ServerOptions opts;
  opts.threads = 2;
  opts.on_header = [&](Request& r) -> std::optional<Response> {
    if (r.path == "/secret" && r.bearer_token() != "t0k") return Response::Text(401, "no");
    if (r.path == "/upload") r.body_file = (dir / "up").string();
    return std::nullopt;
  };
  Server server(opts, [&](Request&& r, Reply reply) {
    if (r.path == "/later") {
      std::thread([reply] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        reply(Response::Text(200, "late"));
      }).detach();
      return;
    }
    if (r.path == "/upload") return reply(Response::Text(201, std::to_string(std::filesystem::file_size(r.body_file))));
    reply(Response::Text(200, r.method + " " + r.path + " " + r.body + " from " + r.remote.to_string()));
  });
  REQUIRE(server.Start().ok());
  std::thread t([&] { server.Run(); });
  std::string base = "http://" + FormatEndpoint(server.local_endpoint());

  ClientOptions bind;
  bind.bind_address = "127.0.3.4";
  auto r = Call("POST", base + "/echo", "hi", bind);
  REQUIRE(r.ok());
  CHECK(r->body == "POST /echo hi from 127.0.3.4");
  CHECK(Call("GET", base + "/later", "")->body == "late");
  CHECK(Call("GET", base + "/secret", "")->status == 401);

  // Streamed bodies may exceed max_body (1 MiB); in-memory ones may not.
  std::ofstream(dir / "src") << std::string(3000000, 'x');
  auto up = SendFile("PUT", base + "/upload", (dir / "src").string());
  REQUIRE(up.ok());
  CHECK(up->status == 201);
  CHECK(up->body == "3000000");
  auto big = Call("POST", base + "/echo", std::string(opts.max_body + 1, 'y'));
  REQUIRE(big.ok());
  CHECK(big->status == 413);

  ClientOptions quick;
  quick.timeout = std::chrono::milliseconds(500);
  CHECK_FALSE(Call("GET", "http://127.0.0.1:1/", "", quick).ok());
  server.Stop();
  t.join();
  std::filesystem::remove_all(dir);
}

namespace {

// A raw TCP client from `from`: the server's limits act on connections, not requests.
boost::asio::ip::tcp::socket RawConnect(boost::asio::io_context& io, const std::string& from,
                                        const boost::asio::ip::tcp::endpoint& to) {
  boost::asio::ip::tcp::socket s(io);
  s.open(boost::asio::ip::tcp::v4());
  s.bind({boost::asio::ip::make_address(from), 0});
  s.connect(to);
  return s;
}

// Reads until EOF or `limit`; what the server sent.
std::string ReadSome(boost::asio::ip::tcp::socket& s, std::chrono::milliseconds limit = std::chrono::milliseconds(3000)) {
  timeval tv{long(limit.count() / 1000), long(limit.count() % 1000) * 1000};
  setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  char buf[4096];
  for (;;) {
    boost::system::error_code ec;
    size_t n = s.read_some(boost::asio::buffer(buf), ec);
    out.append(buf, n);
    if (ec) break;
  }
  return out;
}

struct RunningServer {
  Server server;
  std::thread thread;
  RunningServer(ServerOptions o)
      : server(std::move(o), [](Request&& r, Reply reply) { reply(Response::Text(200, "hello " + r.path)); }) {
    REQUIRE(server.Start().ok());
    thread = std::thread([this] { server.Run(); });
  }
  ~RunningServer() {
    server.Stop();
    thread.join();
  }
  std::string base() const { return "http://" + FormatEndpoint(server.local_endpoint()); }
};

}  // namespace

TEST_CASE("server closes connections over the per-address limit at once and counts them") {
  ServerOptions o;
  o.max_connections_per_ip = 3;
  RunningServer rs(o);
  boost::asio::io_context io;
  std::vector<boost::asio::ip::tcp::socket> held;
  for (int i = 0; i < 3; ++i) held.push_back(RawConnect(io, "127.0.5.1", rs.server.local_endpoint()));
  auto extra = RawConnect(io, "127.0.5.1", rs.server.local_endpoint());
  auto t0 = std::chrono::steady_clock::now();
  CHECK(ReadSome(extra).empty());  // EOF with nothing sent
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  CHECK(rs.server.connections_rejected() == 1);

  ClientOptions other;
  other.bind_address = "127.0.5.2";  // another address is unaffected
  auto r = Call("GET", rs.base() + "/x", "", other);
  REQUIRE(r.ok());
  CHECK(r->status == 200);

  held.clear();  // closing frees the slots
  ClientOptions same;
  same.bind_address = "127.0.5.1";
  Result<ClientResult> again = Status::Unavailable("not tried");
  for (int i = 0; i < 50 && !(again.ok() && again->status == 200); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    again = Call("GET", rs.base() + "/y", "", same);
  }
  REQUIRE(again.ok());
  CHECK(again->body == "hello /y");
}

TEST_CASE("server answers malformed requests with 400 and oversized headers with 431") {
  RunningServer rs(ServerOptions{});
  boost::asio::io_context io;
  auto bad = RawConnect(io, "127.0.5.3", rs.server.local_endpoint());
  boost::asio::write(bad, boost::asio::buffer(std::string("GET /x HTTP/1.1\r\nBad Header\r\n\r\n")));
  CHECK(ReadSome(bad).rfind("HTTP/1.1 400", 0) == 0);

  auto big = RawConnect(io, "127.0.5.3", rs.server.local_endpoint());
  std::string req = "GET /announce?" + std::string(64 * 1024, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n";
  boost::system::error_code ec;
  boost::asio::write(big, boost::asio::buffer(req), ec);  // the server may close before reading it all
  CHECK(ReadSome(big).rfind("HTTP/1.1 431", 0) == 0);
}

TEST_CASE("a client that never finishes its header holds only its own connection, until the deadline") {
  ServerOptions o;
  o.idle_timeout = std::chrono::seconds(1);
  RunningServer rs(o);
  boost::asio::io_context io;
  auto slow = RawConnect(io, "127.0.5.4", rs.server.local_endpoint());
  boost::asio::write(slow, boost::asio::buffer(std::string("GET /x HTTP/1.1\r\nHost: x\r\n")));  // no blank line
  auto r = Call("GET", rs.base() + "/fast", "");
  REQUIRE(r.ok());
  CHECK(r->body == "hello /fast");
  auto t0 = std::chrono::steady_clock::now();
  CHECK(ReadSome(slow, std::chrono::milliseconds(5000)).empty());  // closed by the deadline
  auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(waited < std::chrono::seconds(4));
}

TEST_CASE("a second listener on another server's io_context answers on that server's thread") {
  std::thread::id main_thread, second_thread;
  Server main(ServerOptions{}, [&](Request&& r, Reply reply) {
    main_thread = std::this_thread::get_id();
    reply(Response::Text(200, "main " + r.path));
  });
  Handler second_handler = [&](Request&& r, Reply reply) {
    second_thread = std::this_thread::get_id();
    reply(Response::Text(200, "second " + r.path));
  };
  Server second(ServerOptions{}, second_handler, main.io());
  REQUIRE(main.Start().ok());
  REQUIRE(second.Start().ok());
  CHECK(second.local_endpoint().port() != main.local_endpoint().port());
  std::thread t([&] { main.Run(); });
  CHECK(Call("GET", "http://" + FormatEndpoint(main.local_endpoint()) + "/a", "")->body == "main /a");
  CHECK(Call("GET", "http://" + FormatEndpoint(second.local_endpoint()) + "/b", "")->body == "second /b");
  CHECK(main_thread == second_thread);
  // Stopping the second closes only its listener; the shared context runs on.
  const std::string second_base = "http://" + FormatEndpoint(second.local_endpoint());
  second.Stop();
  ClientOptions quick;
  quick.timeout = std::chrono::milliseconds(1000);
  Result<ClientResult> after = Status::Unavailable("not tried");
  for (int i = 0; i < 20; ++i) {  // the close is posted to the io thread
    after = Call("GET", second_base + "/c", "", quick);
    if (!after.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK_FALSE(after.ok());
  CHECK(Call("GET", "http://" + FormatEndpoint(main.local_endpoint()) + "/d", "")->body == "main /d");
  main.Stop();
  t.join();
}

TEST_CASE("server closes connections over the total limit at once and counts them") {
  ServerOptions o;
  o.max_connections = 3;
  o.max_connections_per_ip = 0;
  RunningServer rs(o);
  CHECK(rs.server.max_connections() == 3);
  boost::asio::io_context io;
  std::vector<boost::asio::ip::tcp::socket> held;
  for (int i = 1; i <= 3; ++i)
    held.push_back(RawConnect(io, "127.0.6." + std::to_string(i), rs.server.local_endpoint()));
  auto extra = RawConnect(io, "127.0.6.4", rs.server.local_endpoint());  // a fresh address: the total is what is full
  CHECK(ReadSome(extra).empty());
  CHECK(rs.server.connections_rejected() == 1);

  held.pop_back();  // one slot frees
  Result<ClientResult> again = Status::Unavailable("not tried");
  for (int i = 0; i < 50 && !(again.ok() && again->status == 200); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    again = Call("GET", rs.base() + "/z", "");
  }
  REQUIRE(again.ok());
  CHECK(again->body == "hello /z");
}

TEST_CASE("the default total limit is half the open-file limit") {
  rlimit nofile{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &nofile) == 0);
  RunningServer rs(ServerOptions{});
  if (nofile.rlim_cur == RLIM_INFINITY)
    CHECK(rs.server.max_connections() == 0);
  else
    CHECK(rs.server.max_connections() == int(std::min<rlim_t>(nofile.rlim_cur / 2, INT32_MAX)));
}

namespace {

std::chrono::nanoseconds ProcessCpu() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

// Takes every free descriptor below a lowered open-file limit; gives them
// and the old limit back on destruction, whatever the test's outcome.
class ExhaustDescriptors {
 public:
  ExhaustDescriptors() {
    ::getrlimit(RLIMIT_NOFILE, &old_);
    rlimit low = old_;
    low.rlim_cur = 256;  // few to fill, far above what the test binary holds
    ::setrlimit(RLIMIT_NOFILE, &low);
    for (;;) {
      int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        errno_ = errno;
        break;
      }
      fds_.push_back(fd);
    }
  }
  ~ExhaustDescriptors() { Release(); }
  void Release() {
    for (int fd : fds_) ::close(fd);
    fds_.clear();
    ::setrlimit(RLIMIT_NOFILE, &old_);
  }
  int error() const { return errno_; }

 private:
  rlimit old_{};
  std::vector<int> fds_;
  int errno_ = 0;
};

}  // namespace

TEST_CASE("a server out of descriptors backs off instead of spinning, and serves the waiting client once one frees") {
#if defined(__SANITIZE_ADDRESS__)
  // UBSan checks a virtual call's dynamic type by writing to a pipe the first
  // time it meets it; with no descriptor left that write fails and it reports
  // the object (spdlog's logger, fmt's buffer, ...) as invalid. The Release
  // run (scripts/test) covers this case.
  WARN("skipped under the sanitizers: they need descriptors the test takes away");
  return;
#endif
  ServerOptions o;
  o.max_connections = 0;  // nothing stops accepting short of the kernel
  RunningServer rs(o);
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket client(io);
  client.open(boost::asio::ip::tcp::v4());  // its descriptor, before they run out
  ExhaustDescriptors exhausted;
  // No assertion until the descriptors are back: Catch needs none, but UBSan does.
  const int exhausted_with = exhausted.error();
  // The kernel completes the handshake from its backlog; the server's accept fails.
  client.connect(rs.server.local_endpoint());
  boost::asio::write(client, boost::asio::buffer(std::string("GET /late HTTP/1.1\r\nHost: x\r\n\r\n")));
  auto cpu0 = ProcessCpu();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  auto spent = ProcessCpu() - cpu0;
  exhausted.Release();
  REQUIRE(exhausted_with == EMFILE);
  // Retrying at once would keep the io thread busy the whole second.
  CHECK(spent < std::chrono::milliseconds(250));
  CHECK(ReadSome(client).rfind("HTTP/1.1 200", 0) == 0);
}

TEST_CASE("a streamed upload that stalls is closed at the idle deadline, a slow one that keeps sending completes") {
  auto dir = std::filesystem::temp_directory_path() / ("spate-http-idle-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ServerOptions o;
  o.upload_idle_timeout = std::chrono::seconds(1);
  o.on_header = [&](Request& r) -> std::optional<Response> {
    r.body_file = (dir / r.remote.to_string()).string();
    return std::nullopt;
  };
  Server server(o, [](Request&& r, Reply reply) {
    reply(Response::Text(201, std::to_string(std::filesystem::file_size(r.body_file))));
  });
  REQUIRE(server.Start().ok());
  std::thread t([&] { server.Run(); });
  boost::asio::io_context io;
  const std::string head = "PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nConnection: close\r\n\r\n";

  auto stalled = RawConnect(io, "127.0.7.1", server.local_endpoint());
  boost::asio::write(stalled, boost::asio::buffer(head + std::string(10, 's')));
  auto t0 = std::chrono::steady_clock::now();
  CHECK(ReadSome(stalled, std::chrono::milliseconds(5000)).empty());  // closed without an answer
  auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(waited > std::chrono::milliseconds(800));
  CHECK(waited < std::chrono::seconds(3));

  // 2.4 s in all, more than the deadline, but never 1 s without a byte.
  auto slow = RawConnect(io, "127.0.7.2", server.local_endpoint());
  boost::asio::write(slow, boost::asio::buffer(head));
  for (int i = 0; i < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(600));
    boost::asio::write(slow, boost::asio::buffer(std::string(10, 'o')));
  }
  CHECK(ReadSome(slow).find("\r\n\r\n40") != std::string::npos);
  server.Stop();
  t.join();
  std::filesystem::remove_all(dir);
}

TEST_CASE("a held request whose client hangs up frees its connection and tells the handler") {
  ServerOptions o;
  o.max_connections = 1;  // the held connection is the only one: a new call gets in only if it was freed
  o.max_connections_per_ip = 0;
  std::atomic<int> hangups{0};
  std::vector<Reply> held;  // on the io thread only
  Server server(o, [&](Request&& r, Reply reply) {
    if (r.path != "/hold") return reply(Response::Text(200, "quick"));
    *r.on_hangup = [&] { ++hangups; };
    held.push_back(std::move(reply));
  });
  REQUIRE(server.Start().ok());
  std::thread thread([&] { server.Run(); });

  boost::asio::io_context io;
  {
    auto s = RawConnect(io, "127.0.7.1", server.local_endpoint());
    boost::asio::write(s, boost::asio::buffer(std::string("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    CHECK(hangups == 0);  // still held while the client waits
  }  // the client goes away
  for (int i = 0; i < 100 && hangups == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(hangups == 1);
  auto quick = Call("GET", "http://" + FormatEndpoint(server.local_endpoint()) + "/q", "");
  REQUIRE(quick.ok());
  CHECK(quick->status == 200);
  CHECK(server.connections_rejected() == 0);
  // Answering the abandoned request later is harmless.
  boost::asio::post(server.io(), [&] {
    for (auto& r : held) r(Response::Text(200, "late"));
  });

  // A client that pipelines its next request while it waits has not hung up.
  auto s = RawConnect(io, "127.0.7.2", server.local_endpoint());
  boost::asio::write(
      s, boost::asio::buffer(std::string("GET /hold HTTP/1.1\r\nHost: x\r\n\r\nGET /q HTTP/1.1\r\nHost: x\r\n\r\n")));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // past one recheck
  CHECK(hangups == 1);
  boost::asio::post(server.io(), [&] { held.back()(Response::Text(200, "answered")); });
  std::string got;
  for (int i = 0; i < 20 && got.find("quick") == std::string::npos; ++i)
    got += ReadSome(s, std::chrono::milliseconds(200));
  CHECK(got.find("answered") != std::string::npos);
  CHECK(got.find("quick") != std::string::npos);  // the pipelined request was kept and served
  server.Stop();
  thread.join();
  held.clear();  // the replies keep their connections: gone before the server's io_context
}

TEST_CASE("a Connection sends many requests on one TCP connection and opens another only when it must") {
  ServerOptions o;
  o.max_connections_per_ip = 1;  // while the kept connection is open, no other from its address gets in
  o.idle_timeout = std::chrono::seconds(1);
  std::atomic<int> holds{0};
  std::vector<Reply> held;  // on the io thread only
  Server server(o, [&](Request&& r, Reply reply) {
    if (r.path != "/hold") return reply(Response::Text(200, r.method + " " + r.path + " " + r.body));
    ++holds;
    held.push_back(std::move(reply));
  });
  REQUIRE(server.Start().ok());
  std::thread thread([&] { server.Run(); });
  const std::string base = "http://" + FormatEndpoint(server.local_endpoint());
  ClientOptions from;
  from.bind_address = "127.0.7.9";

  Connection c;
  for (int i = 0; i < 5; ++i) {
    auto r = c.Call("POST", base + "/r" + std::to_string(i), "n" + std::to_string(i), from);
    REQUIRE(r.ok());
    CHECK(r->body == "POST /r" + std::to_string(i) + " n" + std::to_string(i));
  }
  CHECK(c.connects() == 1);
  REQUIRE(c.open());
  // The server holds it too: a second connection from the address is over the limit.
  CHECK_FALSE(Call("GET", base + "/other", "", from).ok());
  CHECK(server.connections_rejected() == 1);

  // The server closes it after its idle timeout; the next request goes out again on a new one.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto again = c.Call("GET", base + "/after-idle", "", from);
  REQUIRE(again.ok());
  CHECK(again->body == "GET /after-idle ");
  CHECK(c.connects() == 2);

  // "Connection: close" is honoured: answered, then closed, and the next request reconnects.
  ClientOptions closing = from;
  closing.headers = {{"Connection", "close"}};
  CHECK(c.Call("GET", base + "/last", "", closing)->status == 200);
  CHECK_FALSE(c.open());
  CHECK(c.Call("GET", base + "/next", "", from)->status == 200);
  CHECK(c.connects() == 3);

  // Another bind address is another connection, even to the same server.
  ClientOptions elsewhere;
  elsewhere.bind_address = "127.0.7.10";
  CHECK(c.Call("GET", base + "/x", "", elsewhere)->body == "GET /x ");
  CHECK(c.connects() == 4);

  // A request that times out on a kept connection was delivered and may be
  // in progress: it is not sent a second time.
  ClientOptions impatient = elsewhere;
  impatient.timeout = std::chrono::milliseconds(300);
  CHECK_FALSE(c.Call("POST", base + "/hold", "once", impatient).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(holds == 1);
  CHECK_FALSE(c.open());
  server.Stop();
  thread.join();
  held.clear();  // the replies keep their connections: gone before the server's io_context
}

TEST_CASE("a failed call says whether the request left: only one that never did is NotSent") {
  auto refused = Call("POST", "http://127.0.0.1:1/x", "{}");  // nobody listens on port 1
  REQUIRE_FALSE(refused.ok());
  CHECK(NotSent(refused.status()));
  CHECK(refused.status().message().rfind("POST http://127.0.0.1:1/x: no connection: ", 0) == 0);

  // Takes the request and hangs up without an answer: it may have acted on it.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  std::thread hang_up([&] {
    auto s = acceptor.accept();
    char buf[4096];
    boost::system::error_code ec;
    s.read_some(boost::asio::buffer(buf), ec);
  });
  auto hung = Call("POST", "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()) + "/x", "{}");
  hang_up.join();
  REQUIRE_FALSE(hung.ok());
  CHECK(hung.status().code() == Status::Code::kUnavailable);
  CHECK_FALSE(NotSent(hung.status()));
  CHECK_FALSE(NotSent(Status::Invalid("POST x: no connection: y")));
}
