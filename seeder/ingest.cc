#include "seeder/ingest.h"

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <spdlog/spdlog.h>

#include "seeder/torrent.h"
#include "wire/fs.h"

namespace spate::seeder {

namespace {

// Everything after the checksum; the caller deletes what is left on failure.
Result<IngestResult> Build(ArtifactStore& store, const SigningKey& key, const IngestRequest& req,
                           const std::string& sha256, const std::string& staging) {
  Status s = MakeDirs(staging);
  if (!s.ok()) return s;
  std::string file = staging + "/" + req.filename;
  if (::rename(req.upload_path.c_str(), file.c_str()) != 0)
    return Status::Io("rename " + req.upload_path + " -> " + file + ": " + std::strerror(errno));

  auto t0 = std::chrono::steady_clock::now();
  auto torrent = MakeTorrent(staging, req.filename, req.announce_urls);
  if (!torrent.ok()) return torrent.status();
  Manifest m;
  m.name = req.name;
  m.version = req.version;
  m.filename = req.filename;
  std::error_code ec;
  m.size = std::filesystem::file_size(file, ec);
  if (ec) return Status::Io("cannot stat " + file + ": " + ec.message());
  m.sha256 = sha256;
  m.info_hash = torrent->info_hash;
  m.piece_size = torrent->piece_size;
  m.created_at = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
                     .count();
  s = m.Sign(key);
  if (!s.ok()) return s;
  spdlog::debug("{}: torrent built in {} ms ({} byte pieces)", m.id(),
                std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count(),
                m.piece_size);
  s = WriteArtifactMetadata(staging, m, torrent->bytes);
  if (!s.ok()) return s;

  IngestResult out;
  auto outcome = store.Commit(staging, m, torrent->bytes, &out.artifact);
  if (!outcome.ok()) return outcome.status();
  out.created = *outcome == CommitOutcome::kCreated;
  return out;
}

}  // namespace

Result<IngestResult> Ingest(ArtifactStore& store, const SigningKey& key, const IngestRequest& req) {
  Status s = CheckUploadNames(req.name, req.version, req.filename);
  if (!s.ok()) {
    RemoveQuietly(req.upload_path);
    return s;
  }
  s = FsyncPath(req.upload_path);
  if (!s.ok()) {
    RemoveQuietly(req.upload_path);
    return s;
  }
  auto sha = Sha256File(req.upload_path);
  if (!sha.ok()) {
    RemoveQuietly(req.upload_path);
    return sha.status();
  }
  std::string expected = req.expected_sha256;
  for (auto& c : expected) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!expected.empty() && expected != *sha) {
    RemoveQuietly(req.upload_path);
    return Status::Corrupt("sha256 mismatch: client said " + req.expected_sha256 + ", received bytes hash to " + *sha);
  }
  // Cheap answer for CI retries before hashing pieces; Commit checks again under its lock.
  if (auto existing = store.Find(req.name, req.version)) {
    RemoveQuietly(req.upload_path);
    if (existing->manifest.sha256 == *sha) return IngestResult{*existing, false};
    return Status::Conflict(existing->manifest.id() + " already exists with different content (sha256 " +
                            existing->manifest.sha256 + "); upload it as a new version");
  }
  std::string staging = store.NewTempPath("stage");
  auto r = Build(store, key, req, *sha, staging);
  RemoveQuietly(req.upload_path);  // no-op unless Build failed before moving it
  if (!r.ok()) RemoveQuietly(staging);
  return r;
}

}  // namespace spate::seeder
