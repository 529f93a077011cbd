#include "tracker/whitelist.h"

#include <unordered_set>

#include "wire/crypto.h"
#include "wire/fs.h"

namespace spate {

Result<std::vector<std::string>> ParseWhitelist(const std::string& text, const std::string& filename) {
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    line = line.substr(0, line.find('#'));
    size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos) continue;
    size_t e = line.find_last_not_of(" \t\r");
    std::string word = line.substr(b, e - b + 1);
    auto fail = [&](const std::string& what) {
      return Status::Invalid(filename + ":" + std::to_string(line_no) + ": " + what);
    };
    if (word.find_first_of(" \t") != std::string::npos) return fail("one info-hash per line, got '" + word + "'");
    if (word.size() != 40) return fail("info-hash must be 40 hex digits, got " + std::to_string(word.size()) + " characters");
    auto raw = HexDecode(word);
    if (!raw.ok()) return fail("info-hash '" + word + "' is not hex");
    if (seen.insert(*raw).second) out.push_back(std::move(*raw));
  }
  return out;
}

Result<std::vector<std::string>> LoadWhitelist(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return Status::Invalid(path + ": " + text.status().message());
  return ParseWhitelist(*text, path);
}

}  // namespace spate
