// Durable tracker state in SQLite: artifacts, pushes, per-host push state and
// known hosts. Swarm peer lists are not stored: peers re-announce.
//
// WAL with synchronous=NORMAL: a commit is an append to the WAL without fsync,
// so writes are cheap; a power loss may lose the last moments, never corrupt.
// Not thread-safe: the tracker calls it from its single io thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "wire/api.h"
#include "wire/status.h"

struct sqlite3;

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

struct HostRecord {
  std::string host, addr, location;
  int64_t last_seen = 0;  // unix ms
};

class Store {
 public:
  // Opens or creates the database and its schema.
  static Result<std::unique_ptr<Store>> Open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Inserts or replaces by manifest id.
  Status PutArtifact(const ArtifactRecord& a);
  // Inserts the push and all its host rows in one transaction; returns the new id
  // (ids grow monotonically and are never reused).
  Result<int64_t> CreatePush(const std::string& artifact, int64_t created_at, const std::vector<HostProgress>& hosts,
                             const PushPlan& plan);
  Status SavePlan(int64_t id, const PushPlan& plan);
  // Upserts per-host push state, all rows in one transaction.
  Status SavePushHosts(const std::vector<std::pair<int64_t, HostProgress>>& rows);
  Status SaveHosts(const std::vector<HostRecord>& rows);

  struct Snapshot {
    std::vector<ArtifactRecord> artifacts;
    std::vector<PushRecord> pushes;  // by id
    std::vector<HostRecord> hosts;
  };
  Result<Snapshot> Load();

 private:
  explicit Store(sqlite3* db) : db_(db) {}
  Status Exec(const char* sql);
  Status UpsertPushHosts(const std::vector<std::pair<int64_t, HostProgress>>& rows);  // inside a transaction
  Status Error(const std::string& what);
  sqlite3* db_;
};

}  // namespace spate
