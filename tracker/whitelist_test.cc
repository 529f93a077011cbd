#include "tracker/whitelist.h"

#include <catch2/catch.hpp>

namespace spate {
namespace {

TEST_CASE("whitelist reads hashes, comments, blank lines and upper case, without duplicates") {
  auto w = ParseWhitelist(
      "# deploy torrents\n"
      "0123456789abcdef0123456789abcdef01234567\n"
      "\n"
      "  89ABCDEF89ABCDEF89ABCDEF89ABCDEF89ABCDEF   # upper case\r\n"
      "0123456789abcdef0123456789abcdef01234567\n",
      "w");
  REQUIRE(w.ok());
  REQUIRE(w->size() == 2);
  CHECK((*w)[0].size() == 20);
  CHECK((unsigned char)(*w)[1][0] == 0x89);
}

TEST_CASE("whitelist errors name the file and line") {
  auto short_hash = ParseWhitelist("# ok\n0123\n", "list.txt");
  REQUIRE_FALSE(short_hash.ok());
  CHECK(short_hash.status().message().rfind("list.txt:2: ", 0) == 0);
  auto not_hex = ParseWhitelist(std::string(40, 'g') + "\n", "f");
  REQUIRE_FALSE(not_hex.ok());
  CHECK(not_hex.status().message().rfind("f:1: ", 0) == 0);
  auto two = ParseWhitelist("\n\n" + std::string(40, 'a') + " " + std::string(40, 'b') + "\n", "f");
  REQUIRE_FALSE(two.ok());
  CHECK(two.status().message().rfind("f:3: ", 0) == 0);
}

TEST_CASE("an empty whitelist is valid and empty") {
  auto w = ParseWhitelist("# nothing yet\n", "f");
  REQUIRE(w.ok());
  CHECK(w->empty());
}

}  // namespace
}  // namespace spate
