#include "wire/merkle.h"

#include "wire/crypto.h"

namespace spate {
namespace {

std::string Hash(char prefix, std::string_view a, std::string_view b = {}) {
  Sha256Stream sha;
  sha.Update(std::string_view(&prefix, 1));
  sha.Update(a);
  sha.Update(b);
  return sha.Digest();
}

std::string Leaf(std::string_view message) { return Hash('\0', message); }
std::string Node(std::string_view left, std::string_view right) { return Hash('\1', left, right); }

}  // namespace

MerkleTree BuildMerkleTree(const std::vector<std::string>& messages) {
  MerkleTree t;
  t.paths.resize(messages.size());
  // level[i]: a node's hash and the leaves under it, whose paths it extends.
  struct Pending {
    std::string hash;
    size_t first, last;  // leaves [first, last)
  };
  std::vector<Pending> level;
  level.reserve(messages.size());
  for (size_t i = 0; i < messages.size(); ++i) level.push_back({Leaf(messages[i]), i, i + 1});
  while (level.size() > 1) {
    std::vector<Pending> up;
    up.reserve((level.size() + 1) / 2);
    for (size_t i = 0; i + 1 < level.size(); i += 2) {
      const Pending& l = level[i];
      const Pending& r = level[i + 1];
      const std::string right = "r" + HexEncode(r.hash), left = "l" + HexEncode(l.hash);
      for (size_t k = l.first; k < l.last; ++k) t.paths[k].push_back(right);
      for (size_t k = r.first; k < r.last; ++k) t.paths[k].push_back(left);
      up.push_back({Node(l.hash, r.hash), l.first, r.last});
    }
    if (level.size() % 2 == 1) up.push_back(std::move(level.back()));
    level = std::move(up);
  }
  if (!level.empty()) t.root = level[0].hash;
  return t;
}

Result<std::string> MerkleRootOf(std::string_view message, const MerklePath& path) {
  if (path.size() > kMaxMerklePath)
    return Status::Invalid("Merkle path of " + std::to_string(path.size()) + " steps (at most " +
                           std::to_string(kMaxMerklePath) + ")");
  std::string h = Leaf(message);
  for (const std::string& step : path) {
    const bool shaped = step.size() == 65 && (step[0] == 'l' || step[0] == 'r');
    auto sibling = HexDecode(shaped ? std::string_view(step).substr(1) : std::string_view("-"));
    if (!sibling.ok()) return Status::Invalid("Merkle path step is not 'l' or 'r' and 64 hex digits");
    h = step[0] == 'l' ? Node(*sibling, h) : Node(h, *sibling);
  }
  return h;
}

}  // namespace spate
