#include "rackmap/rackmap.h"

#include <catch2/catch.hpp>
#include <chrono>

namespace spate {
namespace {

const char* kMap = R"(# test map
10.0.0.0/8        dc1/podA/r1   # catch-all for dc1

10.1.0.0/16       dc1/podB/r2
10.1.2.0/24       dc1/podB/r3
10.1.2.7          dc1/podB/r4
  192.168.0.0/16  dc2/p/r
2001:db8::/32     dc3/p6/r6
2001:db8:1::/48   dc3/p6/r7
)";

Rackmap MustParse(const std::string& text) {
  auto m = Rackmap::Parse(text, "test.map");
  INFO(m.status().message());
  REQUIRE(m.ok());
  return *m;
}

std::string ErrorOf(const std::string& text) {
  auto m = Rackmap::Parse(text, "test.map");
  REQUIRE_FALSE(m.ok());
  return m.status().message();
}

TEST_CASE("rackmap parses comments, blank lines and IPv6, and summarizes") {
  auto m = MustParse(kMap);
  auto s = m.Summary();
  CHECK(s.ranges == 7);
  CHECK(s.dcs == 3);
  CHECK(s.pods == 4);  // dc1/podA dc1/podB dc2/p dc3/p6
  CHECK(s.racks == 7);
  CHECK(MustParse("").Summary().ranges == 0);
  CHECK(MustParse("# only\n\n   \n").Summary().ranges == 0);
}

TEST_CASE("rackmap lookups pick the longest prefix") {
  auto m = MustParse(kMap);
  CHECK(m.Lookup("10.9.9.9").ToString() == "dc1/podA/r1");
  CHECK(m.Lookup("10.1.9.9").ToString() == "dc1/podB/r2");
  CHECK(m.Lookup("10.1.2.6").ToString() == "dc1/podB/r3");
  CHECK(m.Lookup("10.1.2.7").ToString() == "dc1/podB/r4");
  CHECK(m.Lookup("192.168.200.1").ToString() == "dc2/p/r");
  CHECK(m.Lookup("11.0.0.1").ToString() == "unknown");
  CHECK_FALSE(m.Lookup("11.0.0.1").known());
  CHECK(m.Lookup("2001:db8:2::1").ToString() == "dc3/p6/r6");
  CHECK(m.Lookup("2001:db8:1:ffff::1").ToString() == "dc3/p6/r7");
  CHECK(m.Lookup("2001:db9::1").ToString() == "unknown");
  CHECK(m.Lookup("::ffff:10.1.2.7").ToString() == "dc1/podB/r4");  // v4-mapped is v4
  CHECK(m.Lookup("not-an-ip").ToString() == "unknown");
}

std::string Rules(const std::vector<RackRange>& rs) {
  std::string out;
  for (const auto& r : rs) out += (out.empty() ? "" : " ") + std::string(r.local ? "+" : "-") + r.cidr;
  return out;
}

TEST_CASE("rackmap lists a rack's ranges with nested ranges of other racks carved out, shortest first") {
  Rackmap m = MustParse(kMap);
  CHECK(Rules(m.RangesOf(Location{"dc1", "podA", "r1"})) == "+10.0.0.0/8 -10.1.0.0/16 -10.1.2.0/24 -10.1.2.7/32");
  CHECK(Rules(m.RangesOf(Location{"dc1", "podB", "r3"})) == "+10.1.2.0/24 -10.1.2.7/32");
  CHECK(Rules(m.RangesOf(Location{"dc1", "podB", "r4"})) == "+10.1.2.7/32");
  CHECK(Rules(m.RangesOf(Location{"dc3", "p6", "r6"})) == "+2001:db8::/32 -2001:db8:1::/48");
  CHECK(m.RangesOf(Location{}).empty());
  CHECK(m.RangesOf(Location{"dc9", "p", "r"}).empty());
  // A rack with two ranges lists both.
  Rackmap two = MustParse("10.0.1.0/24 d/p/a\n10.0.9.0/24 d/p/a\n10.0.2.0/24 d/p/b\n");
  CHECK(Rules(two.RangesOf(Location{"d", "p", "a"})) == "+10.0.1.0/24 +10.0.9.0/24");
}

TEST_CASE("rackmap zero-length prefix covers everything of its family only") {
  auto m = MustParse("0.0.0.0/0 a/b/c\n");
  CHECK(m.Lookup("1.2.3.4").ToString() == "a/b/c");
  CHECK(m.Lookup("::1").ToString() == "unknown");
}

TEST_CASE("rackmap errors carry file and line") {
  CHECK(ErrorOf("\n# x\n10.0.0.0/8\n") == "test.map:3: range '10.0.0.0/8' has no location (want CIDR dc/pod/rack)");
  CHECK(ErrorOf("10.0.0.0/33 a/b/c\n").rfind("test.map:1: bad CIDR '10.0.0.0/33'", 0) == 0);
  CHECK(ErrorOf("10.0.0.0/ a/b/c\n").rfind("test.map:1: bad CIDR", 0) == 0);
  CHECK(ErrorOf("10.0.0.0/-1 a/b/c\n").rfind("test.map:1: bad CIDR", 0) == 0);
  CHECK(ErrorOf("10.0.0.300/8 a/b/c\n").rfind("test.map:1: bad CIDR", 0) == 0);
  CHECK(ErrorOf("ok/8 a/b/c\n").rfind("test.map:1: bad CIDR", 0) == 0);
  CHECK(ErrorOf("a/b/c/8 a/b/c\n").rfind("test.map:1: bad CIDR", 0) == 0);
  CHECK(ErrorOf("10.1.2.3/8 a/b/c\n").find("host bits") != std::string::npos);
  CHECK(ErrorOf("2001:db8::/129 a/b/c\n").rfind("test.map:1:", 0) == 0);
  CHECK(ErrorOf("10.0.0.0/8 a/b\n").rfind("test.map:1: bad location 'a/b'", 0) == 0);
  CHECK(ErrorOf("10.0.0.0/8 a/b/c/d\n").rfind("test.map:1: bad location", 0) == 0);
  CHECK(ErrorOf("10.0.0.0/8 a//c\n").rfind("test.map:1: bad location", 0) == 0);
  CHECK(ErrorOf("10.0.0.0/8 a/b/c$\n").rfind("test.map:1: bad location", 0) == 0);
  CHECK(ErrorOf("10.0.0.0/8 a/b/c extra\n").rfind("test.map:1: unexpected 'extra'", 0) == 0);
}

TEST_CASE("rackmap rejects a range listed twice, naming both lines") {
  auto e = ErrorOf("10.0.0.0/8 a/b/c\n\n10.0.0.0/8 a/b/d\n");
  CHECK(e.rfind("test.map:3:", 0) == 0);
  CHECK(e.find("line 1") != std::string::npos);
  CHECK(e.find("a/b/c") != std::string::npos);
  CHECK(e.find("a/b/d") != std::string::npos);
  // Different prefix lengths of the same address are distinct ranges.
  CHECK(MustParse("10.0.0.0/8 a/b/c\n10.0.0.0/16 a/b/d\n").Summary().ranges == 2);
}

TEST_CASE("rackmap distance: rack < pod < dc < elsewhere, unknown is farthest") {
  Location r1{"dc1", "p1", "r1"}, r2{"dc1", "p1", "r2"}, p2{"dc1", "p2", "r1"}, d2{"dc2", "p1", "r1"}, unk;
  CHECK(LocationDistance(r1, r1) == kSameRack);
  CHECK(LocationDistance(r1, r2) == kSamePod);
  CHECK(LocationDistance(r1, p2) == kSameDc);
  CHECK(LocationDistance(r1, d2) == kElsewhere);
  CHECK(LocationDistance(r1, unk) == kElsewhere);
  CHECK(LocationDistance(unk, r1) == kElsewhere);
  CHECK(LocationDistance(unk, unk) == kElsewhere);
  // Same rack name in another pod is not the same rack.
  CHECK(LocationDistance(Location{"dc1", "p1", "r1"}, Location{"dc1", "p2", "r1"}) == kSameDc);
}

TEST_CASE("rackmap lookups are fast") {
  std::string text;
  for (int i = 0; i < 256; ++i)
    for (int j = 0; j < 16; ++j)
      text += "10." + std::to_string(i) + "." + std::to_string(j * 16) + ".0/20 dc" + std::to_string(i % 4) + "/p" +
              std::to_string(i) + "/r" + std::to_string(j) + "\n";
  auto m = MustParse(text);
  auto start = std::chrono::steady_clock::now();
  size_t known = 0;
  for (uint32_t i = 0; i < 200000; ++i)
    known += m.Lookup(boost::asio::ip::address_v4((10u << 24) | (i * 2654435761u & 0xffffff))).known();
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(known == 200000);
  CHECK(took < std::chrono::seconds(2));  // ~100k+/s even on a loaded box
}

}  // namespace
}  // namespace spate
