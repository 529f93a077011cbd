// HTTP around the push controller: routes, roles (wire/auth.h), long polls, the tick.
#include "push/service.h"

#include <spdlog/spdlog.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <filesystem>
#include <unordered_set>

#include "push/background.h"
#include "push/dashboard.h"
#include "wire/crypto.h"
#include "wire/fs.h"

namespace spate::push {

namespace asio = boost::asio;
using nlohmann::json;

namespace {

http::Response Err(const Status& s) { return http::Response::Error(s); }
http::Response JsonReply(const json& j) { return http::Response::Json(200, j.dump() + "\n"); }

std::string Param(const std::vector<std::pair<std::string, std::string>>& q, const std::string& key) {
  for (const auto& [k, v] : q)
    if (k == key) return v;
  return "";
}

Result<int64_t> ParseInt(const std::string& what, const std::string& v) {
  if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789-") != std::string::npos ||
      v.find('-', 1) != std::string::npos || v == "-")
    return Status::Invalid(what + " must be an integer, got '" + v + "'");
  return int64_t(std::stoll(v));
}

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos < path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    if (slash > pos) parts.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return parts;
}

std::string Canonical(const asio::ip::address& a) {
  // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d; hosts and
  // rackmaps know them as a.b.c.d.
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  return a.to_string();
}

}  // namespace

std::string SourceAddress(const http::Request& req) { return Canonical(req.remote); }

Status ServiceOptions::Validate() const {
  if (!keys.Has(auth::Role::kRegister) || !keys.Has(auth::Role::kPush))
    return Status::Invalid(
        "no admin token: pass --token-file FILE (register and push tokens), --admin-token or set SPATE_ADMIN_TOKEN "
        "(needed to register artifacts and create pushes)");
  if (open_reads && keys.Has(auth::Role::kRead))
    return Status::Invalid("--open-reads contradicts the read token in the token file: drop one");
  if (enrol_glob.empty()) return Status::Invalid("--enrol must not be empty ('*' admits every host id)");
  if (db_path.empty()) return Status::Invalid("--db must not be empty");
  if (wake_slice_hosts < 1) return Status::Invalid("wake slice must hold at least one host");
  if (IsPostgresUrl(db_path) && key_path.empty())
    return Status::Invalid("--db " + Store::Redacted(db_path) +
                           " needs --key FILE: the assignment signing key cannot go beside a database URL (give "
                           "every tracker sharing the database the same key, so fetchers trust them all)");
  if (max_wait.count() < 1) return Status::Invalid("max wait must be at least 1s");
  if (flush_interval.count() < 1) return Status::Invalid("flush interval must be positive");
  return Status::Ok();
}

Status LoadAccess(const std::string& token_file, const std::string& admin_token, ServiceOptions* o) {
  if (!token_file.empty() && !admin_token.empty())
    return Status::Invalid("--token-file and --admin-token both given: the token file's register and push lines "
                           "replace the admin token");
  if (token_file.empty()) {
    if (Status s = auth::CheckSecret("the admin token", admin_token); !s.ok() && !admin_token.empty()) return s;
    o->keys.Set(auth::Role::kRegister, admin_token);
    o->keys.Set(auth::Role::kPush, admin_token);
    o->shared_admin_token = !admin_token.empty();
    return Status::Ok();
  }
  auto f = auth::LoadTokenFile(token_file);
  if (!f.ok()) return Status::Invalid("--token-file: " + f.status().message());
  for (const auto& [role, token] : f->tokens) o->keys.Set(role, token);
  if (!f->host_secret.empty()) o->keys.SetHostSecret(f->host_secret);
  o->shared_admin_token = false;
  return Status::Ok();
}

struct Waiter {
  http::Reply reply;
  std::shared_ptr<asio::steady_timer> timer;
};

struct Service::Impl {
  ServiceOptions o;
  asio::io_context& io;
  Controller controller;
  asio::steady_timer tick;
  std::map<std::string, std::map<uint64_t, Waiter>> waiters;  // by host
  uint64_t next_waiter = 1;
  std::string public_key_path;
  // The store's change descriptor (a libpq socket, owned by libpq: released,
  // never closed, here), watched so that writes by other control-plane
  // processes wake this one at once.
  std::unique_ptr<asio::posix::stream_descriptor> changes;
  // Report answers waiting for the outcomes' group commit (CommitOutcomes).
  std::vector<std::pair<http::Reply, http::Response>> held_reports;
  bool commit_posted = false;
  // Hosts whose long polls WakeChanged has yet to answer, in order, and as a set.
  std::deque<std::string> to_wake;
  std::unordered_set<std::string> to_wake_set;
  bool wake_posted = false;
  // Posted handlers (WakeSlice's next slice) hold it weakly: they do nothing
  // once the service is gone, should the io_context run them after.
  std::shared_ptr<int> alive = std::make_shared<int>(0);
  asio::steady_timer commit_timer;
  // Progress rows go to the store kFlushRows at a time, kFlushGap apart, so
  // a flush of 10,000 rows never holds a report for long.
  static constexpr size_t kFlushRows = 1000;
  static constexpr std::chrono::milliseconds kFlushGap{20};
  asio::steady_timer flush_timer{io};
  bool flush_posted = false;
  AssignmentTextCache assignment_text;  // what AssignmentListText writes once per push
  // Builds the JSON of whole pushes (push/background.h). Last member: it
  // goes first, with the replies its jobs hold, while the rest still stands.
  Background background;

  Impl(const ServiceOptions& opts, asio::io_context& i, ControllerOptions co, std::unique_ptr<Store> store,
       const Rackmap& rackmap, Swarms& swarms)
      : o(opts), io(i), controller(std::move(co), std::move(store), rackmap, swarms), tick(i), commit_timer(i) {}

  size_t LongPolls() const {
    size_t n = 0;
    for (const auto& [h, w] : waiters) n += w.size();
    return n;
  }

  // Ok when `req` may act in `need`; else the 401/403 status, logged with the
  // caller's address and counted (spate_tracker_control_refused_total).
  Status Authorize(const http::Request& req, auth::Role need) {
    if (need == auth::Role::kRead && !o.keys.Has(auth::Role::kRead)) return Status::Ok();  // open reads
    Status s = o.keys.Check(req.bearer_token(), need);
    if (!s.ok()) {
      controller.CountRefused(auth::RoleName(need));
      spdlog::warn("refused {} {} from {}: {}", req.method, req.path, SourceAddress(req), s.message());
    }
    return s;
  }

  // With a host secret, only host `host`'s own token speaks for it. `kind`
  // is the request as counted: poll or report.
  Status AuthorizeHost(const http::Request& req, const std::string& kind, const std::string& host) {
    if (!o.keys.HasHostSecret()) return Status::Ok();  // the address binding alone, as before host tokens
    Status s = o.keys.Check(req.bearer_token(), auth::Role::kHost, host);
    if (!s.ok()) return controller.Refuse(kind, host, SourceAddress(req), s);
    return Status::Ok();
  }

  // Answers the long polls of every host whose assignments changed, a slice
  // (ServiceOptions::wake_slice_hosts) at a time: a push to 10,000 hosts
  // builds 10,000 assignment lists, and in one go that would hold every
  // report and announce behind it. Between slices the io loop serves what
  // came in meanwhile. Each host's list is built when its turn comes, so it
  // is never older than its place in the queue, and a slice's new
  // assignments share one signature. The next slice is posted, so it runs
  // after one batch of what the io loop found ready, not two as behind a
  // timer. At 10,000 hosts (scripts/bench-control; the target is 2 s), 150
  // hosts a slice woke every host within 1.0-1.1 s; with a signature per
  // host, 1.5-1.6 s, and behind a 0 ms timer 2.1-2.6 s.
  //
  // Unless paced (ServiceOptions::wake_rate): each woken host answers at once
  // (an announce, a report a second, a new poll) and, downloads taking about
  // as long everywhere, finishes at about the same moment too. 10,000 hosts
  // woken within 0.6 s then brought two bursts of well over a core's work
  // each, and reports waited up to 200 ms behind them; at 8,000 hosts a
  // second the same fleet is woken in 1.3 s and no second holds more than
  // the io thread can do (scripts/bench-control, README "The control plane at
  // 10,000 hosts").
  using SteadyClock = std::chrono::steady_clock;
  SteadyClock::time_point wake_started;
  size_t woken = 0, not_held = 0;  // in the backlog under way
  SteadyClock::time_point slice_at;  // when the next slice may start (wake_rate)
  asio::steady_timer wake_timer{io};
  void WakeChanged() {
    if (to_wake.empty()) {
      wake_started = SteadyClock::now();
      woken = not_held = 0;
    }
    for (auto& host : controller.TakeChangedHosts())
      if (to_wake_set.insert(host).second) to_wake.push_back(std::move(host));
    if (!wake_posted) WakeSlice();
  }
  void WakeSlice() {
    // Paced, a slice takes its share of time from when it starts or when the
    // previous one's share ends, whichever is later: never time left unused.
    slice_at = std::max(slice_at, SteadyClock::now());
    std::vector<std::string> slice;
    while (slice.size() < o.wake_slice_hosts && !to_wake.empty()) {
      std::string host = std::move(to_wake.front());
      to_wake.pop_front();
      to_wake_set.erase(host);
      if (waiters.count(host)) slice.push_back(std::move(host));
      else ++not_held;  // it gets the news with its next poll
    }
    // One signature for the slice's new assignments (Controller::AssignmentsFor).
    std::vector<AssignmentList> lists = controller.AssignmentsFor(slice);
    for (size_t i = 0; i < slice.size(); ++i) {
      auto it = waiters.find(slice[i]);
      if (it == waiters.end()) continue;
      ++woken;
      std::string body = AssignmentListText(lists[i], assignment_text) + "\n";
      auto ws = std::move(it->second);
      waiters.erase(it);
      for (auto& [id, w] : ws) {
        w.timer->cancel();
        w.reply(http::Response::Json(200, body));
      }
    }
    if (to_wake.empty() && woken + not_held >= 100) {
      spdlog::info("answered the long polls of {} hosts whose assignments changed in {} ms ({} held none)", woken,
                   std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - wake_started).count(),
                   not_held);
      woken = not_held = 0;
    }
    if (to_wake.empty() || wake_posted) return;
    wake_posted = true;
    if (o.wake_rate > 0) {
      slice_at += std::chrono::microseconds(int64_t(1e6 * double(slice.size()) / double(o.wake_rate)));
      wake_timer.expires_at(slice_at);
      wake_timer.async_wait([this](boost::system::error_code ec) {
        if (ec) return;
        wake_posted = false;
        WakeSlice();
      });
      return;
    }
    asio::post(io, [this, guard = std::weak_ptr<int>(alive)] {
      if (guard.expired()) return;
      wake_posted = false;
      WakeSlice();
    });
  }

  // Reads back what other processes sharing the database wrote, then wakes
  // the long polls of hosts whose assignments that changed.
  void FollowChanges() {
    Status s = controller.FollowChanges();
    // Unavailable: the database is away and reconnecting is spaced out; the
    // failed attempt itself was logged.
    if (!s.ok() && s.code() != Status::Code::kUnavailable)
      spdlog::error("following other control-plane processes: {}", s.message());
    WakeChanged();
  }

  // The descriptor is taken anew each time: after a reconnect libpq's socket
  // may be another one under the same number.
  void WatchChanges() {
    if (changes) {
      changes->cancel();
      changes->release();
    }
    changes.reset();
    const int fd = controller.ChangeFd();
    if (fd < 0) return;  // none now (SQLite, or reconnecting: the tick retries)
    changes = std::make_unique<asio::posix::stream_descriptor>(io, fd);
    changes->async_wait(asio::posix::stream_descriptor::wait_read, [this](boost::system::error_code ec) {
      if (ec) return;
      FollowChanges();
      WatchChanges();
    });
  }

  // Group commit: a report that moved a row to its outcome is answered only
  // once that outcome is written, and every report answered meanwhile waits
  // with it, so no 200 ever goes out while an outcome is unwritten. The
  // commit runs kCommitWindow after the first outcome, so a burst of
  // finishing hosts shares one transaction (10,000 hosts finishing within
  // seconds: a few hundred commits, not 10,000, each costing the io thread
  // about as much as a hundred rows). A failed write answers 503 (the
  // fetcher sends again; its report was never acknowledged) and keeps the
  // outcomes pending.
  static constexpr std::chrono::milliseconds kCommitWindow{5};
  void HoldReport(http::Reply reply, http::Response answer) {
    held_reports.emplace_back(std::move(reply), std::move(answer));
    if (commit_posted) return;
    commit_posted = true;
    commit_timer.expires_after(kCommitWindow);
    commit_timer.async_wait([this](boost::system::error_code ec) {
      if (!ec) CommitOutcomes();
    });
  }
  void CommitOutcomes() {
    commit_posted = false;
    Status s = controller.WriteOutcomes();
    if (!s.ok()) spdlog::error("storing {} reported outcomes: {}", controller.OutcomesPending(), s.message());
    auto held = std::move(held_reports);
    held_reports.clear();
    for (auto& [reply, answer] : held)
      reply(s.ok() ? std::move(answer) : Err(Status::Unavailable("storing the report failed: " + s.message())));
  }

  http::Response ListReply(const AssignmentList& list) {
    return http::Response::Json(200, AssignmentListText(list, assignment_text) + "\n");
  }

  // Removes a held long poll and hands back its reply; null when already answered.
  std::optional<Waiter> TakeWaiter(const std::string& host, uint64_t wid) {
    auto it = waiters.find(host);
    if (it == waiters.end()) return std::nullopt;
    auto wt = it->second.find(wid);
    if (wt == it->second.end()) return std::nullopt;
    Waiter w = std::move(wt->second);
    it->second.erase(wt);
    if (it->second.empty()) waiters.erase(it);
    return w;
  }

  void Tick() {
    if (controller.shared()) {
      // Only reads what the socket already holds (no query) and reconnects a
      // lost listener, whose new socket is then watched.
      FollowChanges();
      WatchChanges();
    }
    controller.Tick();
    WakeChanged();
    FlushSome();
    tick.expires_after(o.flush_interval);
    tick.async_wait([this](boost::system::error_code ec) {
      if (!ec) Tick();
    });
  }

  void FlushSome() {
    Status s = controller.Flush(kFlushRows);
    if (!s.ok()) spdlog::error("flushing push state: {}", s.message());
    if (!s.ok() || !controller.FlushPending() || flush_posted) return;
    flush_posted = true;
    flush_timer.expires_after(kFlushGap);
    flush_timer.async_wait([this](boost::system::error_code ec) {
      if (ec) return;  // cancelled: the service is going away
      flush_posted = false;
      FlushSome();
    });
  }

  // A push, answered from the background thread: its rows are copied here,
  // the JSON (tens of microseconds a row) is built there. `add` puts more
  // into the answer, there.
  template <typename T>
  void AnswerPush(http::Reply reply, Result<T> r, std::function<void(json&)> add = nullptr) {
    WakeChanged();
    if (!r.ok()) return reply(Err(r.status()));
    background.Run([reply = std::move(reply), v = std::move(*r), add = std::move(add)]() mutable {
      json j = ToJson(std::move(v));
      if (add) add(j);
      reply(JsonReply(j));
    });
  }

  template <typename T>
  http::Response Answer(Result<T> r) {
    WakeChanged();
    if (!r.ok()) return Err(r.status());
    return JsonReply(ToJsonOf(*r));
  }
  static json ToJsonOf(const PushProgress& p) { return ToJson(p); }
  static json ToJsonOf(const json& j) { return j; }

  void Route(http::Request& req, http::Reply& reply);
  void Assignments(const std::string& host, const http::Request& req, http::Reply reply);
  void Reports(const std::string& host, const http::Request& req, http::Reply reply);
  void Admin(const http::Request& req, const std::vector<std::string>& parts, http::Reply reply);
};

Service::Service(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Service::~Service() {
  impl_->tick.cancel();
  if (impl_->changes) {
    impl_->changes->cancel();
    impl_->changes->release();
  }
  impl_->commit_timer.cancel();
  impl_->flush_timer.cancel();
  for (auto& [h, ws] : impl_->waiters)
    for (auto& [id, w] : ws) w.timer->cancel();
}

Result<std::unique_ptr<Service>> Service::Create(const ServiceOptions& o, const Rackmap& rackmap, Swarms& swarms,
                                                 asio::io_context& io) {
  Status s = o.Validate();
  if (!s.ok()) return s;
  auto store = Store::Open(o.db_path);
  if (!store.ok()) return store.status();
  if ((*store)->shared())
    spdlog::info("push state in {} ({}), shared with every control-plane process on it", Store::Redacted(o.db_path),
                 (*store)->backend());
  std::string key_path = KeyPathFor(o), pub_path = PublicKeyPathFor(key_path);
  auto key = SigningKey::LoadOrCreate(key_path);
  if (!key.ok()) return key.status();  // names the path
  // Rewritten at every start, so the .pub beside the key always matches it.
  if (Status w = WriteFileAtomic(pub_path, key->PublicKeyPem()); !w.ok())
    return Status::Io("writing the tracker's public key: " + w.message());
  spdlog::info("assignments are signed with {}; fetchers check them with --tracker-key {}", key_path, pub_path);
  ControllerOptions co;
  co.announce_interval_s = o.announce_interval_s;
  co.idle_announce_interval_s = o.idle_announce_interval_s;
  co.enrol_glob = o.enrol_glob;
  co.enrol_rackmap = o.enrol_rackmap;
  co.sign = [key = *key](const std::string& bytes) {
    auto sig = key.Sign(bytes);
    if (sig.ok()) return *sig;
    // Unsigned, the assignment is refused by fetchers that check: loud, not silent.
    spdlog::error("signing an assignment failed: {}", sig.status().message());
    return std::string();
  };
  auto impl = std::make_unique<Impl>(o, io, co, std::move(*store), rackmap, swarms);
  impl->public_key_path = pub_path;
  s = impl->controller.Load();
  if (!s.ok()) return s;
  if (o.shared_admin_token)
    spdlog::warn("one admin token serves two roles, register (the seeder) and push (release managers); "
                 "give each its own with --token-file");
  if (!o.keys.Has(auth::Role::kRead) && !o.open_reads)
    spdlog::warn("reads (pushes, fleet, hosts, artifacts, /stats, /metrics) are open to anyone who can connect: "
                 "add a read token to --token-file, or pass --open-reads to say that is intended");
  if (!o.keys.HasHostSecret())
    spdlog::warn("no host-secret in a --token-file: hosts are known by their address alone");
  if (o.enrol_glob != "*" || o.enrol_rackmap)
    spdlog::info("enrolment: new host ids must match '{}'{}", o.enrol_glob,
                 o.enrol_rackmap ? " and check in from an address in the rackmap" : "");
  return std::unique_ptr<Service>(new Service(std::move(impl)));
}

std::string KeyPathFor(const ServiceOptions& o) {
  if (!o.key_path.empty()) return o.key_path;
  // Not <db>.key: a TLS key named tracker.key may well sit beside the db.
  return std::filesystem::path(o.db_path).replace_extension(".sign.key").string();
}

std::string PublicKeyPathFor(const std::string& key_path) {
  std::string pub = std::filesystem::path(key_path).replace_extension(".pub").string();
  // A key named *.pub must not be overwritten by its own public half.
  return pub == key_path ? key_path + ".pub" : pub;
}

void Service::Start() { impl_->Tick(); }

std::optional<http::Response> Service::RefuseRead(const http::Request& req) {
  Status s = impl_->Authorize(req, auth::Role::kRead);
  if (s.ok()) return std::nullopt;
  return Err(s);
}
Status Service::Flush() { return impl_->controller.Flush(); }
const PushFacts& Service::facts() const { return impl_->controller; }
const std::string& Service::public_key_path() const { return impl_->public_key_path; }
Metrics Service::MetricsSnapshot() const { return impl_->controller.MetricsSnapshot(impl_->LongPolls()); }
json Service::Stats() const { return impl_->controller.Stats(impl_->LongPolls()); }

bool Service::Handle(http::Request& req, http::Reply& reply) {
  if (req.path.rfind("/api/", 0) != 0) {
    auto page = ServeDashboard(req);
    if (!page) return false;
    reply(std::move(*page));
    return true;
  }
  impl_->Route(req, reply);
  return true;
}

void Service::Impl::Route(http::Request& req, http::Reply& reply) {
  const std::string& m = req.method;
  auto parts = SplitPath(req.path);
  if (parts.size() < 3 || parts[0] != "api" || parts[1] != "v1")
    return reply(Err(Status::NotFound("no such endpoint: " + m + " " + req.path)));
  parts.erase(parts.begin(), parts.begin() + 2);
  auto bad_method = [&] {
    reply(http::Response::Json(405, json{{"error", m + " not allowed on " + req.path}}.dump()));
  };
  auto q = http::ParseQuery(req.query);
  if (!q.ok()) return reply(Err(q.status()));
  const std::string& what = parts[0];
  const size_t n = parts.size();
  if (m == "POST" && what != "hosts") return Admin(req, parts, std::move(reply));
  if (m == "POST" && what == "hosts" && n == 3 && parts[2] == "move") return Admin(req, parts, std::move(reply));
  // Every other GET reads; a host's own endpoints are judged by AuthorizeHost.
  if (m == "GET" && !(what == "hosts" && n == 3))
    if (Status s = Authorize(req, auth::Role::kRead); !s.ok()) return reply(Err(s));
  if (what == "artifacts" && n == 1) {
    if (m == "GET") return reply(JsonReply(controller.ListArtifacts()));
    return bad_method();
  }
  if (what == "pushes" && n == 1) {
    if (m != "GET") return bad_method();
    int64_t limit = 50;
    if (std::string v = Param(*q, "limit"); !v.empty()) {
      auto parsed = ParseInt("limit", v);
      if (!parsed.ok()) return reply(Err(parsed.status()));
      limit = std::clamp<int64_t>(*parsed, 1, 1000);
    }
    return reply(JsonReply(controller.ListPushes(int(limit))));
  }
  if (what == "pushes" && n == 2) {
    if (m != "GET") return bad_method();
    auto id = ParseInt("push id", parts[1]);
    if (!id.ok()) return reply(Err(id.status()));
    int64_t since = 0;
    if (std::string v = Param(*q, "since"); !v.empty()) {
      auto parsed = ParseInt("since", v);
      if (!parsed.ok()) return reply(Err(parsed.status()));
      since = *parsed;
    }
    return AnswerPush(std::move(reply), controller.Snapshot(*id, since));
  }
  if (what == "fleet" && n == 1) {
    if (m == "GET") return reply(JsonReply(controller.Fleet(Param(*q, "hosts"))));
    return bad_method();
  }
  if (what == "hosts" && n == 1) {
    if (m == "GET") return reply(JsonReply(controller.ListHosts()));
    return bad_method();
  }
  if (what == "hosts" && n == 3) {
    Status s = CheckName("host", parts[1]);
    if (!s.ok()) return reply(Err(s));
    if (parts[2] == "assignments" && m == "GET") return Assignments(parts[1], req, std::move(reply));
    if (parts[2] == "reports" && m == "POST") return Reports(parts[1], req, std::move(reply));
    if (parts[2] == "assignments" || parts[2] == "reports" || parts[2] == "move") return bad_method();
  }
  reply(Err(Status::NotFound("no such endpoint: " + m + " " + req.path)));
}

// Every POST but a host's reports: registering takes the register role,
// everything else the push role.
void Service::Impl::Admin(const http::Request& req, const std::vector<std::string>& parts, http::Reply reply) {
  const size_t n = parts.size();
  const std::string& what = parts[0];
  const auth::Role need = what == "artifacts" && n == 1 ? auth::Role::kRegister : auth::Role::kPush;
  if (Status s = Authorize(req, need); !s.ok()) return reply(Err(s));
  auto body = req.body.empty() ? Result<json>(json::object()) : ParseJson(req.body);
  if (!body.ok()) return reply(Err(body.status()));
  auto started_by = [&](const std::string& claimed) { return claimed.empty() ? std::string("admin") : claimed; };
  if (what == "artifacts" && n == 1) {
    auto reg = RegistrationFromJson(*body);
    if (!reg.ok()) return reply(Err(reg.status()));
    if (!reg->origin.empty()) {
      boost::system::error_code ec;
      asio::ip::make_address(reg->origin, ec);
      if (ec) return reply(Err(Status::Invalid("origin '" + reg->origin + "' is not an IP address")));
    }
    Status s = controller.RegisterArtifact(*reg);
    if (!s.ok()) return reply(Err(s));
    return reply(http::Response::Json(200, "{\"ok\":true}\n"));
  }
  if (what == "pushes" && n == 1) {
    auto pr = PushRequestFromJson(*body);
    if (!pr.ok()) return reply(Err(pr.status()));
    pr->started_by = started_by(pr->started_by);
    return AnswerPush(std::move(reply), controller.CreatePush(*pr));
  }
  if (what == "rollbacks" && n == 1) {
    auto rr = RollbackRequestFromJson(*body);
    if (!rr.ok()) return reply(Err(rr.status()));
    rr->started_by = started_by(rr->started_by);
    return AnswerPush(std::move(reply), controller.Rollback(*rr));
  }
  if (what == "pushes" && n == 3 && (parts[2] == "cancel" || parts[2] == "resume")) {
    auto id = ParseInt("push id", parts[1]);
    if (!id.ok()) return reply(Err(id.status()));
    std::string by = body->is_object() && body->contains("by") && (*body)["by"].is_string()
                         ? (*body)["by"].get<std::string>().substr(0, 256)
                         : "admin";
    if (parts[2] == "resume") return AnswerPush(std::move(reply), controller.Resume(*id, by));
    bool rollback = body->is_object() && body->contains("rollback") && (*body)["rollback"].is_boolean() &&
                    (*body)["rollback"].get<bool>();
    std::vector<int64_t> rollbacks;
    auto p = controller.Cancel(*id, rollback, by, &rollbacks);
    return AnswerPush(std::move(reply), std::move(p), [rollbacks](json& j) {
      if (!rollbacks.empty()) j["rollback_push"] = rollbacks.front();
      j["rollback_pushes"] = rollbacks;
    });
  }
  if (what == "hosts" && n == 3 && parts[2] == "move") {
    if (Status s = CheckName("host", parts[1]); !s.ok()) return reply(Err(s));
    if (!body->is_object() || !body->contains("addr") || !(*body)["addr"].is_string())
      return reply(Err(Status::Invalid("body must be {\"addr\":\"IP\"}")));
    boost::system::error_code ec;
    auto parsed = asio::ip::make_address((*body)["addr"].get<std::string>(), ec);
    if (ec) return reply(Err(Status::Invalid("addr '" + (*body)["addr"].get<std::string>() + "' is not an IP address")));
    return reply(Answer(controller.MoveHost(parts[1], Canonical(parsed))));
  }
  reply(Err(Status::NotFound("no such endpoint: " + req.method + " " + req.path)));
}

void Service::Impl::Assignments(const std::string& host, const http::Request& req, http::Reply reply) {
  if (Status s = AuthorizeHost(req, "poll", host); !s.ok()) return reply(Err(s));
  auto q = http::ParseQuery(req.query);
  if (!q.ok()) return reply(Err(q.status()));
  // The host is who its connection says, not what its query claims.
  const std::string addr = SourceAddress(req);
  if (std::string claimed = Param(*q, "addr"); !claimed.empty()) {
    boost::system::error_code ec;
    auto c = asio::ip::make_address(claimed, ec);
    if (ec) return reply(Err(Status::Invalid("addr '" + claimed + "' is not an IP address")));
    if (Canonical(c) != addr)
      return reply(Err(controller.Refuse("poll", host, addr,
                                         "addr parameter " + claimed + " is not this connection's source " + addr)));
  }
  if (Status s = controller.CheckHostAddress("poll", host, addr); !s.ok()) return reply(Err(s));
  int64_t generation = -1, wait = 0;
  std::string g = Param(*q, "generation"), w = Param(*q, "wait");
  if (!g.empty()) {
    auto v = ParseInt("generation", g);
    if (!v.ok()) return reply(Err(v.status()));
    generation = *v;
  }
  if (!w.empty()) {
    auto v = ParseInt("wait", w);
    if (!v.ok()) return reply(Err(v.status()));
    wait = std::clamp<int64_t>(*v, 0, o.max_wait.count());
  }
  if (Status s = controller.CheckIn(host, addr); !s.ok()) return reply(Err(s));
  if (controller.Generation(host) != generation || wait == 0)
    return reply(ListReply(controller.AssignmentsFor(host)));

  // Hold the request until WakeChanged or the timer answers it, whichever comes first.
  uint64_t wid = next_waiter++;
  auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::seconds(wait));
  waiters[host][wid] = Waiter{std::move(reply), timer};
  // The client hung up: the server closed the connection already.
  if (req.on_hangup)
    *req.on_hangup = [this, host, wid] {
      if (auto w = TakeWaiter(host, wid)) w->timer->cancel();
    };
  timer->async_wait([this, host, wid](boost::system::error_code ec) {
    if (ec) return;  // cancelled: WakeChanged or the hangup took it
    if (auto w = TakeWaiter(host, wid)) w->reply(ListReply(controller.AssignmentsFor(host)));
  });
}

// Each report stands alone: a bad one is refused in the answer, the others
// are applied, so one stale push id cannot cost a host its gateway roles.
void Service::Impl::Reports(const std::string& host, const http::Request& req, http::Reply reply) {
  if (Status s = AuthorizeHost(req, "report", host); !s.ok()) return reply(Err(s));
  auto j = ParseJson(req.body);
  if (!j.ok()) return reply(Err(j.status()));
  auto reports = HostReportsFromJson(*j);
  if (!reports.ok()) return reply(Err(reports.status()));
  if (Status s = controller.CheckHostAddress("report", host, SourceAddress(req)); !s.ok()) return reply(Err(s));
  auto answer = controller.Reports(host, *reports);
  WakeChanged();
  if (!answer.ok()) return reply(Err(answer.status()));
  if (controller.OutcomesPending() > 0) return HoldReport(std::move(reply), JsonReply(ToJson(*answer)));
  reply(JsonReply(ToJson(*answer)));
}

}  // namespace spate::push
