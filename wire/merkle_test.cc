#include "wire/merkle.h"

#include <catch2/catch.hpp>

#include "wire/crypto.h"

using namespace spate;

namespace {

std::string Sha(const std::string& bytes) { return *HexDecode(Sha256Hex(bytes)); }
std::string LeafOf(const std::string& m) { return Sha(std::string(1, '\0') + m); }
std::string NodeOf(const std::string& l, const std::string& r) { return Sha("\1" + l + r); }

}  // namespace

TEST_CASE("a Merkle tree hashes leaves and nodes apart, as RFC 6962") {
  // RFC 6962's hash of the empty leaf.
  CHECK(HexEncode(BuildMerkleTree({""}).root) == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  CHECK(BuildMerkleTree({"a", "b"}).root == NodeOf(LeafOf("a"), LeafOf("b")));
  // An odd node out moves up unchanged.
  CHECK(BuildMerkleTree({"a", "b", "c"}).root == NodeOf(NodeOf(LeafOf("a"), LeafOf("b")), LeafOf("c")));
  CHECK(BuildMerkleTree({}).root.empty());
  // The bytes of a node, given as a message, make a leaf, not that node.
  auto two = BuildMerkleTree({"a", "b"});
  CHECK(*MerkleRootOf("\1" + LeafOf("a") + LeafOf("b"), {}) != two.root);
}

TEST_CASE("every message's path leads to the root, and only from that message") {
  for (size_t n = 1; n <= 17; ++n) {
    std::vector<std::string> messages;
    for (size_t i = 0; i < n; ++i) messages.push_back("host-" + std::to_string(i));
    MerkleTree t = BuildMerkleTree(messages);
    REQUIRE(t.paths.size() == n);
    for (size_t i = 0; i < n; ++i) {
      INFO("n " << n << " message " << i);
      CHECK(t.paths[i].size() <= 5);  // ceil(log2(17))
      CHECK(*MerkleRootOf(messages[i], t.paths[i]) == t.root);
      CHECK(*MerkleRootOf(messages[(i + 1) % n] + (n == 1 ? "x" : ""), t.paths[i]) != t.root);
    }
  }
}

TEST_CASE("a path with a step changed leads elsewhere or is refused") {
  MerkleTree t = BuildMerkleTree({"a", "b", "c", "d"});
  MerklePath p = t.paths[1];
  REQUIRE(p.size() == 2);
  MerklePath flipped = p;
  flipped[0][0] = flipped[0][0] == 'l' ? 'r' : 'l';
  CHECK(*MerkleRootOf("b", flipped) != t.root);
  MerklePath bit = p;
  bit[1][5] = bit[1][5] == '0' ? '1' : '0';
  CHECK(*MerkleRootOf("b", bit) != t.root);

  for (std::string bad :
       {std::string("x") + p[0].substr(1), p[0].substr(0, 64), p[0] + "0", std::string("l") + std::string(64, 'g')}) {
    INFO(bad);
    auto r = MerkleRootOf("b", {bad});
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().message() == "Merkle path step is not 'l' or 'r' and 64 hex digits");
  }
  MerklePath long_path(kMaxMerklePath + 1, p[0]);
  auto r = MerkleRootOf("b", long_path);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "Merkle path of 41 steps (at most 40)");
  CHECK(MerkleRootOf("b", MerklePath(kMaxMerklePath, p[0])).ok());
}
