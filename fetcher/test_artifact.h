// Test helper: a file plus its v1 torrent and (unsigned) manifest, as the seeder makes them.
#pragma once

#include <string>

#include "wire/api.h"

namespace spate::testing {

struct TestArtifact {
  std::string file;     // path of the content
  std::string torrent;  // bencoded .torrent bytes
  Manifest manifest;    // every field but the signature
};

// Writes `size` random bytes to <dir>/<filename> and builds a v1-only,
// private, single-file torrent over it; `tracker_url` may be empty.
TestArtifact MakeArtifact(const std::string& dir, const std::string& name, const std::string& version,
                          const std::string& filename, uint64_t size, uint32_t seed,
                          const std::string& tracker_url = "", int piece_size = 64 * 1024);

}  // namespace spate::testing
