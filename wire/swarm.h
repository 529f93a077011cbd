// The one place where Spate's libtorrent settings live; seeder and fetcher
// both build their sessions here. See ../shared/LIBTORRENT-NOTES.md for the traps.
#pragma once

#include <libtorrent/ip_filter.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/session_params.hpp>
#include <memory>
#include <string>
#include <vector>

#include "wire/status.h"

namespace spate {

struct SwarmOptions {
  // Address this simulated or real host owns; peers see connections from it.
  std::string bind_address = "0.0.0.0";
  int port = 0;  // 0 = ephemeral
  // Caps in bytes/s for all peers, local ones included. 0 = unlimited.
  int upload_rate = 0;
  int download_rate = 0;
  // Floor on announce intervals; libtorrent's default of 300 s hides new peers for minutes.
  int min_announce_interval = 2;
  // Disk threads. Two keep a daemon at a handful of threads so 200 fit on one box.
  int aio_threads = 2;
  // Seeder facing many fetchers: deeper accept queue and more upload slots.
  bool origin = false;
  // Benchmark baseline: libtorrent's defaults, keeping only what a host on a
  // shared loopback needs (its own listen/outgoing address, no DHT/LSD/UPnP/
  // NAT-PMP, the caps holding for 127/8 peers, and TCP instead of uTP, whose
  // loopback slowness is an artifact of the sandbox, not of stock BitTorrent).
  bool stock = false;
  // Extra libtorrent settings by name ("unchoke_slots_limit=16"), applied last.
  // For measuring levers without a rebuild; keep what helps in SwarmSettings.
  std::vector<std::string> overrides;
};

// Where a seeder's torrents and a fetcher's announces go: `announce_url` when
// given (http://, https:// or udp://), else `tracker_url` + "/announce", the
// tracker's own port. The torrent's announce fields are outside the signed
// info dict, so a fetcher announces to this URL, never to the torrent's.
// libtorrent checks an https:// tracker against the system's trusted CAs,
// not --tls-ca: a tracker with TLS on its control port serves stock clients
// on its plain --announce-listen, which only --announce-url can name.
Result<std::string> AnnounceUrlFor(const std::string& tracker_url, const std::string& announce_url);

// Applies "name=value" (int, bool as true/false/1/0, or string) to the pack.
Status ApplyOverride(lt::settings_pack& s, const std::string& kv);

lt::settings_pack SwarmSettings(const SwarmOptions& o);

// Peer-class bit of libtorrent's global class (the one the session caps).
inline constexpr uint32_t kGlobalPeerClass = 1u << lt::session::global_peer_class_id;

// A peer-class filter putting every IPv4 and IPv6 address in `peer_classes`
// (a bit set); rules added later override it for their range.
lt::ip_filter AllAddresses(uint32_t peer_classes);

// Builds a session with SwarmSettings, pread/pwrite disk I/O (mmap inflates RSS),
// and a peer-class filter that puts every address in the global class, so the
// rate caps hold for 10/8 and 127/8 peers too.
std::unique_ptr<lt::session> MakeSession(const SwarmOptions& o);

}  // namespace spate
