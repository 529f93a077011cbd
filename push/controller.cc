// Push lifecycle: create, report, waves, cancel, resume, supersede, rollback.
#include "push/controller.h"

#include <fnmatch.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "push/host_state.h"
#include "push/waves.h"
#include "wire/crypto.h"

namespace spate::push {

const char* PushStatusName(PushStatus s) {
  switch (s) {
    case PushStatus::kActive: return "active";
    case PushStatus::kPaused: return "paused";
    case PushStatus::kCancelled: return "cancelled";
    case PushStatus::kSucceeded: return "succeeded";
    case PushStatus::kFailed: return "failed";
    case PushStatus::kSuperseded: return "superseded";
  }
  return "unknown";
}

void Push::Index() {
  index.clear();
  by_addr.clear();
  rack_targets.clear();
  installed = failed = superseded = cancelled = staged = 0;
  open_in_wave.assign(size_t(waves()), 0);
  for (size_t i = 0; i < rec.hosts.size(); ++i) {
    const HostProgress& h = rec.hosts[i];
    if (!TerminalState(h.state) && h.wave >= 0 && h.wave < waves()) ++open_in_wave[size_t(h.wave)];
    index[h.host] = i;
    if (!h.addr.empty()) by_addr.emplace(h.addr, i);
    ++rack_targets[h.location];
    installed += h.state == kStateInstalled;
    failed += h.state == kStateFailed;
    superseded += h.state == kStateSuperseded;
    cancelled += h.state == kStateCancelled;
    staged += h.state == kStateStaged;
  }
}

void Push::SetState(size_t i, const std::string& state) {
  std::string& cur = rec.hosts[i].state;
  const int w = rec.hosts[i].wave;
  if (w >= 0 && w < int(open_in_wave.size()))
    open_in_wave[size_t(w)] += int(TerminalState(cur)) - int(TerminalState(state));
  auto moved = [&](const char* s) { return int(state == s) - int(cur == s); };
  installed += moved(kStateInstalled);
  failed += moved(kStateFailed);
  superseded += moved(kStateSuperseded);
  cancelled += moved(kStateCancelled);
  staged += moved(kStateStaged);
  cur = state;
}

void Push::MoveRow(size_t i, const std::string& addr, const std::string& location) {
  HostProgress& row = rec.hosts[i];
  auto range = by_addr.equal_range(row.addr);
  for (auto it = range.first; it != range.second; ++it)
    if (it->second == i) {
      by_addr.erase(it);
      break;
    }
  if (!addr.empty()) by_addr.emplace(addr, i);
  --rack_targets[row.location];  // gateway shares count targets per rack
  ++rack_targets[location];
  row.addr = addr;
  row.location = location;
}

bool Push::Targets(const std::string& addr) const {
  auto range = by_addr.equal_range(addr);
  for (auto it = range.first; it != range.second; ++it)
    if (!TerminalState(rec.hosts[it->second].state)) return true;
  return false;
}

// An ended push is judged by the worst of its rows: a failure, then a host
// where a newer push replaced it (this version did not land there).
PushStatus Push::status() const {
  if (rec.plan.cancelled) return PushStatus::kCancelled;
  if (open()) return rec.plan.paused ? PushStatus::kPaused : PushStatus::kActive;
  if (failed > 0) return PushStatus::kFailed;
  if (superseded > 0) return PushStatus::kSuperseded;
  return PushStatus::kSucceeded;
}

Controller::Controller(ControllerOptions o, std::unique_ptr<Store> store, const Rackmap& rackmap, Swarms& swarms)
    : o_(std::move(o)), store_(std::move(store)), rackmap_(rackmap), swarms_(swarms) {
  if (!o_.now_ms)
    o_.now_ms = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
}

Status Controller::Load() {
  auto snap = store_->Load();
  if (!snap.ok()) return snap.status();
  for (auto& a : snap->artifacts) {
    Status s = swarms_.Serve(a.manifest.id(), a.manifest.info_hash, a.manifest.size, a.origin);
    if (!s.ok()) spdlog::warn("stored artifact {}: {}", a.manifest.id(), s.message());
    artifacts_[a.manifest.id()] = std::move(a);
  }
  for (auto& h : snap->hosts) {
    Host hs;
    hs.rec = std::move(h);
    hs.stored_last_seen = hs.rec.last_seen;
    hosts_[hs.rec.host] = std::move(hs);
  }
  for (auto& r : snap->pushes) {
    Push p;
    p.rec = std::move(r);
    p.Index();
    int64_t id = p.rec.id;
    artifact_pushes_[p.rec.artifact].push_back(id);
    auto& stored = pushes_[id] = std::move(p);
    for (const auto& hp : stored.rec.hosts) TargetHost(stored, hp.host);
  }
  // Rows a newer push of the same name replaced end as superseded (also in
  // databases written before that rule). TargetHost above recorded each
  // host's newest push per name, so this is one pass over the rows.
  std::vector<std::pair<int64_t, HostProgress>> superseded;
  for (auto& [id, p] : pushes_) {
    auto name = ParseArtifactId(p.rec.artifact);
    if (!name.ok()) continue;
    for (size_t i = 0; i < p.rec.hosts.size(); ++i) {
      const Host& h = hosts_[p.rec.hosts[i].host];
      auto newest = h.latest.find(name->first);
      if (newest == h.latest.end() || newest->second <= id) continue;
      SupersedeRow(p, i, newest->second, pushes_[newest->second].rec.artifact, &superseded);
    }
  }
  for (auto& [name, h] : hosts_) Recompute(h);
  changed_hosts_.clear();
  Status saved = SavePushHosts(superseded);
  if (!saved.ok()) return saved;
  spdlog::info("loaded {} artifacts, {} pushes, {} hosts", artifacts_.size(), pushes_.size(), hosts_.size());
  return Status::Ok();
}

Status Controller::RegisterArtifact(const ArtifactRegistration& reg) {
  const Manifest& m = reg.manifest;
  auto existing = artifacts_.find(m.id());
  if (existing != artifacts_.end() && existing->second.manifest.info_hash != m.info_hash)
    return Status::Conflict("artifact " + m.id() + " is already registered with info_hash " +
                            existing->second.manifest.info_hash + "; versions are immutable");
  Status s = swarms_.Serve(m.id(), m.info_hash, m.size, reg.origin);
  if (!s.ok()) return s;
  ArtifactRecord rec{m, reg.torrent, reg.origin, Now()};
  s = Write(1, [&] { return store_->PutArtifact(rec); });
  if (!s.ok()) return s;
  bool again = existing != artifacts_.end();
  artifacts_[m.id()] = std::move(rec);
  spdlog::info("{} artifact {} ({} bytes, info_hash {}, origin {})", again ? "re-registered" : "registered", m.id(),
               m.size, m.info_hash, reg.origin.empty() ? "none" : reg.origin);
  return Status::Ok();
}

Result<PushProgress> Controller::CreatePush(const PushRequest& req, const std::string& kind) {
  auto art = artifacts_.find(req.artifact);
  if (art == artifacts_.end()) {
    std::string known;
    int n = 0;
    for (auto it = artifacts_.rbegin(); it != artifacts_.rend() && n < 20; ++it, ++n)
      known += (known.empty() ? "" : ", ") + it->first;
    if (artifacts_.size() > 20) known += ", ...";
    return Status::NotFound("unknown artifact " + req.artifact + ": not registered; registered: " +
                            (known.empty() ? "none" : known));
  }
  std::vector<std::string> targets;
  if (!req.hosts.empty()) {
    std::set<std::string> seen;
    for (const auto& h : req.hosts) {
      Status s = CheckName("host", h);
      if (!s.ok()) return s;
      if (seen.insert(h).second) targets.push_back(h);
    }
  } else {
    for (const auto& [id, h] : hosts_)
      if (!h.rec.addr.empty() && fnmatch(req.hosts_glob.c_str(), id.c_str(), 0) == 0) targets.push_back(id);
    if (targets.empty())
      return Status::Invalid("no checked-in host matches hosts_glob '" + req.hosts_glob + "' (" +
                             std::to_string(hosts_.size()) + " hosts known; see GET /api/v1/hosts)");
  }
  auto steps = ParseWaveSpec(req.waves);
  if (!steps.ok()) return Status::Invalid("waves: " + steps.status().message());
  auto budget = ParseMaxFailures(req.max_failures, int(targets.size()));
  if (!budget.ok()) return Status::Invalid("max_failures: " + budget.status().message());

  const int64_t now = Now();
  std::vector<HostProgress> rows;
  std::vector<std::string> locations;
  for (const auto& t : targets) {
    HostProgress hp;
    hp.host = t;
    auto it = hosts_.find(t);
    if (it != hosts_.end()) {
      hp.addr = it->second.rec.addr;
      hp.location = it->second.rec.location;
    }
    if (hp.location.empty()) hp.location = "unknown";
    hp.total = art->second.manifest.size;
    hp.updated_at = hp.progress_at = now;
    locations.push_back(hp.location);
    rows.push_back(hp);
  }
  PushPlan plan;
  plan.kind = kind;
  plan.started_by = req.started_by;
  plan.waves = WaveSizes(*steps, int(rows.size()));
  std::vector<int> wave_of = AssignWaves(locations, plan.waves);
  for (size_t i = 0; i < rows.size(); ++i) rows[i].wave = wave_of[i];
  plan.wave_pause_ms = req.wave_pause_ms;
  plan.max_failures = *budget;

  auto id = Write(rows.size() + 1, [&] { return store_->CreatePush(req.artifact, now, rows, plan); });
  if (!id.ok()) return id.status();
  Push p;
  p.rec = PushRecord{*id, req.artifact, now, std::move(rows), std::move(plan)};
  p.Index();
  auto& stored = pushes_[*id] = std::move(p);
  artifact_pushes_[req.artifact].push_back(*id);
  std::string waves;
  for (int w : stored.rec.plan.waves) waves += (waves.empty() ? "" : ",") + std::to_string(w);
  spdlog::info("{} {}: {} to {} hosts in waves [{}], failure budget {}{}", kind, *id, req.artifact, targets.size(),
               waves, stored.rec.plan.max_failures,
               req.started_by.empty() ? "" : ", started by " + req.started_by);
  std::vector<std::pair<int64_t, HostProgress>> superseded;
  for (const auto& t : targets) {
    TargetHost(stored, t);
    Supersede(t, req.artifact, *id, &superseded);
    Recompute(hosts_[t]);
  }
  Status s = SavePushHosts(superseded);  // outcomes are written at once, like reported ones
  if (!s.ok()) spdlog::error("push {}: storing superseded rows: {}", *id, s.message());
  return Progress(stored);
}

// Records that push `p` targets `host`: the host's newest push for that
// artifact name becomes p.
void Controller::TargetHost(Push& p, const std::string& host) {
  auto [it, fresh] = hosts_.try_emplace(host);
  if (fresh) it->second.rec.host = host;  // named explicitly before it ever checked in
  auto name = ParseArtifactId(p.rec.artifact);
  if (!name.ok()) return;
  int64_t& latest = it->second.latest[name->first];
  latest = std::max(latest, p.rec.id);
}

// The generation must change whenever the host's assignment list does, and
// never repeat across restarts. Each newest push contributes its id and how
// far the host may go with it (distribute < activate < withdrawn): ids only
// grow and each push's step only grows, so the sum only grows, and it is
// derived from stored state alone.
void Controller::Recompute(Host& h) {
  int64_t g = 0;
  for (const auto& [name, id] : h.latest) {
    auto p = pushes_.find(id);
    int step = 0;
    if (p != pushes_.end()) {
      auto row = p->second.index.find(h.rec.host);
      if (row != p->second.index.end()) {
        const HostProgress& hp = p->second.rec.hosts[row->second];
        if (hp.state == kStateCancelled) step = 2;
        else if (hp.wave <= p->second.rec.plan.wave) step = 1;
      }
    }
    g += id * 4 + step;
  }
  if (g != h.generation) {
    h.generation = g;
    changed_hosts_.insert(h.rec.host);
  }
}

std::vector<std::string> Controller::TakeChangedHosts() {
  std::vector<std::string> out(changed_hosts_.begin(), changed_hosts_.end());
  changed_hosts_.clear();
  return out;
}

// A host runs only its newest push of an artifact name (AssignmentsFor hands
// out no other), so its unfinished rows in older pushes of that name would
// stay open forever. They end here, as superseded; `rows` collects them.
void Controller::Supersede(const std::string& host, const std::string& artifact, int64_t newer,
                           std::vector<std::pair<int64_t, HostProgress>>* rows) {
  auto name = ParseArtifactId(artifact);
  if (!name.ok()) return;
  const std::string prefix = name->first + "@";
  for (auto a = artifact_pushes_.lower_bound(prefix); a != artifact_pushes_.end() && a->first.rfind(prefix, 0) == 0;
       ++a)
    for (int64_t id : a->second) {
      auto pit = pushes_.find(id);
      if (id >= newer || pit == pushes_.end()) continue;
      auto hp = pit->second.index.find(host);
      if (hp != pit->second.index.end()) SupersedeRow(pit->second, hp->second, newer, artifact, rows);
    }
}

void Controller::SupersedeRow(Push& p, size_t i, int64_t newer, const std::string& artifact,
                              std::vector<std::pair<int64_t, HostProgress>>* rows) {
  HostProgress& row = p.rec.hosts[i];
  if (TerminalState(row.state)) return;
  PushStatus before_push = p.status();
  std::string before = row.state;
  p.SetState(i, kStateSuperseded);
  row.error = "superseded by push " + std::to_string(newer) + " (" + artifact + ")";
  row.rate = 0;
  row.updated_at = Now();
  p.dirty.erase(i);
  rows->emplace_back(p.rec.id, row);
  spdlog::info("push {}: {} {} -> superseded by push {} ({})", p.rec.id, row.host, before, newer, artifact);
  LogStatusChange(p, before_push);
}

void Controller::LogStatusChange(const Push& p, PushStatus before) const {
  if (p.status() == before) return;
  spdlog::info("push {} ({}): {} ({} installed, {} failed, {} superseded, {} cancelled of {})", p.rec.id,
               p.rec.artifact, PushStatusName(p.status()), p.installed, p.failed, p.superseded, p.cancelled,
               p.rec.hosts.size());
}

bool Controller::ChangePlan(Push& p, const std::function<bool(PushPlan&)>& change) {
  // The outcomes a decision rests on (a failure that pauses, the last install
  // of a wave) are stored before the decision: another process must never
  // read a pause without the failure behind it, nor a crash keep one alone.
  if (Status s = WriteOutcomes(); !s.ok()) {
    spdlog::error("push {}: storing outcomes before its plan: {}", p.rec.id, s.message());
    return false;
  }
  auto plan = Write(1, [&] { return store_->UpdatePlan(p.rec.id, change); });
  if (!plan.ok()) {
    spdlog::error("push {}: storing its plan: {}", p.rec.id, plan.status().message());
    return false;
  }
  SetPlan(p, *plan);
  return true;
}

void Controller::SetPlan(Push& p, const PushPlan& plan) {
  const int before = p.rec.plan.wave;
  p.rec.plan = plan;
  if (plan.wave == before) return;
  const int lo = std::min(before, plan.wave), hi = std::max(before, plan.wave);
  for (const auto& h : p.rec.hosts)
    if (h.wave > lo && h.wave <= hi) {
      auto it = hosts_.find(h.host);
      if (it != hosts_.end()) Recompute(it->second);
    }
}

// Each decision is taken on the stored plan, under the store's lock: another
// control-plane process sharing the database may have paused, resumed or
// advanced the push since this one last read it, and a wave must open once.
void Controller::AdvanceWaves(Push& p) {
  const PushPlan& plan = p.rec.plan;
  if (plan.cancelled || plan.paused || !p.open()) return;
  const PushStatus before = p.status();
  const bool more_waves = plan.wave + 1 < p.waves();
  const int wave = plan.wave;
  // In the last wave there is nothing left to hold back: the push ends failed.
  if (more_waves && p.failed - plan.accepted_failures > plan.max_failures) {
    std::string who;
    int named = 0;
    for (const auto& h : p.rec.hosts)
      if (h.state == kStateFailed && named++ < 3) who += (who.empty() ? "" : "; ") + h.host + ": " + h.error;
    const int failed = p.failed;
    bool paused = false;
    ChangePlan(p, [&](PushPlan& s) {
      if (s.cancelled || s.paused || s.wave != wave || failed - s.accepted_failures <= s.max_failures) return false;
      s.paused = true;
      s.next_wave_at = 0;
      s.reason = std::to_string(failed - s.accepted_failures) + " failed, over the budget of " +
                 std::to_string(s.max_failures) + " (" + who + (failed > 3 ? "; ..." : "") + ")";
      return paused = true;
    });
    if (paused)
      spdlog::warn("push {}: activation paused in wave {}/{}: {}", p.rec.id, wave + 1, p.waves(), p.rec.plan.reason);
    LogStatusChange(p, before);
    return;
  }
  if (!more_waves) return;
  for (int w = 0; w <= wave; ++w)
    if (p.open_in_wave[size_t(w)] > 0) return;  // the wave is not done
  const int64_t now = Now();
  if (plan.next_wave_at != 0 && now < plan.next_wave_at) return;  // scheduled and not due: nothing to write
  bool scheduled = false, advanced = false;
  ChangePlan(p, [&](PushPlan& s) {
    if (s.cancelled || s.paused || s.wave != wave) return false;
    bool changed = false;
    if (s.next_wave_at == 0) {
      s.next_wave_at = now + s.wave_pause_ms;
      changed = scheduled = s.wave_pause_ms > 0;
    }
    if (now < s.next_wave_at) return changed;
    ++s.wave;
    s.next_wave_at = 0;
    return advanced = true;
  });
  if (scheduled)
    spdlog::info("push {}: wave {}/{} done; next wave in {} ms", p.rec.id, wave + 1, p.waves(),
                 p.rec.plan.wave_pause_ms);
  if (!advanced) return;
  int n = 0;
  for (const auto& h : p.rec.hosts) n += h.wave == wave + 1;
  spdlog::info("push {}: wave {}/{} activating on {} hosts", p.rec.id, wave + 2, p.waves(), n);
}

// Also catches waves that ended without a report (rows superseded by another
// push, a restart between a row's end and the next wave).
void Controller::Tick() {
  for (auto& [id, p] : pushes_)
    if (p.open()) AdvanceWaves(p);
}

Result<PushProgress> Controller::Resume(int64_t id, const std::string& by) {
  auto it = pushes_.find(id);
  if (it == pushes_.end()) return Status::NotFound("unknown push " + std::to_string(id));
  Push& p = it->second;
  if (p.status() != PushStatus::kPaused)
    return Status::Conflict("push " + std::to_string(id) + " is " + PushStatusName(p.status()) + ", not paused");
  const int failed = p.failed;
  bool resumed = false;
  if (Status s = WriteOutcomes(); !s.ok()) return s;  // as ChangePlan: the outcomes first
  auto plan = Write(1, [&] { return store_->UpdatePlan(id, [&](PushPlan& s) {
    if (!s.paused || s.cancelled) return false;  // resumed or cancelled elsewhere meanwhile
    s.paused = false;
    s.accepted_failures = failed;
    s.reason.clear();
    return resumed = true;
  }); });
  if (!plan.ok()) return plan.status();
  SetPlan(p, *plan);
  if (!resumed)
    return Status::Conflict("push " + std::to_string(id) + " is " + PushStatusName(p.status()) + ", not paused");
  spdlog::info("push {}: resumed{}; {} failures accepted", id, by.empty() ? "" : " by " + by, p.failed);
  AdvanceWaves(p);
  return Progress(p);
}

Result<PushProgress> Controller::Cancel(int64_t id, bool rollback, const std::string& by,
                                        std::vector<int64_t>* rollback_pushes) {
  auto it = pushes_.find(id);
  if (it == pushes_.end()) return Status::NotFound("unknown push " + std::to_string(id));
  Push& p = it->second;
  if (!p.open())
    return Status::Conflict("push " + std::to_string(id) + " already ended " + PushStatusName(p.status()) +
                            (rollback ? "; roll back with spate rollback" : ""));
  const PushStatus before = p.status();
  if (Status s = WriteOutcomes(); !s.ok()) return s;  // as ChangePlan: the outcomes first
  auto plan = Write(1, [&] { return store_->UpdatePlan(id, [&](PushPlan& s) {
    if (s.cancelled) return false;  // cancelled elsewhere: that reason stands
    s.cancelled = true;
    s.paused = false;
    s.next_wave_at = 0;
    s.reason = "cancelled" + (by.empty() ? std::string() : " by " + by);
    return true;
  }); });
  if (!plan.ok()) return plan.status();
  SetPlan(p, *plan);
  const int64_t now = Now();
  std::vector<std::pair<int64_t, HostProgress>> rows;
  for (size_t i = 0; i < p.rec.hosts.size(); ++i) {
    HostProgress& row = p.rec.hosts[i];
    if (TerminalState(row.state)) continue;
    row.error = "push cancelled while " + row.state;
    p.SetState(i, kStateCancelled);
    row.rate = 0;
    row.updated_at = now;
    p.dirty.erase(i);
    rows.emplace_back(id, row);
    auto h = hosts_.find(row.host);
    if (h != hosts_.end()) Recompute(h->second);
  }
  Status s = SavePushHosts(rows);
  if (!s.ok()) return s;
  spdlog::warn("push {} ({}): cancelled{}: {} hosts stopped, {} stay activated", id, p.rec.artifact,
               by.empty() ? "" : " by " + by, rows.size(), p.installed);
  LogStatusChange(p, before);
  if (!rollback || p.installed == 0) return Progress(p);

  // Each activated host goes back to what it ran before; hosts that ran the
  // same version share one rollback push.
  std::map<std::string, std::vector<std::string>> by_version;
  for (const auto& [host, version] : PreviousVersions(p)) by_version[version].push_back(host);
  auto name = ParseArtifactId(p.rec.artifact);
  for (const auto& [version, hosts] : by_version) {
    PushRequest r;
    r.artifact = name->first + "@" + version;
    r.hosts = hosts;
    r.started_by = by;
    auto rb = CreatePush(r, "rollback");
    if (!rb.ok()) {
      spdlog::error("push {}: rollback of {} hosts to {} failed: {}", id, hosts.size(), r.artifact,
                    rb.status().message());
      continue;
    }
    if (rollback_pushes) rollback_pushes->push_back(rb->id);
  }
  return Progress(p);
}

// For each host push `p` installed: the version of the newest older push of
// the same name that installed there.
std::map<std::string, std::string> Controller::PreviousVersions(const Push& p) const {
  std::map<std::string, std::string> out;
  auto name = ParseArtifactId(p.rec.artifact);
  if (!name.ok()) return out;
  const std::string prefix = name->first + "@";
  for (const auto& row : p.rec.hosts) {
    if (row.state != kStateInstalled) continue;
    int64_t best = 0;
    for (auto a = artifact_pushes_.lower_bound(prefix); a != artifact_pushes_.end() && a->first.rfind(prefix, 0) == 0;
         ++a)
      for (int64_t id : a->second) {
        if (id >= p.rec.id || id <= best || a->first == p.rec.artifact) continue;
        const Push& older = pushes_.at(id);
        auto r = older.index.find(row.host);
        if (r == older.index.end() || older.rec.hosts[r->second].state != kStateInstalled) continue;
        best = id;
        out[row.host] = a->first.substr(prefix.size());
      }
  }
  return out;
}

Result<PushProgress> Controller::Rollback(const RollbackRequest& req) {
  const std::string prefix = req.name + "@";
  // Versions of the name in push order, newest last, that installed somewhere.
  std::vector<std::pair<int64_t, std::string>> installed;
  for (auto a = artifact_pushes_.lower_bound(prefix); a != artifact_pushes_.end() && a->first.rfind(prefix, 0) == 0; ++a)
    for (int64_t id : a->second)
      if (pushes_.at(id).installed > 0) installed.emplace_back(id, a->first.substr(prefix.size()));
  std::sort(installed.begin(), installed.end());
  std::string to = req.to;
  if (to.empty()) {
    if (installed.empty()) return Status::NotFound("no push ever installed " + req.name + " anywhere: nothing to roll back");
    const std::string newest = installed.back().second;
    for (auto it = installed.rbegin(); it != installed.rend() && to.empty(); ++it)
      if (it->second != newest) to = it->second;
    if (to.empty())
      return Status::NotFound("only " + req.name + "@" + newest + " was ever installed: no earlier version to roll back to; name one with --to");
  }
  if (!artifacts_.count(prefix + to))
    return Status::NotFound("unknown artifact " + prefix + to + ": not registered");
  // Hosts that run some version of the name: a rollback does not install it on new hosts.
  std::set<std::string> runs;
  for (const auto& [id, version] : installed) {
    const Push& p = pushes_.at(id);
    for (const auto& row : p.rec.hosts)
      if (row.state == kStateInstalled) runs.insert(row.host);
  }
  PushRequest r;
  r.artifact = prefix + to;
  for (const auto& h : runs)
    if (fnmatch(req.hosts_glob.c_str(), h.c_str(), 0) == 0) r.hosts.push_back(h);
  if (r.hosts.empty())
    return Status::Invalid("no host that runs " + req.name + " matches '" + req.hosts_glob + "'");
  r.waves = req.waves;
  r.wave_pause_ms = req.wave_pause_ms;
  r.max_failures = req.max_failures;
  r.started_by = req.started_by;
  return CreatePush(r, "rollback");
}

Result<ReportsAnswer> Controller::Reports(const std::string& host, const std::vector<HostReport>& reports) {
  auto hit = hosts_.find(host);
  if (hit == hosts_.end()) return Status::Forbidden("host " + host + " has not checked in");
  Host& h = hit->second;
  const int64_t now = Now();
  Seen(h, now);

  ReportsAnswer answer;
  std::set<int64_t> downloading;  // pushes whose row is downloading after this batch: they may have a role
  std::set<int64_t> touched;
  auto refuse = [&](int64_t push_id, std::string why) {
    ++refused_["report_entry"];
    spdlog::warn("push {}: refused report from {} ({}): {}", push_id, host, h.rec.addr, why);
    answer.refused.push_back(ReportRefusal{push_id, std::move(why)});
  };
  for (const auto& r : reports) {
    auto pit = pushes_.find(r.push_id);
    if (pit == pushes_.end() && store_->shared()) {
      // Created elsewhere a moment ago, its notice not yet followed.
      auto loaded = store_->LoadPush(r.push_id, nullptr);
      if (loaded.ok() && *loaded) ApplyPush(std::move(**loaded));
      pit = pushes_.find(r.push_id);
    }
    if (pit == pushes_.end()) {
      refuse(r.push_id, "unknown push " + std::to_string(r.push_id));
      continue;
    }
    Push& p = pit->second;
    auto hp = p.index.find(host);
    if (hp == p.index.end()) {
      refuse(r.push_id, "host " + host + " is not a target of push " + std::to_string(r.push_id));
      continue;
    }
    HostProgress& row = p.rec.hosts[hp->second];
    ++reports_taken_;  // taken, even when its state is kept
    const std::string before = row.state;
    if (!MovesForward(before, r.state)) {
      // A late or replayed report; the outcome already stands.
      ++reports_backward_;
      spdlog::info("push {}: {} reported {} while {}; states only move forward, state kept", p.rec.id, host, r.state,
                   before);
      if (TerminalState(before)) continue;
    }
    const PushStatus before_push = p.status();
    if (MovesForward(before, r.state)) p.SetState(hp->second, r.state);
    if (r.bytes_done != row.bytes_done || row.state != before) row.progress_at = now;
    row.bytes_done = r.bytes_done;
    if (r.total) row.total = r.total;
    row.rate = r.rate;
    row.peers = r.peers;
    row.tries = r.tries;
    row.error = r.error;
    row.updated_at = now;
    if (before != row.state) {
      if (row.state == kStateFailed)
        spdlog::warn("push {}: {} {} -> failed: {}", p.rec.id, host, before, row.error);
      else
        spdlog::info("push {}: {} {} -> {}", p.rec.id, host, before, row.state);
    }
    if (TerminalState(row.state) && before != row.state) {
      outcomes_.emplace_back(p.rec.id, hp->second);  // written by WriteOutcomes before the answer goes out
      p.dirty.erase(hp->second);
    } else {
      p.dirty.insert(hp->second);
      dirty_pushes_.insert(p.rec.id);
    }
    if (row.state == kStateDownloading) downloading.insert(p.rec.id);
    touched.insert(p.rec.id);
    LogStatusChange(p, before_push);
  }
  for (int64_t id : touched) AdvanceWaves(pushes_.at(id));
  answer.generation = hosts_.at(host).generation;  // after the waves above, which may change it
  for (int64_t id : downloading) {
    const Push& p = pushes_.at(id);
    auto a = artifacts_.find(p.rec.artifact);
    if (a == artifacts_.end()) continue;
    if (auto share = swarms_.GatewayOf(a->second.manifest.info_hash, h.rec.addr))
      answer.gateways.push_back(GatewayRole{id, share->slot, share->slots});
  }
  return answer;
}

bool Controller::Active(const std::string& artifact) const {
  auto it = artifact_pushes_.find(artifact);
  if (it == artifact_pushes_.end()) return false;
  for (int64_t id : it->second) {
    const Push& p = pushes_.at(id);
    if (p.open() && !p.rec.plan.cancelled) return true;
  }
  return false;
}

bool Controller::Targeted(const std::string& artifact, const std::string& addr) const {
  auto it = artifact_pushes_.find(artifact);
  if (it == artifact_pushes_.end()) return false;
  for (int64_t id : it->second) {
    const Push& p = pushes_.at(id);
    if (p.open() && p.Targets(addr)) return true;
  }
  return false;
}

int Controller::RackTargets(const std::string& artifact, const std::string& location) const {
  auto it = artifact_pushes_.find(artifact);
  if (it == artifact_pushes_.end()) return 0;
  int n = 0;
  for (int64_t id : it->second) {
    const Push& p = pushes_.at(id);
    if (!p.open()) continue;
    auto t = p.rack_targets.find(location);
    if (t != p.rack_targets.end()) n = std::max(n, t->second);
  }
  return n;
}

// One transaction for every outcome reported since the last: 10,000 hosts
// finishing within a second cost a few commits, not 10,000. The rows are
// read as they are now, so a later change to a row (a host moved) is never
// overwritten by an older copy.
Status Controller::WriteOutcomes() {
  if (outcomes_.empty()) return Status::Ok();
  std::vector<std::pair<int64_t, HostProgress>> rows;
  rows.reserve(outcomes_.size());
  for (const auto& [id, i] : outcomes_) {
    auto it = pushes_.find(id);
    if (it != pushes_.end() && i < it->second.rec.hosts.size()) rows.emplace_back(id, it->second.rec.hosts[i]);
  }
  Status s = SavePushHosts(rows);
  if (s.ok()) outcomes_.clear();  // else kept, for the next attempt
  return s;
}

// A host's last_seen is written once it moved kLastSeenWriteMs past the
// stored one: every poll and report would otherwise rewrite the host's row
// each second (10,000 rows a second at 10,000 hosts). A crash loses at most
// that much of "last seen"; the value in memory is always current.
void Controller::Seen(Host& h, int64_t now) {
  h.rec.last_seen = now;
  if (now - h.stored_last_seen >= kLastSeenWriteMs) dirty_hosts_.insert(h.rec.host);
}

Status Controller::Flush(size_t max_rows) {
  Status outcomes = WriteOutcomes();  // first: nothing waits for an outcome longer than a flush
  std::vector<std::pair<int64_t, HostProgress>> rows;
  for (auto pid = dirty_pushes_.begin(); pid != dirty_pushes_.end() && rows.size() < max_rows;) {
    auto it = pushes_.find(*pid);
    if (it != pushes_.end()) {
      std::set<size_t>& dirty = it->second.dirty;
      auto d = dirty.begin();
      for (; d != dirty.end() && rows.size() < max_rows; ++d) rows.emplace_back(*pid, it->second.rec.hosts[*d]);
      dirty.erase(dirty.begin(), d);
      if (!dirty.empty()) break;
    }
    pid = dirty_pushes_.erase(pid);
  }
  std::vector<HostRecord> hrows;
  auto h = dirty_hosts_.begin();
  for (; h != dirty_hosts_.end() && hrows.size() < max_rows; ++h) {
    auto it = hosts_.find(*h);
    if (it == hosts_.end()) continue;
    hrows.push_back(it->second.rec);
    it->second.stored_last_seen = it->second.rec.last_seen;
  }
  dirty_hosts_.erase(dirty_hosts_.begin(), h);
  Status a = SavePushHosts(rows);
  Status b = SaveHosts(hrows);
  return !outcomes.ok() ? outcomes : a.ok() ? b : a;
}

Status Controller::SavePushHosts(const std::vector<std::pair<int64_t, HostProgress>>& rows) {
  if (rows.empty()) return Status::Ok();  // the store opens no transaction for none
  return Write(rows.size(), [&] { return store_->SavePushHosts(rows); });
}

Status Controller::SaveHosts(const std::vector<HostRecord>& rows) {
  if (rows.empty()) return Status::Ok();
  return Write(rows.size(), [&] { return store_->SaveHosts(rows); });
}

const Push* Controller::FindPush(int64_t id) const {
  auto it = pushes_.find(id);
  return it == pushes_.end() ? nullptr : &it->second;
}

const Host* Controller::FindHost(const std::string& host) const {
  auto it = hosts_.find(host);
  return it == hosts_.end() ? nullptr : &it->second;
}

}  // namespace spate::push
