// What a torrent tells stock clients about the trackers.
#include "seeder/torrent.h"

#include <libtorrent/announce_entry.hpp>
#include <libtorrent/torrent_info.hpp>

#include <catch2/catch.hpp>
#include <set>

#include "tests/support/cluster.h"
#include "wire/tracker_order.h"

namespace spate::seeder {
namespace {

using spate::testing::TempDir;
using spate::testing::WriteRandomFile;

TEST_CASE("a torrent lists every tracker one per tier in the swarm's failover order, its owner as announce") {
  TempDir dir{"spate-torrent-unit"};
  const std::vector<std::string> trackers = {"http://127.0.0.1:7070/announce", "http://127.0.0.11:7070/announce",
                                             "http://127.0.0.12:7070/announce"};
  std::set<std::string> owners;
  for (uint32_t seed = 1; seed <= 12; ++seed) {
    std::string name = "a" + std::to_string(seed) + ".bin";
    WriteRandomFile(dir / name, 100 * 1024, seed);
    auto t = MakeTorrent(dir.path().string(), name, trackers);
    REQUIRE(t.ok());
    lt::torrent_info ti(t->bytes.data(), static_cast<int>(t->bytes.size()));
    auto want = OrderTrackers(t->info_hash, trackers);
    REQUIRE(ti.trackers().size() == 3);
    for (size_t i = 0; i < 3; ++i) {
      CHECK(ti.trackers()[i].url == want[i]);
      CHECK(ti.trackers()[i].tier == i);  // BEP 12: one tracker per tier, so clients try them in this order
    }
    owners.insert(want[0]);
    // The trackers are outside the info dict: the info-hash is the bare torrent's.
    auto single = MakeTorrent(dir.path().string(), name, {trackers[0]});
    REQUIRE(single.ok());
    CHECK(single->info_hash == t->info_hash);
  }
  CHECK(owners.size() > 1);  // the swarms are spread over the trackers, not all on the first
}

}  // namespace
}  // namespace spate::seeder
