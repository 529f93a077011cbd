// Push progress as people and scripts see it. Pure functions of a PushProgress
// snapshot and the elapsed time, so the output is tested as exact strings
// (ninja's status printer is the model).
#pragma once

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
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
  int active = 0;  // downloading or verifying
  int pending = 0;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  double rate = 0;  // bytes/s, summed over hosts
  std::map<std::string, RackTally> racks;  // by location, sorted

  bool finished() const { return installed + failed + superseded == total; }
  // Seconds until every byte is in at the current rate; < 0 when unknown.
  double eta_seconds() const;
};

PushTally Tally(const PushProgress& p);

// The outcome of watching a push.
// kSuperseded: every host is done, none failed, but on some a newer push
// replaced this one, so this version is not installed everywhere.
enum class PushOutcome { kSucceeded, kFailed, kSuperseded, kTimedOut, kInterrupted };
// The outcome of a finished tally: a failure beats superseded beats success.
PushOutcome FinishedOutcome(const PushTally& t);

// Redrawn block on a terminal: a bar line, then per-rack bars, `width` columns wide.
std::vector<std::string> RenderTty(const PushProgress& p, std::chrono::milliseconds elapsed, int width);
// One line per tick when stdout is not a terminal.
std::string RenderPlain(const PushProgress& p, std::chrono::milliseconds elapsed);
// One JSON event per tick for --json.
nlohmann::json ProgressEvent(const PushProgress& p, std::chrono::milliseconds elapsed);

// The closing report: outcome, totals and every failed or straggling host with its reason.
std::string RenderFinal(const PushProgress& p, std::chrono::milliseconds elapsed, PushOutcome outcome,
                        int64_t now_ms);
nlohmann::json FinalEvent(const PushProgress& p, std::chrono::milliseconds elapsed, PushOutcome outcome);

}  // namespace spate
