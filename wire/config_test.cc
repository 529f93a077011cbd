#include "wire/config.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

using namespace spate;

namespace {

const std::vector<ConfigKey> kKeys = {
    {"listen"}, {"db"}, {"activate-hook"}, {"tracker"}, {"trust-ip-param", true}, {"lt-set", false, true}};

std::vector<std::string> Args(const std::string& text) {
  auto r = ParseConfig(text, "t.conf", kKeys);
  INFO(r.status().message());
  REQUIRE(r.ok());
  std::vector<std::string> out;
  for (const auto& a : *r) out.push_back(a.arg);
  return out;
}

std::string Error(const std::string& text) {
  auto r = ParseConfig(text, "/etc/spate/t.conf", kKeys);
  REQUIRE_FALSE(r.ok());
  return r.status().message();
}

using V = std::vector<std::string>;

// A daemon's options as the commands declare them, in a fresh Options each
// time (ParseWithConfig adds --config to it).
cxxopts::Options DaemonOptions() {
  cxxopts::Options opts("spate test");
  // clang-format off
  opts.add_options()
      ("listen", "address", cxxopts::value<std::string>()->default_value("127.0.0.1:7070"))
      ("bridges", "count", cxxopts::value<int>()->default_value("3"))
      ("lt-set", "repeatable", cxxopts::value<std::vector<std::string>>())
      ("trust-ip-param", "switch")
      ("h,help", "show help");
  // clang-format on
  return opts;
}

struct TempFile {
  explicit TempFile(const std::string& text)
      : path((std::filesystem::temp_directory_path() / ("spate-config-" + std::to_string(::getpid()) + ".conf"))
                 .string()) {
    std::ofstream(path) << text;
  }
  ~TempFile() { std::filesystem::remove(path); }
  std::string path;
};

cxxopts::ParseResult Parse(cxxopts::Options& opts, std::vector<std::string> argv) {
  std::vector<char*> p;
  for (auto& a : argv) p.push_back(a.data());
  return ParseWithConfig(opts, int(p.size()), p.data());
}

}  // namespace

TEST_CASE("config lines read as key = value, key value and key=value") {
  CHECK(Args("listen = 0.0.0.0:7070\ndb /var/lib/spate/t.db\ntracker=http://t:7070\n") ==
        V{"--listen=0.0.0.0:7070", "--db=/var/lib/spate/t.db", "--tracker=http://t:7070"});
  // Surrounding blanks, tabs and Windows line ends do not reach the value.
  CHECK(Args("  listen\t=\t10.0.0.1:7070  \r\n") == V{"--listen=10.0.0.1:7070"});
  CHECK(Args("") == V{});
  CHECK(Args("listen = a:1") == V{"--listen=a:1"});  // no final newline
}

TEST_CASE("config comments start a line or follow a space, so a hash inside a value stays") {
  CHECK(Args("# tracker\n\n   # indented\nlisten = a:1   # the public side\n") == V{"--listen=a:1"});
  CHECK(Args("tracker = http://t:7070/#frag\n") == V{"--tracker=http://t:7070/#frag"});
  CHECK(Args("activate-hook = \"systemctl reload web # keep\" # comment\n") ==
        V{"--activate-hook=systemctl reload web # keep"});
  CHECK(Args("activate-hook = 'echo \"hi\"'\n") == V{"--activate-hook=echo \"hi\""});
  // "key =" with nothing after it is an explicit empty value.
  CHECK(Args("db =\ntracker = # none\n") == V{"--db=", "--tracker="});
}

TEST_CASE("config switches are on when named or true and absent when false") {
  CHECK(Args("trust-ip-param\n") == V{"--trust-ip-param"});
  CHECK(Args("trust-ip-param = true\n") == V{"--trust-ip-param"});
  CHECK(Args("trust-ip-param yes\n") == V{"--trust-ip-param"});
  CHECK(Args("trust-ip-param = False\n") == V{});
  CHECK(Args("trust-ip-param = off  # for now\n") == V{});
  CHECK(Error("trust-ip-param = maybe\n") ==
        "/etc/spate/t.conf:1: 'trust-ip-param' is a switch: want true or false, not 'maybe'");
}

TEST_CASE("config errors name the file and the line") {
  CHECK(Error("# ok\nlisten = a:1\nlisen = b:2\n") == "/etc/spate/t.conf:3: unknown key 'lisen'");
  CHECK(Error("--listen a:1\n") == "/etc/spate/t.conf:1: unknown key '--listen' (write keys without the leading '--')");
  CHECK(Error("\nlisten\n") == "/etc/spate/t.conf:2: 'listen' needs a value (listen = VALUE)");
  CHECK(Error("listen # later\n") == "/etc/spate/t.conf:1: 'listen' needs a value (listen = VALUE)");
  CHECK(Error("listen = a:1\n\nlisten = b:2\n") == "/etc/spate/t.conf:3: 'listen' is already set on line 1");
  CHECK(Error("activate-hook = \"echo\n") == "/etc/spate/t.conf:1: no closing \"");
  CHECK(Error("activate-hook = \"echo\" x\n") == "/etc/spate/t.conf:1: text after the closing quote: 'x'");
  // help and config are flags of the command line only.
  CHECK(ParseConfig("help\n", "f", ConfigKeys(DaemonOptions())).status().message() == "f:1: unknown key 'help'");
}

TEST_CASE("config keys that repeat keep every line in order") {
  CHECK(Args("lt-set = a=1\nlt-set = b=2\n") == V{"--lt-set=a=1", "--lt-set=b=2"});
}

TEST_CASE("config keys come from the command's long flags") {
  auto keys = ConfigKeys(DaemonOptions());
  REQUIRE(keys.size() == 4);
  CHECK(keys[0].name == "listen");
  auto find = [&](const std::string& n) {
    return *std::find_if(keys.begin(), keys.end(), [&](const ConfigKey& k) { return k.name == n; });
  };
  CHECK(find("trust-ip-param").boolean);
  CHECK_FALSE(find("bridges").boolean);
  CHECK(find("lt-set").repeatable);
  CHECK_FALSE(find("listen").repeatable);
}

TEST_CASE("config file values apply and command line flags win over them") {
  TempFile f("listen = 0.0.0.0:7070\nbridges = 5\ntrust-ip-param\nlt-set = a=1\n");
  {
    auto opts = DaemonOptions();
    auto r = Parse(opts, {"tracker", "--config", f.path});
    CHECK(r["listen"].as<std::string>() == "0.0.0.0:7070");
    CHECK(r["bridges"].as<int>() == 5);
    CHECK(r.count("trust-ip-param") == 1);
    CHECK(r["lt-set"].as<std::vector<std::string>>() == V{"a=1"});
  }
  {
    auto opts = DaemonOptions();
    auto r = Parse(opts, {"tracker", "--listen", "127.0.0.1:0", "--config=" + f.path, "--lt-set", "b=2"});
    CHECK(r["listen"].as<std::string>() == "127.0.0.1:0");
    CHECK(r["bridges"].as<int>() == 5);
    CHECK(r["lt-set"].as<std::vector<std::string>>() == V{"a=1", "b=2"});
  }
  {
    // Without --config nothing changes.
    auto opts = DaemonOptions();
    auto r = Parse(opts, {"tracker", "--bridges", "7"});
    CHECK(r["bridges"].as<int>() == 7);
    CHECK(r["listen"].as<std::string>() == "127.0.0.1:7070");
  }
}

TEST_CASE("config file errors reach the command as exceptions naming the file") {
  auto fails_with = [](const std::string& text, const std::string& message) {
    TempFile f(text);
    auto opts = DaemonOptions();
    try {
      Parse(opts, {"tracker", "--config", f.path});
      FAIL("no exception for: " << text);
    } catch (const std::exception& e) {
      CHECK(std::string(e.what()).find(f.path + message) == 0);
    }
  };
  fails_with("\nbridges = many\n", ":2: bridges: ");  // then cxxopts' own words
  fails_with("colour = blue\n", ":1: unknown key 'colour'");
  fails_with("config = /etc/other.conf\n", ":1: unknown key 'config'");

  auto opts = DaemonOptions();
  CHECK_THROWS_WITH(Parse(opts, {"tracker", "--config", "/nonexistent/spate.conf"}),
                    Catch::Contains("/nonexistent/spate.conf"));
  auto again = DaemonOptions();
  TempFile f("listen = a:1\n");
  CHECK_THROWS_WITH(Parse(again, {"tracker", "--config", f.path, "--config", f.path}), "--config given more than once");
  auto dir = DaemonOptions();
  CHECK_THROWS_WITH(Parse(dir, {"tracker", "--config", "/tmp"}), Catch::Contains("is a directory"));
}
