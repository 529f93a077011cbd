#include "seeder/seeding.h"

#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/alert_types.hpp>
#include <libtorrent/torrent_flags.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/torrent_status.hpp>
#include <spdlog/spdlog.h>

#include <chrono>

#include "seeder/torrent.h"
#include "wire/tracker_order.h"

namespace spate::seeder {

Seeding::Seeding(SwarmOptions options, std::vector<std::string> announce_urls)
    : options_(std::move(options)), announce_urls_(std::move(announce_urls)) {
  options_.origin = true;
}

Seeding::~Seeding() { Stop(); }

Status Seeding::Start() {
  try {
    session_ = MakeSession(options_);
  } catch (const std::exception& e) {
    return Status::Unavailable(std::string("cannot start libtorrent session: ") + e.what());
  }
  // Listening happens on libtorrent's network thread; wait for it so the ready
  // file can name the real port.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!session_->is_listening() || session_->listen_port() == 0) {
    if (std::chrono::steady_clock::now() > deadline)
      return Status::Unavailable("libtorrent cannot listen on " + options_.bind_address + ":" +
                                 std::to_string(options_.port));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  port_ = session_->listen_port();
  alerts_ = std::thread([this] { AlertLoop(); });
  spdlog::info("libtorrent listening on {}", peer_endpoint());
  return Status::Ok();
}

void Seeding::Stop() {
  if (stop_.exchange(true)) return;
  if (alerts_.joinable()) alerts_.join();
  if (session_) {
    std::lock_guard<std::mutex> lock(mu_);
    torrents_.clear();
    ids_.clear();
    session_.reset();  // aborts the session and closes peer connections
  }
}

std::string Seeding::peer_endpoint() const {
  bool v6 = options_.bind_address.find(':') != std::string::npos;
  return (v6 ? "[" + options_.bind_address + "]" : options_.bind_address) + ":" + std::to_string(port_);
}

Status Seeding::Add(const std::string& id, const std::string& torrent, const std::string& save_path) {
  if (!session_) return Status::Unavailable("seeding session not started");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (torrents_.count(id)) return Status::Ok();
  }
  lt::add_torrent_params p;
  lt::error_code ec;
  p.ti = std::make_shared<lt::torrent_info>(torrent.data(), static_cast<int>(torrent.size()), ec);
  if (ec) return Status::Corrupt(id + ": bad .torrent: " + ec.message());
  p.save_path = save_path;
  auto ih = InfoHashOf(torrent);
  if (!announce_urls_.empty() && ih.ok()) {
    p.ti->clear_trackers();
    p.trackers = OrderTrackers(*ih, announce_urls_);
    p.tracker_tiers.resize(p.trackers.size());
    for (size_t i = 0; i < p.tracker_tiers.size(); ++i) p.tracker_tiers[i] = int(i);
  }
  // Not auto-managed and not paused: a paused, unmanaged torrent would never start.
  p.flags |= lt::torrent_flags::seed_mode;
  p.flags &= ~(lt::torrent_flags::auto_managed | lt::torrent_flags::paused);
  lt::torrent_handle h = session_->add_torrent(std::move(p), ec);
  if (ec) return Status::Io(id + ": cannot add torrent: " + ec.message());
  std::lock_guard<std::mutex> lock(mu_);
  torrents_[id] = h;
  info_hashes_[id] = ih.ok() ? *ih : "";
  ids_[h] = id;
  TorrentStats& st = stats_[id];
  st.id = id;
  st.info_hash = info_hashes_[id];
  st.state = "starting";
  spdlog::info("seeding {} from {}", id, save_path);
  return Status::Ok();
}

void Seeding::Reannounce(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = torrents_.find(id);
  if (it != torrents_.end()) it->second.force_reannounce(0, -1, lt::torrent_handle::ignore_min_interval);
}

namespace {
std::string StateName(const lt::torrent_status& st) {
  if (st.errc) return "error: " + st.errc.message();
  switch (st.state) {
    case lt::torrent_status::checking_files: return "checking";
    case lt::torrent_status::checking_resume_data: return "checking";
    case lt::torrent_status::downloading_metadata: return "metadata";
    case lt::torrent_status::downloading: return "downloading";
    case lt::torrent_status::finished: return "finished";
    case lt::torrent_status::seeding: return "seeding";
    default: return "unknown";
  }
}
}  // namespace

std::vector<TorrentStats> Seeding::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<TorrentStats> out;
  out.reserve(stats_.size());
  for (const auto& [id, st] : stats_) out.push_back(st);
  return out;
}

void Seeding::OnStateUpdate(const std::vector<lt::torrent_status>& statuses) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& st : statuses) {
    auto id = ids_.find(st.handle);
    if (id == ids_.end()) continue;
    TorrentStats& t = stats_[id->second];
    t.state = StateName(st);
    t.peers = st.num_peers;
    t.upload_rate = st.upload_payload_rate;
    t.total_uploaded = st.total_payload_upload;
  }
}

SessionTotals Seeding::Totals() const {
  SessionTotals t;
  for (const auto& s : Stats()) {
    ++t.torrents;
    t.peers += s.peers;
    t.upload_rate += s.upload_rate;
    t.total_uploaded += s.total_uploaded;
  }
  return t;
}

void Seeding::AlertLoop() {
  auto next_update = std::chrono::steady_clock::now();
  while (!stop_) {
    // Only torrents whose status changed come back, so an idle store of many
    // artifacts costs next to nothing per round.
    if (std::chrono::steady_clock::now() >= next_update) {
      session_->post_torrent_updates();
      next_update = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
    if (!session_->wait_for_alert(std::chrono::milliseconds(250))) continue;
    std::vector<lt::alert*> alerts;
    session_->pop_alerts(&alerts);
    for (lt::alert* a : alerts) {
      if (auto* update = lt::alert_cast<lt::state_update_alert>(a)) {
        OnStateUpdate(update->status);
      } else if (lt::alert_cast<lt::tracker_error_alert>(a) || lt::alert_cast<lt::scrape_failed_alert>(a)) {
        // The tracker being down is routine (restarts); the registrar reports it once.
        spdlog::debug("{}", a->message());
      } else if (lt::alert_cast<lt::tracker_warning_alert>(a)) {
        spdlog::warn("{}", a->message());
      } else if (lt::alert_cast<lt::torrent_error_alert>(a) || lt::alert_cast<lt::file_error_alert>(a) ||
                 lt::alert_cast<lt::listen_failed_alert>(a) || lt::alert_cast<lt::hash_failed_alert>(a)) {
        spdlog::error("libtorrent: {}", a->message());
      } else if (auto* add = lt::alert_cast<lt::add_torrent_alert>(a); add && add->error) {
        spdlog::error("libtorrent: {}", a->message());
      } else if (a->category() & lt::alert_category::error) {
        spdlog::warn("libtorrent: {}", a->message());
      } else {
        spdlog::trace("libtorrent: {}", a->message());
      }
    }
  }
}

}  // namespace spate::seeder
