#include "wire/auth.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace spate::auth {
namespace {

namespace fs = std::filesystem;

struct Dir {
  fs::path path = fs::temp_directory_path() / ("spate-auth-" + std::to_string(::getpid()));
  Dir() { fs::create_directories(path); }
  ~Dir() { fs::remove_all(path); }
  std::string Write(const std::string& name, const std::string& text, mode_t mode) {
    std::string p = (path / name).string();
    std::ofstream(p) << text;
    ::chmod(p.c_str(), mode);
    return p;
  }
};

TEST_CASE("token comparison never matches an unset token or a prefix") {
  CHECK(TokenEquals("secret", "secret"));
  CHECK_FALSE(TokenEquals("secreT", "secret"));
  CHECK_FALSE(TokenEquals("secret1", "secret"));
  CHECK_FALSE(TokenEquals("secre", "secret"));
  CHECK_FALSE(TokenEquals("", "secret"));
  CHECK_FALSE(TokenEquals("", ""));
}

TEST_CASE("host token is the hex HMAC-SHA256 of spate-host:ID under the host secret") {
  // echo -n "spate-host:r1h1" | openssl dgst -sha256 -hmac fleet-secret
  CHECK(HostToken("fleet-secret", "r1h1") == "3b1e98c7240598b466450f947747faedb176ce4e0359fcfd525dc456f20b4c7c");
  CHECK(HostToken("fleet-secret", "r1h2") != HostToken("fleet-secret", "r1h1"));
  CHECK(HostToken("other-secret", "r1h1") != HostToken("fleet-secret", "r1h1"));
}

TEST_CASE("a secret file readable by group or other is refused with its mode and the fix") {
  Dir d;
  for (mode_t bad : {0644, 0640, 0604, 0660, 0602}) {
    std::string p = d.Write("open", "s3cret\n", bad);
    auto r = ReadSecretFile(p);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.status().message(), Catch::Contains("readable or writable by group or other"));
    CHECK_THAT(r.status().message(), Catch::Contains("chmod 600 " + p));
    CHECK_THAT(r.status().message(), !Catch::Contains("s3cret"));
  }
  auto ok = ReadSecretFile(d.Write("private", "  s3cret\n\n", 0600));
  REQUIRE(ok.ok());
  CHECK(*ok == "s3cret");
  CHECK(ReadSecretFile(d.Write("ro", "s3cret", 0400)).ok());
  CHECK_FALSE(ReadSecretFile(d.Write("empty", "\n", 0600)).ok());
  CHECK_FALSE(ReadSecretFile(d.Write("two", "a b\n", 0600)).ok());
  CHECK_FALSE(ReadSecretFile((d.path / "missing").string()).ok());
  CHECK_FALSE(ReadSecretFile(d.path.string()).ok());  // a directory
}

TEST_CASE("the host secret is read alone or from the tracker's token file") {
  Dir d;
  CHECK(*ReadHostSecret(d.Write("alone", "a-host-secret\n", 0600)) == "a-host-secret");
  CHECK(*ReadHostSecret(d.Write("file", "register r\npush p\nhost-secret fleet\n", 0600)) == "fleet");
  auto none = ReadHostSecret(d.Write("none", "register r\npush p\n", 0600));
  REQUIRE_FALSE(none.ok());
  CHECK_THAT(none.status().message(), Catch::EndsWith(": no host-secret line"));
  CHECK_FALSE(ReadHostSecret(d.Write("open", "fleet\n", 0640)).ok());
}

TEST_CASE("a secret comes from the file first, then the environment in order") {
  Dir d;
  ::setenv("SPATE_TEST_A", "from-a", 1);
  ::setenv("SPATE_TEST_B", "from-b", 1);
  ::setenv("SPATE_TEST_EMPTY", "", 1);
  CHECK(*SecretFrom("--f", d.Write("t", "from-file\n", 0600), {"SPATE_TEST_A"}) == "from-file");
  CHECK(*SecretFrom("--f", "", {"SPATE_TEST_EMPTY", "SPATE_TEST_B", "SPATE_TEST_A"}) == "from-b");
  CHECK(*SecretFrom("--f", "", {"SPATE_TEST_UNSET_XYZ"}) == "");
  auto bad = SecretFrom("--f", d.Write("o", "x\n", 0644), {"SPATE_TEST_A"});
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.status().message(), Catch::StartsWith("--f: secret file"));
  ::setenv("SPATE_TEST_A", "two words", 1);
  CHECK_FALSE(SecretFrom("--f", "", {"SPATE_TEST_A"}).ok());
}

TEST_CASE("token file: roles, host secret, comments and errors with file and line") {
  auto f = ParseTokenFile("# tracker tokens\n\nregister reg-token\npush  push-token  # the release team\n"
                          "read read#token\nhost-secret fleet-secret\n",
                          "t");
  REQUIRE(f.ok());
  CHECK(f->tokens.at(Role::kRegister) == "reg-token");
  CHECK(f->tokens.at(Role::kPush) == "push-token");
  CHECK(f->tokens.at(Role::kRead) == "read#token");
  CHECK(f->host_secret == "fleet-secret");

  auto err = [](const std::string& text) { return ParseTokenFile(text, "t").status().message(); };
  CHECK(err("register a\npush b\nadmin c\n") ==
        "t:3: unknown role 'admin': the tracker takes register, push, read and host-secret (host tokens are derived "
        "from host-secret; upload tokens belong to the seeder)");
  CHECK_THAT(err("register a\npush b\nupload c\n"), Catch::StartsWith("t:3: unknown role 'upload'"));
  CHECK(err("register a\npush\n") == "t:2: want 'ROLE TOKEN' (register, push, read) or 'host-secret SECRET'");
  CHECK(err("register a\npush b\npush c\n") == "t:3: push given twice");
  CHECK(err("register a\n") == "t: no push token");
  CHECK(err("register a\npush a\n") == "t: register and push are the same; give each its own secret");
  CHECK(err("register a\npush b\nhost-secret b\n") == "t: push and host-secret are the same; give each its own secret");
}

TEST_CASE("keyring: no token is 401, an unknown one 401, another role's 403, a push token may read") {
  Keyring k;
  k.Set(Role::kRegister, "reg");
  k.Set(Role::kPush, "push");
  k.Set(Role::kRead, "read");
  k.SetHostSecret("fleet");
  CHECK(k.Check("", Role::kPush).http_status() == 401);
  CHECK(k.Check("nope", Role::kPush).http_status() == 401);
  CHECK(k.Check("read", Role::kPush).http_status() == 403);
  CHECK(k.Check("reg", Role::kPush).http_status() == 403);
  CHECK(k.Check("push", Role::kPush).ok());
  CHECK(k.Check("push", Role::kRead).ok());
  CHECK(k.Check("read", Role::kRead).ok());
  CHECK(k.Check("reg", Role::kRead).http_status() == 403);
  CHECK(k.Check("push", Role::kRegister).http_status() == 403);
  CHECK(k.Check("reg", Role::kRegister).ok());
  CHECK(k.Check("read", Role::kPush).message() == "this needs the push role; the token given is a read token");

  // A host token is good for its own host only; nobody else's token acts as a host.
  CHECK(k.Check(HostToken("fleet", "a"), Role::kHost, "a").ok());
  CHECK(k.Check(HostToken("fleet", "b"), Role::kHost, "a").http_status() == 403);
  CHECK(k.Check("push", Role::kHost, "a").http_status() == 403);
  CHECK(k.Check("", Role::kHost, "a").http_status() == 401);
  CHECK(k.Check(HostToken("fleet", "a"), Role::kPush).http_status() == 401);

  // Once a host's token matched (and is remembered), others are still refused for it.
  CHECK(k.Check(HostToken("fleet", "a"), Role::kHost, "a").ok());
  CHECK(k.Check(HostToken("fleet", "b"), Role::kHost, "a").http_status() == 403);
  CHECK(k.Check(HostToken("fleet", "a") + "0", Role::kHost, "a").http_status() == 403);
  // A new secret forgets the tokens of the old one, in copies made after it too.
  k.SetHostSecret("fleet2");
  Keyring copy = k;
  CHECK(copy.Check(HostToken("fleet", "a"), Role::kHost, "a").http_status() == 403);
  CHECK(copy.Check(HostToken("fleet2", "a"), Role::kHost, "a").ok());
  CHECK(k.Check(HostToken("fleet2", "a"), Role::kHost, "a").ok());

  // The old single admin token: one token, two roles.
  Keyring old;
  old.Set(Role::kRegister, "admin");
  old.Set(Role::kPush, "admin");
  CHECK(old.Check("admin", Role::kRegister).ok());
  CHECK(old.Check("admin", Role::kPush).ok());
  CHECK(old.Check("admin", Role::kRead).ok());
  CHECK_FALSE(old.Has(Role::kRead));
  CHECK_FALSE(old.HasHostSecret());
}

}  // namespace
}  // namespace spate::auth
