#include "fetcher/check.h"

#include <libtorrent/bencode.hpp>
#include <libtorrent/entry.hpp>

#include <catch2/catch.hpp>
#include <iterator>

#include "fetcher/test_artifact.h"
#include "tests/support/cluster.h"

namespace {

struct Keys {
  spate::SigningKey seeder, stranger;
  spate::VerifyKey trusted;
};

Keys MakeKeys(const spate::testing::TempDir& t) {
  Keys k;
  k.seeder = *spate::SigningKey::LoadOrCreate(t / "seeder.pem");
  k.stranger = *spate::SigningKey::LoadOrCreate(t / "stranger.pem");
  k.trusted = *spate::VerifyKey::FromPem(k.seeder.PublicKeyPem());
  return k;
}

spate::Assignment Assign(const spate::testing::TestArtifact& art, const spate::SigningKey& key) {
  spate::Assignment a;
  a.push_id = 1;
  a.manifest = art.manifest;
  REQUIRE(a.manifest.Sign(key).ok());
  a.torrent = art.torrent;
  return a;
}

}  // namespace

TEST_CASE("check accepts a seeder-signed assignment whose torrent matches the manifest") {
  spate::testing::TempDir t;
  Keys k = MakeKeys(t);
  auto art = spate::testing::MakeArtifact(t / "data", "app", "1.0", "app.bin", 100000, 1);
  auto r = spate::CheckAssignment(Assign(art, k.seeder), k.trusted);
  REQUIRE(r.ok());
  CHECK((*r)->name() == "app.bin");
}

TEST_CASE("check refuses a manifest signed by a different key") {
  spate::testing::TempDir t;
  Keys k = MakeKeys(t);
  auto art = spate::testing::MakeArtifact(t / "data", "app", "1.0", "app.bin", 100000, 1);
  auto r = spate::CheckAssignment(Assign(art, k.stranger), k.trusted);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("no valid signature") != std::string::npos);
}

TEST_CASE("check refuses a manifest altered after signing") {
  spate::testing::TempDir t;
  Keys k = MakeKeys(t);
  auto art = spate::testing::MakeArtifact(t / "data", "app", "1.0", "app.bin", 100000, 1);
  auto a = Assign(art, k.seeder);
  a.manifest.sha256 = std::string(64, '0');
  CHECK_FALSE(spate::CheckAssignment(a, k.trusted).ok());
}

TEST_CASE("check refuses a torrent that does not match the signed manifest") {
  spate::testing::TempDir t;
  Keys k = MakeKeys(t);
  auto art = spate::testing::MakeArtifact(t / "data", "app", "1.0", "app.bin", 100000, 1);
  auto other = spate::testing::MakeArtifact(t / "other", "app", "1.0", "app.bin", 100000, 2);

  SECTION("different info-hash") {
    auto a = Assign(art, k.seeder);
    a.torrent = other.torrent;
    auto r = spate::CheckAssignment(a, k.trusted);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message().find("info-hash") != std::string::npos);
  }
  SECTION("different file name") {
    art.manifest.filename = "other.bin";
    auto r = spate::CheckAssignment(Assign(art, k.seeder), k.trusted);
    REQUIRE_FALSE(r.ok());
  }
  SECTION("garbage torrent bytes") {
    auto a = Assign(art, k.seeder);
    a.torrent = "not bencode";
    CHECK_FALSE(spate::CheckAssignment(a, k.trusted).ok());
  }
}

TEST_CASE("check refuses a torrent that puts the signed file name inside a directory, dot-dot included") {
  spate::testing::TempDir t;
  Keys k = MakeKeys(t);
  // Multi-file torrents holding one file: <dir>/app.bin. The seeder never makes
  // one, but a manifest signed for its info-hash must still not let the path
  // leave the staging dir or differ from the signed file name.
  for (const char* dir : {"x", ".."}) {
    lt::entry info;
    info["name"] = dir;
    info["piece length"] = 16384;
    info["pieces"] = std::string(20, '\1');
    lt::entry file;
    file["length"] = 5;
    file["path"] = lt::entry::list_type{lt::entry("app.bin")};
    info["files"] = lt::entry::list_type{file};
    lt::entry torrent;
    torrent["info"] = info;
    std::string bytes;
    lt::bencode(std::back_inserter(bytes), torrent);
    lt::error_code ec;
    lt::torrent_info ti(lt::span<const char>(bytes.data(), bytes.size()), ec, lt::from_span);
    REQUIRE_FALSE(ec);
    INFO(dir << ": libtorrent reads the path as " << ti.files().file_path(lt::file_index_t(0)));

    spate::Assignment a;
    a.push_id = 1;
    a.manifest.name = "app";
    a.manifest.version = "1.0";
    a.manifest.filename = "app.bin";
    a.manifest.size = 5;
    a.manifest.sha256 = std::string(64, '0');
    const lt::sha1_hash& v1 = ti.info_hashes().v1;
    a.manifest.info_hash = spate::HexEncode(std::string_view(v1.data(), v1.size()));
    a.manifest.piece_size = 16384;
    REQUIRE(a.manifest.Sign(k.seeder).ok());
    a.torrent = bytes;
    auto r = spate::CheckAssignment(a, k.trusted);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.status().message(), Catch::Contains("does not match manifest filename 'app.bin'"));
  }
}
