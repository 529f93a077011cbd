#include "wire/crypto.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

#include "wire/api.h"
#include "wire/fs.h"

using namespace spate;
namespace fs = std::filesystem;

TEST_CASE("sha256 of a file matches the known digest") {
  auto dir = fs::temp_directory_path() / ("spate-crypto-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "abc") << "abc";
  auto h = Sha256File((dir / "abc").string());
  REQUIRE(h.ok());
  CHECK(*h == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Sha256Hex("abc") == *h);
  CHECK_FALSE(Sha256File((dir / "missing").string()).ok());
  fs::remove_all(dir);
}

TEST_CASE("base64 and hex round-trip binary data") {
  std::string bin("\0\x01\xfe\xff abc", 8);
  for (size_t n = 0; n <= bin.size(); ++n) {
    auto b = Base64Decode(Base64Encode(bin.substr(0, n)));
    REQUIRE(b.ok());
    CHECK(*b == bin.substr(0, n));
  }
  CHECK(*HexDecode(HexEncode(bin)) == bin);
  CHECK_FALSE(Base64Decode("abc").ok());
  CHECK_FALSE(HexDecode("zz").ok());
}

TEST_CASE("a signed manifest verifies and any change breaks the signature") {
  auto dir = fs::temp_directory_path() / ("spate-key-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto key = SigningKey::LoadOrCreate((dir / "seeder.key").string());
  REQUIRE(key.ok());
  auto again = SigningKey::LoadOrCreate((dir / "seeder.key").string());
  REQUIRE(again.ok());
  CHECK(again->PublicKeyPem() == key->PublicKeyPem());
  auto pub = VerifyKey::FromPem(key->PublicKeyPem());
  REQUIRE(pub.ok());

  Manifest m;
  m.name = "a";
  m.version = "1";
  m.filename = "a";
  m.size = 3;
  m.sha256 = std::string(64, '0');
  m.info_hash = std::string(40, '0');
  REQUIRE(m.Sign(*key).ok());
  CHECK(m.Verify(*pub).ok());
  Manifest tampered = m;
  tampered.size = 4;
  CHECK_FALSE(tampered.Verify(*pub).ok());
  auto other = SigningKey::LoadOrCreate((dir / "other.key").string());
  CHECK_FALSE(m.Verify(*VerifyKey::FromPem(other->PublicKeyPem())).ok());
  CHECK_FALSE(VerifyKey::FromPem("not a key").ok());
  fs::remove_all(dir);
}

namespace {

// Runs LoadOrCreate where opening `path` fails with EACCES: as an
// unprivileged user in a forked child when root (root ignores modes).
// Returns the child's status: 0 = refused, 1 = accepted (key made or read).
int LoadUnreadable(const std::string& path) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::geteuid() == 0 && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(3);
    auto k = SigningKey::LoadOrCreate(path);
    ::_exit(k.ok() ? 1 : (k.status().message().find("Permission denied") != std::string::npos ? 0 : 2));
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

}  // namespace

TEST_CASE("a signing key that exists but cannot be read is an error and never replaced") {
  auto dir = fs::temp_directory_path() / ("spate-key-eacces-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // The directory stays writable for anyone, so the old code could write a
  // new key next to the unreadable one and rename it over.
  fs::permissions(dir, fs::perms::all);
  std::string path = (dir / "seeder.key").string();
  auto key = SigningKey::LoadOrCreate(path);
  REQUIRE(key.ok());
  std::string before = ReadFile(path).value();
  fs::permissions(path, fs::perms::none);
  CHECK(LoadUnreadable(path) == 0);
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  CHECK(ReadFile(path).value() == before);
  CHECK_FALSE(fs::exists(path + ".tmp"));
  auto again = SigningKey::LoadOrCreate(path);
  REQUIRE(again.ok());
  CHECK(again->PublicKeyPem() == key->PublicKeyPem());
  fs::remove_all(dir);
}
