// Turning an uploaded temp file into a stored, signed, seedable artifact.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "seeder/routes.h"
#include "seeder/store.h"
#include "wire/crypto.h"
#include "wire/status.h"

namespace spate::seeder {

struct IngestRequest {
  std::string name;
  std::string version;
  std::string filename;
  std::string upload_path;      // the received body, under the store's tmp/; consumed
  std::string expected_sha256;  // from X-Spate-Sha256; empty = no check
  std::vector<std::string> announce_urls;  // every tracker, written into the torrent (MakeTorrent orders them)
};

struct IngestResult {
  StoredArtifact artifact;
  bool created = false;  // false: an identical artifact was already stored
};

// Checks the names, fsyncs and hashes the upload, refuses a checksum mismatch
// (Corrupt -> 422) or different content under an existing version (Conflict -> 409),
// builds the torrent, signs the manifest and commits it durably. The upload file
// is moved or deleted whatever the outcome. Blocks for seconds on multi-GB files:
// call it off the HTTP io threads. Thread-safe (the store serializes commits).
Result<IngestResult> Ingest(ArtifactStore& store, const SigningKey& key, const IngestRequest& req);

}  // namespace spate::seeder
