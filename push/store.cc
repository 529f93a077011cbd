// What both backends share: the plan's JSON, choosing a backend, change notices.
#include "push/store.h"

#include "push/store_backends.h"

namespace spate {

const char* const kRowUpsertGuard =
    "push_hosts.state NOT IN ('installed','failed','superseded','cancelled') OR push_hosts.state = excluded.state";

nlohmann::json ToJson(const PushPlan& p) {
  return {{"kind", p.kind},           {"started_by", p.started_by},
          {"waves", p.waves},         {"wave", p.wave},
          {"wave_pause_ms", p.wave_pause_ms}, {"max_failures", p.max_failures},
          {"accepted_failures", p.accepted_failures}, {"next_wave_at", p.next_wave_at},
          {"paused", p.paused},       {"cancelled", p.cancelled},
          {"reason", p.reason}};
}

PushPlan PushPlanFromJson(const nlohmann::json& j) {
  PushPlan p;
  if (!j.is_object()) return p;
  auto get = [&](const char* k, auto& out) {
    if (!j.contains(k)) return;
    try {
      j.at(k).get_to(out);
    } catch (const std::exception&) {
    }
  };
  get("kind", p.kind);
  get("started_by", p.started_by);
  get("waves", p.waves);
  get("wave", p.wave);
  get("wave_pause_ms", p.wave_pause_ms);
  get("max_failures", p.max_failures);
  get("accepted_failures", p.accepted_failures);
  get("next_wave_at", p.next_wave_at);
  get("paused", p.paused);
  get("cancelled", p.cancelled);
  get("reason", p.reason);
  return p;
}

bool IsPostgresUrl(const std::string& s) {
  return s.rfind("postgresql://", 0) == 0 || s.rfind("postgres://", 0) == 0;
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& url_or_path) {
  if (url_or_path.empty()) return Status::Invalid("no database: give a SQLite file path or a postgresql:// URL");
  if (IsPostgresUrl(url_or_path)) return OpenPostgresStore(url_or_path);
  return OpenSqliteStore(url_or_path);
}

std::string Store::Redacted(const std::string& s) {
  if (!IsPostgresUrl(s)) return s;
  // scheme://user:password@host...: the password runs from the first ':'
  // after the scheme to the last '@' before the path.
  size_t start = s.find("://") + 3;
  size_t end = s.find_first_of("/?", start);
  std::string auth = s.substr(start, end == std::string::npos ? std::string::npos : end - start);
  size_t at = auth.rfind('@');
  if (at == std::string::npos) return s;
  size_t colon = auth.find(':');
  if (colon == std::string::npos || colon > at) return s;
  return s.substr(0, start + colon + 1) + "***" + s.substr(start + at);
}

namespace {

// A payload is a letter for the kind, then space-separated fields. Host names
// and artifact ids never hold spaces (CheckName), so nothing needs quoting.
char Letter(StoreChange::Kind k) {
  switch (k) {
    case StoreChange::Kind::kArtifact: return 'a';
    case StoreChange::Kind::kPush: return 'p';
    case StoreChange::Kind::kPlan: return 'l';
    case StoreChange::Kind::kRows: return 'r';
    case StoreChange::Kind::kHosts: return 'h';
    case StoreChange::Kind::kAll: return '*';
  }
  return '?';
}

bool HasPushId(StoreChange::Kind k) {
  return k == StoreChange::Kind::kPush || k == StoreChange::Kind::kPlan || k == StoreChange::Kind::kRows;
}

}  // namespace

std::vector<std::string> ChangePayloads(const StoreChange& c) {
  constexpr size_t kMax = 7000;  // PostgreSQL refuses payloads of 8000 bytes or more
  std::string head(1, Letter(c.kind));
  if (HasPushId(c.kind)) head += " " + std::to_string(c.push_id);
  std::vector<std::string> out;
  std::string cur = head;
  for (const auto& n : c.names) {
    if (cur.size() + 1 + n.size() > kMax && cur.size() > head.size()) {
      out.push_back(cur);
      cur = head;
    }
    cur += " " + n;
  }
  out.push_back(cur);
  return out;
}

std::optional<StoreChange> ParseChangePayload(const std::string& payload) {
  std::vector<std::string> f;
  size_t pos = 0;
  while (pos < payload.size()) {
    size_t sp = payload.find(' ', pos);
    if (sp == std::string::npos) sp = payload.size();
    if (sp > pos) f.push_back(payload.substr(pos, sp - pos));
    pos = sp + 1;
  }
  if (f.empty() || f[0].size() != 1) return std::nullopt;
  StoreChange c;
  switch (f[0][0]) {
    case 'a': c.kind = StoreChange::Kind::kArtifact; break;
    case 'p': c.kind = StoreChange::Kind::kPush; break;
    case 'l': c.kind = StoreChange::Kind::kPlan; break;
    case 'r': c.kind = StoreChange::Kind::kRows; break;
    case 'h': c.kind = StoreChange::Kind::kHosts; break;
    case '*': c.kind = StoreChange::Kind::kAll; break;
    default: return std::nullopt;
  }
  size_t names_from = 1;
  if (HasPushId(c.kind)) {
    if (f.size() < 2 || f[1].empty() || f[1].size() > 18 || f[1].find_first_not_of("0123456789") != std::string::npos)
      return std::nullopt;
    c.push_id = std::stoll(f[1]);
    names_from = 2;
  }
  c.names.assign(f.begin() + std::min(names_from, f.size()), f.end());
  const bool needs_names = c.kind == StoreChange::Kind::kArtifact || c.kind == StoreChange::Kind::kRows ||
                           c.kind == StoreChange::Kind::kHosts;
  if (needs_names && c.names.empty()) return std::nullopt;
  return c;
}

}  // namespace spate
