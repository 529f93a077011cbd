#include "wire/graphite.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

namespace spate {
namespace {

using namespace std::chrono_literals;

// A listening socket on 127.0.0.1 standing in for carbon's plaintext port.
struct Listener {
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 4) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~Listener() { ::close(fd); }
  int fd = -1;
  int port = 0;
};

TEST_CASE("graphite sender delivers plaintext lines every interval over one connection") {
  Listener carbon;
  std::atomic<int> calls{0};
  GraphiteSender sender({"127.0.0.1:" + std::to_string(carbon.port), "spate.test.h1", 50ms, 1000ms}, [&] {
    Metrics m;
    m.Counter("spate_test_rounds_total", "Rounds.", ++calls);
    return m;
  });
  REQUIRE(sender.Start().ok());
  int conn = ::accept(carbon.fd, nullptr, nullptr);
  REQUIRE(conn >= 0);
  std::string got;
  char buf[4096];
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::count(got.begin(), got.end(), '\n') < 3 && std::chrono::steady_clock::now() < deadline) {
    ssize_t n = ::recv(conn, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, size_t(n));
  }
  sender.Stop();
  ::close(conn);
  INFO(got);
  CHECK(got.rfind("spate.test.h1.spate_test_rounds_total 1 ", 0) == 0);
  CHECK(got.find("\nspate.test.h1.spate_test_rounds_total 2 ") != std::string::npos);
  CHECK(sender.rounds_sent() >= 3);
}

TEST_CASE("graphite sender with nobody listening counts failures and stops at once") {
  int port;
  {
    Listener gone;
    port = gone.port;
  }
  GraphiteSender sender({"127.0.0.1:" + std::to_string(port), "p", 20ms, 200ms}, [] { return Metrics(); });
  REQUIRE(sender.Start().ok());
  std::this_thread::sleep_for(300ms);
  auto t0 = std::chrono::steady_clock::now();
  sender.Stop();
  CHECK(std::chrono::steady_clock::now() - t0 < 500ms);
  CHECK(sender.rounds_failed() >= 3);
  CHECK(sender.rounds_sent() == 0);
}

TEST_CASE("graphite sender refuses an address that is not IP:PORT") {
  GraphiteSender sender({"carbon", "p"}, [] { return Metrics(); });
  Status s = sender.Start();
  CHECK(s.code() == Status::Code::kInvalid);
  CHECK(s.message().find("--graphite carbon") == 0);
}

}  // namespace
}  // namespace spate
