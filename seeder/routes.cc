#include "seeder/routes.h"

#include <cctype>

#include "seeder/store.h"
#include "wire/api.h"
#include "wire/http.h"

namespace spate::seeder {

Result<std::vector<std::string>> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  if (path.empty() || path[0] != '/') return Status::Invalid("path must start with '/'");
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    std::string raw = path.substr(pos, slash - pos);
    // '+' is literal in a path, unlike in a query string.
    std::string decoded;
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] != '%') {
        decoded += raw[i];
        continue;
      }
      auto part = http::UrlDecode(raw.substr(i, 3));
      if (!part.ok()) return Status::Invalid("bad percent-escape in path");
      decoded += *part;
      i += 2;
    }
    out.push_back(std::move(decoded));
    pos = slash + 1;
  }
  return out;
}

Result<UploadTarget> ParseUploadTarget(const std::string& path, const std::string& query) {
  auto segs = SplitPath(path);
  if (!segs.ok()) return segs.status();
  const auto& s = *segs;
  if (s.size() < 3 || s[0] != "api" || s[1] != "v1" || s[2] != "artifacts")
    return Status::NotFound("no such endpoint: " + path);
  if (s.size() != 5)
    return Status::Invalid("upload path must be /api/v1/artifacts/{name}/{version} (names may not contain '/')");
  UploadTarget t;
  t.name = s[3];
  t.version = s[4];
  auto q = http::ParseQuery(query);
  if (!q.ok()) return q.status();
  for (const auto& [k, v] : *q) {
    if (k == "filename") {
      t.filename = v;
      if (v.empty()) return Status::Invalid("filename is empty");
    } else if (k == "check") {
      t.check_only = v == "1" || v == "true";
    }
  }
  if (t.filename.empty()) t.filename = t.name;
  Status st = CheckUploadNames(t.name, t.version, t.filename);
  if (!st.ok()) return st;
  return t;
}

Result<UploadRequest> ParseUploadRequest(const std::string& path, const std::string& query,
                                         const std::map<std::string, std::string>& headers) {
  auto target = ParseUploadTarget(path, query);
  if (!target.ok()) return target.status();
  UploadRequest r;
  r.target = std::move(*target);
  if (auto it = headers.find("x-spate-sha256"); it != headers.end()) r.sha256 = it->second;
  for (auto& c : r.sha256) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!r.sha256.empty() &&
      (r.sha256.size() != 64 || r.sha256.find_first_not_of("0123456789abcdef") != std::string::npos))
    return Status::Invalid("X-Spate-Sha256 must be 64 hex digits (the SHA-256 of the body)");
  return r;
}

Status CheckUploadNames(const std::string& name, const std::string& version, const std::string& filename) {
  Status s = CheckName("name", name);
  if (s.ok()) s = CheckVersion("version", version);
  if (s.ok()) s = CheckName("filename", filename);
  // The file shares its directory with the manifest.
  if (s.ok() && filename == kManifestFile) s = Status::Invalid("filename must not be " + std::string(kManifestFile));
  return s;
}

}  // namespace spate::seeder
