#include "seeder/piece_size.h"

namespace spate::seeder {

uint32_t ChoosePieceSize(uint64_t file_size) {
  uint64_t piece = kMinPieceSize;
  while (piece < kMaxPieceSize && (file_size + piece - 1) / piece > kMaxPieces) piece *= 2;
  return static_cast<uint32_t>(piece);
}

}  // namespace spate::seeder
