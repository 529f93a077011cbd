// libFuzzer: the HTTP tracker's query parsers must reject any byte string
// cleanly (Status, never a crash), and what they accept must encode.
#include <cstddef>
#include <cstdint>
#include <string>

#include "tracker/announce.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string q(reinterpret_cast<const char*>(data), size);
  auto a = spate::ParseAnnounce(q);
  if (a.ok()) {
    // Invariants the tracker relies on.
    if (a->info_hash.size() != 20 || a->peer_id.size() != 20 || a->port == 0 || a->numwant < 0 ||
        a->numwant > spate::kMaxNumwant || a->key.size() > 64 || a->ip.size() > 64)
      __builtin_trap();
    spate::AnnounceReply r;
    spate::ReplyPeer p;
    p.peer_id = spate::MakePeerId(a->peer_id);
    p.ip = spate::PeerAddress::Parse(a->ip).value_or(spate::PeerAddress{});  // arbitrary text
    p.port = a->port;
    r.peers.push_back(p);
    r.compact = a->compact;
    r.no_peer_id = a->no_peer_id;
    (void)spate::EncodeAnnounce(r);
  }
  auto s = spate::ParseScrape(q);
  if (s.ok()) {
    std::vector<spate::ScrapeEntry> files;
    for (const auto& h : *s) {
      if (h.size() != 20) __builtin_trap();
      files.push_back({h, 1, 2, 3});
    }
    (void)spate::EncodeScrape(files);
  }
  return 0;
}
