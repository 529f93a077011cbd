// Push progress as people and scripts see it. Pure functions of a PushProgress
// snapshot, the elapsed time and (for countdowns and ages) the wall clock, so
// the output is tested as exact strings (ninja's status printer is the model).
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "wire/api.h"

namespace spate {

struct RackTally {
  int total = 0;
  int installed = 0;
  int failed = 0;
};

struct PushTally {
  int total = 0;
  int installed = 0;
  int failed = 0;
  int superseded = 0;  // a newer push replaced this one there: done, not installed
  int cancelled = 0;   // the push was cancelled before this host activated: done, not installed
  int staged = 0;      // distributed, waiting for its wave to activate
  int active = 0;      // downloading or verifying
  int pending = 0;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  double rate = 0;  // bytes/s, summed over hosts
  std::map<std::string, RackTally> racks;  // by location, sorted

  bool finished() const { return installed + failed + superseded + cancelled == total; }
  // Seconds until every byte is in at the current rate; < 0 when unknown.
  double eta_seconds() const;
};

PushTally Tally(const PushProgress& p);

// The outcome of watching a push.
// kSuperseded: every host is done, none failed, but on some a newer push
// replaced this one, so this version is not installed everywhere.
// kPaused: activation stopped because the failure budget is spent; a person
// decides (resume or cancel), so a watcher stops and says so.
enum class PushOutcome { kSucceeded, kFailed, kSuperseded, kTimedOut, kInterrupted, kPaused, kCancelled };
// "succeeded", "failed", "superseded", "timed out", "interrupted", "paused", "cancelled".
const char* OutcomeName(PushOutcome o);
// The outcome of a finished tally: cancelled beats a failure beats superseded
// beats success. Cancelled first because someone stopped the push on purpose;
// the failures before that still show in the report.
PushOutcome FinishedOutcome(const PushTally& t);
// The outcome once watching can stop: the push was cancelled, every row is
// done, or it is paused; nullopt while it is still moving by itself.
std::optional<PushOutcome> OutcomeIfOver(const PushProgress& p, const PushTally& t);

// The line a command prints when it starts watching: "push 12: web@1.0 to 24
// hosts", with " in 3 waves (1, 5, 18)" when there is more than one wave and
// "rollback " in front for a rollback.
std::string RenderStart(const PushProgress& p);

// `now_ms` (unix ms) is only for the next wave's countdown; 0 leaves it out.
// The wave ("wave 2/4") shows when there is more than one; staged hosts,
// "paused: REASON", "cancelled" and the countdown show when they apply, so a
// single-wave push that runs by itself looks as it always did.
//
// Redrawn block on a terminal: a bar line, a phase line (wave, paused,
// countdown) when there is one, then per-rack bars, `width` columns wide.
std::vector<std::string> RenderTty(const PushProgress& p, std::chrono::milliseconds elapsed, int width,
                                   int64_t now_ms = 0);
// One line per tick when stdout is not a terminal.
std::string RenderPlain(const PushProgress& p, std::chrono::milliseconds elapsed, int64_t now_ms = 0);
// One JSON event per tick for --json; "wave" is 0-based and "waves" the hosts
// per wave, as in the API.
nlohmann::json ProgressEvent(const PushProgress& p, std::chrono::milliseconds elapsed);

// The closing report: outcome, totals and every failed or straggling host with
// its reason; for a paused push also why it paused and the commands that
// decide (resume, cancel). Staged and cancelled hosts are counted, not listed:
// they wait for, or were stopped by, a decision about the whole push.
std::string RenderFinal(const PushProgress& p, std::chrono::milliseconds elapsed, PushOutcome outcome,
                        int64_t now_ms);
nlohmann::json FinalEvent(const PushProgress& p, std::chrono::milliseconds elapsed, PushOutcome outcome);

}  // namespace spate
