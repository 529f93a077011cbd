#include "fetcher/install.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <vector>

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

struct Copied {
  std::string sha256;  // of the bytes now in the installed file
  uint64_t size = 0;
  bool reflinked = false;
};

// Reads `fd` from the start, hashing it.
Status HashFd(int fd, const std::string& path, Copied& out, const std::function<void(uint64_t)>& progress) {
  std::vector<char> buf(1 << 20);
  Sha256Stream sha;
  for (;;) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), off_t(out.size));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::Io(Errno("read " + path));
    if (n == 0) break;
    sha.Update(std::string_view(buf.data(), size_t(n)));
    out.size += uint64_t(n);
    if (progress) progress(out.size);
  }
  out.sha256 = sha.HexDigest();
  return Status::Ok();
}

// The installed file gets an inode of its own, never the staging file's:
// libtorrent keeps that one open for writing while it seeds (a recheck or a
// retry writes pieces into it), so a shared inode (the hard link used before)
// let the seeding side change what is live, and let anything writing to the
// install corrupt what peers are served. A reflink (FICLONE: btrfs, XFS with
// reflink, bcachefs) shares the extents copy-on-write, so it costs no bytes
// and no extra space until one side is written; elsewhere (ext4, tmpfs) the
// bytes are copied. Either way the SHA-256 is taken of the new file's bytes
// (while copying, or reading the clone back), so what is installed is exactly
// what was verified, even if staging changes meanwhile.
Result<Copied> CloneOrCopy(const std::string& from, const std::string& to,
                           const std::function<void(uint64_t)>& progress) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return Status::Io(Errno("open " + from));
  struct stat st {};
  if (::fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(in);
    return Status::Io(from + " is not a regular file");
  }
  int out = ::open(to.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 0777);
  if (out < 0) {
    Status s = Status::Io(Errno("create " + to));
    ::close(in);
    return s;
  }
  auto done = [&](Status s) -> Result<Copied> {
    ::close(in);
    ::close(out);
    return s;
  };
  Copied c;
  if (::ioctl(out, FICLONE, in) == 0) {
    c.reflinked = true;
    if (Status s = HashFd(out, to, c, progress); !s.ok()) return done(s);
    ::close(in);
    ::close(out);
    return c;
  }
  // Filesystems without reflinks say so in several ways; anything else is a real error.
  if (errno != EOPNOTSUPP && errno != ENOTTY && errno != EXDEV && errno != EINVAL && errno != ENOSYS)
    return done(Status::Io(Errno("clone " + from + " -> " + to)));
  std::vector<char> buf(1 << 20);
  Sha256Stream sha;
  for (;;) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return done(Status::Io(Errno("read " + from)));
    if (n == 0) break;
    // Hashed as written: the digest is of the installed bytes, not of a later read of staging.
    sha.Update(std::string_view(buf.data(), size_t(n)));
    for (ssize_t w = 0; w < n;) {
      ssize_t k = ::write(out, buf.data() + w, size_t(n - w));
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) return done(Status::Io(Errno("write " + to)));
      w += k;
    }
    c.size += uint64_t(n);
    if (progress) progress(c.size);
  }
  c.sha256 = sha.HexDigest();
  ::close(in);
  if (::close(out) != 0) return Status::Io(Errno("close " + to));
  return c;
}

}  // namespace

std::string VersionDir(const std::string& install_dir, const Manifest& m) {
  return (fs::path(install_dir) / m.name / m.version).string();
}

bool IsInstalled(const Manifest& m, const std::string& install_dir) {
  fs::path dir = VersionDir(install_dir, m);
  // Only what InstallVersion made counts: real dirs and a real file, no
  // symlink anywhere below the install dir (one could point at a look-alike elsewhere).
  if (!IsRealDir((fs::path(install_dir) / m.name).string()) || !IsRealDir(dir.string()) ||
      !IsRealFile((dir / "manifest.json").string()) || !IsRealFile((dir / m.filename).string()))
    return false;
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

  fs::path name_dir = fs::path(install_dir) / m.name;
  bool existed = fs::exists(name_dir, ec);
  if (Status s = MakeDirs(name_dir.string()); !s.ok()) return s;
  // A symlink at <install>/<name> (or <name>/<version>) that someone else put
  // there would carry the version dir, and `current` with it, out of the
  // install dir, to wherever it points. Refused, never followed or removed.
  if (!IsRealDir(name_dir.string()))
    return Status::Conflict(name_dir.string() + " is not a directory (a symlink?); refusing to install through it");
  if (!existed) {
    if (Status s = FsyncPath(install_dir); !s.ok()) return s;
  }
  fs::path final_dir = VersionDir(install_dir, m);
  if (fs::is_symlink(final_dir, ec))
    return Status::Conflict(final_dir.string() + " is a symlink; refusing to install through it");

  fs::path tmp = name_dir / (".tmp-" + m.version + "-" + RandomSuffix());
  if (!fs::create_directory(tmp, ec) || ec)
    return Status::Io("cannot create " + tmp.string() + ": " + (ec ? ec.message() : "exists"));
  auto fail = [&](Status s) {
    fs::remove_all(tmp, ec);
    // A refused first version leaves no <name> dir behind (rmdir: only if still empty).
    if (!existed) ::rmdir(name_dir.c_str());
    return s;
  };
  std::string file = (tmp / m.filename).string();
  auto copied = CloneOrCopy(staging_file, file, progress);
  if (!copied.ok()) return fail(copied.status());
  if (copied->size != m.size)
    return fail(Status::Corrupt("size mismatch: expected " + std::to_string(m.size) + " got " +
                                std::to_string(copied->size)));
  if (copied->sha256 != m.sha256)
    return fail(Status::Corrupt("sha256 mismatch: expected " + m.sha256 + " got " + copied->sha256));
  spdlog::debug("{}: {} {} into {}", m.id(), copied->reflinked ? "reflinked" : "copied", staging_file, file);
  if (Status s = FsyncPath(file); !s.ok()) return fail(s);
  if (Status s = WriteFileAtomic((tmp / "manifest.json").string(), ToJson(m).dump(2) + "\n"); !s.ok())
    return fail(s);
  if (Status s = FsyncPath(tmp.string()); !s.ok()) return fail(s);

  if (::rename(tmp.c_str(), final_dir.c_str()) != 0) {
    int e = errno;
    if ((e == EEXIST || e == ENOTEMPTY) && IsInstalled(m, install_dir)) {
      fs::remove_all(tmp, ec);  // identical install already there: success
    } else if (e == ENOTDIR) {
      // Something that is not a directory (a symlink made since the check above) holds the name.
      return fail(Status::Conflict(final_dir.string() + " exists and is not a directory; refusing to replace it"));
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
