// Durable artifact store on local disk.
//
// Layout under the data dir:
//   artifacts/<name>/<version>/<filename>           the artifact bytes
//   artifacts/<name>/<version>/manifest.json        signed Manifest
//   artifacts/<name>/<version>/<filename>.torrent   bencoded torrent
//   tmp/                                            uploads and staging dirs; emptied at Open()
// A version dir appears only by rename(2) of a fully written and fsynced
// staging dir, so after a crash it is either complete or absent.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "wire/api.h"
#include "wire/status.h"

namespace spate::seeder {

inline constexpr const char* kManifestFile = "manifest.json";

struct StoredArtifact {
  Manifest manifest;
  std::string dir;      // absolute-or-relative path of artifacts/<name>/<version>
  std::string torrent;  // bencoded .torrent bytes (tens of KB at most)

  std::string file_path() const { return dir + "/" + manifest.filename; }
  std::string torrent_path() const { return dir + "/" + manifest.filename + ".torrent"; }
};

// The outcome of committing a staged artifact.
enum class CommitOutcome { kCreated, kIdentical };

// Thread-safe.
class ArtifactStore {
 public:
  explicit ArtifactStore(std::string data_dir);
  ArtifactStore(const ArtifactStore&) = delete;
  ArtifactStore& operator=(const ArtifactStore&) = delete;

  // Creates the layout, deletes leftovers in tmp/ (interrupted uploads) and
  // loads every stored manifest. A version dir with an unreadable manifest is
  // logged and skipped, not fatal.
  Status Open();

  const std::string& data_dir() const { return data_dir_; }
  std::string tmp_dir() const { return data_dir_ + "/tmp"; }
  std::string artifacts_dir() const { return data_dir_ + "/artifacts"; }

  // A fresh unique path under tmp/ (not created). `prefix` is for humans.
  std::string NewTempPath(const std::string& prefix);

  // Deletes entries of tmp/ not modified for `max_age`: bodies of uploads whose
  // client went away mid-transfer (the server never calls the handler for them).
  // A live upload or ingest keeps touching its entry, so it is never this old.
  void RemoveStaleTemp(std::chrono::seconds max_age);

  std::optional<StoredArtifact> Find(const std::string& name, const std::string& version) const;
  // Sorted by id.
  std::vector<StoredArtifact> List() const;
  // The same without the torrent bytes, for reads that only describe
  // artifacts (listing, status, metrics): those stay cheap with many stored.
  std::vector<Manifest> Manifests() const;

  // Moves a complete, fsynced staging dir (holding the file, manifest.json and
  // the .torrent) to artifacts/<name>/<version> and fsyncs the parents. If that
  // version already exists the staging dir is deleted and the result is
  // kIdentical when the sha256 matches, else Conflict; `existing` gets the stored one.
  Result<CommitOutcome> Commit(const std::string& staging_dir, const Manifest& manifest, const std::string& torrent,
                               StoredArtifact* existing);

 private:
  Result<StoredArtifact> Load(const std::string& dir) const;

  const std::string data_dir_;
  mutable std::mutex mu_;
  std::map<std::string, StoredArtifact> index_;  // by id; guarded by mu_
  uint64_t temp_counter_ = 0;                    // guarded by mu_
};

// Writes the artifact's manifest.json and .torrent into `dir` and fsyncs them and `dir`.
Status WriteArtifactMetadata(const std::string& dir, const Manifest& manifest, const std::string& torrent);

// Removes a file or directory tree, ignoring errors (best-effort cleanup).
void RemoveQuietly(const std::string& path);

}  // namespace spate::seeder
