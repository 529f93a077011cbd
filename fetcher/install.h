// Verifying and installing a downloaded artifact, atomically.
//
// Layout under the install dir:
//   <install>/<name>/<version>/<filename>    the artifact: its own inode, never the staging file's
//   <install>/<name>/<version>/manifest.json the signed manifest it was installed from
//   <install>/<name>/current -> <version>    symlink, switched atomically
// A version directory appears only complete (built in .tmp-* then renamed), so a
// crash never leaves a half install; leftovers are only .tmp-* dirs.
//
// The installed file is a reflink (FICLONE) of the staging file where the
// filesystem has them (btrfs, XFS), else a copy: libtorrent keeps seeding
// from staging and may write into it (a recheck, a retry), and a hard link
// would carry those writes into the live version, and writes to the install
// into what peers are served. A reflink costs no space until one side
// changes; a copy costs one more write of the file and its size in space
// until seeding ends (the free-space floor counts it). The SHA-256 is taken
// of the installed bytes themselves.
//
// Symlinks are never followed below the install dir: a <name> or <version>
// that is a symlink (someone else's) is refused by InstallVersion and does
// not count as installed, so `current` can only point at a version dir made here.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "wire/api.h"
#include "wire/status.h"

namespace spate {

// <install_dir>/<name>/<version>
std::string VersionDir(const std::string& install_dir, const Manifest& m);

// Copies `staging_file` (a reflink when possible) into a new
// <install>/<name>/<version>/ and checks the copy's size and SHA-256 against `m`. Leaves `current` alone: whether this
// version may become current is the caller's decision (fetcher/push_order.h).
// Same contract otherwise as Install below.
Status InstallVersion(const std::string& staging_file, const Manifest& m, const std::string& install_dir,
                      const std::function<void(uint64_t)>& progress = {});

// InstallVersion, then points `current` at the new version. The staging file is left in place
// (seeding continues from it; writes to it never reach the install). Mismatch -> Status::Corrupt("sha256 mismatch:
// expected X got Y") and nothing is installed. If the same version is already
// installed with the same sha256 this succeeds. Blocking (hashes the whole
// file); `progress` receives bytes hashed so far. Thread-safe for distinct
// artifacts.
Status Install(const std::string& staging_file, const Manifest& m, const std::string& install_dir,
               const std::function<void(uint64_t)>& progress = {});

// True if <install>/<name>/<version>/ holds a manifest.json with m's sha256 and
// the file with m's size (a previous install; no re-hash). Each of <name>,
// <version>, the file and manifest.json must be itself, not a symlink.
bool IsInstalled(const Manifest& m, const std::string& install_dir);

// Atomically points <install>/<name>/current at <version> (temp symlink renamed
// over it), then fsyncs <install>/<name>.
Status SetCurrent(const std::string& install_dir, const std::string& name, const std::string& version);

// Removes what a crash mid-install leaves under <install_dir>/<name>/: temp version
// dirs (.tmp-*) never renamed into place and temp symlinks (.current-*) never
// renamed over `current`. Call at startup, before any install runs. Returns the
// number of entries removed (failures are logged and skipped).
int SweepInstallLeftovers(const std::string& install_dir);

}  // namespace spate
