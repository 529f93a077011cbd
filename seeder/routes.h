// Pure parsing of the seeder's HTTP request targets (no sockets, easy to test).
#pragma once

#include <string>
#include <vector>

#include "wire/status.h"

namespace spate::seeder {

// Splits "/api/v1/artifacts/a/b" into percent-decoded segments
// {"api","v1","artifacts","a","b"}. Empty segments are kept (so "//" is visible).
Result<std::vector<std::string>> SplitPath(const std::string& path);

struct UploadTarget {
  std::string name;
  std::string version;
  std::string filename;  // defaults to name
  // ?check=1: a dry run answered from the headers alone (auth, names, existing
  // version), so a client learns of a refusal before sending gigabytes.
  bool check_only = false;
};

// Parses PUT /api/v1/artifacts/{name}/{version}?filename=F and checks every name
// (400 with the bad field named). NotFound if the path is not an upload path.
Result<UploadTarget> ParseUploadTarget(const std::string& path, const std::string& query);

}  // namespace spate::seeder
