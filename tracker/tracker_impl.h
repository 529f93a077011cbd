// Internal state of the tracker (see tracker.h). Lives on the io thread only.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "tracker/grant_watch.h"
#include "tracker/push_facts.h"
#include "tracker/store.h"
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

struct PushState {
  PushRecord rec;
  std::unordered_map<std::string, size_t> index;  // host -> position in rec.hosts
  std::unordered_map<std::string, int> rack_targets;  // location -> hosts targeted there
  std::unordered_multimap<std::string, size_t> by_addr;  // host address -> position in rec.hosts
  std::set<size_t> dirty;                          // hosts not yet flushed
  int installed = 0, failed = 0, superseded = 0;

  // Builds index, by_addr, rack_targets and the counts from rec.hosts.
  void Index();
  // Sets row i's state, keeping the counts.
  void SetState(size_t i, const std::string& state);
  // Row i's host now lives at addr/location.
  void MoveRow(size_t i, const std::string& addr, const std::string& location);
  // A host at `addr` is targeted and not done with this push.
  bool Targets(const std::string& addr) const;
  // "active", "succeeded", "failed" or "superseded" (see wire/api.h).
  std::string State() const;
  bool active() const { return installed + failed + superseded < int(rec.hosts.size()); }
};

struct Waiter {
  http::Reply reply;
  std::shared_ptr<boost::asio::steady_timer> timer;
};

struct HostState {
  HostRecord rec;
  bool dirty = false;
  // Changes whenever the host's assignments change: the id of the newest push
  // targeting it. Push ids only grow and are persisted, so a generation never
  // repeats across restarts.
  int64_t generation = 0;
  std::map<std::string, int64_t> latest;  // artifact name -> newest push id targeting this host
  std::map<uint64_t, Waiter> waiters;     // pending long polls
};

// The announce path's view of pushes (see push_facts.h), answered from the
// tracker's push state.
class TrackerPushFacts : public PushFacts {
 public:
  explicit TrackerPushFacts(const Tracker::Impl& t) : t_(t) {}
  bool Active(const std::string& artifact) const override;
  bool Targeted(const std::string& artifact, const PeerAddress& addr) const override;

 private:
  const Tracker::Impl& t_;
};

// The address a request really came from (IPv4-mapped IPv6 as IPv4).
std::string SourceAddress(const http::Request& req);

struct Tracker::Impl {
  TrackerConfig config;
  Rackmap rackmap;
  // Rackmap::RangesOf per location, computed on first use: every assignment
  // poll carries them, and the rackmap never changes while the tracker runs.
  mutable std::unordered_map<const Location*, std::vector<RackRange>> rack_ranges;
  RackTable racks;  // every swarm's rack ids
  Selection selection;  // reused by every announce, so its buffer is kept
  boost::asio::io_context& io;
  std::unique_ptr<Store> store;
  Rng rng{std::random_device{}()};
  boost::asio::steady_timer tick;

  std::map<std::string, ArtifactRecord> artifacts;           // by name@version
  std::unordered_map<std::string, SwarmState> swarms;        // by raw info_hash
  std::map<int64_t, PushState> pushes;                       // by id
  std::map<std::string, std::vector<int64_t>> artifact_pushes;  // name@version -> push ids
  std::map<std::string, HostState> hosts;                    // by host id
  std::set<std::string> dirty_hosts;
  std::set<int64_t> dirty_pushes;
  uint64_t next_waiter = 1;
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
  TrackerPushFacts push_facts{*this};
  // Control requests refused because of the host address binding, by kind
  // ("poll", "report").
  std::map<std::string, uint64_t> control_refused;
  uint64_t reports_backward = 0;  // reports ignored: they would move a state back
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
  std::string Metrics() const;
  spate::Metrics MetricsSnapshot() const;
  void Tick();
  void ExpirePeers(int64_t now);
  Status Flush();
  bool ArtifactActive(const std::string& artifact) const;
  int IntervalFor(const std::string& artifact) const;

  // control.cc
  Status CheckAdmin(const http::Request& req) const;
  http::Response RegisterArtifact(const http::Request& req);
  http::Response CreatePush(const http::Request& req);
  // ?since=MS: only host rows updated since (the previous answer's "now").
  http::Response GetPush(const std::string& id, const http::Request& req);
  http::Response ListPushes(const http::Request& req) const;  // newest first, ?limit=N (50)
  http::Response Fleet() const;
  http::Response ListHosts() const;
  http::Response ListArtifacts() const;
  void Assignments(const std::string& host, const http::Request& req, http::Reply reply);
  http::Response Reports(const std::string& host, const http::Request& req);
  // The host's gateway role in the push's swarm, if it is a downloading gateway.
  std::optional<GatewayRole> GatewayRoleOf(const HostRecord& host, int64_t push_id);
  Result<HostState*> CheckIn(const std::string& host, const std::string& addr);
  AssignmentList AssignmentsFor(const HostState& h) const;
  PushProgress Progress(const PushState& p) const;
  void AddSwarm(const ArtifactRecord& a);
  void TargetHost(PushState& p, const std::string& host);
  void WakeHost(HostState& h);
  // Marks the host's unfinished rows in older pushes of `artifact`'s name superseded by push `newer`.
  void Supersede(const std::string& host, const std::string& artifact, int64_t newer,
                 std::vector<std::pair<int64_t, HostProgress>>* rows);
  // Ends row i of p, unless already final, as superseded by push `newer` (of `artifact`).
  void SupersedeRow(PushState& p, size_t i, int64_t newer, const std::string& artifact,
                    std::vector<std::pair<int64_t, HostProgress>>* rows);
  Status Load();

  // host_binding.cc
  Status Refuse(const std::string& kind, const std::string& host, const std::string& from, const std::string& why);
  // Ok when `from` may speak for `host` (its bound address); else refused and counted.
  Status CheckHostAddress(const std::string& kind, const std::string& host, const std::string& from);
  Status Bind(HostState& h, const std::string& addr);
  http::Response MoveHost(const std::string& host, const http::Request& req);

  // grants.cc
  // Takes the grants of the rack's stalled gateways away, the requester's included.
  void RevokeStalledGrants(SwarmState& sw, RackId rack, int64_t now_ms);
};

int64_t NowMs();

}  // namespace spate
