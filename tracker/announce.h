// The BitTorrent HTTP tracker protocol: parsing announce/scrape queries (BEP 3)
// and bencoding replies (BEP 3, compact peers BEP 23 / BEP 7 "peers6").
// Pure functions on byte strings: no sockets, no state, fuzzable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tracker/peer_select.h"
#include "wire/status.h"

namespace spate {

enum class AnnounceEvent { kNone, kStarted, kStopped, kCompleted };

struct AnnounceRequest {
  std::string info_hash;  // exactly 20 raw bytes
  std::string peer_id;    // exactly 20 raw bytes
  uint16_t port = 0;
  uint64_t uploaded = 0;
  uint64_t downloaded = 0;
  uint64_t left = 0;
  AnnounceEvent event = AnnounceEvent::kNone;
  int numwant = 50;  // clamped to [0, kMaxNumwant]
  bool compact = true;
  bool no_peer_id = false;
  // BEP 3 "key": proves a peer's identity when its address changes. Opaque, at most 64 bytes.
  std::string key;
  // BEP 3 "ip" as given (text, unvalidated). The tracker uses it only with --trust-ip-param.
  std::string ip;
};

inline constexpr int kMaxNumwant = 200;

// Parses the still-percent-encoded query of GET /announce. Required: info_hash,
// peer_id, port, left. `ip` and `key` are returned as given; whether `ip` is
// believed is the tracker's decision (--trust-ip-param).
// Never throws; any malformed input is a Status::Invalid naming the field.
Result<AnnounceRequest> ParseAnnounce(const std::string& query);

// The info_hash parameters of GET /scrape (each 20 raw bytes; may be none = all).
Result<std::vector<std::string>> ParseScrape(const std::string& query);

// A peer in a reply, in the binary form the compact encodings need.
struct ReplyPeer {
  PeerId peer_id{};
  PeerAddress ip;
  uint16_t port = 0;
};

struct AnnounceReply {
  int interval = 0;      // seconds
  int min_interval = 0;  // seconds
  int64_t complete = 0;
  int64_t incomplete = 0;
  std::vector<ReplyPeer> peers;
  bool compact = true;
  bool no_peer_id = false;
};

struct ScrapeEntry {
  std::string info_hash;  // 20 raw bytes
  int64_t complete = 0, incomplete = 0, downloaded = 0;
  bool registered = true;  // false: the tracker does not serve this hash (HTTP omits it, UDP sends zeros)
};

// Bencoded bodies. Announce replies are written directly (keys in bencode's
// sorted order): they are the hot path. The others use lt::entry.
std::string EncodeAnnounce(const AnnounceReply& r);
std::string EncodeScrape(const std::vector<ScrapeEntry>& files);
std::string EncodeFailure(const std::string& reason);

}  // namespace spate
