#include "wire/units.h"

#include <catch2/catch.hpp>

using namespace spate;

TEST_CASE("byte sizes parse with binary suffixes and reject junk") {
  CHECK(*ParseBytes("1048576") == 1048576u);
  CHECK(*ParseBytes("4MiB") == 4u << 20);
  CHECK(*ParseBytes("512k") == 512u << 10);
  CHECK(*ParseBytes("1.5G") == 3u << 29);
  CHECK_FALSE(ParseBytes("").ok());
  CHECK_FALSE(ParseBytes("MiB").ok());
  CHECK_FALSE(ParseBytes("4 parsecs").ok());
  CHECK_FALSE(ParseBytes("-1").ok());
}

TEST_CASE("durations parse and format") {
  CHECK(ParseDuration("90s")->count() == 90000);
  CHECK(ParseDuration("10m")->count() == 600000);
  CHECK(ParseDuration("250ms")->count() == 250);
  CHECK(ParseDuration("7")->count() == 7000);
  CHECK_FALSE(ParseDuration("soon").ok());
  CHECK(FormatDuration(std::chrono::milliseconds(400)) == "0.4s");
  CHECK(FormatDuration(std::chrono::milliseconds(185000)) == "3m05s");
  CHECK(FormatBytes(1536) == "1.5 KiB");
  CHECK(FormatBytes(100) == "100 B");
}
