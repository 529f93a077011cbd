#include "push/cli.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "push/waves.h"
#include "wire/auth.h"
#include "wire/daemon.h"
#include "wire/units.h"

namespace spate::cli {

namespace {

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

}  // namespace

void AddTrackerOptions(cxxopts::Options& options) {
  // clang-format off
  options.add_options()
    ("tracker", "tracker control URL, or several comma-separated trackers sharing one database, tried in turn "
                "(env SPATE_TRACKER)",
     cxxopts::value<std::string>()->default_value(EnvOr("SPATE_TRACKER", "http://127.0.0.1:7070")))
    ("token-file", "file (mode 600) holding the push token, or the read token for read commands "
                   "(default: env SPATE_PUSH_TOKEN, else SPATE_ADMIN_TOKEN; read commands try SPATE_READ_TOKEN first)",
     cxxopts::value<std::string>())
    ("token", "the token itself (visible in ps: prefer --token-file or the environment)", cxxopts::value<std::string>())
    ("tls-ca", "PEM CA file an https:// tracker must chain to (default: env SPATE_TLS_CA, else the system's trusted CAs)",
     cxxopts::value<std::string>());
  // clang-format on
}

TrackerClient TrackerFrom(const cxxopts::ParseResult& args, Use use) {
  const std::string url = args["tracker"].as<std::string>();
  const std::string ca = args.count("tls-ca") ? args["tls-ca"].as<std::string>() : EnvOr("SPATE_TLS_CA", "");
  auto client = [&] {
    if (args.count("token")) return TrackerClient(url, args["token"].as<std::string>(), ca);
    std::vector<const char*> env = {"SPATE_PUSH_TOKEN", "SPATE_ADMIN_TOKEN"};
    if (use == Use::kRead) env.insert(env.begin(), "SPATE_READ_TOKEN");
    auto token =
        auth::SecretFrom("--token-file", args.count("token-file") ? args["token-file"].as<std::string>() : "", env);
    if (!token.ok()) return TrackerClient(url, "", ca, token.status());
    return TrackerClient(url, *token, ca);
  }();
  client.OnFailover([](const std::string& line) { std::fprintf(stderr, "spate: %s\n", line.c_str()); });
  return client;
}

void AddWaveOptions(cxxopts::Options& options) {
  // clang-format off
  options.add_options()
    ("waves", "activate in waves: cumulative host counts or percentages, e.g. 1,5%,25%,100% "
              "(default: every host at once)", cxxopts::value<std::string>())
    ("wave-pause", "wait this long after a wave is healthy before the next starts",
     cxxopts::value<std::string>()->default_value("0s"))
    ("max-failures", "pause activation once more hosts than this failed: N or P% of the targets",
     cxxopts::value<std::string>()->default_value("0"));
  // clang-format on
}

Status WaveFlagsInto(const cxxopts::ParseResult& args, WaveRequest* out) {
  if (args.count("waves")) out->waves = args["waves"].as<std::string>();
  out->max_failures = args["max-failures"].as<std::string>();
  auto pause = ParseDuration(args["wave-pause"].as<std::string>());
  if (!pause.ok()) return Status::Invalid("--wave-pause: " + pause.status().message());
  out->wave_pause_ms = pause->count();
  if (out->max_failures.empty()) return Status::Invalid("--max-failures is empty: want N or P%, e.g. 2 or 5%");
  // The syntax is checked here, before anything is sent; the tracker applies
  // both to the targets it finds (the same parsers, push/waves.h).
  if (auto w = ParseWaveSpec(out->waves); !w.ok()) return Status::Invalid("--waves: " + w.status().message());
  if (auto m = ParseMaxFailures(out->max_failures, 1); !m.ok())
    return Status::Invalid("--max-failures: " + m.status().message());
  out->started_by = StartedBy();
  return Status::Ok();
}

int StartAndWatch(const std::string& command, const TrackerClient& tracker, const std::string& path,
                  const nlohmann::json& body, const WatchOptions& watch) {
  auto created = tracker.CallForPush("POST", path, body);
  if (!created.ok()) return Fail(command, "cannot start it: " + created.status().message(), kExitFailure);
  if (watch.style != WatchStyle::kJson) std::printf("%s\n", RenderStart(*created).c_str());
  std::fflush(stdout);
  return ExitCodeFor(WatchLive(tracker, std::move(*created), watch));
}

void AddWatchOptions(cxxopts::Options& options) {
  // clang-format off
  options.add_options()
    ("timeout", "stop watching after this long (the push goes on)", cxxopts::value<std::string>()->default_value("30m"))
    ("interval", "progress refresh period", cxxopts::value<std::string>()->default_value("1s"))
    ("json", "one JSON event per line");
  // clang-format on
}

Result<WatchOptions> WatchOptionsFrom(const cxxopts::ParseResult& args, const std::string& command) {
  WatchOptions w;
  w.command = command;
  auto timeout = ParseDuration(args["timeout"].as<std::string>());
  if (!timeout.ok()) return Status::Invalid("--timeout: " + timeout.status().message());
  auto interval = ParseDuration(args["interval"].as<std::string>());
  if (!interval.ok()) return Status::Invalid("--interval: " + interval.status().message());
  if (interval->count() <= 0) return Status::Invalid("--interval must be more than 0");
  w.timeout = *timeout;
  w.interval = *interval;
  w.style = args.count("json") ? WatchStyle::kJson : isatty(STDOUT_FILENO) ? WatchStyle::kTty : WatchStyle::kPlain;
  return w;
}

Result<int64_t> PushIdFrom(const cxxopts::ParseResult& args) {
  if (!args.count("id")) return Status::Invalid("missing the push ID (spate pushes lists them)");
  const std::string text = args["id"].as<std::string>();
  if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoll(text) <= 0)
    return Status::Invalid("push ID '" + text + "' is not a positive number (spate pushes lists them)");
  return std::stoll(text);
}

std::optional<cxxopts::ParseResult> Parse(cxxopts::Options& options, int argc, char** argv, int& exit_code) {
  try {
    auto args = options.parse(argc, argv);
    if (args.count("help")) {
      std::cout << options.help() << std::endl;
      exit_code = kExitOk;
      return std::nullopt;
    }
    if (!args.unmatched().empty()) {
      exit_code = Fail(options.program(), "unexpected argument '" + args.unmatched().front() + "'", kExitUsage);
      return std::nullopt;
    }
    // A token file is configuration: a bad one is a usage error now, not a refusal later.
    if (args.count("token-file")) {
      if (auto t = auth::ReadSecretFile(args["token-file"].as<std::string>()); !t.ok()) {
        exit_code = Fail(options.program(), "--token-file: " + t.status().message(), kExitUsage);
        return std::nullopt;
      }
    }
    return args;
  } catch (const std::exception& e) {
    exit_code = Fail(options.program(), e.what(), kExitUsage);
    return std::nullopt;
  }
}

int Fail(const std::string& command, const std::string& message, int code) {
  std::fprintf(stderr, "%s: %s\n", command.c_str(), message.c_str());
  return code;
}

}  // namespace spate::cli
