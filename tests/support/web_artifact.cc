#include "tests/support/web_artifact.h"

#include <catch2/catch.hpp>

namespace spate::testing {

ArtifactRegistration WebRegistration(const std::string& version, char fill, const std::string& origin) {
  ArtifactRegistration r;
  r.manifest.name = "web";
  r.manifest.version = version;
  r.manifest.filename = "web.tar";
  r.manifest.size = 4096;
  r.manifest.sha256 = std::string(64, '0');
  r.manifest.info_hash = std::string(39, fill) + version.substr(0, 1);
  r.manifest.piece_size = 16384;
  r.manifest.created_at = 1700000000;
  r.manifest.signature = "c2ln";
  r.torrent = "torrent";
  r.origin = origin;
  return r;
}

std::string Register(const std::string& api, const ArtifactRegistration& r, const http::ClientOptions& options) {
  auto res = http::Call("POST", api + "/artifacts", ToJson(r).dump(), options);
  REQUIRE(res.ok());
  INFO(res->body);
  REQUIRE(res->status == 200);
  return r.manifest.info_hash;
}

}  // namespace spate::testing
