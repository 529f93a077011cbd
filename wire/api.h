// Control-plane wire types shared by tracker, seeder, fetcher and push.
//
// HTTP JSON API served by the tracker (all under /api/v1). The last column is
// the role whose bearer token the call needs (wire/auth.h): no token or an
// unknown one is 401, a token of another role 403. "read" accepts the push
// token too, and is open when the tracker has no read token (README, Access).
//   POST /artifacts                  ArtifactRegistration           register  -> {"ok":true}
//   GET  /artifacts                  -> {"artifacts":[Manifest...]}                   read
//   POST /pushes                     PushRequest                    push      -> PushProgress
//   GET  /pushes                     ?limit=N (50)  -> {"pushes":[{id,artifact,kind,state,started_by,created_at,
//                                     finished_at,wave,waves,hosts,installed,failed,superseded,cancelled,
//                                     pending}]} newest first                              read
//   GET  /pushes/{id}                ?since=MS  -> PushProgress + "now", "finished_at", "hosts_total";
//                                     with since, only host rows updated at or after MS (pass back "now")  read
//   POST /pushes/{id}/cancel         {"rollback":bool} (optional)   push      -> PushProgress
//        Open rows end "cancelled"; hosts stop and keep staged data. With
//        rollback, a rollback push returns activated hosts to the version
//        they ran before (its id in "rollback_push").
//   POST /pushes/{id}/resume         push      -> PushProgress
//        A paused push goes on; the failures so far are accepted.
//   POST /rollbacks                  RollbackRequest                push      -> PushProgress
//   GET  /fleet                      ?hosts=GLOB -> {"hosts":[{host,addr,location,last_seen,versions:{name:version}}],
//                                     "racks":[{location,hosts,versions:{name:{version:count}}}]}  read
//   GET  /hosts                      -> {"hosts":[{host,addr,location,last_seen}]}     read
//   GET  /hosts/{host}/assignments?generation=G&wait=SECONDS[&addr=IP]                 host {host}
//        Long poll; answers at once when the host's generation differs from G,
//        else after `wait` seconds. Doubles as check-in.   -> AssignmentList
//   POST /hosts/{host}/reports       {"reports":[HostReport...]}    host {host} -> ReportsAnswer
//        Answered per report: 200 with the accepted ones applied, and a
//        refusal (unknown push, host not targeted) for each of the others.
//   POST /hosts/{host}/move          {"addr":"IP"}                  push      -> {"ok":true,"host","addr","location"}
// and, outside /api/v1, GET /stats and GET /metrics (read); /announce,
// /scrape and the dashboard's pages are open.
//
// A push has two phases per host. Distribute: fetch, verify and stage the
// version dir (state "staged"). Activate: switch `current`, run the host's
// activation hook and health check (state "installed", or "failed" with
// `current` back on the previous version). An Assignment with "activate":false
// asks for the first phase only; the same push id handed out again with
// "activate":true (optional on the wire, default true) asks for the second.
// Errors are {"error": "..."} with a 4xx/5xx status.
//
// Host identity: with a host secret on the tracker, host H's endpoints take
// only H's token, hex HMAC-SHA256(secret, "spate-host:" + H) (another host's
// token, or any role's, is 403). Either way a host id is bound to the address
// of the connection it first checked in from (the real source, never the
// `addr` parameter, which if given must equal it); that first check-in is
// admitted only for ids and addresses the tracker's enrolment rule allows
// (--enrol, --enrol-rackmap). Polls and reports for that id from any other
// address are refused with 403 and counted (/stats "control_refused", /metrics
// spate_tracker_control_refused_total); reports from a host that never checked
// in are refused too. The binding is stored with the host (SQLite), so it
// survives restarts. Only POST /hosts/{host}/move (push role) rebinds it.
//
// Seeder (upload; its reads are listed in seeder/seeder.h):
//   PUT /api/v1/artifacts/{name}/{version}?filename=F   body = file bytes,       upload
//       headers: Authorization: Bearer TOKEN, X-Spate-Sha256: hex (optional check)
//       -> 201 Manifest (200 if the identical artifact already exists)
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wire/crypto.h"
#include "wire/merkle.h"
#include "wire/status.h"

namespace spate {

// Names, versions and file names: 1-128 of [A-Za-z0-9._-], not starting with '.'
// (so never "." or ".." or hidden), so they are always safe path components.
Status CheckName(const std::string& what, const std::string& value);
// CheckName, and not a name the install layout gives its own meaning
// (<install>/<name>/current is the symlink to the active version).
Status CheckVersion(const std::string& what, const std::string& value);

// Signed description of one artifact. The signature covers every other field.
struct Manifest {
  std::string name;
  std::string version;
  std::string filename;  // file name inside the torrent and the install dir
  uint64_t size = 0;
  std::string sha256;     // lower-case hex of the whole file
  std::string info_hash;  // lower-case hex, BitTorrent v1
  uint32_t piece_size = 0;
  int64_t created_at = 0;  // unix seconds
  std::string signature;   // base64 Ed25519 over SigningBytes()

  std::string id() const { return name + "@" + version; }
  // Canonical bytes that are signed: the JSON of all fields but the signature, keys sorted.
  std::string SigningBytes() const;
  Status Sign(const SigningKey& key);
  Status Verify(const VerifyKey& key) const;
};
nlohmann::json ToJson(const Manifest& m);
// Strict: every field present with the right type, names valid, hashes well-formed.
Result<Manifest> ManifestFromJson(const nlohmann::json& j);

// Splits "name@version" and checks both halves.
Result<std::pair<std::string, std::string>> ParseArtifactId(const std::string& id);

struct ArtifactRegistration {
  Manifest manifest;
  std::string torrent;  // raw .torrent bytes (base64 on the wire)
  std::string origin;   // the seeder's peer IP address, so the tracker can ration it
};
nlohmann::json ToJson(const ArtifactRegistration& r);
Result<ArtifactRegistration> RegistrationFromJson(const nlohmann::json& j);

// Host states within a push, in order of progress.
inline constexpr const char* kStatePending = "pending";          // assigned, host has not picked it up
inline constexpr const char* kStateDownloading = "downloading";  // fetching pieces
inline constexpr const char* kStateVerifying = "verifying";      // checking SHA-256
inline constexpr const char* kStateStaged = "staged";            // version dir in place, not current; seeding, awaiting activate
inline constexpr const char* kStateInstalled = "installed";      // current, hook and health check passed (terminal, success)
inline constexpr const char* kStateFailed = "failed";            // gave up (terminal); error says why
inline constexpr const char* kStateSuperseded = "superseded";
// ^ set by the tracker, never reported: a newer push of the same artifact name
// targeted this host before it finished, so this push will not install here
// (terminal; not a failure of the host).
inline constexpr const char* kStateCancelled = "cancelled";
// ^ set by the tracker, never reported: the push was cancelled before this
// host activated it (terminal). Staged data stays on the host for reuse.
//
// A host's state in a push only moves forward in the order above (pending ->
// downloading -> verifying -> staged -> installed | failed | superseded); a report that
// would move it back, or out of a terminal state, is ignored for the state.
// Only a new push starts a host over (in a new row).

struct Assignment {
  int64_t push_id = 0;
  Manifest manifest;
  std::string torrent;  // raw .torrent bytes (base64 on the wire)
  // False: distribute only (download, verify, stage; report "staged"). True:
  // also make it live. Optional on the wire (default true) for older trackers.
  bool activate = true;
  // "push" or "rollback" (the push's kind); informational, but signed.
  // Optional on the wire (default "push").
  std::string kind = "push";
  // Base64 Ed25519 signature by the tracker's key over
  // AssignmentSigningBytes(*this, host). Optional on the wire: "" = unsigned
  // (a tracker without a key, or an older one). The manifest's own signature
  // says the seeder built these bytes; this one says the tracker asked this
  // host to act on this push now, which is what a replay would forge.
  std::string signature{};  // (an initializer, so {push_id, manifest, torrent} stays warning-free)
  // Empty: `signature` is over AssignmentSigningBytes itself. Else it is over
  // AssignmentBatchSigningBytes of a Merkle root (wire/merkle.h) that this
  // path leads to from AssignmentSigningBytes: one signature serves a batch
  // of hosts (SignAssignments). Optional on the wire.
  MerklePath proof{};
};

// Canonical bytes the tracker signs for one host's assignment: push id, host
// id, manifest id and info_hash, activate and kind (keys sorted, with a type
// tag so they can never be mistaken for another signed message).
std::string AssignmentSigningBytes(const Assignment& a, const std::string& host);
// What the tracker signs for a batch: the root of the Merkle tree over the
// AssignmentSigningBytes of its assignments, with a type tag of its own.
std::string AssignmentBatchSigningBytes(std::string_view root);
// Ok when `a.signature` is `key`'s signature over AssignmentSigningBytes(a,
// host), or, with a proof, over the batch root that proof leads to from them.
Status VerifyAssignment(const Assignment& a, const std::string& host, const VerifyKey& key);

// Signs many assignments (their AssignmentSigningBytes) with one call of
// `sign` (raw signature, "" on failure): Ed25519 costs ~50 us, and a push
// wakes 10,000 hosts at once. One message is signed as is, with no proof.
struct AssignmentSignature {
  std::string signature;  // base64, "" when `sign` failed
  MerklePath proof;
};
std::vector<AssignmentSignature> SignAssignments(const std::vector<std::string>& signing_bytes,
                                                 const std::function<std::string(const std::string&)>& sign);

// One rule of a host's rack scope: addresses in `cidr` are in the host's rack
// (local) or not. Rules come shortest prefix first; a later, longer rule
// overrides an earlier one (a range of another rack carved out of this one).
struct RackRange {
  std::string cidr;
  bool local = true;
  bool operator==(const RackRange& o) const { return cidr == o.cidr && local == o.local; }
};

struct AssignmentList {
  int64_t generation = 0;  // changes whenever this host's assignments change
  std::vector<Assignment> assignments;
  int announce_interval = 0;  // seconds; informational
  // The address ranges of this host's rack, from the tracker's rackmap; empty
  // when the host is not in the map. Fetchers shape cross-rack traffic with it.
  std::vector<RackRange> rack_ranges;
};
nlohmann::json ToJson(const AssignmentList& a);
Result<AssignmentList> AssignmentListFromJson(const nlohmann::json& j);

// The text of ToJson(a).dump(), byte for byte, written directly: a push wakes
// 10,000 hosts at once, and building each list as a json tree first was half
// of waking one. The lists of a push differ only in their small fields, so
// each assignment's manifest and base64 torrent, the bulk, are written once
// per push and kept in `cache`, which holds the pushes last written.
class AssignmentTextCache {
 public:
  // The manifest's and torrent's JSON text for `a`, made on first use.
  const std::pair<std::string, std::string>& For(const Assignment& a);

 private:
  struct Entry {
    std::string manifest_id;  // a push id reused with another manifest (a new database) is a miss
    std::pair<std::string, std::string> text;
  };
  std::map<int64_t, Entry> by_push_;
};
std::string AssignmentListText(const AssignmentList& a, AssignmentTextCache& cache);

struct HostReport {
  int64_t push_id = 0;
  std::string state;
  uint64_t bytes_done = 0;
  uint64_t total = 0;
  double rate = 0;  // bytes/s received
  int peers = 0;
  std::string error;
  // Attempts at this push so far (1 = the first); transient failures are
  // retried with backoff before the host reports failed. 0 = not told.
  int tries = 0;
};
nlohmann::json ToJson(const HostReport& r);
Result<HostReport> HostReportFromJson(const nlohmann::json& j);
// A host's {"reports":[HostReport...]} body (POST /hosts/{host}/reports):
// every report valid, or the first one that is not, named.
Result<std::vector<HostReport>> HostReportsFromJson(const nlohmann::json& j);

// Part of the tracker's answer to reports: this host is a gateway of its rack
// (handed the origin) in the reported push's swarm. It fetches from peers
// outside its rack only pieces with index % slots == slot, so each piece
// enters the rack once, through one gateway (see fetcher/far_filter.h).
struct GatewayRole {
  int64_t push_id = 0;
  int slot = 0;
  int slots = 1;
};
nlohmann::json ToJson(const GatewayRole& r);
Result<GatewayRole> GatewayRoleFromJson(const nlohmann::json& j);

// The tracker's answer to a batch of reports: {"ok":true,"gateways":[...],
// "refused":[{"push_id":N,"error":"..."}]}. A refused report was not applied;
// sending it again will not help.
struct ReportRefusal {
  int64_t push_id = 0;
  std::string error;
};
struct ReportsAnswer {
  std::vector<GatewayRole> gateways;
  std::vector<ReportRefusal> refused;
  // The host's assignment generation as the tracker has it now (as in
  // AssignmentList); -1 from a tracker that does not say. A host that reports
  // every second learns of a change from it, with no long poll held.
  int64_t generation = -1;
};
nlohmann::json ToJson(const ReportsAnswer& a);
// Lenient: roles and refusals are advice, so malformed entries are skipped and
// missing lists are empty (an older tracker sends no "refused").
ReportsAnswer ReportsAnswerFromJson(const nlohmann::json& j);

// How a push or a rollback activates, and who asked.
struct WaveRequest {
  // Activation waves: hosts per wave, counts or percentages of the targets,
  // e.g. "1,5%,25%,100%" (see push/waves.h). "" = one wave, every host at once.
  std::string waves;
  int64_t wave_pause_ms = 0;  // wait after a wave is healthy before the next starts
  // Activation pauses once more hosts failed than this: "N" or "P%" of targets.
  std::string max_failures = "0";
  std::string started_by;  // who asked, as the client says (the token is the authority)
};

struct PushRequest : WaveRequest {
  std::string artifact;            // name@version
  std::vector<std::string> hosts;  // explicit host ids; empty = use glob
  std::string hosts_glob = "*";    // fnmatch over checked-in hosts, used when `hosts` is empty
};
nlohmann::json ToJson(const PushRequest& r);
Result<PushRequest> PushRequestFromJson(const nlohmann::json& j);

// POST /rollbacks: a push of an earlier version of `name`, run like any push.
struct RollbackRequest : WaveRequest {
  std::string name;
  std::string to;  // version; "" = the version before the newest one pushed
  std::string hosts_glob = "*";
};
nlohmann::json ToJson(const RollbackRequest& r);
Result<RollbackRequest> RollbackRequestFromJson(const nlohmann::json& j);

struct HostProgress {
  std::string host;
  std::string addr;
  std::string location;  // "dc/pod/rack" or "unknown"
  std::string state = kStatePending;
  uint64_t bytes_done = 0;
  uint64_t total = 0;
  double rate = 0;
  std::string error;
  int64_t updated_at = 0;  // unix ms of the last report
  int wave = 0;            // activation wave, 0-based
  int peers = 0;           // as last reported
  int tries = 0;           // as last reported (see HostReport)
  int64_t progress_at = 0; // unix ms when bytes_done or the state last moved
};

struct PushProgress {
  int64_t id = 0;
  std::string artifact;  // name@version
  uint64_t size = 0;
  // "active" until every host row is terminal; then "succeeded" (every host
  // installed), "failed" (at least one failed), else "superseded" (none
  // failed, but a newer push replaced this one on some hosts, so this
  // version is not installed everywhere: not a success).
  // While rows are open: "active", or "paused" (activation stopped: the
  // failure budget is spent; resume or cancel decides). "cancelled" once
  // cancelled.
  std::string state;
  int64_t created_at = 0;  // unix ms
  std::vector<HostProgress> hosts;
  std::string kind = "push";  // or "rollback"
  std::string started_by;
  std::vector<int> waves;     // hosts per activation wave
  int wave = 0;               // the wave now allowed to activate, 0-based
  int64_t wave_pause_ms = 0;
  int max_failures = 0;       // failures tolerated (beyond those accepted by a resume)
  int64_t next_wave_at = 0;   // unix ms the next wave starts, 0 = not scheduled
  std::string reason;         // why paused or cancelled
};
nlohmann::json ToJson(const PushProgress& p);
Result<PushProgress> PushProgressFromJson(const nlohmann::json& j);

// Parses a JSON body, mapping syntax errors to Status::Invalid.
Result<nlohmann::json> ParseJson(const std::string& body);

}  // namespace spate
