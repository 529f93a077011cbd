// libFuzzer: the manifest and the torrent as the fetcher reads them from an
// assignment (fetcher/check.h), and the manifest.json it reads back from a
// version dir (IsInstalled). Input: manifest JSON, a NUL byte, torrent bytes.
//
// CheckAssignment verifies the seeder's signature before it parses the
// torrent, so random bytes would never get past it: the harness signs what
// it is given with its own key, standing in for a seeder that signs whatever
// it is handed. A second pass re-signs the manifest with the torrent's real
// info-hash, so the file checks after the hash comparison are reached too.
// The same manifest unsigned must be refused.
#include <libtorrent/torrent_info.hpp>
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fetcher/check.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Keys {
  spate::SigningKey seeder;
  spate::VerifyKey trusted;
};

const Keys& TheKeys() {
  static const Keys k = [] {
    char dir[] = "/tmp/spate-check-fuzz-XXXXXX";
    Check(::mkdtemp(dir) != nullptr);
    Keys out{*spate::SigningKey::LoadOrCreate(std::string(dir) + "/seeder.pem"), {}};
    out.trusted = *spate::VerifyKey::FromPem(out.seeder.PublicKeyPem());
    std::remove((std::string(dir) + "/seeder.pem").c_str());
    ::rmdir(dir);
    return out;
  }();
  return k;
}

spate::Manifest Fallback() {
  spate::Manifest m;
  m.name = "app";
  m.version = "1.0";
  m.filename = "app.bin";
  m.size = 5;
  m.sha256 = std::string(64, '0');
  m.info_hash = std::string(40, '0');
  m.piece_size = 16384;
  return m;
}

void CheckOne(spate::Manifest m, const std::string& torrent, bool refusals) {
  const Keys& k = TheKeys();
  spate::Assignment a;
  a.push_id = 1;
  a.manifest = m;
  a.torrent = torrent;
  if (refusals) {
    // Unsigned: refused before the torrent is looked at. (Another key's
    // signature is check_test.cc's; signing twice more per input halved the rate here.)
    a.manifest.signature.clear();
    Check(!spate::CheckAssignment(a, k.trusted).ok());
  }
  Check(a.manifest.Sign(k.seeder).ok());
  auto ti = spate::CheckAssignment(a, k.trusted);
  if (!ti.ok()) return;
  // What the fetcher goes on to build paths and a libtorrent add from.
  const lt::file_storage& fs = (*ti)->files();
  Check(fs.num_files() == 1);
  Check(fs.file_path(lt::file_index_t(0)) == m.filename);
  Check(uint64_t(fs.file_size(lt::file_index_t(0))) == m.size);
  Check((*ti)->info_hashes().has_v1());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  size_t nul = in.find('\0');
  std::string torrent = nul == std::string::npos ? in : in.substr(nul + 1);
  spate::Manifest m = Fallback();
  if (nul != std::string::npos) {
    // The same parser reads the assignment's manifest and <version>/manifest.json.
    auto j = spate::ParseJson(in.substr(0, nul));
    if (j.ok())
      if (auto parsed = spate::ManifestFromJson(*j); parsed.ok()) m = *parsed;
  }
  CheckOne(m, torrent, /*refusals=*/true);

  // The torrent's own info-hash, as a seeder signing this torrent would write it.
  lt::error_code ec;
  try {
    lt::torrent_info ti(lt::span<const char>(torrent.data(), torrent.size()), ec, lt::from_span);
    if (ec || !ti.info_hashes().has_v1()) return 0;
    const lt::sha1_hash& v1 = ti.info_hashes().v1;
    m.info_hash = spate::HexEncode(std::string_view(v1.data(), v1.size()));
    if (ti.files().num_files() == 1) {
      // Fit name and size too when they are valid, to reach the end of the checks.
      std::string name = ti.files().file_path(lt::file_index_t(0));
      if (spate::CheckName("filename", name).ok() && name != "manifest.json") m.filename = name;
      m.size = uint64_t(ti.files().file_size(lt::file_index_t(0)));
    }
  } catch (const std::exception&) {
    return 0;
  }
  CheckOne(m, torrent, /*refusals=*/false);
  return 0;
}
