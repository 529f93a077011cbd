#include "seeder/torrent.h"

#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/file_storage.hpp>
#include <libtorrent/torrent_info.hpp>

#include <filesystem>
#include <iterator>
#include <system_error>

#include "seeder/piece_size.h"
#include "wire/crypto.h"
#include "wire/tracker_order.h"

namespace spate::seeder {

Result<TorrentFile> MakeTorrent(const std::string& dir, const std::string& filename,
                                const std::vector<std::string>& announce_urls) {
  std::error_code fec;
  auto size = std::filesystem::file_size(std::filesystem::path(dir) / filename, fec);
  if (fec) return Status::Io("cannot stat " + dir + "/" + filename + ": " + fec.message());
  if (size == 0) return Status::Invalid("cannot make a torrent of an empty file");
  try {
    lt::file_storage fs;
    fs.add_file(filename, static_cast<std::int64_t>(size));
    TorrentFile out;
    out.piece_size = ChoosePieceSize(size);
    lt::create_torrent ct(fs, static_cast<int>(out.piece_size), lt::create_torrent::v1_only);
    ct.set_priv(true);
    ct.set_creator("spate");
    lt::error_code ec;
    lt::set_piece_hashes(ct, dir, ec);
    if (ec) return Status::Io("hashing pieces of " + filename + ": " + ec.message());
    // The order needs the info-hash, which the trackers are not part of:
    // generate once without them, then again with the tiers.
    std::string bare;
    lt::bencode(std::back_inserter(bare), ct.generate());
    auto ih = InfoHashOf(bare);
    if (!ih.ok()) return ih.status();
    out.info_hash = *ih;
    auto ordered = OrderTrackers(out.info_hash, announce_urls);
    for (size_t tier = 0; tier < ordered.size(); ++tier) ct.add_tracker(ordered[tier], int(tier));
    lt::bencode(std::back_inserter(out.bytes), ct.generate());
    return out;
  } catch (const std::exception& e) {
    // libtorrent reports some invalid inputs by throwing; keep it inside the library.
    return Status::Io("creating torrent for " + filename + ": " + e.what());
  }
}

Result<std::string> InfoHashOf(const std::string& torrent_bytes) {
  lt::error_code ec;
  lt::torrent_info ti(torrent_bytes.data(), static_cast<int>(torrent_bytes.size()), ec);
  if (ec) return Status::Corrupt("bad .torrent: " + ec.message());
  auto v1 = ti.info_hashes().v1;
  return HexEncode(std::string_view(reinterpret_cast<const char*>(v1.data()), v1.size()));
}

}  // namespace spate::seeder
