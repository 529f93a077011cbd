#include "tracker/udp_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>

#include "tracker/udp_test_packets.h"

namespace spate {
namespace {

namespace asio = boost::asio;
using asio::ip::udp;

using udp_test::Connect;

TEST_CASE("a burst larger than one batch is answered whole, with no packet after it to wake the server") {
  asio::io_context io;
  UdpServerOptions o;
  o.listen = "127.0.0.1:0";
  o.batch = 4;
  UdpServer server(
      o, io, [](const AnnounceRequest&, const asio::ip::address&) -> Result<AnnounceReply> { return AnnounceReply{}; },
      [](const std::vector<std::string>&, std::vector<ScrapeEntry>*) {});
  REQUIRE(server.Start().ok());

  udp::socket client(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const int kBurst = 25;
  for (int i = 0; i < kBurst; ++i) client.send_to(asio::buffer(Connect(uint32_t(i + 1))), server.local_endpoint());

  // All of the burst waits in the socket before the server looks: one wake-up sees it all.
  int answered = 0;
  char buf[64];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (answered < kBurst && std::chrono::steady_clock::now() < deadline) {
    io.run_for(std::chrono::milliseconds(20));
    while (client.available() > 0) {
      client.receive(asio::buffer(buf));
      ++answered;
    }
  }
  CHECK(answered == kBurst);
  CHECK(server.counters().connects == uint64_t(kBurst));
}

}  // namespace
}  // namespace spate
