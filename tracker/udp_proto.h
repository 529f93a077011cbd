// The UDP tracker protocol (BEP 15): parsing requests and encoding replies.
// Pure functions on byte strings: no sockets, no clock, fuzzable.
//
// Built for a hot loop: the parser fills a caller-owned UdpRequest whose
// strings and vectors keep their capacity between packets, and the encoders
// append to a caller-owned buffer, so a steady stream of packets does not
// allocate here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tracker/announce.h"

namespace spate {

inline constexpr uint64_t kUdpProtocolId = 0x41727101980ULL;  // magic of a connect request
inline constexpr size_t kUdpMaxScrapeHashes = 74;             // BEP 15: ~74 fit one packet

enum class UdpAction : uint32_t { kConnect = 0, kAnnounce = 1, kScrape = 2, kError = 3 };

struct UdpRequest {
  UdpAction action = UdpAction::kConnect;
  uint64_t connection_id = 0;  // connect: the protocol magic; else the id handed out by connect
  uint32_t transaction_id = 0;
  AnnounceRequest announce;          // action == kAnnounce (announce.ip = dotted IPv4 if nonzero)
  uint32_t key = 0;                  // announce
  std::vector<std::string> hashes;   // action == kScrape, 1..kUdpMaxScrapeHashes raw 20-byte hashes
};

enum class UdpParse {
  kOk,
  kTooShort,        // shorter than the 16-byte header: not worth an answer
  kBadMagic,        // connect without the protocol id
  kUnknownAction,   // action not 0..2
  kBadLength,       // announce shorter than 98 bytes, scrape without whole 20-byte hashes
  kBadField,        // a field out of range (port 0)
};
const char* UdpParseName(UdpParse p);

// Parses one datagram into *out (reused between calls). On any result but
// kOk/kTooShort, out->transaction_id is still set so an error can be sent.
// Announce extensions (BEP 41) after byte 98 are ignored.
UdpParse ParseUdpRequest(std::string_view packet, UdpRequest* out);

// Replies, appended to *out after clearing it.
void EncodeUdpConnect(uint32_t transaction_id, uint64_t connection_id, std::string* out);
// Peers of the address family `v6` only (BEP 15: an IPv4 socket gets 6-byte
// entries, an IPv6 socket 18-byte ones); others are skipped.
void EncodeUdpAnnounce(uint32_t transaction_id, const AnnounceReply& reply, bool v6, std::string* out);
void EncodeUdpScrape(uint32_t transaction_id, const std::vector<ScrapeEntry>& files, std::string* out);
void EncodeUdpError(uint32_t transaction_id, std::string_view message, std::string* out);

}  // namespace spate
