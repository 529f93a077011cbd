#include "seeder/routes.h"

#include <catch2/catch.hpp>

namespace spate::seeder {
namespace {

TEST_CASE("upload target: name, version and filename from path and query") {
  auto t = ParseUploadTarget("/api/v1/artifacts/app/1.2.3", "filename=app.tar.gz");
  REQUIRE(t.ok());
  CHECK(t->name == "app");
  CHECK(t->version == "1.2.3");
  CHECK(t->filename == "app.tar.gz");
}

TEST_CASE("upload target: filename defaults to the name") {
  auto t = ParseUploadTarget("/api/v1/artifacts/app/7", "");
  REQUIRE(t.ok());
  CHECK(t->filename == "app");
  CHECK_FALSE(t->check_only);
}

TEST_CASE("upload target: check=1 asks for a dry run") {
  auto t = ParseUploadTarget("/api/v1/artifacts/app/7", "filename=a.bin&check=1");
  REQUIRE(t.ok());
  CHECK(t->check_only);
  CHECK(t->filename == "a.bin");
}

TEST_CASE("upload target: traversal and bad characters are refused naming the field") {
  auto bad = [](const std::string& path, const std::string& query) {
    auto t = ParseUploadTarget(path, query);
    REQUIRE_FALSE(t.ok());
    CHECK(t.status().code() == Status::Code::kInvalid);
    return t.status().message();
  };
  CHECK_THAT(bad("/api/v1/artifacts/../1", ""), Catch::Contains("name"));
  CHECK_THAT(bad("/api/v1/artifacts/a%2Fb/1", ""), Catch::Contains("name 'a/b'"));
  CHECK_THAT(bad("/api/v1/artifacts/app/..", ""), Catch::Contains("version"));
  CHECK_THAT(bad("/api/v1/artifacts/app/current", ""), Catch::Contains("version 'current' is reserved"));
  CHECK_THAT(bad("/api/v1/artifacts/app/1", "filename=..%2Fetc"), Catch::Contains("filename"));
  CHECK_THAT(bad("/api/v1/artifacts/app/1", "filename=manifest.json"), Catch::Contains("filename"));
  CHECK_THAT(bad("/api/v1/artifacts/app/1", "filename="), Catch::Contains("filename"));
  CHECK_THAT(bad("/api/v1/artifacts/a/b/c", ""), Catch::Contains("/"));
  CHECK_THAT(bad("/api/v1/artifacts/app/1%zz", ""), Catch::Contains("percent"));
}

TEST_CASE("upload request: the checksum header is lower-cased, optional, and refused unless 64 hex digits") {
  const std::string hex(64, 'A');
  auto r = ParseUploadRequest("/api/v1/artifacts/app/1", "", {{"x-spate-sha256", hex}});
  REQUIRE(r.ok());
  CHECK(r->sha256 == std::string(64, 'a'));
  CHECK(r->target.name == "app");
  auto none = ParseUploadRequest("/api/v1/artifacts/app/1", "", {});
  REQUIRE(none.ok());
  CHECK(none->sha256.empty());
  for (std::string bad : {std::string(63, 'a'), std::string(65, 'a'), std::string(63, 'a') + "g", std::string("abc")}) {
    auto b = ParseUploadRequest("/api/v1/artifacts/app/1", "", {{"x-spate-sha256", bad}});
    REQUIRE_FALSE(b.ok());
    CHECK(b.status().code() == Status::Code::kInvalid);
    CHECK_THAT(b.status().message(), Catch::Contains("X-Spate-Sha256"));
  }
  // The target is checked first, and its refusal is what the client hears.
  auto both = ParseUploadRequest("/api/v1/artifacts/../1", "", {{"x-spate-sha256", "abc"}});
  REQUIRE_FALSE(both.ok());
  CHECK_THAT(both.status().message(), Catch::Contains("name"));
}

TEST_CASE("upload target: other paths are not found") {
  auto t = ParseUploadTarget("/api/v1/pubkey", "");
  REQUIRE_FALSE(t.ok());
  CHECK(t.status().code() == Status::Code::kNotFound);
}

TEST_CASE("split path keeps '+' literal and decodes escapes") {
  auto s = SplitPath("/a+b/c%20d/");
  REQUIRE(s.ok());
  CHECK(*s == std::vector<std::string>{"a+b", "c d", ""});
}

}  // namespace
}  // namespace spate::seeder
