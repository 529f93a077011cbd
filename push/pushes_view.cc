#include "push/pushes_view.h"

#include <algorithm>
#include <chrono>
#include <ctime>

#include "push/table.h"
#include "wire/units.h"

namespace spate {

namespace {

using nlohmann::json;

template <typename T>
Status Read(const json& j, const char* key, T& out, bool required) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null())
    return required ? Status::Invalid(std::string("missing field '") + key + "'") : Status::Ok();
  try {
    out = it->get<T>();
  } catch (const json::exception&) {
    return Status::Invalid(std::string("field '") + key + "' has the wrong type");
  }
  return Status::Ok();
}

Result<PushSummary> SummaryFromJson(const json& j) {
  if (!j.is_object()) return Status::Invalid("a push is not a JSON object");
  PushSummary s;
  for (Status st : {Read(j, "id", s.id, true), Read(j, "artifact", s.artifact, true), Read(j, "state", s.state, true),
                    Read(j, "kind", s.kind, false), Read(j, "started_by", s.started_by, false),
                    Read(j, "created_at", s.created_at, false), Read(j, "finished_at", s.finished_at, false),
                    Read(j, "wave", s.wave, false), Read(j, "hosts", s.hosts, false),
                    Read(j, "installed", s.installed, false), Read(j, "failed", s.failed, false),
                    Read(j, "superseded", s.superseded, false), Read(j, "cancelled", s.cancelled, false)})
    if (!st.ok()) return st;
  if (auto it = j.find("waves"); it != j.end()) {
    if (it->is_number_integer())
      s.waves = it->get<int>();
    else if (it->is_array())
      s.waves = static_cast<int>(it->size());
    else if (!it->is_null())
      return Status::Invalid("field 'waves' has the wrong type");
  }
  s.pending = s.hosts - s.installed - s.failed - s.superseded - s.cancelled;
  if (Status st = Read(j, "pending", s.pending, false); !st.ok()) return st;
  return s;
}

}  // namespace

Result<std::vector<PushSummary>> PushSummariesFromJson(const json& j) {
  if (!j.is_object() || !j.contains("pushes") || !j["pushes"].is_array())
    return Status::Invalid("expected {\"pushes\": [...]}");
  std::vector<PushSummary> out;
  for (const auto& pj : j["pushes"]) {
    auto s = SummaryFromJson(pj);
    if (!s.ok())
      return Status::Invalid("push " + std::to_string(out.size() + 1) + " of the list: " + s.status().message());
    out.push_back(std::move(*s));
  }
  return out;
}

std::string LocalTime(int64_t unix_ms) {
  std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

std::string RenderPushes(const std::vector<PushSummary>& rows, int64_t now_ms, const TimeFormat& time) {
  if (rows.empty()) return "no pushes\n";
  std::vector<std::vector<std::string>> table = {
      {"ID", "ARTIFACT", "KIND", "STATE", "WAVE", "OK/FAILED/PENDING", "BY", "STARTED", "DURATION"}};
  for (const auto& p : rows) {
    std::string wave =
        p.waves > 1 ? std::to_string(std::clamp(p.wave + 1, 1, p.waves)) + "/" + std::to_string(p.waves) : "-";
    int64_t end = p.finished_at > 0 ? p.finished_at : now_ms;
    std::string duration =
        p.created_at > 0 ? FormatDuration(std::chrono::milliseconds(std::max<int64_t>(0, end - p.created_at))) : "-";
    table.push_back({std::to_string(p.id), p.artifact, p.kind, p.state, wave,
                     std::to_string(p.installed) + "/" + std::to_string(p.failed) + "/" + std::to_string(p.pending),
                     p.started_by.empty() ? "-" : p.started_by, p.created_at > 0 ? time(p.created_at) : "-", duration});
  }
  return RenderTable(table);
}

}  // namespace spate
