#include "fetcher/push_order.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "wire/api.h"
#include "wire/fs.h"

namespace spate {

PushDecision OnAssignment(PushOrder& s, int64_t push_id) {
  PushDecision d;
  if (push_id < s.newest) {
    // Stale: a replay after a restart or a message overtaken in flight.
    d.superseded.push_back(push_id);
    return d;
  }
  if (push_id > s.newest) {
    if (s.running) d.superseded.push_back(s.newest);
    s.newest = push_id;
    s.running = false;
  }
  if (s.running) return d;  // the same push again: already at work
  s.running = true;
  d.start = true;
  return d;
}

PushDecision OnDownloadDone(PushOrder& s, int64_t push_id) {
  PushDecision d;
  // Anything else is a late event of a push already stopped (or from before a restart).
  if (push_id == s.newest && s.running) d.install = true;
  return d;
}

PushDecision OnInstallDone(PushOrder& s, int64_t push_id) {
  PushDecision d;
  // Only the newest push may move `current`, even if an older install lands later.
  if (push_id == s.newest && s.running) {
    d.switch_current = true;
    s.running = false;
  }
  return d;
}

void OnFailed(PushOrder& s, int64_t push_id) {
  if (push_id == s.newest) s.running = false;
}

bool OnWithdrawn(PushOrder& s, int64_t push_id) {
  if (push_id != s.newest) return false;
  s.running = false;
  return true;
}

void OnRestart(PushOrder& s) { s.running = false; }

std::string SupersededReason(int64_t newest) { return "superseded by push " + std::to_string(newest); }

Result<std::map<std::string, int64_t>> LoadNewestPushes(const std::string& path) {
  std::map<std::string, int64_t> out;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return out;
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  auto j = ParseJson(*text);
  if (!j.ok()) return Status::Corrupt(path + ": " + j.status().message());
  if (!j->is_object()) return Status::Corrupt(path + ": not a JSON object");
  for (auto& [name, id] : j->items()) {
    if (!id.is_number_integer()) return Status::Corrupt(path + ": push id of " + name + " is not an integer");
    out[name] = id.get<int64_t>();
  }
  return out;
}

Status SaveNewestPushes(const std::string& path, const std::map<std::string, int64_t>& newest) {
  return WriteFileAtomic(path, nlohmann::json(newest).dump(2) + "\n");
}

}  // namespace spate
