// The seeder service: accepts uploads, stores them durably, registers them with
// the tracker and seeds them as the origin.
//
// HTTP (all under /api/v1):
//   PUT  /artifacts/{name}/{version}?filename=F   upload (upload role) -> 201/200 Manifest
//   PUT  /artifacts/{name}/{version}?filename=F&check=1   (no body; X-Spate-Sha256 required)
//        dry run: 204 if absent, 200 Manifest if identical, else the 401/403/400/409 the upload would get
//   GET  /artifacts                               (read role) -> {"artifacts":[Manifest...]}
//   GET  /artifacts/{name}/{version}              (read role) -> Manifest
//   GET  /artifacts/{name}/{version}/torrent      (read role) -> .torrent bytes
//   GET  /pubkey                                  (open) -> PEM of the manifest signing key
//   GET  /status                                  (read role) -> stored artifacts, seeding stats, totals
// and GET /metrics (not under /api/v1; read role) -> Prometheus text, spate_seeder_* (README lists them).
// Roles are wire/auth.h's. The read role is required only when a read token
// is configured; without one reads are open (with a warning at startup
// unless open_reads says that is intended). Other methods get 405.
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "seeder/registrar.h"
#include "seeder/routes.h"
#include "seeder/seeding.h"
#include "seeder/store.h"
#include "wire/auth.h"
#include "wire/crypto.h"
#include "wire/graphite.h"
#include "wire/metrics.h"
#include "wire/http.h"
#include "wire/status.h"

namespace spate::seeder {

struct SeederConfig {
  std::string listen = "127.0.0.1:7080";  // HTTP address
  std::string data_dir;                   // required; see store.h for the layout
  // Required: every tracker, http://HOST:PORT or https://HOST:PORT. Each
  // artifact is registered with all of them, and its torrent lists them all
  // (one per tier, in wire/tracker_order.h's order for its info-hash).
  std::vector<std::string> tracker_urls;
  // Written into torrents, one per tracker in the same order; empty = each
  // tracker's /announce. Validate() fills it.
  std::vector<std::string> announce_urls;
  http::TlsFiles tls;                     // set: the HTTP listener speaks only TLS
  std::string tls_ca;                     // CA file for an https:// tracker; "" = the system's
  std::string tracker_token;              // register token, sent with registrations to the tracker
  std::string upload_token;               // required; CI's bearer token for PUT
  // Bearer token reads must carry; "" leaves reads open.
  std::string read_token;
  // Reads are open on purpose (no read token): no warning at startup.
  bool open_reads = false;
  std::string peer_address;               // BitTorrent bind IP; "" = the listen IP
  int peer_port = 0;                      // 0 = ephemeral
  uint64_t upload_rate = 0;               // bytes/s for all peers, 0 = unlimited
  std::string ready_file;                 // {"http":..., "peer":...} once serving
  // io threads; reads and small GETs only, since ingest runs on its own pool.
  int http_threads = 4;
  // Largest artifact accepted: a bigger upload is refused (413) by the dry
  // run or from its Content-Length, before a byte of it is written to disk.
  uint64_t max_upload_size = uint64_t(64) << 30;
  // An upload that sends nothing for this long is dropped (its temp file is
  // swept with the abandoned ones).
  std::chrono::seconds upload_idle_timeout{60};
  // Concurrent ingests (hashing is disk/CPU bound; more than cores only thrashes).
  int ingest_threads = 2;
  std::chrono::milliseconds register_retry{3000};
  GraphiteOptions graphite;  // off unless graphite.address is set

  // Checks required fields and formats; fills the derived defaults.
  Status Validate();
};

class Seeder {
 public:
  explicit Seeder(SeederConfig config);  // config must have passed Validate()
  ~Seeder();
  Seeder(const Seeder&) = delete;
  Seeder& operator=(const Seeder&) = delete;

  // Opens the store and key, starts libtorrent, re-seeds and re-registers every
  // stored artifact, binds HTTP and writes the ready file.
  Status Start();
  // Serves until Stop(). Blocks.
  void Run();
  // Thread-safe; may be called before or during Run().
  void Stop();

  std::string http_endpoint() const;

 private:
  std::optional<http::Response> OnHeader(http::Request& req);
  // Ok when `req` may act in `need` (reads: always, without a read token);
  // a refusal is logged with the caller's address.
  Status Authorize(const http::Request& req, auth::Role need);
  void Handle(http::Request&& req, http::Reply reply);
  void HandleUpload(http::Request&& req, http::Reply reply);
  http::Response Preflight(const UploadTarget& t, const std::string& sha256);
  http::Response HandleGet(const http::Request& req);
  http::Response StatusJson();
  // Thread-safe: the io threads, the ingest pool and the Graphite sender call it.
  Metrics Snapshot();
  void Publish(const StoredArtifact& a);

  SeederConfig config_;
  ArtifactStore store_;
  std::optional<SigningKey> key_;
  std::unique_ptr<Seeding> seeding_;
  std::vector<std::unique_ptr<Registrar>> registrars_;  // one per tracker, as tracker_urls
  // Over every tracker: registered once all took it; else the state (and
  // error) of the first that has not, named by its URL.
  Registration RegistrationOf(const std::string& id) const;
  std::mutex server_mu_;  // orders Start()'s creation of server_ against Stop()
  std::unique_ptr<http::Server> server_;
  boost::asio::thread_pool ingest_pool_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> uploads_stored_{0}, uploads_identical_{0}, uploads_refused_{0}, uploads_failed_{0};
  std::atomic<uint64_t> upload_bytes_{0};
  std::atomic<uint64_t> reads_refused_{0};
  auth::Keyring keys_;
  std::unique_ptr<GraphiteSender> graphite_;
};

}  // namespace spate::seeder
