#include "wire/api.h"

#include <catch2/catch.hpp>

using namespace spate;

namespace {
Manifest Sample() {
  Manifest m;
  m.name = "web";
  m.version = "1.2.3";
  m.filename = "web.tar";
  m.size = 123456789;
  m.sha256 = std::string(64, 'a');
  m.info_hash = std::string(40, 'b');
  m.piece_size = 1 << 20;
  m.created_at = 1700000000;
  m.signature = "c2ln";
  return m;
}
}  // namespace

TEST_CASE("names accept [A-Za-z0-9._-] and reject traversal and hidden names") {
  CHECK(CheckName("name", "web-1.2_rc3").ok());
  for (std::string bad : std::vector<std::string>{"", ".", "..", "../etc", "a/b", ".hidden", "a b", "x\n", std::string(129, 'a'), "a\\b"})
    CHECK_FALSE(CheckName("name", bad).ok());
  CHECK(CheckName("version", "a/b").message().find("version") != std::string::npos);
}

TEST_CASE("a version may not be a name the install layout uses") {
  CHECK(CheckVersion("version", "1.2.3").ok());
  CHECK(CheckVersion("version", "current-2").ok());
  Status s = CheckVersion("version", "current");
  CHECK(s.code() == Status::Code::kInvalid);
  CHECK(s.message() == "version 'current' is reserved: <install>/<name>/current points at the active version");
  CHECK_FALSE(CheckVersion("version", "..").ok());
  CHECK_FALSE(ParseArtifactId("app@current").ok());
}

TEST_CASE("manifest survives a JSON round trip field for field") {
  Manifest m = Sample();
  auto back = ManifestFromJson(nlohmann::json::parse(ToJson(m).dump()));
  REQUIRE(back.ok());
  CHECK(back->name == m.name);
  CHECK(back->version == m.version);
  CHECK(back->filename == m.filename);
  CHECK(back->size == m.size);
  CHECK(back->sha256 == m.sha256);
  CHECK(back->info_hash == m.info_hash);
  CHECK(back->piece_size == m.piece_size);
  CHECK(back->created_at == m.created_at);
  CHECK(back->signature == m.signature);
  CHECK(back->SigningBytes() == m.SigningBytes());
}

TEST_CASE("manifest parser rejects missing fields, bad hashes and unsafe names") {
  auto j = ToJson(Sample());
  auto without = j;
  without.erase("sha256");
  CHECK(ManifestFromJson(without).status().message().find("sha256") != std::string::npos);
  auto bad_hash = j;
  bad_hash["sha256"] = "xyz";
  CHECK_FALSE(ManifestFromJson(bad_hash).ok());
  auto traversal = j;
  traversal["filename"] = "../../etc/passwd";
  CHECK_FALSE(ManifestFromJson(traversal).ok());
  auto wrong_type = j;
  wrong_type["size"] = "big";
  CHECK(ManifestFromJson(wrong_type).status().message().find("size") != std::string::npos);
  CHECK_FALSE(ManifestFromJson(nlohmann::json::array()).ok());
  auto reserved = j;
  reserved["version"] = "current";
  CHECK(ManifestFromJson(reserved).status().message().find("reserved") != std::string::npos);
}

TEST_CASE("artifact ids split into name and version") {
  auto ok = ParseArtifactId("web@1.0");
  REQUIRE(ok.ok());
  CHECK(ok->first == "web");
  CHECK(ok->second == "1.0");
  CHECK_FALSE(ParseArtifactId("web").ok());
  CHECK_FALSE(ParseArtifactId("web@../x").ok());
  CHECK_FALSE(ParseArtifactId("@1").ok());
}

TEST_CASE("assignment lists and progress round-trip") {
  AssignmentList a;
  a.generation = 7;
  a.assignments.push_back({42, Sample(), std::string("d8:announce\0\xff", 14)});
  a.rack_ranges = {{"10.1.0.0/16", true}, {"10.1.2.0/24", false}};
  auto back = AssignmentListFromJson(nlohmann::json::parse(ToJson(a).dump()));
  REQUIRE(back.ok());
  CHECK(back->rack_ranges == a.rack_ranges);
  CHECK(back->generation == 7);
  REQUIRE(back->assignments.size() == 1);
  CHECK(back->assignments[0].push_id == 42);
  CHECK(back->assignments[0].torrent == a.assignments[0].torrent);
  CHECK(back->assignments[0].activate);
}

TEST_CASE("assignments carry activate, default true when a tracker leaves it out") {
  AssignmentList a;
  a.assignments.push_back({42, Sample(), "t"});
  a.assignments[0].activate = false;
  auto j = ToJson(a);
  auto back = AssignmentListFromJson(nlohmann::json::parse(j.dump()));
  REQUIRE(back.ok());
  CHECK_FALSE(back->assignments.at(0).activate);
  j["assignments"][0].erase("activate");
  back = AssignmentListFromJson(j);
  REQUIRE(back.ok());
  CHECK(back->assignments.at(0).activate);
  j["assignments"][0]["activate"] = 1;
  CHECK_FALSE(AssignmentListFromJson(j).ok());

  PushProgress p;
  p.id = 3;
  p.artifact = "web@1";
  p.size = 10;
  p.state = "active";
  p.created_at = 5;
  p.hosts.push_back(HostProgress{"h1", "127.0.1.1", "dc/p/r1", kStateDownloading, 5, 10, 2.5, "", 9});
  auto pb = PushProgressFromJson(nlohmann::json::parse(ToJson(p).dump()));
  REQUIRE(pb.ok());
  REQUIRE(pb->hosts.size() == 1);
  CHECK(pb->hosts[0].bytes_done == 5);
  CHECK(pb->hosts[0].location == "dc/p/r1");
}

TEST_CASE("host reports reject unknown states") {
  HostReport r{1, "exploded", 0, 0, 0, 0, ""};
  CHECK_FALSE(HostReportFromJson(ToJson(r)).ok());
  r.state = kStateInstalled;
  CHECK(HostReportFromJson(ToJson(r)).ok());
  r.state = kStateStaged;
  CHECK(HostReportFromJson(ToJson(r)).ok());
}

TEST_CASE("gateway roles round-trip and reject slots out of range") {
  auto r = GatewayRoleFromJson(ToJson(GatewayRole{7, 2, 5}));
  REQUIRE(r.ok());
  CHECK(r->push_id == 7);
  CHECK(r->slot == 2);
  CHECK(r->slots == 5);
  CHECK_FALSE(GatewayRoleFromJson(ToJson(GatewayRole{7, 5, 5})).ok());
  CHECK_FALSE(GatewayRoleFromJson(ToJson(GatewayRole{7, -1, 5})).ok());
  CHECK_FALSE(GatewayRoleFromJson(ToJson(GatewayRole{7, 0, 0})).ok());
  CHECK_FALSE(GatewayRoleFromJson(nlohmann::json{{"push_id", 7}}).ok());
}
