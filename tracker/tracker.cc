// Tracker lifecycle, routing, and the BitTorrent side (announce, scrape, stats).
#include "tracker/tracker.h"

#include <spdlog/spdlog.h>

#include "tracker/announce.h"
#include "tracker/tracker_impl.h"
#include "tracker/udp_server.h"
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
  if (!udp_listen.empty()) {
    auto u = http::ParseEndpoint(udp_listen);
    if (!u.ok()) return Status::Invalid("--udp-listen: " + u.status().message());
  }
  if (!announce_listen.empty()) {
    auto a = http::ParseEndpoint(announce_listen);
    if (!a.ok()) return Status::Invalid("--announce-listen: " + a.status().message());
  }
  if (Status s = tls.Check(); !s.ok()) return s;
  if (announce_interval.count() < 1) return Status::Invalid("--announce-interval must be at least 1s");
  if (idle_announce_interval < announce_interval)
    return Status::Invalid("--idle-announce-interval must be at least --announce-interval");
  if (peer_ttl.count() < 0) return Status::Invalid("--peer-ttl must not be negative");
  if (peer_ttl.count() > 0 && peer_ttl < idle_announce_interval)
    return Status::Invalid("--peer-ttl must be at least --idle-announce-interval, or idle peers expire between announces");
  if (tick_interval.count() < 1) return Status::Invalid("tick interval must be positive");
  if (grant_stall.count() < 1) return Status::Invalid("--grant-stall must be at least 1s");
  return policy.Validate();
}

const char* ProtocolName(Protocol p) { return p == Protocol::kUdp ? "udp" : "http"; }

void SwarmState::Remove(uint32_t slot) {
  seeds -= peers[slot].seed();
  grants.Forget(peers[slot].id);
  peers.Remove(slot);  // a grant leaves with its holder: frees the rack's origin slot
}

void SwarmState::ApplyOrigin() {
  origin_addr = origin_ip.empty() ? std::nullopt : PeerAddress::Parse(origin_ip);
  for (PeerRecord& p : peers) p.origin = origin_addr && p.ip == *origin_addr;
  peers.RefreshOrigins();
}

Tracker::Tracker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tracker::~Tracker() = default;

Result<std::unique_ptr<Tracker>> Tracker::Create(const TrackerConfig& config, Rackmap rackmap, asio::io_context& io) {
  Status s = config.Validate();
  if (!s.ok()) return s;
  auto impl = std::make_unique<Impl>(config, std::move(rackmap), io);
  return std::unique_ptr<Tracker>(new Tracker(std::move(impl)));
}

void Tracker::Start() { impl_->Tick(); }
void Tracker::Handle(http::Request&& req, http::Reply reply) { impl_->Route(std::move(req), std::move(reply)); }
Metrics Tracker::MetricsSnapshot() const { return impl_->MetricsSnapshot(); }
nlohmann::json Tracker::Stats() const { return impl_->Stats(); }
void Tracker::SetPushFacts(const PushFacts* facts) { impl_->push_facts = facts ? facts : &impl_->no_pushes; }
Swarms& Tracker::swarms() { return impl_->swarm_seam; }

Status TrackerSwarms::Serve(const std::string& artifact, const std::string& info_hash_hex, uint64_t size,
                            const std::string& origin) {
  auto raw = HexDecode(info_hash_hex);
  if (!raw.ok()) return raw.status();
  auto it = t_.swarms.find(*raw);
  if (it != t_.swarms.end() && it->second.registered && it->second.artifact != artifact)
    return Status::Conflict("info_hash " + info_hash_hex + " is already registered as " + it->second.artifact);
  SwarmState& sw = t_.swarms[*raw];
  sw.artifact = artifact;
  sw.info_hash = *raw;
  sw.registered = true;  // may already exist through the whitelist: keeps its peers
  sw.size = size;
  sw.origin_ip = origin;
  sw.ApplyOrigin();
  return Status::Ok();
}

std::optional<GatewayShare> TrackerSwarms::GatewayOf(const std::string& info_hash_hex, const std::string& addr) const {
  return t_.GatewayOf(info_hash_hex, addr);
}

Result<AnnounceReply> Tracker::Announce(const AnnounceRequest& a, const asio::ip::address& remote, Protocol p) {
  return impl_->AnnounceCore(a, remote, p);
}

void Tracker::Scrape(const std::vector<std::string>& hashes, Protocol p, std::vector<ScrapeEntry>* out) {
  impl_->ScrapeCore(hashes, p, out);
}

Status Tracker::StartUdp() {
  if (impl_->config.udp_listen.empty()) return Status::Ok();
  UdpServerOptions o;
  o.listen = impl_->config.udp_listen;
  Impl* impl = impl_.get();
  impl_->udp = std::make_unique<UdpServer>(
      o, impl_->io,
      [impl](const AnnounceRequest& a, const asio::ip::address& from) { return impl->AnnounceCore(a, from, Protocol::kUdp); },
      [impl](const std::vector<std::string>& h, std::vector<ScrapeEntry>* out) {
        impl->ScrapeCore(h, Protocol::kUdp, out);
      });
  return impl_->udp->Start();
}

std::string Tracker::udp_endpoint() const {
  if (!impl_->udp) return "";
  auto ep = impl_->udp->local_endpoint();
  return http::FormatEndpoint(asio::ip::tcp::endpoint(ep.address(), ep.port()));
}

void Tracker::SetHttpCounters(std::function<HttpServerCounters()> f) { impl_->http_counters = std::move(f); }

size_t Tracker::SetWhitelist(const std::vector<std::string>& hashes) { return impl_->SetWhitelist(hashes); }

size_t Tracker::Impl::SetWhitelist(const std::vector<std::string>& hashes) {
  std::unordered_set<std::string> keep(hashes.begin(), hashes.end());
  for (auto it = swarms.begin(); it != swarms.end();) {
    it->second.whitelisted = keep.count(it->first) > 0;
    // Registered artifacts stay served whatever the file says.
    if (!it->second.whitelisted && !it->second.registered) {
      spdlog::info("whitelist: {} no longer listed, dropping its {} peers", HexEncode(it->first), it->second.peers.size());
      it = swarms.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& h : keep) {
    auto [it, fresh] = swarms.try_emplace(h);
    if (fresh) {
      it->second.info_hash = h;
      it->second.artifact = HexEncode(h);  // no name: never matches a push, so idle intervals
    }
    it->second.whitelisted = true;
  }
  return keep.size();
}

void Tracker::Impl::Tick() {
  ExpirePeers(NowMs());
  UpdateRate();
  tick.expires_after(config.tick_interval);
  tick.async_wait([this](boost::system::error_code ec) {
    if (!ec) Tick();
  });
}

// announces/s over windows of at least 5 s, so one burst does not swing it.
void Tracker::Impl::UpdateRate() {
  auto now = std::chrono::steady_clock::now();
  double secs = std::chrono::duration<double>(now - rate_since).count();
  if (secs < 5) return;
  announce_rate = double(announces_total - rate_base) / secs;
  rate_base = announces_total;
  rate_since = now;
}

void Tracker::Impl::ExpirePeers(int64_t now) {
  for (auto& [hash, sw] : swarms) {
    if (int64_t(sw.next_expiry) * 1000 > now) continue;
    std::vector<PeerId> gone;
    uint32_t next = UINT32_MAX;
    for (const PeerRecord& p : sw.peers) {
      if (int64_t(p.expires_at) * 1000 <= now) gone.push_back(p.id);
      else next = std::min(next, p.expires_at);
    }
    sw.next_expiry = next;
    for (const auto& id : gone) sw.Remove(sw.peers.Find(id));  // removal moves records: find each anew
    if (!gone.empty()) spdlog::debug("{}: {} peers expired, {} left", sw.artifact, gone.size(), sw.peers.size());
  }
}

int Tracker::Impl::IntervalFor(const std::string& artifact) const {
  return int((push_facts->Active(artifact) ? config.announce_interval : config.idle_announce_interval).count());
}

namespace {

http::Response Bencoded(std::string body) {
  http::Response r = http::Response::Text(200, std::move(body));
  r.content_type = "text/plain";
  return r;
}

}  // namespace

void Tracker::Impl::Route(http::Request&& req, http::Reply reply) {
  if (req.path == "/announce") return Announce(req, reply);
  if (req.path == "/scrape") return Scrape(req, reply);
  reply(http::Response::Error(Status::NotFound("no such endpoint: " + req.method + " " + req.path)));
}

void Tracker::Impl::Announce(const http::Request& req, const http::Reply& reply) {
  // BitTorrent clients read failures from a bencoded 200 body, not from the HTTP status.
  auto parsed = ParseAnnounce(req.query);
  if (!parsed.ok()) {
    ++failures[int(Protocol::kHttp)];
    return reply(Bencoded(EncodeFailure(parsed.status().message())));
  }
  auto out = AnnounceCore(*parsed, req.remote, Protocol::kHttp);
  if (!out.ok()) return reply(Bencoded(EncodeFailure(out.status().message())));
  reply(Bencoded(EncodeAnnounce(*out)));
}

void Tracker::Impl::RemoveOrigins(SwarmState& sw, const PeerAddress& addr) {
  for (const PeerId& id : std::vector<PeerId>(sw.peers.origins())) {
    uint32_t slot = sw.peers.Find(id);
    if (slot == kNoSlot || !(sw.peers[slot].ip == addr)) continue;
    spdlog::info("{}: origin {} announced with a new peer id; dropping its old record (port {})", sw.artifact,
                 addr.ToString(), sw.peers[slot].port);
    sw.Remove(slot);
  }
}

Result<AnnounceReply> Tracker::Impl::AnnounceCore(const AnnounceRequest& a, const asio::ip::address& source,
                                                  Protocol proto) {
  auto sit = swarms.find(a.info_hash);
  if (sit == swarms.end()) {
    ++failures[int(proto)];
    return Status::NotFound("info_hash " + HexEncode(a.info_hash) + " is not registered with this tracker");
  }
  asio::ip::address remote = source;
  if (config.trust_ip_param && !a.ip.empty()) {
    boost::system::error_code ec;
    auto claimed = asio::ip::make_address(a.ip, ec);
    if (!ec) remote = claimed;  // an unparsable `ip` (e.g. a host name) falls back to the source
  }
  SwarmState& sw = sit->second;
  int64_t now = NowMs();
  const PeerAddress addr = PeerAddress::From(remote);
  // The origin announces at the short interval even when no push is open:
  // with several trackers, the one that takes a swarm over (its owner died)
  // learns where the origin is only from its announces, and with the idle
  // interval an origin that last announced before the push began stayed away
  // up to a minute, so the new tracker had no origin to grant. One announce
  // per artifact every --announce-interval is cheap.
  const bool from_origin = sw.origin_addr && addr == *sw.origin_addr;
  int interval = from_origin ? int(config.announce_interval.count()) : IntervalFor(sw.artifact);
  const PeerId id = MakePeerId(a.peer_id);

  uint32_t slot = sw.peers.Find(id);
  // BEP 3 key: once a peer announced with a key, a request for its peer id from
  // another address must carry the same key (stops others from evicting it).
  if (slot != kNoSlot && sw.peers[slot].ip != addr && sw.peers[slot].has_key && sw.peers.Key(slot) != a.key) {
    ++failures[int(proto)];
    return Status::Unauthorized("peer_id is in use from another address with a different key");
  }
  ++announces[int(proto)];
  ++announces_total;

  AnnounceReply out;
  // Up to a quarter later, at random: peers that started together (every
  // host of a push starts within seconds) would otherwise announce together
  // every interval, for as long as the push runs.
  out.interval = interval + std::uniform_int_distribution<int>(0, interval / 4)(rng);
  out.min_interval = std::max(1, interval / 2);
  out.compact = a.compact;
  out.no_peer_id = a.no_peer_id;
  const bool debug = spdlog::should_log(spdlog::level::debug);

  if (a.event == AnnounceEvent::kStopped) {
    if (slot != kNoSlot) sw.Remove(slot);
    if (debug) spdlog::debug("announce {} stopped from {}:{}", sw.artifact, addr.ToString(), a.port);
  } else {
    // The rack is looked up once per address, not per announce.
    if (slot == kNoSlot) {
      PeerRecord r;
      r.id = id;
      r.ip = addr;
      r.rack = racks.Intern(rackmap.Lookup(remote));
      r.origin = sw.origin_addr && addr == *sw.origin_addr;
      r.left = a.left;
      // A new peer id at the origin's address is the seeder restarted: its
      // old record would be handed out first until it expired (minutes at the
      // idle interval), so every gateway would dial a dead port.
      if (r.origin) RemoveOrigins(sw, addr);
      slot = sw.peers.Add(r);
      sw.seeds += r.seed();
    } else if (sw.peers[slot].ip != addr) {
      slot = sw.peers.SetRack(slot, racks.Intern(rackmap.Lookup(remote)));
      sw.peers.at(slot).ip = addr;
      sw.peers.SetOrigin(slot, sw.origin_addr && addr == *sw.origin_addr);
    }
    sw.seeds += int64_t(a.left == 0) - int64_t(sw.peers[slot].seed());
    sw.peers.SetLeft(slot, a.left);
    sw.peers.SetKey(slot, a.key);
    PeerRecord& p = sw.peers.at(slot);
    p.port = a.port;
    auto ttl = config.peer_ttl.count() > 0 ? config.peer_ttl : 3 * std::chrono::seconds(interval);
    p.expires_at = uint32_t((now + 999) / 1000 + ttl.count());
    sw.next_expiry = std::min(sw.next_expiry, p.expires_at);
    if (a.event == AnnounceEvent::kCompleted) ++sw.completed;

    // Origin grants (and gateway shares) go only to hosts a running push
    // targets, and only while they make progress: anyone can announce, and
    // a rack's few grants must not go to strangers or to a stuck host.
    bool grantable = false;
    sw.grants.Observe(p.id, a.left, now);
    if (sw.origin_addr && !p.seed()) {
      if (p.granted) {
        if (sw.grants.Stalled(p.id, p.left, now, int64_t(config.grant_stall.count()) * 1000))
          RevokeStalledGrants(sw, p.rack, now);
      } else if (!sw.grants.Barred(p.id) && push_facts->Targeted(sw.artifact, addr.ToString())) {
        grantable = true;
        const RackSpan* span = sw.peers.Span(p.rack);
        if (span && span->granted >= uint32_t(std::max(0, config.policy.origin_per_rack)))
          RevokeStalledGrants(sw, p.rack, now);
      }
    }

    SelectInput in;
    in.peers = &sw.peers;
    in.racks = &racks;
    in.total_size = sw.size;
    in.roles_by_grants = true;
    in.grantable = grantable;
    SelectPeers(p, in, a.numwant, config.policy, rng, &selection);
    out.peers.resize(selection.slots.size());
    for (size_t i = 0; i < selection.slots.size(); ++i) {
      const PeerRecord& q = sw.peers[selection.slots[i]];
      out.peers[i] = ReplyPeer{q.id, q.ip, q.port};
    }
    if (selection.new_origin_grant) {
      sw.peers.SetGranted(slot);
      sw.grants.Start(p.id, p.left, now);
      const RackSpan* span = sw.peers.Span(p.rack);
      spdlog::info("{}: origin granted to {} in {} ({}/{})", sw.artifact, addr.ToString(), racks.Name(p.rack),
                   span ? span->granted : 0, config.policy.origin_per_rack);
    }
    if (debug)
      spdlog::debug("announce {} from {}:{} ({}, {}) left={} event={} -> {} peers", sw.artifact, addr.ToString(), a.port,
                    racks.Name(p.rack), ProtocolName(proto), a.left, int(a.event), out.peers.size());
  }
  out.complete = sw.seeds;
  out.incomplete = int64_t(sw.peers.size()) - sw.seeds;
  return out;
}

void Tracker::Impl::Scrape(const http::Request& req, const http::Reply& reply) {
  auto hashes = ParseScrape(req.query);
  if (!hashes.ok()) {
    ++failures[int(Protocol::kHttp)];
    return reply(Bencoded(EncodeFailure(hashes.status().message())));
  }
  std::vector<ScrapeEntry> files;
  ScrapeCore(*hashes, Protocol::kHttp, &files);
  files.erase(std::remove_if(files.begin(), files.end(), [](const ScrapeEntry& e) { return !e.registered; }),
              files.end());  // BEP 48: unregistered hashes are simply absent
  reply(Bencoded(EncodeScrape(files)));
}

void Tracker::Impl::ScrapeCore(const std::vector<std::string>& hashes, Protocol proto, std::vector<ScrapeEntry>* out) {
  ++scrapes[int(proto)];
  out->clear();
  auto entry = [](const SwarmState& sw) {
    return ScrapeEntry{sw.info_hash, sw.seeds, int64_t(sw.peers.size()) - sw.seeds, sw.completed};
  };
  if (hashes.empty()) {  // full scrape: O(swarms), the counts are kept up to date
    for (const auto& [h, sw] : swarms) out->push_back(entry(sw));
    return;
  }
  for (const auto& h : hashes) {
    auto it = swarms.find(h);
    if (it != swarms.end()) {
      out->push_back(entry(it->second));
    } else {
      ScrapeEntry e;
      e.info_hash = h;
      e.registered = false;
      out->push_back(std::move(e));
    }
  }
}

}  // namespace spate
