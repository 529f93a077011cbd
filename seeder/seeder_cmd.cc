// `spate seeder`: flags -> SeederConfig -> Seeder, result -> exit code.
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <tuple>
#include <vector>
#include <cxxopts.hpp>
#include <spdlog/spdlog.h>

#include "seeder/seeder.h"
#include "wire/auth.h"
#include "wire/config.h"
#include "wire/daemon.h"
#include "wire/tracker_order.h"
#include "wire/units.h"

namespace spate {

int SeederCommand(int argc, char** argv) {
  cxxopts::Options opts("spate seeder", "Accept artifact uploads, store them durably, register and seed them.");
  opts.add_options()
      ("listen", "HTTP address ADDR:PORT (port 0 = any free port)", cxxopts::value<std::string>()->default_value("127.0.0.1:7080"))
      ("data-dir", "directory for stored artifacts, the signing key and temp files (required)", cxxopts::value<std::string>())
      ("tracker", "tracker base URL, e.g. http://127.0.0.1:7070 or https://... (required); several trackers: a comma-separated list or the flag repeated (each artifact is registered with all, its torrent lists all)", cxxopts::value<std::vector<std::string>>())
      ("announce-url", "announce URL written into torrents (default TRACKER/announce; with an https:// tracker, its plain --announce-listen); with several trackers, one per --tracker in the same order", cxxopts::value<std::vector<std::string>>())
      ("tls-cert", "serve HTTPS only, with this PEM certificate (chain); needs --tls-key", cxxopts::value<std::string>()->default_value(""))
      ("tls-key", "PEM private key of --tls-cert (unencrypted)", cxxopts::value<std::string>()->default_value(""))
      ("tls-ca", "PEM CA file an https:// --tracker must chain to (default: the system's trusted CAs)", cxxopts::value<std::string>()->default_value(""))
      ("register-token-file", "file (mode 600) holding the tracker's register token (default $SPATE_REGISTER_TOKEN, else $SPATE_ADMIN_TOKEN)", cxxopts::value<std::string>()->default_value(""))
      ("tracker-token", "the register token itself (visible in ps: prefer --register-token-file)", cxxopts::value<std::string>())
      ("upload-token-file", "file (mode 600) holding the token uploads must carry (default $SPATE_UPLOAD_TOKEN; required)", cxxopts::value<std::string>()->default_value(""))
      ("upload-token", "the upload token itself (visible in ps: prefer --upload-token-file)", cxxopts::value<std::string>())
      ("read-token-file", "file (mode 600) holding the token reads must carry (default $SPATE_READ_TOKEN; none: reads are open)", cxxopts::value<std::string>()->default_value(""))
      ("open-reads", "serve reads without a token, on purpose (no read token)")
      ("peer-address", "BitTorrent bind IP (default: the --listen IP)", cxxopts::value<std::string>())
      ("peer-port", "BitTorrent port (0 = ephemeral)", cxxopts::value<int>()->default_value("0"))
      ("upload-rate", "upload cap for all peers, e.g. 8MiB (0 = unlimited)", cxxopts::value<std::string>()->default_value("0"))
      ("max-upload-size", "refuse artifacts larger than this (413, before any byte is stored)", cxxopts::value<std::string>()->default_value("64GiB"))
      ("ready-file", "write {\"http\":..,\"peer\":..} here once serving", cxxopts::value<std::string>()->default_value(""))
      ("graphite", "send metrics every 10 s to carbon's plaintext port IP:PORT (off by default)", cxxopts::value<std::string>())
      ("graphite-prefix", "Graphite path prefix (default spate.seeder.<peer address>)", cxxopts::value<std::string>())
      ("graphite-interval", "how often to send to Graphite", cxxopts::value<std::string>()->default_value("10s"))
      ("log-level", "trace, debug, info, warn, error", cxxopts::value<std::string>()->default_value("info"))
      ("h,help", "show this help");

  seeder::SeederConfig cfg;
  std::string log_level;
  try {
    auto r = ParseWithConfig(opts, argc, argv);
    if (r.count("help")) {
      std::printf("%s\n", opts.help().c_str());
      return kExitOk;
    }
    if (!r.unmatched().empty()) {
      std::fprintf(stderr, "spate seeder: unexpected argument '%s'\n", r.unmatched().front().c_str());
      return kExitUsage;
    }
    cfg.listen = r["listen"].as<std::string>();
    if (r.count("data-dir")) cfg.data_dir = r["data-dir"].as<std::string>();
    if (r.count("tracker")) cfg.tracker_urls = SplitList(r["tracker"].as<std::vector<std::string>>());
    if (r.count("announce-url")) cfg.announce_urls = SplitList(r["announce-url"].as<std::vector<std::string>>());
    cfg.tls = {r["tls-cert"].as<std::string>(), r["tls-key"].as<std::string>()};
    cfg.tls_ca = r["tls-ca"].as<std::string>();
    // Each secret: the flag holding it, else its file, else the environment.
    for (auto [flag, file_flag, env, out] :
         {std::tuple{"tracker-token", "register-token-file", std::vector<const char*>{"SPATE_REGISTER_TOKEN", "SPATE_ADMIN_TOKEN"}, &cfg.tracker_token},
          {"upload-token", "upload-token-file", std::vector<const char*>{"SPATE_UPLOAD_TOKEN"}, &cfg.upload_token},
          {"", "read-token-file", std::vector<const char*>{"SPATE_READ_TOKEN"}, &cfg.read_token}}) {
      if (*flag && r.count(flag)) {
        *out = r[flag].as<std::string>();
        continue;
      }
      auto secret = auth::SecretFrom(std::string("--") + file_flag, r[file_flag].as<std::string>(), env);
      if (!secret.ok()) {
        std::fprintf(stderr, "spate seeder: %s\n", secret.status().message().c_str());
        return kExitUsage;
      }
      *out = *secret;
    }
    cfg.open_reads = r.count("open-reads") > 0;
    if (r.count("peer-address")) cfg.peer_address = r["peer-address"].as<std::string>();
    cfg.peer_port = r["peer-port"].as<int>();
    auto rate = ParseBytes(r["upload-rate"].as<std::string>());
    if (!rate.ok()) {
      std::fprintf(stderr, "spate seeder: --upload-rate: %s\n", rate.status().message().c_str());
      return kExitUsage;
    }
    cfg.upload_rate = *rate;
    auto max_upload = ParseBytes(r["max-upload-size"].as<std::string>());
    if (!max_upload.ok()) {
      std::fprintf(stderr, "spate seeder: --max-upload-size: %s\n", max_upload.status().message().c_str());
      return kExitUsage;
    }
    cfg.max_upload_size = *max_upload;
    cfg.ready_file = r["ready-file"].as<std::string>();
    if (r.count("graphite")) cfg.graphite.address = r["graphite"].as<std::string>();
    if (r.count("graphite-prefix")) cfg.graphite.prefix = r["graphite-prefix"].as<std::string>();
    auto every = ParseDuration(r["graphite-interval"].as<std::string>());
    if (!every.ok() || every->count() <= 0) {
      std::fprintf(stderr, "spate seeder: --graphite-interval: %s\n",
                   every.ok() ? "must be positive" : every.status().message().c_str());
      return kExitUsage;
    }
    cfg.graphite.interval = *every;
    log_level = r["log-level"].as<std::string>();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spate seeder: %s\n(see spate seeder --help)\n", e.what());
    return kExitUsage;
  }
  Status s = cfg.Validate();
  if (!s.ok()) {
    std::fprintf(stderr, "spate seeder: %s\n", s.message().c_str());
    return kExitUsage;
  }
  s = InitLogging("seeder", log_level);
  if (!s.ok()) {
    std::fprintf(stderr, "spate seeder: %s\n", s.message().c_str());
    return kExitUsage;
  }
  RaiseFileLimit();  // a socket per peer, uploads and their files

  // First, so every thread created later (the Seeder's pool included) inherits
  // the blocked signal mask and SIGTERM reaches only the handler thread.
  // Static: the signal thread is detached and may outlive this frame.
  static std::mutex mu;
  static seeder::Seeder* running = nullptr;
  static bool stop_requested = false;
  OnStopSignal([] {
    std::lock_guard<std::mutex> lock(mu);
    stop_requested = true;
    if (running) running->Stop();
  });
  seeder::Seeder seeder(cfg);
  {
    std::lock_guard<std::mutex> lock(mu);
    running = &seeder;
    if (stop_requested) seeder.Stop();
  }
  struct Unregister {
    ~Unregister() {
      std::lock_guard<std::mutex> lock(mu);
      running = nullptr;
    }
  } unregister;
  s = seeder.Start();
  if (!s.ok()) {
    spdlog::error("cannot start seeder: {}", s.message());
    return s.code() == Status::Code::kInvalid ? kExitUsage : kExitFailure;
  }
  seeder.Run();
  spdlog::info("seeder stopped");
  return kExitOk;
}

}  // namespace spate
