#include "tracker/conn_id.h"

#include <catch2/catch.hpp>

namespace spate {
namespace {

namespace ip = boost::asio::ip;

TEST_CASE("connection ids are valid for their bucket and the next, then expire") {
  auto ids = ConnectionIds::Create(std::string(32, 's'), std::chrono::seconds(60));
  REQUIRE(ids.ok());
  auto a = ip::make_address("127.0.1.2");
  int64_t t = 6000;  // start of a bucket
  uint64_t id = (*ids)->Issue(a, t);
  CHECK((*ids)->Valid(id, a, t));
  CHECK((*ids)->Valid(id, a, t + 59));
  CHECK((*ids)->Valid(id, a, t + 119));  // previous bucket still accepted
  CHECK_FALSE((*ids)->Valid(id, a, t + 120));
  CHECK_FALSE((*ids)->Valid(id, a, t - 1));  // not before it was made
}

TEST_CASE("connection ids are bound to the client address and the secret") {
  auto ids = ConnectionIds::Create(std::string(32, 's'));
  auto other = ConnectionIds::Create(std::string(32, 't'));
  REQUIRE(ids.ok());
  REQUIRE(other.ok());
  auto a = ip::make_address("127.0.1.2");
  uint64_t id = (*ids)->Issue(a, 1000);
  CHECK_FALSE((*ids)->Valid(id, ip::make_address("127.0.1.3"), 1000));
  CHECK_FALSE((*other)->Valid(id, a, 1000));
  CHECK_FALSE((*ids)->Valid(id ^ 1, a, 1000));
  // The IPv4-mapped form of an address is the same client.
  CHECK((*ids)->Valid(id, ip::make_address("::ffff:127.0.1.2"), 1000));
}

TEST_CASE("connection ids refuse a short secret, an empty one is random") {
  CHECK_FALSE(ConnectionIds::Create("short").ok());
  auto x = ConnectionIds::Create();
  auto y = ConnectionIds::Create();
  REQUIRE(x.ok());
  REQUIRE(y.ok());
  auto a = ip::make_address("::1");
  CHECK((*x)->Issue(a, 5) != (*y)->Issue(a, 5));
}

}  // namespace
}  // namespace spate
