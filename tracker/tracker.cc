// Tracker lifecycle, routing, and the BitTorrent side (announce, scrape, stats).
#include "tracker/tracker.h"

#include <spdlog/spdlog.h>

#include "tracker/announce.h"
#include "tracker/tracker_impl.h"
#include "wire/crypto.h"

namespace spate {

namespace asio = boost::asio;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Status TrackerConfig::Validate() const {
  auto ep = http::ParseEndpoint(listen);
  if (!ep.ok()) return Status::Invalid("--listen: " + ep.status().message());
  if (admin_token.empty())
    return Status::Invalid("no admin token: pass --admin-token or set SPATE_ADMIN_TOKEN (needed to register artifacts and create pushes)");
  if (db_path.empty()) return Status::Invalid("--db must not be empty");
  if (announce_interval.count() < 1) return Status::Invalid("--announce-interval must be at least 1s");
  if (idle_announce_interval < announce_interval)
    return Status::Invalid("--idle-announce-interval must be at least --announce-interval");
  if (peer_ttl.count() < 0) return Status::Invalid("--peer-ttl must not be negative");
  if (peer_ttl.count() > 0 && peer_ttl < idle_announce_interval)
    return Status::Invalid("--peer-ttl must be at least --idle-announce-interval, or idle peers expire between announces");
  if (max_wait.count() < 1) return Status::Invalid("max wait must be at least 1s");
  if (flush_interval.count() < 1) return Status::Invalid("flush interval must be positive");
  return policy.Validate();
}

void SwarmState::Remove(const std::string& peer_id) {
  auto it = index.find(peer_id);
  if (it == index.end()) return;
  size_t pos = it->second;
  std::string rack = peers[pos].location.ToString();
  auto g = origin_grants.find(rack);
  if (g != origin_grants.end()) g->second.erase(peer_id);  // frees the rack's origin slot
  index.erase(it);
  if (pos + 1 != peers.size()) {
    peers[pos] = std::move(peers.back());
    expires_at[pos] = expires_at.back();
    index[peers[pos].peer_id] = pos;
  }
  peers.pop_back();
  expires_at.pop_back();
}

Tracker::Tracker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tracker::~Tracker() = default;

Result<std::unique_ptr<Tracker>> Tracker::Create(const TrackerConfig& config, Rackmap rackmap, asio::io_context& io) {
  Status s = config.Validate();
  if (!s.ok()) return s;
  auto impl = std::make_unique<Impl>(config, std::move(rackmap), io);
  auto store = Store::Open(config.db_path);
  if (!store.ok()) return store.status();
  impl->store = std::move(*store);
  s = impl->Load();
  if (!s.ok()) return s;
  return std::unique_ptr<Tracker>(new Tracker(std::move(impl)));
}

void Tracker::Start() { impl_->Tick(); }
void Tracker::Handle(http::Request&& req, http::Reply reply) { impl_->Route(std::move(req), std::move(reply)); }
Status Tracker::Flush() { return impl_->Flush(); }

void Tracker::Impl::Tick() {
  ExpirePeers(NowMs());
  Status s = Flush();
  if (!s.ok()) spdlog::error("flushing tracker state: {}", s.message());
  tick.expires_after(config.flush_interval);
  tick.async_wait([this](boost::system::error_code ec) {
    if (!ec) Tick();
  });
}

void Tracker::Impl::ExpirePeers(int64_t now) {
  for (auto& [hash, sw] : swarms) {
    std::vector<std::string> gone;
    for (size_t i = 0; i < sw.peers.size(); ++i)
      if (sw.expires_at[i] <= now) gone.push_back(sw.peers[i].peer_id);
    for (const auto& id : gone) sw.Remove(id);
    if (!gone.empty()) spdlog::debug("{}: {} peers expired, {} left", sw.artifact, gone.size(), sw.peers.size());
  }
}

Status Tracker::Impl::Flush() {
  std::vector<std::pair<int64_t, HostProgress>> rows;
  for (int64_t id : dirty_pushes) {
    auto it = pushes.find(id);
    if (it == pushes.end()) continue;
    for (size_t i : it->second.dirty) rows.emplace_back(id, it->second.rec.hosts[i]);
    it->second.dirty.clear();
  }
  dirty_pushes.clear();
  std::vector<HostRecord> hrows;
  for (const auto& h : dirty_hosts) {
    auto it = hosts.find(h);
    if (it == hosts.end()) continue;
    hrows.push_back(it->second.rec);
    it->second.dirty = false;
  }
  dirty_hosts.clear();
  Status a = store->SavePushHosts(rows);
  Status b = store->SaveHosts(hrows);
  return a.ok() ? b : a;
}

bool Tracker::Impl::ArtifactActive(const std::string& artifact) const {
  auto it = artifact_pushes.find(artifact);
  if (it == artifact_pushes.end()) return false;
  for (int64_t id : it->second) {
    auto p = pushes.find(id);
    if (p != pushes.end() && p->second.active()) return true;
  }
  return false;
}

int Tracker::Impl::IntervalFor(const std::string& artifact) const {
  return int((ArtifactActive(artifact) ? config.announce_interval : config.idle_announce_interval).count());
}

namespace {

http::Response Bencoded(std::string body) {
  http::Response r = http::Response::Text(200, std::move(body));
  r.content_type = "text/plain";
  return r;
}

std::string PeerAddress(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  return a.to_string();
}

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    if (slash > pos) parts.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return parts;
}

}  // namespace

void Tracker::Impl::Route(http::Request&& req, http::Reply reply) {
  const std::string& m = req.method;
  if (req.path == "/announce") return Announce(req, reply);
  if (req.path == "/scrape") return Scrape(req, reply);
  if (req.path == "/stats" && m == "GET") return reply(http::Response::Json(200, Stats().dump() + "\n"));

  auto parts = SplitPath(req.path);
  if (parts.size() < 3 || parts[0] != "api" || parts[1] != "v1")
    return reply(http::Response::Error(Status::NotFound("no such endpoint: " + m + " " + req.path)));
  parts.erase(parts.begin(), parts.begin() + 2);
  auto bad_method = [&] {
    http::Response r = http::Response::Json(405, nlohmann::json{{"error", m + " not allowed on " + req.path}}.dump());
    reply(std::move(r));
  };
  const std::string& what = parts[0];
  if (what == "artifacts" && parts.size() == 1) {
    if (m == "POST") return reply(RegisterArtifact(req));
    if (m == "GET") return reply(ListArtifacts());
    return bad_method();
  }
  if (what == "pushes" && parts.size() == 1) {
    if (m == "POST") return reply(CreatePush(req));
    return bad_method();
  }
  if (what == "pushes" && parts.size() == 2) {
    if (m == "GET") return reply(GetPush(parts[1]));
    return bad_method();
  }
  if (what == "hosts" && parts.size() == 1) {
    if (m == "GET") return reply(ListHosts());
    return bad_method();
  }
  if (what == "hosts" && parts.size() == 3) {
    Status s = CheckName("host", parts[1]);
    if (!s.ok()) return reply(http::Response::Error(s));
    if (parts[2] == "assignments" && m == "GET") return Assignments(parts[1], req, std::move(reply));
    if (parts[2] == "reports" && m == "POST") return reply(Reports(parts[1], req));
    if (parts[2] == "assignments" || parts[2] == "reports") return bad_method();
  }
  reply(http::Response::Error(Status::NotFound("no such endpoint: " + m + " " + req.path)));
}

void Tracker::Impl::Announce(const http::Request& req, const http::Reply& reply) {
  // BitTorrent clients read failures from a bencoded 200 body, not from the HTTP status.
  auto parsed = ParseAnnounce(req.query);
  if (!parsed.ok()) return reply(Bencoded(EncodeFailure(parsed.status().message())));
  const AnnounceRequest& a = *parsed;
  auto sit = swarms.find(a.info_hash);
  if (sit == swarms.end())
    return reply(Bencoded(EncodeFailure("info_hash " + HexEncode(a.info_hash) + " is not registered with this tracker")));
  SwarmState& sw = sit->second;
  ++announces;
  int64_t now = NowMs();
  int interval = IntervalFor(sw.artifact);
  std::string ip = PeerAddress(req.remote);

  AnnounceReply out;
  out.interval = interval;
  out.min_interval = std::max(1, interval / 2);
  out.compact = a.compact;
  out.no_peer_id = a.no_peer_id;

  if (a.event == AnnounceEvent::kStopped) {
    sw.Remove(a.peer_id);
    spdlog::debug("announce {} stopped from {}:{}", sw.artifact, ip, a.port);
  } else {
    auto it = sw.index.find(a.peer_id);
    if (it == sw.index.end()) {
      it = sw.index.emplace(a.peer_id, sw.peers.size()).first;
      sw.peers.emplace_back();
      sw.expires_at.push_back(0);
      sw.peers.back().peer_id = a.peer_id;
    }
    Peer& p = sw.peers[it->second];
    if (p.ip != ip) {
      p.ip = ip;
      p.location = rackmap.Lookup(req.remote);
      p.origin = !sw.origin_ip.empty() && ip == sw.origin_ip;
    }
    p.port = a.port;
    p.left = a.left;
    auto ttl = config.peer_ttl.count() > 0 ? config.peer_ttl : 3 * std::chrono::seconds(interval);
    sw.expires_at[it->second] = now + std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count();
    if (a.event == AnnounceEvent::kCompleted) ++sw.completed;

    Peer requester = p;  // copy: SelectPeers reads the vector it lives in
    std::string rack = requester.location.ToString();
    auto& grants = sw.origin_grants[rack];
    SelectInput in;
    in.peers = &sw.peers;
    in.total_size = sw.size;
    in.origin_grants = &grants;
    Selection sel = SelectPeers(requester, in, a.numwant, config.policy, rng);
    if (sel.new_origin_grant) {
      grants.insert(requester.peer_id);
      spdlog::info("{}: origin granted to {} in {} ({}/{})", sw.artifact, ip, rack, grants.size(),
                   config.policy.origin_per_rack);
    }
    out.peers = std::move(sel.peers);
    spdlog::debug("announce {} from {}:{} ({}) left={} event={} -> {} peers", sw.artifact, ip, a.port, rack, a.left,
                  int(a.event), out.peers.size());
  }
  for (const auto& p : sw.peers) (p.seed() ? out.complete : out.incomplete)++;
  reply(Bencoded(EncodeAnnounce(out)));
}

void Tracker::Impl::Scrape(const http::Request& req, const http::Reply& reply) {
  auto hashes = ParseScrape(req.query);
  if (!hashes.ok()) return reply(Bencoded(EncodeFailure(hashes.status().message())));
  if (hashes->empty())
    for (const auto& [h, sw] : swarms) hashes->push_back(h);
  std::vector<ScrapeEntry> files;
  for (const auto& h : *hashes) {
    auto it = swarms.find(h);
    if (it == swarms.end()) continue;  // unregistered hashes are simply absent
    ScrapeEntry e{h, 0, 0, it->second.completed};
    for (const auto& p : it->second.peers) (p.seed() ? e.complete : e.incomplete)++;
    files.push_back(e);
  }
  reply(Bencoded(EncodeScrape(files)));
}

nlohmann::json Tracker::Impl::Stats() const {
  nlohmann::json racks = nlohmann::json::object(), swarm_list = nlohmann::json::array();
  size_t peers = 0;
  for (const auto& [h, sw] : swarms) {
    size_t seeds = 0;
    for (const auto& p : sw.peers) {
      seeds += p.seed();
      auto key = p.location.ToString();
      racks[key] = racks.value(key, 0) + 1;
    }
    peers += sw.peers.size();
    size_t grants = 0;
    for (const auto& [r, g] : sw.origin_grants) grants += g.size();
    swarm_list.push_back({{"artifact", sw.artifact},
                          {"info_hash", HexEncode(sw.info_hash)},
                          {"peers", sw.peers.size()},
                          {"seeds", seeds},
                          {"completed", sw.completed},
                          {"origin_grants", grants},
                          {"interval", IntervalFor(sw.artifact)}});
  }
  int active = 0;
  for (const auto& [id, p] : pushes) active += p.active();
  size_t waiting = 0;
  for (const auto& [id, h] : hosts) waiting += h.waiters.size();
  return {{"swarms", swarms.size()},
          {"peers", peers},
          {"peers_per_rack", racks},
          {"announces", announces},
          {"active_pushes", active},
          {"pushes", pushes.size()},
          {"artifacts", artifacts.size()},
          {"hosts", hosts.size()},
          {"long_polls", waiting},
          {"policy", PolicyName(config.policy.policy)},
          {"swarm_detail", swarm_list}};
}

}  // namespace spate
