// Which push of an artifact may still act on a host: the newest one wins.
//
// The tracker hands a host only its newest push per artifact name, but an
// older download of that name may still be running, a rollback may re-push an
// older version, a restart may replay a stale assignment, and messages may
// arrive in any order. Every decision that could switch `current` goes
// through these pure functions of PushOrder, so the rule lives in one place
// and is tested exhaustively (push_order_test.cc).
//
// Push ids grow with time on the tracker, so "newest" is the largest id seen.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "wire/status.h"

namespace spate {

// One artifact name on this host.
struct PushOrder {
  int64_t newest = 0;    // largest push id seen for the name; persisted across restarts
  bool running = false;  // the newest push has a download or install in progress (memory only)
};

struct PushDecision {
  // Assignment: start (or resume) work for this push.
  bool start = false;
  // Download done: verify and create the version dir (not yet `current`).
  bool install = false;
  // Install done: point `current` at this push's version and report installed.
  bool switch_current = false;
  // Stop these pushes' work (download or install) and report them superseded by
  // `newest`. Holds the event's own push when it is older than the newest.
  std::vector<int64_t> superseded;
};

PushDecision OnAssignment(PushOrder& s, int64_t push_id);
PushDecision OnDownloadDone(PushOrder& s, int64_t push_id);
PushDecision OnInstallDone(PushOrder& s, int64_t push_id);
// The push's work ended in failure (e.g. disk full): a new push may start again.
void OnFailed(PushOrder& s, int64_t push_id);
// The tracker no longer lists the push (it was cancelled there) and this host
// has not activated it. True when it is the newest push of the name: its work
// stops without a report, and a later push starts afresh. False for an older
// push: a newer one overtook it, and the supersede path has already ended it.
// `newest` stays, so a replay of an older push still counts as stale.
bool OnWithdrawn(PushOrder& s, int64_t push_id);
// The process restarted: only `newest` survives.
void OnRestart(PushOrder& s);

// Error text for a push overtaken by `newest`.
std::string SupersededReason(int64_t newest);

// The persisted part: newest push id per artifact name, as JSON in `path`.
// A missing file is an empty map (first start).
Result<std::map<std::string, int64_t>> LoadNewestPushes(const std::string& path);
// Atomic (temp file, fsync, rename), so a crash leaves the old or new map.
Status SaveNewestPushes(const std::string& path, const std::map<std::string, int64_t>& newest);

}  // namespace spate
