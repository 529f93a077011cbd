#include "wire/crypto.h"

#include "wire/fs.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

namespace spate {

namespace {

std::shared_ptr<void> Wrap(EVP_PKEY* k) {
  return std::shared_ptr<void>(k, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
}

}  // namespace

Sha256Stream::Sha256Stream()
    : ctx_(EVP_MD_CTX_new(), [](void* p) { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(p)); }) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_.get()), EVP_sha256(), nullptr);
}

void Sha256Stream::Update(std::string_view bytes) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_.get()), bytes.data(), bytes.size());
}

std::string Sha256Stream::Digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_.get()), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string Sha256Stream::HexDigest() { return HexEncode(Digest()); }

Result<std::string> Sha256File(const std::string& path, const std::function<void(uint64_t)>& progress) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::Io("cannot open " + path + ": " + std::strerror(errno));
  Sha256Stream sha;
  std::vector<char> buf(1 << 20);
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return Status::Io("cannot read " + path + ": " + std::strerror(e));
    }
    if (n == 0) break;
    sha.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
    total += static_cast<uint64_t>(n);
    if (progress) progress(total);
  }
  ::close(fd);
  return sha.HexDigest();
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return HexEncode(std::string_view(reinterpret_cast<char*>(md), len));
}

std::string HexEncode(std::string_view bytes) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

Result<std::string> HexDecode(std::string_view hex) {
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (hex.size() % 2) return Status::Invalid("odd-length hex string");
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = val(hex[i]), lo = val(hex[i + 1]);
    if (hi < 0 || lo < 0) return Status::Invalid("bad hex digit");
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4) return Status::Invalid("base64 length is not a multiple of 4");
  std::string out(3 * text.size() / 4 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return Status::Invalid("bad base64");
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') ++pad;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++pad;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

Result<SigningKey> SigningKey::LoadOrCreate(const std::string& path) {
  SigningKey k;
  FILE* f = std::fopen(path.c_str(), "r");
  // Only a key that is not there may be made: fetchers trust the old one, so
  // replacing it because it could not be read (EACCES, EMFILE, EIO) would
  // make them refuse every manifest signed from then on.
  if (!f && errno != ENOENT) return Status::Io("cannot read key " + path + ": " + std::strerror(errno));
  if (f) {
    EVP_PKEY* pkey = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    if (!pkey || EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
      EVP_PKEY_free(pkey);
      return Status::Invalid(path + ": not an Ed25519 private key in PEM");
    }
    k.key_ = Wrap(pkey);
    return k;
  }
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (!pkey) return Status::Io("Ed25519 key generation failed");
  k.key_ = Wrap(pkey);
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Io("cannot create " + tmp + ": " + std::strerror(errno));
  FILE* out = fdopen(fd, "w");
  bool ok = PEM_write_PrivateKey(out, pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  ok = ok && std::fflush(out) == 0 && ::fsync(fd) == 0;
  std::fclose(out);
  if (!ok) {
    ::unlink(tmp.c_str());
    return Status::Io("cannot write key " + tmp);
  }
  // link(2), unlike rename(2), never replaces: a key another process made
  // meanwhile wins, and this one is dropped.
  int linked = ::link(tmp.c_str(), path.c_str());
  int err = errno;
  ::unlink(tmp.c_str());
  if (linked != 0 && err == EEXIST) return LoadOrCreate(path);
  if (linked != 0) return Status::Io("cannot create key " + path + ": " + std::strerror(err));
  if (Status s = FsyncPath(std::filesystem::path(path).parent_path().empty() ? "." : std::filesystem::path(path).parent_path().string()); !s.ok()) return s;
  return k;
}

Result<std::string> SigningKey::Sign(std::string_view message) const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, static_cast<EVP_PKEY*>(key_.get())) != 1)
    return Status::Io("signing init failed");
  size_t len = 64;
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1)
    return Status::Io("signing failed");
  sig.resize(len);
  return sig;
}

std::string SigningKey::PublicKeyPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, static_cast<EVP_PKEY*>(key_.get()));
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

Result<VerifyKey> VerifyKey::FromPem(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!pkey || EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(pkey);
    return Status::Invalid("not an Ed25519 public key in PEM");
  }
  VerifyKey k;
  k.key_ = Wrap(pkey);
  return k;
}

Result<VerifyKey> VerifyKey::Load(const std::string& path) {
  auto pem = ReadFile(path);
  if (!pem.ok()) return pem.status();
  auto k = FromPem(*pem);
  if (!k.ok()) return Status::Invalid(path + ": " + k.status().message());
  return k;
}

bool VerifyKey::Verify(std::string_view message, std::string_view signature) const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, static_cast<EVP_PKEY*>(key_.get())) != 1)
    return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
                          reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
}

}  // namespace spate
