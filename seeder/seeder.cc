#include "seeder/seeder.h"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <cctype>
#include <charconv>
#include <climits>
#include <nlohmann/json.hpp>
#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "seeder/ingest.h"
#include "seeder/routes.h"
#include "wire/daemon.h"
#include "wire/fs.h"
#include "wire/swarm.h"
#include "wire/units.h"

namespace spate::seeder {

using nlohmann::json;

namespace {
// Largest body of a non-upload request (they are all small JSON or empty).
// tmp/ entries untouched this long belong to uploads whose client vanished.
constexpr std::chrono::seconds kAbandonedUploadAge{3600};

// A header's decimal size; false for anything else (the body parser judges those).
bool ParseUint(const std::string& s, uint64_t* out) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size();
}
}  // namespace

Status SeederConfig::Validate() {
  if (data_dir.empty()) return Status::Invalid("--data-dir is required");
  if (tracker_urls.empty()) return Status::Invalid("--tracker is required (e.g. http://127.0.0.1:7070)");
  if (!announce_urls.empty() && announce_urls.size() != tracker_urls.size())
    return Status::Invalid("--announce-url lists " + std::to_string(announce_urls.size()) + " URLs for " +
                           std::to_string(tracker_urls.size()) +
                           " trackers: give one per --tracker, in the same order");
  std::vector<std::string> announces;
  for (size_t i = 0; i < tracker_urls.size(); ++i) {
    std::string& t = tracker_urls[i];
    if (t.rfind("http://", 0) != 0 && t.rfind("https://", 0) != 0)
      return Status::Invalid("--tracker must be an http:// or https:// URL: " + t);
    while (!t.empty() && t.back() == '/') t.pop_back();
    auto announce = AnnounceUrlFor(t, announce_urls.empty() ? "" : announce_urls[i]);
    if (!announce.ok()) return announce.status();
    announces.push_back(*announce);
  }
  for (size_t i = 0; i < announces.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (announces[i] == announces[j] || tracker_urls[i] == tracker_urls[j])
        return Status::Invalid("tracker " + tracker_urls[i] + " (announce " + announces[i] + ") is listed twice");
  announce_urls = announces;
  if (Status s = tls.Check(); !s.ok()) return s;
  if (upload_token.empty())
    return Status::Invalid("no upload token: pass --upload-token or set SPATE_UPLOAD_TOKEN (uploads must be authenticated)");
  auto ep = http::ParseEndpoint(listen);
  if (!ep.ok()) return Status::Invalid("--listen: " + ep.status().message());
  if (peer_address.empty()) peer_address = ep->address().to_string();
  boost::system::error_code ec;
  boost::asio::ip::make_address(peer_address, ec);
  if (ec) return Status::Invalid("--peer-address '" + peer_address + "' is not an IP address");
  if (peer_port < 0 || peer_port > 65535) return Status::Invalid("--peer-port must be 0-65535");
  if (upload_rate > static_cast<uint64_t>(INT_MAX))
    return Status::Invalid("--upload-rate is above libtorrent's limit of 2 GiB/s; use 0 for unlimited");
  if (http_threads < 1 || ingest_threads < 1) return Status::Invalid("thread counts must be positive");
  if (open_reads && !read_token.empty())
    return Status::Invalid("--open-reads contradicts the read token (--read-token-file / SPATE_READ_TOKEN): drop one");
  for (auto [what, token] : {std::pair{"the upload token", &upload_token}, {"the register token", &tracker_token},
                             {"the read token", &read_token}})
    if (!token->empty())
      if (Status s = auth::CheckSecret(what, *token); !s.ok()) return s;
  // A read token that also uploads would hand every dashboard the right to publish.
  if (upload_token == read_token || upload_token == tracker_token)
    return Status::Invalid(std::string("the upload token is the same as the ") +
                           (upload_token == read_token ? "read" : "register") + " token; give each role its own");
  if (max_upload_size == 0) return Status::Invalid("--max-upload-size must be more than 0");
  if (upload_idle_timeout.count() < 1) return Status::Invalid("upload idle timeout must be at least 1s");
  return Status::Ok();
}

Seeder::Seeder(SeederConfig config)
    : config_(std::move(config)), store_(config_.data_dir), ingest_pool_(static_cast<size_t>(config_.ingest_threads)) {
  keys_.Set(auth::Role::kUpload, config_.upload_token);
  keys_.Set(auth::Role::kRead, config_.read_token);
  // Nobody should send the seeder its register token; knowing it turns such a call into a 403, not a 401.
  keys_.Set(auth::Role::kRegister, config_.tracker_token);
}

Seeder::~Seeder() {
  if (graphite_) graphite_->Stop();
  Stop();
  ingest_pool_.join();
  for (auto& r : registrars_) r->Stop();
  if (seeding_) seeding_->Stop();
}

Status Seeder::Start() {
  Status s = store_.Open();
  if (!s.ok()) return s;
  auto key = SigningKey::LoadOrCreate(config_.data_dir + "/seeder.key");
  if (!key.ok()) return key.status();
  key_ = *key;
  // Fetchers are configured with this file; rewriting it each start keeps it in step with the key.
  s = WriteFileAtomic(config_.data_dir + "/seeder.pub", key_->PublicKeyPem());
  if (!s.ok()) return s;

  SwarmOptions so;
  so.bind_address = config_.peer_address;
  so.port = config_.peer_port;
  so.upload_rate = static_cast<int>(config_.upload_rate);
  so.origin = true;
  seeding_ = std::make_unique<Seeding>(so, config_.announce_urls);
  s = seeding_->Start();
  if (!s.ok()) return s;

  RegistrarOptions ro;
  ro.ca_file = config_.tls_ca;
  ro.tracker_token = config_.tracker_token;
  ro.origin = config_.peer_address;
  ro.retry_interval = config_.register_retry;
  // Seed only once the tracker knows the artifact: an announce it refuses sends
  // libtorrent into back-off, and no fetcher can find an unregistered hash anyway.
  ro.on_registered = [this](const std::string& id) {
    auto nv = ParseArtifactId(id);
    auto a = nv.ok() ? store_.Find(nv->first, nv->second) : std::nullopt;
    if (!a) return;
    Status st = seeding_->Add(a->manifest.id(), a->torrent, a->dir);
    if (!st.ok()) spdlog::error("cannot seed {}: {}", id, st.message());
    seeding_->Reannounce(id);  // already seeding (tracker restarted): tell it now
  };
  for (const std::string& announce_url : config_.announce_urls) {
    // libtorrent's SSRF mitigation drops announces to local trackers unless the path starts with /announce.
    auto path_at = announce_url.find("://");
    path_at = path_at == std::string::npos ? path_at : announce_url.find('/', path_at + 3);
    if (announce_url.rfind("udp://", 0) != 0 &&
        (path_at == std::string::npos || announce_url.compare(path_at, 9, "/announce") != 0))
      spdlog::warn("announce URL {} does not have a /announce path; libtorrent ignores such local trackers",
                   announce_url);
    if (announce_url.rfind("https://", 0) == 0)
      spdlog::warn(
          "torrents announce to {}: BitTorrent clients check it against their system's trusted CAs; "
          "give the tracker an --announce-listen and the seeder an --announce-url for plain announces",
          announce_url);
  }
  if (ro.tracker_token.empty())
    spdlog::warn("no register token (--register-token-file, SPATE_REGISTER_TOKEN or SPATE_ADMIN_TOKEN); the tracker "
                 "will refuse registrations");
  if (config_.read_token.empty() && !config_.open_reads)
    spdlog::warn("reads (artifacts, torrents, /status, /metrics) are open to anyone who can connect: set a read "
                 "token (--read-token-file or SPATE_READ_TOKEN), or pass --open-reads to say that is intended");
  // Every tracker gets every artifact: any of them may come to own its swarm.
  for (const std::string& t : config_.tracker_urls) {
    ro.tracker_url = t;
    registrars_.push_back(std::make_unique<Registrar>(ro));
    registrars_.back()->Start();
  }

  if (!config_.graphite.address.empty()) {
    if (config_.graphite.prefix.empty()) config_.graphite.prefix = DefaultGraphitePrefix("seeder", config_.peer_address);
    graphite_ = std::make_unique<GraphiteSender>(config_.graphite, [this] { return Snapshot(); });
    if (Status g = graphite_->Start(); !g.ok()) return g;
  }

  auto stored = store_.List();
  for (const auto& a : stored) Publish(a);
  spdlog::info("restored {} stored artifact(s) from {}", stored.size(), config_.data_dir);

  http::ServerOptions ho;
  ho.listen = config_.listen;
  ho.threads = config_.http_threads;
  ho.on_header = [this](http::Request& req) { return OnHeader(req); };
  ho.tls = config_.tls;
  ho.max_file_body = config_.max_upload_size;
  ho.upload_idle_timeout = config_.upload_idle_timeout;
  {
    // Stop() may run concurrently from the signal thread.
    std::lock_guard<std::mutex> lock(server_mu_);
    if (stopping_) return Status::Ok();
    server_ = std::make_unique<http::Server>(ho, [this](http::Request&& req, http::Reply reply) {
      Handle(std::move(req), std::move(reply));
    });
    s = server_->Start();
    if (!s.ok()) return s;
  }
  spdlog::info("seeder http on {}, peer {}, tracker {}, announce {}", http_endpoint(), seeding_->peer_endpoint(),
               fmt::join(config_.tracker_urls, ","), fmt::join(config_.announce_urls, ","));
  return WriteReadyFile(config_.ready_file,
                        json{{"http", http_endpoint()}, {"peer", seeding_->peer_endpoint()}}.dump());
}

void Seeder::Run() {
  if (server_ && !stopping_) server_->Run();
}

void Seeder::Stop() {
  std::lock_guard<std::mutex> lock(server_mu_);
  stopping_ = true;
  if (server_) server_->Stop();
}

std::string Seeder::http_endpoint() const { return server_ ? http::FormatEndpoint(server_->local_endpoint()) : ""; }

void Seeder::Publish(const StoredArtifact& a) {
  for (auto& r : registrars_) r->Add(a.manifest, a.torrent);
}

Registration Seeder::RegistrationOf(const std::string& id) const {
  Registration all = registrars_.front()->Get(id);
  for (size_t i = 0; i < registrars_.size(); ++i) {
    Registration r = registrars_[i]->Get(id);
    if (r.state == Registration::State::kRegistered) continue;
    if (registrars_.size() > 1 && !r.error.empty()) r.error = config_.tracker_urls[i] + ": " + r.error;
    return r;
  }
  return all;
}

std::optional<http::Response> Seeder::OnHeader(http::Request& req) {
  if (req.method != "PUT") return std::nullopt;  // small bodies; wire enforces max_body
  // Authenticate before reading a byte of the body, so strangers cannot fill the disk.
  if (Status s = Authorize(req, auth::Role::kUpload); !s.ok()) {
    ++uploads_refused_;
    return http::Response::Error(s.code() == Status::Code::kUnauthorized
                                     ? Status::Unauthorized("missing or wrong upload token")
                                     : s);
  }
  auto up = ParseUploadRequest(req.path, req.query, req.headers);
  if (!up.ok()) {
    ++uploads_refused_;
    return http::Response::Error(up.status());
  }
  // The dry run carries the size the upload will have (X-Spate-Size), so a
  // client learns the reason before it sends gigabytes.
  std::string size_text = req.header(up->target.check_only ? "x-spate-size" : "content-length");
  uint64_t size = 0;
  if (!size_text.empty() && ParseUint(size_text, &size) && size > config_.max_upload_size) {
    ++uploads_refused_;
    return http::Response::Json(413, json{{"error", up->target.name + "@" + up->target.version + " is " +
                                                        FormatBytes(double(size)) + ", over this seeder's " +
                                                        "--max-upload-size of " +
                                                        FormatBytes(double(config_.max_upload_size))}}
                                             .dump() +
                                         "\n");
  }
  if (up->target.check_only) return Preflight(up->target, up->sha256);
  if (stopping_) return http::Response::Error(Status::Unavailable("seeder is shutting down"));
  req.body_file = store_.NewTempPath("upload");
  return std::nullopt;
}

http::Response Seeder::Preflight(const UploadTarget& t, const std::string& sha256) {
  if (sha256.empty()) return http::Response::Error(Status::Invalid("?check=1 needs the X-Spate-Sha256 header"));
  auto existing = store_.Find(t.name, t.version);
  if (!existing) return http::Response{204, "application/json", "", {}};
  if (existing->manifest.sha256 != sha256)
    return http::Response::Error(Status::Conflict(existing->manifest.id() +
                                                  " already exists with different content (sha256 " +
                                                  existing->manifest.sha256 + "); upload it as a new version"));
  return http::Response::Json(200, ToJson(existing->manifest).dump() + "\n");
}

Status Seeder::Authorize(const http::Request& req, auth::Role need) {
  if (need == auth::Role::kRead && config_.read_token.empty()) return Status::Ok();
  Status s = keys_.Check(req.bearer_token(), need);
  if (!s.ok()) {
    if (need == auth::Role::kRead) ++reads_refused_;
    spdlog::warn("refused {} {} from {}: {}", req.method, req.path, req.remote.to_string(), s.message());
  }
  return s;
}

void Seeder::Handle(http::Request&& req, http::Reply reply) {
  if (req.method == "PUT") return HandleUpload(std::move(req), std::move(reply));
  if (req.method == "GET") {
    // The public key is what fetchers must trust anyway: no secret in it.
    if (req.path != "/api/v1/pubkey")
      if (Status s = Authorize(req, auth::Role::kRead); !s.ok()) return reply(http::Response::Error(s));
    return reply(HandleGet(req));
  }
  reply(http::Response::Json(405, json{{"error", "method " + req.method + " not allowed on " + req.path}}.dump()));
}

void Seeder::HandleUpload(http::Request&& req, http::Reply reply) {
  auto up = ParseUploadRequest(req.path, req.query, req.headers);
  if (!up.ok() || req.body_file.empty()) {
    if (!req.body_file.empty()) RemoveQuietly(req.body_file);
    return reply(http::Response::Error(up.ok() ? Status::Invalid("no body") : up.status()));
  }
  IngestRequest in;
  in.name = up->target.name;
  in.version = up->target.version;
  in.filename = up->target.filename;
  in.upload_path = req.body_file;
  in.expected_sha256 = up->sha256;
  in.announce_urls = config_.announce_urls;
  std::string remote = req.remote.to_string();
  // Hashing and piece hashing take seconds for multi-GB files: keep them off the io threads.
  boost::asio::post(ingest_pool_, [this, in, remote, reply = std::move(reply)] {
    store_.RemoveStaleTemp(kAbandonedUploadAge);
    auto t0 = std::chrono::steady_clock::now();
    auto r = Ingest(store_, *key_, in);
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    if (!r.ok()) {
      spdlog::warn("upload {}@{} from {} refused ({}): {}", in.name, in.version, remote, r.status().http_status(),
                   r.status().message());
      ++(r.status().http_status() >= 500 ? uploads_failed_ : uploads_refused_);
      return reply(http::Response::Error(r.status()));
    }
    const Manifest& m = r->artifact.manifest;
    ++(r->created ? uploads_stored_ : uploads_identical_);
    if (r->created) upload_bytes_ += m.size;
    if (r->created) {
      spdlog::info("stored {} ({} bytes, sha256 {}, info_hash {}) from {} in {} ms", m.id(), m.size, m.sha256,
                   m.info_hash, remote, ms);
      Publish(r->artifact);
    } else {
      spdlog::info("upload of {} from {}: identical to the stored one", m.id(), remote);
    }
    reply(http::Response::Json(r->created ? 201 : 200, ToJson(m).dump() + "\n"));
  });
}

http::Response Seeder::HandleGet(const http::Request& req) {
  if (req.path == "/metrics") return http::Response::Text(200, Snapshot().Prometheus());
  auto segs = SplitPath(req.path);
  if (!segs.ok()) return http::Response::Error(segs.status());
  const auto& s = *segs;
  auto not_found = http::Response::Error(Status::NotFound("no such endpoint: " + req.path));
  if (s.size() < 3 || s[0] != "api" || s[1] != "v1") return not_found;
  if (s.size() == 3 && s[2] == "pubkey") return http::Response::Text(200, key_->PublicKeyPem());
  if (s.size() == 3 && s[2] == "status") return StatusJson();
  if (s[2] != "artifacts") return not_found;
  if (s.size() == 3) {
    json list = json::array();
    for (const auto& m : store_.Manifests()) list.push_back(ToJson(m));
    return http::Response::Json(200, json{{"artifacts", list}}.dump() + "\n");
  }
  if (s.size() < 5 || s.size() > 6 || (s.size() == 6 && s[5] != "torrent")) return not_found;
  auto a = store_.Find(s[3], s[4]);
  if (!a) return http::Response::Error(Status::NotFound("no artifact " + s[3] + "@" + s[4]));
  if (s.size() == 5) return http::Response::Json(200, ToJson(a->manifest).dump() + "\n");
  http::Response r{200, "application/x-bittorrent", a->torrent, {}};
  r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + a->manifest.filename + ".torrent\"");
  return r;
}

Metrics Seeder::Snapshot() {
  Metrics m;
  const char* uploads = "Uploads answered, by result: stored (new), identical (already stored), refused (4xx), failed (5xx).";
  m.Counter("spate_seeder_uploads_total", uploads, double(uploads_stored_), {{"result", "stored"}})
      .Counter("spate_seeder_uploads_total", uploads, double(uploads_identical_), {{"result", "identical"}})
      .Counter("spate_seeder_uploads_total", uploads, double(uploads_refused_), {{"result", "refused"}})
      .Counter("spate_seeder_uploads_total", uploads, double(uploads_failed_), {{"result", "failed"}})
      .Counter("spate_seeder_upload_bytes_total", "Bytes of artifacts stored by uploads since start.",
               double(upload_bytes_))
      .Counter("spate_seeder_reads_refused_total", "Reads refused: no read token, or not the read token.",
               double(reads_refused_));
  uint64_t stored_bytes = 0;
  auto list = store_.Manifests();
  std::map<std::string, int> registration;
  for (const auto& m : list) {
    stored_bytes += m.size;
    ++registration[ToString(RegistrationOf(m.id()).state)];
  }
  m.Gauge("spate_seeder_artifacts", "Artifacts stored.", double(list.size()))
      .Gauge("spate_seeder_artifact_bytes", "Bytes of all stored artifacts.", double(stored_bytes));
  for (const char* state : {"pending", "registered", "refused"})
    m.Gauge("spate_seeder_registrations", "Stored artifacts by registration state with the tracker.",
            registration[state], {{"state", state}});
  SessionTotals t = seeding_->Totals();
  m.Counter("spate_seeder_seeded_bytes_total", "Payload bytes sent to peers since start.", double(t.total_uploaded))
      .Gauge("spate_seeder_upload_rate_bytes_per_second", "Payload upload rate to peers.", double(t.upload_rate))
      .Gauge("spate_seeder_peers", "Peers connected, over all artifacts.", t.peers)
      .Gauge("spate_seeder_torrents", "Artifacts being seeded.", t.torrents);
  return m;
}

http::Response Seeder::StatusJson() {
  std::map<std::string, TorrentStats> stats;
  for (auto& t : seeding_->Stats()) stats[t.id] = t;
  json artifacts = json::array();
  for (const auto& m : store_.Manifests()) {
    json j{{"id", m.id()},
           {"size", m.size},
           {"sha256", m.sha256},
           {"info_hash", m.info_hash},
           {"registered", RegistrationOf(m.id()).state == Registration::State::kRegistered}};
    Registration reg = RegistrationOf(m.id());
    j["registration"] = {{"state", ToString(reg.state)}, {"attempts", reg.attempts}, {"error", reg.error}};
    auto it = stats.find(m.id());
    if (it != stats.end()) {
      j["seeding"] = {{"state", it->second.state},
                      {"peers", it->second.peers},
                      {"upload_rate", it->second.upload_rate},
                      {"total_uploaded", it->second.total_uploaded}};
    } else {
      j["seeding"] = nullptr;
    }
    artifacts.push_back(std::move(j));
  }
  SessionTotals t = seeding_->Totals();
  json session{{"peer", seeding_->peer_endpoint()},
               {"torrents", t.torrents},
               {"peers", t.peers},
               {"upload_rate", t.upload_rate},
               {"total_uploaded", t.total_uploaded},
               {"upload_rate_limit", config_.upload_rate}};
  return http::Response::Json(200, json{{"artifacts", artifacts},
                                        {"session", session},
                                        {"tracker", config_.tracker_urls.front()},
                                        {"trackers", config_.tracker_urls}}
                                           .dump(2) +
                                       "\n");
}

}  // namespace spate::seeder
