// Pure parsing of the seeder's HTTP request targets (no sockets, easy to test).
#pragma once

#include <map>
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

// Everything an upload's request line and headers say, parsed before a byte
// of the body is read. The bearer token is left out: it is checked before
// this runs, so a stranger learns nothing about which paths would be taken.
struct UploadRequest {
  UploadTarget target;
  // X-Spate-Sha256, lower-cased: 64 hex digits, or "" when the client asked for no check.
  std::string sha256;
};
// ParseUploadTarget, and the X-Spate-Sha256 header (`headers` has lower-case
// names, as http::Request gives them). A header that is not 64 hex digits is
// refused now (400) rather than after the whole body as a mismatch.
Result<UploadRequest> ParseUploadRequest(const std::string& path, const std::string& query,
                                         const std::map<std::string, std::string>& headers);

// Name, version and filename checks shared by the HTTP layer and Ingest.
Status CheckUploadNames(const std::string& name, const std::string& version, const std::string& filename);

// Constant-time comparison for bearer tokens (no early exit on the first difference).
}  // namespace spate::seeder
