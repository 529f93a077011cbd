// The controller's read side: push progress, history, the fleet, counters.
#include <fnmatch.h>

#include <algorithm>

#include "push/controller.h"
#include "push/straggler.h"

namespace spate::push {

using nlohmann::json;

namespace {

// When the last host finished (unix ms), 0 while the push is open.
int64_t FinishedAt(const Push& p) {
  if (p.open()) return 0;
  int64_t last = p.rec.created_at;
  for (const auto& h : p.rec.hosts) last = std::max(last, h.updated_at);
  return last;
}

}  // namespace

PushProgress Controller::Progress(const Push& p) const {
  PushProgress out;
  out.id = p.rec.id;
  out.artifact = p.rec.artifact;
  auto art = artifacts_.find(p.rec.artifact);
  if (art != artifacts_.end()) out.size = art->second.manifest.size;
  out.state = PushStatusName(p.status());
  out.created_at = p.rec.created_at;
  out.hosts = p.rec.hosts;
  const PushPlan& plan = p.rec.plan;
  out.kind = plan.kind;
  out.started_by = plan.started_by;
  out.waves = plan.waves;
  out.wave = plan.wave;
  out.wave_pause_ms = plan.wave_pause_ms;
  out.max_failures = plan.max_failures;
  out.next_wave_at = plan.next_wave_at;
  out.reason = plan.reason;
  return out;
}

Result<PushSnapshot> Controller::Snapshot(int64_t id, int64_t since) const {
  auto it = pushes_.find(id);
  if (it == pushes_.end()) return Status::NotFound("unknown push " + std::to_string(id));
  PushSnapshot s;
  s.progress = Progress(it->second);
  s.now = Now();
  s.since = since;
  s.finished_at = FinishedAt(it->second);
  s.open = it->second.open();
  return s;
}

json ToJson(PushSnapshot s) {
  // Judged on every row, not only the changed ones: a stuck host stops changing.
  json lagging = json::array();
  if (s.open)
    for (const Straggler& st : FindStragglers(s.progress.hosts, s.now)) {
      if (lagging.size() == 50) break;
      lagging.push_back({{"host", st.host},
                         {"location", st.location},
                         {"state", st.state},
                         {"rate", st.rate},
                         {"peers", st.peers},
                         {"cause", CauseName(st.cause)},
                         {"reason", st.reason}});
    }
  const size_t total = s.progress.hosts.size();
  // A watcher passes back the previous answer's "now" and gets only the rows
  // that changed since: a 5,000-host push stays light once a second.
  std::vector<HostProgress>& rows = s.progress.hosts;
  if (s.since > 0)
    rows.erase(std::remove_if(rows.begin(), rows.end(), [&](const HostProgress& h) { return h.updated_at < s.since; }),
               rows.end());
  json j = ToJson(s.progress);
  j["now"] = s.now;
  j["finished_at"] = s.finished_at;
  j["hosts_total"] = total;
  j["stragglers"] = lagging;
  return j;
}

Result<json> Controller::GetPush(int64_t id, int64_t since) const {
  auto s = Snapshot(id, since);
  if (!s.ok()) return s.status();
  return ToJson(std::move(*s));
}

json Controller::ListPushes(int limit) const {
  json list = json::array();
  for (auto it = pushes_.rbegin(); it != pushes_.rend() && int(list.size()) < limit; ++it) {
    const Push& p = it->second;
    int n = int(p.rec.hosts.size());
    list.push_back({{"id", p.rec.id},
                    {"artifact", p.rec.artifact},
                    {"kind", p.rec.plan.kind},
                    {"state", PushStatusName(p.status())},
                    {"started_by", p.rec.plan.started_by},
                    {"created_at", p.rec.created_at},
                    {"finished_at", FinishedAt(p)},
                    {"wave", p.rec.plan.wave},
                    {"waves", p.waves()},
                    {"hosts", n},
                    {"installed", p.installed},
                    {"failed", p.failed},
                    {"superseded", p.superseded},
                    {"cancelled", p.cancelled},
                    {"staged", p.staged},
                    {"pending", n - p.installed - p.failed - p.superseded - p.cancelled}});
  }
  return json{{"pushes", list}};
}

json Controller::Fleet(const std::string& hosts_glob) const {
  // What each host runs: per artifact name, the version of its newest push
  // installed there (push ids grow, so a later install overrides; a
  // rollback is a push like any other).
  std::map<std::string, std::map<std::string, std::string>> versions;
  for (const auto& [id, p] : pushes_) {
    auto nv = ParseArtifactId(p.rec.artifact);
    if (!nv.ok()) continue;
    for (const auto& h : p.rec.hosts)
      if (h.state == kStateInstalled) versions[h.host][nv->first] = nv->second;
  }
  json list = json::array();
  // location -> name -> version -> hosts
  std::map<std::string, std::map<std::string, std::map<std::string, int>>> racks;
  std::map<std::string, int> rack_hosts;
  for (const auto& [name, h] : hosts_) {
    if (!hosts_glob.empty() && fnmatch(hosts_glob.c_str(), name.c_str(), 0) != 0) continue;
    const std::string location = h.rec.location.empty() ? "unknown" : h.rec.location;
    ++rack_hosts[location];
    json v = json::object();
    auto it = versions.find(name);
    if (it != versions.end())
      for (const auto& [artifact, version] : it->second) {
        v[artifact] = version;
        ++racks[location][artifact][version];
      }
    list.push_back(
        {{"host", name}, {"addr", h.rec.addr}, {"location", location}, {"last_seen", h.rec.last_seen}, {"versions", v}});
  }
  json rack_list = json::array();
  for (const auto& [location, n] : rack_hosts) {
    json v = json::object();
    for (const auto& [artifact, counts] : racks[location]) v[artifact] = counts;
    rack_list.push_back({{"location", location}, {"hosts", n}, {"versions", v}});
  }
  return json{{"hosts", list}, {"racks", rack_list}};
}

json Controller::ListHosts() const {
  json list = json::array();
  for (const auto& [id, h] : hosts_)
    list.push_back({{"host", id},
                    {"addr", h.rec.addr},
                    {"location", h.rec.location.empty() ? "unknown" : h.rec.location},
                    {"last_seen", h.rec.last_seen}});
  return json{{"hosts", list}};
}

json Controller::ListArtifacts() const {
  json list = json::array();
  for (const auto& [id, a] : artifacts_) list.push_back(ToJson(a.manifest));
  return json{{"artifacts", list}};
}

Metrics Controller::MetricsSnapshot(size_t long_polls) const {
  size_t active = 0, paused = 0;
  for (const auto& [id, p] : pushes_) {
    active += p.open() && !p.rec.plan.cancelled;
    paused += p.status() == PushStatus::kPaused;
  }
  Metrics w;
  w.Gauge("spate_tracker_pushes_active", "Pushes still in progress.", double(active))
      .Gauge("spate_tracker_pushes_paused", "Pushes whose activation stopped at the failure budget.", double(paused))
      .Gauge("spate_tracker_pushes", "Pushes known.", double(pushes_.size()))
      .Gauge("spate_tracker_artifacts", "Artifacts registered.", double(artifacts_.size()))
      .Gauge("spate_tracker_hosts", "Hosts known (checked in or targeted).", double(hosts_.size()))
      .Gauge("spate_tracker_long_polls", "Assignment long polls being held.", double(long_polls));
  std::map<std::string, uint64_t> refused = {{"poll", 0},     {"report", 0}, {"report_entry", 0},
                                             {"register", 0}, {"push", 0},   {"read", 0}};
  for (const auto& [kind, n] : refused_) refused[kind] = n;
  for (const auto& [kind, n] : refused)
    w.Counter("spate_tracker_control_refused_total",
              "Control requests refused: host polls and reports without the host's token, from an address the host "
              "is not bound to or by a host id enrolment does not admit; single reports refused in a batch; "
              "register, push and read requests without a token of that role.",
              double(n), {{"request", kind}});
  w.Counter("spate_tracker_reports_backward_total", "Reports ignored for state: they would move a host's state back.",
            double(reports_backward_));
  w.Counter("spate_tracker_reports_total", "Host reports taken, one per push in a host's batch (refused ones not counted).",
            double(reports_taken_));
  w.Counter("spate_tracker_store_transactions_total", "Writes to the push database, each one transaction.",
            double(store_transactions_));
  w.Counter("spate_tracker_store_rows_total", "Rows written to the push database (push hosts, hosts, pushes, plans, artifacts).",
            double(store_rows_));
  w.Counter("spate_tracker_store_seconds_total",
            "Time the tracker's io thread spent writing to the push database (it serves nothing meanwhile).",
            store_seconds_);
  return w;
}

json Controller::Stats(size_t long_polls) const {
  size_t active = 0;
  for (const auto& [id, p] : pushes_) active += p.open() && !p.rec.plan.cancelled;
  std::map<std::string, uint64_t> refused = {{"poll", 0},     {"report", 0}, {"report_entry", 0},
                                             {"register", 0}, {"push", 0},   {"read", 0}};
  for (const auto& [kind, n] : refused_) refused[kind] = n;
  return json{{"active_pushes", active},
              {"pushes", pushes_.size()},
              {"artifacts", artifacts_.size()},
              {"hosts", hosts_.size()},
              {"long_polls", long_polls},
              {"control_refused", refused},
              {"reports_backward", reports_backward_}};
}

}  // namespace spate::push
