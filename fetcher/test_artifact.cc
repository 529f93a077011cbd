#include "fetcher/test_artifact.h"

#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/torrent_info.hpp>

#include <filesystem>
#include <iterator>
#include <stdexcept>

#include "tests/support/cluster.h"
#include "wire/crypto.h"

namespace spate::testing {

TestArtifact MakeArtifact(const std::string& dir, const std::string& name, const std::string& version,
                          const std::string& filename, uint64_t size, uint32_t seed, const std::string& tracker_url,
                          int piece_size) {
  TestArtifact a;
  std::filesystem::create_directories(dir);
  a.file = (std::filesystem::path(dir) / filename).string();
  WriteRandomFile(a.file, size, seed);

  lt::file_storage fs;
  lt::add_files(fs, a.file);
  lt::create_torrent ct(fs, piece_size, lt::create_torrent::v1_only);
  ct.set_priv(true);
  if (!tracker_url.empty()) ct.add_tracker(tracker_url);
  lt::error_code ec;
  lt::set_piece_hashes(ct, dir, ec);
  if (ec) throw std::runtime_error("set_piece_hashes: " + ec.message());
  std::vector<char> buf;
  lt::bencode(std::back_inserter(buf), ct.generate());
  a.torrent.assign(buf.begin(), buf.end());

  lt::torrent_info ti(lt::span<const char>(buf.data(), static_cast<std::ptrdiff_t>(buf.size())), lt::from_span);
  const lt::sha1_hash& ih = ti.info_hashes().v1;
  a.manifest.name = name;
  a.manifest.version = version;
  a.manifest.filename = filename;
  a.manifest.size = size;
  a.manifest.sha256 = *Sha256File(a.file);
  a.manifest.info_hash = HexEncode(std::string_view(ih.data(), ih.size()));
  a.manifest.piece_size = static_cast<uint32_t>(piece_size);
  a.manifest.created_at = 1700000000;
  return a;
}

}  // namespace spate::testing
