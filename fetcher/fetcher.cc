#include "fetcher/fetcher.h"

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/alert_types.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/torrent_flags.hpp>
#include <libtorrent/torrent_handle.hpp>
#include <libtorrent/torrent_status.hpp>
#include <spdlog/fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <sys/statvfs.h>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "fetcher/activate.h"
#include "fetcher/check.h"
#include "fetcher/control_client.h"
#include "fetcher/cross_rack.h"
#include "fetcher/far_filter.h"
#include "fetcher/install.h"
#include "fetcher/metrics.h"
#include "fetcher/push_order.h"
#include "fetcher/retention.h"
#include "wire/crypto.h"
#include "wire/daemon.h"
#include "wire/fs.h"
#include "wire/graphite.h"
#include "wire/http.h"
#include "wire/swarm.h"
#include "wire/tracker_order.h"
#include "wire/units.h"

namespace spate {

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr milliseconds kStatusLogInterval{10000};
constexpr milliseconds kReportTimeout{5000};

// Assignments handed from the poll thread to the engine. Shared rather than
// owned by Fetcher so a poll stuck in a long request can be left behind at
// shutdown instead of delaying it by up to the long-poll wait.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Assignment> items;
  // Every push id of the newest changed list, not yet applied. A push the
  // host holds that is missing from it was withdrawn (cancelled) by the
  // tracker, unless a newer push of its name overtook it.
  std::optional<std::set<int64_t>> listed;
  std::optional<std::vector<RackRange>> rack_ranges;  // newest from the tracker, not yet applied
  bool stop = false;
  bool exited = false;
  // While the engine reports every second, each answer carries this host's
  // assignment generation, so the poll thread need not hold a long poll: the
  // tracker then holds one connection for this host instead of two, and a
  // push to every host is not followed by every host polling again at once.
  // `expecting`: a changed list was delivered and the engine's next report
  // beat has not yet said whether it reports (set by the poll thread, cleared
  // by the engine). `reporting`: the last beat's reports were answered with a
  // generation. `reported_generation`: the newest such answer.
  bool expecting = false;
  bool reporting = false;
  int64_t reported_generation = -1;
};

// kStaged: installed but not current, seeding until the push is activated
// (or overtaken). kSeeding: done with; seeding until seed_until. kRetryWait:
// an attempt failed in a way that may pass; out of the session, staging kept,
// until retry_at.
enum class Phase { kDownloading, kVerifying, kStaged, kSeeding, kRetryWait };

// Not yet installed: a push joining or activating it waits for the install.
bool Transferring(Phase p) { return p == Phase::kDownloading || p == Phase::kVerifying || p == Phase::kRetryWait; }

// One artifact in the session. Several pushes of the same artifact share it;
// pushes overtaken by a newer one of the same name leave it (push_order.h).
struct Job {
  Manifest manifest;
  std::vector<int64_t> push_ids;
  // Pushes of push_ids asked to activate; the others only stage.
  std::set<int64_t> activate_ids;
  lt::torrent_handle handle;
  Phase phase = Phase::kDownloading;
  std::string staging_dir;
  uint64_t bytes_done = 0;
  double rate = 0;
  int peers = 0;
  Clock::time_point started;
  Clock::time_point verify_started;
  Clock::time_point seed_until;
  // Attempt at the transfer, 1 = the first (FetcherConfig::tries bounds it).
  int tries = 1;
  Clock::time_point retry_at;
  std::string retry_reason;  // why the last attempt failed, while kRetryWait
  // Untouched by the session (it may amend the copy it is given), for the next attempt.
  std::shared_ptr<const lt::torrent_info> ti;
  // Every push of it was withdrawn while kVerifying: once the worker is done
  // the torrent goes, but its staging stays for a later push.
  bool withdrawn = false;
  // Gateway share filter for peers outside the rack (null without rack ranges).
  std::shared_ptr<FarFilter> far_filter;
  // Hash + version dir worker, only while kVerifying. It never touches
  // `current`: the engine decides that once the worker is done.
  std::thread worker;
  std::atomic<bool> worker_done{false};
  Status worker_status;
  // The tracker that last answered an announce: the swarm's home now. A
  // change is a swarm failover (or its return), logged.
  std::string swarm_tracker;
};

// One activation in flight. Its hooks run for seconds, so a worker thread runs
// it; at most one per artifact name, so two never race on `current`.
struct Activation {
  int64_t push_id = 0;
  Clock::time_point started = Clock::now();
  Manifest manifest;
  std::set<std::string> protect;  // versions of this name retention must keep (staging or queued)
  std::thread worker;
  std::atomic<bool> done{false};
  ActivationResult result;
  Result<std::vector<std::string>> pruned = std::vector<std::string>{};
};

bool Contains(const std::vector<int64_t>& ids, int64_t id) { return std::count(ids.begin(), ids.end(), id) > 0; }

std::string Pushes(const std::vector<int64_t>& ids) {
  std::string s = ids.size() == 1 ? "push " : "pushes ";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

std::string Seconds(Clock::duration d) {
  return FormatDuration(std::chrono::duration_cast<milliseconds>(d));
}

// `may_rest`: reports go out often enough (a second or so) that their
// answers can stand in for the long poll while the engine reports.
void PollLoop(std::shared_ptr<Inbox> inbox, ControlClient client, int wait, int64_t generation, bool may_rest) {
  const milliseconds kMinBackoff{500}, kMaxBackoff{5000};
  milliseconds backoff = kMinBackoff;
  int failures = 0;
  std::unique_lock<std::mutex> lock(inbox->mu);
  auto resting = [&] {
    return may_rest && (inbox->expecting || inbox->reporting) && inbox->reported_generation <= generation;
  };
  while (!inbox->stop) {
    int this_wait = wait;
    bool rested = false;
    if (resting()) {
      // Until a report's answer shows a newer generation or the engine stops
      // reporting; then a long poll as usual: it answers at once if the
      // generation moved, and otherwise costs the tracker no assignment list
      // (10,000 hosts finishing a push together would each fetch an
      // unchanged one). After a poll's worth of time still reporting, a
      // quick look, and rest again. Meanwhile the reports go over the poll
      // connection (ControlClient::PostOne).
      inbox->cv.wait_for(lock, std::chrono::seconds(std::max(wait, 1)), [&] { return inbox->stop || !resting(); });
      if (inbox->stop) break;
      if (resting()) this_wait = 0;
      rested = true;
    }
    lock.unlock();
    auto started = Clock::now();
    auto r = client.PollAssignments(generation, this_wait);
    lock.lock();
    if (inbox->stop) break;
    if (!r.ok()) {
      // The tracker may be restarting; keep trying, quietly after the first few.
      if (++failures <= 3 || failures % 20 == 0)
        spdlog::warn("tracker poll failed ({} in a row, retrying in {}): {}", failures,
                     FormatDuration(backoff), r.status().message());
      inbox->cv.wait_for(lock, backoff, [&] { return inbox->stop; });
      backoff = std::min(backoff * 2, kMaxBackoff);
      continue;
    }
    if (failures > 0) spdlog::info("tracker reachable again after {} failed polls", failures);
    failures = 0;
    backoff = kMinBackoff;
    bool changed = r->generation != generation;
    generation = r->generation;
    // Oldest push first, so a restart replays them in order and `current` ends on the newest.
    std::sort(r->assignments.begin(), r->assignments.end(),
              [](const Assignment& a, const Assignment& b) { return a.push_id < b.push_id; });
    if (changed) {
      // The newer list is the whole truth: items of an older one the engine
      // has not taken yet must not start a push the tracker has since withdrawn.
      inbox->items.clear();
      inbox->listed.emplace();
      for (const auto& a : r->assignments) inbox->listed->insert(a.push_id);
      inbox->expecting = !r->assignments.empty();
    }
    for (auto& a : r->assignments) inbox->items.push_back(std::move(a));
    inbox->rack_ranges = std::move(r->rack_ranges);
    // Guard against a tracker that answers at once without a change: no busy loop.
    if (!changed && !rested && Clock::now() - started < milliseconds(200))
      inbox->cv.wait_for(lock, milliseconds(1000), [&] { return inbox->stop; });
  }
  inbox->exited = true;
  inbox->cv.notify_all();
}

}  // namespace

struct Fetcher::Impl {
  explicit Impl(FetcherConfig c) : cfg(std::move(c)) {}

  FetcherConfig cfg;
  VerifyKey key;
  std::optional<VerifyKey> tracker_key;  // --tracker-key: assignments must carry its signature
  std::optional<ControlClient> client;
  std::unique_ptr<lt::session> ses;
  std::optional<CrossRack> cross_rack;
  std::vector<RackRange> rack_ranges;  // this host's rack, latest from the tracker
  mutable std::mutex ses_mu;  // guards the pointer `ses` for torrent_count(); the engine owns its use
  std::string staging_root;
  std::string peer;
  std::shared_ptr<Inbox> inbox = std::make_shared<Inbox>();
  std::thread poll_thread, engine_thread;
  std::atomic<bool> stopping{false};
  std::mutex wait_mu;
  // Figures for --metrics-listen and --graphite; traffic is counted by FarFilter's plugins.
  std::shared_ptr<TrafficCounters> traffic = std::make_shared<TrafficCounters>();
  MetricsBoard board;
  std::unique_ptr<http::Server> metrics_server;
  std::thread metrics_thread;
  std::unique_ptr<GraphiteSender> graphite;

  // Engine thread only.
  std::map<std::string, std::unique_ptr<Job>> jobs;  // by info_hash
  std::map<int64_t, bool> seen;  // push id -> its activation was asked for
  std::map<int64_t, Manifest> staged;  // pushes staged, waiting for activate
  std::map<std::string, std::unique_ptr<Activation>> activations;  // by artifact name
  std::map<std::string, std::pair<int64_t, Manifest>> next_activation;  // waits for the one in flight
  ActivationConfig act_cfg;
  std::atomic<bool> cancel_hooks{false};
  std::map<int64_t, HostReport> terminal;  // final states not yet accepted by the tracker
  // Pushes the tracker withdrew (cancelled) before this host activated them.
  // Cancelled is final there, so a replay of one never starts or activates it.
  std::set<int64_t> withdrawn;
  // Staging of withdrawn downloads (info hash -> artifact name), kept from
  // retention so a later push of that version resumes from it. Released when
  // the next push of that name starts (memory only: after a restart the
  // first activation prunes it).
  std::map<std::string, std::string> kept_staging;
  std::map<int64_t, int> tries;  // push id -> attempts so far, for its reports (absent: 1)
  // Badly signed assignments already logged (push id, signature): every poll re-delivers them.
  std::set<std::pair<int64_t, std::string>> refused_logged;
  std::map<std::string, PushOrder> order;  // by artifact name; `newest` mirrors newest_file
  FetcherStats stats;
  Clock::time_point next_publish;
  std::string newest_file;
  bool report_now = false;
  int report_failures = 0;
  // Pushes whose swarm's tracker refused their reports (it does not share the
  // push's database): their reports go to the control plane in use only.
  std::set<int64_t> unroutable;

  Status Start();
  void EngineLoop();
  void Shutdown();
  void DrainInbox();
  void HandleAssignment(const Assignment& a);
  void ActivateStaged(const Assignment& a);
  void Stage(int64_t push_id, const Manifest& m);
  void RequestActivation(int64_t push_id, const Manifest& m);
  void StartActivation(int64_t push_id, const Manifest& m);
  void CollectActivations();
  void Supersede(const std::vector<int64_t>& ids, int64_t newest, uint64_t size);
  void Withdraw(const std::set<int64_t>& listed);
  void WithdrawPush(int64_t id);
  void DropJob(const std::string& info_hash);
  Status SaveOrder();
  void AddTorrent(const Assignment& a, std::shared_ptr<lt::torrent_info> ti);
  Status StartTorrent(Job& j);
  void StopTorrentKeepStaging(Job& j);
  void HandleAlert(lt::alert* a);
  Job* FindJob(const lt::torrent_handle& h);
  void BeginVerify(Job& j);
  void CollectWorkers();
  void ExpireSeeds();
  void Fail(const std::string& info_hash, const std::string& reason);
  void FailOrRetry(const std::string& info_hash, const std::string& reason);
  void StartDueRetries();
  int TriesOf(int64_t push_id) const;
  void RemoveTorrent(Job& j);
  void QueueTerminal(int64_t push_id, const std::string& state, uint64_t total, const std::string& error);
  void SendReports(milliseconds timeout);
  int64_t SendReportBatch(milliseconds timeout);
  // Sets the gateway roles of the downloads of `answered` pushes (the others'
  // reports got no answer this round): `roles`, or none.
  void ApplyRoles(const std::vector<GatewayRole>& roles, const std::set<int64_t>& answered);
  // The index of the tracker (in cfg's lists) j's swarm is on, when its
  // reports should go there rather than to the control plane in use.
  std::optional<size_t> SwarmControl(const Job& j) const;
  void LogStatus();
  void PublishMetrics();
  Status StartMetrics();
};

Fetcher::Fetcher(FetcherConfig config) : impl_(std::make_unique<Impl>(std::move(config))) {}

Fetcher::~Fetcher() {
  Stop();
  Wait();
}

Status Fetcher::Start() { return impl_->Start(); }

void Fetcher::Stop() {
  impl_->stopping = true;
  std::lock_guard<std::mutex> l(impl_->inbox->mu);
  impl_->inbox->stop = true;
  impl_->inbox->cv.notify_all();
}

void Fetcher::Wait() {
  Impl& d = *impl_;
  std::lock_guard<std::mutex> guard(d.wait_mu);
  if (d.engine_thread.joinable()) d.engine_thread.join();
  if (d.graphite) d.graphite->Stop();
  if (d.metrics_server) d.metrics_server->Stop();
  if (d.metrics_thread.joinable()) d.metrics_thread.join();
  if (d.poll_thread.joinable()) {
    std::unique_lock<std::mutex> l(d.inbox->mu);
    d.inbox->stop = true;
    d.inbox->cv.notify_all();
    bool exited = d.inbox->cv.wait_for(l, std::chrono::seconds(2), [&] { return d.inbox->exited; });
    l.unlock();
    // A poll blocked in a long request only touches the shared Inbox; let it finish alone.
    if (exited)
      d.poll_thread.join();
    else
      d.poll_thread.detach();
  }
}

std::string Fetcher::peer_endpoint() const { return impl_->peer; }

int Fetcher::torrent_count() const {
  std::lock_guard<std::mutex> l(impl_->ses_mu);
  return impl_->ses ? static_cast<int>(impl_->ses->get_torrents().size()) : 0;
}

Status Fetcher::Impl::Start() {
  if (Status s = cfg.Validate(); !s.ok()) return s;
  auto k = VerifyKey::Load(cfg.trusted_key_file);
  if (!k.ok()) return Status::Invalid("cannot load --trusted-key " + cfg.trusted_key_file + ": " + k.status().message());
  key = *k;
  if (!cfg.tracker_key_file.empty()) {
    auto tk = VerifyKey::Load(cfg.tracker_key_file);
    if (!tk.ok())
      return Status::Invalid("cannot load --tracker-key " + cfg.tracker_key_file + ": " + tk.status().message());
    tracker_key = *tk;
  } else {
    spdlog::warn("no --tracker-key: assignments are acted on unsigned, so whoever answers as the tracker can "
                 "replay an old signed manifest and move current back; pass the tracker's public key "
                 "(beside its db, <db>.sign.pub)");
  }
  staging_root = (fs::path(cfg.install_dir) / ".spate" / "staging").string();
  for (const std::string& dir : {cfg.data_dir, cfg.install_dir, staging_root})
    if (Status s = MakeDirs(dir); !s.ok()) return s;
  // Downloads are written below staging: a symlink there would send them elsewhere.
  for (const fs::path& dir : {fs::path(cfg.install_dir) / ".spate", fs::path(staging_root)})
    if (!IsRealDir(dir.string()))
      return Status::Invalid(dir.string() + " is not a directory (a symlink?); downloads are written below it");
  // A crash mid-install leaves <name>/.tmp-<version>-* (never renamed into place)
  // or <name>/.current-* (a symlink not yet renamed over current): remove them.
  SweepInstallLeftovers(cfg.install_dir);
  act_cfg.install_dir = cfg.install_dir;
  act_cfg.data_dir = cfg.data_dir;
  act_cfg.hook = cfg.activate_hook;
  act_cfg.health_check = cfg.health_check;
  act_cfg.timeout = cfg.hook_timeout;
  // Before any assignment: a half-done activation is undone, then redone when its push is re-delivered.
  if (Status s = RecoverActivations(cfg.install_dir, cfg.data_dir); !s.ok())
    return Status::Io("cannot recover an interrupted activation: " + s.message());
  // Without it a restart could let a stale assignment or staging move `current` back.
  newest_file = (fs::path(cfg.data_dir) / "newest-pushes.json").string();
  auto newest = LoadNewestPushes(newest_file);
  if (!newest.ok()) return newest.status();
  for (const auto& [name, id] : *newest) order[name].newest = id;

  SwarmOptions so;
  so.bind_address = cfg.bind_address;
  so.port = cfg.peer_port;
  so.upload_rate = static_cast<int>(cfg.upload_rate);
  so.download_rate = static_cast<int>(cfg.download_rate);
  so.stock = cfg.stock_libtorrent;
  so.overrides = cfg.lt_settings;
  try {
    auto s = MakeSession(so);
    std::lock_guard<std::mutex> l(ses_mu);
    ses = std::move(s);
    cross_rack.emplace(*ses);
  } catch (const std::exception& e) {
    return Status::Io(std::string("cannot start libtorrent session: ") + e.what());
  }
  // Listening is asynchronous; wait for its verdict so a busy port fails Start.
  auto deadline = Clock::now() + std::chrono::seconds(10);
  bool listening = false;
  while (!listening && Clock::now() < deadline) {
    ses->wait_for_alert(milliseconds(200));
    std::vector<lt::alert*> alerts;
    ses->pop_alerts(&alerts);
    for (lt::alert* a : alerts) {
      if (lt::alert_cast<lt::listen_succeeded_alert>(a)) listening = true;
      if (auto* f = lt::alert_cast<lt::listen_failed_alert>(a))
        return Status::Unavailable("cannot listen on " + cfg.bind_address + ":" + std::to_string(cfg.peer_port) +
                                   ": " + f->error.message());
    }
  }
  if (!listening || ses->listen_port() == 0)
    return Status::Unavailable("libtorrent did not start listening on " + cfg.bind_address);
  peer = cfg.bind_address + ":" + std::to_string(ses->listen_port());

  client.emplace(cfg.TrackerBases(), cfg.host_id, cfg.bind_address, cfg.host_token, cfg.tls_ca);
  for (const auto& announce : cfg.AnnounceUrls())
    if (announce.rfind("https://", 0) == 0)
      spdlog::warn(
          "announcing to {}: libtorrent checks it against the system's trusted CAs, not --tls-ca; "
          "point --announce-url at the tracker's plain --announce-listen",
          announce);
  // Check in once before announcing readiness, so a push right after start sees this host.
  int64_t generation = -1;
  auto first = client->PollAssignments(generation, 0);
  if (first.ok()) {
    generation = first->generation;
    std::sort(first->assignments.begin(), first->assignments.end(),
              [](const Assignment& a, const Assignment& b) { return a.push_id < b.push_id; });
    inbox->listed.emplace();
    for (const auto& a : first->assignments) inbox->listed->insert(a.push_id);
    inbox->expecting = !first->assignments.empty();
    inbox->items = std::move(first->assignments);
    inbox->rack_ranges = std::move(first->rack_ranges);
  } else {
    spdlog::warn("first check-in with tracker failed (will keep retrying): {}", first.status().message());
  }

  // Before the engine starts: the first snapshot reads its state.
  if (Status m = StartMetrics(); !m.ok()) return m;
  engine_thread = std::thread([this] { EngineLoop(); });
  poll_thread = std::thread(PollLoop, inbox, *client, cfg.poll_wait_seconds, generation,
                            cfg.report_interval <= std::chrono::seconds(2));

  spdlog::info("fetcher {} running: peer {}, tracker {}, announce {}, install dir {}, caps up {} down {}, seed time {}",
               cfg.host_id, peer, fmt::join(cfg.TrackerBases(), ","), fmt::join(cfg.AnnounceUrls(), ","),
               cfg.install_dir, cfg.upload_rate ? FormatBytes(double(cfg.upload_rate)) + "/s" : "unlimited",
               cfg.download_rate ? FormatBytes(double(cfg.download_rate)) + "/s" : "unlimited",
               FormatDuration(cfg.seed_time));
  nlohmann::json ready{{"host", cfg.host_id}, {"peer", peer}};
  if (metrics_server) ready["metrics"] = http::FormatEndpoint(metrics_server->local_endpoint());
  return WriteReadyFile(cfg.ready_file, ready.dump());
}

Status Fetcher::Impl::StartMetrics() {
  PublishMetrics();
  if (!cfg.metrics_listen.empty()) {
    http::ServerOptions so;
    so.listen = cfg.metrics_listen;
    so.max_connections_per_ip = 8;
    so.idle_timeout = std::chrono::seconds(15);
    metrics_server = std::make_unique<http::Server>(so, [this](http::Request&& req, http::Reply reply) {
      if (req.method == "GET" && req.path == "/metrics") return reply(http::Response::Text(200, board.Latest().Prometheus()));
      reply(http::Response::Error(Status::NotFound("no such endpoint: " + req.path + " (try /metrics)")));
    });
    if (Status s = metrics_server->Start(); !s.ok()) return Status::Unavailable("--metrics-listen: " + s.message());
    metrics_thread = std::thread([this] { metrics_server->Run(); });
    spdlog::info("metrics on http://{}/metrics", http::FormatEndpoint(metrics_server->local_endpoint()));
  }
  if (!cfg.graphite.address.empty()) {
    GraphiteOptions go = cfg.graphite;
    if (go.prefix.empty()) go.prefix = DefaultGraphitePrefix("fetcher", cfg.host_id);
    graphite = std::make_unique<GraphiteSender>(go, [this] { return board.Latest(); });
    if (Status s = graphite->Start(); !s.ok()) return s;
  }
  return Status::Ok();
}

void Fetcher::Impl::PublishMetrics() {
  FetcherGauges g;
  for (const auto& [ih, j] : jobs) {
    const char* phase = j->phase == Phase::kDownloading || j->phase == Phase::kRetryWait ? "downloading"
                        : j->phase == Phase::kVerifying ? "verifying"
                        : j->phase == Phase::kStaged    ? "staged"
                                                        : "seeding";
    ++g.jobs[phase];
    if (j->phase == Phase::kDownloading) g.download_rate += j->rate;
  }
  g.jobs["activating"] = int(activations.size());
  struct statvfs fsinfo {};
  if (::statvfs(cfg.install_dir.c_str(), &fsinfo) == 0) g.disk_free = uint64_t(fsinfo.f_bavail) * fsinfo.f_frsize;
  stats.control_failovers = client ? client->failovers() : 0;
  board.Publish(FetcherMetrics(stats, *traffic, g));
}

void Fetcher::Impl::EngineLoop() {
  auto next_report = Clock::now();
  auto next_status = Clock::now() + kStatusLogInterval;
  std::vector<lt::alert*> alerts;
  while (!stopping) {
    DrainInbox();
    ses->wait_for_alert(milliseconds(100));
    ses->pop_alerts(&alerts);
    for (lt::alert* a : alerts) HandleAlert(a);
    CollectWorkers();
    CollectActivations();
    ExpireSeeds();
    StartDueRetries();
    auto now = Clock::now();
    if (report_now || now >= next_report) {
      SendReports(kReportTimeout);
      report_now = false;
      next_report = now + cfg.report_interval;
      // Fresh numbers arrive as a state_update_alert before the next report.
      if (!jobs.empty()) ses->post_torrent_updates();
    }
    if (now >= next_status) {
      LogStatus();
      next_status = now + kStatusLogInterval;
    }
    if (now >= next_publish) {
      PublishMetrics();
      next_publish = now + std::chrono::seconds(1);
    }
  }
  Shutdown();
}

void Fetcher::Impl::Shutdown() {
  // Let installs in progress finish: they are atomic, but their reports matter.
  for (auto& [ih, j] : jobs)
    if (j->phase == Phase::kVerifying && j->worker.joinable()) j->worker.join();
  CollectWorkers();
  // Hooks in progress are killed and their activation rolled back; the
  // re-delivered assignment redoes it after the restart.
  cancel_hooks = true;
  for (auto& [name, a] : activations)
    if (a->worker.joinable()) a->worker.join();
  CollectActivations();
  if (!terminal.empty()) SendReports(milliseconds(2000));
  for (auto& [ih, j] : jobs)
    if (j->phase == Phase::kDownloading || j->phase == Phase::kRetryWait)
      spdlog::info("{}: abandoning download of {} at {}; staging kept for resume", Pushes(j->push_ids),
                   j->manifest.id(), FormatBytes(double(j->bytes_done)));
  jobs.clear();
  std::unique_ptr<lt::session> s;
  {
    std::lock_guard<std::mutex> l(ses_mu);
    s = std::move(ses);
  }
  s.reset();  // blocks briefly for tracker "stopped" announces
  spdlog::info("fetcher stopped");
}

void Fetcher::Impl::DrainInbox() {
  std::vector<Assignment> items;
  std::optional<std::set<int64_t>> listed;
  std::optional<std::vector<RackRange>> ranges;
  {
    std::lock_guard<std::mutex> l(inbox->mu);
    items.swap(inbox->items);
    listed.swap(inbox->listed);
    ranges.swap(inbox->rack_ranges);
  }
  // Before adding torrents: a peer's class is fixed when it connects.
  if (ranges && *ranges != rack_ranges) {
    Status s = cross_rack->SetRanges(*ranges, int(cfg.cross_rack_rate));
    if (s.ok()) {
      std::string list;
      for (const auto& r : *ranges) list += (list.empty() ? "" : " ") + std::string(r.local ? "" : "!") + r.cidr;
      spdlog::info("rack ranges {}{}", list.empty() ? "(none)" : list,
                   cfg.cross_rack_rate > 0 ? ": peers outside capped at " + FormatBytes(double(cfg.cross_rack_rate)) + "/s"
                                           : "");
      rack_ranges = std::move(*ranges);
    } else {
      spdlog::warn("ignoring rack ranges from tracker: {}", s.message());
    }
  }
  for (const auto& a : items) HandleAssignment(a);
  // After the assignments: a push missing because a newer one of its name
  // overtook it has just been superseded (and reported so) by them, and is
  // no longer held; only the truly withdrawn ones are left.
  if (listed) Withdraw(*listed);
}

void Fetcher::Impl::HandleAssignment(const Assignment& a) {
  // The seeder's signature on the manifest says what the bytes are, not that
  // this host should install them now: an old signed manifest is valid
  // forever. The tracker's signature binds the push id to this host, the
  // artifact (id and info-hash), activate and kind. That suffices against a
  // replay: push ids only grow, and push order (push_order.h) keeps the
  // newest id per name on disk and never lets an older one switch current, so
  // replaying a genuine old assignment is refused as stale, and a forger
  // cannot mint a newer id. A version check is not needed and would be wrong:
  // a rollback is an older version under a newer push id.
  // Checked before anything else, `seen` included, so a forgery neither acts
  // nor shadows the genuine assignment of the same push id; and not reported,
  // since the tracker did not send it and a report would mark the genuine push failed here.
  if (tracker_key) {
    if (Status s = VerifyAssignment(a, cfg.host_id, *tracker_key); !s.ok()) {
      ++stats.assignments_refused;
      if (refused_logged.size() > 1000) refused_logged.clear();  // bounded: a forger picks the pairs
      if (refused_logged.emplace(a.push_id, a.signature).second)
        spdlog::error("push {}: refused assignment of {}: {}; ignored", a.push_id, a.manifest.id(), s.message());
      return;
    }
  }
  auto [seen_it, fresh] = seen.emplace(a.push_id, a.activate);
  if (!fresh) {
    // The same push again: only its activate=false -> true turn means anything.
    if (a.activate && !seen_it->second) {
      seen_it->second = true;
      ActivateStaged(a);
    }
    return;
  }
  const Manifest& m = a.manifest;
  spdlog::info("push {}: assignment received for {} ({}){}", a.push_id, m.id(), FormatBytes(double(m.size)),
               a.activate ? "" : ", distribute only");
  // Checked first: an assignment we refuse must not stop anything.
  auto ti = CheckAssignment(a, key);
  if (!ti.ok()) {
    spdlog::error("push {}: refused {}: {}", a.push_id, m.id(), ti.status().message());
    QueueTerminal(a.push_id, kStateFailed, m.size, ti.status().message());
    return;
  }
  PushOrder& o = order[m.name];
  int64_t was_newest = o.newest;
  PushDecision d = OnAssignment(o, a.push_id);
  if (o.newest != was_newest) {
    if (Status s = SaveOrder(); !s.ok()) {
      // Going on unrecorded would let a restart forget this push overtook older ones.
      spdlog::error("push {}: cannot record it as newest for {}: {}", a.push_id, m.name, s.message());
      OnFailed(o, a.push_id);
      QueueTerminal(a.push_id, kStateFailed, m.size, "cannot record newest push: " + s.message());
      Supersede(d.superseded, o.newest, m.size);
      return;
    }
  }
  if (d.start) {
    // Staging a withdrawn push left: this push resumes from it if it is the
    // same version (its job makes it live); otherwise retention may take it.
    for (auto k = kept_staging.begin(); k != kept_staging.end();)
      k = k->second == m.name ? kept_staging.erase(k) : std::next(k);
  }
  auto it = jobs.find(m.info_hash);
  bool joined = d.start && it != jobs.end() && Transferring(it->second->phase);
  if (joined) {
    // Before superseding: an older push of this same file must not stop the transfer.
    it->second->push_ids.push_back(a.push_id);
    if (a.activate) it->second->activate_ids.insert(a.push_id);
    it->second->withdrawn = false;
    spdlog::info("push {}: joins the transfer of {} already in progress", a.push_id, m.id());
  }
  Supersede(d.superseded, o.newest, m.size);
  if (!d.start || joined) return;
  it = jobs.find(m.info_hash);
  if (IsInstalled(m, cfg.install_dir)) {
    spdlog::info("push {}: {} already installed at {}", a.push_id, m.id(), VersionDir(cfg.install_dir, m));
    if (!a.activate) {
      std::error_code ec;
      if (it == jobs.end() && fs::file_size(fs::path(staging_root) / m.info_hash / m.filename, ec) == m.size && !ec) {
        // Staged before a restart: seed again from staging while the push waits
        // (libtorrent rechecks it; the install step then finds it in place).
        AddTorrent(a, std::move(*ti));
        return;
      }
      Stage(a.push_id, m);  // stays `running` in push order until activated or overtaken
      return;
    }
    if (it == jobs.end()) {
      std::error_code ec;  // staging left by an earlier run that ended mid-seed
      fs::remove_all(fs::path(staging_root) / m.info_hash, ec);
    }
    OnInstallDone(o, a.push_id);  // the newest push (d.start), so it may switch
    RequestActivation(a.push_id, m);
    return;
  }
  if (it != jobs.end()) {
    // Seeding from a complete staging file but the install vanished: reinstall from it.
    spdlog::warn("push {}: {} was removed from the install dir; reinstalling from staging", a.push_id, m.id());
    Job& j = *it->second;
    j.push_ids = {a.push_id};
    j.activate_ids.clear();
    if (a.activate) j.activate_ids.insert(a.push_id);
    j.phase = Phase::kDownloading;
    BeginVerify(j);
    return;
  }
  AddTorrent(a, std::move(*ti));
}

void Fetcher::Impl::Stage(int64_t push_id, const Manifest& m) {
  staged[push_id] = m;
  spdlog::info("push {}: {} staged; waiting for activate", push_id, m.id());
  QueueTerminal(push_id, kStateStaged, m.size, "");
}

void Fetcher::Impl::ActivateStaged(const Assignment& a) {
  const int64_t id = a.push_id;
  if (withdrawn.count(id)) {
    // A replay: the tracker ended the row cancelled, so making it live now would go behind its back.
    spdlog::warn("push {}: activate for {} ignored: the tracker withdrew (cancelled) it; current unchanged", id,
                 a.manifest.id());
    return;
  }
  // The name of what was staged, not what this second message claims.
  std::string name = a.manifest.name;
  if (auto st = staged.find(id); st != staged.end()) name = st->second.name;
  for (auto& [ih, j] : jobs)
    if (Contains(j->push_ids, id)) name = j->manifest.name;
  PushOrder& o = order[name];
  if (id != o.newest) {
    // Already reported superseded; activating it now would move `current` back.
    spdlog::warn("push {}: activate for {} ignored: push {} is newer; current unchanged", id, a.manifest.id(),
                 o.newest);
    return;
  }
  for (auto& [ih, j] : jobs) {
    if (!Contains(j->push_ids, id)) continue;
    if (Transferring(j->phase)) {
      j->activate_ids.insert(id);
      spdlog::info("push {}: activate received for {}; activating once it is installed", id, a.manifest.id());
      return;
    }
  }
  auto st = staged.find(id);
  if (st == staged.end()) {
    spdlog::warn("push {}: activate received for {} but nothing is staged for it (it failed); ignoring", id,
                 a.manifest.id());
    return;
  }
  Manifest m = st->second;
  staged.erase(st);
  if (!OnInstallDone(o, id).switch_current) {
    spdlog::warn("push {}: activate for {} ignored: no longer the push at work; current unchanged", id, m.id());
    return;
  }
  for (auto& [ih, j] : jobs)
    if (j->phase == Phase::kStaged && Contains(j->push_ids, id)) {
      j->phase = Phase::kSeeding;
      j->seed_until = Clock::now() + cfg.seed_time;
    }
  spdlog::info("push {}: activate received for staged {}", id, m.id());
  RequestActivation(id, m);
}

void Fetcher::Impl::RequestActivation(int64_t push_id, const Manifest& m) {
  if (order[m.name].newest != push_id) {
    std::string reason = SupersededReason(order[m.name].newest);
    spdlog::warn("push {}: not activating {}: {}", push_id, m.id(), reason);
    QueueTerminal(push_id, kStateFailed, m.size, reason);
    return;
  }
  if (activations.count(m.name)) {
    auto q = next_activation.find(m.name);
    if (q != next_activation.end() && q->second.first != push_id) {
      spdlog::warn("push {}: {} before its activation began", q->second.first, SupersededReason(push_id));
      QueueTerminal(q->second.first, kStateFailed, q->second.second.size, SupersededReason(push_id));
    }
    next_activation[m.name] = {push_id, m};
    spdlog::info("push {}: activation of {} waits for push {} to finish activating", push_id, m.id(),
                 activations[m.name]->push_id);
    return;
  }
  StartActivation(push_id, m);
}

void Fetcher::Impl::StartActivation(int64_t push_id, const Manifest& m) {
  if (stopping) {
    spdlog::info("push {}: shutting down; activation of {} is left for the next start", push_id, m.id());
    return;
  }
  // Idempotent: a re-delivered assignment of a finished activation (e.g. after a restart).
  if (CurrentVersion(cfg.install_dir, m.name) == m.version) {
    spdlog::info("push {}: {} is already current; nothing to activate", push_id, m.id());
    QueueTerminal(push_id, kStateInstalled, m.size, "");
    return;
  }
  auto act = std::make_unique<Activation>();
  act->push_id = push_id;
  act->manifest = m;
  for (const auto& [ih, j] : jobs)
    if (j->manifest.name == m.name && j->phase != Phase::kSeeding) act->protect.insert(j->manifest.version);
  for (const auto& [id, sm] : staged)
    if (sm.name == m.name) act->protect.insert(sm.version);
  QueueTerminal(push_id, kStateStaged, m.size, "");  // until the hooks have their say
  Activation* ap = act.get();  // joined before it is erased
  act->worker = std::thread([ap, acfg = act_cfg, keep = cfg.keep_versions, cancel = &cancel_hooks] {
    ap->result = Activate(acfg, ap->push_id, ap->manifest, cancel);
    if (ap->result.status.ok() && !ap->result.interrupted) {
      std::set<std::string> protect = ap->protect;
      protect.insert(ap->manifest.version);
      if (!ap->result.previous.empty()) protect.insert(ap->result.previous);
      ap->pruned = PruneVersions(acfg.install_dir, ap->manifest.name, keep, protect);
    }
    ap->done = true;
  });
  activations[m.name] = std::move(act);
}

void Fetcher::Impl::CollectActivations() {
  std::vector<std::string> finished;
  for (auto& [name, ap] : activations) {
    Activation& a = *ap;
    if (!a.done) continue;
    if (a.worker.joinable()) a.worker.join();  // Shutdown may have joined it already
    finished.push_back(name);
    const Manifest& m = a.manifest;
    if (!a.result.interrupted) {
      ++stats.activations;
      stats.activation_seconds += std::chrono::duration<double>(Clock::now() - a.started).count();
      CountHooks(stats, a.result.status.ok(), a.result.status.message(), !act_cfg.hook.empty(),
                 !act_cfg.health_check.empty());
    }
    if (a.result.interrupted) {
      spdlog::info("push {}: activation of {} interrupted by shutdown; current -> {}", a.push_id, m.id(),
                   a.result.previous.empty() ? "(none)" : a.result.previous);
      continue;
    }
    if (!a.result.status.ok()) {
      spdlog::error("push {}: activation of {} failed: {}", a.push_id, m.id(), a.result.status.message());
      QueueTerminal(a.push_id, kStateFailed, m.size, a.result.status.message());
      continue;
    }
    spdlog::info("push {}: {} is live (current -> {}, previous {})", a.push_id, m.id(), m.version,
                 a.result.previous.empty() ? "none" : a.result.previous);
    QueueTerminal(a.push_id, kStateInstalled, m.size, "");
    if (a.pruned.ok()) {
      for (const auto& v : *a.pruned)
        spdlog::info("retention: removed {}@{} (keeping the newest {} of {})", name, v, cfg.keep_versions, name);
    } else {
      spdlog::warn("retention: {}", a.pruned.status().message());
    }
    // On the engine thread: it alone knows which staging dirs belong to a torrent in the session.
    std::set<std::string> live;
    for (const auto& [ih, j] : jobs) live.insert(ih);
    for (const auto& [ih, name] : kept_staging) live.insert(ih);
    for (const auto& dir : PruneStaging(staging_root, live)) spdlog::info("retention: removed orphaned staging {}", dir);
  }
  for (const auto& name : finished) {
    activations.erase(name);
    auto q = next_activation.find(name);
    if (q == next_activation.end()) continue;
    auto [id, m] = q->second;
    next_activation.erase(q);
    RequestActivation(id, m);
  }
}

void Fetcher::Impl::Supersede(const std::vector<int64_t>& ids, int64_t newest, uint64_t size) {
  for (int64_t id : ids) {
    std::string reason = SupersededReason(newest);
    Job* job = nullptr;
    for (auto& [ih, j] : jobs) {
      auto pos = std::find(j->push_ids.begin(), j->push_ids.end(), id);
      if (pos == j->push_ids.end()) continue;
      j->push_ids.erase(pos);
      job = j.get();
      break;
    }
    staged.erase(id);
    spdlog::warn("push {}: {}; it will not switch current", id, reason);
    QueueTerminal(id, kStateFailed, job ? job->manifest.size : size, reason);
    if (!job || !job->push_ids.empty()) continue;
    if (job->phase == Phase::kDownloading || job->phase == Phase::kRetryWait) {
      spdlog::info("stopping the download of {} at {}; staging removed", job->manifest.id(),
                   FormatBytes(double(job->bytes_done)));
      DropJob(job->manifest.info_hash);
    } else if (job->phase == Phase::kStaged) {
      // Never to be activated; serve peers still fetching it a little longer, like any install.
      job->phase = Phase::kSeeding;
      job->seed_until = Clock::now() + cfg.seed_time;
    }
    // kVerifying: the worker finishes the version dir; CollectWorkers then drops the job.
  }
}

void Fetcher::Impl::Withdraw(const std::set<int64_t>& listed) {
  // Held: not yet activated here. An activation in progress is not held (its
  // push left `staged` and its job is seeding), so it finishes.
  std::set<int64_t> held;
  for (const auto& [ih, j] : jobs)
    if (j->phase != Phase::kSeeding) held.insert(j->push_ids.begin(), j->push_ids.end());
  for (const auto& [id, m] : staged) held.insert(id);
  for (const auto& [name, q] : next_activation) held.insert(q.first);
  for (int64_t id : held)
    if (!listed.count(id)) WithdrawPush(id);
}

void Fetcher::Impl::WithdrawPush(int64_t id) {
  std::optional<Manifest> m;
  for (const auto& [ih, j] : jobs)
    if (Contains(j->push_ids, id)) m = j->manifest;
  if (auto st = staged.find(id); !m && st != staged.end()) m = st->second;
  for (const auto& [name, q] : next_activation)
    if (!m && q.first == id) m = q.second;
  if (!m) return;
  if (!OnWithdrawn(order[m->name], id)) {
    // Not the newest of its name: the push that overtook it owns its end.
    spdlog::debug("push {}: missing from the assignments, already overtaken by push {}", id, order[m->name].newest);
    return;
  }
  withdrawn.insert(id);
  // The tracker ended the row; a report now would only be refused or ignored.
  terminal.erase(id);
  bool was_staged = staged.erase(id) > 0, in_job = false;
  const std::string what = "push " + std::to_string(id) + ": withdrawn by the tracker (cancelled); ";
  if (auto q = next_activation.find(m->name); q != next_activation.end() && q->second.first == id) {
    next_activation.erase(q);
    spdlog::warn("{}its activation of {} will not start; current unchanged", what, m->id());
  }
  std::string stop_ih;
  for (auto& [ih, jp] : jobs) {
    Job& j = *jp;
    auto pos = std::find(j.push_ids.begin(), j.push_ids.end(), id);
    if (j.phase == Phase::kSeeding || pos == j.push_ids.end()) continue;
    in_job = true;
    j.push_ids.erase(pos);
    j.activate_ids.erase(id);
    if (!j.push_ids.empty()) {
      spdlog::warn("{}the transfer of {} goes on for {}", what, j.manifest.id(), Pushes(j.push_ids));
    } else if (j.phase == Phase::kVerifying) {
      // The worker cannot be interrupted; CollectWorkers lets the torrent go once it is done.
      j.withdrawn = true;
      spdlog::warn("{}verifying {} finishes, but it will not be activated; staging kept", what, j.manifest.id());
    } else if (j.phase == Phase::kStaged) {
      spdlog::warn("{}staged {} will not be activated; its seeding stopped, staging kept", what, j.manifest.id());
      stop_ih = ih;
    } else {
      spdlog::warn("{}download of {} stopped at {}, staging kept", what, j.manifest.id(),
                   FormatBytes(double(j.bytes_done)));
      stop_ih = ih;
    }
    break;
  }
  if (was_staged && !in_job) spdlog::warn("{}staged {} will not be activated", what, m->id());
  if (!stop_ih.empty()) {
    auto it = jobs.find(stop_ih);
    StopTorrentKeepStaging(*it->second);
    kept_staging[stop_ih] = m->name;
    jobs.erase(it);
  }
  report_now = true;
}

void Fetcher::Impl::DropJob(const std::string& info_hash) {
  auto it = jobs.find(info_hash);
  if (it == jobs.end()) return;
  if (it->second->worker.joinable()) it->second->worker.join();
  RemoveTorrent(*it->second);
  jobs.erase(it);
  report_now = true;
}

Status Fetcher::Impl::SaveOrder() {
  std::map<std::string, int64_t> newest;
  for (const auto& [name, o] : order) newest[name] = o.newest;
  return SaveNewestPushes(newest_file, newest);
}

void Fetcher::Impl::AddTorrent(const Assignment& a, std::shared_ptr<lt::torrent_info> ti) {
  const Manifest& m = a.manifest;
  std::string dir = (fs::path(staging_root) / m.info_hash).string();
  auto refuse = [&](const std::string& msg) {
    spdlog::error("push {}: {}", a.push_id, msg);
    OnFailed(order[m.name], a.push_id);
    QueueTerminal(a.push_id, kStateFailed, m.size, msg);
  };
  std::error_code fec;
  bool resuming = fs::exists(fs::path(dir) / m.filename, fec);
  // Staging entries are the fetcher's own: a symlink there (someone else's)
  // would have libtorrent write the download, over whatever is there,
  // wherever it points.
  std::error_code lec;
  fs::file_type dk = fs::symlink_status(dir, lec).type();
  fs::file_type fk = fs::symlink_status(fs::path(dir) / m.filename, lec).type();
  if ((dk != fs::file_type::not_found && dk != fs::file_type::directory) ||
      (fk != fs::file_type::not_found && fk != fs::file_type::regular))
    return refuse("staging " + dir +
                  " holds a symlink or other entry the fetcher did not make; refusing to download through it");
  if (cfg.min_free) {
    // Bytes already in staging from an earlier run need no new space; the
    // install's own copy does (install.h: a reflink would not, but whether
    // the filesystem gives one is known only then).
    uint64_t have = resuming ? fs::file_size(fs::path(dir) / m.filename, fec) : 0;
    if (fec) have = 0;
    uint64_t need = (m.size > have ? m.size - have : 0) + m.size;
    if (Status s = CheckFreeSpace(cfg.install_dir, need, *cfg.min_free); !s.ok()) return refuse(s.message());
  }
  if (Status s = MakeDirs(dir); !s.ok()) return refuse(s.message());
  auto job = std::make_unique<Job>();
  job->manifest = m;
  job->push_ids = {a.push_id};
  if (a.activate) job->activate_ids.insert(a.push_id);
  job->staging_dir = dir;
  job->ti = std::move(ti);
  if (Status s = StartTorrent(*job); !s.ok()) return refuse(s.message());
  spdlog::info("push {}: started download of {} ({}) into {}{}", a.push_id, m.id(), FormatBytes(double(m.size)), dir,
               resuming ? " (rechecking data from an earlier run)" : "");
  jobs[m.info_hash] = std::move(job);
  report_now = true;
}

Status Fetcher::Impl::StartTorrent(Job& j) {
  lt::add_torrent_params p;
  // The manifest's signature covers the info-hash, so only the info dict is
  // trusted. announce, announce-list and url-list sit outside it: whoever
  // hands out the torrent could point announces at a tracker of their choosing
  // or add web seeds (an HTTP fetch from anywhere). So drop them all and
  // announce only where this host was configured to.
  auto ti = std::make_shared<lt::torrent_info>(*j.ti);
  ti->clear_trackers();
  ti->set_web_seeds({});
  p.ti = std::move(ti);
  // Every tracker, one per tier, in the swarm's own order (the seeder's too):
  // libtorrent announces to the first that works, so the swarm meets on its
  // owner and, when that one dies, on the same next tracker.
  p.trackers = OrderTrackers(j.manifest.info_hash, cfg.AnnounceUrls());
  p.tracker_tiers.resize(p.trackers.size());
  for (size_t i = 0; i < p.tracker_tiers.size(); ++i) p.tracker_tiers[i] = int(i);
  std::shared_ptr<FarFilter> far_filter;
  if (!cfg.stock_libtorrent) {
    auto f = FarFilter::Make(rack_ranges, traffic);
    if (f.ok()) {
      far_filter = *f;
      p.extensions.push_back([far_filter](const lt::torrent_handle&, lt::client_data_t) { return far_filter; });
    } else {
      spdlog::warn("{}: no gateway share filter: {}", Pushes(j.push_ids), f.status().message());
    }
  }
  // Without resume data libtorrent checks what staging already holds, so a
  // resumed or retried download fetches only missing or damaged pieces.
  p.save_path = j.staging_dir;
  // Every assignment is meant to run now; queueing would stall a push.
  p.flags &= ~lt::torrent_flags::auto_managed;
  p.flags &= ~lt::torrent_flags::paused;
  lt::error_code ec;
  lt::torrent_handle h;
  std::string err;
  try {
    h = ses->add_torrent(std::move(p), ec);
    if (ec) err = ec.message();
  } catch (const std::exception& e) {
    err = e.what();
  }
  if (err.empty() && !h.is_valid()) err = "invalid handle";
  if (!err.empty()) return Status::Io("cannot add torrent: " + err);
  j.handle = h;
  j.far_filter = std::move(far_filter);
  j.phase = Phase::kDownloading;
  j.started = Clock::now();
  j.bytes_done = 0;
  j.rate = 0;
  j.peers = 0;
  return Status::Ok();
}

void Fetcher::Impl::StopTorrentKeepStaging(Job& j) {
  // No delete_files: the partial file stays for a later attempt or push.
  if (j.handle.is_valid()) ses->remove_torrent(j.handle);
  j.handle = lt::torrent_handle();
  j.far_filter.reset();
  j.rate = 0;
  j.peers = 0;
}

Job* Fetcher::Impl::FindJob(const lt::torrent_handle& h) {
  for (auto& [ih, j] : jobs)
    if (j->handle == h) return j.get();
  return nullptr;
}

void Fetcher::Impl::HandleAlert(lt::alert* a) {
  if (auto* su = lt::alert_cast<lt::state_update_alert>(a)) {
    for (const lt::torrent_status& st : su->status) {
      Job* j = FindJob(st.handle);
      if (!j || j->phase != Phase::kDownloading) continue;
      j->bytes_done = static_cast<uint64_t>(std::max<int64_t>(0, st.total_wanted_done));
      j->rate = st.download_payload_rate;
      j->peers = st.num_peers;
      bool checking = st.state == lt::torrent_status::checking_files ||
                      st.state == lt::torrent_status::checking_resume_data;
      // A restart whose recheck finds everything never fires torrent_finished_alert.
      if (!checking && (st.is_finished || st.is_seeding)) BeginVerify(*j);
    }
  } else if (auto* f = lt::alert_cast<lt::torrent_finished_alert>(a)) {
    if (Job* j = FindJob(f->handle)) BeginVerify(*j);
  } else if (auto* e = lt::alert_cast<lt::torrent_error_alert>(a)) {
    spdlog::error("torrent error: {}", e->message());
    Job* j = FindJob(e->handle);
    if (!j) return;
    if (j->phase == Phase::kDownloading) {
      std::string reason = "torrent error: " + e->error.message() + " (" + e->filename() + ")";
      // A full disk stays full for the next attempt; anything else may pass.
      if (e->error == boost::system::errc::no_space_on_device)
        Fail(j->manifest.info_hash, reason);
      else
        FailOrRetry(j->manifest.info_hash, reason);
    } else if (j->phase == Phase::kSeeding) {
      spdlog::warn("{}: ending seeding of {} after error", Pushes(j->push_ids), j->manifest.id());
      j->seed_until = Clock::now();
    }
  } else if (auto* fe = lt::alert_cast<lt::file_error_alert>(a)) {
    // libtorrent only switches to upload mode on a write error (ENOSPC) and,
    // without auto-management, nothing retries: fail now and free the staging.
    spdlog::error("file error: {}", fe->message());
    Job* j = FindJob(fe->handle);
    if (!j) return;
    std::string reason = fe->error == boost::system::errc::no_space_on_device
                             ? "no space left on device: " + std::string(fe->filename())
                             : "disk error (" + std::string(lt::operation_name(fe->op)) + "): " +
                                   fe->error.message() + ": " + fe->filename();
    if (j->phase == Phase::kDownloading) {
      if (fe->error == boost::system::errc::no_space_on_device)
        Fail(j->manifest.info_hash, reason);
      else
        FailOrRetry(j->manifest.info_hash, reason);
    } else if (j->phase == Phase::kSeeding) {
      spdlog::warn("{}: ending seeding of {} after error", Pushes(j->push_ids), j->manifest.id());
      j->seed_until = Clock::now();
    }
  } else if (auto* r = lt::alert_cast<lt::tracker_reply_alert>(a)) {
    Job* j = FindJob(r->handle);
    if (j && j->swarm_tracker != r->tracker_url()) {
      if (!j->swarm_tracker.empty())
        spdlog::warn("{}: swarm of {} moved from tracker {} to {}", Pushes(j->push_ids), j->manifest.id(),
                     j->swarm_tracker, r->tracker_url());
      j->swarm_tracker = r->tracker_url();
    }
  } else if (auto* t = lt::alert_cast<lt::tracker_error_alert>(a)) {
    if (t->times_in_row <= 1)
      spdlog::warn("announce failed: {}", t->message());
    else
      spdlog::debug("announce failed: {}", t->message());
  } else if (auto* d = lt::alert_cast<lt::torrent_deleted_alert>(a)) {
    spdlog::debug("{}", d->message());
    // RemoveTorrent removes the staging dir when it asks for the delete, but
    // disk jobs still queued then (writes of blocks in flight) can recreate it
    // before libtorrent gets to the delete, which unlinks only the file. Now
    // that the delete is done, remove the dir again unless a new job uses it.
    std::ostringstream ih;
    ih << d->info_hashes.get_best();
    if (!jobs.count(ih.str()) && !kept_staging.count(ih.str())) {
      std::error_code ec;
      fs::remove_all(fs::path(staging_root) / ih.str(), ec);
    }
  } else if (auto* df = lt::alert_cast<lt::torrent_delete_failed_alert>(a)) {
    spdlog::debug("{}", df->message());
  } else if (lt::alert_cast<lt::torrent_checked_alert>(a)) {
    spdlog::debug("{}", a->message());
  } else if (a->category() & lt::alert_category::error) {
    spdlog::warn("{}", a->message());
  } else {
    spdlog::debug("{}", a->message());
  }
}

void Fetcher::Impl::BeginVerify(Job& j) {
  if (j.phase != Phase::kDownloading) return;
  PushOrder& o = order[j.manifest.name];
  bool install = false;
  for (int64_t id : j.push_ids) install |= OnDownloadDone(o, id).install;
  if (!install) {
    // Every push of it was overtaken while the last pieces came in.
    spdlog::info("{}: download of {} complete but superseded; not installing", Pushes(j.push_ids), j.manifest.id());
    DropJob(j.manifest.info_hash);
    return;
  }
  j.phase = Phase::kVerifying;
  j.verify_started = Clock::now();
  j.bytes_done = j.manifest.size;
  j.rate = 0;
  spdlog::info("{}: download of {} complete in {}; verifying sha256", Pushes(j.push_ids), j.manifest.id(),
               Seconds(Clock::now() - j.started));
  report_now = true;
  std::string file = (fs::path(j.staging_dir) / j.manifest.filename).string();
  Job* jp = &j;  // Jobs are heap-allocated and outlive their worker (joined before erase).
  j.worker_done = false;
  j.worker = std::thread([jp, file, m = j.manifest, dir = cfg.install_dir] {
    jp->worker_status = InstallVersion(file, m, dir);
    jp->worker_done = true;
  });
}

void Fetcher::Impl::CollectWorkers() {
  std::vector<std::pair<std::string, Status>> failed;
  std::vector<std::string> superseded, withdrawn_done;
  for (auto& [ih, jp] : jobs) {
    Job& j = *jp;
    if (j.phase != Phase::kVerifying || !j.worker_done) continue;
    j.worker.join();
    ++stats.verifies;
    stats.verify_seconds += std::chrono::duration<double>(Clock::now() - j.verify_started).count();
    if (!j.worker_status.ok()) {
      failed.emplace_back(ih, j.worker_status);
      continue;
    }
    if (j.withdrawn && j.push_ids.empty()) {
      spdlog::info("verified sha256 and installed {} at {}, but its push was withdrawn: not activated; staging kept",
                   j.manifest.id(), VersionDir(cfg.install_dir, j.manifest));
      withdrawn_done.push_back(ih);
      continue;
    }
    PushOrder& o = order[j.manifest.name];
    int64_t activate_id = 0;
    std::vector<int64_t> stage_ids;
    for (int64_t id : j.push_ids) {
      if (j.activate_ids.count(id)) {
        if (OnInstallDone(o, id).switch_current) activate_id = id;
      } else if (OnDownloadDone(o, id).install) {
        // Still the newest push at work: it stays so (running) while staged.
        stage_ids.push_back(id);
      }
    }
    if (!activate_id && stage_ids.empty()) {
      spdlog::info("{}: installed {} at {} but a newer push overtook it; current unchanged", Pushes(j.push_ids),
                   j.manifest.id(), VersionDir(cfg.install_dir, j.manifest));
      superseded.push_back(ih);
      continue;
    }
    if (activate_id) {
      j.phase = Phase::kSeeding;
      j.seed_until = Clock::now() + cfg.seed_time;
      spdlog::info("{}: verified sha256 and installed {} at {}; activating, then seeding for {}", Pushes(j.push_ids),
                   j.manifest.id(), VersionDir(cfg.install_dir, j.manifest), FormatDuration(cfg.seed_time));
      RequestActivation(activate_id, j.manifest);
    } else {
      j.phase = Phase::kStaged;
      spdlog::info("{}: verified sha256 and staged {} at {}; seeding until activated", Pushes(j.push_ids),
                   j.manifest.id(), VersionDir(cfg.install_dir, j.manifest));
      for (int64_t id : stage_ids) Stage(id, j.manifest);
    }
  }
  for (const auto& [ih, st] : failed) {
    if (jobs[ih]->push_ids.empty()) {
      // Overtaken or withdrawn while verifying: nobody to report to, and the data is bad.
      spdlog::warn("verifying {} failed after its pushes ended: {}; staging removed", jobs[ih]->manifest.id(),
                   st.message());
      DropJob(ih);
    } else if (st.code() == Status::Code::kCorrupt) {
      // libtorrent checked every piece against the torrent, so a size or
      // sha256 mismatch means the staging file changed since (the disk,
      // another writer) or the torrent and the signed manifest disagree. The
      // next attempt's recheck refetches damaged pieces, and tells which.
      FailOrRetry(ih, st.message());
    } else {
      Fail(ih, st.message());  // install I/O or a conflicting version dir: another attempt meets the same
    }
  }
  for (const auto& ih : superseded) DropJob(ih);
  for (const auto& ih : withdrawn_done) {
    auto it = jobs.find(ih);
    StopTorrentKeepStaging(*it->second);
    // Unless a push of another version of the name started meanwhile, which releases it (HandleAssignment).
    const std::string& name = it->second->manifest.name;
    if (!order[name].running) kept_staging[ih] = name;
    jobs.erase(it);
  }
}

void Fetcher::Impl::ExpireSeeds() {
  auto now = Clock::now();
  for (auto it = jobs.begin(); it != jobs.end();) {
    Job& j = *it->second;
    if (j.phase == Phase::kSeeding && now >= j.seed_until) {
      spdlog::info("{}: seeding of {} ended; staging removed", Pushes(j.push_ids), j.manifest.id());
      RemoveTorrent(j);
      it = jobs.erase(it);
    } else {
      ++it;
    }
  }
}

void Fetcher::Impl::Fail(const std::string& info_hash, const std::string& reason) {
  auto it = jobs.find(info_hash);
  if (it == jobs.end()) return;
  Job& j = *it->second;
  if (j.worker.joinable()) j.worker.join();
  spdlog::error("{}: {} failed{}: {}", Pushes(j.push_ids), j.manifest.id(),
                j.tries > 1 ? " at attempt " + std::to_string(j.tries) : "", reason);
  for (int64_t id : j.push_ids) {
    OnFailed(order[j.manifest.name], id);
    QueueTerminal(id, kStateFailed, j.manifest.size, reason);
  }
  RemoveTorrent(j);
  jobs.erase(it);
}

void Fetcher::Impl::FailOrRetry(const std::string& info_hash, const std::string& reason) {
  auto it = jobs.find(info_hash);
  if (it == jobs.end()) return;
  Job& j = *it->second;
  if (j.tries >= cfg.tries || j.push_ids.empty()) return Fail(info_hash, reason);
  if (j.worker.joinable()) j.worker.join();
  milliseconds delay = cfg.retry_delay * (1 << (j.tries - 1));
  spdlog::warn("{}: attempt {} of {} at {} failed: {}; next attempt in {}, staging kept", Pushes(j.push_ids), j.tries,
               cfg.tries, j.manifest.id(), reason, FormatDuration(delay));
  // Out of the session while waiting: a torrent in error or a finished one
  // would not look at its data again, a fresh add rechecks it.
  StopTorrentKeepStaging(j);
  j.phase = Phase::kRetryWait;
  j.retry_at = Clock::now() + delay;
  j.retry_reason = reason;
  report_now = true;
}

void Fetcher::Impl::StartDueRetries() {
  auto now = Clock::now();
  std::vector<std::pair<std::string, std::string>> failed;
  for (auto& [ih, jp] : jobs) {
    Job& j = *jp;
    if (j.phase != Phase::kRetryWait || now < j.retry_at) continue;
    ++j.tries;
    for (int64_t id : j.push_ids) tries[id] = TriesOf(id) + 1;
    if (Status s = StartTorrent(j); !s.ok()) {
      failed.emplace_back(ih, s.message());
      continue;
    }
    spdlog::info("{}: attempt {} of {} at {}: rechecking staging, then fetching what is missing or damaged",
                 Pushes(j.push_ids), j.tries, cfg.tries, j.manifest.id());
    report_now = true;
  }
  for (const auto& [ih, reason] : failed) Fail(ih, reason);
}

int Fetcher::Impl::TriesOf(int64_t push_id) const {
  auto it = tries.find(push_id);
  return it == tries.end() ? 1 : it->second;
}

void Fetcher::Impl::RemoveTorrent(Job& j) {
  // delete_files unlinks the staging file only; the installed file is a copy of its own (install.h).
  if (j.handle.is_valid()) ses->remove_torrent(j.handle, lt::session::delete_files);
  std::error_code ec;
  fs::remove_all(j.staging_dir, ec);
  if (ec) spdlog::warn("cannot remove staging {}: {}", j.staging_dir, ec.message());
}

void Fetcher::Impl::QueueTerminal(int64_t push_id, const std::string& state, uint64_t total,
                                  const std::string& error) {
  HostReport r;
  r.push_id = push_id;
  r.state = state;
  r.total = total;
  r.bytes_done = state == kStateInstalled || state == kStateStaged ? total : 0;
  r.error = error;
  r.tries = TriesOf(push_id);
  terminal[push_id] = r;
  ++stats.outcomes[state];
  report_now = true;
}

std::optional<size_t> Fetcher::Impl::SwarmControl(const Job& j) const {
  if (j.swarm_tracker.empty() || j.phase != Phase::kDownloading) return std::nullopt;
  for (int64_t id : j.push_ids)
    if (unroutable.count(id)) return std::nullopt;
  const auto announces = cfg.AnnounceUrls();
  for (size_t i = 0; i < announces.size(); ++i)
    if (announces[i] == j.swarm_tracker && i != client->current_index()) return i;
  return std::nullopt;
}

// A download's reports go to the tracker its swarm is on, when that is not
// the control plane in use: only the tracker holding the swarm knows which
// hosts it granted the origin, so only its answer carries this host's gateway
// share. Everything else, and whatever that tracker does not take, goes to
// the control plane in use (with failover).
void Fetcher::Impl::SendReports(milliseconds timeout) {
  const int64_t generation = SendReportBatch(timeout);
  // Tells the poll thread whether it may rest (see Inbox).
  std::lock_guard<std::mutex> l(inbox->mu);
  if (inbox->items.empty()) inbox->expecting = false;
  inbox->reporting = generation >= 0;
  inbox->reported_generation = std::max(inbox->reported_generation, generation);
  inbox->cv.notify_all();
}

// Returns the generation the control plane in use answered with, -1 when it
// did not answer one (nothing to report, a failure, an older tracker). Only
// its answer counts: it is the one the poll thread asks.
int64_t Fetcher::Impl::SendReportBatch(milliseconds timeout) {
  std::vector<HostReport> reports;
  std::map<size_t, std::vector<HostReport>> routed;  // by tracker index
  for (auto& [ih, j] : jobs) {
    if (j->phase == Phase::kSeeding || j->phase == Phase::kStaged) continue;  // staged goes out once, via `terminal`
    const std::optional<size_t> to = SwarmControl(*j);
    for (int64_t id : j->push_ids) {
      HostReport r;
      r.push_id = id;
      // Waiting to retry is still downloading as far as the tracker's states go.
      r.state = j->phase == Phase::kVerifying ? kStateVerifying : kStateDownloading;
      r.bytes_done = j->bytes_done;
      r.total = j->manifest.size;
      r.rate = j->rate;
      r.peers = j->peers;
      r.tries = TriesOf(id);
      if (j->phase == Phase::kRetryWait) r.error = "retrying after: " + j->retry_reason;
      (to ? routed[*to] : reports).push_back(r);
    }
  }
  for (auto& [id, r] : terminal) reports.push_back(r);
  std::vector<GatewayRole> roles;
  std::set<int64_t> answered;
  for (auto& [to, batch] : routed) {
    auto a = client->PostReportsTo(to, batch, timeout);
    std::set<int64_t> refused;
    if (a.ok()) {
      for (const auto& r : a->refused) refused.insert(r.push_id);
      roles.insert(roles.end(), a->gateways.begin(), a->gateways.end());
    }
    for (const auto& r : batch) {
      if (a.ok() && !refused.count(r.push_id)) {
        answered.insert(r.push_id);
        continue;
      }
      if (!a.ok() && a.status().code() == Status::Code::kUnavailable) {
        reports.push_back(r);  // that tracker is failing: this round only
        continue;
      }
      if (unroutable.insert(r.push_id).second)
        spdlog::info("push {}: the tracker of its swarm does not take its reports ({}); reporting to {} only",
                     r.push_id, a.ok() ? "refused" : a.status().message(), client->current());
      reports.push_back(r);
    }
  }
  if (reports.empty()) {
    if (!routed.empty()) ApplyRoles(roles, answered);
    else client->CloseReportConnection();  // nothing to report: the poll connection is enough
    return -1;
  }
  auto answer = client->PostReports(reports, timeout);
  if (answer.ok()) {
    if (report_failures > 0) spdlog::info("reports accepted again after {} failures", report_failures);
    report_failures = 0;
    // Refused ones (e.g. a push the tracker no longer knows) will not be
    // taken later either: dropped with the accepted ones.
    for (const auto& r : answer->refused) spdlog::warn("push {}: tracker refused report: {}", r.push_id, r.error);
    terminal.clear();
    for (const auto& r : reports) answered.insert(r.push_id);
    roles.insert(roles.end(), answer->gateways.begin(), answer->gateways.end());
    ApplyRoles(roles, answered);
    return answer->generation;
  }
  if (!routed.empty()) ApplyRoles(roles, answered);
  const Status& s = answer.status();
  if (s.code() == Status::Code::kUnavailable) {
    // Terminal states stay queued and go out with the next report.
    if (++report_failures <= 3 || report_failures % 30 == 0)
      spdlog::warn("reporting to tracker failed ({} in a row): {}", report_failures, s.message());
    return -1;
  }
  // Refused outright (e.g. a push the tracker no longer knows): one bad report
  // must not block the rest, so send them one by one and drop the refused.
  spdlog::warn("tracker refused a batch of {} reports: {}; sending one by one", reports.size(), s.message());
  for (const auto& r : reports) {
    Status one = client->PostReports({r}, timeout).status();
    if (one.ok() || one.code() != Status::Code::kUnavailable) {
      if (!one.ok()) spdlog::warn("push {}: tracker refused report ({}): {}", r.push_id, r.state, one.message());
      terminal.erase(r.push_id);
    }
  }
  return -1;
}

void Fetcher::Impl::ApplyRoles(const std::vector<GatewayRole>& roles, const std::set<int64_t>& answered) {
  for (auto& [ih, j] : jobs) {
    if (j->phase != Phase::kDownloading || !j->far_filter) continue;
    if (std::none_of(j->push_ids.begin(), j->push_ids.end(), [&](int64_t id) { return answered.count(id) > 0; }))
      continue;
    const GatewayRole* role = nullptr;
    for (const auto& r : roles)
      if (std::count(j->push_ids.begin(), j->push_ids.end(), r.push_id)) role = &r;
    if (!j->far_filter->SetRole(role ? role->slot : 0, role ? role->slots : 0)) continue;
    if (role)
      spdlog::info("{}: gateway of its rack, share {} of {}: fetches only that share from outside the rack",
                   Pushes(j->push_ids), role->slot, role->slots);
    else
      spdlog::info("{}: no longer a gateway; fetches any piece from outside the rack", Pushes(j->push_ids));
  }
}

void Fetcher::Impl::LogStatus() {
  for (auto& [ih, j] : jobs) {
    if (j->phase == Phase::kSeeding || j->phase == Phase::kStaged) continue;
    spdlog::info("{}: {} {} {} / {}, {}/s, {} peers", Pushes(j->push_ids), j->manifest.id(),
                 j->phase == Phase::kDownloading ? "downloading"
                 : j->phase == Phase::kVerifying ? "verifying"
                                                 : "waiting to retry",
                 FormatBytes(double(j->bytes_done)),
                 FormatBytes(double(j->manifest.size)), FormatBytes(j->rate), j->peers);
  }
}

}  // namespace spate
