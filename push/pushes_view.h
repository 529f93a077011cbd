// Recent pushes as `spate pushes` shows them: the tracker's GET /pushes parsed
// into rows, then a table. Pure (the clock and the time zone come in), so the
// table is tested as exact strings.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "wire/status.h"

namespace spate {

struct PushSummary {
  int64_t id = 0;
  std::string artifact;       // name@version
  std::string kind = "push";  // or "rollback"
  std::string state;          // active, paused, cancelled, succeeded, failed, superseded
  std::string started_by;
  int64_t created_at = 0;   // unix ms
  int64_t finished_at = 0;  // unix ms; 0 while open
  int wave = 0;             // the wave allowed to activate, 0-based
  int waves = 1;            // how many waves
  int hosts = 0;
  int installed = 0;
  int failed = 0;
  int superseded = 0;
  int cancelled = 0;
  int pending = 0;  // not yet in a final state
};

// Strict on what the table cannot do without (id, artifact, state); fields
// an older tracker does not send keep their defaults. "waves" may be a count
// or the hosts per wave (as in a PushProgress).
Result<std::vector<PushSummary>> PushSummariesFromJson(const nlohmann::json& j);

// Turns a unix-ms time into the STARTED column's text.
using TimeFormat = std::function<std::string(int64_t unix_ms)>;
// "2024-05-01 14:03:07" in this machine's time zone.
std::string LocalTime(int64_t unix_ms);

// A header, then one row per push in the given order (the tracker's: newest
// first): ID ARTIFACT KIND STATE WAVE OK/FAILED/PENDING BY STARTED DURATION.
// WAVE is "k/n" with more than one wave, else "-". DURATION runs to `now_ms`
// for a push still open. "no pushes\n" for none.
std::string RenderPushes(const std::vector<PushSummary>& rows, int64_t now_ms, const TimeFormat& time);

}  // namespace spate
