// The JSON control API (wire/api.h): artifacts, pushes, host check-ins and reports.
#include <fnmatch.h>

#include <algorithm>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include "tracker/host_state.h"
#include "tracker/tracker_impl.h"
#include "wire/crypto.h"

namespace spate {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

http::Response Ok() { return http::Response::Json(200, "{\"ok\":true}\n"); }
http::Response Err(const Status& s) { return http::Response::Error(s); }

// Query parameter `key` or "" (first occurrence).
std::string Param(const std::vector<std::pair<std::string, std::string>>& q, const std::string& key) {
  for (const auto& [k, v] : q)
    if (k == key) return v;
  return "";
}

Result<int64_t> ParseInt(const std::string& what, const std::string& v) {
  if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789-") != std::string::npos ||
      v.find('-', 1) != std::string::npos || v == "-")
    return Status::Invalid(what + " must be an integer, got '" + v + "'");
  return int64_t(std::stoll(v));
}

}  // namespace

void PushState::Index() {
  index.clear();
  by_addr.clear();
  rack_targets.clear();
  installed = failed = superseded = 0;
  for (size_t i = 0; i < rec.hosts.size(); ++i) {
    const HostProgress& h = rec.hosts[i];
    index[h.host] = i;
    if (!h.addr.empty()) by_addr.emplace(h.addr, i);
    ++rack_targets[h.location];
    installed += h.state == kStateInstalled;
    failed += h.state == kStateFailed;
    superseded += h.state == kStateSuperseded;
  }
}

void PushState::SetState(size_t i, const std::string& state) {
  std::string& cur = rec.hosts[i].state;
  installed += int(state == kStateInstalled) - int(cur == kStateInstalled);
  failed += int(state == kStateFailed) - int(cur == kStateFailed);
  superseded += int(state == kStateSuperseded) - int(cur == kStateSuperseded);
  cur = state;
}

void PushState::MoveRow(size_t i, const std::string& addr, const std::string& location) {
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

bool PushState::Targets(const std::string& addr) const {
  auto range = by_addr.equal_range(addr);
  for (auto it = range.first; it != range.second; ++it)
    if (!TerminalState(rec.hosts[it->second].state)) return true;
  return false;
}

// A push whose rows all ended is judged by the worst of them: a failure, then
// a host where a newer push replaced it (this version did not land there).
std::string PushState::State() const {
  if (active()) return "active";
  if (failed > 0) return "failed";
  if (superseded > 0) return kStateSuperseded;
  return "succeeded";
}

bool TrackerPushFacts::Active(const std::string& artifact) const { return t_.ArtifactActive(artifact); }

bool TrackerPushFacts::Targeted(const std::string& artifact, const PeerAddress& addr) const {
  auto it = t_.artifact_pushes.find(artifact);
  if (it == t_.artifact_pushes.end()) return false;
  std::string text = addr.ToString();
  for (int64_t id : it->second) {
    auto p = t_.pushes.find(id);
    if (p != t_.pushes.end() && p->second.active() && p->second.Targets(text)) return true;
  }
  return false;
}

Status Tracker::Impl::CheckAdmin(const http::Request& req) const {
  std::string token = req.bearer_token();
  if (token.empty()) return Status::Unauthorized("admin token required (Authorization: Bearer TOKEN)");
  const std::string& want = config.admin_token;
  if (token.size() != want.size() || CRYPTO_memcmp(token.data(), want.data(), want.size()) != 0)
    return Status::Unauthorized("wrong admin token");
  return Status::Ok();
}

Status Tracker::Impl::Load() {
  auto snap = store->Load();
  if (!snap.ok()) return snap.status();
  for (auto& a : snap->artifacts) {
    AddSwarm(a);
    artifacts[a.manifest.id()] = std::move(a);
  }
  for (auto& h : snap->hosts) {
    HostState hs;
    hs.rec = std::move(h);
    hosts[hs.rec.host] = std::move(hs);
  }
  for (auto& r : snap->pushes) {
    PushState p;
    p.rec = std::move(r);
    p.Index();
    int64_t id = p.rec.id;
    artifact_pushes[p.rec.artifact].push_back(id);
    auto& stored = pushes[id] = std::move(p);
    for (const auto& hp : stored.rec.hosts) TargetHost(stored, hp.host);
  }
  // Rows a newer push of the same name replaced end as superseded (also in
  // databases written before that rule). TargetHost above recorded each
  // host's newest push per name, so this is one pass over the rows.
  std::vector<std::pair<int64_t, HostProgress>> superseded;
  for (auto& [id, p] : pushes) {
    auto name = ParseArtifactId(p.rec.artifact);
    if (!name.ok()) continue;
    for (size_t i = 0; i < p.rec.hosts.size(); ++i) {
      const HostState& h = hosts[p.rec.hosts[i].host];
      auto newest = h.latest.find(name->first);
      if (newest == h.latest.end() || newest->second <= id) continue;
      SupersedeRow(p, i, newest->second, pushes[newest->second].rec.artifact, &superseded);
    }
  }
  Status saved = store->SavePushHosts(superseded);
  if (!saved.ok()) return saved;
  spdlog::info("loaded {} artifacts, {} pushes, {} hosts from {}", artifacts.size(), pushes.size(), hosts.size(),
               config.db_path);
  return Status::Ok();
}

void Tracker::Impl::AddSwarm(const ArtifactRecord& a) {
  auto raw = HexDecode(a.manifest.info_hash);
  if (!raw.ok()) return;  // ManifestFromJson already guarantees 40 hex digits
  SwarmState& sw = swarms[*raw];
  sw.artifact = a.manifest.id();
  sw.info_hash = *raw;
  sw.registered = true;  // may already exist through the whitelist: keeps its peers
  sw.size = a.manifest.size;
  sw.origin_ip = a.origin;
  sw.ApplyOrigin();
}

// Records that push `p` targets `host`: the host's newest push for that
// artifact name becomes p, and its generation moves to p's id.
void Tracker::Impl::TargetHost(PushState& p, const std::string& host) {
  auto [it, fresh] = hosts.try_emplace(host);
  if (fresh) it->second.rec.host = host;  // named explicitly before it ever checked in
  HostState& h = it->second;
  auto name = ParseArtifactId(p.rec.artifact);
  if (!name.ok()) return;
  int64_t& latest = h.latest[name->first];
  latest = std::max(latest, p.rec.id);
  h.generation = std::max(h.generation, p.rec.id);
}

// A host runs only its newest push of an artifact name (AssignmentsFor hands
// out no other), so its unfinished rows in older pushes of that name would
// stay pending forever and keep those pushes active. They end here, as
// superseded; `rows` collects them for writing.
void Tracker::Impl::Supersede(const std::string& host, const std::string& artifact, int64_t newer,
                              std::vector<std::pair<int64_t, HostProgress>>* rows) {
  auto name = ParseArtifactId(artifact);
  if (!name.ok()) return;
  const std::string prefix = name->first + "@";
  for (auto a = artifact_pushes.lower_bound(prefix); a != artifact_pushes.end() && a->first.rfind(prefix, 0) == 0; ++a)
    for (int64_t id : a->second) {
      auto pit = pushes.find(id);
      if (id >= newer || pit == pushes.end()) continue;
      auto hp = pit->second.index.find(host);
      if (hp != pit->second.index.end()) SupersedeRow(pit->second, hp->second, newer, artifact, rows);
    }
}

void Tracker::Impl::SupersedeRow(PushState& p, size_t i, int64_t newer, const std::string& artifact,
                                 std::vector<std::pair<int64_t, HostProgress>>* rows) {
  HostProgress& row = p.rec.hosts[i];
  if (TerminalState(row.state)) return;
  std::string before_push = p.State();
  std::string before = row.state;
  p.SetState(i, kStateSuperseded);
  row.error = "superseded by push " + std::to_string(newer) + " (" + artifact + ")";
  row.rate = 0;
  row.updated_at = NowMs();
  p.dirty.erase(i);
  rows->emplace_back(p.rec.id, row);
  spdlog::info("push {}: {} {} -> superseded by push {} ({})", p.rec.id, row.host, before, newer, artifact);
  if (p.State() != before_push)
    spdlog::info("push {} ({}): {} ({} installed, {} failed, {} superseded of {})", p.rec.id, p.rec.artifact, p.State(),
                 p.installed, p.failed, p.superseded, p.rec.hosts.size());
}

http::Response Tracker::Impl::RegisterArtifact(const http::Request& req) {
  Status auth = CheckAdmin(req);
  if (!auth.ok()) return Err(auth);
  auto j = ParseJson(req.body);
  if (!j.ok()) return Err(j.status());
  auto reg = RegistrationFromJson(*j);
  if (!reg.ok()) return Err(reg.status());
  const Manifest& m = reg->manifest;
  if (!reg->origin.empty()) {
    boost::system::error_code ec;
    asio::ip::make_address(reg->origin, ec);
    if (ec) return Err(Status::Invalid("origin '" + reg->origin + "' is not an IP address"));
  }
  auto existing = artifacts.find(m.id());
  if (existing != artifacts.end() && existing->second.manifest.info_hash != m.info_hash)
    return Err(Status::Conflict("artifact " + m.id() + " is already registered with info_hash " +
                                existing->second.manifest.info_hash + "; versions are immutable"));
  auto raw = HexDecode(m.info_hash);
  if (!raw.ok()) return Err(raw.status());
  auto sw = swarms.find(*raw);
  if (sw != swarms.end() && sw->second.registered && sw->second.artifact != m.id())
    return Err(Status::Conflict("info_hash " + m.info_hash + " is already registered as " + sw->second.artifact));

  ArtifactRecord rec{m, reg->torrent, reg->origin, NowMs()};
  Status s = store->PutArtifact(rec);
  if (!s.ok()) return Err(s);
  bool again = existing != artifacts.end();
  AddSwarm(rec);
  artifacts[m.id()] = std::move(rec);
  spdlog::info("{} artifact {} ({} bytes, info_hash {}, origin {})", again ? "re-registered" : "registered", m.id(),
               m.size, m.info_hash, reg->origin.empty() ? "none" : reg->origin);
  return Ok();
}

http::Response Tracker::Impl::CreatePush(const http::Request& req) {
  Status auth = CheckAdmin(req);
  if (!auth.ok()) return Err(auth);
  auto j = ParseJson(req.body);
  if (!j.ok()) return Err(j.status());
  auto pr = PushRequestFromJson(*j);
  if (!pr.ok()) return Err(pr.status());
  auto art = artifacts.find(pr->artifact);
  if (art == artifacts.end()) {
    std::string known;
    int n = 0;
    for (auto it = artifacts.rbegin(); it != artifacts.rend() && n < 20; ++it, ++n)
      known += (known.empty() ? "" : ", ") + it->first;
    if (artifacts.size() > 20) known += ", ...";
    return Err(Status::NotFound("unknown artifact " + pr->artifact + ": not registered; registered: " +
                                (known.empty() ? "none" : known)));
  }

  std::vector<std::string> targets;
  if (!pr->hosts.empty()) {
    std::set<std::string> seen;
    for (const auto& h : pr->hosts) {
      Status s = CheckName("host", h);
      if (!s.ok()) return Err(s);
      if (seen.insert(h).second) targets.push_back(h);
    }
  } else {
    for (const auto& [id, h] : hosts)
      if (!h.rec.addr.empty() && fnmatch(pr->hosts_glob.c_str(), id.c_str(), 0) == 0) targets.push_back(id);
    if (targets.empty())
      return Err(Status::Invalid("no checked-in host matches hosts_glob '" + pr->hosts_glob + "' (" +
                                 std::to_string(hosts.size()) + " hosts known; see GET /api/v1/hosts)"));
  }

  int64_t now = NowMs();
  std::vector<HostProgress> rows;
  for (const auto& t : targets) {
    HostProgress hp;
    hp.host = t;
    auto it = hosts.find(t);
    if (it != hosts.end()) {
      hp.addr = it->second.rec.addr;
      hp.location = it->second.rec.location;
    }
    if (hp.location.empty()) hp.location = "unknown";
    hp.total = art->second.manifest.size;
    hp.updated_at = now;
    rows.push_back(hp);
  }
  auto id = store->CreatePush(pr->artifact, now, rows);
  if (!id.ok()) return Err(id.status());

  PushState p;
  p.rec = PushRecord{*id, pr->artifact, now, std::move(rows)};
  p.Index();
  auto& stored = pushes[*id] = std::move(p);
  artifact_pushes[pr->artifact].push_back(*id);
  spdlog::info("push {}: {} to {} hosts", *id, pr->artifact, targets.size());
  std::vector<std::pair<int64_t, HostProgress>> superseded;
  for (const auto& t : targets) {
    TargetHost(stored, t);
    Supersede(t, pr->artifact, *id, &superseded);
    WakeHost(hosts[t]);
  }
  Status s = store->SavePushHosts(superseded);  // outcomes are written at once, like reported ones
  if (!s.ok()) spdlog::error("push {}: storing superseded rows: {}", *id, s.message());
  return http::Response::Json(200, ToJson(Progress(stored)).dump() + "\n");
}

PushProgress Tracker::Impl::Progress(const PushState& p) const {
  PushProgress out;
  out.id = p.rec.id;
  out.artifact = p.rec.artifact;
  auto art = artifacts.find(p.rec.artifact);
  if (art != artifacts.end()) out.size = art->second.manifest.size;
  out.state = p.State();
  out.created_at = p.rec.created_at;
  out.hosts = p.rec.hosts;
  return out;
}

namespace {

// When the last host finished (unix ms), 0 while the push is active.
int64_t FinishedAt(const PushState& p) {
  if (p.active()) return 0;
  int64_t last = p.rec.created_at;
  for (const auto& h : p.rec.hosts) last = std::max(last, h.updated_at);
  return last;
}

}  // namespace

http::Response Tracker::Impl::GetPush(const std::string& id_text, const http::Request& req) {
  auto id = ParseInt("push id", id_text);
  if (!id.ok()) return Err(id.status());
  auto it = pushes.find(*id);
  if (it == pushes.end()) return Err(Status::NotFound("unknown push " + id_text));
  auto q = http::ParseQuery(req.query);
  if (!q.ok()) return Err(q.status());
  int64_t since = 0;
  if (std::string v = Param(*q, "since"); !v.empty()) {
    auto parsed = ParseInt("since", v);
    if (!parsed.ok()) return Err(parsed.status());
    since = *parsed;
  }
  // A watcher passes back the previous answer's "now" and gets only the rows
  // that changed since: a 5,000-host push stays light once a second.
  int64_t now = NowMs();
  PushProgress p = Progress(it->second);
  if (since > 0)
    p.hosts.erase(std::remove_if(p.hosts.begin(), p.hosts.end(),
                                 [&](const HostProgress& h) { return h.updated_at < since; }),
                  p.hosts.end());
  json j = ToJson(p);
  j["now"] = now;
  j["finished_at"] = FinishedAt(it->second);
  j["hosts_total"] = it->second.rec.hosts.size();
  return http::Response::Json(200, j.dump() + "\n");
}

http::Response Tracker::Impl::ListPushes(const http::Request& req) const {
  auto q = http::ParseQuery(req.query);
  if (!q.ok()) return Err(q.status());
  int64_t limit = 50;
  if (std::string v = Param(*q, "limit"); !v.empty()) {
    auto parsed = ParseInt("limit", v);
    if (!parsed.ok()) return Err(parsed.status());
    limit = std::clamp<int64_t>(*parsed, 1, 1000);
  }
  json list = json::array();
  for (auto it = pushes.rbegin(); it != pushes.rend() && int64_t(list.size()) < limit; ++it) {
    const PushState& p = it->second;
    int n = int(p.rec.hosts.size());
    list.push_back({{"id", p.rec.id},
                    {"artifact", p.rec.artifact},
                    {"state", p.State()},
                    {"created_at", p.rec.created_at},
                    {"finished_at", FinishedAt(p)},
                    {"hosts", n},
                    {"installed", p.installed},
                    {"failed", p.failed},
                    {"superseded", p.superseded},
                    {"pending", n - p.installed - p.failed - p.superseded}});
  }
  return http::Response::Json(200, json{{"pushes", list}}.dump() + "\n");
}

http::Response Tracker::Impl::Fleet() const {
  // What each host runs: per artifact name, the version of its newest push
  // installed there (push ids grow, so a later install overrides).
  std::map<std::string, std::map<std::string, std::string>> versions;
  for (const auto& [id, p] : pushes) {
    auto nv = ParseArtifactId(p.rec.artifact);
    if (!nv.ok()) continue;
    for (const auto& h : p.rec.hosts)
      if (h.state == kStateInstalled) versions[h.host][nv->first] = nv->second;
  }
  json list = json::array();
  for (const auto& [name, h] : hosts) {
    json v = json::object();
    auto it = versions.find(name);
    if (it != versions.end())
      for (const auto& [artifact, version] : it->second) v[artifact] = version;
    list.push_back({{"host", name},
                    {"addr", h.rec.addr},
                    {"location", h.rec.location.empty() ? "unknown" : h.rec.location},
                    {"last_seen", h.rec.last_seen},
                    {"versions", v}});
  }
  return http::Response::Json(200, json{{"hosts", list}}.dump() + "\n");
}

http::Response Tracker::Impl::ListHosts() const {
  json list = json::array();
  for (const auto& [id, h] : hosts)
    list.push_back({{"host", id},
                    {"addr", h.rec.addr},
                    {"location", h.rec.location.empty() ? "unknown" : h.rec.location},
                    {"last_seen", h.rec.last_seen}});
  return http::Response::Json(200, json{{"hosts", list}}.dump() + "\n");
}

http::Response Tracker::Impl::ListArtifacts() const {
  json list = json::array();
  for (const auto& [id, a] : artifacts) list.push_back(ToJson(a.manifest));
  return http::Response::Json(200, json{{"artifacts", list}}.dump() + "\n");
}

// The caller checked the binding (CheckHostAddress): `addr` is the host's own
// address, or the host has none yet and is bound to it now.
Result<HostState*> Tracker::Impl::CheckIn(const std::string& host, const std::string& addr) {
  auto [it, fresh] = hosts.try_emplace(host);
  HostState& h = it->second;
  h.rec.host = host;
  std::string location = rackmap.Lookup(addr).ToString();
  if (fresh || h.rec.addr != addr || h.rec.location != location) {
    bool first = h.rec.addr.empty();
    // Pushes that named this host before it checked in learn where it is.
    Status s = Bind(h, addr);
    if (!s.ok()) return Status::Io("binding host " + host + " to " + addr + ": " + s.message());
    spdlog::info("host {} checked in from {} ({}){}", host, addr, location, first ? ", bound to that address" : "");
  }
  h.rec.last_seen = NowMs();
  h.dirty = true;
  dirty_hosts.insert(host);
  return &h;
}

AssignmentList Tracker::Impl::AssignmentsFor(const HostState& h) const {
  AssignmentList out;
  out.generation = h.generation;
  bool active = false;
  for (const auto& [name, id] : h.latest) {
    auto p = pushes.find(id);
    if (p == pushes.end()) continue;
    auto a = artifacts.find(p->second.rec.artifact);
    if (a == artifacts.end()) continue;
    active = active || p->second.active();
    out.assignments.push_back(Assignment{id, a->second.manifest, a->second.torrent});
  }
  out.announce_interval = int((active ? config.announce_interval : config.idle_announce_interval).count());
  const Location& loc = rackmap.Lookup(h.rec.addr);
  auto cached = rack_ranges.find(&loc);
  if (cached == rack_ranges.end()) cached = rack_ranges.emplace(&loc, rackmap.RangesOf(loc)).first;
  out.rack_ranges = cached->second;
  return out;
}

void Tracker::Impl::Assignments(const std::string& host, const http::Request& req, http::Reply reply) {
  auto q = http::ParseQuery(req.query);
  if (!q.ok()) return reply(Err(q.status()));
  // The host is who its connection says, not what its query claims.
  const std::string addr = SourceAddress(req);
  if (std::string claimed = Param(*q, "addr"); !claimed.empty()) {
    boost::system::error_code ec;
    auto c = asio::ip::make_address(claimed, ec);
    if (ec) return reply(Err(Status::Invalid("addr '" + claimed + "' is not an IP address")));
    if (c.is_v6() && c.to_v6().is_v4_mapped()) c = asio::ip::make_address_v4(asio::ip::v4_mapped, c.to_v6());
    if (c.to_string() != addr)
      return reply(Err(Refuse("poll", host, addr, "addr parameter " + claimed + " is not this connection's source " + addr)));
  }
  if (Status s = CheckHostAddress("poll", host, addr); !s.ok()) return reply(Err(s));
  int64_t generation = -1, wait = 0;
  std::string g = Param(*q, "generation"), w = Param(*q, "wait");
  if (!g.empty()) {
    auto v = ParseInt("generation", g);
    if (!v.ok()) return reply(Err(v.status()));
    generation = *v;
  }
  if (!w.empty()) {
    auto v = ParseInt("wait", w);
    if (!v.ok()) return reply(Err(v.status()));
    wait = std::clamp<int64_t>(*v, 0, config.max_wait.count());
  }
  auto checked = CheckIn(host, addr);
  if (!checked.ok()) return reply(Err(checked.status()));
  HostState& h = **checked;
  if (h.generation != generation || wait == 0)
    return reply(http::Response::Json(200, ToJson(AssignmentsFor(h)).dump() + "\n"));

  // Hold the request until WakeHost or the timer answers it, whichever comes first.
  uint64_t wid = next_waiter++;
  auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::seconds(wait));
  h.waiters[wid] = Waiter{std::move(reply), timer};
  timer->async_wait([this, host, wid](boost::system::error_code ec) {
    if (ec) return;  // cancelled: WakeHost already answered
    auto it = hosts.find(host);
    if (it == hosts.end()) return;
    auto w = it->second.waiters.find(wid);
    if (w == it->second.waiters.end()) return;
    http::Reply r = std::move(w->second.reply);
    it->second.waiters.erase(w);
    r(http::Response::Json(200, ToJson(AssignmentsFor(it->second)).dump() + "\n"));
  });
}

void Tracker::Impl::WakeHost(HostState& h) {
  if (h.waiters.empty()) return;
  std::string body = ToJson(AssignmentsFor(h)).dump() + "\n";
  auto waiters = std::move(h.waiters);
  h.waiters.clear();
  for (auto& [id, w] : waiters) {
    w.timer->cancel();
    w.reply(http::Response::Json(200, body));
  }
}

// Each report stands alone: a bad one is refused in the answer, the others
// are applied, so one stale push id cannot cost a host its gateway roles.
http::Response Tracker::Impl::Reports(const std::string& host, const http::Request& req) {
  auto j = ParseJson(req.body);
  if (!j.ok()) return Err(j.status());
  if (!j->is_object() || !j->contains("reports") || !(*j)["reports"].is_array())
    return Err(Status::Invalid("body must be {\"reports\":[...]}"));
  std::vector<HostReport> reports;
  for (const auto& rj : (*j)["reports"]) {
    auto r = HostReportFromJson(rj);
    if (!r.ok()) return Err(Status::Invalid("report: " + r.status().message()));
    reports.push_back(std::move(*r));
  }
  const std::string from = SourceAddress(req);
  if (Status s = CheckHostAddress("report", host, from); !s.ok()) return Err(s);
  HostState& h = hosts.at(host);  // bound, so known
  h.rec.last_seen = NowMs();
  dirty_hosts.insert(host);

  ReportsAnswer answer;
  std::set<int64_t> downloading;  // pushes whose row is downloading after this batch: they may have a role
  auto refuse = [&](int64_t push_id, std::string why) {
    ++control_refused["report_entry"];
    spdlog::warn("push {}: refused report from {} ({}): {}", push_id, host, from, why);
    answer.refused.push_back(ReportRefusal{push_id, std::move(why)});
  };
  std::vector<std::pair<int64_t, HostProgress>> terminal_rows;
  int64_t now = NowMs();
  for (const auto& r : reports) {
    auto pit = pushes.find(r.push_id);
    if (pit == pushes.end()) {
      refuse(r.push_id, "unknown push " + std::to_string(r.push_id));
      continue;
    }
    PushState& p = pit->second;
    auto hp = p.index.find(host);
    if (hp == p.index.end()) {
      refuse(r.push_id, "host " + host + " is not a target of push " + std::to_string(r.push_id));
      continue;
    }
    HostProgress& row = p.rec.hosts[hp->second];
    const std::string before = row.state;
    if (!MovesForward(before, r.state)) {
      // A late or replayed report; the outcome already stands.
      ++reports_backward;
      spdlog::info("push {}: {} reported {} while {}; states only move forward, state kept", p.rec.id, host, r.state,
                   before);
      if (TerminalState(before)) continue;
    }
    std::string before_push = p.State();
    if (MovesForward(before, r.state)) p.SetState(hp->second, r.state);
    row.bytes_done = r.bytes_done;
    if (r.total) row.total = r.total;
    row.rate = r.rate;
    row.error = r.error;
    row.updated_at = now;
    if (before != row.state) {
      if (row.state == kStateFailed)
        spdlog::warn("push {}: {} {} -> failed: {}", p.rec.id, host, before, row.error);
      else
        spdlog::info("push {}: {} {} -> {}", p.rec.id, host, before, row.state);
    }
    if (TerminalState(row.state) && before != row.state) {
      terminal_rows.emplace_back(p.rec.id, row);  // outcomes are written at once, not batched
      p.dirty.erase(hp->second);
    } else {
      p.dirty.insert(hp->second);
      dirty_pushes.insert(p.rec.id);
    }
    if (row.state == kStateDownloading) downloading.insert(p.rec.id);
    std::string after_push = p.State();
    if (after_push != before_push)
      spdlog::info("push {} ({}): {} ({} installed, {} failed, {} superseded of {})", p.rec.id, p.rec.artifact,
                   after_push, p.installed, p.failed, p.superseded, p.rec.hosts.size());
  }
  Status s = store->SavePushHosts(terminal_rows);
  if (!s.ok()) return Err(s);
  for (int64_t id : downloading)
    if (auto role = GatewayRoleOf(h.rec, id)) answer.gateways.push_back(*role);
  return http::Response::Json(200, ToJson(answer).dump() + "\n");
}

std::optional<GatewayRole> Tracker::Impl::GatewayRoleOf(const HostRecord& host, int64_t push_id) {
  auto p = pushes.find(push_id);
  if (p == pushes.end()) return std::nullopt;
  auto a = artifacts.find(p->second.rec.artifact);
  if (a == artifacts.end()) return std::nullopt;
  auto raw = HexDecode(a->second.manifest.info_hash);
  auto ip = PeerAddress::Parse(host.addr);
  if (!raw.ok() || !ip) return std::nullopt;
  auto sw = swarms.find(*raw);
  if (sw == swarms.end()) return std::nullopt;
  RackId rack = racks.Intern(rackmap.Lookup(ip->ToAddress()));
  uint32_t slot = sw->second.peers.FindAt(rack, *ip);
  if (rack == kUnknownRack || slot == kNoSlot) return std::nullopt;
  const PeerRecord& rec = sw->second.peers[slot];
  if (!rec.granted || rec.seed()) return std::nullopt;
  // As many shares as the rack will have gateways: a rack with fewer targets
  // has every host a gateway. Counted from the push, not from the peers seen
  // so far, so shares do not change as a rack's hosts arrive (a HAVE dropped
  // under a passing split would hide that piece for good).
  auto targets = p->second.rack_targets.find(host.location);
  int in_rack = targets == p->second.rack_targets.end() ? 0 : targets->second;
  int slots = std::min(config.policy.origin_per_rack, in_rack);
  if (int(rec.gateway_slot) >= slots) return std::nullopt;
  return GatewayRole{push_id, rec.gateway_slot, slots};
}

}  // namespace spate
