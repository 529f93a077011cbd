#include "fetcher/install.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include <spdlog/spdlog.h>

#include "wire/crypto.h"
#include "wire/fs.h"

namespace spate {

namespace fs = std::filesystem;

namespace {

std::string RandomSuffix() {
  std::random_device rd;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
  return buf;
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

// Hard link so the staging copy and the installed file share one inode (no
// second copy of a multi-GB file, and seeding keeps reading staging). Copy
// only when the link is impossible (other filesystem, or links unsupported).
Status LinkOrCopy(const std::string& from, const std::string& to) {
  if (::link(from.c_str(), to.c_str()) == 0) return Status::Ok();
  if (errno != EXDEV && errno != EPERM && errno != EMLINK) return Status::Io(Errno("link " + from + " -> " + to));
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) return Status::Io("copy " + from + " -> " + to + ": " + ec.message());
  return Status::Ok();
}

}  // namespace

std::string VersionDir(const std::string& install_dir, const Manifest& m) {
  return (fs::path(install_dir) / m.name / m.version).string();
}

bool IsInstalled(const Manifest& m, const std::string& install_dir) {
  fs::path dir = VersionDir(install_dir, m);
  auto text = ReadFile((dir / "manifest.json").string());
  if (!text.ok()) return false;
  auto j = ParseJson(*text);
  if (!j.ok()) return false;
  auto installed = ManifestFromJson(*j);
  if (!installed.ok() || installed->sha256 != m.sha256 || installed->filename != m.filename) return false;
  std::error_code ec;
  auto size = fs::file_size(dir / m.filename, ec);
  return !ec && size == m.size;
}

Status SetCurrent(const std::string& install_dir, const std::string& name, const std::string& version) {
  fs::path name_dir = fs::path(install_dir) / name;
  fs::path tmp = name_dir / (".current-" + RandomSuffix());
  // Relative target so the tree can be moved or bind-mounted elsewhere.
  if (::symlink(version.c_str(), tmp.c_str()) != 0) return Status::Io(Errno("symlink " + tmp.string()));
  // rename(2) over an existing symlink is atomic: readers see old or new, never none.
  if (::rename(tmp.c_str(), (name_dir / "current").c_str()) != 0) {
    Status s = Status::Io(Errno("rename " + tmp.string() + " -> current"));
    ::unlink(tmp.c_str());
    return s;
  }
  return FsyncPath(name_dir.string());
}

int SweepInstallLeftovers(const std::string& install_dir) {
  int removed = 0;
  std::error_code ec;
  for (const auto& name_dir : fs::directory_iterator(install_dir, ec)) {
    if (!name_dir.is_directory(ec) || name_dir.is_symlink(ec)) continue;
    std::string n = name_dir.path().filename().string();
    if (n.empty() || n[0] == '.') continue;  // .spate (staging) and the like
    std::error_code iec;
    for (const auto& e : fs::directory_iterator(name_dir.path(), iec)) {
      std::string f = e.path().filename().string();
      if (f.rfind(".tmp-", 0) != 0 && f.rfind(".current-", 0) != 0) continue;
      std::error_code rec;
      fs::remove_all(e.path(), rec);
      if (rec) {
        spdlog::warn("cannot remove {} left by an interrupted install: {}", e.path().string(), rec.message());
      } else {
        spdlog::warn("removed {} left by an interrupted install", e.path().string());
        ++removed;
      }
    }
  }
  return removed;
}

Status InstallVersion(const std::string& staging_file, const Manifest& m, const std::string& install_dir,
                      const std::function<void(uint64_t)>& progress) {
  std::error_code ec;
  auto size = fs::file_size(staging_file, ec);
  if (ec) return Status::Io("cannot stat " + staging_file + ": " + ec.message());
  if (size != m.size)
    return Status::Corrupt("size mismatch: expected " + std::to_string(m.size) + " got " + std::to_string(size));
  auto sha = Sha256File(staging_file, progress);
  if (!sha.ok()) return sha.status();
  if (*sha != m.sha256) return Status::Corrupt("sha256 mismatch: expected " + m.sha256 + " got " + *sha);

  fs::path name_dir = fs::path(install_dir) / m.name;
  bool existed = fs::exists(name_dir, ec);
  if (Status s = MakeDirs(name_dir.string()); !s.ok()) return s;
  if (!existed) {
    if (Status s = FsyncPath(install_dir); !s.ok()) return s;
  }

  fs::path tmp = name_dir / (".tmp-" + m.version + "-" + RandomSuffix());
  if (!fs::create_directory(tmp, ec) || ec)
    return Status::Io("cannot create " + tmp.string() + ": " + (ec ? ec.message() : "exists"));
  auto fail = [&](Status s) {
    fs::remove_all(tmp, ec);
    return s;
  };
  std::string file = (tmp / m.filename).string();
  if (Status s = LinkOrCopy(staging_file, file); !s.ok()) return fail(s);
  if (Status s = FsyncPath(file); !s.ok()) return fail(s);
  if (Status s = WriteFileAtomic((tmp / "manifest.json").string(), ToJson(m).dump(2) + "\n"); !s.ok())
    return fail(s);
  if (Status s = FsyncPath(tmp.string()); !s.ok()) return fail(s);

  fs::path final_dir = VersionDir(install_dir, m);
  if (::rename(tmp.c_str(), final_dir.c_str()) != 0) {
    int e = errno;
    if ((e == EEXIST || e == ENOTEMPTY) && IsInstalled(m, install_dir)) {
      fs::remove_all(tmp, ec);  // identical install already there: success
    } else {
      errno = e;
      return fail(e == EEXIST || e == ENOTEMPTY
                      ? Status::Conflict(final_dir.string() + " already exists with different content")
                      : Status::Io(Errno("rename " + tmp.string() + " -> " + final_dir.string())));
    }
  }
  return FsyncPath(name_dir.string());
}

Status Install(const std::string& staging_file, const Manifest& m, const std::string& install_dir,
               const std::function<void(uint64_t)>& progress) {
  if (Status s = InstallVersion(staging_file, m, install_dir, progress); !s.ok()) return s;
  return SetCurrent(install_dir, m.name, m.version);
}

}  // namespace spate
