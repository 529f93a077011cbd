#include "fetcher/retention.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "wire/units.h"

namespace spate {

namespace fs = std::filesystem;

Result<std::vector<std::string>> PruneVersions(const std::string& install_dir, const std::string& name, int keep,
                                               const std::set<std::string>& protect) {
  fs::path dir = fs::path(install_dir) / name;
  struct Version {
    fs::file_time_type installed;
    std::string name;
  };
  std::vector<Version> versions;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string v = e.path().filename().string();
    // Hidden entries are installs or symlink swaps in progress; `current` is the link itself.
    if (v.empty() || v[0] == '.' || v == "current" || e.is_symlink() || !e.is_directory()) continue;
    std::error_code tec;
    auto t = fs::last_write_time(e.path() / "manifest.json", tec);
    if (tec) t = fs::last_write_time(e.path(), tec);
    versions.push_back({t, v});
  }
  if (ec) return Status::Io("cannot list " + dir.string() + ": " + ec.message());
  std::sort(versions.begin(), versions.end(), [](const Version& a, const Version& b) {
    return a.installed != b.installed ? a.installed > b.installed : a.name > b.name;
  });
  std::vector<std::string> removed;
  for (size_t i = size_t(std::max(keep, 0)); i < versions.size(); ++i) {
    if (protect.count(versions[i].name)) continue;
    fs::path p = dir / versions[i].name;
    // Renamed away first, so nothing ever sees a half-removed version dir.
    fs::path doomed = dir / (".rm-" + versions[i].name);
    fs::rename(p, doomed, ec);
    if (ec) return Status::Io("cannot remove " + p.string() + ": " + ec.message());
    fs::remove_all(doomed, ec);
    if (ec) return Status::Io("cannot remove " + doomed.string() + ": " + ec.message());
    removed.push_back(versions[i].name);
  }
  return removed;
}

std::vector<std::string> PruneStaging(const std::string& staging_root, const std::set<std::string>& live) {
  std::vector<std::string> removed;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(staging_root, ec)) {
    if (live.count(e.path().filename().string())) continue;
    std::error_code rec;
    fs::remove_all(e.path(), rec);
    if (!rec) removed.push_back(e.path().string());
  }
  return removed;
}

Result<uint64_t> FreeBytes(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return Status::Io("statvfs " + path + ": " + std::strerror(errno));
  return uint64_t(st.f_bavail) * uint64_t(st.f_frsize);
}

Status CheckFreeSpace(const std::string& path, uint64_t need, uint64_t floor) {
  auto free = FreeBytes(path);
  if (!free.ok()) return free.status();
  if (*free >= need && *free - need >= floor) return Status::Ok();
  return Status::Unavailable("not enough disk space: need " + FormatBytes(double(need)) + ", " +
                             FormatBytes(double(*free)) + " free, floor " + FormatBytes(double(floor)) + " at " + path);
}

}  // namespace spate
