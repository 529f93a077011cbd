// A Merkle tree over byte strings, so one signature can cover many messages:
// the signer signs the root, and each message travels with the path from its
// leaf to that root. Hashing as RFC 6962 (Certificate Transparency): a leaf is
// SHA-256(0x00 || message), a node SHA-256(0x01 || left || right), so no leaf
// can pass for a node. An odd node out moves up a level unchanged.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "wire/status.h"

namespace spate {

// One step of a path: the sibling's hash and whether it sits on the left.
// On the wire, "l" or "r" and 64 lower-case hex digits.
using MerklePath = std::vector<std::string>;

struct MerkleTree {
  std::string root;               // raw 32 bytes
  std::vector<MerklePath> paths;  // paths[i] leads from messages[i] to root
};

// Empty messages are leaves like any other; no messages, an empty root.
MerkleTree BuildMerkleTree(const std::vector<std::string>& messages);

// The root `path` leads to from `message`; Invalid when a step is malformed
// or the path is longer than kMaxMerklePath.
constexpr size_t kMaxMerklePath = 40;
Result<std::string> MerkleRootOf(std::string_view message, const MerklePath& path);

}  // namespace spate
