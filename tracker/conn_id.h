// Stateless UDP connection ids (BEP 15): an id is the first 8 bytes of
// HMAC-SHA256(secret, time bucket || client address), so the tracker keeps no
// table of handed-out ids and a spoofed source address cannot obtain one
// usable from its real address. Ids stay valid for the bucket they were made
// in and the next one: with 60 s buckets, between 60 and 120 s (BEP 15 asks
// clients to reuse an id for at most a minute).
//
// Thread-safety: none; one instance per io thread (it reuses one MAC context).
#pragma once

#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "wire/status.h"

namespace spate {

class ConnectionIds {
 public:
  // `secret`: at least 16 bytes; empty = 32 random bytes (ids die with the process).
  static Result<std::unique_ptr<ConnectionIds>> Create(std::string secret = "",
                                                       std::chrono::seconds bucket = std::chrono::seconds(60));
  ~ConnectionIds();

  // `now`: seconds since the epoch (passed in so tests control time).
  uint64_t Issue(const boost::asio::ip::address& client, int64_t now);
  bool Valid(uint64_t id, const boost::asio::ip::address& client, int64_t now);

 private:
  ConnectionIds() = default;
  uint64_t Mac(int64_t bucket, const boost::asio::ip::address& client);
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  int64_t bucket_seconds_ = 60;
};

}  // namespace spate
