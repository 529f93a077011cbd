// `spate push cancel|resume|status ID`: act on a push already made. Cancel and
// resume are decisions a paused push waits for; status is one look, with the
// same report the live view ends with.
#include <chrono>
#include <cstdio>
#include <cxxopts.hpp>
#include <iostream>
#include <string>

#include "push/cli.h"
#include "push/push_view.h"
#include "push/tracker_client.h"
#include "push/watch.h"
#include "wire/api.h"
#include "wire/daemon.h"

namespace spate {

namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// How long a push has run: to its end, or to `now_ms` while it is open.
std::chrono::milliseconds Age(const PushProgress& p, int64_t finished_at, int64_t now_ms) {
  int64_t end = finished_at > 0 ? finished_at : now_ms;
  return std::chrono::milliseconds(p.created_at > 0 && end > p.created_at ? end - p.created_at : 0);
}

int64_t IntField(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number_integer() ? j[key].get<int64_t>() : 0;
}

// The options every subcommand here takes, with ID as the positional.
cxxopts::Options IdOptions(const char* program, const char* help) {
  cxxopts::Options options(program, help);
  options.add_options()("id", "push ID", cxxopts::value<std::string>())("h,help", "show help");
  cli::AddTrackerOptions(options);
  options.parse_positional({"id"});
  options.positional_help("ID");
  return options;
}

}  // namespace

int PushCancelCommand(int argc, char** argv) {
  cxxopts::Options options = IdOptions(
      "spate push cancel",
      "Cancel a push: hosts that have not activated it stop (their staged data stays). With --rollback,\n"
      "hosts that did activate go back to the version they ran before, in a rollback push watched like a push.");
  // clang-format off
  options.add_options()
    ("rollback", "also return activated hosts to their previous version")
    ("no-watch", "with --rollback: start the rollback push, do not watch it");
  // clang-format on
  cli::AddWatchOptions(options);
  int code = kExitOk;
  auto args = cli::Parse(options, argc, argv, code);
  if (!args) return code;
  const std::string cmd = options.program();
  auto id = cli::PushIdFrom(*args);
  if (!id.ok()) return cli::Fail(cmd, id.status().message(), kExitUsage);
  auto watch = cli::WatchOptionsFrom(*args, cmd);
  if (!watch.ok()) return cli::Fail(cmd, watch.status().message(), kExitUsage);
  const bool rollback = args->count("rollback") > 0;

  TrackerClient tracker = cli::TrackerFrom(*args);
  auto answer = tracker.Call("POST", "/pushes/" + std::to_string(*id) + "/cancel", {{"rollback", rollback}});
  if (!answer.ok())
    return cli::Fail(cmd, "cannot cancel push " + std::to_string(*id) + ": " + answer.status().message(), kExitFailure);
  auto cancelled = PushProgressFromJson(*answer);
  if (!cancelled.ok())
    return cli::Fail(cmd, "unexpected answer from the tracker: " + cancelled.status().message(), kExitFailure);
  const int64_t now = NowMs();
  if (watch->style == WatchStyle::kJson)
    std::cout << FinalEvent(*cancelled, Age(*cancelled, 0, now), PushOutcome::kCancelled).dump() << std::endl;
  else
    std::cout << RenderFinal(*cancelled, Age(*cancelled, 0, now), PushOutcome::kCancelled, now) << std::flush;

  const int64_t rollback_id = IntField(*answer, "rollback_push");
  if (!rollback) return kExitOk;
  if (rollback_id <= 0) {
    // The tracker makes a rollback push only for hosts that had activated this one.
    if (watch->style != WatchStyle::kJson)
      std::cout << "no rollback push: the tracker created none (no host had activated push " << *id << ")" << std::endl;
    return kExitOk;
  }
  if (args->count("no-watch")) {
    if (watch->style != WatchStyle::kJson)
      std::cout << "rollback push " << rollback_id << " started; spate push status " << rollback_id << " shows it"
                << std::endl;
    return kExitOk;
  }
  auto first = tracker.CallForPush("GET", "/pushes/" + std::to_string(rollback_id));
  if (!first.ok())
    return cli::Fail(cmd, "rollback push " + std::to_string(rollback_id) + " started, but " + first.status().message(),
                     kExitFailure);
  if (watch->style != WatchStyle::kJson) std::cout << RenderStart(*first) << std::endl;
  return ExitCodeFor(WatchLive(tracker, std::move(*first), *watch));
}

int PushResumeCommand(int argc, char** argv) {
  cxxopts::Options options = IdOptions(
      "spate push resume", "Go on with a paused push, accepting the failures so far, and watch it like a push.");
  options.add_options()("no-watch", "resume, do not watch");
  cli::AddWatchOptions(options);
  int code = kExitOk;
  auto args = cli::Parse(options, argc, argv, code);
  if (!args) return code;
  const std::string cmd = options.program();
  auto id = cli::PushIdFrom(*args);
  if (!id.ok()) return cli::Fail(cmd, id.status().message(), kExitUsage);
  auto watch = cli::WatchOptionsFrom(*args, cmd);
  if (!watch.ok()) return cli::Fail(cmd, watch.status().message(), kExitUsage);

  TrackerClient tracker = cli::TrackerFrom(*args);
  auto resumed = tracker.CallForPush("POST", "/pushes/" + std::to_string(*id) + "/resume");
  if (!resumed.ok())
    return cli::Fail(cmd, "cannot resume push " + std::to_string(*id) + ": " + resumed.status().message(),
                     kExitFailure);
  if (watch->style != WatchStyle::kJson) std::cout << "resumed " << RenderStart(*resumed) << std::endl;
  if (args->count("no-watch")) return kExitOk;
  return ExitCodeFor(WatchLive(tracker, std::move(*resumed), *watch));
}

int PushStatusCommand(int argc, char** argv) {
  cxxopts::Options options =
      IdOptions("spate push status",
                "Where a push stands, in one look: the final report once it is over (exit 0 only if it succeeded),\n"
                "else its live progress line (exit 0).");
  options.add_options()("json", "the JSON event the live view would print");
  int code = kExitOk;
  auto args = cli::Parse(options, argc, argv, code);
  if (!args) return code;
  const std::string cmd = options.program();
  auto id = cli::PushIdFrom(*args);
  if (!id.ok()) return cli::Fail(cmd, id.status().message(), kExitUsage);
  const bool json = args->count("json") > 0;

  TrackerClient tracker = cli::TrackerFrom(*args, cli::Use::kRead);
  auto answer = tracker.Call("GET", "/pushes/" + std::to_string(*id));
  if (!answer.ok())
    return cli::Fail(cmd, "cannot read push " + std::to_string(*id) + ": " + answer.status().message(), kExitFailure);
  auto p = PushProgressFromJson(*answer);
  if (!p.ok()) return cli::Fail(cmd, "unexpected answer from the tracker: " + p.status().message(), kExitFailure);
  // The tracker's clock, so ages and countdowns do not depend on this machine's.
  const int64_t now = IntField(*answer, "now") > 0 ? IntField(*answer, "now") : NowMs();
  const auto age = Age(*p, IntField(*answer, "finished_at"), now);
  auto outcome = OutcomeIfOver(*p, Tally(*p));
  if (!outcome) {
    if (json)
      std::cout << ProgressEvent(*p, age).dump() << std::endl;
    else
      std::cout << RenderPlain(*p, age, now) << std::endl;
    return kExitOk;
  }
  if (json)
    std::cout << FinalEvent(*p, age, *outcome).dump() << std::endl;
  else
    std::cout << RenderFinal(*p, age, *outcome, now) << std::flush;
  return ExitCodeFor(*outcome);
}

}  // namespace spate
