#include <catch2/catch.hpp>

#include "plan/model.h"

namespace spate::plan {
namespace {

TEST_CASE("a synthetic fleet deals hosts over racks like bench-swarm") {
  Fleet f = SyntheticFleet(7, 3);
  REQUIRE(f.hosts.size() == 7);
  CHECK(f.hosts[0].location.ToString() == "dc1/pod1/rack1");
  CHECK(f.hosts[1].location.ToString() == "dc1/pod1/rack2");
  CHECK(f.hosts[2].location.ToString() == "dc1/pod2/rack3");
  CHECK(f.hosts[3].location.ToString() == "dc1/pod1/rack1");
  CHECK(f.origin_location.ToString() == "dc1/core/origin");
}

TEST_CASE("a hosts file is located with the rackmap") {
  auto map = Rackmap::Parse("10.1.0.0/24 dc1/p1/r1\n10.1.1.0/24 dc1/p1/r2\n", "rm");
  REQUIRE(map.ok());
  auto f = FleetFromHosts(*map, "# fleet\nweb-1 10.1.0.5\n10.1.1.7   # no name\n\nweb-9 192.0.2.1\n", "hosts.txt");
  REQUIRE(f.ok());
  REQUIRE(f->hosts.size() == 3);
  CHECK(f->hosts[0].address == "10.1.0.5");
  CHECK(f->hosts[0].location.ToString() == "dc1/p1/r1");
  CHECK(f->hosts[1].location.ToString() == "dc1/p1/r2");
  CHECK_FALSE(f->hosts[2].location.known());
}

TEST_CASE("a bad hosts file is refused naming file and line") {
  auto map = Rackmap::Parse("10.1.0.0/24 dc1/p1/r1\n", "rm");
  REQUIRE(map.ok());
  auto none = FleetFromHosts(*map, "10.1.0.1\nweb-2 web-2.example\n", "h");
  REQUIRE(!none.ok());
  CHECK(none.status().message() == "h:2: no IP address in 'web-2 web-2.example'");
  auto twice = FleetFromHosts(*map, "10.1.0.1\na 10.1.0.1\n", "h");
  CHECK(twice.status().message() == "h:2: address 10.1.0.1 listed twice");
  auto many = FleetFromHosts(*map, "a b 10.1.0.1\n", "h");
  CHECK(many.status().message().rfind("h:1: want ADDRESS or NAME ADDRESS", 0) == 0);
  CHECK(!FleetFromHosts(*map, "# nothing\n", "h").ok());
}

TEST_CASE("a real fleet plans with hosts outside the rackmap") {
  auto map = Rackmap::Parse("10.1.0.0/24 dc1/p1/r1\n10.1.1.0/24 dc1/p1/r2\n", "rm");
  REQUIRE(map.ok());
  auto f = FleetFromHosts(*map, "10.1.0.1\n10.1.0.2\n10.1.1.1\n10.1.1.2\n10.9.0.1\n", "h");
  REQUIRE(f.ok());
  PlanOptions o;
  o.size = 4 << 20;
  o.nic_up = o.nic_down = 4 << 20;
  o.origin_up = 8 << 20;
  auto r = RunPlan(*f, o);
  REQUIRE(r.ok());
  CHECK(r->unfinished == 0);
  CHECK(r->racks == 2);
  CHECK(r->hosts == 5);
}

}  // namespace
}  // namespace spate::plan
