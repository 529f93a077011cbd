// libFuzzer: what the seeder reads from an upload before it takes a byte of
// the body (seeder/routes.h): the path, the query and the headers. Input:
// the path, '\n', the query, then one "Name: value" header per line. Anything
// is accepted or refused with a Status; what is accepted names one safe path
// component each and a well-formed checksum.
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "seeder/routes.h"
#include "wire/api.h"
#include "wire/http.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos <= in.size()) {
    size_t nl = in.find('\n', pos);
    if (nl == std::string::npos) nl = in.size();
    lines.push_back(in.substr(pos, nl - pos));
    pos = nl + 1;
  }
  spate::http::Request req;
  req.method = "PUT";
  req.path = lines[0];
  req.query = lines.size() > 1 ? lines[1] : "";
  for (size_t i = 2; i < lines.size(); ++i) {
    // Lower-case names, as the HTTP server hands them over; a later one wins.
    size_t colon = lines[i].find(':');
    std::string name = lines[i].substr(0, colon), value;
    if (colon != std::string::npos) value = lines[i].substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    req.headers[name] = value;
  }

  // The token is compared before anything else is parsed.
  (void)req.bearer_token();
  // Split on the raw '/' first, then decoded: "%2F" stays inside its segment
  // (and the name checks refuse it), so there is one segment per raw slash.
  if (auto segs = spate::seeder::SplitPath(req.path); segs.ok())
    Check(segs->size() == size_t(std::count(req.path.begin(), req.path.end(), '/')));

  auto up = spate::seeder::ParseUploadRequest(req.path, req.query, req.headers);
  auto target = spate::seeder::ParseUploadTarget(req.path, req.query);
  // The header can only refuse more, never let through what the target refused.
  Check(!up.ok() || target.ok());
  if (!up.ok()) return 0;
  const auto& t = up->target;
  Check(spate::seeder::CheckUploadNames(t.name, t.version, t.filename).ok());
  for (const std::string* s : {&t.name, &t.version, &t.filename})
    Check(s->find('/') == std::string::npos && *s != "." && *s != ".." && !s->empty() && (*s)[0] != '.');
  Check(t.version != "current" && t.filename != "manifest.json");
  Check(up->sha256.empty() ||
        (up->sha256.size() == 64 && up->sha256.find_first_not_of("0123456789abcdef") == std::string::npos));
  Check(target->name == t.name && target->version == t.version && target->filename == t.filename &&
        target->check_only == t.check_only);
  return 0;
}
