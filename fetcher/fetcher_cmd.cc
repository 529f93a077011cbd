// `spate fetcher`: flags -> FetcherConfig -> Fetcher, result -> exit code.
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cxxopts.hpp>
#include <iostream>

#include "fetcher/fetcher.h"
#include "wire/auth.h"
#include "wire/config.h"
#include "wire/daemon.h"
#include "wire/swarm.h"
#include "wire/tracker_order.h"
#include "wire/units.h"

namespace spate {

namespace {

std::string Hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

int Usage(const std::string& msg) {
  std::cerr << "spate fetcher: " << msg << "\n(see spate fetcher --help)\n";
  return kExitUsage;
}

}  // namespace

int FetcherCommand(int argc, char** argv) {
  cxxopts::Options opts("spate fetcher", "Fetcher daemon: fetch assigned artifacts over BitTorrent, verify, install, report");
  // clang-format off
  opts.add_options()
    ("host-id", "host id to check in as", cxxopts::value<std::string>()->default_value(Hostname()))
    ("bind", "this host's IP address (peer listen/outgoing address and tracker client address)", cxxopts::value<std::string>())
    ("peer-port", "BitTorrent listen port (0 = any free port)", cxxopts::value<int>()->default_value("0"))
    ("tracker", "tracker control API base URL, e.g. http://127.0.0.1:7070 or https://...; several trackers sharing one database: a comma-separated list or the flag repeated (polls and reports move to the next when one fails)", cxxopts::value<std::vector<std::string>>())
    ("tls-ca", "PEM CA file an https:// tracker must chain to (default: the system's trusted CAs)", cxxopts::value<std::string>()->default_value(""))
    ("announce-url", "where torrents announce, whatever the torrent says (default TRACKER/announce; with an https:// tracker, its plain --announce-listen); one per --tracker, same order", cxxopts::value<std::vector<std::string>>())
    ("host-token-file", "file (mode 600) holding this host's token from spate host-token (default: env SPATE_HOST_TOKEN)", cxxopts::value<std::string>()->default_value(""))
    ("data-dir", "daemon state directory", cxxopts::value<std::string>())
    ("install-dir", "install root: <dir>/<name>/<version>/, <dir>/<name>/current", cxxopts::value<std::string>())
    ("trusted-key", "seeder's Ed25519 public key (PEM); only manifests it signed are installed", cxxopts::value<std::string>())
    ("tracker-key", "tracker's Ed25519 public key (PEM, beside its db as .pub); only assignments it signed for this host are acted on (without it: unsigned ones are taken, with a warning)", cxxopts::value<std::string>()->default_value(""))
    ("upload-rate", "upload cap in bytes/s, e.g. 4MiB (0 = unlimited)", cxxopts::value<std::string>()->default_value("0"))
    ("download-rate", "download cap in bytes/s (0 = unlimited)", cxxopts::value<std::string>()->default_value("0"))
    ("cross-rack-rate", "cap each way on peers outside this host's rack (its rack-uplink share; 0 = none)", cxxopts::value<std::string>()->default_value("0"))
    ("seed-time", "keep seeding this long after install", cxxopts::value<std::string>()->default_value("10m"))
    ("report-interval", "progress report period", cxxopts::value<std::string>()->default_value("1s"))
    ("activate-hook", "shell command run after current switches (env SPATE_NAME, SPATE_VERSION, SPATE_PATH, SPATE_PREVIOUS); failing rolls back", cxxopts::value<std::string>()->default_value(""))
    ("health-check", "shell command run after the hook, same env; failing rolls back", cxxopts::value<std::string>()->default_value(""))
    ("hook-timeout", "kill the hook or health check (its process group) after this long", cxxopts::value<std::string>()->default_value("60s"))
    ("keep-versions", "version dirs kept per artifact (current and the one before are always kept; min 2)", cxxopts::value<int>()->default_value("3"))
    ("tries", "attempts at a push whose failure may pass (download error other than a full disk, sha256 mismatch), the first included; 1 = no retry", cxxopts::value<int>()->default_value("3"))
    ("retry-delay", "wait before the second attempt, doubled before each later one", cxxopts::value<std::string>()->default_value("2s"))
    ("min-free", "refuse a download that would leave less free on the install filesystem ('off': no check)", cxxopts::value<std::string>()->default_value("1GiB"))
    ("ready-file", "write {\"host\":...,\"peer\":\"IP:PORT\"} here once running", cxxopts::value<std::string>()->default_value(""))
    ("metrics-listen", "serve GET /metrics (Prometheus text) on ADDR:PORT (off by default; port 0 = any)", cxxopts::value<std::string>()->default_value(""))
    ("graphite", "send metrics every 10 s to carbon's plaintext port IP:PORT (off by default)", cxxopts::value<std::string>()->default_value(""))
    ("graphite-prefix", "Graphite path prefix (default spate.fetcher.<host id>)", cxxopts::value<std::string>()->default_value(""))
    ("graphite-interval", "how often to send to Graphite", cxxopts::value<std::string>()->default_value("10s"))
    ("stock-libtorrent", "benchmark baseline: libtorrent defaults (keeps bind address, caps, TCP)")
    ("lt-set", "libtorrent setting NAME=VALUE applied last (repeatable; for tuning experiments)", cxxopts::value<std::vector<std::string>>())
    ("log-level", "trace, debug, info, warn, error", cxxopts::value<std::string>()->default_value("info"))
    ("h,help", "show this help");
  // clang-format on
  cxxopts::ParseResult args;
  try {
    args = ParseWithConfig(opts, argc, argv);
  } catch (const std::exception& e) {
    return Usage(e.what());
  }
  if (args.count("help")) {
    std::cout << opts.help() << "\n";
    return kExitOk;
  }
  if (!args.unmatched().empty()) return Usage("unexpected argument '" + args.unmatched()[0] + "'");

  FetcherConfig c;
  for (const char* req : {"bind", "tracker", "data-dir", "install-dir", "trusted-key"})
    if (!args.count(req)) return Usage(std::string("--") + req + " is required");
  try {
    c.host_id = args["host-id"].as<std::string>();
    c.bind_address = args["bind"].as<std::string>();
    c.peer_port = args["peer-port"].as<int>();
    c.tracker_urls = SplitList(args["tracker"].as<std::vector<std::string>>());
    c.tls_ca = args["tls-ca"].as<std::string>();
    if (args.count("announce-url")) c.announce_urls = SplitList(args["announce-url"].as<std::vector<std::string>>());
    c.data_dir = args["data-dir"].as<std::string>();
    c.install_dir = args["install-dir"].as<std::string>();
    c.trusted_key_file = args["trusted-key"].as<std::string>();
    c.tracker_key_file = args["tracker-key"].as<std::string>();
    c.ready_file = args["ready-file"].as<std::string>();
    c.activate_hook = args["activate-hook"].as<std::string>();
    c.health_check = args["health-check"].as<std::string>();
    c.keep_versions = args["keep-versions"].as<int>();
    c.tries = args["tries"].as<int>();
    c.stock_libtorrent = args.count("stock-libtorrent") > 0;
    if (args.count("lt-set")) c.lt_settings = args["lt-set"].as<std::vector<std::string>>();
  } catch (const std::exception& e) {
    return Usage(e.what());
  }
  auto up = ParseBytes(args["upload-rate"].as<std::string>());
  if (!up.ok()) return Usage("--upload-rate: " + up.status().message());
  auto down = ParseBytes(args["download-rate"].as<std::string>());
  if (!down.ok()) return Usage("--download-rate: " + down.status().message());
  auto cross = ParseBytes(args["cross-rack-rate"].as<std::string>());
  if (!cross.ok()) return Usage("--cross-rack-rate: " + cross.status().message());
  auto seed = ParseDuration(args["seed-time"].as<std::string>());
  if (!seed.ok()) return Usage("--seed-time: " + seed.status().message());
  auto report = ParseDuration(args["report-interval"].as<std::string>());
  if (!report.ok()) return Usage("--report-interval: " + report.status().message());
  auto hook_timeout = ParseDuration(args["hook-timeout"].as<std::string>());
  if (!hook_timeout.ok()) return Usage("--hook-timeout: " + hook_timeout.status().message());
  c.hook_timeout = *hook_timeout;
  auto retry_delay = ParseDuration(args["retry-delay"].as<std::string>());
  if (!retry_delay.ok()) return Usage("--retry-delay: " + retry_delay.status().message());
  c.retry_delay = *retry_delay;
  c.metrics_listen = args["metrics-listen"].as<std::string>();
  c.graphite.address = args["graphite"].as<std::string>();
  c.graphite.prefix = args["graphite-prefix"].as<std::string>();
  auto every = ParseDuration(args["graphite-interval"].as<std::string>());
  if (!every.ok() || every->count() <= 0)
    return Usage("--graphite-interval: " + (every.ok() ? std::string("must be positive") : every.status().message()));
  c.graphite.interval = *every;
  if (std::string mf = args["min-free"].as<std::string>(); mf == "off") {
    c.min_free.reset();
  } else {
    auto min_free = ParseBytes(mf);
    if (!min_free.ok()) return Usage("--min-free: " + min_free.status().message());
    c.min_free = *min_free;
  }
  c.upload_rate = *up;
  c.download_rate = *down;
  c.cross_rack_rate = *cross;
  c.seed_time = *seed;
  c.report_interval = *report;
  for (const auto& kv : c.lt_settings) {
    lt::settings_pack probe;
    if (Status s = ApplyOverride(probe, kv); !s.ok()) return Usage("--lt-set: " + s.message());
  }
  auto host_token = auth::SecretFrom("--host-token-file", args["host-token-file"].as<std::string>(), {"SPATE_HOST_TOKEN"});
  if (!host_token.ok()) return Usage(host_token.status().message());
  c.host_token = *host_token;
  if (Status s = c.Validate(); !s.ok()) return Usage(s.message());
  if (Status s = InitLogging("fetcher", args["log-level"].as<std::string>()); !s.ok()) return Usage(s.message());
  RaiseFileLimit();  // libtorrent's peer sockets and files

  Fetcher fetcher(c);
  // Before any thread starts, so the signal mask is inherited by all of them.
  OnStopSignal([&fetcher] { fetcher.Stop(); });
  Status s = fetcher.Start();
  if (!s.ok()) {
    spdlog::error("cannot start fetcher: {}", s.message());
    return s.code() == Status::Code::kInvalid ? kExitUsage : kExitFailure;
  }
  fetcher.Wait();
  return kExitOk;
}

}  // namespace spate
