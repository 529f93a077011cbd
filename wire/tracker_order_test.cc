#include "wire/tracker_order.h"

#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "wire/crypto.h"

namespace spate {
namespace {

const std::vector<std::string> kThree = {"http://127.0.0.1:7070/announce", "http://127.0.0.11:7070/announce",
                                         "http://127.0.0.12:7070/announce"};

std::string Hash(int i) { return Sha256Hex("swarm " + std::to_string(i)).substr(0, 40); }

TEST_CASE("tracker order is a permutation that does not depend on how the list is written down") {
  std::vector<std::string> reversed(kThree.rbegin(), kThree.rend());
  std::vector<std::string> slashed = kThree;
  for (auto& t : slashed) t += "/";
  for (int i = 0; i < 200; ++i) {
    auto order = OrderTrackers(Hash(i), kThree);
    REQUIRE(std::set<std::string>(order.begin(), order.end()).size() == 3);
    CHECK(OrderTrackers(Hash(i), reversed) == order);
    auto idx = TrackerOrder(Hash(i), slashed);
    for (size_t k = 0; k < 3; ++k) CHECK(slashed[idx[k]] == order[k] + "/");
  }
}

TEST_CASE("each tracker owns about a third of the swarms and a dead one's swarms spread over the rest") {
  std::map<std::string, int> owner, second_of_first;
  const int n = 3000;
  for (int i = 0; i < n; ++i) {
    auto order = OrderTrackers(Hash(i), kThree);
    ++owner[order[0]];
    if (order[0] == kThree[0]) ++second_of_first[order[1]];
  }
  for (const auto& t : kThree) {
    INFO(t);
    CHECK(owner[t] > n / 3 - 150);
    CHECK(owner[t] < n / 3 + 150);
  }
  // Not one survivor inheriting everything: each takes about half.
  CHECK(second_of_first[kThree[1]] > owner[kThree[0]] / 2 - 100);
  CHECK(second_of_first[kThree[2]] > owner[kThree[0]] / 2 - 100);
}

TEST_CASE("removing a tracker moves only the swarms it owned, and keeps the others' failover order") {
  std::vector<std::string> two = {kThree[0], kThree[2]};
  for (int i = 0; i < 500; ++i) {
    auto full = OrderTrackers(Hash(i), kThree);
    std::vector<std::string> without;
    for (const auto& t : full)
      if (t != kThree[1]) without.push_back(t);
    CHECK(OrderTrackers(Hash(i), two) == without);
  }
}

TEST_CASE("tracker order has known values, so seeder and fetcher builds agree") {
  // Pinned: a change here reorders every swarm of a running fleet whose
  // seeder and fetchers run different versions.
  // SHA-256("<hash>\n<url>"), highest first (checked with Python's hashlib).
  CHECK(TrackerOrder("0123456789abcdef0123456789abcdef01234567", kThree) == std::vector<size_t>{2, 1, 0});
  CHECK(TrackerOrder("x", {}).empty());
  CHECK(TrackerOrder("x", {"http://a/announce"}) == std::vector<size_t>{0});
}

TEST_CASE("tracker lists split on commas whether given once or repeated") {
  CHECK(SplitList({"http://a, http://b", "http://c"}) == std::vector<std::string>{"http://a", "http://b", "http://c"});
  CHECK(SplitList({"http://a,,"}) == std::vector<std::string>{"http://a"});
  CHECK(SplitList({}).empty());
}

}  // namespace
}  // namespace spate
