// The push controller on the network: the JSON control API (wire/api.h), the
// hosts' long polls, the dashboard pages, and the timer that flushes state
// and runs the controller's time rules. All of it on one io thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "push/controller.h"
#include "rackmap/rackmap.h"
#include "wire/auth.h"
#include "wire/http.h"
#include "wire/metrics.h"
#include "wire/push_facts.h"

namespace spate::push {

struct ServiceOptions {
  std::string db_path = "./tracker.db";
  // Who may call what (wire/auth.h); see LoadAccess. Register and push
  // tokens are required. A read token makes every read need it (or a push
  // token); a host secret makes each host's endpoints need that host's token.
  auth::Keyring keys;
  // Set by LoadAccess when one admin token serves register and push (no
  // --token-file): the tracker warns at startup.
  bool shared_admin_token = false;
  // Reads need no token. Only without a read token: both would contradict.
  // With neither, reads are open too, with a warning at startup, so setups
  // from before roles keep working.
  bool open_reads = false;
  // Which host ids may check in for the first time (the check-in that binds
  // them; fnmatch glob), and whether their address must be in the rackmap.
  // Others get 403, so a stranger cannot fill the host table.
  std::string enrol_glob = "*";
  bool enrol_rackmap = false;
  // Ed25519 private key (PEM) that signs every assignment for its host, so a
  // fetcher given the public key (--tracker-key) acts only on what this
  // tracker asked of it. Created (0600) on first start if missing, never
  // replaced; the public key is written beside it (PublicKeyPathFor).
  // "" = beside the db: <db without extension>.sign.key (public: .sign.pub).
  std::string key_path;
  int announce_interval_s = 5;
  int idle_announce_interval_s = 60;
  // Longest long poll of /hosts/{host}/assignments; longer `wait`s are capped.
  std::chrono::seconds max_wait{60};
  // How often open rows are written (outcomes are written before their
  // report is answered, several reports' in one transaction) and
  // wave pauses are checked.
  std::chrono::milliseconds flush_interval{1000};
  // Woken long polls are answered this many hosts at a time, with the io
  // loop's other work in between (push/service.cc, WakeSlice).
  size_t wake_slice_hosts = 150;
  // Hosts woken a second at most (0: as fast as the io loop goes), so that a
  // push to the whole fleet does not make the whole fleet act in the same
  // half second, at its start and again as its downloads end.
  size_t wake_rate = 8000;

  Status Validate() const;
};

// Fills o->keys: from the token file when `token_file` is set (its
// `register`, `push`, `read` and `host-secret` lines), else `admin_token`
// (--admin-token or $SPATE_ADMIN_TOKEN, read by the caller) serves both
// register and push. Both set is a usage error.
Status LoadAccess(const std::string& token_file, const std::string& admin_token, ServiceOptions* o);

class Service {
 public:
  // Opens the store and loads it; serves every stored artifact on `swarms`.
  static Result<std::unique_ptr<Service>> Create(const ServiceOptions& o, const Rackmap& rackmap, Swarms& swarms,
                                                 boost::asio::io_context& io);
  // Must run while `io` exists: cancels timers and drops held long polls.
  ~Service();

  // Answers /api/v1/* (except announces) and the dashboard pages; false for
  // any other request, which the caller routes on.
  bool Handle(http::Request& req, http::Reply& reply);
  // For the daemon's /stats and /metrics: the 401/403 answer when `req` may
  // not read (logged and counted), else nullopt.
  std::optional<http::Response> RefuseRead(const http::Request& req);
  void Start();
  Status Flush();

  const PushFacts& facts() const;
  // Where the public key of the assignment signing key was written.
  const std::string& public_key_path() const;
  Metrics MetricsSnapshot() const;
  nlohmann::json Stats() const;

  struct Impl;

 private:
  explicit Service(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The signing key's path for `o` (key_path, or its default beside the db),
// and where its public key goes: the same path ending in .pub.
std::string KeyPathFor(const ServiceOptions& o);
std::string PublicKeyPathFor(const std::string& key_path);

// The address a request really came from (IPv4-mapped IPv6 as IPv4).
std::string SourceAddress(const http::Request& req);

}  // namespace spate::push
