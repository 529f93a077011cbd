// Internal state of the tracker (see tracker.h). Lives on the io thread only.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "tracker/grant_watch.h"
#include "wire/push_facts.h"
#include "tracker/udp_server.h"
#include "wire/metrics.h"
#include "tracker/tracker.h"

namespace spate {

// One registered artifact's swarm: compact peer records grouped by rack (see
// peer_set.h), which is what SelectPeers reads.
struct SwarmState {
  std::string artifact;   // name@version
  std::string info_hash;  // 20 raw bytes
  uint64_t size = 0;
  std::string origin_ip;  // text, as registered
  PeerSet peers;
  std::optional<PeerAddress> origin_addr;  // origin_ip, parsed
  // No record expires before this (unix seconds), so the periodic expiry
  // skips the swarm without reading its records. May be early, never late.
  uint32_t next_expiry = 0;
  int64_t completed = 0;  // "completed" events seen (scrape's "downloaded")
  // Peers with left == 0, kept up to date on every change so announces and
  // (full) scrapes count in O(1) instead of walking the swarm.
  int64_t seeds = 0;
  GrantWatch grants;  // progress of the origin grantees
  bool registered = false;   // through the control API
  bool whitelisted = false;  // listed in --whitelist

  void Remove(uint32_t slot);
  // Derives origin_addr and every record's origin flag from origin_ip.
  void ApplyOrigin();
};

// The tracker's side of the seam (wire/push_facts.h).
class TrackerSwarms : public Swarms {
 public:
  explicit TrackerSwarms(Tracker::Impl& t) : t_(t) {}
  Status Serve(const std::string& artifact, const std::string& info_hash_hex, uint64_t size,
               const std::string& origin) override;
  std::optional<GatewayShare> GatewayOf(const std::string& info_hash_hex, const std::string& addr) const override;

 private:
  Tracker::Impl& t_;
};

// Until the daemon connects a push controller: no pushes.
class NoPushes : public PushFacts {
 public:
  bool Active(const std::string&) const override { return false; }
  bool Targeted(const std::string&, const std::string&) const override { return false; }
  int RackTargets(const std::string&, const std::string&) const override { return 0; }
};

struct Tracker::Impl {
  TrackerConfig config;
  Rackmap rackmap;
  RackTable racks;  // every swarm's rack ids
  Selection selection;  // reused by every announce, so its buffer is kept
  boost::asio::io_context& io;
  Rng rng{std::random_device{}()};
  boost::asio::steady_timer tick;

  std::unordered_map<std::string, SwarmState> swarms;        // by raw info_hash
  uint64_t announces_total = 0;
  uint64_t announces[2] = {0, 0};  // by Protocol
  uint64_t scrapes[2] = {0, 0};
  uint64_t failures[2] = {0, 0};   // announces/scrapes answered with a failure
  // announces/s over the last rate window (updated by Tick).
  double announce_rate = 0;
  uint64_t rate_base = 0;
  std::chrono::steady_clock::time_point rate_since = std::chrono::steady_clock::now();
  std::unique_ptr<UdpServer> udp;
  std::function<HttpServerCounters()> http_counters;
  NoPushes no_pushes;
  const PushFacts* push_facts = &no_pushes;
  TrackerSwarms swarm_seam{*this};
  uint64_t grants_revoked = 0;    // origin grants taken from stalled gateways

  Impl(TrackerConfig c, Rackmap r, boost::asio::io_context& i) : config(std::move(c)), rackmap(std::move(r)), io(i), tick(i) {}

  // tracker.cc
  void Route(http::Request&& req, http::Reply reply);
  void Announce(const http::Request& req, const http::Reply& reply);
  void Scrape(const http::Request& req, const http::Reply& reply);
  Result<AnnounceReply> AnnounceCore(const AnnounceRequest& a, const boost::asio::ip::address& remote, Protocol p);
  void ScrapeCore(const std::vector<std::string>& hashes, Protocol p, std::vector<ScrapeEntry>* out);
  size_t SetWhitelist(const std::vector<std::string>& hashes);
  void UpdateRate();
  // Drops the swarm's origin records at `addr` (a restarted seeder's predecessor).
  void RemoveOrigins(SwarmState& sw, const PeerAddress& addr);

  // metrics.cc
  nlohmann::json Stats() const;
  spate::Metrics MetricsSnapshot() const;
  void Tick();
  void ExpirePeers(int64_t now);
  int IntervalFor(const std::string& artifact) const;

  // grants.cc
  // Takes the grants of the rack's stalled gateways away, the requester's included.
  void RevokeStalledGrants(SwarmState& sw, RackId rack, int64_t now_ms);
  std::optional<GatewayShare> GatewayOf(const std::string& info_hash_hex, const std::string& addr);
};

int64_t NowMs();

}  // namespace spate
