// The embedded backend: SQLite, one control-plane process.
//
// WAL with synchronous=NORMAL: a commit is an append to the WAL without fsync,
// so writes are cheap; a power loss may lose the last moments, never corrupt.
#include <sqlite3.h>

#include "push/store_backends.h"

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

// Columns added after the first schema, for databases created before them.
const char* kMigrations[] = {
    "ALTER TABLE pushes ADD COLUMN plan TEXT NOT NULL DEFAULT '{}'",
    "ALTER TABLE push_hosts ADD COLUMN wave INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE push_hosts ADD COLUMN peers INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE push_hosts ADD COLUMN tries INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE push_hosts ADD COLUMN progress_at INTEGER NOT NULL DEFAULT 0",
};

const char* kRowColumns =
    "push_id, host, addr, location, state, bytes_done, total, rate, error, updated_at, wave, peers, tries, progress_at";

// A prepared statement, finalized on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  Stmt(sqlite3* db, const std::string& sql) : Stmt(db, sql.c_str()) {}
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

// Reads a push_hosts row selected with kRowColumns (push_id in column 0).
HostProgress RowFrom(Stmt& st) {
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
  return h;
}

Result<ArtifactRecord> ArtifactFrom(Stmt& st) {
  auto j = ParseJson(st.Text(0));
  if (!j.ok()) return Status::Corrupt("stored manifest: " + j.status().message());
  auto m = ManifestFromJson(*j);
  if (!m.ok()) return Status::Corrupt("stored manifest: " + m.status().message());
  return ArtifactRecord{*m, st.Text(1), st.Text(2), st.Int(3)};
}

class SqliteStore : public Store {
 public:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  ~SqliteStore() override { sqlite3_close(db_); }

  Status Exec(const char* sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      return Status::Io(msg);
    }
    return Status::Ok();
  }

  const char* backend() const override { return "sqlite"; }

  Status PutArtifact(const ArtifactRecord& a) override {
    Stmt st(db_, "INSERT OR REPLACE INTO artifacts (id, manifest, torrent, origin, registered_at) VALUES (?,?,?,?,?)");
    if (!st.ok()) return Error("prepare artifact insert");
    st.Bind(1, a.manifest.id()).Bind(2, ToJson(a.manifest).dump()).Blob(3, a.torrent).Bind(4, a.origin);
    st.Bind(5, a.registered_at);
    if (st.Step() != SQLITE_DONE) return Error("store artifact " + a.manifest.id());
    return Status::Ok();
  }

  Result<int64_t> CreatePush(const std::string& artifact, int64_t created_at, const std::vector<HostProgress>& hosts,
                             const PushPlan& plan) override {
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

  Result<PushPlan> UpdatePlan(int64_t id, const std::function<bool(PushPlan&)>& change) override {
    Status s = Exec("BEGIN IMMEDIATE");
    if (!s.ok()) return s;
    auto fail = [&](Status e) {
      Exec("ROLLBACK");
      return e;
    };
    PushPlan plan;
    {
      Stmt st(db_, "SELECT plan FROM pushes WHERE id = ?");
      if (!st.ok()) return fail(Error("prepare plan read"));
      st.Bind(1, id);
      if (st.Step() != SQLITE_ROW) return fail(Status::NotFound("unknown push " + std::to_string(id)));
      plan = PushPlanFromJson(nlohmann::json::parse(st.Text(0), nullptr, false));
    }
    if (change(plan)) {
      Stmt st(db_, "UPDATE pushes SET plan = ? WHERE id = ?");
      if (!st.ok() || st.Bind(1, ToJson(plan).dump()).Bind(2, id).Step() != SQLITE_DONE)
        return fail(Error("store plan of push " + std::to_string(id)));
    }
    s = Exec("COMMIT");
    if (!s.ok()) return s;
    return plan;
  }

  Status SavePushHosts(const std::vector<std::pair<int64_t, HostProgress>>& rows) override {
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

  Status SaveHosts(const std::vector<HostRecord>& rows) override { return UpsertHosts(rows, false); }
  Status BindHost(const HostRecord& h) override { return UpsertHosts({h}, true); }

  // A bind sets the address; otherwise only last_seen moves (forward).
  Status UpsertHosts(const std::vector<HostRecord>& rows, bool bind) {
    if (rows.empty()) return Status::Ok();
    Status s = Exec("BEGIN");
    if (!s.ok()) return s;
    Stmt st(db_, bind ? "INSERT OR REPLACE INTO hosts (host, addr, location, last_seen) VALUES (?,?,?,?)"
                      : "INSERT INTO hosts (host, addr, location, last_seen) VALUES (?,?,?,?) ON CONFLICT (host) "
                        "DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)");
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

  Result<Snapshot> Load() override {
    Snapshot snap;
    {
      Stmt st(db_, "SELECT manifest, torrent, origin, registered_at FROM artifacts ORDER BY registered_at");
      if (!st.ok()) return Error("load artifacts");
      while (st.Step() == SQLITE_ROW) {
        auto a = ArtifactFrom(st);
        if (!a.ok()) return a.status();
        snap.artifacts.push_back(std::move(*a));
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
      Stmt st(db_, std::string("SELECT ") + kRowColumns + " FROM push_hosts ORDER BY push_id, host");
      if (!st.ok()) return Error("load push hosts");
      size_t pi = 0;
      while (st.Step() == SQLITE_ROW) {
        int64_t id = st.Int(0);
        while (pi < snap.pushes.size() && snap.pushes[pi].id < id) ++pi;
        if (pi == snap.pushes.size() || snap.pushes[pi].id != id) continue;  // orphan row
        snap.pushes[pi].hosts.push_back(RowFrom(st));
      }
    }
    {
      Stmt st(db_, "SELECT host, addr, location, last_seen FROM hosts ORDER BY host");
      if (!st.ok()) return Error("load hosts");
      while (st.Step() == SQLITE_ROW) snap.hosts.push_back(HostRecord{st.Text(0), st.Text(1), st.Text(2), st.Int(3)});
    }
    return snap;
  }

  Result<std::optional<PushRecord>> LoadPush(int64_t id, const std::vector<std::string>* hosts) override {
    PushRecord p;
    {
      Stmt st(db_, "SELECT id, artifact, created_at, plan FROM pushes WHERE id = ?");
      if (!st.ok()) return Error("load push");
      st.Bind(1, id);
      if (st.Step() != SQLITE_ROW) return std::optional<PushRecord>();
      p = PushRecord{
          st.Int(0), st.Text(1), st.Int(2), {}, PushPlanFromJson(nlohmann::json::parse(st.Text(3), nullptr, false))};
    }
    if (hosts == nullptr) {
      Stmt st(db_, std::string("SELECT ") + kRowColumns + " FROM push_hosts WHERE push_id = ? ORDER BY host");
      if (!st.ok()) return Error("load push hosts");
      st.Bind(1, id);
      while (st.Step() == SQLITE_ROW) p.hosts.push_back(RowFrom(st));
    } else {
      Stmt st(db_, std::string("SELECT ") + kRowColumns + " FROM push_hosts WHERE push_id = ? AND host = ?");
      if (!st.ok()) return Error("load push hosts");
      for (const auto& h : *hosts) {
        st.Bind(1, id).Bind(2, h);
        if (st.Step() == SQLITE_ROW) p.hosts.push_back(RowFrom(st));
        st.Reset();
      }
    }
    return std::optional<PushRecord>(std::move(p));
  }

  Result<std::optional<ArtifactRecord>> LoadArtifact(const std::string& id) override {
    Stmt st(db_, "SELECT manifest, torrent, origin, registered_at FROM artifacts WHERE id = ?");
    if (!st.ok()) return Error("load artifact");
    st.Bind(1, id);
    if (st.Step() != SQLITE_ROW) return std::optional<ArtifactRecord>();
    auto a = ArtifactFrom(st);
    if (!a.ok()) return a.status();
    return std::optional<ArtifactRecord>(std::move(*a));
  }

  Result<std::optional<HostRecord>> LoadHost(const std::string& host) override {
    Stmt st(db_, "SELECT host, addr, location, last_seen FROM hosts WHERE host = ?");
    if (!st.ok()) return Error("load host");
    st.Bind(1, host);
    if (st.Step() != SQLITE_ROW) return std::optional<HostRecord>();
    return std::optional<HostRecord>(HostRecord{st.Text(0), st.Text(1), st.Text(2), st.Int(3)});
  }

 private:
  Status Error(const std::string& what) { return Status::Io(what + ": " + sqlite3_errmsg(db_)); }

  // Inside a transaction.
  Status UpsertPushHosts(const std::vector<std::pair<int64_t, HostProgress>>& rows) {
    Stmt st(db_, std::string("INSERT INTO push_hosts (") + kRowColumns +
                     ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (push_id, host) DO UPDATE SET "
                     "addr = excluded.addr, location = excluded.location, state = excluded.state, "
                     "bytes_done = excluded.bytes_done, total = excluded.total, rate = excluded.rate, "
                     "error = excluded.error, updated_at = excluded.updated_at, wave = excluded.wave, "
                     "peers = excluded.peers, tries = excluded.tries, progress_at = excluded.progress_at WHERE " +
                     kRowUpsertGuard);
    if (!st.ok()) return Error("prepare push host upsert");
    for (const auto& [id, h] : rows) {
      st.Bind(1, id).Bind(2, h.host).Bind(3, h.addr).Bind(4, h.location).Bind(5, h.state);
      st.Bind(6, int64_t(h.bytes_done)).Bind(7, int64_t(h.total)).Bind(8, h.rate).Bind(9, h.error);
      st.Bind(10, h.updated_at).Bind(11, int64_t(h.wave)).Bind(12, int64_t(h.peers)).Bind(13, int64_t(h.tries));
      st.Bind(14, h.progress_at);
      if (st.Step() != SQLITE_DONE) return Error("store state of " + h.host + " in push " + std::to_string(id));
      st.Reset();
    }
    return Status::Ok();
  }

  sqlite3* db_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Status::Io("cannot open database " + path + ": " + msg);
  }
  auto s = std::make_unique<SqliteStore>(db);
  sqlite3_busy_timeout(db, 5000);
  for (const char* sql : {"PRAGMA journal_mode=WAL;", "PRAGMA synchronous=NORMAL;", kSchema}) {
    Status st = s->Exec(sql);
    if (!st.ok()) return Status::Io("database " + path + ": " + st.message());
  }
  for (const char* sql : kMigrations) s->Exec(sql);  // fails harmlessly where the column exists
  return std::unique_ptr<Store>(std::move(s));
}

}  // namespace spate
