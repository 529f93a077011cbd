// The synthetic swarms of scripts/bench-tracker, shared by the load generator and
// (re-derived in Lua) by the wrk script: torrent t's info-hash is the 20 ASCII
// bytes "spatebench00" + t as 8 digits, so it needs no URL escaping anywhere.
#pragma once

#include <cstdio>
#include <string>

namespace spate::bench {

inline std::string InfoHash(int t) {
  char buf[32];  // room for any int; torrents stay below 10^8, so 20 bytes are used
  std::snprintf(buf, sizeof buf, "spatebench00%08d", t % 100000000);
  return std::string(buf, 20);
}

inline std::string Hex(const std::string& bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

// Preloaded peer p of torrent t: rack 1 + p % racks, so every torrent spans all
// racks; within a rack the host number differs per torrent, so one address holds
// peers of many torrents, as a real host seeding several artifacts does.
struct PeerSlot {
  int rack, host, port;
  std::string peer_id;  // 20 bytes, unique per (t, p)
};

inline PeerSlot Slot(int t, int p, int racks) {
  int per_rack_index = p / racks;  // 0 when peers-per-torrent <= racks
  PeerSlot s;
  s.rack = 1 + p % racks;
  s.host = 1 + (t * 7 + per_rack_index) % 250;
  s.port = 6881 + per_rack_index;
  char buf[32];
  std::snprintf(buf, sizeof buf, "-SB0001-%06u%06u", unsigned(t) % 1000000, unsigned(p) % 1000000);
  s.peer_id.assign(buf, 20);
  return s;
}

inline std::string SourceIp(const PeerSlot& s) {
  return "127.0." + std::to_string(s.rack) + "." + std::to_string(s.host);
}

}  // namespace spate::bench
