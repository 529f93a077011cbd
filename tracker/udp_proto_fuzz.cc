// libFuzzer: any datagram parses to a result without reading out of bounds,
// and the reply to it encodes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tracker/udp_proto.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static spate::UdpRequest req;  // reused, as the server does
  static std::string out;
  auto r = spate::ParseUdpRequest(std::string_view(reinterpret_cast<const char*>(data), size), &req);
  if (r != spate::UdpParse::kOk) {
    if (r != spate::UdpParse::kTooShort) spate::EncodeUdpError(req.transaction_id, spate::UdpParseName(r), &out);
    return 0;
  }
  switch (req.action) {
    case spate::UdpAction::kConnect:
      spate::EncodeUdpConnect(req.transaction_id, 1, &out);
      break;
    case spate::UdpAction::kAnnounce: {
      const auto& a = req.announce;
      if (a.info_hash.size() != 20 || a.peer_id.size() != 20 || a.port == 0 || a.numwant < 0 ||
          a.numwant > spate::kMaxNumwant)
        __builtin_trap();
      spate::AnnounceReply reply;
      spate::ReplyPeer p;
      p.ip = spate::PeerAddress::Parse(a.ip.empty() ? "127.0.0.1" : a.ip).value_or(spate::PeerAddress{});
      p.port = a.port;
      reply.peers.push_back(p);
      spate::EncodeUdpAnnounce(req.transaction_id, reply, false, &out);
      break;
    }
    case spate::UdpAction::kScrape: {
      if (req.hashes.empty() || req.hashes.size() > spate::kUdpMaxScrapeHashes) __builtin_trap();
      std::vector<spate::ScrapeEntry> files;
      for (const auto& h : req.hashes) files.push_back({h, 1, 2, 3});
      spate::EncodeUdpScrape(req.transaction_id, files, &out);
      break;
    }
    default:
      __builtin_trap();  // the parser only returns kOk for actions 0..2
  }
  return 0;
}
