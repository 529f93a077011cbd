// Configuration of the fetcher daemon (`spate fetcher`).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "wire/graphite.h"
#include "wire/status.h"

namespace spate {

struct FetcherConfig {
  // Name this host checks in with; the tracker assigns pushes by it.
  std::string host_id;
  // This host's own address: libtorrent listens and connects from it, and the
  // HTTP client binds to it so the tracker sees 127.0.R.H rather than 127.0.0.1.
  std::string bind_address = "127.0.0.1";
  // BitTorrent listen port; 0 picks a free one (see Fetcher::peer_endpoint()).
  int peer_port = 0;
  // Control API base URLs, e.g. http://127.0.0.1:7070 or https://... (no
  // trailing /api/v1): every tracker, sharing one database. Polls and reports
  // go to the first that answers (ControlClient); each torrent announces to
  // all of them, one per tier, in wire/tracker_order.h's order for its info-hash.
  std::vector<std::string> tracker_urls;
  // CA file an https:// tracker's certificate must chain to; "" = the system's trusted CAs.
  std::string tls_ca;
  // Where every torrent announces, whatever its own announce and
  // announce-list say (they are outside the signed info dict): one per
  // tracker, in tracker_urls' order; empty = each tracker's /announce. See
  // AnnounceUrlFor in wire/swarm.h.
  std::vector<std::string> announce_urls;
  // This host's token (spate host-token), sent as the bearer of its polls
  // and reports; "" sends none (a tracker without a host secret).
  std::string host_token;
  // Daemon state (created if missing).
  std::string data_dir;
  // Artifacts land in <install_dir>/<name>/<version>/; staging lives under
  // <install_dir>/.spate/staging so the install's reflink (install.h) and final rename stay on one filesystem.
  std::string install_dir;
  // PEM file of the seeder's Ed25519 public key; only manifests it signed are installed.
  std::string trusted_key_file;
  // PEM file of the tracker's Ed25519 public key (written beside its db as
  // .pub). With it, only assignments the tracker signed for this host id are
  // acted on, so whoever answers as the tracker cannot replay an old push
  // (fetcher/fetcher.cc, VerifyAssignment). Empty: assignments are taken
  // unsigned, as before, with a warning at start.
  std::string tracker_key_file;
  // Caps in bytes/s for all peers (0 = unlimited). They hold for 127/8 and 10/8 peers too.
  uint64_t upload_rate = 0;
  uint64_t download_rate = 0;
  // Cap in bytes/s, each way, on peers outside this host's rack (its share of
  // the rack uplink; 0 = only the caps above). The rack's ranges come from the tracker.
  uint64_t cross_rack_rate = 0;
  // How long to keep seeding an artifact after installing it, so later hosts
  // can fetch from us instead of the origin.
  std::chrono::milliseconds seed_time = std::chrono::minutes(10);
  // Period of progress reports to the tracker while work is active.
  std::chrono::milliseconds report_interval = std::chrono::seconds(1);
  // Long-poll wait asked of the tracker; the HTTP timeout is this plus a margin.
  int poll_wait_seconds = 25;
  // Benchmark baseline: libtorrent defaults instead of Spate's tuning (see SwarmOptions::stock).
  bool stock_libtorrent = false;
  // libtorrent settings NAME=VALUE applied after Spate's (tuning experiments).
  std::vector<std::string> lt_settings;
  // Activation (see fetcher/activate.h): shell commands run after `current`
  // switches, hook first; either failing puts `current` back. Empty: none.
  std::string activate_hook;
  std::string health_check;
  // Each command is killed (its whole process group) after this long.
  std::chrono::milliseconds hook_timeout = std::chrono::seconds(60);
  // Version dirs kept per artifact after an activation; current and the
  // version before it are kept regardless. At least 2.
  int keep_versions = 3;
  // Attempts at a push whose failure may pass (a download error other than a
  // full disk; a size or sha256 mismatch after download), the first included;
  // 1 = no retry. Each report of the push carries the attempt (HostReport::tries).
  // Other failures (refused manifest, free-space floor, full disk, install
  // I/O, hook or health check) are final at once.
  int tries = 3;
  // Wait before the second attempt, doubled before each later one. Staging is
  // kept meanwhile, so the next attempt rechecks it and fetches only the
  // pieces that are missing or damaged.
  std::chrono::milliseconds retry_delay = std::chrono::seconds(2);
  // A download that would leave less than this free on the install
  // filesystem is refused. nullopt: no check (only ENOSPC stops a download).
  std::optional<uint64_t> min_free = uint64_t(1) << 30;
  // GET /metrics (Prometheus text) on this ADDR:PORT; "" = off. Port 0 picks one.
  std::string metrics_listen;
  GraphiteOptions graphite;  // off unless graphite.address is set
  // Optional file written once running: {"host":..., "peer":"IP:PORT"} (+ "metrics").
  std::string ready_file;

  Status Validate() const;
  // Tracker URLs without a trailing slash.
  std::vector<std::string> TrackerBases() const;
  // announce_urls, or the defaults derived from the tracker URLs. After Validate().
  std::vector<std::string> AnnounceUrls() const;
};

}  // namespace spate
