#include "wire/api.h"

#include <limits>
#include <type_traits>

namespace spate {

using nlohmann::json;

Status CheckName(const std::string& what, const std::string& value) {
  if (value.empty()) return Status::Invalid(what + " is empty");
  if (value.size() > 128) return Status::Invalid(what + " is longer than 128 characters");
  if (value[0] == '.') return Status::Invalid(what + " '" + value + "' must not start with '.'");
  for (unsigned char c : value) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    if (!ok) return Status::Invalid(what + " '" + value + "' has a character outside [A-Za-z0-9._-]");
  }
  return Status::Ok();
}

Status CheckVersion(const std::string& what, const std::string& value) {
  if (Status s = CheckName(what, value); !s.ok()) return s;
  if (value == "current")
    return Status::Invalid(what + " 'current' is reserved: <install>/<name>/current points at the active version");
  return Status::Ok();
}

namespace {

template <typename T>
struct IsVector : std::false_type {};
template <typename T>
struct IsVector<std::vector<T>> : std::true_type {};

// json::get converts any number to any arithmetic type with a static_cast:
// 1.5 became 1, -1 a huge uint64_t, and 1e300 into an integer is undefined
// behaviour (found by control_api_fuzz). So integers must be JSON integers
// that fit; other types go through get, which throws on a wrong type.
template <typename T>
bool Convert(const json& v, T& out) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u > uint64_t(std::numeric_limits<T>::max())) return false;
      out = static_cast<T>(u);
      return true;
    }
    if (!v.is_number_integer()) return false;
    // Signed storage (what the parser gives negative numbers, and C++ code any int).
    int64_t i = v.get<int64_t>();
    bool fits = i < 0 ? std::is_signed_v<T> && i >= int64_t(std::numeric_limits<T>::min())
                      : uint64_t(i) <= uint64_t(std::numeric_limits<T>::max());
    if (!fits) return false;
    out = static_cast<T>(i);
    return true;
  } else if constexpr (IsVector<T>::value) {
    if (!v.is_array()) return false;
    T items;
    for (const auto& e : v)
      if (!Convert(e, items.emplace_back())) return false;
    out = std::move(items);
    return true;
  } else {
    try {
      out = v.get<T>();
    } catch (const json::exception&) {
      return false;
    }
    return true;
  }
}

// Reads a required field of type T, or records why not.
template <typename T>
bool Get(const json& j, const char* key, T& out, Status& err) {
  if (!err.ok()) return false;
  if (!j.is_object()) {
    err = Status::Invalid("expected a JSON object");
    return false;
  }
  auto it = j.find(key);
  if (it == j.end()) {
    err = Status::Invalid(std::string("missing field '") + key + "'");
    return false;
  }
  if (!Convert(*it, out)) {
    err = Status::Invalid(std::string("field '") + key + "' has the wrong type or is out of range");
    return false;
  }
  return true;
}

template <typename T>
void GetOptional(const json& j, const char* key, T& out, Status& err) {
  if (err.ok() && j.is_object() && j.contains(key) && !j.at(key).is_null()) Get(j, key, out, err);
}

bool IsHex(const std::string& s, size_t len) {
  return s.size() == len && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

json ManifestFields(const Manifest& m) {
  return json{{"name", m.name},           {"version", m.version},     {"filename", m.filename},
              {"size", m.size},           {"sha256", m.sha256},       {"info_hash", m.info_hash},
              {"piece_size", m.piece_size}, {"created_at", m.created_at}};
}

Result<std::string> GetBase64(const json& j, const char* key, Status& err) {
  std::string b64;
  if (!Get(j, key, b64, err)) return err;
  auto raw = Base64Decode(b64);
  if (!raw.ok()) return Status::Invalid(std::string("field '") + key + "': " + raw.status().message());
  return raw;
}

}  // namespace

std::string Manifest::SigningBytes() const { return ManifestFields(*this).dump(); }

Status Manifest::Sign(const SigningKey& key) {
  auto sig = key.Sign(SigningBytes());
  if (!sig.ok()) return sig.status();
  signature = Base64Encode(*sig);
  return Status::Ok();
}

Status Manifest::Verify(const VerifyKey& key) const {
  auto sig = Base64Decode(signature);
  if (!sig.ok() || !key.Verify(SigningBytes(), *sig))
    return Status::Corrupt("manifest " + id() + " has no valid signature from the trusted seeder key");
  return Status::Ok();
}

json ToJson(const Manifest& m) {
  json j = ManifestFields(m);
  j["signature"] = m.signature;
  return j;
}

Result<Manifest> ManifestFromJson(const json& j) {
  Manifest m;
  Status err;
  Get(j, "name", m.name, err);
  Get(j, "version", m.version, err);
  Get(j, "filename", m.filename, err);
  Get(j, "size", m.size, err);
  Get(j, "sha256", m.sha256, err);
  Get(j, "info_hash", m.info_hash, err);
  Get(j, "piece_size", m.piece_size, err);
  Get(j, "created_at", m.created_at, err);
  GetOptional(j, "signature", m.signature, err);
  if (!err.ok()) return Status::Invalid("manifest: " + err.message());
  for (auto [what, v] : {std::pair{"name", &m.name}, {"version", &m.version}, {"filename", &m.filename}}) {
    Status s = v == &m.version ? CheckVersion(what, *v) : CheckName(what, *v);
    if (!s.ok()) return Status::Invalid("manifest: " + s.message());
  }
  // The install layout keeps the manifest beside the file (fetcher/install.h).
  if (m.filename == "manifest.json") return Status::Invalid("manifest: filename must not be manifest.json");
  if (!IsHex(m.sha256, 64)) return Status::Invalid("manifest: sha256 is not 64 lower-case hex digits");
  if (!IsHex(m.info_hash, 40)) return Status::Invalid("manifest: info_hash is not 40 lower-case hex digits");
  return m;
}

Result<std::pair<std::string, std::string>> ParseArtifactId(const std::string& id) {
  auto at = id.find('@');
  if (at == std::string::npos) return Status::Invalid("artifact '" + id + "' is not NAME@VERSION");
  std::string name = id.substr(0, at), version = id.substr(at + 1);
  Status s = CheckName("artifact name", name);
  if (s.ok()) s = CheckVersion("artifact version", version);
  if (!s.ok()) return s;
  return std::pair{name, version};
}

json ToJson(const ArtifactRegistration& r) {
  return json{{"manifest", ToJson(r.manifest)}, {"torrent", Base64Encode(r.torrent)}, {"origin", r.origin}};
}

Result<ArtifactRegistration> RegistrationFromJson(const json& j) {
  ArtifactRegistration r;
  Status err;
  json mj;
  Get(j, "manifest", mj, err);
  GetOptional(j, "origin", r.origin, err);
  if (!err.ok()) return err;
  auto m = ManifestFromJson(mj);
  if (!m.ok()) return m.status();
  r.manifest = *m;
  auto t = GetBase64(j, "torrent", err);
  if (!t.ok()) return t.status();
  r.torrent = *t;
  return r;
}

std::string AssignmentSigningBytes(const Assignment& a, const std::string& host) {
  return json{{"type", "spate-assignment-v1"},
              {"push_id", a.push_id},
              {"host", host},
              {"manifest", a.manifest.id()},
              {"info_hash", a.manifest.info_hash},
              {"activate", a.activate},
              {"kind", a.kind}}
      .dump();
}

std::string AssignmentBatchSigningBytes(std::string_view root) {
  return json{{"type", "spate-assignment-batch-v1"}, {"root", HexEncode(root)}}.dump();
}

Status VerifyAssignment(const Assignment& a, const std::string& host, const VerifyKey& key) {
  if (a.signature.empty()) return Status::Forbidden("assignment is not signed by the tracker");
  std::string bytes = AssignmentSigningBytes(a, host);
  if (!a.proof.empty()) {
    auto root = MerkleRootOf(bytes, a.proof);
    if (!root.ok()) return Status::Forbidden("assignment's batch proof: " + root.status().message());
    bytes = AssignmentBatchSigningBytes(*root);
  }
  auto sig = Base64Decode(a.signature);
  if (!sig.ok() || !key.Verify(bytes, *sig))
    return Status::Forbidden("assignment has no valid signature from the trusted tracker key for host " + host);
  return Status::Ok();
}

std::vector<AssignmentSignature> SignAssignments(const std::vector<std::string>& signing_bytes,
                                                 const std::function<std::string(const std::string&)>& sign) {
  if (signing_bytes.empty()) return {};
  if (signing_bytes.size() == 1) return {{Base64Encode(sign(signing_bytes[0])), {}}};
  MerkleTree tree = BuildMerkleTree(signing_bytes);
  const std::string signature = Base64Encode(sign(AssignmentBatchSigningBytes(tree.root)));
  std::vector<AssignmentSignature> out;
  out.reserve(signing_bytes.size());
  for (auto& path : tree.paths) out.push_back({signature, std::move(path)});
  return out;
}

json ToJson(const AssignmentList& a) {
  json list = json::array();
  for (const auto& x : a.assignments) {
    json item{{"push_id", x.push_id},
              {"manifest", ToJson(x.manifest)},
              {"torrent", Base64Encode(x.torrent)},
              {"activate", x.activate},
              {"kind", x.kind}};
    if (!x.signature.empty()) item["signature"] = x.signature;
    if (!x.proof.empty()) item["proof"] = x.proof;
    list.push_back(std::move(item));
  }
  json ranges = json::array();
  for (const auto& r : a.rack_ranges) ranges.push_back({{"cidr", r.cidr}, {"local", r.local}});
  return json{{"generation", a.generation},
              {"assignments", list},
              {"announce_interval", a.announce_interval},
              {"rack_ranges", ranges}};
}

const std::pair<std::string, std::string>& AssignmentTextCache::For(const Assignment& a) {
  std::string id = a.manifest.id();
  auto it = by_push_.find(a.push_id);
  if (it != by_push_.end() && it->second.manifest_id == id) return it->second.text;
  if (by_push_.size() >= 64) by_push_.erase(by_push_.begin());  // the oldest push ids
  Entry& e = by_push_[a.push_id];
  e.manifest_id = std::move(id);
  e.text = {ToJson(a.manifest).dump(), json(Base64Encode(a.torrent)).dump()};
  return e.text;
}

// Keys in the order nlohmann's objects (std::map) dump them: sorted.
std::string AssignmentListText(const AssignmentList& a, AssignmentTextCache& cache) {
  std::string out = "{\"announce_interval\":" + std::to_string(a.announce_interval) + ",\"assignments\":[";
  for (size_t i = 0; i < a.assignments.size(); ++i) {
    const Assignment& x = a.assignments[i];
    const auto& [manifest, torrent] = cache.For(x);
    if (i > 0) out += ',';
    out += "{\"activate\":";
    out += x.activate ? "true" : "false";
    out += ",\"kind\":" + json(x.kind).dump() + ",\"manifest\":" + manifest;
    if (!x.proof.empty()) out += ",\"proof\":" + json(x.proof).dump();
    out += ",\"push_id\":" + std::to_string(x.push_id);
    if (!x.signature.empty()) out += ",\"signature\":" + json(x.signature).dump();
    out += ",\"torrent\":" + torrent + "}";
  }
  out += "],\"generation\":" + std::to_string(a.generation) + ",\"rack_ranges\":[";
  for (size_t i = 0; i < a.rack_ranges.size(); ++i) {
    if (i > 0) out += ',';
    out += "{\"cidr\":" + json(a.rack_ranges[i].cidr).dump() +
           ",\"local\":" + (a.rack_ranges[i].local ? "true" : "false") + "}";
  }
  out += "]}";
  return out;
}

Result<AssignmentList> AssignmentListFromJson(const json& j) {
  AssignmentList a;
  Status err;
  json list;
  Get(j, "generation", a.generation, err);
  Get(j, "assignments", list, err);
  GetOptional(j, "announce_interval", a.announce_interval, err);
  if (!err.ok()) return err;
  if (!list.is_array()) return Status::Invalid("field 'assignments' is not an array");
  for (const auto& item : list) {
    Assignment x;
    json mj;
    Get(item, "push_id", x.push_id, err);
    Get(item, "manifest", mj, err);
    GetOptional(item, "activate", x.activate, err);
    GetOptional(item, "kind", x.kind, err);
    GetOptional(item, "signature", x.signature, err);
    GetOptional(item, "proof", x.proof, err);
    if (!err.ok()) return err;
    auto m = ManifestFromJson(mj);
    if (!m.ok()) return m.status();
    x.manifest = *m;
    auto t = GetBase64(item, "torrent", err);
    if (!t.ok()) return t.status();
    x.torrent = *t;
    a.assignments.push_back(std::move(x));
  }
  json ranges = json::array();
  GetOptional(j, "rack_ranges", ranges, err);
  if (!err.ok()) return err;
  if (!ranges.is_array()) return Status::Invalid("field 'rack_ranges' is not an array");
  for (const auto& item : ranges) {
    RackRange r;
    Get(item, "cidr", r.cidr, err);
    Get(item, "local", r.local, err);
    if (!err.ok()) return err;
    a.rack_ranges.push_back(std::move(r));
  }
  return a;
}

json ToJson(const HostReport& r) {
  return json{{"push_id", r.push_id}, {"state", r.state}, {"bytes_done", r.bytes_done}, {"total", r.total},
              {"rate", r.rate},       {"peers", r.peers}, {"error", r.error}, {"tries", r.tries}};
}

json ToJson(const GatewayRole& r) { return json{{"push_id", r.push_id}, {"slot", r.slot}, {"slots", r.slots}}; }

Result<GatewayRole> GatewayRoleFromJson(const json& j) {
  GatewayRole r;
  Status err;
  Get(j, "push_id", r.push_id, err);
  Get(j, "slot", r.slot, err);
  Get(j, "slots", r.slots, err);
  if (!err.ok()) return err;
  if (r.slots < 1 || r.slot < 0 || r.slot >= r.slots)
    return Status::Invalid("gateway slot " + std::to_string(r.slot) + " of " + std::to_string(r.slots) + " is out of range");
  return r;
}

json ToJson(const ReportsAnswer& a) {
  json roles = json::array(), refused = json::array();
  for (const auto& g : a.gateways) roles.push_back(ToJson(g));
  for (const auto& r : a.refused) refused.push_back({{"push_id", r.push_id}, {"error", r.error}});
  json j{{"ok", true}, {"gateways", roles}, {"refused", refused}};
  if (a.generation >= 0) j["generation"] = a.generation;
  return j;
}

ReportsAnswer ReportsAnswerFromJson(const json& j) {
  ReportsAnswer a;
  if (!j.is_object()) return a;
  if (j.contains("gateways") && j["gateways"].is_array())
    for (const auto& g : j["gateways"])
      if (auto role = GatewayRoleFromJson(g); role.ok()) a.gateways.push_back(*role);
  if (j.contains("refused") && j["refused"].is_array())
    for (const auto& r : j["refused"]) {
      if (!r.is_object() || !r.contains("push_id") || !r["push_id"].is_number_integer()) continue;
      ReportRefusal out;
      out.push_id = r["push_id"].get<int64_t>();
      if (r.contains("error") && r["error"].is_string()) out.error = r["error"].get<std::string>();
      a.refused.push_back(std::move(out));
    }
  if (j.contains("generation") && j["generation"].is_number_integer() && j["generation"].get<int64_t>() >= 0)
    a.generation = j["generation"].get<int64_t>();
  return a;
}

Result<HostReport> HostReportFromJson(const json& j) {
  HostReport r;
  Status err;
  Get(j, "push_id", r.push_id, err);
  Get(j, "state", r.state, err);
  GetOptional(j, "bytes_done", r.bytes_done, err);
  GetOptional(j, "total", r.total, err);
  GetOptional(j, "rate", r.rate, err);
  GetOptional(j, "peers", r.peers, err);
  GetOptional(j, "error", r.error, err);
  GetOptional(j, "tries", r.tries, err);
  if (!err.ok()) return err;
  for (const char* s : {kStatePending, kStateDownloading, kStateVerifying, kStateStaged, kStateInstalled, kStateFailed})
    if (r.state == s) return r;
  return Status::Invalid("unknown host state '" + r.state + "'");
}

Result<std::vector<HostReport>> HostReportsFromJson(const json& j) {
  if (!j.is_object() || !j.contains("reports") || !j["reports"].is_array())
    return Status::Invalid("body must be {\"reports\":[...]}");
  std::vector<HostReport> reports;
  for (const auto& rj : j["reports"]) {
    auto r = HostReportFromJson(rj);
    if (!r.ok()) return Status::Invalid("report: " + r.status().message());
    reports.push_back(std::move(*r));
  }
  return reports;
}

namespace {

json WaveFields(const WaveRequest& r) {
  return json{{"waves", r.waves},
              {"wave_pause_ms", r.wave_pause_ms},
              {"max_failures", r.max_failures},
              {"started_by", r.started_by}};
}

// Their syntax is checked where they are planned (push/waves.h), against the targets.
void GetWaveFields(const json& j, WaveRequest& r, Status& err) {
  GetOptional(j, "waves", r.waves, err);
  GetOptional(j, "wave_pause_ms", r.wave_pause_ms, err);
  GetOptional(j, "max_failures", r.max_failures, err);
  GetOptional(j, "started_by", r.started_by, err);
  if (err.ok() && r.wave_pause_ms < 0) err = Status::Invalid("wave_pause_ms must not be negative");
  if (err.ok() && r.started_by.size() > 256) err = Status::Invalid("started_by is longer than 256 bytes");
}

}  // namespace

json ToJson(const PushRequest& r) {
  json j = WaveFields(r);
  j["artifact"] = r.artifact;
  j["hosts_glob"] = r.hosts_glob;
  if (!r.hosts.empty()) j["hosts"] = r.hosts;
  return j;
}

Result<PushRequest> PushRequestFromJson(const json& j) {
  PushRequest r;
  Status err;
  Get(j, "artifact", r.artifact, err);
  GetOptional(j, "hosts", r.hosts, err);
  GetOptional(j, "hosts_glob", r.hosts_glob, err);
  GetWaveFields(j, r, err);
  if (!err.ok()) return err;
  auto id = ParseArtifactId(r.artifact);
  if (!id.ok()) return id.status();
  return r;
}

json ToJson(const RollbackRequest& r) {
  json j = WaveFields(r);
  j["name"] = r.name;
  j["to"] = r.to;
  j["hosts_glob"] = r.hosts_glob;
  return j;
}

Result<RollbackRequest> RollbackRequestFromJson(const json& j) {
  RollbackRequest r;
  Status err;
  Get(j, "name", r.name, err);
  GetOptional(j, "to", r.to, err);
  GetOptional(j, "hosts_glob", r.hosts_glob, err);
  GetWaveFields(j, r, err);
  if (!err.ok()) return err;
  if (Status s = CheckName("name", r.name); !s.ok()) return s;
  if (!r.to.empty())
    if (Status s = CheckVersion("version", r.to); !s.ok()) return s;
  return r;
}

json ToJson(const PushProgress& p) {
  json hosts = json::array();
  for (const auto& h : p.hosts)
    hosts.push_back({{"host", h.host},
                     {"addr", h.addr},
                     {"location", h.location},
                     {"state", h.state},
                     {"bytes_done", h.bytes_done},
                     {"total", h.total},
                     {"rate", h.rate},
                     {"error", h.error},
                     {"updated_at", h.updated_at},
                     {"wave", h.wave},
                     {"peers", h.peers},
                     {"tries", h.tries},
                     {"progress_at", h.progress_at}});
  return json{{"id", p.id},
              {"artifact", p.artifact},
              {"size", p.size},
              {"state", p.state},
              {"created_at", p.created_at},
              {"hosts", hosts},
              {"kind", p.kind},
              {"started_by", p.started_by},
              {"waves", p.waves},
              {"wave", p.wave},
              {"wave_pause_ms", p.wave_pause_ms},
              {"max_failures", p.max_failures},
              {"next_wave_at", p.next_wave_at},
              {"reason", p.reason}};
}

Result<PushProgress> PushProgressFromJson(const json& j) {
  PushProgress p;
  Status err;
  json hosts;
  Get(j, "id", p.id, err);
  Get(j, "artifact", p.artifact, err);
  Get(j, "size", p.size, err);
  Get(j, "state", p.state, err);
  Get(j, "created_at", p.created_at, err);
  Get(j, "hosts", hosts, err);
  GetOptional(j, "kind", p.kind, err);
  GetOptional(j, "started_by", p.started_by, err);
  GetOptional(j, "waves", p.waves, err);
  GetOptional(j, "wave", p.wave, err);
  GetOptional(j, "wave_pause_ms", p.wave_pause_ms, err);
  GetOptional(j, "max_failures", p.max_failures, err);
  GetOptional(j, "next_wave_at", p.next_wave_at, err);
  GetOptional(j, "reason", p.reason, err);
  if (!err.ok()) return err;
  if (!hosts.is_array()) return Status::Invalid("field 'hosts' is not an array");
  for (const auto& hj : hosts) {
    HostProgress h;
    Get(hj, "host", h.host, err);
    GetOptional(hj, "addr", h.addr, err);
    GetOptional(hj, "location", h.location, err);
    Get(hj, "state", h.state, err);
    GetOptional(hj, "bytes_done", h.bytes_done, err);
    GetOptional(hj, "total", h.total, err);
    GetOptional(hj, "rate", h.rate, err);
    GetOptional(hj, "error", h.error, err);
    GetOptional(hj, "updated_at", h.updated_at, err);
    GetOptional(hj, "wave", h.wave, err);
    GetOptional(hj, "peers", h.peers, err);
    GetOptional(hj, "tries", h.tries, err);
    GetOptional(hj, "progress_at", h.progress_at, err);
    if (!err.ok()) return err;
    p.hosts.push_back(std::move(h));
  }
  return p;
}

Result<json> ParseJson(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Invalid("request body is not valid JSON");
  return j;
}

}  // namespace spate
