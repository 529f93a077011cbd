#include "push/push_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "push/straggler.h"
#include "wire/units.h"

namespace spate {

namespace {

std::string Bar(int done, int total, int width) {
  if (width <= 0) return "";
  int filled = total > 0 ? static_cast<int>(static_cast<int64_t>(done) * width / total) : 0;
  return std::string(static_cast<size_t>(filled), '#') + std::string(static_cast<size_t>(width - filled), '.');
}

std::string Eta(const PushTally& t) {
  if (t.finished()) return "done";
  double eta = t.eta_seconds();
  if (eta < 0) return "ETA --";
  return "ETA " + FormatDuration(std::chrono::milliseconds(static_cast<int64_t>(eta * 1000)));
}

std::string Rate(double r) { return FormatBytes(r) + "/s"; }

// Push states (PushProgress::state) a watcher stops at without every row done.
constexpr const char* kPushPaused = "paused";
constexpr const char* kPushCancelled = "cancelled";

bool MultiWave(const PushProgress& p) { return p.waves.size() > 1; }

// "wave 2/4": the wave allowed to activate, 1-based for people.
std::string WaveText(const PushProgress& p) {
  int n = static_cast<int>(p.waves.size());
  return "wave " + std::to_string(std::clamp(p.wave + 1, 1, n)) + "/" + std::to_string(n);
}

// What the push waits on, if anything: "paused: REASON", "cancelled", or the
// next wave's countdown. "" when it is simply running.
std::string PausedText(const PushProgress& p) {
  return "paused: " + (p.reason.empty() ? std::string("no reason given") : p.reason);
}

std::string StateText(const PushProgress& p, int64_t now_ms) {
  if (p.state == kPushPaused) return PausedText(p);
  if (p.state == kPushCancelled) return p.reason.empty() ? "cancelled" : "cancelled: " + p.reason;
  if (now_ms > 0 && p.next_wave_at > now_ms)
    return "next wave in " + FormatDuration(std::chrono::milliseconds(p.next_wave_at - now_ms));
  return "";
}

std::string Count(int n, const char* what) { return std::to_string(n) + " " + what; }

}  // namespace

const char* OutcomeName(PushOutcome o) {
  switch (o) {
    case PushOutcome::kSucceeded: return "succeeded";
    case PushOutcome::kFailed: return "failed";
    case PushOutcome::kSuperseded: return "superseded";
    case PushOutcome::kTimedOut: return "timed out";
    case PushOutcome::kInterrupted: return "interrupted";
    case PushOutcome::kPaused: return "paused";
    case PushOutcome::kCancelled: return "cancelled";
  }
  return "?";
}

double PushTally::eta_seconds() const {
  if (bytes_done >= bytes_total) return 0;
  if (rate <= 0) return -1;
  return static_cast<double>(bytes_total - bytes_done) / rate;
}

PushOutcome FinishedOutcome(const PushTally& t) {
  if (t.cancelled) return PushOutcome::kCancelled;
  if (t.failed) return PushOutcome::kFailed;
  if (t.superseded) return PushOutcome::kSuperseded;
  return PushOutcome::kSucceeded;
}

std::optional<PushOutcome> OutcomeIfOver(const PushProgress& p, const PushTally& t) {
  if (p.state == kPushCancelled) return PushOutcome::kCancelled;
  if (t.finished()) return FinishedOutcome(t);
  if (p.state == kPushPaused) return PushOutcome::kPaused;
  return std::nullopt;
}

std::string RenderStart(const PushProgress& p) {
  std::string out = (p.kind == "rollback" ? "rollback push " : "push ") + std::to_string(p.id) + ": " + p.artifact +
                    " to " + std::to_string(p.hosts.size()) + " hosts";
  if (MultiWave(p)) {
    out += " in " + std::to_string(p.waves.size()) + " waves (";
    for (size_t i = 0; i < p.waves.size(); ++i) out += (i ? ", " : "") + std::to_string(p.waves[i]);
    out += ")";
  }
  return out;
}

PushTally Tally(const PushProgress& p) {
  PushTally t;
  for (const auto& h : p.hosts) {
    ++t.total;
    auto& rack = t.racks[h.location.empty() ? "unknown" : h.location];
    ++rack.total;
    uint64_t total = h.total ? h.total : p.size;
    uint64_t done = h.state == kStateInstalled ? total : std::min(h.bytes_done, total);
    t.bytes_total += total;
    t.bytes_done += done;
    if (h.state == kStateInstalled) {
      ++t.installed;
      ++rack.installed;
    } else if (h.state == kStateFailed) {
      ++t.failed;
      ++rack.failed;
    } else if (h.state == kStateSuperseded) {
      ++t.superseded;
    } else if (h.state == kStateCancelled) {
      ++t.cancelled;
    } else if (h.state == kStateStaged) {
      ++t.staged;
    } else if (h.state == kStatePending) {
      ++t.pending;
    } else {
      ++t.active;
      t.rate += h.rate;
    }
  }
  return t;
}

std::vector<std::string> RenderTty(const PushProgress& p, std::chrono::milliseconds elapsed, int width,
                                   int64_t now_ms) {
  PushTally t = Tally(p);
  char head[256];
  std::snprintf(head, sizeof head, "%d/%d hosts  %s / %s  %s  %s  %s", t.installed, t.total,
                FormatBytes(static_cast<double>(t.bytes_done)).c_str(),
                FormatBytes(static_cast<double>(t.bytes_total)).c_str(), Rate(t.rate).c_str(), Eta(t).c_str(),
                FormatDuration(elapsed).c_str());
  std::string suffix = head;
  if (t.failed) suffix += "  " + std::to_string(t.failed) + " failed";
  if (t.staged) suffix += "  " + std::to_string(t.staged) + " staged";
  int bar_width = std::clamp(width - static_cast<int>(suffix.size() + p.artifact.size()) - 5, 10, 50);
  std::vector<std::string> lines;
  lines.push_back(p.artifact + " [" + Bar(t.installed, t.total, bar_width) + "] " + suffix);
  std::string phase = MultiWave(p) ? WaveText(p) : "";
  if (std::string state = StateText(p, now_ms); !state.empty()) phase += (phase.empty() ? "" : ", ") + state;
  if (!phase.empty()) lines.push_back("  " + phase);

  // Per-rack: "name done/total" cells packed into lines of `width` columns.
  std::string line;
  for (const auto& [rack, r] : t.racks) {
    std::string cell = "  " + rack + " [" + Bar(r.installed, r.total, 8) + "] " + std::to_string(r.installed) + "/" +
                       std::to_string(r.total) + (r.failed ? " (" + std::to_string(r.failed) + " failed)" : "");
    if (line.size() + cell.size() > static_cast<size_t>(std::max(width, 20)) && !line.empty()) {
      lines.push_back(line);
      line.clear();
    }
    line += cell;
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

std::string RenderPlain(const PushProgress& p, std::chrono::milliseconds elapsed, int64_t now_ms) {
  PushTally t = Tally(p);
  std::string took = FormatDuration(elapsed);
  std::string out = "[" + std::string(took.size() < 7 ? 7 - took.size() : 0, ' ') + took + "] " + p.artifact + " ";
  if (MultiWave(p)) out += WaveText(p) + ", ";
  out += std::to_string(t.installed) + "/" + std::to_string(t.total) + " installed, " + Count(t.failed, "failed") +
         ", " + Count(t.active, "active");
  if (t.staged) out += ", " + Count(t.staged, "staged");
  out += ", " + Count(t.pending, "pending") + ", " + FormatBytes(static_cast<double>(t.bytes_done)) + " / " +
         FormatBytes(static_cast<double>(t.bytes_total)) + ", " + Rate(t.rate) + ", " + Eta(t);
  if (std::string state = StateText(p, now_ms); !state.empty()) out += ", " + state;
  return out;
}

nlohmann::json ProgressEvent(const PushProgress& p, std::chrono::milliseconds elapsed) {
  PushTally t = Tally(p);
  nlohmann::json racks = nlohmann::json::object();
  for (const auto& [rack, r] : t.racks)
    racks[rack] = {{"total", r.total}, {"installed", r.installed}, {"failed", r.failed}};
  double eta = t.eta_seconds();
  return {{"event", "progress"},
          {"push_id", p.id},
          {"artifact", p.artifact},
          {"elapsed_s", elapsed.count() / 1000.0},
          {"total", t.total},
          {"installed", t.installed},
          {"failed", t.failed},
          {"superseded", t.superseded},
          {"active", t.active},
          {"pending", t.pending},
          {"bytes_done", t.bytes_done},
          {"bytes_total", t.bytes_total},
          {"rate", t.rate},
          {"eta_s", eta < 0 ? nlohmann::json(nullptr) : nlohmann::json(eta)},
          {"racks", racks},
          {"state", p.state},
          {"wave", p.wave},
          {"waves", p.waves},
          {"staged", t.staged},
          {"cancelled", t.cancelled},
          {"next_wave_at", p.next_wave_at},
          {"reason", p.reason}};
}

namespace {
// Hosts that are not installed, failed ones first, each with why.
std::vector<std::string> ProblemLines(const PushProgress& p, int64_t now_ms) {
  std::vector<std::string> failed, stragglers;
  // The same rule the tracker's live answer and the dashboard use.
  std::map<std::string, Straggler> lagging;
  if (now_ms > 0)
    for (auto& s : FindStragglers(p.hosts, now_ms)) lagging.emplace(s.host, std::move(s));
  for (const auto& h : p.hosts) {
    if (h.state == kStateInstalled || h.state == kStateStaged || h.state == kStateCancelled) continue;
    std::string where = h.host + " (" + (h.location.empty() ? "unknown" : h.location) + ")";
    if (h.state == kStateFailed) {
      failed.push_back("  FAILED     " + where + ": " + (h.error.empty() ? "no reason given" : h.error) +
                       (h.tries > 1 ? " (after " + std::to_string(h.tries) + " tries)" : ""));
      continue;
    }
    if (h.state == kStateSuperseded) {
      failed.push_back("  SUPERSEDED " + where + ": " + (h.error.empty() ? "a newer push replaced this one" : h.error));
      continue;
    }
    std::string why;
    if (h.state == kStatePending) {
      why = "never picked up the assignment";
    } else {
      uint64_t total = h.total ? h.total : p.size;
      int pct = total ? static_cast<int>(100.0 * static_cast<double>(h.bytes_done) / static_cast<double>(total)) : 0;
      why = h.state + " " + std::to_string(pct) + "%";
    }
    if (auto it = lagging.find(h.host); it != lagging.end()) {
      why += ", " + FormatBytes(h.rate) + "/s, " + std::to_string(h.peers) + " peers — " +
             CauseName(it->second.cause) + ": " + it->second.reason;
    } else if (h.updated_at > 0 && now_ms > h.updated_at) {
      why += ", last report " + FormatDuration(std::chrono::milliseconds(now_ms - h.updated_at)) + " ago";
    }
    stragglers.push_back("  STRAGGLER  " + where + ": " + why);
  }
  failed.insert(failed.end(), stragglers.begin(), stragglers.end());
  return failed;
}
}  // namespace

std::string RenderFinal(const PushProgress& p, std::chrono::milliseconds elapsed, PushOutcome outcome,
                        int64_t now_ms) {
  PushTally t = Tally(p);
  std::string out = (p.kind == "rollback" ? "rollback push " : "push ") + std::to_string(p.id) + " of " +
                    p.artifact + " " + OutcomeName(outcome);
  if (MultiWave(p) && outcome != PushOutcome::kSucceeded) out += " at " + WaveText(p);
  out += " after " + FormatDuration(elapsed) + ": " + std::to_string(t.installed) + "/" + std::to_string(t.total) +
         " hosts installed and verified";
  if (t.failed) out += ", " + std::to_string(t.failed) + " failed";
  if (t.superseded) out += ", " + std::to_string(t.superseded) + " superseded by a newer push";
  if (t.cancelled) out += ", " + std::to_string(t.cancelled) + " cancelled";
  if (t.staged) out += ", " + std::to_string(t.staged) + " staged (not activated)";
  int rest = t.total - t.installed - t.failed - t.superseded - t.cancelled - t.staged;
  if (rest) out += ", " + std::to_string(rest) + " not finished";
  out += "\n";
  if (outcome == PushOutcome::kPaused) out += "  " + PausedText(p) + "\n";
  if (outcome == PushOutcome::kCancelled && !p.reason.empty()) out += "  cancelled: " + p.reason + "\n";
  for (const auto& line : ProblemLines(p, now_ms)) out += line + "\n";
  if (outcome == PushOutcome::kPaused) {
    std::string id = std::to_string(p.id);
    out += "to go on, accepting these failures: spate push resume " + id + "\n";
    out += "to stop: spate push cancel " + id +
           " (with --rollback, activated hosts go back to their previous version)\n";
  }
  return out;
}

nlohmann::json FinalEvent(const PushProgress& p, std::chrono::milliseconds elapsed, PushOutcome outcome) {
  PushTally t = Tally(p);
  nlohmann::json failed = nlohmann::json::array(), stragglers = nlohmann::json::array(),
                 superseded = nlohmann::json::array();
  for (const auto& h : p.hosts) {
    if (h.state == kStateFailed) failed.push_back({{"host", h.host}, {"location", h.location}, {"error", h.error}});
    else if (h.state == kStateSuperseded)
      superseded.push_back({{"host", h.host}, {"location", h.location}, {"error", h.error}});
    else if (h.state != kStateInstalled && h.state != kStateStaged && h.state != kStateCancelled)
      stragglers.push_back(
          {{"host", h.host}, {"location", h.location}, {"state", h.state}, {"bytes_done", h.bytes_done}});
  }
  return {{"event", "done"},
          {"push_id", p.id},
          {"artifact", p.artifact},
          {"result", OutcomeName(outcome)},
          {"elapsed_s", elapsed.count() / 1000.0},
          {"total", t.total},
          {"installed", t.installed},
          {"staged", t.staged},
          {"cancelled", t.cancelled},
          {"state", p.state},
          {"reason", p.reason},
          {"wave", p.wave},
          {"waves", p.waves},
          {"failed_hosts", failed},
          {"superseded_hosts", superseded},
          {"stragglers", stragglers}};
}

}  // namespace spate
