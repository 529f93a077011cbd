#include "wire/daemon.h"

#include <sys/resource.h>

#include <catch2/catch.hpp>

using namespace spate;

TEST_CASE("RaiseFileLimit lifts the soft open-file limit to the hard one") {
  rlimit old{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
  if (old.rlim_max == RLIM_INFINITY || old.rlim_max < 512) return;  // nothing to lower and raise here
  rlimit low = old;
  low.rlim_cur = 256;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &low) == 0);
  uint64_t now = RaiseFileLimit();
  rlimit after{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &after) == 0);
  ::setrlimit(RLIMIT_NOFILE, &old);
  CHECK(after.rlim_cur == old.rlim_max);
  CHECK(after.rlim_max == old.rlim_max);  // never above the operator's hard limit
  CHECK(now == uint64_t(old.rlim_max));
}
