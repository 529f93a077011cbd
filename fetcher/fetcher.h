// The fetcher daemon: long-polls the tracker for assignments, downloads them
// over BitTorrent into staging, verifies and installs them, reports progress,
// seeds for a while, then cleans staging.
//
// A push the tracker stops listing before this host activated it was
// cancelled there: its work stops without a report and its staging stays for
// a later push of that version. A failure that may pass (a download error
// other than a full disk, a sha256 mismatch) is tried again after a backoff,
// up to FetcherConfig::tries; reports carry the attempt.
//
// Threads (a box runs ~200 of these): one poll thread (long poll), one engine
// thread (libtorrent alerts, reports, job state; it alone touches jobs and
// the session's torrents), plus libtorrent's own, one short-lived hashing
// thread per completed download, and one activation thread per artifact name
// while its hook and health check run (fetcher/activate.h).
#pragma once

#include <memory>
#include <string>

#include "fetcher/config.h"
#include "wire/status.h"

namespace spate {

class Fetcher {
 public:
  explicit Fetcher(FetcherConfig config);
  ~Fetcher();  // Stop() and Wait()
  Fetcher(const Fetcher&) = delete;
  Fetcher& operator=(const Fetcher&) = delete;

  // Validates the config, loads the trusted key, creates dirs and the session,
  // checks in once with the tracker (best effort), starts the threads and
  // writes the ready file. Call once.
  Status Start();
  // Asks the daemon to stop. Thread-safe, idempotent, does not block.
  void Stop();
  // Blocks until the engine has stopped: an install in progress finishes
  // (installs are atomic either way), downloads are abandoned with their
  // staging data kept for the next start, and a hook or health check in
  // progress is killed and its activation rolled back (the push's assignment
  // redoes it after the restart). Safe to call more than once.
  void Wait();

  // "IP:PORT" libtorrent listens on (valid after Start()).
  std::string peer_endpoint() const;
  // Torrents currently in the session (for tests and status). Thread-safe after Start().
  int torrent_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace spate
