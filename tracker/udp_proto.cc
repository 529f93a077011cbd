#include "tracker/udp_proto.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>

namespace spate {

namespace {

uint64_t Get64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}
uint32_t Get32(const unsigned char* p) { return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3]; }
uint16_t Get16(const unsigned char* p) { return uint16_t(p[0] << 8 | p[1]); }

void Put32(std::string* out, uint32_t v) {
  char b[4] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  out->append(b, 4);
}
void Put64(std::string* out, uint64_t v) {
  Put32(out, uint32_t(v >> 32));
  Put32(out, uint32_t(v));
}
// Counts as BEP 15 carries them: signed 32-bit, saturated.
uint32_t Count(int64_t n) { return uint32_t(std::clamp<int64_t>(n, 0, INT32_MAX)); }

constexpr size_t kHeader = 16;
constexpr size_t kAnnounceSize = 98;

}  // namespace

const char* UdpParseName(UdpParse p) {
  switch (p) {
    case UdpParse::kOk: return "ok";
    case UdpParse::kTooShort: return "too short";
    case UdpParse::kBadMagic: return "bad protocol id";
    case UdpParse::kUnknownAction: return "unknown action";
    case UdpParse::kBadLength: return "bad length";
    case UdpParse::kBadField: return "bad field";
  }
  return "?";
}

UdpParse ParseUdpRequest(std::string_view packet, UdpRequest* out) {
  if (packet.size() < kHeader) return UdpParse::kTooShort;
  auto p = reinterpret_cast<const unsigned char*>(packet.data());
  out->connection_id = Get64(p);
  uint32_t action = Get32(p + 8);
  out->transaction_id = Get32(p + 12);
  switch (action) {
    case uint32_t(UdpAction::kConnect):
      out->action = UdpAction::kConnect;
      return out->connection_id == kUdpProtocolId ? UdpParse::kOk : UdpParse::kBadMagic;
    case uint32_t(UdpAction::kAnnounce): {
      out->action = UdpAction::kAnnounce;
      if (packet.size() < kAnnounceSize) return UdpParse::kBadLength;
      AnnounceRequest& a = out->announce;
      a.info_hash.assign(packet.data() + 16, 20);  // assign() reuses capacity: no allocation after the first packet
      a.peer_id.assign(packet.data() + 36, 20);
      a.downloaded = Get64(p + 56);
      a.left = Get64(p + 64);
      a.uploaded = Get64(p + 72);
      uint32_t event = Get32(p + 80);
      switch (event) {
        case 0: a.event = AnnounceEvent::kNone; break;
        case 1: a.event = AnnounceEvent::kCompleted; break;
        case 2: a.event = AnnounceEvent::kStarted; break;
        case 3: a.event = AnnounceEvent::kStopped; break;
        default: return UdpParse::kBadField;
      }
      uint32_t ip = Get32(p + 84);
      a.ip.clear();
      if (ip != 0) {
        char buf[16];
        int n = std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
        a.ip.assign(buf, size_t(n));
      }
      out->key = Get32(p + 88);
      a.key.clear();
      int32_t numwant = int32_t(Get32(p + 92));
      a.numwant = numwant < 0 ? 50 : std::min<int32_t>(numwant, kMaxNumwant);  // -1 = "default"
      a.port = Get16(p + 96);
      a.compact = true;
      a.no_peer_id = true;
      if (a.port == 0) return UdpParse::kBadField;
      return UdpParse::kOk;
    }
    case uint32_t(UdpAction::kScrape): {
      out->action = UdpAction::kScrape;
      size_t body = packet.size() - kHeader;
      if (body == 0 || body % 20 != 0 || body / 20 > kUdpMaxScrapeHashes) return UdpParse::kBadLength;
      size_t n = body / 20;
      out->hashes.resize(n);
      for (size_t i = 0; i < n; ++i) out->hashes[i].assign(packet.data() + kHeader + 20 * i, 20);
      return UdpParse::kOk;
    }
    default:
      return UdpParse::kUnknownAction;
  }
}

void EncodeUdpConnect(uint32_t transaction_id, uint64_t connection_id, std::string* out) {
  out->clear();
  Put32(out, uint32_t(UdpAction::kConnect));
  Put32(out, transaction_id);
  Put64(out, connection_id);
}

void EncodeUdpAnnounce(uint32_t transaction_id, const AnnounceReply& reply, bool v6, std::string* out) {
  out->clear();
  Put32(out, uint32_t(UdpAction::kAnnounce));
  Put32(out, transaction_id);
  Put32(out, uint32_t(std::max(reply.interval, 0)));
  Put32(out, Count(reply.incomplete));
  Put32(out, Count(reply.complete));
  for (const auto& peer : reply.peers) {
    if (peer.ip.v6 != v6) continue;
    out->append(reinterpret_cast<const char*>(peer.ip.bytes.data()), v6 ? 16 : 4);
    char port[2] = {char(peer.port >> 8), char(peer.port & 0xff)};
    out->append(port, 2);
  }
}

void EncodeUdpScrape(uint32_t transaction_id, const std::vector<ScrapeEntry>& files, std::string* out) {
  out->clear();
  Put32(out, uint32_t(UdpAction::kScrape));
  Put32(out, transaction_id);
  for (const auto& f : files) {
    Put32(out, Count(f.complete));
    Put32(out, Count(f.downloaded));
    Put32(out, Count(f.incomplete));
  }
}

void EncodeUdpError(uint32_t transaction_id, std::string_view message, std::string* out) {
  out->clear();
  Put32(out, uint32_t(UdpAction::kError));
  Put32(out, transaction_id);
  out->append(message.data(), message.size());
}

}  // namespace spate
