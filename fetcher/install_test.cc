#include "fetcher/install.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "tests/support/cluster.h"
#include "wire/crypto.h"

namespace fs = std::filesystem;
using spate::testing::TempDir;

namespace {

spate::Manifest ManifestFor(const std::string& file, const std::string& version) {
  spate::Manifest m;
  m.name = "app";
  m.version = version;
  m.filename = "app.bin";
  m.size = fs::file_size(file);
  m.sha256 = *spate::Sha256File(file);
  m.info_hash = std::string(40, 'a');
  m.piece_size = 16384;
  return m;
}

std::vector<std::string> TmpLeftovers(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::string n = e.path().filename().string();
    if (n.rfind(".tmp-", 0) == 0 || n.rfind(".current-", 0) == 0) out.push_back(n);
  }
  return out;
}

}  // namespace

TEST_CASE("install puts a verified file in name/version and points current at it") {
  TempDir t;
  std::string staging = t / "staging.bin";
  spate::testing::WriteRandomFile(staging, 300000, 1);
  auto m = ManifestFor(staging, "1.0");
  std::string root = t / "install";

  REQUIRE(spate::Install(staging, m, root).ok());
  fs::path vdir = fs::path(root) / "app" / "1.0";
  CHECK(spate::testing::ReadAll((vdir / "app.bin").string()) == spate::testing::ReadAll(staging));
  CHECK(fs::exists(vdir / "manifest.json"));
  CHECK(fs::read_symlink(fs::path(root) / "app" / "current") == "1.0");
  CHECK(spate::IsInstalled(m, root));
  // Hard link: the staging copy stays for seeding and shares the inode.
  CHECK(fs::exists(staging));
  CHECK(fs::hard_link_count(staging) == 2);
  CHECK(TmpLeftovers(fs::path(root) / "app").empty());
}

TEST_CASE("install refuses a file whose sha256 does not match and installs nothing") {
  TempDir t;
  std::string good = t / "good.bin";
  spate::testing::WriteRandomFile(good, 200000, 2);
  std::string root = t / "install";
  REQUIRE(spate::Install(good, ManifestFor(good, "1.0"), root).ok());

  std::string bad = t / "bad.bin";
  spate::testing::WriteRandomFile(bad, 200000, 3);
  auto m = ManifestFor(bad, "2.0");
  spate::testing::WriteRandomFile(bad, 200000, 4);  // same size, different bytes

  spate::Status s = spate::Install(bad, m, root);
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == spate::Status::Code::kCorrupt);
  CHECK(s.message().find("sha256 mismatch: expected " + m.sha256 + " got ") == 0);
  CHECK_FALSE(fs::exists(fs::path(root) / "app" / "2.0"));
  CHECK(fs::read_symlink(fs::path(root) / "app" / "current") == "1.0");
  CHECK(TmpLeftovers(fs::path(root) / "app").empty());
}

TEST_CASE("install refuses a file of the wrong size") {
  TempDir t;
  std::string f = t / "f.bin";
  spate::testing::WriteRandomFile(f, 1000, 5);
  auto m = ManifestFor(f, "1.0");
  m.size = 999;
  spate::Status s = spate::Install(f, m, t / "install");
  CHECK(s.code() == spate::Status::Code::kCorrupt);
  CHECK_FALSE(fs::exists(fs::path(t / "install") / "app" / "1.0"));
}

TEST_CASE("installing a second version switches current, reinstalling the first switches back") {
  TempDir t;
  std::string root = t / "install";
  std::string v1 = t / "v1.bin", v2 = t / "v2.bin";
  spate::testing::WriteRandomFile(v1, 100000, 6);
  spate::testing::WriteRandomFile(v2, 120000, 7);
  auto m1 = ManifestFor(v1, "1.0"), m2 = ManifestFor(v2, "2.0");
  REQUIRE(spate::Install(v1, m1, root).ok());
  REQUIRE(spate::Install(v2, m2, root).ok());
  fs::path app = fs::path(root) / "app";
  CHECK(fs::read_symlink(app / "current") == "2.0");
  CHECK(spate::testing::ReadAll((app / "current" / "app.bin").string()) == spate::testing::ReadAll(v2));
  CHECK(fs::exists(app / "1.0" / "app.bin"));

  // Same version again (e.g. after a restart): success, current switched back.
  REQUIRE(spate::Install(v1, m1, root).ok());
  CHECK(fs::read_symlink(app / "current") == "1.0");
  CHECK(TmpLeftovers(app).empty());
}

TEST_CASE("install refuses to replace an existing version with different content") {
  TempDir t;
  std::string root = t / "install";
  std::string a = t / "a.bin", b = t / "b.bin";
  spate::testing::WriteRandomFile(a, 5000, 8);
  spate::testing::WriteRandomFile(b, 5000, 9);
  REQUIRE(spate::Install(a, ManifestFor(a, "1.0"), root).ok());
  spate::Status s = spate::Install(b, ManifestFor(b, "1.0"), root);
  CHECK(s.code() == spate::Status::Code::kConflict);
  CHECK(spate::testing::ReadAll(root + "/app/1.0/app.bin") == spate::testing::ReadAll(a));
  CHECK(TmpLeftovers(fs::path(root) / "app").empty());
}

TEST_CASE("a crash mid-install leaves temp entries that the startup sweep removes, and nothing else") {
  TempDir t;
  std::string staging = t / "staging.bin";
  spate::testing::WriteRandomFile(staging, 300000, 3);
  fs::path root = t / "install";
  REQUIRE(spate::Install(staging, ManifestFor(staging, "1.0"), root.string()).ok());
  // What kill -9 between mkdir and rename, or between symlink and rename, leaves.
  fs::create_directories(root / "app" / ".tmp-2.0-0123456789abcdef");
  std::ofstream(root / "app" / ".tmp-2.0-0123456789abcdef" / "app.bin") << "half";
  fs::create_symlink("2.0", root / "app" / ".current-0123456789abcdef");
  fs::create_directories(root / ".spate" / "staging" / ".tmp-keep");
  CHECK(spate::SweepInstallLeftovers(root.string()) == 2);
  CHECK(TmpLeftovers(root / "app").empty());
  CHECK(fs::read_symlink(root / "app" / "current") == "1.0");
  CHECK(fs::exists(root / "app" / "1.0" / "app.bin"));
  CHECK(fs::exists(root / ".spate" / "staging" / ".tmp-keep"));  // not an artifact dir
}
