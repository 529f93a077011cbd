// Watching a push until it is over: the one loop behind `spate push`,
// `spate push resume`, `spate push cancel --rollback` and `spate rollback`.
// The tracker, the clocks and the terminal come in through WatchIo, so tests
// drive the loop with scripted snapshots and no sleeps.
#pragma once

#include <chrono>
#include <functional>
#include <ostream>
#include <string>

#include "push/push_view.h"
#include "push/tracker_client.h"
#include "wire/api.h"
#include "wire/status.h"

namespace spate {

enum class WatchStyle {
  kPlain,  // one line per tick (stdout is not a terminal)
  kTty,    // a block redrawn in place
  kJson,   // one JSON event per line
};

struct WatchOptions {
  WatchStyle style = WatchStyle::kPlain;
  // Stop watching after this long; the push goes on at the tracker.
  std::chrono::milliseconds timeout = std::chrono::minutes(30);
  // Between polls. Each poll is one GET of the push with every host row.
  std::chrono::milliseconds interval = std::chrono::seconds(1);
  // Names the command in messages on stderr, e.g. "spate rollback".
  std::string command = "spate push";
};

struct WatchIo {
  std::function<Result<PushProgress>()> fetch;           // the push again; a failure is retried next tick
  std::function<std::chrono::milliseconds()> elapsed;    // since the watch began, monotonic
  std::function<int64_t()> now_ms;                       // wall clock, unix ms: countdowns, report ages
  std::function<void(std::chrono::milliseconds)> sleep;  // returns early once interrupted
  std::function<bool()> interrupted;
  std::function<int()> width;  // terminal columns, for kTty
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
};

// Shows `first`, then polls every interval until the push is over
// (OutcomeIfOver: done, paused or cancelled), interrupted or timed out, and
// ends with the final report. The tracker being unreachable for a while is
// said on `err` (every fifth failure) and waited out; the last snapshot stays.
PushOutcome Watch(PushProgress first, const WatchOptions& options, const WatchIo& io);

// kExitOk only for kSucceeded; kExitInterrupted for an interrupt; else kExitFailure.
int ExitCodeFor(PushOutcome o);

// Watch in this process: polls `tracker` for push `first.id`, SIGINT and
// SIGTERM interrupt, output to stdout and stderr, terminal width from stdout.
PushOutcome WatchLive(const TrackerClient& tracker, PushProgress first, const WatchOptions& options);

}  // namespace spate
