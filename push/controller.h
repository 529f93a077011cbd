// The push controller: artifacts, pushes, hosts and the rules that move them
// (waves, failure budget, cancel, supersede, rollback), with no sockets and
// an injected clock, so every rule is tested as a plain unit
// (controller_test.cc). push/service.h puts HTTP and long polls around it.
//
// Not thread-safe: the daemon calls it from its one io thread.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "push/store.h"
#include "rackmap/rackmap.h"
#include "wire/api.h"
#include "wire/metrics.h"
#include "wire/push_facts.h"
#include "wire/status.h"

namespace spate::push {

struct ControllerOptions {
  // Announce interval handed out while a push of the artifact is open, and otherwise.
  int announce_interval_s = 5;
  int idle_announce_interval_s = 60;
  // Unix ms. Injected so wave pauses and straggler rules run in tests without waiting.
  std::function<int64_t()> now_ms;
  // Enrolment: a host id's first check-in (the one that binds it) is admitted
  // only when the id matches this fnmatch glob and, with enrol_rackmap, its
  // address is in the rackmap.
  std::string enrol_glob = "*";
  bool enrol_rackmap = false;
  // Signs the bytes of one host's assignment (AssignmentSigningBytes in
  // wire/api.h) with the tracker's key: the raw Ed25519 signature, "" on
  // failure. The key stays with the caller (push/service.h), so the
  // controller holds no key and no file. Empty: assignments go out unsigned.
  std::function<std::string(const std::string& bytes)> sign;
};

// A push as a whole. Strings only at the wire (PushStatusName).
enum class PushStatus { kActive, kPaused, kCancelled, kSucceeded, kFailed, kSuperseded };
const char* PushStatusName(PushStatus s);

// One push and the indexes over its rows.
struct Push {
  PushRecord rec;
  std::unordered_map<std::string, size_t> index;          // host -> row
  std::unordered_map<std::string, int> rack_targets;      // location -> rows there
  std::unordered_multimap<std::string, size_t> by_addr;   // host address -> row
  std::set<size_t> dirty;                                 // rows not yet flushed
  int installed = 0, failed = 0, superseded = 0, cancelled = 0, staged = 0;
  // Rows not yet terminal, by wave: a wave is done when it and every earlier
  // one hold none, checked on every report without walking the rows.
  std::vector<int> open_in_wave;

  void Index();
  void SetState(size_t i, const std::string& state);
  void MoveRow(size_t i, const std::string& addr, const std::string& location);
  // A host at `addr` is targeted and not done with this push.
  bool Targets(const std::string& addr) const;
  bool open() const { return installed + failed + superseded + cancelled < int(rec.hosts.size()); }
  PushStatus status() const;
  int waves() const { return std::max<int>(1, int(rec.plan.waves.size())); }
};

struct Host {
  HostRecord rec;
  std::map<std::string, int64_t> latest;  // artifact name -> newest push id targeting this host
  // Changes whenever the host's assignments change (see Generation()).
  int64_t generation = 0;
  int64_t stored_last_seen = 0;  // rec.last_seen as last written (Controller::Seen)
  // The signatures of the host's last answer, by signed bytes: a signature
  // (and its batch proof) stays valid, so the same bytes need no second
  // signing (a timed-out long poll, a reconnect).
  struct Signed {
    std::string bytes;
    AssignmentSignature sig;
  };
  mutable std::vector<Signed> signed_last;
};

// A push as its watchers see it (Controller::Snapshot).
struct PushSnapshot {
  PushProgress progress;  // every row: stragglers are judged on all of them
  int64_t now = 0;        // the answer's time, the next since
  int64_t since = 0;      // > 0: only rows updated at or after it go out
  int64_t finished_at = 0;
  bool open = false;
};
// {...PushProgress, now, finished_at, hosts_total, stragglers}; pure. By
// value: the rows `since` leaves out are dropped in place, not copied again.
nlohmann::json ToJson(PushSnapshot s);

class Controller : public PushFacts {
 public:
  // `swarms` and `rackmap` outlive the controller; `store` is owned.
  Controller(ControllerOptions o, std::unique_ptr<Store> store, const Rackmap& rackmap, Swarms& swarms);

  // Loads artifacts, pushes and hosts, serves every artifact's swarm, and
  // ends rows that a newer push of the same name replaced.
  Status Load();

  Status RegisterArtifact(const ArtifactRegistration& reg);
  Result<PushProgress> CreatePush(const PushRequest& req, const std::string& kind = "push");
  Result<PushProgress> Rollback(const RollbackRequest& req);
  // With rollback, the hosts this push activated go back to what they ran
  // before, by rollback pushes (their ids in *rollback_pushes).
  Result<PushProgress> Cancel(int64_t id, bool rollback, const std::string& by, std::vector<int64_t>* rollback_pushes);
  Result<PushProgress> Resume(int64_t id, const std::string& by);

  // Read side. `since` > 0 keeps only rows updated at or after it.
  // GET /pushes/{id}: a copy of the push's rows, taken here, and turned into
  // JSON by ToJson(PushSnapshot) anywhere (push/service.cc does it off the io
  // thread: tens of microseconds a row). GetPush does both.
  Result<PushSnapshot> Snapshot(int64_t id, int64_t since) const;
  Result<nlohmann::json> GetPush(int64_t id, int64_t since) const;
  nlohmann::json ListPushes(int limit) const;
  nlohmann::json Fleet(const std::string& hosts_glob) const;
  nlohmann::json ListHosts() const;
  nlohmann::json ListArtifacts() const;

  // Hosts. A host id is bound to the address of its first check-in (wire/api.h).
  // Ok when `from` may speak for `host` (for a first check-in: when
  // enrolment admits it); else Forbidden, logged and counted by `kind`.
  Status CheckHostAddress(const std::string& kind, const std::string& host, const std::string& from);
  Status CheckIn(const std::string& host, const std::string& addr);
  // Logs, counts and returns a refusal of a host's request (Forbidden, or `why` as given).
  Status Refuse(const std::string& kind, const std::string& host, const std::string& from, const std::string& why);
  Status Refuse(const std::string& kind, const std::string& host, const std::string& from, Status why);
  // Counts a refused control request of `kind` (register, push, read) that the caller logged.
  void CountRefused(const std::string& kind) { ++refused_[kind]; }
  Result<nlohmann::json> MoveHost(const std::string& host, const std::string& addr);
  // The host's assignment list now (the host must exist: checked in), each
  // assignment signed for this host when ControllerOptions::sign is set.
  AssignmentList AssignmentsFor(const std::string& host) const;
  // The lists of several hosts, in order, with one signature for all their
  // assignments not signed before (wire/api.h SignAssignments): at ~50 us a
  // signature, signing each on its own was most of waking 10,000 hosts.
  std::vector<AssignmentList> AssignmentsFor(const std::vector<std::string>& hosts) const;
  int64_t Generation(const std::string& host) const;
  // Applies a host's reports. Outcomes (rows reaching a terminal state) are
  // not written yet: they wait in OutcomesPending() for WriteOutcomes(), one
  // transaction for all of them, which the caller must run before it
  // acknowledges any report, so an acknowledged outcome is durable
  // (push/service.cc holds the answers until then). Progress rows are
  // written by Flush().
  Result<ReportsAnswer> Reports(const std::string& host, const std::vector<HostReport>& reports);
  size_t OutcomesPending() const { return outcomes_.size(); }
  // Writes the pending outcomes in one transaction; on failure they stay pending.
  Status WriteOutcomes();

  // Time-driven rules (wave pauses); call about once a second.
  void Tick();
  // Several control-plane processes on one database (push/store.h): whether
  // others may write, the descriptor that turns readable when they did (-1:
  // none now), and reading back what they changed. Hosts whose assignments
  // changed by it are in TakeChangedHosts.
  bool shared() const { return store_->shared(); }
  int ChangeFd() const { return store_->ChangeFd(); }
  Status FollowChanges();
  // Writes pending outcomes, then dirty rows and hosts, at most `max_rows`
  // of each; FlushPending() says whether some are left for the next call.
  // 10,000 reporting hosts dirty about as many rows a second, and written in
  // one go they would hold the io thread for tens of milliseconds.
  Status Flush(size_t max_rows = SIZE_MAX);
  bool FlushPending() const { return !dirty_pushes_.empty() || !dirty_hosts_.empty(); }
  // Hosts whose assignments changed since the last call: wake their long polls.
  std::vector<std::string> TakeChangedHosts();

  // PushFacts, for the swarm side.
  bool Active(const std::string& artifact) const override;
  bool Targeted(const std::string& artifact, const std::string& addr) const override;
  int RackTargets(const std::string& artifact, const std::string& location) const override;

  // spate_tracker_pushes... and the control counters, for /metrics and Graphite;
  // and the same for /stats.
  Metrics MetricsSnapshot(size_t long_polls) const;
  nlohmann::json Stats(size_t long_polls) const;

  const Push* FindPush(int64_t id) const;
  const Host* FindHost(const std::string& host) const;

 private:
  int64_t Now() const { return o_.now_ms(); }
  PushProgress Progress(const Push& p) const;
  void TargetHost(Push& p, const std::string& host);
  void Supersede(const std::string& host, const std::string& artifact, int64_t newer,
                 std::vector<std::pair<int64_t, HostProgress>>* rows);
  void SupersedeRow(Push& p, size_t i, int64_t newer, const std::string& artifact,
                    std::vector<std::pair<int64_t, HostProgress>>* rows);
  // Starts the next wave, or pauses the push, when its rules say so.
  void AdvanceWaves(Push& p);
  // Applies `change` to the stored plan (Store::UpdatePlan) and takes what is
  // stored: false when the store failed (logged).
  bool ChangePlan(Push& p, const std::function<bool(PushPlan&)>& change);
  // Takes `plan` as the push's plan; hosts of the waves it opened or closed
  // get their assignments recomputed.
  void SetPlan(Push& p, const PushPlan& plan);
  void Recompute(Host& h);
  void Seen(Host& h, int64_t now);
  static constexpr int64_t kLastSeenWriteMs = 60'000;
  Status Bind(Host& h, const std::string& addr);
  // Points the host and every push row naming it at addr/location; with
  // `dirty` the moved rows are written at the next Flush.
  void PointHostAt(Host& h, const std::string& addr, const std::string& location, bool dirty);
  // What another process wrote (FollowChanges), taken into memory.
  void ApplyArtifact(ArtifactRecord a);
  void ApplyHost(const HostRecord& rec);
  void ApplyPush(PushRecord rec);
  void AddPush(PushRecord rec);
  void ApplyRow(Push& p, const HostProgress& row);
  Status FollowAll();
  // The version each host ran before push `id` activated `name` there.
  std::map<std::string, std::string> PreviousVersions(const Push& p) const;
  void LogStatusChange(const Push& p, PushStatus before) const;
  // Every write to the store goes through Write (these two included), so
  // /metrics shows the database's load and the io thread's time waiting for
  // it (spate_tracker_store_transactions_total, _rows_total, _seconds_total).
  Status SavePushHosts(const std::vector<std::pair<int64_t, HostProgress>>& rows);
  Status SaveHosts(const std::vector<HostRecord>& rows);
  template <class F>
  auto Write(size_t rows, F&& write) {
    auto started = std::chrono::steady_clock::now();
    auto result = write();
    store_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    ++store_transactions_;
    store_rows_ += rows;
    return result;
  }

  ControllerOptions o_;
  std::unique_ptr<Store> store_;
  const Rackmap& rackmap_;
  Swarms& swarms_;
  mutable std::unordered_map<const Location*, std::vector<RackRange>> rack_ranges_;

  std::map<std::string, ArtifactRecord> artifacts_;            // by name@version
  std::map<int64_t, Push> pushes_;                             // by id
  std::map<std::string, std::vector<int64_t>> artifact_pushes_;  // name@version -> push ids
  std::map<std::string, Host> hosts_;
  std::set<std::string> dirty_hosts_;
  std::set<int64_t> dirty_pushes_;
  std::set<std::string> changed_hosts_;
  std::vector<std::pair<int64_t, size_t>> outcomes_;  // (push id, row) reported terminal, not yet written
  std::map<std::string, uint64_t> refused_;  // by kind: poll, report, report_entry, register, push, read
  uint64_t reports_backward_ = 0;
  uint64_t reports_taken_ = 0;  // report entries applied (not refused)
  uint64_t store_transactions_ = 0, store_rows_ = 0;
  double store_seconds_ = 0;
};

}  // namespace spate::push
