// Durable push state: artifacts, pushes, per-host push state and known hosts.
// Swarm peer lists are not stored: peers re-announce.
//
// Two backends behind one interface, chosen by Store::Open:
//   - SQLite (a file path; the embedded default): one control-plane process.
//   - PostgreSQL (postgresql://… or postgres://…): several control-plane
//     processes share one database. Every write also tells the others what it
//     changed (LISTEN/NOTIFY); each follows with Changes() and reads the
//     changed items back (LoadPush, LoadArtifact, LoadHost).
// Not thread-safe: the tracker calls it from its single io thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "wire/api.h"
#include "wire/status.h"

namespace spate {

struct ArtifactRecord {
  Manifest manifest;
  std::string torrent;  // raw .torrent bytes
  std::string origin;   // origin seeder's peer IP
  int64_t registered_at = 0;  // unix ms
};

// What the controller keeps about a push besides its rows; stored as one
// JSON column, so a new field needs no schema change.
struct PushPlan {
  std::string kind = "push";  // or "rollback"
  std::string started_by;
  std::vector<int> waves;     // hosts per wave; empty = one wave of everyone
  int wave = 0;               // the wave allowed to activate
  int64_t wave_pause_ms = 0;
  int max_failures = 0;
  int accepted_failures = 0;  // failures a resume accepted
  int64_t next_wave_at = 0;   // unix ms, 0 = not scheduled
  bool paused = false;
  bool cancelled = false;
  std::string reason;         // why paused or cancelled
};
nlohmann::json ToJson(const PushPlan& p);
PushPlan PushPlanFromJson(const nlohmann::json& j);  // lenient: missing fields keep defaults

struct PushRecord {
  int64_t id = 0;
  std::string artifact;  // name@version
  int64_t created_at = 0;  // unix ms
  std::vector<HostProgress> hosts;
  PushPlan plan;
};

// Whether `s` names a PostgreSQL database (postgresql:// or postgres://).
bool IsPostgresUrl(const std::string& s);

struct HostRecord {
  std::string host, addr, location;
  int64_t last_seen = 0;  // unix ms
};

// What another process sharing the database changed (Store::Changes).
struct StoreChange {
  enum class Kind {
    kArtifact,  // names[0]: the artifact id (name@version)
    kPush,      // push_id: a new push, or one to read back whole
    kPlan,      // push_id: its plan changed
    kRows,      // push_id, names: rows of these hosts changed
    kHosts,     // names: these hosts were bound to an address
    kAll,       // notifications may have been missed (reconnected): read everything back
  };
  Kind kind = Kind::kAll;
  int64_t push_id = 0;
  std::vector<std::string> names;
};

class Store {
 public:
  // A postgresql:// or postgres:// URL opens PostgreSQL; anything else is a
  // SQLite file path. Creates the schema when missing.
  static Result<std::unique_ptr<Store>> Open(const std::string& url_or_path);
  // `url_or_path` with any password in it replaced by ***, for logs and errors.
  static std::string Redacted(const std::string& url_or_path);
  virtual ~Store() = default;

  // Inserts or replaces by manifest id.
  virtual Status PutArtifact(const ArtifactRecord& a) = 0;
  // Inserts the push and all its host rows in one transaction; returns the new id
  // (ids grow monotonically and are never reused, also across processes).
  virtual Result<int64_t> CreatePush(const std::string& artifact, int64_t created_at,
                                     const std::vector<HostProgress>& hosts, const PushPlan& plan) = 0;
  // Read-modify-write of a push's plan, one writer at a time: `change` gets
  // the stored plan and returns whether it changed it (then it is written).
  // Returns the plan as stored afterwards. Another process may have changed
  // the plan since this one last read it, so `change` decides on what is
  // stored, not on a cached copy (a wave is advanced once, never twice).
  virtual Result<PushPlan> UpdatePlan(int64_t id, const std::function<bool(PushPlan&)>& change) = 0;
  // Upserts per-host push state, all rows in one transaction. A row in a
  // terminal state (installed, failed, superseded, cancelled) keeps it: a
  // write of another state over it is dropped, so a writer that had not yet
  // seen the outcome cannot undo it.
  virtual Status SavePushHosts(const std::vector<std::pair<int64_t, HostProgress>>& rows) = 0;
  // Upserts hosts: new ones whole, known ones only their last_seen (never
  // backwards). BindHost writes the address and location too, and tells
  // the other processes.
  virtual Status SaveHosts(const std::vector<HostRecord>& rows) = 0;
  virtual Status BindHost(const HostRecord& h) = 0;

  struct Snapshot {
    std::vector<ArtifactRecord> artifacts;
    std::vector<PushRecord> pushes;  // by id
    std::vector<HostRecord> hosts;
  };
  virtual Result<Snapshot> Load() = 0;
  // One push: its plan and, with `hosts` null, all its rows, else only the
  // rows of those hosts. nullopt when there is no such push.
  virtual Result<std::optional<PushRecord>> LoadPush(int64_t id, const std::vector<std::string>* hosts) = 0;
  virtual Result<std::optional<ArtifactRecord>> LoadArtifact(const std::string& id) = 0;
  virtual Result<std::optional<HostRecord>> LoadHost(const std::string& host) = 0;

  // Sharing. A file descriptor that becomes readable when another process
  // wrote (-1: nobody else can write, as with SQLite); it may change after a
  // reconnect, so callers ask again after each Changes().
  virtual int ChangeFd() const { return -1; }
  // What others changed since the last call (never this process's own
  // writes). Does not block.
  virtual Result<std::vector<StoreChange>> Changes() { return std::vector<StoreChange>{}; }
  // Whether other processes may write to the same database.
  virtual bool shared() const { return false; }
  // "sqlite" or "postgresql".
  virtual const char* backend() const = 0;
};

}  // namespace spate
