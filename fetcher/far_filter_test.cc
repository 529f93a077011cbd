#include "fetcher/far_filter.h"

#include <catch2/catch.hpp>

namespace spate {

TEST_CASE("a gateway keeps far HAVEs only for its share of the pieces") {
  auto f = FarFilter::Make({{"127.0.1.0/24", true}});
  REQUIRE(f.ok());
  auto peer = (*f)->FarPeer();
  // No role yet: everything is kept (on_have false = libtorrent handles it).
  for (int p = 0; p < 10; ++p) CHECK_FALSE(peer->on_have(lt::piece_index_t(p)));
  CHECK((*f)->SetRole(1, 3));
  CHECK_FALSE((*f)->SetRole(1, 3));  // unchanged
  std::vector<int> kept;
  for (int p = 0; p < 10; ++p)
    if (!peer->on_have(lt::piece_index_t(p))) kept.push_back(p);
  CHECK(kept == std::vector<int>{1, 4, 7});
  // Bitfields are never trimmed.
  lt::bitfield bf(10, true);
  bf.clear_bit(3);
  CHECK_FALSE(peer->on_bitfield(bf));
  // One slot, or a role out of range, filters nothing.
  (*f)->SetRole(0, 1);
  CHECK((*f)->Admit(5));
  (*f)->SetRole(3, 3);
  CHECK((*f)->Admit(5));
}

TEST_CASE("far means outside the rack's ranges, nested ranges of other racks included") {
  auto f = FarFilter::Make({{"127.0.0.0/16", true}, {"127.0.9.0/24", false}});
  REQUIRE(f.ok());
  CHECK_FALSE((*f)->Far(lt::make_address("127.0.1.5")));
  CHECK((*f)->Far(lt::make_address("127.0.9.5")));
  CHECK((*f)->Far(lt::make_address("127.1.0.1")));
  CHECK((*f)->Far(lt::make_address("::1")));
  // No rack known: nothing is far.
  auto none = FarFilter::Make({});
  REQUIRE(none.ok());
  CHECK_FALSE((*none)->Far(lt::make_address("10.0.0.1")));
  CHECK_FALSE(FarFilter::Make({{"not-a-cidr", true}}).ok());
}

TEST_CASE("shares split the pieces among slots") {
  for (int slots = 1; slots <= 5; ++slots)
    for (int p = 0; p < 20; ++p) {
      int owners = 0;
      for (int s = 0; s < slots; ++s) owners += InShare(p, s, slots);
      CHECK(owners == 1);
    }
}

}  // namespace spate
