#include "push/fleet_view.h"

#include <catch2/catch.hpp>

using namespace spate;

namespace {
constexpr int64_t kNow = 1'700'000'100'000;

nlohmann::json SkewedFleet() {
  return nlohmann::json::parse(R"({
    "hosts":[
      {"host":"b1","addr":"10.0.2.1","location":"dc/p/r2","last_seen":1700000098000,"versions":{"web":"2.0","api":"3.1"}},
      {"host":"a2","addr":"10.0.1.2","location":"dc/p/r1","last_seen":1700000088000,"versions":{"web":"1.9"}},
      {"host":"a1","addr":"10.0.1.1","location":"dc/p/r1","last_seen":1699999975000,"versions":{"web":"2.0","api":"3.1"}},
      {"host":"c1","addr":"10.9.9.9","location":"unknown","last_seen":0,"versions":{}}],
    "racks":[
      {"location":"dc/p/r1","hosts":2,"versions":{"web":{"2.0":1,"1.9":1},"api":{"3.1":1}}},
      {"location":"dc/p/r2","hosts":1,"versions":{"web":{"2.0":1},"api":{"3.1":1}}},
      {"location":"unknown","hosts":1,"versions":{}}]})");
}
}  // namespace

TEST_CASE("fleet view lists hosts by rack, marks mixed racks and sums up the skew") {
  auto fleet = FleetFromJson(SkewedFleet());
  REQUIRE(fleet.ok());
  CHECK(RenderFleet(*fleet, kNow) ==
        "HOST  LOCATION  api  web  LAST SEEN\n"
        "a1    dc/p/r1   3.1  2.0  2m05s ago\n"
        "a2    dc/p/r1   -    1.9  12s ago\n"
        "b1    dc/p/r2   3.1  2.0  2.0s ago\n"
        "c1    unknown   -    -    never\n"
        "\n"
        "RACK     HOSTS  api     web             SKEW\n"
        "dc/p/r1  2      3.1 x1  1.9 x1, 2.0 x1  web\n"
        "dc/p/r2  1      3.1 x1  2.0 x1\n"
        "unknown  1      -       -\n"
        "\n"
        "skew: web runs 2 versions (2.0 on 2 hosts, 1.9 on 1), 1 of 3 racks mixed\n");
}

TEST_CASE("fleet view says there is no skew when each artifact runs one version") {
  auto j = SkewedFleet();
  j["hosts"][1]["versions"]["web"] = "2.0";
  j["racks"][0]["versions"]["web"] = {{"2.0", 2}};
  auto fleet = FleetFromJson(j);
  REQUIRE(fleet.ok());
  std::string out = RenderFleet(*fleet, kNow);
  CHECK(out.find("dc/p/r1  2      3.1 x1  2.0 x2\n") != std::string::npos);
  CHECK(out.substr(out.rfind('\n', out.size() - 2) + 1) ==
        "no skew: one version of each artifact on every host that has it\n");
}

TEST_CASE("fleet view without racks (an older tracker) still shows hosts and fleet-wide skew") {
  auto j = SkewedFleet();
  j.erase("racks");
  auto fleet = FleetFromJson(j);
  REQUIRE(fleet.ok());
  std::string out = RenderFleet(*fleet, kNow);
  CHECK(out.find("RACK") == std::string::npos);
  CHECK(out.substr(out.rfind('\n', out.size() - 2) + 1) == "skew: web runs 2 versions (2.0 on 2 hosts, 1.9 on 1)\n");
}

TEST_CASE("fleet parsing names what is wrong, and an empty or bare fleet says so") {
  CHECK(FleetFromJson(nlohmann::json::parse("{}")).status().message() ==
        "expected {\"hosts\": [...], \"racks\": [...]}");
  CHECK(FleetFromJson(nlohmann::json::parse(R"({"hosts":[{"host":"a1","versions":{"web":2}}]})")).status().message() ==
        "host a1: a field is missing or has the wrong type");
  auto empty = FleetFromJson(nlohmann::json::parse(R"({"hosts":[],"racks":[]})"));
  REQUIRE(empty.ok());
  CHECK(RenderFleet(*empty, kNow) == "no hosts\n");
  auto bare = FleetFromJson(nlohmann::json::parse(R"({"hosts":[{"host":"a1","location":"dc/p/r1","last_seen":0}]})"));
  REQUIRE(bare.ok());
  CHECK(RenderFleet(*bare, kNow) ==
        "HOST  LOCATION  LAST SEEN\n"
        "a1    dc/p/r1   never\n"
        "\n"
        "no skew: no artifact installed on these hosts yet\n");
}
