// Store layout, ingest outcomes and torrent contents, on a real temp dir.
#include "seeder/ingest.h"

#include <libtorrent/torrent_info.hpp>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

#include "seeder/store.h"
#include "seeder/torrent.h"
#include "tests/support/cluster.h"
#include "wire/fs.h"

namespace spate::seeder {
namespace {

namespace fs = std::filesystem;
using spate::testing::TempDir;
using spate::testing::WriteRandomFile;

size_t CountEntries(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

struct Fixture {
  TempDir dir{"spate-seeder-unit"};
  ArtifactStore store{dir / "data"};
  SigningKey key;
  Fixture() {
    REQUIRE(store.Open().ok());
    auto k = SigningKey::LoadOrCreate(dir / "key.pem");
    REQUIRE(k.ok());
    key = *k;
  }
  // Writes an upload into tmp/ the way the HTTP server would.
  IngestRequest Upload(const std::string& version, uint64_t size, uint32_t seed, const std::string& filename = "app.bin") {
    IngestRequest r;
    r.name = "app";
    r.version = version;
    r.filename = filename;
    r.upload_path = store.NewTempPath("upload");
    r.announce_urls = {"http://127.0.0.1:9/announce"};
    WriteRandomFile(r.upload_path, size, seed);
    return r;
  }
};

TEST_CASE("ingest stores file, signed manifest and matching torrent under artifacts/name/version") {
  Fixture f;
  auto req = f.Upload("1.0", 300 * 1024 + 17, 1);
  auto sha = Sha256File(req.upload_path);
  REQUIRE(sha.ok());
  auto r = Ingest(f.store, f.key, req);
  REQUIRE(r.ok());
  CHECK(r->created);
  const Manifest& m = r->artifact.manifest;
  std::string vdir = f.dir / "data/artifacts/app/1.0";
  CHECK(r->artifact.dir == vdir);
  CHECK(fs::file_size(vdir + "/app.bin") == 300 * 1024 + 17);
  CHECK(m.sha256 == *sha);
  CHECK(m.piece_size == 64 * 1024);
  CHECK(m.created_at > 0);

  auto vk = VerifyKey::FromPem(f.key.PublicKeyPem());
  REQUIRE(vk.ok());
  auto text = ReadFile(vdir + "/manifest.json");
  REQUIRE(text.ok());
  auto stored = ManifestFromJson(nlohmann::json::parse(*text));
  REQUIRE(stored.ok());
  CHECK(stored->Verify(*vk).ok());
  CHECK(stored->info_hash == m.info_hash);

  auto torrent = ReadFile(vdir + "/app.bin.torrent");
  REQUIRE(torrent.ok());
  lt::torrent_info ti(torrent->data(), static_cast<int>(torrent->size()));
  CHECK(ti.priv());
  CHECK(!ti.info_hashes().has_v2());
  CHECK(ti.piece_length() == 64 * 1024);
  CHECK(ti.num_files() == 1);
  CHECK(ti.files().file_path(0) == "app.bin");
  REQUIRE(ti.trackers().size() == 1);
  CHECK(ti.trackers()[0].url == "http://127.0.0.1:9/announce");
  CHECK(*InfoHashOf(*torrent) == m.info_hash);

  CHECK(CountEntries(f.store.tmp_dir()) == 0);  // upload moved, staging renamed
}

TEST_CASE("ingest: identical re-upload is idempotent, different content conflicts") {
  Fixture f;
  REQUIRE(Ingest(f.store, f.key, f.Upload("1.0", 5000, 7)).ok());
  auto again = Ingest(f.store, f.key, f.Upload("1.0", 5000, 7));
  REQUIRE(again.ok());
  CHECK_FALSE(again->created);
  auto other = Ingest(f.store, f.key, f.Upload("1.0", 5000, 8));
  REQUIRE_FALSE(other.ok());
  CHECK(other.status().http_status() == 409);
  CHECK_THAT(other.status().message(), Catch::Contains("app@1.0"));
  CHECK(CountEntries(f.store.tmp_dir()) == 0);
  CHECK(f.store.List().size() == 1);
}

TEST_CASE("ingest: a checksum mismatch is 422 and leaves nothing behind") {
  Fixture f;
  auto req = f.Upload("1.0", 5000, 7);
  req.expected_sha256 = std::string(64, 'a');
  auto r = Ingest(f.store, f.key, req);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().http_status() == 422);
  CHECK(CountEntries(f.store.tmp_dir()) == 0);
  CHECK(CountEntries(f.store.artifacts_dir()) == 0);
}

TEST_CASE("ingest: expected sha256 is compared case-insensitively") {
  Fixture f;
  auto req = f.Upload("1.0", 5000, 7);
  auto sha = Sha256File(req.upload_path);
  for (auto& c : *sha) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  req.expected_sha256 = *sha;
  CHECK(Ingest(f.store, f.key, req).ok());
}

TEST_CASE("store: reopening lists what was committed and empties tmp") {
  Fixture f;
  REQUIRE(Ingest(f.store, f.key, f.Upload("2.0", 4000, 1)).ok());
  REQUIRE(Ingest(f.store, f.key, f.Upload("1.0", 4000, 2)).ok());
  // Leftovers of an interrupted upload and an unfinished staging dir.
  WriteRandomFile(f.store.NewTempPath("upload"), 100, 3);
  REQUIRE(MakeDirs(f.store.NewTempPath("stage") + "/sub").ok());
  // A version dir without a manifest (not ours) must be skipped, not fatal.
  REQUIRE(MakeDirs(f.store.artifacts_dir() + "/junk/1").ok());

  ArtifactStore reopened(f.store.data_dir());
  REQUIRE(reopened.Open().ok());
  auto list = reopened.List();
  REQUIRE(list.size() == 2);
  CHECK(list[0].manifest.id() == "app@1.0");
  CHECK(list[1].manifest.id() == "app@2.0");
  CHECK_FALSE(list[0].torrent.empty());
  CHECK(reopened.Find("app", "2.0"));
  CHECK_FALSE(reopened.Find("app", "3.0"));
  CHECK(CountEntries(reopened.tmp_dir()) == 0);
}

TEST_CASE("store: a manifest whose size disagrees with the file is skipped") {
  Fixture f;
  auto r = Ingest(f.store, f.key, f.Upload("1.0", 4000, 1));
  REQUIRE(r.ok());
  std::ofstream(r->artifact.file_path(), std::ios::app) << "extra";
  ArtifactStore reopened(f.store.data_dir());
  REQUIRE(reopened.Open().ok());
  CHECK(reopened.List().empty());
}

TEST_CASE("ingest: concurrent uploads of one version store exactly one and refuse the other") {
  Fixture f;
  for (uint32_t other_seed : {7u, 8u}) {  // identical content, then different content
    std::string version = "v" + std::to_string(other_seed);
    auto a = f.Upload(version, 400 * 1024, 7);
    auto b = f.Upload(version, 400 * 1024, other_seed);
    Result<IngestResult> ra = Status::Io("not run"), rb = Status::Io("not run");
    std::thread ta([&] { ra = Ingest(f.store, f.key, a); });
    std::thread tb([&] { rb = Ingest(f.store, f.key, b); });
    ta.join();
    tb.join();
    INFO("version " << version);
    if (other_seed == 7) {
      REQUIRE(ra.ok());
      REQUIRE(rb.ok());
      CHECK(ra->created != rb->created);
    } else {
      CHECK(ra.ok() != rb.ok());
      CHECK((ra.ok() ? rb : ra).status().http_status() == 409);
    }
  }
  CHECK(f.store.List().size() == 2);
  CHECK(CountEntries(f.store.tmp_dir()) == 0);
}

TEST_CASE("store: abandoned temp entries are removed, fresh ones kept") {
  Fixture f;
  std::string old_upload = f.store.NewTempPath("upload");
  std::string live_upload = f.store.NewTempPath("upload");
  WriteRandomFile(old_upload, 100, 1);
  WriteRandomFile(live_upload, 100, 2);
  fs::last_write_time(old_upload, fs::file_time_type::clock::now() - std::chrono::hours(2));
  f.store.RemoveStaleTemp(std::chrono::hours(1));
  CHECK_FALSE(fs::exists(old_upload));
  CHECK(fs::exists(live_upload));
}

}  // namespace
}  // namespace spate::seeder
