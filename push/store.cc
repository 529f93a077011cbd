#include "push/store.h"

#include <sqlite3.h>

namespace spate {

namespace {

const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS artifacts (
  id TEXT PRIMARY KEY, manifest TEXT NOT NULL, torrent BLOB NOT NULL, origin TEXT NOT NULL,
  registered_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pushes (
  id INTEGER PRIMARY KEY AUTOINCREMENT, artifact TEXT NOT NULL, created_at INTEGER NOT NULL,
  plan TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS push_hosts (
  push_id INTEGER NOT NULL, host TEXT NOT NULL, addr TEXT NOT NULL, location TEXT NOT NULL,
  state TEXT NOT NULL, bytes_done INTEGER NOT NULL, total INTEGER NOT NULL, rate REAL NOT NULL,
  error TEXT NOT NULL, updated_at INTEGER NOT NULL, wave INTEGER NOT NULL DEFAULT 0,
  peers INTEGER NOT NULL DEFAULT 0, tries INTEGER NOT NULL DEFAULT 0, progress_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (push_id, host));
CREATE TABLE IF NOT EXISTS hosts (
  host TEXT PRIMARY KEY, addr TEXT NOT NULL, location TEXT NOT NULL, last_seen INTEGER NOT NULL);
)";

// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Blob(int i, const std::string& v) {
    sqlite3_bind_blob(s_, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& Bind(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  int Step() { return sqlite3_step(s_); }
  void Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  std::string Text(int i) {
    auto p = reinterpret_cast<const char*>(sqlite3_column_blob(s_, i));
    return p ? std::string(p, size_t(sqlite3_column_bytes(s_, i))) : std::string();
  }
  int64_t Int(int i) { return sqlite3_column_int64(s_, i); }
  double Real(int i) { return sqlite3_column_double(s_, i); }

 private:
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

// Columns added after the first schema, for databases created before them.
const char* kMigrations[] = {
    "ALTER TABLE pushes ADD COLUMN plan TEXT NOT NULL DEFAULT '{}'",
    "ALTER TABLE push_hosts ADD COLUMN wave INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE push_hosts ADD COLUMN peers INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE push_hosts ADD COLUMN tries INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE push_hosts ADD COLUMN progress_at INTEGER NOT NULL DEFAULT 0",
};

}  // namespace

nlohmann::json ToJson(const PushPlan& p) {
  return {{"kind", p.kind},           {"started_by", p.started_by},
          {"waves", p.waves},         {"wave", p.wave},
          {"wave_pause_ms", p.wave_pause_ms}, {"max_failures", p.max_failures},
          {"accepted_failures", p.accepted_failures}, {"next_wave_at", p.next_wave_at},
          {"paused", p.paused},       {"cancelled", p.cancelled},
          {"reason", p.reason}};
}

PushPlan PushPlanFromJson(const nlohmann::json& j) {
  PushPlan p;
  if (!j.is_object()) return p;
  auto get = [&](const char* k, auto& out) {
    if (!j.contains(k)) return;
    try {
      j.at(k).get_to(out);
    } catch (const std::exception&) {
    }
  };
  get("kind", p.kind);
  get("started_by", p.started_by);
  get("waves", p.waves);
  get("wave", p.wave);
  get("wave_pause_ms", p.wave_pause_ms);
  get("max_failures", p.max_failures);
  get("accepted_failures", p.accepted_failures);
  get("next_wave_at", p.next_wave_at);
  get("paused", p.paused);
  get("cancelled", p.cancelled);
  get("reason", p.reason);
  return p;
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Status::Io("cannot open database " + path + ": " + msg);
  }
  std::unique_ptr<Store> s(new Store(db));
  sqlite3_busy_timeout(db, 5000);
  for (const char* sql : {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=NORMAL;", kSchema}) {
    Status st = s->Exec(sql);
    if (!st.ok()) return Status::Io("database " + path + ": " + st.message());
  }
  for (const char* sql : kMigrations) s->Exec(sql);  // fails harmlessly where the column exists
  return s;
}

Store::~Store() { sqlite3_close(db_); }

Status Store::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Status::Io(msg);
  }
  return Status::Ok();
}

Status Store::Error(const std::string& what) { return Status::Io(what + ": " + sqlite3_errmsg(db_)); }

Status Store::PutArtifact(const ArtifactRecord& a) {
  Stmt st(db_, "INSERT OR REPLACE INTO artifacts (id, manifest, torrent, origin, registered_at) VALUES (?,?,?,?,?)");
  if (!st.ok()) return Error("prepare artifact insert");
  st.Bind(1, a.manifest.id()).Bind(2, ToJson(a.manifest).dump()).Blob(3, a.torrent).Bind(4, a.origin).Bind(5, a.registered_at);
  if (st.Step() != SQLITE_DONE) return Error("store artifact " + a.manifest.id());
  return Status::Ok();
}

Result<int64_t> Store::CreatePush(const std::string& artifact, int64_t created_at,
                                  const std::vector<HostProgress>& hosts, const PushPlan& plan) {
  Status s = Exec("BEGIN");
  if (!s.ok()) return s;
  int64_t id = 0;
  {
    Stmt st(db_, "INSERT INTO pushes (artifact, created_at, plan) VALUES (?,?,?)");
    if (!st.ok() || st.Bind(1, artifact).Bind(2, created_at).Bind(3, ToJson(plan).dump()).Step() != SQLITE_DONE) {
      Status e = Error("store push");
      Exec("ROLLBACK");
      return e;
    }
    id = sqlite3_last_insert_rowid(db_);
  }
  std::vector<std::pair<int64_t, HostProgress>> rows;
  for (const auto& h : hosts) rows.emplace_back(id, h);
  s = UpsertPushHosts(rows);  // same transaction: a push never exists without its hosts
  if (!s.ok()) {
    Exec("ROLLBACK");
    return s;
  }
  s = Exec("COMMIT");
  if (!s.ok()) return s;
  return id;
}

Status Store::SavePlan(int64_t id, const PushPlan& plan) {
  Stmt st(db_, "UPDATE pushes SET plan = ? WHERE id = ?");
  if (!st.ok() || st.Bind(1, ToJson(plan).dump()).Bind(2, id).Step() != SQLITE_DONE)
    return Error("store plan of push " + std::to_string(id));
  return Status::Ok();
}

Status Store::UpsertPushHosts(const std::vector<std::pair<int64_t, HostProgress>>& rows) {
  Stmt st(db_,
          "INSERT OR REPLACE INTO push_hosts (push_id, host, addr, location, state, bytes_done, total, rate, error, "
          "updated_at, wave, peers, tries, progress_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  if (!st.ok()) return Error("prepare push host upsert");
  for (const auto& [id, h] : rows) {
    st.Bind(1, id).Bind(2, h.host).Bind(3, h.addr).Bind(4, h.location).Bind(5, h.state);
    st.Bind(6, int64_t(h.bytes_done)).Bind(7, int64_t(h.total)).Bind(8, h.rate).Bind(9, h.error).Bind(10, h.updated_at);
    st.Bind(11, int64_t(h.wave)).Bind(12, int64_t(h.peers)).Bind(13, int64_t(h.tries)).Bind(14, h.progress_at);
    if (st.Step() != SQLITE_DONE) return Error("store state of " + h.host + " in push " + std::to_string(id));
    st.Reset();
  }
  return Status::Ok();
}

Status Store::SavePushHosts(const std::vector<std::pair<int64_t, HostProgress>>& rows) {
  if (rows.empty()) return Status::Ok();
  Status s = Exec("BEGIN");
  if (!s.ok()) return s;
  s = UpsertPushHosts(rows);
  if (!s.ok()) {
    Exec("ROLLBACK");
    return s;
  }
  return Exec("COMMIT");
}

Status Store::SaveHosts(const std::vector<HostRecord>& rows) {
  if (rows.empty()) return Status::Ok();
  Status s = Exec("BEGIN");
  if (!s.ok()) return s;
  Stmt st(db_, "INSERT OR REPLACE INTO hosts (host, addr, location, last_seen) VALUES (?,?,?,?)");
  if (!st.ok()) {
    Status e = Error("prepare host upsert");
    Exec("ROLLBACK");
    return e;
  }
  for (const auto& h : rows) {
    if (st.Bind(1, h.host).Bind(2, h.addr).Bind(3, h.location).Bind(4, h.last_seen).Step() != SQLITE_DONE) {
      Status e = Error("store host " + h.host);
      Exec("ROLLBACK");
      return e;
    }
    st.Reset();
  }
  return Exec("COMMIT");
}

Result<Store::Snapshot> Store::Load() {
  Snapshot snap;
  {
    Stmt st(db_, "SELECT manifest, torrent, origin, registered_at FROM artifacts ORDER BY registered_at");
    if (!st.ok()) return Error("load artifacts");
    while (st.Step() == SQLITE_ROW) {
      auto j = ParseJson(st.Text(0));
      if (!j.ok()) return Status::Corrupt("stored manifest: " + j.status().message());
      auto m = ManifestFromJson(*j);
      if (!m.ok()) return Status::Corrupt("stored manifest: " + m.status().message());
      snap.artifacts.push_back(ArtifactRecord{*m, st.Text(1), st.Text(2), st.Int(3)});
    }
  }
  {
    Stmt st(db_, "SELECT id, artifact, created_at, plan FROM pushes ORDER BY id");
    if (!st.ok()) return Error("load pushes");
    while (st.Step() == SQLITE_ROW) {
      auto plan = nlohmann::json::parse(st.Text(3), nullptr, false);
      snap.pushes.push_back(PushRecord{st.Int(0), st.Text(1), st.Int(2), {}, PushPlanFromJson(plan)});
    }
  }
  {
    Stmt st(db_,
            "SELECT push_id, host, addr, location, state, bytes_done, total, rate, error, updated_at, wave, peers, tries, "
            "progress_at FROM push_hosts "
            "ORDER BY push_id, host");
    if (!st.ok()) return Error("load push hosts");
    size_t pi = 0;
    while (st.Step() == SQLITE_ROW) {
      int64_t id = st.Int(0);
      while (pi < snap.pushes.size() && snap.pushes[pi].id < id) ++pi;
      if (pi == snap.pushes.size() || snap.pushes[pi].id != id) continue;  // orphan row
      HostProgress h;
      h.host = st.Text(1);
      h.addr = st.Text(2);
      h.location = st.Text(3);
      h.state = st.Text(4);
      h.bytes_done = uint64_t(st.Int(5));
      h.total = uint64_t(st.Int(6));
      h.rate = st.Real(7);
      h.error = st.Text(8);
      h.updated_at = st.Int(9);
      h.wave = int(st.Int(10));
      h.peers = int(st.Int(11));
      h.tries = int(st.Int(12));
      h.progress_at = st.Int(13);
      snap.pushes[pi].hosts.push_back(std::move(h));
    }
  }
  {
    Stmt st(db_, "SELECT host, addr, location, last_seen FROM hosts ORDER BY host");
    if (!st.ok()) return Error("load hosts");
    while (st.Step() == SQLITE_ROW) snap.hosts.push_back(HostRecord{st.Text(0), st.Text(1), st.Text(2), st.Int(3)});
  }
  return snap;
}

}  // namespace spate
