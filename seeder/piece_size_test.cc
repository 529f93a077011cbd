#include "seeder/piece_size.h"

#include <catch2/catch.hpp>

namespace spate::seeder {
namespace {

constexpr uint64_t KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;

bool IsPowerOfTwo(uint64_t v) { return v && (v & (v - 1)) == 0; }

TEST_CASE("piece size: small files get the 64 KiB floor") {
  CHECK(ChoosePieceSize(0) == 64 * KiB);
  CHECK(ChoosePieceSize(1) == 64 * KiB);
  CHECK(ChoosePieceSize(3 * MiB) == 64 * KiB);
  CHECK(ChoosePieceSize(2000 * 64 * KiB) == 64 * KiB);
  CHECK(ChoosePieceSize(2000 * 64 * KiB + 1) == 128 * KiB);
}

TEST_CASE("piece size: multi-GB artifacts get 2-4 MiB pieces") {
  CHECK(ChoosePieceSize(2 * GiB) == 2 * MiB);
  CHECK(ChoosePieceSize(3 * GiB) == 2 * MiB);
  CHECK(ChoosePieceSize(4 * GiB) == 4 * MiB);
  CHECK(ChoosePieceSize(1500 * 1000 * 1000) == 1 * MiB);
}

TEST_CASE("piece size: huge files are capped at 16 MiB") {
  CHECK(ChoosePieceSize(64 * GiB) == 16 * MiB);
  CHECK(ChoosePieceSize(uint64_t(1) << 50) == 16 * MiB);
}

TEST_CASE("piece size: always a power of two and 1000-2000 pieces when not clamped") {
  for (uint64_t size = 1; size < (uint64_t(1) << 45); size = size * 3 + 7) {
    uint64_t p = ChoosePieceSize(size);
    INFO("size " << size << " piece " << p);
    REQUIRE(IsPowerOfTwo(p));
    REQUIRE(p >= kMinPieceSize);
    REQUIRE(p <= kMaxPieceSize);
    uint64_t pieces = (size + p - 1) / p;
    if (p > kMinPieceSize && p < kMaxPieceSize) {
      CHECK(pieces > kMaxPieces / 2);
      CHECK(pieces <= kMaxPieces);
    }
  }
}

}  // namespace
}  // namespace spate::seeder
