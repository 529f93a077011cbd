// Following the other control-plane processes that share the database
// (PostgreSQL): what they wrote is read back and taken into memory, so a push
// created on one is served by all, and a host's long poll on any of them
// wakes when its assignment changes.
//
// The database is the truth; this process's memory may only be ahead of it
// where it holds progress not yet flushed. An outcome in the database stands.
#include <spdlog/spdlog.h>

#include "push/controller.h"
#include "push/host_state.h"

namespace spate::push {

Status Controller::FollowChanges() {
  auto changes = store_->Changes();
  if (!changes.ok()) return changes.status();
  if (changes->empty()) return Status::Ok();
  // Notices naming the same push are read back together.
  std::set<std::string> artifacts, hosts;
  std::set<int64_t> whole, plans;
  std::map<int64_t, std::set<std::string>> rows;
  for (const auto& c : *changes) {
    switch (c.kind) {
      case StoreChange::Kind::kAll:
        spdlog::warn("reconnected to the database: reading all push state back");
        return FollowAll();
      case StoreChange::Kind::kArtifact: artifacts.insert(c.names.begin(), c.names.end()); break;
      case StoreChange::Kind::kHosts: hosts.insert(c.names.begin(), c.names.end()); break;
      case StoreChange::Kind::kPush: whole.insert(c.push_id); break;
      case StoreChange::Kind::kPlan: plans.insert(c.push_id); break;
      case StoreChange::Kind::kRows: rows[c.push_id].insert(c.names.begin(), c.names.end()); break;
    }
  }
  // A push this process has not seen yet is read whole, whatever the notice named.
  for (int64_t id : plans)
    if (!pushes_.count(id)) whole.insert(id);
  for (const auto& [id, r] : rows)
    if (!pushes_.count(id)) whole.insert(id);

  Status first = Status::Ok();
  auto note = [&](const Status& s) {
    if (!s.ok() && first.ok()) first = s;
  };
  for (const auto& id : artifacts) {
    auto a = store_->LoadArtifact(id);
    if (!a.ok())
      note(a.status());
    else if (*a)
      ApplyArtifact(std::move(**a));
  }
  for (const auto& name : hosts) {
    auto h = store_->LoadHost(name);
    if (!h.ok())
      note(h.status());
    else if (*h)
      ApplyHost(**h);
  }
  for (int64_t id : whole) {
    auto p = store_->LoadPush(id, nullptr);
    if (!p.ok())
      note(p.status());
    else if (*p)
      ApplyPush(std::move(**p));
  }
  const std::vector<std::string> none;
  for (int64_t id : plans) {
    if (whole.count(id) || rows.count(id)) continue;  // read below or above with its plan
    auto p = store_->LoadPush(id, &none);
    if (!p.ok())
      note(p.status());
    else if (*p)
      ApplyPush(std::move(**p));
  }
  for (const auto& [id, names] : rows) {
    if (whole.count(id)) continue;
    std::vector<std::string> list(names.begin(), names.end());
    auto p = store_->LoadPush(id, &list);
    if (!p.ok())
      note(p.status());
    else if (*p)
      ApplyPush(std::move(**p));
  }
  return first;
}

Status Controller::FollowAll() {
  auto snap = store_->Load();
  if (!snap.ok()) return snap.status();
  for (auto& a : snap->artifacts) ApplyArtifact(std::move(a));
  for (const auto& h : snap->hosts) ApplyHost(h);
  for (auto& p : snap->pushes) ApplyPush(std::move(p));
  return Status::Ok();
}

void Controller::ApplyArtifact(ArtifactRecord a) {
  const std::string id = a.manifest.id();
  auto it = artifacts_.find(id);
  if (it != artifacts_.end() && it->second.manifest.info_hash == a.manifest.info_hash && it->second.origin == a.origin)
    return;
  Status s = swarms_.Serve(id, a.manifest.info_hash, a.manifest.size, a.origin);
  if (!s.ok()) spdlog::warn("artifact {} registered elsewhere: {}", id, s.message());
  spdlog::info("artifact {} registered on another control-plane process (info_hash {})", id, a.manifest.info_hash);
  artifacts_[id] = std::move(a);
}

void Controller::ApplyHost(const HostRecord& rec) {
  auto [it, fresh] = hosts_.try_emplace(rec.host);
  Host& h = it->second;
  h.rec.host = rec.host;
  h.rec.last_seen = std::max(h.rec.last_seen, rec.last_seen);
  if (!fresh && h.rec.addr == rec.addr && h.rec.location == rec.location) return;
  // The binding process writes the moved rows; here they only move in memory.
  PointHostAt(h, rec.addr, rec.location, /*dirty=*/false);
  spdlog::info("host {} bound to {} ({}) on another control-plane process", rec.host, rec.addr, rec.location);
}

void Controller::ApplyPush(PushRecord rec) {
  auto it = pushes_.find(rec.id);
  if (it == pushes_.end()) return AddPush(std::move(rec));
  Push& p = it->second;
  const PushStatus before = p.status();
  SetPlan(p, rec.plan);
  for (const auto& row : rec.hosts) ApplyRow(p, row);
  LogStatusChange(p, before);
}

// A push another process created: indexed and targeted as Load does.
void Controller::AddPush(PushRecord rec) {
  Push fresh;
  fresh.rec = std::move(rec);
  fresh.Index();
  const int64_t id = fresh.rec.id;
  Push& p = pushes_[id] = std::move(fresh);
  artifact_pushes_[p.rec.artifact].push_back(id);
  for (const auto& hp : p.rec.hosts) TargetHost(p, hp.host);
  // Rows it replaced end superseded, as on the process that created it; and
  // its own rows end so where a newer push of the name, created elsewhere at
  // the same time, came first. Written too: the same outcome, so idempotent.
  std::vector<std::pair<int64_t, HostProgress>> superseded;
  auto name = ParseArtifactId(p.rec.artifact);
  for (size_t i = 0; i < p.rec.hosts.size(); ++i) {
    const std::string host = p.rec.hosts[i].host;
    Supersede(host, p.rec.artifact, id, &superseded);
    Host& h = hosts_[host];
    if (name.ok()) {
      auto newest = h.latest.find(name->first);
      if (newest != h.latest.end() && newest->second > id)
        SupersedeRow(p, i, newest->second, pushes_[newest->second].rec.artifact, &superseded);
    }
    Recompute(h);
  }
  spdlog::info("{} {}: {} to {} hosts, created on another control-plane process", p.rec.plan.kind, id, p.rec.artifact,
               p.rec.hosts.size());
  Status s = store_->SavePushHosts(superseded);
  if (!s.ok()) spdlog::error("push {}: storing superseded rows: {}", id, s.message());
}

void Controller::ApplyRow(Push& p, const HostProgress& row) {
  auto idx = p.index.find(row.host);
  if (idx == p.index.end()) return;  // a push's hosts are fixed when it is created
  const size_t i = idx->second;
  HostProgress& cur = p.rec.hosts[i];
  if (!TerminalState(row.state)) {
    // This process's own outcome, or progress it has not flushed yet, is newer than what it reads.
    if (TerminalState(cur.state) || p.dirty.count(i)) return;
    if (cur.state != row.state && MovesForward(row.state, cur.state)) return;
  }
  if (row.addr != cur.addr || row.location != cur.location) p.MoveRow(i, row.addr, row.location);
  const bool state_changed = cur.state != row.state;
  if (state_changed) p.SetState(i, row.state);
  cur.bytes_done = row.bytes_done;
  cur.total = row.total;
  cur.rate = row.rate;
  cur.error = row.error;
  cur.updated_at = row.updated_at;
  cur.peers = row.peers;
  cur.tries = row.tries;
  cur.progress_at = row.progress_at;
  p.dirty.erase(i);
  if (!state_changed) return;
  auto h = hosts_.find(row.host);
  if (h != hosts_.end()) Recompute(h->second);
}

}  // namespace spate::push
