// Piece size for a new torrent, chosen from the file size.
#pragma once

#include <cstdint>

namespace spate::seeder {

inline constexpr uint32_t kMinPieceSize = 64 * 1024;
inline constexpr uint32_t kMaxPieceSize = 16 * 1024 * 1024;
// Pipelining depth is what matters for swarm speed (see LIBTORRENT-NOTES), so we
// aim for 1000-2000 pieces: enough to spread a push over many peers, few enough
// that the piece list and per-piece overhead stay small.
inline constexpr uint64_t kMaxPieces = 2000;

// The smallest power of two in [64 KiB, 16 MiB] that cuts `file_size` into at
// most kMaxPieces pieces (so large files land in 1000-2000 pieces; a 4 GiB file
// gets 4 MiB pieces). Files above ~32 GB get 16 MiB pieces and more pieces.
uint32_t ChoosePieceSize(uint64_t file_size);

}  // namespace spate::seeder
