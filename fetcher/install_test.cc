#include "fetcher/install.h"

#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "fetcher/activate.h"
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

ino_t Inode(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_ino;
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
  // The staging copy stays for seeding, with an inode of its own (install.h).
  CHECK(fs::exists(staging));
  CHECK(fs::hard_link_count(staging) == 1);
  CHECK(Inode(staging) != Inode((vdir / "app.bin").string()));
  CHECK(TmpLeftovers(fs::path(root) / "app").empty());
}

TEST_CASE("after install, writes into the staging file being seeded never reach the installed bytes") {
  TempDir t;
  std::string staging = t / "staging.bin";
  spate::testing::WriteRandomFile(staging, 3 << 20, 11);
  const std::string original = spate::testing::ReadAll(staging);
  auto m = ManifestFor(staging, "1.0");
  std::string root = t / "install";
  REQUIRE(spate::Install(staging, m, root).ok());
  std::string installed = (fs::path(root) / "app" / "current" / "app.bin").string();

  // What libtorrent may do to the file it seeds from: rewrite pieces in place
  // (a recheck, a retry), or truncate and regrow it.
  {
    std::fstream f(staging, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1 << 20);
    f << std::string(4096, 'X');
  }
  CHECK(spate::testing::ReadAll(staging) != original);
  CHECK(spate::testing::ReadAll(installed) == original);
  fs::resize_file(staging, 10);
  CHECK(spate::testing::ReadAll(installed) == original);
  CHECK(spate::IsInstalled(m, root));
  CHECK(*spate::Sha256File(installed) == m.sha256);
}

TEST_CASE("a version dir planted as a symlink to elsewhere is not installed through, counted or activated") {
  TempDir t, elsewhere("spate-elsewhere");
  std::string staging = t / "staging.bin";
  spate::testing::WriteRandomFile(staging, 100000, 12);
  auto m = ManifestFor(staging, "1.0");
  std::string root = t / "install";
  // Someone else's look-alike: the signed manifest (public) and a file of the right size.
  spate::testing::WriteRandomFile(elsewhere / "app.bin", m.size, 13);
  std::ofstream(elsewhere / "manifest.json") << spate::ToJson(m).dump(2);
  fs::create_directories(fs::path(root) / "app");
  fs::create_symlink(elsewhere.path(), fs::path(root) / "app" / "1.0");

  CHECK_FALSE(spate::IsInstalled(m, root));
  spate::Status s = spate::Install(staging, m, root);
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == spate::Status::Code::kConflict);
  CHECK_THAT(s.message(), Catch::Contains("symlink"));
  CHECK_FALSE(fs::exists(fs::symlink_status(fs::path(root) / "app" / "current")));
  CHECK(TmpLeftovers(fs::path(root) / "app").empty());
  // Nothing was written where it points.
  std::vector<std::string> there;
  for (const auto& e : fs::directory_iterator(elsewhere.path())) there.push_back(e.path().filename().string());
  std::sort(there.begin(), there.end());
  CHECK(there == std::vector<std::string>{"app.bin", "manifest.json"});
  CHECK(spate::testing::ReadAll(elsewhere / "app.bin") != spate::testing::ReadAll(staging));

  // Activation asks IsInstalled first, so `current` never points through it.
  spate::ActivationConfig cfg;
  cfg.install_dir = root;
  cfg.data_dir = t / "data";
  auto r = spate::Activate(cfg, 1, m);
  CHECK_FALSE(r.status.ok());
  CHECK_FALSE(fs::exists(fs::symlink_status(fs::path(root) / "app" / "current")));
}

TEST_CASE("a name dir planted as a symlink to elsewhere is not installed through") {
  TempDir t, elsewhere("spate-elsewhere");
  std::string staging = t / "staging.bin";
  spate::testing::WriteRandomFile(staging, 100000, 14);
  auto m = ManifestFor(staging, "1.0");
  std::string root = t / "install";
  fs::create_directories(root);
  fs::create_symlink(elsewhere.path(), fs::path(root) / "app");
  spate::Status s = spate::Install(staging, m, root);
  REQUIRE_FALSE(s.ok());
  CHECK(s.code() == spate::Status::Code::kConflict);
  CHECK(fs::is_empty(elsewhere.path()));  // no version dir, temp dir or `current` there
  CHECK_FALSE(spate::IsInstalled(m, root));
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
