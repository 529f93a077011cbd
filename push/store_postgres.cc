// The shared backend: PostgreSQL through libpq, for several control-plane
// processes on one database.
//
// Two connections: one runs every statement, the other only LISTENs, so its
// socket turns readable exactly when a notice arrives (a connection that also
// ran queries would have notices buffered inside libpq, invisible to a socket
// watcher). Every write sends, in its own transaction, notices naming what it
// changed (ChangePayloads); they are delivered on commit, so a reader that
// follows a notice sees the committed rows.
//
// Ids come from the pushes table's sequence, rows are upserted by primary key,
// plans change under SELECT … FOR UPDATE: concurrent writers neither collide
// nor overwrite each other's plan changes.
#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>

#include "push/store_backends.h"

namespace spate {

namespace {

const char* kChannel = "spate_push";

// The schema is created under an advisory lock: two processes starting at
// once on an empty database would otherwise race in CREATE TABLE IF NOT EXISTS.
const char* kSchema = R"(
BEGIN;
SELECT pg_advisory_xact_lock(7313);
CREATE TABLE IF NOT EXISTS artifacts (
  id TEXT PRIMARY KEY, manifest TEXT NOT NULL, torrent BYTEA NOT NULL, origin TEXT NOT NULL,
  registered_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS pushes (
  id BIGSERIAL PRIMARY KEY, artifact TEXT NOT NULL, created_at BIGINT NOT NULL, plan TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS push_hosts (
  push_id BIGINT NOT NULL REFERENCES pushes (id), host TEXT NOT NULL, addr TEXT NOT NULL, location TEXT NOT NULL,
  state TEXT NOT NULL, bytes_done BIGINT NOT NULL, total BIGINT NOT NULL, rate DOUBLE PRECISION NOT NULL,
  error TEXT NOT NULL, updated_at BIGINT NOT NULL, wave INTEGER NOT NULL DEFAULT 0,
  peers INTEGER NOT NULL DEFAULT 0, tries INTEGER NOT NULL DEFAULT 0, progress_at BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (push_id, host));
CREATE TABLE IF NOT EXISTS hosts (
  host TEXT PRIMARY KEY, addr TEXT NOT NULL, location TEXT NOT NULL, last_seen BIGINT NOT NULL);
COMMIT;
)";

const char* kRowColumns =
    "push_id, host, addr, location, state, bytes_done, total, rate, error, updated_at, wave, peers, tries, progress_at";
// The columns' types, for the arrays UpsertRows sends them in.
const char* kRowTypes[] = {"bigint", "text", "text",   "text",    "text",    "bigint",  "bigint",
                           "float8", "text", "bigint", "integer", "integer", "integer", "bigint"};
constexpr int kRowParams = 14;
constexpr size_t kRowsPerStatement = 5000;  // bounds one statement's size (about 1 MB)

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Res = std::unique_ptr<PGresult, ResultDeleter>;

// Query parameters as text (PostgreSQL parses them by the column's type);
// a binary one (bytea) is marked.
class Params {
 public:
  Params& Add(std::string v) {
    values_.push_back(std::move(v));
    binary_.push_back(0);
    return *this;
  }
  Params& Add(int64_t v) { return Add(std::to_string(v)); }
  Params& Add(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return Add(std::string(buf));
  }
  Params& Binary(std::string v) {
    Add(std::move(v));
    binary_.back() = 1;
    return *this;
  }
  int size() const { return int(values_.size()); }
  std::vector<const char*> Values() const {
    std::vector<const char*> out;
    for (const auto& v : values_) out.push_back(v.c_str());
    return out;
  }
  std::vector<int> Lengths() const {
    std::vector<int> out;
    for (const auto& v : values_) out.push_back(int(v.size()));
    return out;
  }
  const std::vector<int>& Formats() const { return binary_; }

 private:
  std::vector<std::string> values_;
  std::vector<int> binary_;
};

// A PostgreSQL array literal of strings: {"a","b"} with " and \ escaped.
std::string TextArray(const std::vector<std::string>& v) {
  std::string out = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : v[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::string Text(PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), size_t(PQgetlength(r, row, col)));
}
int64_t Int(PGresult* r, int row, int col) { return std::strtoll(PQgetvalue(r, row, col), nullptr, 10); }
double Real(PGresult* r, int row, int col) { return std::strtod(PQgetvalue(r, row, col), nullptr); }

HostProgress RowFrom(PGresult* r, int i) {
  HostProgress h;
  h.host = Text(r, i, 1);
  h.addr = Text(r, i, 2);
  h.location = Text(r, i, 3);
  h.state = Text(r, i, 4);
  h.bytes_done = uint64_t(Int(r, i, 5));
  h.total = uint64_t(Int(r, i, 6));
  h.rate = Real(r, i, 7);
  h.error = Text(r, i, 8);
  h.updated_at = Int(r, i, 9);
  h.wave = int(Int(r, i, 10));
  h.peers = int(Int(r, i, 11));
  h.tries = int(Int(r, i, 12));
  h.progress_at = Int(r, i, 13);
  return h;
}

Result<ArtifactRecord> ArtifactFrom(PGresult* r, int i) {
  auto j = ParseJson(Text(r, i, 0));
  if (!j.ok()) return Status::Corrupt("stored manifest: " + j.status().message());
  auto m = ManifestFromJson(*j);
  if (!m.ok()) return Status::Corrupt("stored manifest: " + m.status().message());
  size_t n = 0;
  unsigned char* raw = PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r, i, 1)), &n);
  if (!raw) return Status::Io("out of memory reading a torrent");
  std::string torrent(reinterpret_cast<char*>(raw), n);
  PQfreemem(raw);
  return ArtifactRecord{*m, std::move(torrent), Text(r, i, 2), Int(r, i, 3)};
}

PushRecord PushFrom(PGresult* r, int i) {
  return PushRecord{Int(r, i, 0),
                    Text(r, i, 1),
                    Int(r, i, 2),
                    {},
                    PushPlanFromJson(nlohmann::json::parse(Text(r, i, 3), nullptr, false))};
}

// libpq's messages span lines ("...\n\tThis probably means..."): one line for the log.
std::string OneLine(std::string m) {
  std::string out;
  for (char c : m) {
    if (c == '\n' || c == '\t' || c == '\r') c = ' ';
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out += c;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string ConnError(PGconn* c) { return OneLine(c ? PQerrorMessage(c) : "out of memory"); }

// The server's notices and a dying connection's last words go to the log,
// not raw to stderr (libpq's default).
void LogNotice(void*, const char* message) { spdlog::warn("database: {}", OneLine(message)); }

PGconn* Connect(const std::string& url) {
  // connect_timeout comes first so that one in the URL overrides it.
  const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"5", "spate-tracker", url.c_str(), nullptr};
  PGconn* c = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
  if (c) PQsetNoticeProcessor(c, LogNotice, nullptr);  // kept across PQreset
  return c;
}

class PostgresStore : public Store {
 public:
  PostgresStore(std::string url, PGconn* conn, PGconn* listen) : url_(std::move(url)), conn_(conn), listen_(listen) {}
  ~PostgresStore() override {
    PQfinish(conn_);
    PQfinish(listen_);
  }

  const char* backend() const override { return "postgresql"; }
  bool shared() const override { return true; }

  // Runs `sql` (several statements allowed) with no parameters.
  Status Script(const char* sql, const std::string& what) {
    Res r(PQexec(conn_, sql));
    return Check(r.get(), what);
  }

  Status Listen() {
    Res r(PQexec(listen_, (std::string("LISTEN ") + kChannel).c_str()));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
      return Status::Io("LISTEN " + std::string(kChannel) + ": " + ConnError(listen_));
    PQsetnonblocking(listen_, 1);
    return Status::Ok();
  }

  Status PutArtifact(const ArtifactRecord& a) override {
    return Tx("store artifact " + a.manifest.id(), [&]() -> Status {
      Params p;
      p.Add(a.manifest.id()).Add(ToJson(a.manifest).dump()).Binary(a.torrent).Add(a.origin).Add(a.registered_at);
      Status s =
          Run("INSERT INTO artifacts (id, manifest, torrent, origin, registered_at) VALUES ($1,$2,$3,$4,$5) "
              "ON CONFLICT (id) DO UPDATE SET manifest = excluded.manifest, torrent = excluded.torrent, "
              "origin = excluded.origin, registered_at = excluded.registered_at",
              p);
      if (!s.ok()) return s;
      return Notify(StoreChange{StoreChange::Kind::kArtifact, 0, {a.manifest.id()}});
    });
  }

  Result<int64_t> CreatePush(const std::string& artifact, int64_t created_at, const std::vector<HostProgress>& hosts,
                             const PushPlan& plan) override {
    int64_t id = 0;
    Status s = Tx("store push", [&]() -> Status {
      Params p;
      p.Add(artifact).Add(created_at).Add(ToJson(plan).dump());
      Res r = Query("INSERT INTO pushes (artifact, created_at, plan) VALUES ($1,$2,$3) RETURNING id", p);
      if (PQresultStatus(r.get()) != PGRES_TUPLES_OK || PQntuples(r.get()) != 1) return Check(r.get(), "insert push");
      id = Int(r.get(), 0, 0);
      std::vector<std::pair<int64_t, HostProgress>> rows;
      for (const auto& h : hosts) rows.emplace_back(id, h);
      // Same transaction: a push never exists without its hosts.
      return UpsertRows(Unique(rows), ChangePayloads(StoreChange{StoreChange::Kind::kPush, id, {}}));
    });
    if (!s.ok()) return s;
    return id;
  }

  Result<PushPlan> UpdatePlan(int64_t id, const std::function<bool(PushPlan&)>& change) override {
    PushPlan plan;
    Status s = Tx("store plan of push " + std::to_string(id), [&]() -> Status {
      Params p;
      p.Add(id);
      Res r = Query("SELECT plan FROM pushes WHERE id = $1 FOR UPDATE", p);
      if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) return Check(r.get(), "read plan");
      if (PQntuples(r.get()) != 1) return Status::NotFound("unknown push " + std::to_string(id));
      plan = PushPlanFromJson(nlohmann::json::parse(Text(r.get(), 0, 0), nullptr, false));
      if (!change(plan)) return Status::Ok();
      Params u;
      u.Add(ToJson(plan).dump()).Add(id);
      if (Status w = Run("UPDATE pushes SET plan = $1 WHERE id = $2", u); !w.ok()) return w;
      return Notify(StoreChange{StoreChange::Kind::kPlan, id, {}});
    });
    if (!s.ok()) return s;
    return plan;
  }

  Status SavePushHosts(const std::vector<std::pair<int64_t, HostProgress>>& in) override {
    if (in.empty()) return Status::Ok();
    auto rows = Unique(in);
    std::map<int64_t, std::set<std::string>> by_push;
    for (const auto* r : rows) by_push[r->first].insert(r->second.host);
    std::vector<std::string> notices;
    for (const auto& [id, hosts] : by_push)
      for (auto& n : ChangePayloads(StoreChange{StoreChange::Kind::kRows, id, {hosts.begin(), hosts.end()}}))
        notices.push_back(std::move(n));
    // Up to one statement's worth (a host's outcome, a second's progress) is
    // one round trip: a statement is its own transaction, notices included.
    if (rows.size() <= kRowsPerStatement) {
      Status s = UpsertRows(rows, notices);
      return s.ok() ? s : Status::Io("store push host states: " + s.message());
    }
    return Tx("store push host states", [&]() -> Status { return UpsertRows(rows, notices); });
  }

  Status SaveHosts(const std::vector<HostRecord>& rows) override {
    if (rows.empty()) return Status::Ok();
    return Tx("store hosts", [&]() -> Status { return UpsertHosts(rows, false); });
  }

  Status BindHost(const HostRecord& h) override {
    return Tx("store host " + h.host, [&]() -> Status {
      if (Status s = UpsertHosts({h}, true); !s.ok()) return s;
      return Notify(StoreChange{StoreChange::Kind::kHosts, 0, {h.host}});
    });
  }

  Result<Snapshot> Load() override {
    Snapshot snap;
    // One snapshot of the whole database, not four moments of it.
    Status s = Tx("load", [&]() -> Status {
      Res a = Query("SELECT manifest, torrent, origin, registered_at FROM artifacts ORDER BY registered_at, id", {});
      if (PQresultStatus(a.get()) != PGRES_TUPLES_OK) return Check(a.get(), "load artifacts");
      for (int i = 0; i < PQntuples(a.get()); ++i) {
        auto rec = ArtifactFrom(a.get(), i);
        if (!rec.ok()) return rec.status();
        snap.artifacts.push_back(std::move(*rec));
      }
      Res p = Query("SELECT id, artifact, created_at, plan FROM pushes ORDER BY id", {});
      if (PQresultStatus(p.get()) != PGRES_TUPLES_OK) return Check(p.get(), "load pushes");
      for (int i = 0; i < PQntuples(p.get()); ++i) snap.pushes.push_back(PushFrom(p.get(), i));
      Res h = Query(std::string("SELECT ") + kRowColumns + " FROM push_hosts ORDER BY push_id, host", {});
      if (PQresultStatus(h.get()) != PGRES_TUPLES_OK) return Check(h.get(), "load push hosts");
      size_t pi = 0;
      for (int i = 0; i < PQntuples(h.get()); ++i) {
        int64_t id = Int(h.get(), i, 0);
        while (pi < snap.pushes.size() && snap.pushes[pi].id < id) ++pi;
        if (pi == snap.pushes.size() || snap.pushes[pi].id != id) continue;
        snap.pushes[pi].hosts.push_back(RowFrom(h.get(), i));
      }
      Res k = Query("SELECT host, addr, location, last_seen FROM hosts ORDER BY host", {});
      if (PQresultStatus(k.get()) != PGRES_TUPLES_OK) return Check(k.get(), "load hosts");
      for (int i = 0; i < PQntuples(k.get()); ++i)
        snap.hosts.push_back(
            HostRecord{Text(k.get(), i, 0), Text(k.get(), i, 1), Text(k.get(), i, 2), Int(k.get(), i, 3)});
      return Status::Ok();
    });
    if (!s.ok()) return s;
    return snap;
  }

  Result<std::optional<PushRecord>> LoadPush(int64_t id, const std::vector<std::string>* hosts) override {
    std::optional<PushRecord> out;
    Status s = Tx("load push " + std::to_string(id), [&]() -> Status {
      Params p;
      p.Add(id);
      Res r = Query("SELECT id, artifact, created_at, plan FROM pushes WHERE id = $1", p);
      if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) return Check(r.get(), "load push");
      if (PQntuples(r.get()) == 0) return Status::Ok();
      out = PushFrom(r.get(), 0);
      if (hosts && hosts->empty()) return Status::Ok();
      Res h =
          hosts ? Query(std::string("SELECT ") + kRowColumns +
                            " FROM push_hosts WHERE push_id = $1 AND host = ANY($2::text[]) ORDER BY host",
                        Params(p).Add(TextArray(*hosts)))
                : Query(std::string("SELECT ") + kRowColumns + " FROM push_hosts WHERE push_id = $1 ORDER BY host", p);
      if (PQresultStatus(h.get()) != PGRES_TUPLES_OK) return Check(h.get(), "load push hosts");
      for (int i = 0; i < PQntuples(h.get()); ++i) out->hosts.push_back(RowFrom(h.get(), i));
      return Status::Ok();
    });
    if (!s.ok()) return s;
    return out;
  }

  Result<std::optional<ArtifactRecord>> LoadArtifact(const std::string& id) override {
    Params p;
    p.Add(id);
    Res r = Read("SELECT manifest, torrent, origin, registered_at FROM artifacts WHERE id = $1", p);
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) return Check(r.get(), "load artifact " + id);
    if (PQntuples(r.get()) == 0) return std::optional<ArtifactRecord>();
    auto a = ArtifactFrom(r.get(), 0);
    if (!a.ok()) return a.status();
    return std::optional<ArtifactRecord>(std::move(*a));
  }

  Result<std::optional<HostRecord>> LoadHost(const std::string& host) override {
    Params p;
    p.Add(host);
    Res r = Read("SELECT host, addr, location, last_seen FROM hosts WHERE host = $1", p);
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK) return Check(r.get(), "load host " + host);
    if (PQntuples(r.get()) == 0) return std::optional<HostRecord>();
    return std::optional<HostRecord>(
        HostRecord{Text(r.get(), 0, 0), Text(r.get(), 0, 1), Text(r.get(), 0, 2), Int(r.get(), 0, 3)});
  }

  int ChangeFd() const override { return PQstatus(listen_) == CONNECTION_OK ? PQsocket(listen_) : -1; }

  Result<std::vector<StoreChange>> Changes() override {
    std::vector<StoreChange> out;
    if (PQstatus(listen_) != CONNECTION_OK || PQconsumeInput(listen_) == 0) {
      // Lost: whatever was sent meanwhile is gone, so the caller reads
      // everything back. Reconnecting blocks (up to connect_timeout), so it
      // is tried at most every few seconds while the server is away.
      const auto now = std::chrono::steady_clock::now();
      if (now < next_listen_attempt_) return Status::Unavailable("listening for changes: reconnecting");
      next_listen_attempt_ = now + std::chrono::seconds(3);
      PQreset(listen_);
      if (PQstatus(listen_) != CONNECTION_OK) return Status::Io("listening for changes: " + ConnError(listen_));
      if (Status s = Listen(); !s.ok()) return s;
      out.push_back(StoreChange{StoreChange::Kind::kAll, 0, {}});
      return out;
    }
    const int self = PQbackendPID(conn_);
    while (PGnotify* n = PQnotifies(listen_)) {
      if (n->be_pid != self || self == 0)
        if (auto c = ParseChangePayload(n->extra)) out.push_back(std::move(*c));
      PQfreemem(n);
    }
    return out;
  }

 private:
  // After a failure: true when the connection was lost and is back (the
  // server restarted, say), so a statement that cannot have taken effect may
  // be sent again.
  bool Reconnected() {
    if (PQstatus(conn_) == CONNECTION_OK) return false;
    PQreset(conn_);
    return PQstatus(conn_) == CONNECTION_OK;
  }

  // A read outside a transaction, sent again once if the connection was lost.
  Res Read(const std::string& sql, const Params& p) {
    Res r = Query(sql, p);
    if (PQresultStatus(r.get()) != PGRES_TUPLES_OK && Reconnected()) r = Query(sql, p);
    return r;
  }

  Res Query(const std::string& sql, const Params& p) {
    if (PQstatus(conn_) != CONNECTION_OK) PQreset(conn_);
    auto values = p.Values();
    auto lengths = p.Lengths();
    return Res(PQexecParams(conn_, sql.c_str(), p.size(), nullptr, values.data(), lengths.data(), p.Formats().data(),
                            /*text results*/ 0));
  }

  Status Run(const std::string& sql, const Params& p) {
    Res r = Query(sql, p);
    return Check(r.get(), "statement");
  }

  Status Check(PGresult* r, const std::string& what) {
    auto st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return Status::Ok();
    std::string m = OneLine(r ? PQresultErrorMessage(r) : "");
    if (m.empty()) m = ConnError(conn_);
    return Status::Io(what + ": " + m);
  }

  // Runs `body` in a transaction: committed when it returns Ok, else rolled
  // back and its error returned, prefixed with `what`. Never retried: a
  // commit whose answer was lost may have happened, and a retry would then
  // write twice (two pushes for one request).
  Status Tx(const std::string& what, const std::function<Status()>& body) {
    Status begun = Script("BEGIN", "begin");
    if (!begun.ok() && Reconnected()) begun = Script("BEGIN", "begin");  // nothing was sent yet: safe to retry
    if (!begun.ok()) return Status::Io(what + ": " + begun.message());
    Status s = body();
    if (s.ok()) s = Script("COMMIT", "commit");
    if (!s.ok()) {
      if (PQstatus(conn_) == CONNECTION_OK) Script("ROLLBACK", "rollback");
      if (s.code() == Status::Code::kNotFound) return s;
      return Status::Io(what + ": " + s.message());
    }
    return s;
  }

  Status Notify(const StoreChange& c) {
    for (const auto& payload : ChangePayloads(c)) {
      Params p;
      p.Add(std::string(kChannel)).Add(payload);
      if (Status s = Run("SELECT pg_notify($1, $2)", p); !s.ok()) return s;
    }
    return Status::Ok();
  }

  using RowRef = const std::pair<int64_t, HostProgress>*;

  // One statement may not touch a row twice: the last state given for a row wins.
  static std::vector<RowRef> Unique(const std::vector<std::pair<int64_t, HostProgress>>& in) {
    std::map<std::pair<int64_t, std::string>, size_t> last;
    for (size_t i = 0; i < in.size(); ++i) last[{in[i].first, in[i].second.host}] = i;
    std::vector<size_t> keep;
    for (const auto& [k, i] : last) keep.push_back(i);
    std::sort(keep.begin(), keep.end());
    std::vector<RowRef> rows;
    for (size_t i : keep) rows.push_back(&in[i]);
    return rows;
  }

  // Upserts `rows` (Unique), and sends `notices` in the same statement as the last of them.
  Status UpsertRows(const std::vector<RowRef>& rows, const std::vector<std::string>& notices) {
    // One array per column, unnested into rows: 14 parameters whatever the
    // row count, so a 10,000-row flush is one short statement to parse.
    for (size_t from = 0; from < rows.size(); from += kRowsPerStatement) {
      const size_t to = std::min(rows.size(), from + kRowsPerStatement);
      std::vector<std::vector<std::string>> cols(kRowParams);
      for (auto& c : cols) c.reserve(to - from);
      char buf[32];
      for (size_t i = from; i < to; ++i) {
        const auto& [id, h] = *rows[i];
        std::snprintf(buf, sizeof buf, "%.17g", h.rate);
        const std::string v[kRowParams] = {std::to_string(id),
                                           h.host,
                                           h.addr,
                                           h.location,
                                           h.state,
                                           std::to_string(h.bytes_done),
                                           std::to_string(h.total),
                                           buf,
                                           h.error,
                                           std::to_string(h.updated_at),
                                           std::to_string(h.wave),
                                           std::to_string(h.peers),
                                           std::to_string(h.tries),
                                           std::to_string(h.progress_at)};
        for (int c = 0; c < kRowParams; ++c) cols[size_t(c)].push_back(v[c]);
      }
      const bool last = to == rows.size();
      std::string sql = std::string(last && !notices.empty() ? "WITH up AS (" : "") + "INSERT INTO push_hosts (" +
                        kRowColumns + ") SELECT * FROM unnest(";
      Params p;
      for (int c = 0; c < kRowParams; ++c) {
        sql += (c ? ",$" : "$") + std::to_string(c + 1) + "::" + kRowTypes[c] + "[]";
        p.Add(TextArray(cols[size_t(c)]));
      }
      sql += std::string(
                 ") ON CONFLICT (push_id, host) DO UPDATE SET addr = excluded.addr, location = excluded.location, "
                 "state = excluded.state, bytes_done = excluded.bytes_done, total = excluded.total, "
                 "rate = excluded.rate, error = excluded.error, updated_at = excluded.updated_at, "
                 "wave = excluded.wave, peers = excluded.peers, tries = excluded.tries, "
                 "progress_at = excluded.progress_at WHERE ") +
             kRowUpsertGuard;
      if (last && !notices.empty()) {
        // A data-modifying WITH runs to completion whether or not it is read.
        sql += std::string(") SELECT pg_notify('") + kChannel + "', n) FROM unnest($" + std::to_string(p.size() + 1) +
               "::text[]) n";
        p.Add(TextArray(notices));
      }
      if (Status s = Run(sql, p); !s.ok()) return s;
    }
    return Status::Ok();
  }

  // A bind sets the address; otherwise only last_seen moves (forward), so a
  // process that has not yet followed a bind made elsewhere cannot undo it.
  Status UpsertHosts(const std::vector<HostRecord>& in, bool bind) {
    std::map<std::string, const HostRecord*> unique;  // a statement may not touch a row twice
    for (const auto& h : in) unique[h.host] = &h;
    std::vector<const HostRecord*> rows;
    for (const auto& [name, h] : unique) rows.push_back(h);
    for (size_t from = 0; from < rows.size(); from += kRowsPerStatement) {
      size_t to = std::min(rows.size(), from + kRowsPerStatement);
      std::string sql = "INSERT INTO hosts (host, addr, location, last_seen) VALUES ";
      Params p;
      for (size_t i = from; i < to; ++i) {
        const int b = p.size();
        sql += (i == from ? "($" : ",($") + std::to_string(b + 1) + "::text,$" + std::to_string(b + 2) + "::text,$" +
               std::to_string(b + 3) + "::text,$" + std::to_string(b + 4) + "::bigint)";
        p.Add(rows[i]->host).Add(rows[i]->addr).Add(rows[i]->location).Add(rows[i]->last_seen);
      }
      sql += bind ? " ON CONFLICT (host) DO UPDATE SET addr = excluded.addr, location = excluded.location, "
                    "last_seen = excluded.last_seen"
                  : " ON CONFLICT (host) DO UPDATE SET last_seen = GREATEST(hosts.last_seen, excluded.last_seen)";
      if (Status s = Run(sql, p); !s.ok()) return s;
    }
    return Status::Ok();
  }

  std::string url_;
  PGconn* conn_;
  PGconn* listen_;
  std::chrono::steady_clock::time_point next_listen_attempt_{};
};

}  // namespace

Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url) {
  const std::string shown = Store::Redacted(url);
  PGconn* conn = Connect(url);
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string m = ConnError(conn);
    PQfinish(conn);
    return Status::Io("cannot connect to database " + shown + ": " + m);
  }
  PGconn* listen = Connect(url);
  if (PQstatus(listen) != CONNECTION_OK) {
    std::string m = ConnError(listen);
    PQfinish(conn);
    PQfinish(listen);
    return Status::Io("cannot connect to database " + shown + ": " + m);
  }
  auto s = std::make_unique<PostgresStore>(url, conn, listen);
  // Quiet the server's NOTICEs (CREATE TABLE IF NOT EXISTS on an existing table sends one).
  s->Script("SET client_min_messages = warning", "settings");
  if (Status st = s->Script(kSchema, "schema"); !st.ok()) {
    s->Script("ROLLBACK", "rollback");
    return Status::Io("database " + shown + ": " + st.message());
  }
  // Listening starts before the caller's first Load, so nothing written
  // between the two is missed.
  if (Status st = s->Listen(); !st.ok()) return Status::Io("database " + shown + ": " + st.message());
  return std::unique_ptr<Store>(std::move(s));
}

}  // namespace spate
