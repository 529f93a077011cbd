// `spate push NAME@VERSION`: record the desired state on the tracker, then
// watch it converge. Exit 0 only when every targeted host installed and verified;
// a push that a newer one superseded on some host did not, and exits 1.
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cxxopts.hpp>
#include <iostream>
#include <thread>

#include "push/push_view.h"
#include "wire/api.h"
#include "wire/daemon.h"
#include "wire/http.h"
#include "wire/units.h"

namespace spate {

namespace {

std::atomic<bool> g_interrupted{false};

int TerminalWidth() {
  winsize ws{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 100;
}

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// Explains a non-2xx answer: the server's {"error"} if present, else the body.
std::string ServerError(const http::ClientResult& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.contains("error") && j["error"].is_string())
    return std::to_string(r.status) + ": " + j["error"].get<std::string>();
  return std::to_string(r.status) + ": " + r.body;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Redraws a block of lines in place on a terminal.
class TtyPainter {
 public:
  void Paint(const std::vector<std::string>& lines) {
    std::string out;
    if (drawn_ > 0) out += "\x1b[" + std::to_string(drawn_) + "F";
    for (const auto& l : lines) out += "\x1b[2K" + l + "\n";
    for (size_t i = lines.size(); i < drawn_; ++i) out += "\x1b[2K\n";
    size_t total = std::max(lines.size(), drawn_);
    if (total > lines.size()) out += "\x1b[" + std::to_string(total - lines.size()) + "F";
    drawn_ = lines.size();
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);
  }

 private:
  size_t drawn_ = 0;
};

}  // namespace

int PushCommand(int argc, char** argv) {
  cxxopts::Options options("spate push", "Push NAME@VERSION to hosts and watch it converge.");
  // clang-format off
  options.add_options()
    ("artifact", "NAME@VERSION", cxxopts::value<std::string>())
    ("tracker", "tracker control URL (env SPATE_TRACKER)", cxxopts::value<std::string>()->default_value(EnvOr("SPATE_TRACKER", "http://127.0.0.1:7070")))
    ("token", "admin token (default: env SPATE_ADMIN_TOKEN)", cxxopts::value<std::string>())
    ("hosts", "glob over checked-in host ids", cxxopts::value<std::string>()->default_value("*"))
    ("timeout", "give up after this long", cxxopts::value<std::string>()->default_value("30m"))
    ("interval", "progress refresh period", cxxopts::value<std::string>()->default_value("1s"))
    ("json", "one JSON event per line")
    ("h,help", "show help");
  // clang-format on
  options.parse_positional({"artifact"});
  options.positional_help("NAME@VERSION");
  cxxopts::ParseResult args;
  try {
    args = options.parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spate push: %s\n", e.what());
    return kExitUsage;
  }
  if (args.count("help")) {
    std::cout << options.help() << std::endl;
    return kExitOk;
  }
  if (!args.count("artifact")) {
    std::fprintf(stderr, "spate push: missing NAME@VERSION\n");
    return kExitUsage;
  }
  auto id = ParseArtifactId(args["artifact"].as<std::string>());
  auto timeout = ParseDuration(args["timeout"].as<std::string>());
  auto interval = ParseDuration(args["interval"].as<std::string>());
  for (const Status* s : {&id.status(), &timeout.status(), &interval.status()}) {
    if (!s->ok()) {
      std::fprintf(stderr, "spate push: %s\n", s->message().c_str());
      return kExitUsage;
    }
  }
  const std::string tracker = args["tracker"].as<std::string>();
  const bool json = args.count("json") > 0;
  const bool tty = !json && isatty(STDOUT_FILENO);

  http::ClientOptions client;
  // Read from the environment here, not as a default, so --help never prints it.
  const std::string token = args.count("token") ? args["token"].as<std::string>() : EnvOr("SPATE_ADMIN_TOKEN", "");
  client.headers.emplace_back("Authorization", "Bearer " + token);
  PushRequest req;
  req.artifact = args["artifact"].as<std::string>();
  req.hosts_glob = args["hosts"].as<std::string>();
  auto created = http::Call("POST", tracker + "/api/v1/pushes", ToJson(req).dump(), client);
  if (!created.ok()) {
    std::fprintf(stderr, "spate push: cannot reach tracker: %s\n", created.status().message().c_str());
    return kExitFailure;
  }
  if (created->status / 100 != 2) {
    std::fprintf(stderr, "spate push: tracker refused the push: %s\n", ServerError(*created).c_str());
    return kExitFailure;
  }
  auto body = ParseJson(created->body);
  Result<PushProgress> progress = body.ok() ? PushProgressFromJson(*body) : Result<PushProgress>(body.status());
  if (!progress.ok()) {
    std::fprintf(stderr, "spate push: bad answer from tracker: %s\n", progress.status().message().c_str());
    return kExitFailure;
  }
  const int64_t push_id = progress->id;
  if (!json)
    std::printf("push %lld: %s to %zu hosts\n", static_cast<long long>(push_id), req.artifact.c_str(),
                progress->hosts.size());

  std::signal(SIGINT, [](int) { g_interrupted = true; });
  std::signal(SIGTERM, [](int) { g_interrupted = true; });
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  };
  TtyPainter painter;
  PushOutcome outcome = PushOutcome::kTimedOut;
  int consecutive_errors = 0;
  for (;;) {
    PushTally tally = Tally(*progress);
    if (tty) painter.Paint(RenderTty(*progress, elapsed(), TerminalWidth()));
    else if (json) std::cout << ProgressEvent(*progress, elapsed()).dump() << std::endl;
    else std::cout << RenderPlain(*progress, elapsed()) << std::endl;

    if (tally.finished()) {
      outcome = FinishedOutcome(tally);
      break;
    }
    if (g_interrupted) {
      outcome = PushOutcome::kInterrupted;
      break;
    }
    if (elapsed() >= *timeout) break;
    // Sleep in small steps so Ctrl-C answers at once.
    auto wake = std::chrono::steady_clock::now() + *interval;
    while (!g_interrupted && std::chrono::steady_clock::now() < wake)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (g_interrupted) continue;

    auto r = http::Call("GET", tracker + "/api/v1/pushes/" + std::to_string(push_id), "", client);
    Status err = r.ok() ? Status::Ok() : r.status();
    if (err.ok() && r->status != 200) err = Status::Unavailable(ServerError(*r));
    if (err.ok()) {
      auto j = ParseJson(r->body);
      auto p = j.ok() ? PushProgressFromJson(*j) : Result<PushProgress>(j.status());
      if (p.ok()) progress = std::move(p);
      else err = p.status();
    }
    if (!err.ok()) {
      // The tracker may be restarting; keep the last snapshot and retry.
      if (++consecutive_errors % 5 == 1)
        std::fprintf(stderr, "spate push: progress unavailable (%s); retrying\n", err.message().c_str());
    } else {
      consecutive_errors = 0;
    }
  }

  if (json) {
    std::cout << FinalEvent(*progress, elapsed(), outcome).dump() << std::endl;
  } else {
    std::fputs(RenderFinal(*progress, elapsed(), outcome, NowMs()).c_str(), stdout);
    if (outcome == PushOutcome::kInterrupted)
      std::printf("the push goes on at the tracker; only this watcher stopped\n");
  }
  std::fflush(stdout);
  switch (outcome) {
    case PushOutcome::kSucceeded: return kExitOk;
    case PushOutcome::kInterrupted: return kExitInterrupted;
    default: return kExitFailure;
  }
}

}  // namespace spate
