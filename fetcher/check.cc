#include "fetcher/check.h"

namespace spate {

Result<std::shared_ptr<lt::torrent_info>> CheckAssignment(const Assignment& a, const VerifyKey& trusted) {
  // Signature first: nothing from an unsigned assignment is trusted, not even
  // its torrent bytes (parsing attacker-chosen bencoding is attack surface).
  if (Status s = a.manifest.Verify(trusted); !s.ok()) return s;
  const Manifest& m = a.manifest;
  lt::error_code ec;
  std::shared_ptr<lt::torrent_info> ti;
  try {
    ti = std::make_shared<lt::torrent_info>(lt::span<const char>(a.torrent.data(), a.torrent.size()), ec,
                                                  lt::from_span);
  } catch (const std::exception& e) {
    return Status::Invalid(std::string("torrent does not parse: ") + e.what());
  }
  if (ec) return Status::Invalid("torrent does not parse: " + ec.message());
  if (!ti->info_hashes().has_v1()) return Status::Invalid("torrent has no v1 info-hash");
  const lt::sha1_hash& v1 = ti->info_hashes().v1;
  std::string hex = HexEncode(std::string_view(v1.data(), v1.size()));
  if (hex != m.info_hash)
    return Status::Corrupt("torrent info-hash " + hex + " does not match manifest info_hash " + m.info_hash);
  const lt::file_storage& fs = ti->files();
  if (fs.num_files() != 1)
    return Status::Invalid("torrent has " + std::to_string(fs.num_files()) + " files, want exactly 1");
  // For a single-file torrent the file path is just its name; anything else
  // (a directory component) would escape the staging layout.
  std::string path = fs.file_path(lt::file_index_t(0));
  if (path != m.filename)
    return Status::Corrupt("torrent file '" + path + "' does not match manifest filename '" + m.filename + "'");
  if (static_cast<uint64_t>(fs.file_size(lt::file_index_t(0))) != m.size)
    return Status::Corrupt("torrent file size " + std::to_string(fs.file_size(lt::file_index_t(0))) +
                           " does not match manifest size " + std::to_string(m.size));
  return ti;
}

}  // namespace spate
