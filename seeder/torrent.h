// Building the .torrent for one stored artifact file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "wire/status.h"

namespace spate::seeder {

struct TorrentFile {
  std::string bytes;      // bencoded .torrent
  std::string info_hash;  // lower-case hex, BitTorrent v1
  uint32_t piece_size = 0;
};

// Hashes `dir`/`filename` into a single-file, v1-only, private torrent announcing
// to `announce_urls`: with several, a BEP 12 announce-list of one tracker per
// tier in wire/tracker_order.h's order for this info-hash, so stock clients
// use the swarm's owner and fail over in the order Spate's fetchers do (and
// `announce` is the owner). v1-only because hybrid torrents announce twice
// (two swarms on the tracker); private so PEX cannot leak peers across racks.
// Piece size from ChoosePieceSize. Reads the whole file: seconds for
// multi-GB artifacts.
Result<TorrentFile> MakeTorrent(const std::string& dir, const std::string& filename,
                                const std::vector<std::string>& announce_urls);

// The v1 info-hash (lower-case hex) of bencoded .torrent bytes.
Result<std::string> InfoHashOf(const std::string& torrent_bytes);

}  // namespace spate::seeder
