#include "fetcher/cross_rack.h"

#include <catch2/catch.hpp>

namespace spate {
namespace {

uint32_t ClassOf(const lt::ip_filter& f, const char* addr) { return f.access(lt::make_address(addr)); }

TEST_CASE("cidr bounds cover exactly the prefix, v4 and v6") {
  auto b = CidrBounds("127.0.3.0/24");
  REQUIRE(b.ok());
  CHECK(b->first.to_string() == "127.0.3.0");
  CHECK(b->second.to_string() == "127.0.3.255");
  b = CidrBounds("10.1.2.7");
  REQUIRE(b.ok());
  CHECK(b->first == b->second);
  b = CidrBounds("0.0.0.0/0");
  REQUIRE(b.ok());
  CHECK(b->second.to_string() == "255.255.255.255");
  b = CidrBounds("2001:db8:1::/44");
  REQUIRE(b.ok());
  CHECK(b->first.to_string() == "2001:db8::");
  CHECK(b->second.to_string() == "2001:db8:f:ffff:ffff:ffff:ffff:ffff");
  for (const char* bad : {"", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/x", "nope/8", "::/129", "10.0.0.0/-1"}) {
    INFO(bad);
    CHECK_FALSE(CidrBounds(bad).ok());
  }
}

TEST_CASE("rack class filter: own rack global only, everything else also cross-rack, nested racks carved out") {
  const uint32_t global = 1, cross = 1 | (1u << 5);
  auto f = RackClassFilter({{"127.0.3.0/24", true}, {"127.0.3.128/25", false}, {"127.0.3.200", true}}, 5);
  REQUIRE(f.ok());
  CHECK(ClassOf(*f, "127.0.3.1") == global);
  CHECK(ClassOf(*f, "127.0.3.127") == global);
  CHECK(ClassOf(*f, "127.0.3.128") == cross);
  CHECK(ClassOf(*f, "127.0.3.200") == global);
  CHECK(ClassOf(*f, "127.0.4.1") == cross);
  CHECK(ClassOf(*f, "127.0.0.2") == cross);
  CHECK(ClassOf(*f, "::1") == cross);
  CHECK_FALSE(RackClassFilter({{"bogus", true}}, 5).ok());
}

}  // namespace
}  // namespace spate
