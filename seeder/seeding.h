// The seeder's libtorrent session: seeds stored artifacts as the origin.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <libtorrent/session.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_status.hpp>

#include "wire/status.h"
#include "wire/swarm.h"

namespace spate::seeder {

struct TorrentStats {
  std::string id;  // name@version
  std::string info_hash;
  std::string state;  // "seeding", "checking", "error: ...", ...
  int peers = 0;
  int upload_rate = 0;          // payload bytes/s
  int64_t total_uploaded = 0;   // payload bytes this session
};

struct SessionTotals {
  int torrents = 0;
  int peers = 0;
  int64_t upload_rate = 0;
  int64_t total_uploaded = 0;
};

// Owns the session (built by wire's MakeSession with origin=true) and a thread
// that drains alerts. Thread-safe.
class Seeding {
 public:
  // `announce_urls` (every tracker): each torrent announces to them, one per
  // tier in wire/tracker_order.h's order, whatever the stored torrent lists
  // (it may predate a change of trackers). Empty: the torrent's own list.
  explicit Seeding(SwarmOptions options, std::vector<std::string> announce_urls = {});
  ~Seeding();
  Seeding(const Seeding&) = delete;
  Seeding& operator=(const Seeding&) = delete;

  // Starts the session and waits (bounded) until it listens.
  Status Start();
  void Stop();
  // "IP:PORT" peers connect to.
  std::string peer_endpoint() const;

  // Seeds `torrent` (bencoded) from `save_path` in seed_mode: the data was just
  // hashed (or was stored that way), so nothing is rechecked up front; pieces are
  // verified lazily when first requested. Not auto-managed, never queued.
  // Idempotent per id.
  Status Add(const std::string& id, const std::string& torrent, const std::string& save_path);

  // Announces `id` now: its first announce may have been refused before the
  // tracker knew it, and libtorrent would otherwise back off for a while.
  void Reannounce(const std::string& id);

  // From a cache the alert thread refreshes about once a second
  // (post_torrent_updates), so a request never waits on libtorrent's network
  // thread and costs the same however often it comes. A torrent added since
  // the last refresh reads as "starting".
  std::vector<TorrentStats> Stats() const;
  SessionTotals Totals() const;

 private:
  void AlertLoop();
  void OnStateUpdate(const std::vector<lt::torrent_status>& statuses);

  SwarmOptions options_;
  std::vector<std::string> announce_urls_;
  std::unique_ptr<lt::session> session_;
  mutable std::mutex mu_;
  std::map<std::string, lt::torrent_handle> torrents_;  // by id; guarded by mu_
  std::map<std::string, std::string> info_hashes_;      // by id; guarded by mu_
  std::map<lt::torrent_handle, std::string> ids_;       // by handle; guarded by mu_
  std::map<std::string, TorrentStats> stats_;           // by id, the cache Stats() reads; guarded by mu_
  std::atomic<bool> stop_{false};
  std::thread alerts_;
  int port_ = 0;
};

}  // namespace spate::seeder
