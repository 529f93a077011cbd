// Hosts: check-in, the address binding, and what each host is assigned.
//
// A host id belongs to the address it first checked in from, so nobody else
// can poll its assignments or report its state. With a host secret the host
// also proves its id with its token (push/service.cc); the address stays a
// second check. Enrolment decides which new ids may bind at all.
#include <fnmatch.h>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "push/controller.h"

namespace spate::push {

Status Controller::Refuse(const std::string& kind, const std::string& host, const std::string& from,
                          const std::string& why) {
  return Refuse(kind, host, from, Status::Forbidden(why));
}

Status Controller::Refuse(const std::string& kind, const std::string& host, const std::string& from, Status why) {
  ++refused_[kind];
  spdlog::warn("refused {} for host {} from {}: {}", kind, host, from, why.message());
  return why;
}

Status Controller::CheckHostAddress(const std::string& kind, const std::string& host, const std::string& from) {
  auto it = hosts_.find(host);
  if ((it == hosts_.end() || it->second.rec.addr.empty()) && store_->shared()) {
    // Bound on another control-plane process a moment ago, its notice not yet followed.
    auto stored = store_->LoadHost(host);
    if (stored.ok() && *stored && !(*stored)->addr.empty()) ApplyHost(**stored);
    it = hosts_.find(host);
  }
  if (it == hosts_.end() || it->second.rec.addr.empty()) {
    if (kind != "poll") return Refuse(kind, host, from, "host " + host + " has not checked in; poll its assignments first");
    // The first check-in binds the id for good, so it is the one that must be admitted.
    if (fnmatch(o_.enrol_glob.c_str(), host.c_str(), 0) != 0)
      return Refuse(kind, host, from, "host id " + host + " may not enrol: it does not match '" + o_.enrol_glob + "' (--enrol)");
    if (o_.enrol_rackmap && !rackmap_.Lookup(from).known())
      return Refuse(kind, host, from,
                    "host " + host + " may not enrol from " + from + ": the address is not in the rackmap (--enrol-rackmap)");
    return Status::Ok();
  }
  const std::string& bound = it->second.rec.addr;
  if (bound == from) return Status::Ok();
  return Refuse(kind, host, from,
                "host " + host + " is bound to " + bound + ", not " + from +
                    "; an admin moves it with POST /api/v1/hosts/" + host + "/move");
}

// Points the host and every push row naming it at `addr`, and writes it at
// once: a binding lost to a crash would let the next caller take the host.
Status Controller::Bind(Host& h, const std::string& addr) {
  PointHostAt(h, addr, rackmap_.Lookup(addr).ToString(), /*dirty=*/true);
  h.stored_last_seen = h.rec.last_seen;
  return Write(1, [&] { return store_->BindHost(h.rec); });
}

void Controller::PointHostAt(Host& h, const std::string& addr, const std::string& location, bool dirty) {
  h.rec.addr = addr;
  h.rec.location = location;
  for (auto& [pid, p] : pushes_) {
    auto hp = p.index.find(h.rec.host);
    if (hp == p.index.end()) continue;
    auto& row = p.rec.hosts[hp->second];
    if (row.addr == addr && row.location == location) continue;
    p.MoveRow(hp->second, addr, location);
    if (!dirty) continue;
    p.dirty.insert(hp->second);
    dirty_pushes_.insert(pid);
  }
}

// The caller checked the binding (CheckHostAddress): `addr` is the host's own
// address, or the host has none yet and is bound to it now.
Status Controller::CheckIn(const std::string& host, const std::string& addr) {
  auto [it, fresh] = hosts_.try_emplace(host);
  Host& h = it->second;
  h.rec.host = host;
  std::string location = rackmap_.Lookup(addr).ToString();
  if (fresh || h.rec.addr != addr || h.rec.location != location) {
    bool first = h.rec.addr.empty();
    // Pushes that named this host before it checked in learn where it is.
    Status s = Bind(h, addr);
    if (!s.ok()) return Status::Io("binding host " + host + " to " + addr + ": " + s.message());
    spdlog::info("host {} checked in from {} ({}){}", host, addr, location, first ? ", bound to that address" : "");
  }
  Seen(h, Now());
  return Status::Ok();
}

Result<nlohmann::json> Controller::MoveHost(const std::string& host, const std::string& addr) {
  auto it = hosts_.find(host);
  if (it == hosts_.end()) return Status::NotFound("unknown host " + host);
  std::string before = it->second.rec.addr;
  Status s = Bind(it->second, addr);
  if (!s.ok()) return s;
  spdlog::warn("host {} moved from {} to {} ({}) by an admin", host, before.empty() ? "nowhere" : before, addr,
               it->second.rec.location);
  return nlohmann::json{{"ok", true}, {"host", host}, {"addr", addr}, {"location", it->second.rec.location}};
}

int64_t Controller::Generation(const std::string& host) const {
  auto it = hosts_.find(host);
  return it == hosts_.end() ? 0 : it->second.generation;
}

AssignmentList Controller::AssignmentsFor(const std::string& host) const {
  return std::move(AssignmentsFor(std::vector<std::string>{host}).front());
}

std::vector<AssignmentList> Controller::AssignmentsFor(const std::vector<std::string>& hosts) const {
  std::vector<AssignmentList> lists(hosts.size());
  // An assignment not signed before: where it goes in `lists`, and its slot
  // in its host's signature cache (Host::signed_last), filled once signed.
  struct Unsigned {
    size_t list, item;
    const Host* host;
    size_t slot;
  };
  std::vector<Unsigned> to_sign;
  std::vector<std::string> to_sign_bytes;
  for (size_t i = 0; i < hosts.size(); ++i) {
    auto hit = hosts_.find(hosts[i]);
    if (hit == hosts_.end()) continue;
    const std::string& host = hosts[i];
    const Host& h = hit->second;
    AssignmentList& out = lists[i];
    out.generation = h.generation;
    bool active = false;
    std::vector<Host::Signed> signed_now;
    for (const auto& [name, id] : h.latest) {
      auto p = pushes_.find(id);
      if (p == pushes_.end()) continue;
      auto a = artifacts_.find(p->second.rec.artifact);
      if (a == artifacts_.end()) continue;
      auto row = p->second.index.find(host);
      if (row == p->second.index.end()) continue;
      const HostProgress& hp = p->second.rec.hosts[row->second];
      if (hp.state == kStateCancelled) continue;  // withdrawn: the host stops and keeps what it staged
      active = active || p->second.open();
      Assignment asg{id, a->second.manifest, a->second.torrent};
      asg.activate = hp.wave <= p->second.rec.plan.wave;
      asg.kind = p->second.rec.plan.kind;
      // Signed per host and per answer: activate changes as waves advance, and
      // the host id in the bytes keeps one host's assignment from being handed to another.
      if (o_.sign) {
        std::string bytes = AssignmentSigningBytes(asg, host);
        auto same = std::find_if(h.signed_last.begin(), h.signed_last.end(),
                                 [&](const Host::Signed& s) { return s.bytes == bytes && !s.sig.signature.empty(); });
        if (same != h.signed_last.end()) {
          asg.signature = same->sig.signature;
          asg.proof = same->sig.proof;
        } else {
          to_sign.push_back({i, out.assignments.size(), &h, signed_now.size()});
          to_sign_bytes.push_back(bytes);
        }
        signed_now.push_back({std::move(bytes), {asg.signature, asg.proof}});
      }
      out.assignments.push_back(std::move(asg));
    }
    h.signed_last = std::move(signed_now);
    out.announce_interval = active ? o_.announce_interval_s : o_.idle_announce_interval_s;
    const Location& loc = rackmap_.Lookup(h.rec.addr);
    auto cached = rack_ranges_.find(&loc);
    if (cached == rack_ranges_.end()) cached = rack_ranges_.emplace(&loc, rackmap_.RangesOf(loc)).first;
    out.rack_ranges = cached->second;
  }
  std::vector<AssignmentSignature> sigs =
      SignAssignments(to_sign_bytes, [this](const std::string& b) { return o_.sign(b); });
  for (size_t k = 0; k < to_sign.size(); ++k) {
    Assignment& asg = lists[to_sign[k].list].assignments[to_sign[k].item];
    asg.signature = sigs[k].signature;
    asg.proof = sigs[k].proof;
    to_sign[k].host->signed_last[to_sign[k].slot].sig = std::move(sigs[k]);
  }
  return lists;
}

}  // namespace spate::push
