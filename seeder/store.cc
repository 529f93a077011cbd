#include "seeder/store.h"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <spdlog/spdlog.h>

#include "wire/fs.h"

namespace spate::seeder {

namespace fs = std::filesystem;

ArtifactStore::ArtifactStore(std::string data_dir) : data_dir_(std::move(data_dir)) {}

Status ArtifactStore::Open() {
  for (const auto& d : {artifacts_dir(), tmp_dir()}) {
    Status s = MakeDirs(d);
    if (!s.ok()) return s;
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(tmp_dir(), ec)) {
    spdlog::info("removing leftover {}", e.path().string());
    RemoveQuietly(e.path().string());
  }
  if (ec) return Status::Io("cannot list " + tmp_dir() + ": " + ec.message());

  std::map<std::string, StoredArtifact> index;
  for (const auto& name_dir : fs::directory_iterator(artifacts_dir(), ec)) {
    if (!name_dir.is_directory()) continue;
    std::error_code vec;
    for (const auto& version_dir : fs::directory_iterator(name_dir.path(), vec)) {
      if (!version_dir.is_directory()) continue;
      auto a = Load(version_dir.path().string());
      if (!a.ok()) {
        spdlog::error("skipping {}: {}", version_dir.path().string(), a.status().message());
        continue;
      }
      index[a->manifest.id()] = std::move(*a);
    }
  }
  if (ec) return Status::Io("cannot list " + artifacts_dir() + ": " + ec.message());
  std::lock_guard<std::mutex> lock(mu_);
  index_ = std::move(index);
  return Status::Ok();
}

Result<StoredArtifact> ArtifactStore::Load(const std::string& dir) const {
  auto text = ReadFile(dir + "/" + kManifestFile);
  if (!text.ok()) return text.status();
  auto j = ParseJson(*text);
  if (!j.ok()) return j.status();
  auto m = ManifestFromJson(*j);
  if (!m.ok()) return m.status();
  // The directory names are the truth callers looked up; a manifest that
  // disagrees was copied or tampered with.
  fs::path p(dir);
  if (p.filename() != m->version || p.parent_path().filename() != m->name)
    return Status::Corrupt("manifest says " + m->id() + " but lives in " + dir);
  StoredArtifact a;
  a.manifest = *m;
  a.dir = dir;
  auto t = ReadFile(a.torrent_path());
  if (!t.ok()) return t.status();
  a.torrent = std::move(*t);
  std::error_code ec;
  auto size = fs::file_size(a.file_path(), ec);
  if (ec) return Status::Io("cannot stat " + a.file_path() + ": " + ec.message());
  if (size != m->size)
    return Status::Corrupt(a.file_path() + " has " + std::to_string(size) + " bytes, manifest says " +
                           std::to_string(m->size));
  return a;
}

std::string ArtifactStore::NewTempPath(const std::string& prefix) {
  uint64_t n;
  {
    std::lock_guard<std::mutex> lock(mu_);
    n = ++temp_counter_;
  }
  auto now = std::chrono::steady_clock::now().time_since_epoch().count();
  return tmp_dir() + "/" + prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(now) + "-" +
         std::to_string(n);
}

void ArtifactStore::RemoveStaleTemp(std::chrono::seconds max_age) {
  std::error_code ec;
  auto now = fs::file_time_type::clock::now();
  for (const auto& e : fs::directory_iterator(tmp_dir(), ec)) {
    std::error_code tec;
    auto mtime = fs::last_write_time(e.path(), tec);
    if (tec || now - mtime < max_age) continue;
    spdlog::info("removing abandoned {}", e.path().string());
    RemoveQuietly(e.path().string());
  }
}

std::optional<StoredArtifact> ArtifactStore::Find(const std::string& name, const std::string& version) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(name + "@" + version);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

std::vector<StoredArtifact> ArtifactStore::List() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<StoredArtifact> out;
  out.reserve(index_.size());
  for (const auto& [id, a] : index_) out.push_back(a);
  return out;
}

std::vector<Manifest> ArtifactStore::Manifests() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Manifest> out;
  out.reserve(index_.size());
  for (const auto& [id, a] : index_) out.push_back(a.manifest);
  return out;
}

Result<CommitOutcome> ArtifactStore::Commit(const std::string& staging_dir, const Manifest& manifest,
                                            const std::string& torrent, StoredArtifact* existing) {
  // One lock for check-and-rename: two uploads of the same name@version may race here.
  std::lock_guard<std::mutex> lock(mu_);
  auto it = index_.find(manifest.id());
  if (it != index_.end()) {
    RemoveQuietly(staging_dir);
    if (existing) *existing = it->second;
    if (it->second.manifest.sha256 == manifest.sha256) return CommitOutcome::kIdentical;
    return Status::Conflict(manifest.id() + " already exists with different content (sha256 " +
                            it->second.manifest.sha256 + "); upload it as a new version");
  }
  std::string name_dir = artifacts_dir() + "/" + manifest.name;
  std::string final_dir = name_dir + "/" + manifest.version;
  Status s = MakeDirs(name_dir);
  if (!s.ok()) return s;
  if (::rename(staging_dir.c_str(), final_dir.c_str()) != 0)
    return Status::Io("rename " + staging_dir + " -> " + final_dir + ": " + std::strerror(errno));
  // The rename is durable only once both parents are on disk.
  s = FsyncPath(name_dir);
  if (s.ok()) s = FsyncPath(artifacts_dir());
  if (!s.ok()) return s;
  StoredArtifact a{manifest, final_dir, torrent};
  index_[manifest.id()] = a;
  if (existing) *existing = std::move(a);
  return CommitOutcome::kCreated;
}

Status WriteArtifactMetadata(const std::string& dir, const Manifest& manifest, const std::string& torrent) {
  Status s = WriteFileAtomic(dir + "/" + kManifestFile, ToJson(manifest).dump(2) + "\n");
  if (s.ok()) s = WriteFileAtomic(dir + "/" + manifest.filename + ".torrent", torrent);
  if (s.ok()) s = FsyncPath(dir + "/" + manifest.filename);
  if (s.ok()) s = FsyncPath(dir);
  return s;
}

void RemoveQuietly(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) spdlog::warn("cannot remove {}: {}", path, ec.message());
}

}  // namespace spate::seeder
