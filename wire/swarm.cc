#include "wire/swarm.h"

#include <libtorrent/alert.hpp>
#include <libtorrent/ip_filter.hpp>
#include <libtorrent/peer_class.hpp>
#include <libtorrent/posix_disk_io.hpp>
#include <libtorrent/settings_pack.hpp>

namespace spate {

Result<std::string> AnnounceUrlFor(const std::string& tracker_url, const std::string& announce_url) {
  if (announce_url.empty()) {
    std::string base = tracker_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    return base + "/announce";
  }
  for (const char* scheme : {"http://", "https://", "udp://"})
    if (announce_url.rfind(scheme, 0) == 0) return announce_url;
  return Status::Invalid("--announce-url must be an http://, https:// or udp:// URL: " + announce_url);
}

Status ApplyOverride(lt::settings_pack& s, const std::string& kv) {
  auto eq = kv.find('=');
  if (eq == std::string::npos) return Status::Invalid("libtorrent setting '" + kv + "' is not NAME=VALUE");
  std::string name = kv.substr(0, eq), value = kv.substr(eq + 1);
  int id = lt::setting_by_name(name);
  if (id < 0) return Status::Invalid("unknown libtorrent setting '" + name + "'");
  try {
    switch (id & lt::settings_pack::type_mask) {
      case lt::settings_pack::string_type_base: s.set_str(id, value); break;
      case lt::settings_pack::int_type_base: s.set_int(id, std::stoi(value)); break;
      case lt::settings_pack::bool_type_base: s.set_bool(id, value == "true" || value == "1"); break;
      default: return Status::Invalid("libtorrent setting '" + name + "' has an unknown type");
    }
  } catch (const std::exception&) {
    return Status::Invalid("libtorrent setting '" + name + "': bad value '" + value + "'");
  }
  return Status::Ok();
}

namespace {

// What every host needs whatever the tuning: its own address, no discovery
// beyond our tracker, TCP, and the caps.
void BaseSettings(const SwarmOptions& o, lt::settings_pack& s) {
  std::string ep = o.bind_address.find(':') != std::string::npos ? "[" + o.bind_address + "]" : o.bind_address;
  s.set_str(lt::settings_pack::listen_interfaces, ep + ":" + std::to_string(o.port));
  // Without this, outgoing connections come from 127.0.0.1 and break per-host accounting.
  if (o.bind_address != "0.0.0.0" && o.bind_address != "::")
    s.set_str(lt::settings_pack::outgoing_interfaces, o.bind_address);
  // A datacenter network: no discovery beyond our tracker, no port mapping.
  s.set_bool(lt::settings_pack::enable_dht, false);
  s.set_bool(lt::settings_pack::enable_lsd, false);
  s.set_bool(lt::settings_pack::enable_upnp, false);
  s.set_bool(lt::settings_pack::enable_natpmp, false);
  // uTP on loopback/LAN is 7-10x slower than TCP.
  s.set_bool(lt::settings_pack::enable_outgoing_utp, false);
  s.set_bool(lt::settings_pack::enable_incoming_utp, false);
  s.set_int(lt::settings_pack::mixed_mode_algorithm, lt::settings_pack::prefer_tcp);
  s.set_int(lt::settings_pack::upload_rate_limit, o.upload_rate);
  s.set_int(lt::settings_pack::download_rate_limit, o.download_rate);
  // The daemons run on these alerts (listening, progress, errors), stock or not.
  s.set_int(lt::settings_pack::alert_mask, lt::alert_category::status | lt::alert_category::error |
                                               lt::alert_category::storage | lt::alert_category::tracker);
}

}  // namespace

// Levers measured with scripts/bench-swarm (30-60 hosts, 6 racks, 64 MiB in
// 1024 pieces, 4 MiB/s caps; ratios, since the 2-core box is shared):
// - Which peers the tracker hands out dominates cross-rack bytes (4.5 -> 1.7-1.9
//   x racks*F); no session setting moved it. See tracker/peer_select.h.
// - Super-seeding on the origin: slower (max/bound 2.4 vs 1.4) and no fewer
//   cross-rack bytes, because each rack's few gateways then wait on the origin
//   for every new piece. Not used.
// - Gateways per rack (tracker --origin-per-rack) traded time for cross-rack
//   bytes (PolicyOptions::origin_per_rack in tracker/peer_select.h) until
//   each gateway fetched only its share from outside (fetcher/far_filter.h):
//   cross-rack 2.3-2.5 -> 1.3 x racks*F at the same time.
// - Piece COUNT is what carries over to production (seeder/piece_size.cc keeps
//   1000-2000 pieces): 64 MiB here is 1024 x 64 KiB, like 1.5 GB in 1 MiB pieces.
lt::settings_pack SwarmSettings(const SwarmOptions& o) {
  lt::settings_pack s;
  BaseSettings(o, s);
  if (o.stock) {
    for (const auto& kv : o.overrides) (void)ApplyOverride(s, kv);
    return s;
  }
  // Encryption handshakes only add retries inside a trusted network.
  s.set_int(lt::settings_pack::in_enc_policy, lt::settings_pack::pe_disabled);
  s.set_int(lt::settings_pack::out_enc_policy, lt::settings_pack::pe_disabled);
  s.set_int(lt::settings_pack::min_announce_interval, o.min_announce_interval);
  // Fail fast and retry soon when the tracker restarts.
  s.set_int(lt::settings_pack::tracker_backoff, 50);
  // Several trackers (wire/tracker_order.h): a torrent lists them one per
  // tier and libtorrent moves to the next tier once an announce fails. A
  // killed tracker refuses the connection and the move is at once; a tracker
  // whose machine is gone (or hangs) fails only on these time-outs, 30 s to
  // complete and 10 s of silence by default, during which the announce round
  // waits. Our trackers answer in milliseconds, so 5 s of either is a failure.
  s.set_int(lt::settings_pack::tracker_completion_timeout, 5);
  s.set_int(lt::settings_pack::tracker_receive_timeout, 5);
  s.set_int(lt::settings_pack::aio_threads, o.aio_threads);
  s.set_int(lt::settings_pack::hashing_threads, 1);
  // Every torrent we hold is meant to be active; no queueing.
  s.set_int(lt::settings_pack::active_downloads, -1);
  s.set_int(lt::settings_pack::active_seeds, -1);
  s.set_int(lt::settings_pack::active_limit, -1);
  // Outstanding requests per peer = this many seconds of its download rate
  // (default 3). Requests commit a block to one peer; 3 s of them on a slow
  // far link fetch blocks a rack peer delivers meanwhile. 60 hosts/6 racks:
  // cross-rack bytes 2.4-2.8 -> 2.0-2.1 x racks*F at 1; 0 (2 blocks per peer)
  // measured a little lower still but would starve high-RTT (cross-dc) links.
  s.set_int(lt::settings_pack::request_queue_time, 1);
  // Re-choose whom to unchoke every 5 s (default 15, optimistic 30). The
  // choker ranks peers by what they sent back, so a host that starts slowly
  // stays choked by its rack; a kept 60-host run had one host at half its
  // rack's rate from start to end. 3 runs each: max/bound 1.42-1.44, no such
  // host, against 1.43, 1.44 and 1.99 (one host 9 s late) at the defaults.
  s.set_int(lt::settings_pack::unchoke_interval, 5);
  s.set_int(lt::settings_pack::optimistic_unchoke_interval, 5);
  // Reconnect to a peer 2 s after its connection dropped (default 60 s, times
  // its fail count). When a rack's hosts turn seed, connections to a host
  // still missing its last pieces drop in the race (a new seed closes links to
  // peers not interested in it at that instant), and with 60 s that host sat
  // at 99% with 0 peers while its rack seeded, until the tracker granted it
  // the origin: 1-2 pushes in 6 took ~38 s instead of ~7 (24 hosts, 16 MiB,
  // scripts/soak --faults none --seed 5); with 2 s, 10 of 10 took 6.2-8.4 s.
  s.set_int(lt::settings_pack::min_reconnect_time, 2);
  // Loopback and LAN peers are many per IP range; do not treat them as a Sybil attack.
  s.set_bool(lt::settings_pack::allow_multiple_connections_per_ip, true);
  if (o.origin) {
    s.set_int(lt::settings_pack::listen_queue_size, 3000);
    s.set_int(lt::settings_pack::connections_limit, 8000);
  }
  s.set_str(lt::settings_pack::user_agent, "spate/0.1");
  s.set_str(lt::settings_pack::peer_fingerprint, "-SP0100-");
  for (const auto& kv : o.overrides) (void)ApplyOverride(s, kv);  // validated by the commands
  return s;
}

lt::ip_filter AllAddresses(uint32_t peer_classes) {
  lt::ip_filter f;
  f.add_rule(lt::make_address("0.0.0.0"), lt::make_address("255.255.255.255"), peer_classes);
  f.add_rule(lt::make_address("::"), lt::make_address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), peer_classes);
  return f;
}

std::unique_ptr<lt::session> MakeSession(const SwarmOptions& o) {
  lt::session_params params(SwarmSettings(o));
  // Stock keeps libtorrent's mmap backend; ours uses pread/pwrite so RSS stays small.
  if (!o.stock) params.disk_io_constructor = lt::posix_disk_io_constructor;
  auto ses = std::make_unique<lt::session>(std::move(params));
  // Default filter puts private ranges in the unlimited local class; undo it.
  ses->set_peer_class_filter(AllAddresses(kGlobalPeerClass));
  return ses;
}

}  // namespace spate
