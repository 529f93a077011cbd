#include "tracker/grant_watch.h"

#include <catch2/catch.hpp>

using namespace spate;

TEST_CASE("a grantee stalls when its left stops decreasing, and is barred until it progresses") {
  GrantWatch w;
  PeerId a = MakePeerId("aaaaaaaaaaaaaaaaaaaa"), b = MakePeerId("bbbbbbbbbbbbbbbbbbbb");
  w.Start(a, 1000, 0);
  CHECK_FALSE(w.Stalled(a, 1000, 29'999, 30'000));
  w.Observe(a, 900, 20'000);  // progress restarts the clock
  CHECK_FALSE(w.Stalled(a, 900, 49'999, 30'000));
  w.Observe(a, 900, 49'000);  // no progress: the clock keeps running
  CHECK(w.Stalled(a, 900, 50'000, 30'000));
  CHECK_FALSE(w.Stalled(a, 0, 90'000, 30'000));  // finished gateways keep their grant
  CHECK_FALSE(w.Stalled(b, 10, 90'000, 30'000));  // never granted
  w.Revoke(a);
  CHECK(w.Barred(a));
  CHECK_FALSE(w.Stalled(a, 900, 90'000, 30'000));
  w.Observe(a, 800, 91'000);
  CHECK_FALSE(w.Barred(a));
  w.Forget(a);
  CHECK(w.size() == 0);
}
