// SHA-256, base64 and Ed25519 on OpenSSL 3.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "wire/status.h"

namespace spate {

// Lower-case hex SHA-256 of a whole file, read in 1 MiB blocks. `progress`
// (optional) receives the bytes hashed so far.
Result<std::string> Sha256File(const std::string& path, const std::function<void(uint64_t)>& progress = {});
std::string Sha256Hex(std::string_view data);

// SHA-256 fed piece by piece, e.g. with bytes as they are copied.
class Sha256Stream {
 public:
  Sha256Stream();
  void Update(std::string_view bytes);
  std::string Digest();     // the raw 32 bytes of everything fed; call once (or HexDigest)
  std::string HexDigest();  // lower-case hex of everything fed; call once

 private:
  std::shared_ptr<void> ctx_;  // EVP_MD_CTX
};

std::string HexEncode(std::string_view bytes);
Result<std::string> HexDecode(std::string_view hex);
std::string Base64Encode(std::string_view bytes);
Result<std::string> Base64Decode(std::string_view text);

// An Ed25519 private key (the seeder's). Thread-safe after construction.
class SigningKey {
 public:
  // Loads a PEM private key, or creates one (mode 0600) if `path` does not
  // exist. Any other failure to read it is an error; an existing key is never replaced.
  static Result<SigningKey> LoadOrCreate(const std::string& path);
  Result<std::string> Sign(std::string_view message) const;  // raw 64-byte signature
  std::string PublicKeyPem() const;

 private:
  std::shared_ptr<void> key_;  // EVP_PKEY
};

// An Ed25519 public key (what fetchers trust).
class VerifyKey {
 public:
  static Result<VerifyKey> FromPem(const std::string& pem);
  static Result<VerifyKey> Load(const std::string& path);
  bool Verify(std::string_view message, std::string_view signature) const;

 private:
  std::shared_ptr<void> key_;  // EVP_PKEY
};

}  // namespace spate
