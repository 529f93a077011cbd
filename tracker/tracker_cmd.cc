// `spate tracker`: flags -> TrackerConfig, then serve until SIGINT/SIGTERM.
#include <cxxopts.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <functional>
#include <future>

#include "push/service.h"
#include "tracker/tracker.h"
#include "tracker/whitelist.h"
#include "wire/config.h"
#include "wire/daemon.h"
#include "wire/graphite.h"
#include "wire/units.h"

namespace spate {

namespace {

Result<std::chrono::seconds> Seconds(const std::string& flag, const std::string& v) {
  auto d = ParseDuration(v);
  if (!d.ok()) return Status::Invalid("--" + flag + ": " + d.status().message());
  if (d->count() % 1000 != 0) return Status::Invalid("--" + flag + ": must be whole seconds");
  return std::chrono::duration_cast<std::chrono::seconds>(*d);
}

int Fail(const Status& s) {
  std::fprintf(stderr, "spate tracker: %s\n", s.message().c_str());
  return kExitUsage;
}

}  // namespace

int TrackerCommand(int argc, char** argv) {
  cxxopts::Options opts("spate tracker", "BitTorrent tracker with rack-aware peer selection and the push control API");
  // clang-format off
  opts.add_options()
    ("listen", "HTTP address for announces and the control API", cxxopts::value<std::string>()->default_value("127.0.0.1:7070"))
    ("tls-cert", "the --listen port speaks only HTTPS, with this PEM certificate (chain); needs --tls-key", cxxopts::value<std::string>()->default_value(""))
    ("tls-key", "PEM private key of --tls-cert (unencrypted)", cxxopts::value<std::string>()->default_value(""))
    ("announce-listen", "plain HTTP address serving only /announce and /scrape (for BitTorrent clients); --listen then stops serving them", cxxopts::value<std::string>()->default_value(""))
    ("rackmap", "rackmap file (CIDR dc/pod/rack lines); without it every host is 'unknown'", cxxopts::value<std::string>()->default_value(""))
    ("db", "where artifacts, pushes and hosts are kept: a SQLite file, or postgresql://USER@HOST:PORT/DB to share one PostgreSQL database between several trackers (then --key is required)", cxxopts::value<std::string>()->default_value("./tracker.db"))
    ("key", "Ed25519 key (PEM) that signs assignments, created if missing; its public key goes beside it as .pub for fetchers' --tracker-key (default: the --db path ending in .sign.key)", cxxopts::value<std::string>()->default_value(""))
    ("admin-token", "one bearer token for both registering artifacts and pushing (default: $SPATE_ADMIN_TOKEN); --token-file splits the roles", cxxopts::value<std::string>()->default_value(""))
    ("token-file", "file (mode 600) of 'ROLE TOKEN' lines for register, push and read, and 'host-secret SECRET'; replaces --admin-token", cxxopts::value<std::string>()->default_value(""))
    ("open-reads", "serve reads (pushes, fleet, hosts, artifacts, /stats, /metrics) without a token, on purpose (no read token)")
    ("enrol", "host ids that may check in for the first time (glob)", cxxopts::value<std::string>()->default_value("*"))
    ("enrol-rackmap", "a host's first check-in must come from an address in the rackmap")
    ("announce-interval", "announce interval while a push of the artifact is active", cxxopts::value<std::string>()->default_value("5s"))
    ("idle-announce-interval", "announce interval otherwise", cxxopts::value<std::string>()->default_value("60s"))
    ("peer-ttl", "drop peers silent this long (default: 3x the interval handed to the peer)", cxxopts::value<std::string>()->default_value("0"))
    ("policy", "peer selection: rack or random", cxxopts::value<std::string>()->default_value("rack"))
    ("bridges", "peers from other racks added to each gateway's reply", cxxopts::value<int>()->default_value("3"))
    ("origin-per-rack", "requesters per rack handed the origin seeder (the rack's gateways)", cxxopts::value<int>()->default_value("5"))
    ("bridge-hosts", "hosts per rack handed --bridges far peers when no origin is registered (else the origin grantees are)", cxxopts::value<int>()->default_value("2"))
    ("grant-stall", "take the origin grant from a gateway whose bytes left have not decreased for this long", cxxopts::value<std::string>()->default_value("30s"))
    ("min-local", "top up racks with fewer peers than this from the nearest racks", cxxopts::value<int>()->default_value("0"))
    ("wake-rate", "hosts a push wakes a second at most, so a whole fleet does not start and finish in the same half second (0: no limit)", cxxopts::value<int>()->default_value("8000"))
    ("udp-listen", "UDP tracker (BEP 15) address, e.g. 0.0.0.0:6969; port 0 picks one (default: off)", cxxopts::value<std::string>()->default_value(""))
    ("whitelist", "file of info-hashes served besides registered ones (40 hex per line, # comments); reloaded on SIGHUP", cxxopts::value<std::string>()->default_value(""))
    ("trust-ip-param", "believe the announce's ip parameter instead of the source address (trusted networks only)")
    ("max-connections-per-ip", "concurrent HTTP connections per client address; excess ones are closed at once", cxxopts::value<int>()->default_value("64"))
    ("header-timeout", "close an HTTP connection that has not sent a whole request header in this time", cxxopts::value<std::string>()->default_value("15s"))
    ("ready-file", "write {\"http\":\"ADDR:PORT\",\"udp\":..,\"announce\":..,\"tracker_key\":\"PUB\"} here once listening (udp, announce with their flags)", cxxopts::value<std::string>()->default_value(""))
    ("graphite", "send metrics every 10 s to carbon's plaintext port IP:PORT (off by default)", cxxopts::value<std::string>()->default_value(""))
    ("graphite-prefix", "Graphite path prefix (default spate.tracker.<listen address>)", cxxopts::value<std::string>()->default_value(""))
    ("graphite-interval", "how often to send to Graphite", cxxopts::value<std::string>()->default_value("10s"))
    ("log-level", "trace, debug, info, warn, error", cxxopts::value<std::string>()->default_value("info"))
    ("h,help", "show help");
  // clang-format on
  TrackerConfig c;
  push::ServiceOptions pc;
  GraphiteOptions graphite;
  int max_per_ip = 64;
  std::chrono::seconds header_timeout{15};
  try {
    auto r = ParseWithConfig(opts, argc, argv);
    if (r.count("help")) {
      std::printf("%s\n", opts.help().c_str());
      return kExitOk;
    }
    if (!r.unmatched().empty()) return Fail(Status::Invalid("unexpected argument '" + r.unmatched()[0] + "'"));
    c.listen = r["listen"].as<std::string>();
    c.tls = {r["tls-cert"].as<std::string>(), r["tls-key"].as<std::string>()};
    c.announce_listen = r["announce-listen"].as<std::string>();
    c.rackmap_path = r["rackmap"].as<std::string>();
    pc.db_path = r["db"].as<std::string>();
    pc.key_path = r["key"].as<std::string>();
    std::string admin_token = r["admin-token"].as<std::string>();
    const std::string token_file = r["token-file"].as<std::string>();
    // Read the environment here, not as the flag's default, so --help never prints the secret.
    const char* env_token = std::getenv("SPATE_ADMIN_TOKEN");
    if (admin_token.empty() && token_file.empty() && env_token) admin_token = env_token;
    if (Status a = push::LoadAccess(token_file, admin_token, &pc); !a.ok()) return Fail(a);
    pc.open_reads = r.count("open-reads") > 0;
    if (int rate = r["wake-rate"].as<int>(); rate >= 0) pc.wake_rate = size_t(rate);
    else return Fail(Status::Invalid("--wake-rate must be 0 (no limit) or a number of hosts a second"));
    pc.enrol_glob = r["enrol"].as<std::string>();
    pc.enrol_rackmap = r.count("enrol-rackmap") > 0;
    if (pc.enrol_rackmap && c.rackmap_path.empty())
      return Fail(Status::Invalid("--enrol-rackmap needs --rackmap (without one no address is in it)"));
    for (auto [flag, out] : {std::pair{"announce-interval", &c.announce_interval},
                             {"idle-announce-interval", &c.idle_announce_interval},
                             {"peer-ttl", &c.peer_ttl},
                             {"grant-stall", &c.grant_stall}}) {
      auto s = Seconds(flag, r[flag].as<std::string>());
      if (!s.ok()) return Fail(s.status());
      *out = *s;
    }
    auto policy = ParsePolicy(r["policy"].as<std::string>());
    if (!policy.ok()) return Fail(Status::Invalid("--policy: " + policy.status().message()));
    c.policy.policy = *policy;
    c.policy.bridges = r["bridges"].as<int>();
    c.policy.origin_per_rack = r["origin-per-rack"].as<int>();
    c.policy.bridge_hosts = r["bridge-hosts"].as<int>();
    c.policy.min_local = r["min-local"].as<int>();
    c.udp_listen = r["udp-listen"].as<std::string>();
    c.whitelist_path = r["whitelist"].as<std::string>();
    c.trust_ip_param = r.count("trust-ip-param") > 0;
    max_per_ip = r["max-connections-per-ip"].as<int>();
    if (max_per_ip < 1) return Fail(Status::Invalid("--max-connections-per-ip must be at least 1"));
    auto ht = Seconds("header-timeout", r["header-timeout"].as<std::string>());
    if (!ht.ok()) return Fail(ht.status());
    if (ht->count() < 1) return Fail(Status::Invalid("--header-timeout must be at least 1s"));
    header_timeout = *ht;
    c.ready_file = r["ready-file"].as<std::string>();
    c.log_level = r["log-level"].as<std::string>();
    graphite.address = r["graphite"].as<std::string>();
    graphite.prefix = r["graphite-prefix"].as<std::string>();
    auto every = ParseDuration(r["graphite-interval"].as<std::string>());
    if (!every.ok()) return Fail(Status::Invalid("--graphite-interval: " + every.status().message()));
    if (every->count() <= 0) return Fail(Status::Invalid("--graphite-interval must be positive"));
    graphite.interval = *every;
  } catch (const std::exception& e) {
    return Fail(Status::Invalid(e.what()));
  }
  pc.announce_interval_s = int(c.announce_interval.count());
  pc.idle_announce_interval_s = int(c.idle_announce_interval.count());
  Status s = c.Validate();
  if (!s.ok()) return Fail(s);
  s = pc.Validate();
  if (!s.ok()) return Fail(s);
  s = InitLogging("tracker", c.log_level);
  if (!s.ok()) return Fail(s);
  // A descriptor per host's long poll: up to the hard limit, before the server sizes its cap from it.
  const uint64_t files = RaiseFileLimit();

  Rackmap rackmap;
  if (!c.rackmap_path.empty()) {
    auto m = Rackmap::Load(c.rackmap_path);
    if (!m.ok()) {
      std::fprintf(stderr, "%s\n", m.status().message().c_str());
      return kExitUsage;
    }
    rackmap = std::move(*m);
    auto sum = rackmap.Summary();
    spdlog::info("rackmap {}: {} ranges, {} dcs, {} pods, {} racks", c.rackmap_path, sum.ranges, sum.dcs, sum.pods,
                 sum.racks);
  }

  // A bad whitelist at startup is a configuration error (exit 2); on SIGHUP it
  // only logs and keeps the old list, so a typo never empties a running tracker.
  std::vector<std::string> whitelist;
  if (!c.whitelist_path.empty()) {
    auto w = LoadWhitelist(c.whitelist_path);
    if (!w.ok()) {
      std::fprintf(stderr, "spate tracker: %s\n", w.status().message().c_str());
      return kExitUsage;
    }
    whitelist = std::move(*w);
  }

  http::ServerOptions so;
  so.listen = c.listen;
  so.threads = 1;  // all tracker state lives on this one io thread
  so.max_connections_per_ip = max_per_ip;
  // Nearly every descriptor of a tracker is a host's connection (its long
  // poll held open, a report, an announce); its own (the database and its
  // WAL, the log, the UDP socket, listeners) are a few dozen. So the cap is
  // the open-file limit less a reserve, not wire/http's default of half of
  // it, which left 10,000 hosts short of long polls on a limit of 20,000.
  // Thousands of hosts connect within the same second (a push wakes every
  // long poll, and each answer brings an announce and a new poll): a short
  // accept queue drops SYNs, which clients resend only after 1 s, then 3 s.
  // The kernel caps this at net.core.somaxconn.
  so.listen_backlog = 65535;
  if (files == UINT64_MAX) so.max_connections = 0;
  else if (files >= 1024) so.max_connections = int(std::min<uint64_t>(files - 256, INT32_MAX));
  so.idle_timeout = header_timeout;  // bounds reading each request: a slow client only holds its own connection
  http::ServerOptions announce_options = so;  // plain: stock BitTorrent clients announce here
  announce_options.listen = c.announce_listen;
  so.tls = c.tls;
  const bool split = !c.announce_listen.empty();
  // The tracker and the push service live on server.io(): their timers, the
  // UDP socket, long-poll timers and the replies they hold (each keeping an
  // HTTP session and its socket alive) all belong to that io_context. So they
  // must be destroyed before the server, which owns the io_context: `owned`
  // and `service` are declared after `server`, and locals are destroyed in
  // reverse order, on every return path. (Declared the other way round,
  // ~Server freed the io_context's services first and ~Tracker then closed
  // sockets and cancelled timers through them: a use after free that
  // corrupted the heap at shutdown.)
  Tracker* tracker = nullptr;
  push::Service* pushes = nullptr;
  // One port: the push controller's API and pages, the swarm's announces,
  // and /stats and /metrics of both.
  http::Server server(so, [&tracker, &pushes, split](http::Request&& req, http::Reply reply) {
    if (split && (req.path == "/announce" || req.path == "/scrape"))
      return reply(http::Response::Error(Status::NotFound(req.path + " is served on --announce-listen, not here")));
    if ((req.path == "/stats" || req.path == "/metrics") && req.method == "GET")
      if (auto refused = pushes->RefuseRead(req)) return reply(std::move(*refused));
    if (req.path == "/stats" && req.method == "GET") {
      nlohmann::json j = tracker->Stats();
      j.update(pushes->Stats());
      return reply(http::Response::Json(200, j.dump() + "\n"));
    }
    if (req.path == "/metrics" && req.method == "GET") {
      http::Response r = http::Response::Text(200, tracker->MetricsSnapshot().Append(pushes->MetricsSnapshot()).Prometheus());
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      return reply(std::move(r));
    }
    if (pushes->Handle(req, reply)) return;
    tracker->Handle(std::move(req), std::move(reply));
  });
  // Declared after `server` (destroyed before it, once its io has stopped),
  // on the same io thread: the one Tracker needs no locks.
  std::unique_ptr<http::Server> announce_server;
  if (split)
    announce_server = std::make_unique<http::Server>(
        announce_options, [&tracker](http::Request&& req, http::Reply reply) { tracker->Handle(std::move(req), std::move(reply)); },
        server.io());
  auto t = Tracker::Create(c, rackmap, server.io());
  if (!t.ok()) {
    spdlog::error("{}", t.status().message());
    return t.status().code() == Status::Code::kInvalid ? kExitUsage : kExitFailure;
  }
  std::unique_ptr<Tracker> owned = std::move(*t);
  tracker = owned.get();
  auto created = push::Service::Create(pc, rackmap, tracker->swarms(), server.io());
  if (!created.ok()) {
    spdlog::error("{}", created.status().message());
    return created.status().code() == Status::Code::kInvalid ? kExitUsage : kExitFailure;
  }
  std::unique_ptr<push::Service> service = std::move(*created);
  pushes = service.get();
  tracker->SetPushFacts(&service->facts());
  tracker->SetHttpCounters([&server, &announce_server] {
    return HttpServerCounters{
        server.connections_rejected() + (announce_server ? announce_server->connections_rejected() : 0),
        server.connections_accepted() + (announce_server ? announce_server->connections_accepted() : 0)};
  });
  if (!c.whitelist_path.empty())
    spdlog::info("whitelist {}: {} info-hashes", c.whitelist_path, tracker->SetWhitelist(whitelist));
  // SIGHUP is handled on the io thread (asio signal_set), so the reload needs no locks.
  boost::asio::signal_set hup(server.io(), SIGHUP);
  std::function<void()> wait_hup = [&] {
    hup.async_wait([&](boost::system::error_code ec, int) {
      if (ec) return;
      if (c.whitelist_path.empty()) {
        spdlog::info("SIGHUP: no --whitelist to reload");
      } else if (auto w = LoadWhitelist(c.whitelist_path); !w.ok()) {
        spdlog::error("whitelist reload failed, keeping the old list: {}", w.status().message());
      } else {
        spdlog::info("whitelist {} reloaded: {} info-hashes", c.whitelist_path, tracker->SetWhitelist(*w));
      }
      wait_hup();
    });
  };
  wait_hup();
  OnStopSignal([&server] { server.Stop(); });
  s = server.Start();
  if (s.ok() && announce_server) s = announce_server->Start();
  if (!s.ok()) {
    spdlog::error("{}", s.message());
    return kExitFailure;
  }
  s = tracker->StartUdp();
  if (!s.ok()) {
    spdlog::error("{}", s.message());
    return kExitFailure;
  }
  std::string addr = http::FormatEndpoint(server.local_endpoint());
  nlohmann::json ready{{"http", addr}, {"tracker_key", service->public_key_path()}};
  if (announce_server) {
    ready["announce"] = http::FormatEndpoint(announce_server->local_endpoint());
    spdlog::info("announces and scrapes on http://{} only", ready["announce"].get<std::string>());
  }
  if (!c.udp_listen.empty()) {
    ready["udp"] = tracker->udp_endpoint();
    spdlog::info("udp tracker listening on {}", tracker->udp_endpoint());
  }
  s = WriteReadyFile(c.ready_file, ready.dump());
  if (!s.ok()) {
    spdlog::error("ready file: {}", s.message());
    return kExitFailure;
  }
  // Declared after `owned`: stopped and destroyed before the tracker it reads.
  std::unique_ptr<GraphiteSender> graphite_sender;
  if (!graphite.address.empty()) {
    if (graphite.prefix.empty()) graphite.prefix = DefaultGraphitePrefix("tracker", addr);
    // Tracker state lives on the io thread: the snapshot is taken there. A
    // stopped or stuck io thread costs one empty round, never a hang.
    graphite_sender = std::make_unique<GraphiteSender>(graphite, [&server, tracker, pushes] {
      auto done = std::make_shared<std::promise<Metrics>>();
      auto f = done->get_future();
      boost::asio::post(server.io(), [done, tracker, pushes] {
        done->set_value(tracker->MetricsSnapshot().Append(pushes->MetricsSnapshot()));
      });
      return f.wait_for(std::chrono::seconds(2)) == std::future_status::ready ? f.get() : Metrics();
    });
    s = graphite_sender->Start();
    if (!s.ok()) return Fail(s);
  }
  tracker->Start();
  service->Start();
  spdlog::info("tracker listening on {}{} (policy {}, interval {}s active / {}s idle)", addr, c.tls.enabled() ? " (TLS)" : "",
               PolicyName(c.policy.policy), c.announce_interval.count(), c.idle_announce_interval.count());
  spdlog::info("open-file limit {}: up to {} HTTP connections, one per host's long poll (raise LimitNOFILE for more)",
               files, server.max_connections());
  if (std::FILE* f = std::fopen("/proc/sys/net/core/somaxconn", "r")) {
    int somaxconn = 0;
    if (std::fscanf(f, "%d", &somaxconn) == 1 && somaxconn < so.listen_backlog)
      spdlog::info("net.core.somaxconn is {}: the kernel queues at most that many new connections; thousands of "
                   "hosts announcing at a push's start overflow it and wait 1 s for their SYN to be resent "
                   "(sysctl -w net.core.somaxconn=65535)",
                   somaxconn);
    std::fclose(f);
  }
  server.Run();
  if (graphite_sender) graphite_sender->Stop();
  s = service->Flush();
  if (!s.ok()) spdlog::error("final flush: {}", s.message());
  spdlog::info("tracker stopped");
  return kExitOk;
}

}  // namespace spate
