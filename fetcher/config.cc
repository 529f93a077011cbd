#include "fetcher/config.h"

#include <boost/asio/ip/address.hpp>

#include "wire/api.h"
#include "wire/swarm.h"

namespace spate {

Status FetcherConfig::Validate() const {
  if (Status s = CheckName("host id", host_id); !s.ok()) return s;
  boost::system::error_code ec;
  boost::asio::ip::make_address(bind_address, ec);
  if (ec) return Status::Invalid("--bind '" + bind_address + "' is not an IP address");
  if (peer_port < 0 || peer_port > 65535) return Status::Invalid("--peer-port must be 0..65535");
  if (tracker_urls.empty()) return Status::Invalid("--tracker is required");
  for (const auto& t : tracker_urls)
    if (t.rfind("http://", 0) != 0 && t.rfind("https://", 0) != 0)
      return Status::Invalid("--tracker must be an http:// or https:// URL: '" + t + "'");
  if (!announce_urls.empty() && announce_urls.size() != tracker_urls.size())
    return Status::Invalid("--announce-url lists " + std::to_string(announce_urls.size()) + " URLs for " +
                           std::to_string(tracker_urls.size()) +
                           " trackers: give one per --tracker, in the same order");
  for (const auto& a : announce_urls)
    if (auto u = AnnounceUrlFor("", a); !u.ok()) return u.status();
  auto announces = AnnounceUrls();
  for (size_t i = 0; i < announces.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      if (announces[i] == announces[j]) return Status::Invalid("tracker " + announces[i] + " is listed twice");
  if (install_dir.empty()) return Status::Invalid("--install-dir is required");
  if (data_dir.empty()) return Status::Invalid("--data-dir is required");
  if (trusted_key_file.empty())
    return Status::Invalid("--trusted-key is required: a fetcher installs only what the seeder signed");
  // libtorrent takes int caps.
  if (upload_rate > INT32_MAX || download_rate > INT32_MAX || cross_rack_rate > INT32_MAX) return Status::Invalid("rate caps must be below 2 GiB/s");
  if (report_interval.count() <= 0) return Status::Invalid("--report-interval must be positive");
  if (seed_time.count() < 0) return Status::Invalid("--seed-time must not be negative");
  if (poll_wait_seconds < 0 || poll_wait_seconds > 300) return Status::Invalid("poll wait must be 0..300 s");
  if (hook_timeout.count() <= 0) return Status::Invalid("--hook-timeout must be positive");
  // Bounded so a push that keeps failing ends within minutes, not hours of doubled waits.
  if (tries < 1 || tries > 10) return Status::Invalid("--tries must be 1..10");
  if (retry_delay.count() < 0 || retry_delay > std::chrono::minutes(10))
    return Status::Invalid("--retry-delay must be 0..10m");
  // Fewer would let retention remove the version a rollback needs.
  if (keep_versions < 2) return Status::Invalid("--keep-versions must be at least 2");
  return Status::Ok();
}

std::vector<std::string> FetcherConfig::AnnounceUrls() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < tracker_urls.size(); ++i) {
    auto a = AnnounceUrlFor(tracker_urls[i], i < announce_urls.size() ? announce_urls[i] : "");
    out.push_back(a.ok() ? *a : "");
  }
  return out;
}

std::vector<std::string> FetcherConfig::TrackerBases() const {
  std::vector<std::string> out;
  for (std::string u : tracker_urls) {
    while (!u.empty() && u.back() == '/') u.pop_back();
    out.push_back(u);
  }
  return out;
}

}  // namespace spate
