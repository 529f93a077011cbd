// The tracker service: a BitTorrent HTTP tracker (GET /announce, GET /scrape)
// that answers only registered info-hashes with rack-aware peer lists. What
// it knows of pushes comes through wire/push_facts.h; the push controller
// (push/) registers swarms through the same seam.
//
// Threading: every method must be called on the io thread of the io_context
// passed to Create (the HTTP server runs that context with one thread), so the
// state needs no locks.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "rackmap/rackmap.h"
#include "tracker/announce.h"
#include "tracker/peer_select.h"
#include "wire/http.h"
#include "wire/metrics.h"
#include "wire/push_facts.h"
#include "wire/status.h"
#include <nlohmann/json.hpp>

namespace spate {

struct TrackerConfig {
  std::string listen = "127.0.0.1:7070";
  // Optional; without it every host and peer is "unknown" (all equally far).
  std::string rackmap_path;
  // Announce interval handed to peers of an artifact with an active push:
  // short, so new peers are discovered quickly while it matters.
  std::chrono::seconds announce_interval{5};
  // Announce interval when no push of the artifact is active: long, to keep load low.
  std::chrono::seconds idle_announce_interval{60};
  // A peer that has not announced for this long is dropped. 0 = three times
  // the interval last handed to that peer (so idle peers are not dropped early).
  std::chrono::seconds peer_ttl{0};
  PolicyOptions policy;
  // An origin grantee whose `left` has not decreased for this long loses its
  // grant (and gateway share), so another host of its rack can take it.
  std::chrono::seconds grant_stall{30};
  // How often peers are expired and the announce rate updated.
  std::chrono::milliseconds tick_interval{1000};
  // UDP tracker (BEP 15) address, "" = off. Port 0 picks a free port.
  std::string udp_listen;
  // A second, plain HTTP address serving only /announce and /scrape, "" = off.
  // When set, `listen` (the control port) no longer serves them: stock
  // BitTorrent clients announce in plaintext here while the control API
  // speaks TLS. Port 0 picks a free port.
  std::string announce_listen;
  // Set: the control port (`listen`) speaks only TLS.
  http::TlsFiles tls;
  // Believe the announce's `ip` parameter (HTTP `ip`, UDP ip field) instead of
  // the packet's source. Only for trusted networks: anyone could otherwise
  // place any address in a swarm.
  bool trust_ip_param = false;
  // Info-hashes served besides those registered through the control API:
  // 40 hex digits per line, '#' comments (see whitelist.h). Reloaded on SIGHUP.
  std::string whitelist_path;
  std::string ready_file;
  std::string log_level = "info";

  Status Validate() const;
};

enum class Protocol { kHttp = 0, kUdp = 1 };
const char* ProtocolName(Protocol p);

// Counters of the HTTP server that the tracker reports in /stats and /metrics.
struct HttpServerCounters {
  uint64_t connections_rejected = 0;  // over the per-address or total connection limit
  uint64_t connections_accepted = 0;
};

class Tracker {
 public:
  static Result<std::unique_ptr<Tracker>> Create(const TrackerConfig& config, Rackmap rackmap,
                                                 boost::asio::io_context& io);
  // Must run while `io` still exists (it may be stopped): it cancels timers,
  // closes the UDP socket and drops held long-poll replies, all through `io`.
  ~Tracker();

  // The swarm figures of GET /metrics and /stats. On the io thread only.
  Metrics MetricsSnapshot() const;
  nlohmann::json Stats() const;
  // Starts the periodic expiry timer.
  void Start();
  // GET /announce and /scrape; 404 for anything else.
  void Handle(http::Request&& req, http::Reply reply);

  // The seam to the push controller: what the tracker asks about pushes
  // (kept by the caller, which outlives the tracker), and where swarms are
  // registered.
  void SetPushFacts(const PushFacts* facts);
  Swarms& swarms();

  // The announce and scrape logic every protocol shares: HTTP and UDP call
  // these, so swarm state and peer policy are one. `remote` is the packet's or
  // connection's source. A failure's message is the reason sent to the client.
  Result<AnnounceReply> Announce(const AnnounceRequest& a, const boost::asio::ip::address& remote, Protocol p);
  // One entry per hash, in order; unregistered hashes get zero counts.
  // Empty `hashes` = every swarm (a full scrape; HTTP only).
  void Scrape(const std::vector<std::string>& hashes, Protocol p, std::vector<ScrapeEntry>* out);

  // Binds the UDP tracker on config.udp_listen (no-op when empty) on the same
  // io_context, so it shares the io thread and needs no locks.
  Status StartUdp();
  // The bound UDP address, "" when off.
  std::string udp_endpoint() const;

  // Replaces the whitelist (raw 20-byte hashes): swarms only it allowed and no
  // longer listed are dropped; registered artifacts stay. Returns the count.
  size_t SetWhitelist(const std::vector<std::string>& hashes);

  // Where /stats and /metrics read the HTTP server's counters.
  void SetHttpCounters(std::function<HttpServerCounters()> f);

  struct Impl;

 private:
  explicit Tracker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace spate
