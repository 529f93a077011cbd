#include "tracker/conn_id.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace spate {

struct ConnectionIds::Ctx {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* ctx = nullptr;
  ~Ctx() {
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
  }
};

ConnectionIds::~ConnectionIds() = default;

Result<std::unique_ptr<ConnectionIds>> ConnectionIds::Create(std::string secret, std::chrono::seconds bucket) {
  if (bucket.count() < 1) return Status::Invalid("connection id bucket must be at least 1s");
  if (secret.empty()) {
    secret.resize(32);
    if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()), int(secret.size())) != 1)
      return Status::Io("RAND_bytes failed");
  }
  if (secret.size() < 16) return Status::Invalid("connection id secret must be at least 16 bytes");
  std::unique_ptr<ConnectionIds> ids(new ConnectionIds());
  ids->bucket_seconds_ = bucket.count();
  ids->ctx_ = std::make_unique<Ctx>();
  ids->ctx_->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (ids->ctx_->mac) ids->ctx_->ctx = EVP_MAC_CTX_new(ids->ctx_->mac);
  if (!ids->ctx_->ctx) return Status::Io("OpenSSL: no HMAC");
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ids->ctx_->ctx, reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), params) != 1)
    return Status::Io("OpenSSL: HMAC init failed");
  return ids;
}

uint64_t ConnectionIds::Mac(int64_t bucket, const boost::asio::ip::address& client) {
  unsigned char msg[8 + 16];
  for (int i = 0; i < 8; ++i) msg[i] = static_cast<unsigned char>(uint64_t(bucket) >> (56 - 8 * i));
  // v4 and v4-mapped v6 are one client: hash the mapped form.
  auto v6 = client.is_v4() ? boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, client.to_v4()) : client.to_v6();
  auto b = v6.to_bytes();
  std::copy(b.begin(), b.end(), msg + 8);
  // Re-init with a null key keeps the key: no allocation per packet.
  EVP_MAC_init(ctx_->ctx, nullptr, 0, nullptr);
  EVP_MAC_update(ctx_->ctx, msg, sizeof msg);
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  EVP_MAC_final(ctx_->ctx, out, &len, sizeof out);
  uint64_t id = 0;
  for (int i = 0; i < 8; ++i) id = id << 8 | out[i];
  // Never the connect magic, so an id cannot be mistaken for a connect request's.
  return id == 0x41727101980ULL ? id + 1 : id;
}

uint64_t ConnectionIds::Issue(const boost::asio::ip::address& client, int64_t now) {
  return Mac(now / bucket_seconds_, client);
}

bool ConnectionIds::Valid(uint64_t id, const boost::asio::ip::address& client, int64_t now) {
  int64_t b = now / bucket_seconds_;
  return id == Mac(b, client) || id == Mac(b - 1, client);
}

}  // namespace spate
