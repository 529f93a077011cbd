#include "seeder/registrar.h"

#include <spdlog/spdlog.h>

#include <vector>

#include "wire/http.h"

namespace spate::seeder {

Registrar::Registrar(RegistrarOptions options) : options_(std::move(options)) {}

Registrar::~Registrar() { Stop(); }

void Registrar::Start() { thread_ = std::thread([this] { Loop(); }); }

void Registrar::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Registrar::Add(const Manifest& manifest, const std::string& torrent) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    registered_.erase(manifest.id());
    pending_[manifest.id()] = ArtifactRegistration{manifest, torrent, options_.origin};
    kick_ = true;
  }
  cv_.notify_all();
}

bool Registrar::Registered(const std::string& id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return registered_.count(id) > 0;
}

Status Registrar::Post(const ArtifactRegistration& r) const {
  http::ClientOptions co;
  co.timeout = options_.request_timeout;
  if (!options_.tracker_token.empty()) co.headers.emplace_back("Authorization", "Bearer " + options_.tracker_token);
  auto res = http::Call("POST", options_.tracker_url + "/api/v1/artifacts", ToJson(r).dump(), co);
  if (!res.ok()) return res.status();
  if (res->status / 100 != 2)
    return Status::Unavailable("tracker answered " + std::to_string(res->status) + ": " + res->body);
  return Status::Ok();
}

void Registrar::Loop() {
  std::map<std::string, int> failures;  // only touched by this thread
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (pending_.empty()) {
      cv_.wait(lock, [this] { return stop_ || !pending_.empty(); });
      continue;
    }
    kick_ = false;
    std::vector<ArtifactRegistration> batch;
    for (const auto& [id, r] : pending_) batch.push_back(r);
    lock.unlock();
    std::vector<std::string> done;
    for (const auto& r : batch) {
      Status s = Post(r);
      std::string id = r.manifest.id();
      if (s.ok()) {
        spdlog::info("registered {} with tracker {}", id, options_.tracker_url);
        if (options_.on_registered) options_.on_registered(id);
        done.push_back(id);
        failures.erase(id);
      } else if (failures[id]++ == 0) {
        spdlog::warn("cannot register {} with tracker (retrying every {} ms): {}", id,
                     options_.retry_interval.count(), s.message());
      } else {
        spdlog::debug("registration of {} still failing: {}", id, s.message());
      }
    }
    lock.lock();
    for (const auto& id : done) {
      // Re-added meanwhile with another manifest? Then keep it pending.
      auto it = pending_.find(id);
      if (it == pending_.end()) continue;
      bool same = false;
      for (const auto& r : batch)
        if (r.manifest.id() == id && r.manifest.signature == it->second.manifest.signature) same = true;
      if (!same) continue;
      pending_.erase(it);
      registered_.insert(id);
    }
    if (!pending_.empty()) cv_.wait_for(lock, options_.retry_interval, [this] { return stop_ || kick_; });
  }
}

}  // namespace spate::seeder
