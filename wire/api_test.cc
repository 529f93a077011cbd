#include "wire/api.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <unistd.h>

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

TEST_CASE("an assignment list's text is ToJson's, byte for byte, with the per-push part written once") {
  AssignmentTextCache cache;
  AssignmentList empty;
  CHECK(AssignmentListText(empty, cache) == ToJson(empty).dump());

  AssignmentList a;
  a.generation = 9;
  a.announce_interval = 5;
  a.rack_ranges = {{"10.1.0.0/16", true}, {"10.1.2.0/24", false}};
  Assignment first{42, Sample(), std::string("d8:announce\0\xff", 14)};
  first.signature = "c2lnbmF0dXJl";
  first.proof = {"l" + std::string(64, 'a'), "r" + std::string(64, 'b')};
  Assignment second{43, Sample(), "other torrent"};
  second.manifest.version = "1.2.4";
  second.activate = false;
  second.kind = "rollback";
  a.assignments = {first, second};
  CHECK(AssignmentListText(a, cache) == ToJson(a).dump());

  // Another host's list of the same pushes: only its own fields differ.
  a.generation = 10;
  a.assignments[0].proof = {"r" + std::string(64, 'c')};
  a.assignments[1].signature = "b3RoZXI=";
  a.rack_ranges.clear();
  CHECK(AssignmentListText(a, cache) == ToJson(a).dump());

  // A push id met again with another manifest (a new database) is not served from the cache.
  a.assignments[0].manifest.version = "9.9.9";
  a.assignments[0].torrent = "new torrent";
  CHECK(AssignmentListText(a, cache) == ToJson(a).dump());
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

TEST_CASE("a reports answer carries the host's generation when the tracker gives one, and -1 when not") {
  ReportsAnswer a;
  a.generation = 41;
  CHECK(ReportsAnswerFromJson(ToJson(a)).generation == 41);
  CHECK_FALSE(ToJson(ReportsAnswer{}).contains("generation"));
  CHECK(ReportsAnswerFromJson(nlohmann::json{{"ok", true}}).generation == -1);  // an older tracker
  CHECK(ReportsAnswerFromJson(nlohmann::json{{"generation", -5}}).generation == -1);
  CHECK(ReportsAnswerFromJson(nlohmann::json{{"generation", "7"}}).generation == -1);
}

TEST_CASE("integer fields take only JSON integers that fit, never floats or negatives for sizes") {
  auto report = [](const std::string& field, nlohmann::json v) {
    nlohmann::json j{{"push_id", 1}, {"state", "pending"}};
    j[field] = v;
    return HostReportFromJson(j);
  };
  CHECK(report("bytes_done", 5).ok());
  CHECK(report("rate", 5).ok());  // a double field takes an integer
  CHECK(report("rate", 1.5).ok());
  // Each of these was a silent static_cast, and 1e300 into an integer undefined behaviour.
  CHECK_FALSE(report("push_id", 1e300).ok());
  CHECK_FALSE(report("push_id", 1.5).ok());
  CHECK_FALSE(report("bytes_done", -1).ok());
  CHECK_FALSE(report("peers", 4294967296LL).ok());
  CHECK_FALSE(report("peers", "3").ok());
  CHECK_THAT(report("tries", 2.0).status().message(), Catch::Contains("'tries'"));
  PushProgress p;
  p.id = 1;
  p.artifact = "web@1";
  p.state = "active";
  auto j = ToJson(p);
  j["waves"] = {1, 2.5};
  CHECK_FALSE(PushProgressFromJson(j).ok());
  j["waves"] = {1, 2};
  CHECK(PushProgressFromJson(j).ok());
}

TEST_CASE("host report lists parse whole or name the bad report") {
  auto ok = HostReportsFromJson(nlohmann::json::parse(R"({"reports":[{"push_id":1,"state":"staged"}]})"));
  REQUIRE(ok.ok());
  CHECK(ok->size() == 1);
  CHECK_FALSE(HostReportsFromJson(nlohmann::json::parse(R"({"reports":{}})")).ok());
  CHECK_FALSE(HostReportsFromJson(nlohmann::json::parse("[]")).ok());
  auto bad =
      HostReportsFromJson(nlohmann::json::parse(R"({"reports":[{"push_id":1,"state":"staged"},{"push_id":2}]})"));
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::StartsWith("report: "));
}

TEST_CASE("a manifest may not name its file manifest.json, which the install layout keeps beside it") {
  auto j = ToJson(Sample());
  j["filename"] = "manifest.json";
  CHECK_FALSE(ManifestFromJson(j).ok());
}

TEST_CASE("an assignment's tracker signature covers push id, host, artifact, activate and kind") {
  auto t = std::filesystem::temp_directory_path() / ("spate-api-" + std::to_string(::getpid()));
  std::filesystem::create_directories(t);
  auto key = *SigningKey::LoadOrCreate(t / "tracker.key");
  auto pub = *VerifyKey::FromPem(key.PublicKeyPem());
  Assignment a{42, Sample(), "torrent bytes"};
  a.kind = "rollback";
  a.activate = false;
  CHECK_FALSE(VerifyAssignment(a, "h1", pub).ok());  // unsigned
  a.signature = Base64Encode(*key.Sign(AssignmentSigningBytes(a, "h1")));
  CHECK(VerifyAssignment(a, "h1", pub).ok());
  CHECK_FALSE(VerifyAssignment(a, "h2", pub).ok());  // another host's

  // Through the wire and back, signature and kind included.
  AssignmentList list;
  list.assignments = {a};
  auto back = AssignmentListFromJson(nlohmann::json::parse(ToJson(list).dump()));
  REQUIRE(back.ok());
  CHECK(back->assignments.at(0).kind == "rollback");
  CHECK(VerifyAssignment(back->assignments.at(0), "h1", pub).ok());

  std::vector<std::function<void(Assignment&)>> changes = {
      [](Assignment& x) { x.push_id = 43; },
      [](Assignment& x) { x.activate = true; },
      [](Assignment& x) { x.kind = "push"; },
      [](Assignment& x) { x.manifest.version = "1.2.2"; },
      [](Assignment& x) { x.manifest.name = "api"; },
      [](Assignment& x) { x.manifest.info_hash = std::string(40, 'c'); },
      [](Assignment& x) { x.signature = "!!!!"; },
      [](Assignment& x) { x.signature = Base64Encode(std::string(64, '\0')); },
  };
  for (size_t i = 0; i < changes.size(); ++i) {
    Assignment x = a;
    changes[i](x);
    INFO("change " << i);
    CHECK_FALSE(VerifyAssignment(x, "h1", pub).ok());
  }
  auto other = *SigningKey::LoadOrCreate(t / "other.key");
  CHECK_FALSE(VerifyAssignment(a, "h1", *VerifyKey::FromPem(other.PublicKeyPem())).ok());
  std::filesystem::remove_all(t);
}

TEST_CASE("one signature serves a batch of hosts, each bound to its own assignment by its proof") {
  auto t = std::filesystem::temp_directory_path() / ("spate-api-batch-" + std::to_string(::getpid()));
  std::filesystem::create_directories(t);
  auto key = *SigningKey::LoadOrCreate(t / "tracker.key");
  auto pub = *VerifyKey::FromPem(key.PublicKeyPem());
  int signed_calls = 0;
  auto sign = [&](const std::string& bytes) {
    ++signed_calls;
    return *key.Sign(bytes);
  };
  const std::vector<std::string> hosts = {"h1", "h2", "h3", "h4", "h5"};
  Assignment a{42, Sample(), "torrent bytes"};
  std::vector<std::string> bytes;
  for (const auto& h : hosts) bytes.push_back(AssignmentSigningBytes(a, h));
  auto sigs = SignAssignments(bytes, sign);
  CHECK(signed_calls == 1);
  REQUIRE(sigs.size() == hosts.size());
  for (size_t i = 0; i < hosts.size(); ++i) {
    INFO(hosts[i]);
    Assignment x = a;
    x.signature = sigs[i].signature;
    x.proof = sigs[i].proof;
    CHECK_FALSE(x.proof.empty());
    CHECK(VerifyAssignment(x, hosts[i], pub).ok());
    CHECK_FALSE(VerifyAssignment(x, hosts[(i + 1) % hosts.size()], pub).ok());  // another host's proof
    CHECK_FALSE(VerifyAssignment(x, "h6", pub).ok());                          // a host not in the batch
    Assignment activated = x;
    activated.activate = !a.activate;
    CHECK_FALSE(VerifyAssignment(activated, hosts[i], pub).ok());
    Assignment bare = x;  // the batch signature alone is not over any one host's bytes
    bare.proof.clear();
    CHECK_FALSE(VerifyAssignment(bare, hosts[i], pub).ok());
    Assignment bad = x;
    bad.proof[0] = "zz";
    auto refused = VerifyAssignment(bad, hosts[i], pub);
    CHECK(refused.message() == "assignment's batch proof: Merkle path step is not 'l' or 'r' and 64 hex digits");

    // Through the wire and back, proof included.
    AssignmentList list;
    list.assignments = {x};
    auto back = AssignmentListFromJson(nlohmann::json::parse(ToJson(list).dump()));
    REQUIRE(back.ok());
    CHECK(back->assignments.at(0).proof == x.proof);
    CHECK(VerifyAssignment(back->assignments.at(0), hosts[i], pub).ok());
  }

  // One host: signed as is, no proof, what fetchers before batches verify.
  auto one = SignAssignments({bytes[0]}, sign);
  REQUIRE(one.size() == 1);
  CHECK(one[0].proof.empty());
  CHECK(one[0].signature == Base64Encode(*key.Sign(bytes[0])));

  AssignmentList list;
  list.assignments = {a};
  auto j = ToJson(list);
  j["assignments"][0]["proof"] = "l00";
  CHECK(AssignmentListFromJson(j).status().message() == "field 'proof' has the wrong type or is out of range");
  std::filesystem::remove_all(t);
}

TEST_CASE("an assignment without kind or signature is an unsigned push, as from older trackers") {
  AssignmentList list;
  list.assignments.push_back({42, Sample(), "t"});
  auto j = ToJson(list);
  CHECK_FALSE(j["assignments"][0].contains("signature"));
  j["assignments"][0].erase("kind");
  auto back = AssignmentListFromJson(j);
  REQUIRE(back.ok());
  CHECK(back->assignments.at(0).kind == "push");
  CHECK(back->assignments.at(0).signature.empty());
}
