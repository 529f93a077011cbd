// What a host keeps on disk: the newest K versions of each artifact, and
// enough free space that a download never fills the disk.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "wire/status.h"

namespace spate {

// Removes version dirs of <install>/<name>/ beyond the newest `keep`, newest
// by install time (the mtime of their manifest.json), so a rollback to an old
// version counts by when it was installed, not when it was built. Never
// removes anything in `protect` (current, the version before it, versions a
// push is still staging or activating), nor .tmp-* dirs of installs in
// progress. Returns the versions removed.
Result<std::vector<std::string>> PruneVersions(const std::string& install_dir, const std::string& name, int keep,
                                               const std::set<std::string>& protect);

// Removes dirs under `staging_root` (named by info hash) not in `live`.
// Returns the dirs removed.
std::vector<std::string> PruneStaging(const std::string& staging_root, const std::set<std::string>& live);

// Free bytes for an unprivileged writer on the filesystem holding `path`.
Result<uint64_t> FreeBytes(const std::string& path);

// Ok if `need` more bytes still leave at least `floor` free at `path`, else
// Status::Unavailable("not enough disk space: need X, Y free, floor Z at PATH").
Status CheckFreeSpace(const std::string& path, uint64_t need, uint64_t floor);

}  // namespace spate
