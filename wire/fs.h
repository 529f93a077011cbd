// Durable file operations: what was acknowledged survives a crash.
#pragma once

#include <string>

#include "wire/status.h"

namespace spate {

// Writes `data` to path.tmp, fsyncs it, renames it over `path` and fsyncs the directory.
Status WriteFileAtomic(const std::string& path, const std::string& data);
Result<std::string> ReadFile(const std::string& path);
Status FsyncPath(const std::string& path);  // a file or a directory
// Like `mkdir -p`.
Status MakeDirs(const std::string& path);
// By lstat: true for a directory (regular file) itself, false for a symlink
// to one, so a link someone else planted is seen rather than followed.
bool IsRealDir(const std::string& path);
bool IsRealFile(const std::string& path);

}  // namespace spate
